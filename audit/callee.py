"""What a called function does with the pages it is handed: a summary per (function, parameter).

The path walk (audit/paths.py) asks, for a call that passes the tracked pages (or the struct whose
field holds them), whether the call is a hand-off. Without the callee's body it has to assume so.
With it, the callee is summarised from its own facts, over all its paths at once:

- "release": it (or a function it hands them to) releases them;
- "other":   it keeps them somewhere (a field, an array of another owner, its return value), hands
             them to a call whose body is not known, or frees their array;
- "read":    none of that: it only looks at them (`page_to_pfn(pages[i])`, a loop that computes
             something), so they stay with the caller.

Values computed from the pages (`pfn = page_to_pfn(pages[0])`, `folio = page_folio(p)`) are followed
as derived values: storing one of those is keeping the pages. Summaries are memoised and go at most
DEPTH calls deep; anything uncertain is "other", which is what the walk assumed before.
Reads the analyzer's index and store; never parses more than the callees' own bodies.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from audit.cexpr import ERRNO, IDENT, errno_value, iterator_macro
from audit.flow import FlowCall
from audit.grep import word_starts
from audit.parse import in_comment
from audit.roots import Root, access_path, namespace, root_of

if TYPE_CHECKING:
    from audit.analyze import Analyzer

READ, RELEASE, OTHER = "read", "release", "other"
ALWAYS_RELEASE = "always-release"
"""The callee releases the pages it is handed on every path through it (an array release, or a
release loop, that no exit can bypass): a later release of the same pages by the caller is a
second one."""
ERROR_RELEASE = "error-release"
"""The callee releases the pages only on exits that return an errno, and keeps them on an exit
that returns 0: its caller must not release them again once it has seen the error."""
OTHER_UNLESS_ERRNO = "other-unless-errno"
"""The callee keeps the pages or hands them on ("other"), but one of its exits returns an errno
constant before anything in it has looked at them (`if (!folios) return -ENOMEM;`): when it
returns an errno, the pages may still be the caller's to release."""
DEPTH = 3
"""How many calls deep a summary follows the pages."""

_WORD = IDENT
_PLAIN = re.compile(r"\s*[A-Za-z_]\w*\s*")


