"""The audited tree as `audit fix` sees it: files read through the tree's `Source`, version, catalogues.

Every read goes through `audit.source.Source` (a folder or a git revision), so `audit fix --git REPO
REV` works like `audit track --git`. Searches for a name across the tree use the source's own
prefilter (`Source.start_grep`: grep over a folder, `git grep` over a revision); `audit fix` starts
no process of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from audit.catalogue import Catalogue, Form
from audit.fixes.ctext import Decline, call_args, enclosing
from audit.fixes.knowledge import FixRules
from audit.model import Site
from audit.parse import Node
from audit.source import Source
from audit.sourcefile import SourceFile
from audit.version import Version, in_range
from audit.walk import Prefilter


class TreeContext:
    """One tree, its version, its catalogue and `[fix]` rules, and a cache of its files."""

    def __init__(self, src: Source, version: Version | None, cat: Catalogue, fx: FixRules,
                 workers: int | None = None) -> None:
        """The tree read through `src`, with its version and the catalogue and `[fix]` rules resolved."""
        self.src = src
        self.version = version
        self.cat = cat
        self.fx = fx
        self.workers = workers
        self._unreadable: dict[str, SourceFile] = {}
        self._refs: dict[str, set[str]] = {}
        self._headers: str | None = None

    def file(self, rel: str) -> SourceFile:
        """The file `rel` as the source keeps it (empty when it cannot be read)."""
        try:
            return self.src.file(rel)
        except OSError:
            f = self._unreadable.get(rel)
            if f is None:
                f = self._unreadable[rel] = SourceFile(rel, b"")
            return f

    def listdir(self, folder: str) -> list[str]:
        """The .c/.h files directly in `folder`, as tree-relative paths, sorted."""
        return [f"{folder}/{n}" if folder else n for n in self.src.listdir(folder)]

    def references(self, names: set[str]) -> dict[str, set[str]]:
        """The .c/.h files (tree-relative) that mention each name as a word, through the source's prefilter."""
        todo = sorted(n for n in names if n not in self._refs)
        if todo:
            regex = r"\b(" + "|".join(re.escape(n) for n in todo) + r")\b"
            job = self.src.start_grep(Prefilter(regex=regex), self.workers or 1)
            got = job.result()
            for n in todo:
                self._refs[n] = set()
            rx = re.compile(regex.encode())
            if got is not None:
                scan = ((rel, self.file(rel).src) for rel in sorted(got[0]))
            else:
                # No prefilter (no grep): every file is read once and not kept.
                scan = ((rel, self.src.read(rel) or b"") for rel, _ in self.src.walk().files)
            for rel, data in scan:
                for m in set(rx.findall(data)):
                    self._refs[m.decode()].add(rel)
        return {n: self._refs[n] for n in names}

    def _api_headers(self) -> str:
        """The text of the headers that declare the gup API (`declared_in`), '' when the tree has none."""
        if self._headers is None:
            self._headers = "\n".join(self.file(h).src.decode("utf-8", "replace") for h in self.cat.declared_in)
        return self._headers

    def has_pin_headers(self) -> bool:
        """Whether the tree's API headers declare the pin API."""
        return "pin_user_page" in self._api_headers()

    def available(self, api: str) -> bool:
        """Whether the pin-side `api` (or flag) exists in this tree (its headers, else the version table)."""
        if self.has_pin_headers():
            return re.search(rf"\b{re.escape(api)}\b", self._api_headers()) is not None
        spec = self.fx.available.get(api)
        if self.version is None:
            return False
        return in_range(self.version, spec) if spec else self.version >= self.fx.pin_api_since

    def pin_api(self) -> str | None:
        """Why the tree has no pin API at all, or None when it has one."""
        since = ".".join(str(x) for x in self.fx.pin_api_since[:2])
        if self.version is not None:
            if self.version < self.fx.pin_api_since:
                return f"no pin API before v{since}"
            return None
        if self.has_pin_headers():
            return None
        return f"no pin API in this tree (no version, and its gup headers have no pin_user_pages; it came in v{since})"


class Role:
    """Base of the planner's parts: the tree context and short names for what they use most."""

    def __init__(self, ctx: TreeContext) -> None:
        """A part working on `ctx`."""
        self.ctx = ctx
        self.cat = ctx.cat
        self.fx = ctx.fx
        self.version = ctx.version

    def source(self, rel: str) -> SourceFile:
        """The cached file `rel`."""
        return self.ctx.file(rel)


@dataclass(frozen=True)
class AcquireCall:
    """A site's acquire call as parsed: the nodes the checks and the rewrite work on."""

    file: SourceFile
    """The file it is in."""
    call: Node
    """The call_expression."""
    args: list[Node]
    """Its arguments."""
    form: Form
    """The catalogue's argument layout for this arity and version."""
    fdef: Node
    """The enclosing function_definition."""

    @property
    def flags(self) -> Node:
        """The gup_flags argument (every form that reaches the rewrite has one)."""
        assert self.form.flags is not None
        return self.args[self.form.flags]

    @property
    def pages(self) -> Node | None:
        """The pages-array argument, when the form has one."""
        i = self.form.pages
        return self.args[i] if i is not None and i < len(self.args) else None


def call_at(role: Role, file: str, line: int, column: int, api: str) -> tuple[SourceFile, Node]:
    """The source file and the call of `api` the analysis reported at file:line:column (Decline when
    the file is not UTF-8 or the call is not there: a macro, or a changed source)."""
    src = role.source(file)
    if not src.utf8:
        raise Decline(f"{file} is not UTF-8")
    call = src.call_at(line, column, api)
    if call is None:
        raise Decline(f"no {api}() call at {file}:{line}:{column} (macro or changed source)")
    return src, call


def acquire_call(role: Role, s: Site) -> AcquireCall:
    """Find and check the acquire call of `s` (Decline when the source has not the shape the rewrite needs)."""
    api = role.cat.acquire[s.api]
    src, call = call_at(role, s.file, s.line, s.column, s.api)
    args = call_args(call)
    form = api.form_for(len(args), role.version)
    if form is None:
        raise Decline(f"{s.api}() with {len(args)} arguments matches no known form")
    if form.write is not None or form.flags is None:
        raise Decline("old form with write/force int arguments: the pin API takes gup_flags")
    fdef = enclosing(call, ("function_definition",))
    if fdef is None:
        raise Decline(f"the function around {s.api}() does not parse: check by hand")
    return AcquireCall(src, call, args, form, fdef)
