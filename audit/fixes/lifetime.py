"""How long a converted site keeps its pages: within the call, or past it (FOLL_LONGTERM).

By mechanism, not by name: the pages are stored where they outlive the acquiring function (a struct
field, `Policy.escape`), and one of the site's releases lies in another function that an object's
teardown reaches — a member of an operations table such as `.release = f`, or a reference count's
release callback such as `kref_put(&x, f)` (`teardown_fields` / `teardown_calls` in `[fix]`) —
following callers upward from the release, never through the acquiring function, up to
`teardown_depth` hops, within the folders of the site and of its releases. A teardown that the
acquiring function itself reaches does not count: then the pages are dropped within the same call.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field

from audit.fixes.context import Role, TreeContext
from audit.fixes.ctext import call_args, function_name, node_text
from audit.fixes.policy import Policy
from audit.model import Site
from audit.parse import Node
from audit.sourcefile import calls_under, nodes


@dataclass(frozen=True)
class Teardown:
    """Where a function is registered as a teardown."""

    function: str
    """The function registered."""
    file: str
    """File of the registration."""
    line: int
    """Line of the registration."""
    how: str
    """`.release` or `kref_put()`."""


@dataclass
class CallGraph:
    """Who calls whom among the functions of some folders, and which are teardowns."""

    callers: dict[str, set[str]] = field(default_factory=dict)
    """Function -> the functions that call it."""
    teardowns: dict[str, Teardown] = field(default_factory=dict)
    """Function -> its first teardown registration."""


class Lifetime(Role):
    """Decides whether a converted site's pin is long-term."""

    def __init__(self, ctx: TreeContext, policy: Policy) -> None:
        """Lifetimes over `ctx`, with the policy's escape test."""
        super().__init__(ctx)
        self.policy = policy
        self._folders: dict[str, CallGraph] = {}

    def longterm(self, s: Site, fdef: Node, pages: Node | None) -> str | None:
        """Why the pages of `s` are kept past the call (the FOLL_LONGTERM reason), else None."""
        if pages is None or s.function is None:
            return None
        kept = self.policy.escape(fdef, node_text(pages))
        if kept is None:
            return None
        folders = sorted({os.path.dirname(s.file)} | {os.path.dirname(r.file) for r in s.closure})
        graph = self._graph(folders)
        own = self._reach(graph, s.function, None, self.fx.teardown_depth + 2)
        for r in sorted(s.closure, key=lambda r: (r.file, r.line)):
            if r.function is None or r.function == s.function:
                continue
            for name, path in sorted(self._reach(graph, r.function, s.function, self.fx.teardown_depth).items()):
                if name in own:
                    continue
                td = graph.teardowns[name]
                via = " <- ".join(f"{p}()" for p in path)
                return (f"the pages are kept in {kept} past the call: {r.api}() in {r.function}() ({r.file}:{r.line}) "
                        f"releases them from a teardown ({via}; {td.how} at {td.file}:{td.line})")
        return None

    @staticmethod
    def _reach(graph: CallGraph, start: str, avoid: str | None, depth: int) -> dict[str, list[str]]:
        """The teardowns reached from `start` going up through callers (not through `avoid`), with their path."""
        found: dict[str, list[str]] = {}
        seen = {start}
        todo: deque[list[str]] = deque([[start]])
        while todo:
            path = todo.popleft()
            fn = path[-1]
            if fn in graph.teardowns and fn not in found:
                found[fn] = path
            if len(path) > depth:
                continue
            for c in sorted(graph.callers.get(fn, ())):
                if c != avoid and c not in seen:
                    seen.add(c)
                    todo.append(path + [c])
        return found

    def _graph(self, folders: list[str]) -> CallGraph:
        """The call graph of the .c files in `folders` (each folder indexed once)."""
        out = CallGraph()
        for folder in folders:
            g = self._folders.get(folder)
            if g is None:
                g = self._folders[folder] = self._index(folder)
            for k, v in g.callers.items():
                out.callers.setdefault(k, set()).update(v)
            for k, t in g.teardowns.items():
                out.teardowns.setdefault(k, t)
        return out

    def _index(self, folder: str) -> CallGraph:
        """Callers and teardown registrations in one folder's .c files."""
        g = CallGraph()
        for rel in self.ctx.listdir(folder):
            if not rel.endswith(".c"):
                continue
            src = self.source(rel)
            if not src.utf8:
                continue
            for fdef in src.definitions():
                caller = function_name(fdef)
                if caller:
                    for callee, _ in calls_under(fdef):
                        g.callers.setdefault(callee, set()).add(caller)
            for _, n in nodes(src.tree.root_node, "fix/teardowns"):  # the first registration wins
                td = self._registration(n, rel)
                if td is not None:
                    g.teardowns.setdefault(td.function, td)
        return g

    def _registration(self, n: Node, rel: str) -> Teardown | None:
        """The teardown that node `n` registers (`.release = f`, `x->release = f`, `kref_put(&r, f)`), if any."""
        line = n.start_point[0] + 1
        if n.type == "initializer_pair":
            des = [node_text(d).lstrip(".").strip() for d in n.children_by_field_name("designator")]
            val = n.child_by_field_name("value")
            if len(des) == 1 and des[0] in self.fx.teardown_fields and val is not None and val.type == "identifier":
                return Teardown(node_text(val), rel, line, f".{des[0]}")
        elif n.type == "assignment_expression":
            left, right = n.child_by_field_name("left"), n.child_by_field_name("right")
            if left is not None and left.type == "field_expression" and right is not None and right.type == "identifier":
                member = node_text(left.child_by_field_name("field"))
                if member in self.fx.teardown_fields:
                    return Teardown(node_text(right), rel, line, f".{member}")
        elif n.type == "call_expression":
            fn = node_text(n.child_by_field_name("function"))
            i = self.fx.teardown_calls.get(fn)
            a = call_args(n)
            if i is not None and i < len(a) and a[i].type == "identifier":
                return Teardown(node_text(a[i]), rel, line, f"{fn}()")
        return None