class CalleeEffects:
    """Memoised callee summaries for one analyzer."""

    def __init__(self, an: Analyzer) -> None:
        self.an = an
        self._memo: dict[tuple[str, str, Root, str], str] = {}

    def of_call(self, path: str, func: str, c: FlowCall, holds, field: Root | None, base: str) -> str | None:  # type: ignore[no-untyped-def]
        """The effect of call `c` (in `func` of `path`) on the pages `holds` recognises; `field`/`base`
        name the struct field that holds them and the variable of that struct (for a field root).
        None when the call does not involve the pages, is the walk's own business (a release, an
        acquire, a hand-off API, an array freer) or its callee is not known."""
        an = self.an
        cat = an.cat
        held = [i for i, a in enumerate(c.args) if holds(a)]
        holder = [] if held or field is None or not base else [
            i for i, a in enumerate(c.args) if access_path(a) == base]
        if not held and not holder:
            return None
        if c.name in cat.release or c.name in cat.acquire or c.name in cat.handoffs \
                or c.name in cat.array_freers or c.name in cat.dirtying:
            return None
        if held and (c.name in cat.readers or c.name in cat.accessors):
            return READ  # an accessor's result (a pfn, a folio) is followed as the page itself
        defs = self._definitions(c.name, path, func)
        if not defs:
            return None
        if held and len(defs) == 1 and held[0] < len(defs[0][1].params) and defs[0][1].params[held[0]]:
            kind = self.release_kind(defs[0][0], defs[0][1].name, defs[0][1].params[held[0]])
            if kind is not None:
                return kind
        out = READ
        unless_errno = False
        for dpath, fi in defs:
            for i in held or holder:
                if i >= len(fi.params) or not fi.params[i]:
                    return OTHER  # varargs or an unnamed parameter: cannot follow
                root = Root("local", fi.params[i]) if held else Root("field", field.name, field.tag, dpath)  # type: ignore[union-attr]
                got = self.summary(dpath, fi.name, root, DEPTH, "" if held else fi.params[i])
                if got == OTHER:
                    if held and self.early_errno(dpath, fi, fi.params[i]) is not None:
                        unless_errno = True  # (this definition keeps them, unless it fails first)
                        continue
                    if held and not self._names(dpath, fi, fi.params[i]):
                        continue  # an #ifdef'd stub whose body never names them (its summary is the name's)
                    return OTHER
                if got == RELEASE:
                    out = RELEASE
        # Every definition (an #ifdef'd stub that only reads them among them) either leaves the pages
        # alone or keeps them unless it returns an errno before it looks at them.
        return (OTHER_UNLESS_ERRNO if out == READ else OTHER) if unless_errno else out

    def _names(self, dpath: str, fi, param: str) -> bool:  # type: ignore[no-untyped-def]
        """Whether the body of this definition of `fi` names its parameter `param` at all (unknown:
        yes)."""
        sf = self.an.store.files.get(dpath) if self.an.store is not None else None
        return sf is None or fi.degraded or _first_use(sf.src, fi, param) < fi.end_byte

    def early_errno(self, dpath: str, fi, param: str) -> int | None:  # type: ignore[no-untyped-def]
        """The line of a `return -E...;` (or `ERR_PTR(-E...)`) in `fi` that comes before its body
        first names the pages its parameter `param` holds. Anything derived from them is derived
        from a use of `param`, so the first use of `param` bounds them all; a variable that later
        holds them may have been given something else before (`folios = kmalloc_array(…)`)."""
        key = (dpath, f"{fi.name}@{fi.start_byte}", Root("local", param), "early-errno")
        got = self._memo.get(key)
        if got is None:
            got = self._memo[key] = ""
            sf = self.an.store.files.get(dpath) if self.an.store is not None else None
            if sf is not None and not fi.degraded:
                src, lo = sf.src, fi.start_byte
                for m in _ERRNO_RETURN.finditer(src, lo, _first_use(src, fi, param)):
                    if not in_comment(src, m.start()):
                        got = self._memo[key] = str(sf.lines.line_of(m.start()))
                        break
        return int(got) if got else None

    def release_kind(self, dpath: str, fname: str, param: str) -> str | None:
        """ERROR_RELEASE when `fname` releases its parameter `param` only on its errno exits,
        ALWAYS_RELEASE when on every path, else None."""
        key = (dpath, fname, Root("local", param), "release-kind")
        got = self._memo.get(key)
        if got is None:
            an = self.an
            fl = an.look.flow(dpath, fname, frozenset(an.cat.release))
            got = ""
            if fl is not None:
                names, _ = an.aliases(dpath, fname, Root("local", param))
                holds = an.holds_fn(dpath, fname, Root("local", param), names)
                if error_only_releases(fl, holds, an.cat.release):
                    got = ERROR_RELEASE
                elif always_releases(fl, holds, an.cat.release):
                    got = ALWAYS_RELEASE
            self._memo[key] = got
        return got or None

    def _definitions(self, name: str, path: str, func: str) -> list:  # type: ignore[type-arg]
        return self.an.look.definitions(name, path, None, namespace(func))

    def summary(self, dpath: str, fname: str, root: Root, depth: int, holder: str = "") -> str:
        """What `fname` (in `dpath`) does with the pages `root` names in its body; `holder` is the
        parameter holding the struct when `root` is a field."""
        key = (dpath, fname, root, holder)
        got = self._memo.get(key)
        if got is None:
            self._memo[key] = OTHER  # a recursive call back into this one is not followed
            got = self._memo[key] = self._compute(dpath, fname, root, depth, holder)
        return got

    def _compute(self, dpath: str, fname: str, root: Root, depth: int, holder: str) -> str:  # noqa: C901
        an = self.an
        cat = an.cat
        an.look.body(dpath, fname)
        names, stores = an.aliases(dpath, fname, root)
        if stores:
            return OTHER  # kept in a struct field
        holds = an.holds_fn(dpath, fname, root, names)
        tags = an.ix.tags_for(dpath, fname)
        derived = set(names)

        props = cat.readers

        def mentions(text: str) -> bool:
            text = _drop_calls(text, props)  # a size or a flag of the page is not the page
            if set(_WORD.findall(text)) & derived:
                return True
            return any(holds(m.group(0)) for m in re.finditer(r"[A-Za-z_]\w*(?:\s*(?:->|\.)\s*[A-Za-z_]\w*)+", text))

        assigns = an.ix.assigns_of((dpath, fname))
        for _ in range(3):  # derived values of derived values
            grew = False
            for lhs, rhs, _ln in assigns:
                if mentions(rhs) and _PLAIN.fullmatch(lhs) and lhs.strip() not in derived:
                    derived.add(lhs.strip())
                    grew = True
            if not grew:
                break
        for lhs, rhs, _ln in assigns:
            if mentions(rhs) and not _PLAIN.fullmatch(lhs):
                lr = root_of(lhs, tags, dpath)
                if lr is None or lr.kind != "local" or lr.name not in names:
                    return OTHER  # stored where the caller does not look (`*out = page`, `x->p = page`)
        if any(mentions(t) for t in an.ix.returns_in.get((dpath, fname), [])):
            return OTHER
        holders = {holder} if holder else set()
        if root.kind == "field" and root.tag:
            holders |= {v for v, t in tags.items() if t == root.tag}
        out = READ
        for c in an.ix.calls_of((dpath, fname)):
            idx = [i for i, a in enumerate(c.args) if mentions(a)]
            via = [] if idx else [i for i, a in enumerate(c.args) if holders and access_path(a) in holders]
            if via and not (c.name in cat.release or c.name in cat.array_freers or c.name in cat.dirtying):
                # The struct holding the pages is passed on: what does that callee do with the field?
                if depth <= 0:
                    continue  # too deep to tell; a struct passed on is not itself a hand-off
                for spath, fi in self._definitions(c.name, dpath, fname):
                    for i in via:
                        if i < len(fi.params) and fi.params[i]:
                            got = self.summary(spath, fi.name, Root("field", root.name, root.tag, spath),
                                               depth - 1, fi.params[i])
                            if got == OTHER:
                                return OTHER
                            if got == RELEASE:
                                out = RELEASE
                continue
            if not idx:
                continue
            if c.name in cat.release:
                out = RELEASE
                continue
            if c.name in cat.dirtying or c.name in cat.readers or c.name in cat.accessors or iterator_macro(c.name):
                continue
            if c.name in cat.acquire and not any(holds(c.args[i]) for i in idx):
                continue
            if depth <= 0 or c.name in cat.array_freers or c.name in cat.handoffs or c.name in cat.acquire:
                return OTHER
            subs = self._definitions(c.name, dpath, fname)
            if not subs:
                return OTHER
            for spath, fi in subs:
                for i in idx:
                    if i >= len(fi.params) or not fi.params[i]:
                        return OTHER
                    got = self.summary(spath, fi.name, Root("local", fi.params[i]), depth - 1)
                    if got == OTHER:
                        return OTHER
                    if got == RELEASE:
                        out = RELEASE
        return out


_E = ERRNO.pattern.encode()
_ERRNO_RETURN = re.compile(rb"\breturn\s*\(?\s*(?:" + _E + rb"|ERR_PTR\s*\(\s*" + _E + rb"\s*\))\s*\)?\s*;")
"""`return -ENOMEM;` in a function's text."""


def _first_use(src: bytes, fi, param: str) -> int:  # type: ignore[no-untyped-def]
    """Byte offset of the first whole-word use of `param` in the body of `fi` (its end if none)."""
    return next(word_starts(src, param.encode(), fi.start_byte, fi.end_byte), fi.end_byte)


def _errno_names(nodes) -> set[str]:  # type: ignore[no-untyped-def]
    """Variables every assignment of which (in the function) is an errno constant."""
    seen: dict[str, bool] = {}
    for n in nodes:
        for lhs, rhs in n.assigns:
            name = lhs.strip()
            if _WORD.fullmatch(name):
                seen[name] = seen.get(name, True) and errno_value(rhs, lambda _: False)
    return {k for k, v in seen.items() if v}


def _errno_exit(text: str, errnos: set[str]) -> bool:
    return errno_value(text, errnos.__contains__)


def _reach(nodes, start: list[int], avoid: set[int]) -> set[int]:  # type: ignore[no-untyped-def]
    seen: set[int] = set()
    todo = [i for i in start if i not in avoid]
    while todo:
        i = todo.pop()
        if i in seen:
            continue
        seen.add(i)
        todo.extend(s for s in nodes[i].succ if s not in avoid and s not in seen)
    return seen


def error_only_releases(flow, holds, release: dict) -> bool:  # type: ignore[no-untyped-def,type-arg]
    """Whether the function of `flow` releases the pages `holds` recognises only on the way to
    exits that return an errno (`return -EIO;`, a variable only ever set to one), and has an exit
    returning 0 that no release precedes."""
    nodes = flow.nodes
    rel = {i for i, n in enumerate(nodes)
           if any(c.name in release and release[c.name].arg < len(c.args) and holds(c.args[release[c.name].arg])
                  for c in n.calls)}
    if not rel:
        return False
    errnos = _errno_names(nodes)
    exits = [i for i, n in enumerate(nodes) if n.kind == "return"]
    after = _reach(nodes, [s for i in rel for s in nodes[i].succ], set())
    if any(i in after and not _errno_exit(nodes[i].text, errnos) for i in exits):
        return False
    clean = _reach(nodes, [0], rel)
    return any(i in clean and nodes[i].text.strip() == "0" for i in exits)


def always_releases(flow, holds, release: dict) -> bool:  # type: ignore[no-untyped-def,type-arg]
    """Whether the function of `flow` releases the pages `holds` recognises on its way to every
    exit: no exit is reachable from the entry around its releases (a release loop counts as a
    whole: skipping it is releasing zero pages)."""
    nodes = flow.nodes
    rel = set()
    for i, n in enumerate(nodes):
        if any(c.name in release and release[c.name].arg < len(c.args) and holds(c.args[release[c.name].arg])
               for c in n.calls):
            rel.add(n.loop if n.loop >= 0 else i)
    exits = [i for i, n in enumerate(nodes) if n.kind == "return" or not n.succ]
    if not rel or not exits:
        return False
    clean = _reach(nodes, [0], rel)
    return not any(i in clean for i in exits)


def _drop_calls(text: str, names: frozenset[str]) -> str:
    """`text` without the calls of `names` in it (`folio_nr_pages(folio) - 1` -> ` - 1`)."""
    out = text
    for m in reversed(list(re.finditer(r"\b([A-Za-z_]\w*)\s*\(", text))):
        if m.group(1) not in names:
            continue
        depth, j = 0, m.end() - 1
        while j < len(out):
            depth += {"(": 1, ")": -1}.get(out[j], 0)
            if depth == 0:
                break
            j += 1
        out = out[:m.start()] + out[j + 1:]
    return out
