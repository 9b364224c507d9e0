"""Per acquire site: follow the pages value to its releases and decide the site's status.

The pages value is tracked as a *root*: a local name inside one function, a struct field (with the
struct tag where the declaration says it), or a carrier (a bio) that received the pages. From the
acquiring function the search moves, hop by hop, to callers (the value was a parameter or was
returned), to callees (the value was passed on), to every function that touches the same struct
field, and into completion callbacks stored next to the value. Each hop is an Evidence line.
Pure: facts and catalogue in, Sites out.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from functools import cache, lru_cache

from audit.catalogue import AcquireApi, Catalogue, Form
from audit.catalogue import load as load_catalogue
from audit.facts import split_args
from audit.store import FactStore
from audit.model import Call, Defect, Evidence, FileFacts, FuncInfo, RefKind, Release, Site, Status, Wrapper
from audit.conditions import parse as parse_condition
from audit.paths import Acquire, feasible_calls, walk
from audit.version import Version

MAX_HOPS = 5
"""How many function boundaries the search crosses before it gives up."""
MAX_STEPS = 400
"""How many (function, root) states one site may visit."""
SEARCH_BEYOND = 2
"""Once a release is found at some hop, the search goes at most this many hops further."""
MISMATCH_HOPS = 2
"""A release of the other kind decides `mismatch` only within this many hops."""
MAX_EVIDENCE = 40
"""How many (function, root) states one site may visit."""

_PATH = re.compile(r"[A-Za-z_]\w*(?:\s*(?:->|\.)\s*[A-Za-z_]\w*|\s*\[[^\]]*\])*")
_CAST = re.compile(r"^\(\s*(?:const\s+|volatile\s+)*(?:struct\s+|union\s+|unsigned\s+|signed\s+)*\w+\s*\**\s*\)")
_NULLS = frozenset({"NULL", "0", "(void *)0", "NULL_PAGE"})
_FIELD_TAIL = re.compile(r"(?:->|\.)\s*([A-Za-z_]\w*)$")
_FIELDS = re.compile(r"(?:->|\.)([A-Za-z_]\w*)")
_BASE_SPLIT = re.compile(r"->|\.|\[")
_FIELD_NAMES = re.compile(r"(?:->|\.)\s*([A-Za-z_]\w*)")
_WS = re.compile(r"\s+")
_SUBSCRIPTS = re.compile(r"(\[[^\]]*\])+$")
_IDENT = re.compile(r"[A-Za-z_]\w*")


@cache
def _accessors() -> re.Pattern[str]:
    """Page accessors from the catalogue (`sg_page(sg)`): the page's root is their argument."""
    names = sorted(load_catalogue(None).accessors, key=len, reverse=True)
    return re.compile(r"^(?:" + "|".join(map(re.escape, names)) + r")\s*\(" if names else r"(?!)")


@cache
def _carrier_members() -> frozenset[str]:
    """Members that hold a carrier's entries (an sg_table's `sgl`), from the catalogue."""
    return load_catalogue(None).carrier_members


@cache
def _array_allocation() -> re.Pattern[str]:
    """A call that allocates fresh memory: the catalogue's array and page allocators."""
    cat = load_catalogue(None)
    names = sorted(set(cat.array_allocators) | cat.allocators, key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(map(re.escape, names)) + r")\s*\(" if names else r"(?!)")


@dataclass(frozen=True)
class Root:
    """What is being tracked: a local name in one function, or a struct field tree-wide."""

    kind: str
    """"local" or "field"."""
    name: str
    """Variable name, or field name."""
    tag: str = ""
    """For a field: the struct tag, '' when unknown."""
    file: str = ""
    """For a field: the file where the pages were stored (an untyped field matches only there)."""

    def show(self) -> str:
        """Human form for evidence lines."""
        if self.kind == "field":
            return f"{self.tag or '…'}->{self.name}" if self.tag else f"->{self.name}"
        return self.name


@lru_cache(maxsize=None)
def _strip(expr: str) -> str:
    e = expr.strip()
    while True:
        m = _CAST.match(e)
        e2 = e[m.end():].strip() if m else e
        e2 = e2.lstrip("&*( ").strip()
        if e2 == e:
            break
        e = e2
    return e


@lru_cache(maxsize=None)
def access_path(expr: str) -> str | None:
    """`&dio->pages[i] + 1` -> `dio->pages`; `sg_page(sg)` -> `sg`; None when there is no path."""
    e = _strip(expr)
    m = _accessors().match(e)
    if m:
        inner = split_args(e[m.end() - 1 :])
        return access_path(inner[0]) if inner else None
    m = _PATH.match(e)
    if not m:
        return None
    p = _WS.sub("", m.group(0))
    p = _SUBSCRIPTS.sub("", p)
    return p or None


@lru_cache(maxsize=None)
def _path_parts(expr: str) -> tuple[str, str, str, bool] | None:
    """(kind, name, base variable, single-level access) for an expression, tag-free and cached."""
    p = access_path(expr)
    if p is None:
        return None
    m = _FIELD_TAIL.search(p)
    if m:
        base = _BASE_SPLIT.split(p)[0]
        fields = _FIELDS.findall(p)
        if len(fields) > 1 and fields[-1] in _carrier_members():
            # `sgl->sgt.sgl`: the entries of the carrier `sgt` are the carrier itself.
            return ("field", fields[-2], base, False)
        return ("field", m.group(1), base, len(fields) == 1)
    return ("local", p.split("[")[0], "", True)


def root_of(expr: str, tags: dict[str, str], path: str = "") -> Root | None:
    """The Root an expression refers to; `tags` maps local names to struct tags."""
    parts = _path_parts(expr)
    if parts is None:
        return None
    kind, name, base, single = parts
    if kind == "field":
        # Only a one-level access has a known tag (`dio->pages` with `struct dio *dio`).
        return Root("field", name, tags.get(base, "") if single else "", path)
    return Root("local", name)


def _subsystem(path: str) -> str:
    """`drivers/vdpa/vdpa_user/x.c` -> `drivers/vdpa`; `mm/gup.c` -> `mm`."""
    parts = path.split("/")
    return "/".join(parts[:2]) if len(parts) > 2 else parts[0]


def _namespace(func: str) -> str | None:
    """The subsystem prefix of a function name (`p9` for p9_virtio_zc_request), None if too short."""
    head = func.lstrip("_").split("_", 1)[0]
    return head if len(head) >= 2 and head not in ("get", "put", "set", "do", "is", "add", "free", "alloc") else None


def _matches(r: Root | None, root: Root, names: set[str], path: str) -> bool:
    """Whether expression root `r`, seen in file `path`, refers to the tracked `root`."""
    if r is None:
        return False
    if r.kind == "local":
        return r.name in names
    if root.kind != "field" or r.name != root.name:
        return False
    if root.tag and r.tag:
        return r.tag == root.tag
    # One side's struct type is unknown: trust the field name only inside the storing file.
    return path == root.file


@dataclass
class Index:
    """Cross-file lookups over every parsed file's facts."""

    files: dict[str, list[FileFacts]] = field(default_factory=lambda: defaultdict(list))
    funcs: dict[str, list[tuple[str, FuncInfo]]] = field(default_factory=lambda: defaultdict(list))
    calls_in: dict[tuple[str, str], list[Call]] = field(default_factory=lambda: defaultdict(list))
    assigns_in: dict[tuple[str, str], list[tuple[str, str, int]]] = field(default_factory=lambda: defaultdict(list))
    callers: dict[str, list[tuple[str, Call]]] = field(default_factory=lambda: defaultdict(list))
    tags: dict[tuple[str, str | None], dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    field_users: dict[str, set[tuple[str, str]]] = field(default_factory=lambda: defaultdict(set))
    statics: set[tuple[str, str]] = field(default_factory=set)
    returns_in: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))
    flows: dict[tuple[str, str], Any] = field(default_factory=dict)
    _dirty: set[tuple[str, object]] = field(default_factory=set)

    @classmethod
    def build(cls, facts: Iterable[FileFacts]) -> Index:
        """Index the facts of every parsed file."""
        ix = cls()
        for ff in facts:
            ix.add(ff)
        return ix

    def add(self, ff: FileFacts) -> None:
        """Index the facts of one parse (a whole file, or some of its functions)."""
        path = ff.path
        self.files[path].append(ff)
        dirty = self._dirty
        for fn in ff.functions:
            self.funcs[fn.name].append((path, fn))
            dirty.add(("funcs", fn.name))
            if fn.static:
                self.statics.add((path, fn.name))
        for c in ff.calls:
            self.callers[c.name].append((path, c))
            dirty.add(("callers", c.name))
            if c.func is not None:
                self.calls_in[(path, c.func)].append(c)
                dirty.add(("calls", (path, c.func)))
                for arg in c.args:
                    for fname in _FIELD_NAMES.findall(arg):
                        self.field_users[fname].add((path, c.func))
        for a in ff.assigns:
            if a.func is not None:
                self.assigns_in[(path, a.func)].append((a.lhs, a.rhs, a.line))
                dirty.add(("assigns", (path, a.func)))
                for fname in _FIELD_NAMES.findall(a.rhs):
                    self.field_users[fname].add((path, a.func))
        for fname, text in ff.returns:
            self.returns_in[(path, fname)].append(text)
            for field_name in _FIELD_NAMES.findall(text):
                self.field_users[field_name].add((path, fname))
        for d in ff.decls:
            self.tags[(path, d.func)][d.name] = d.struct
        for fl in ff.flows:
            self.flows.setdefault((path, fl.func), fl)

    # Facts arrive in the order functions happen to be parsed; lookups sort them, so that what a
    # search sees does not depend on that order.
    def calls_of(self, key: tuple[str, str]) -> list[Call]:
        """Calls inside one function, in source order."""
        if ("calls", key) in self._dirty:
            self._dirty.discard(("calls", key))
            self.calls_in[key].sort(key=lambda c: c.span.start_byte)
        return self.calls_in.get(key, [])

    def assigns_of(self, key: tuple[str, str]) -> list[tuple[str, str, int]]:
        """Assignments inside one function, in source order."""
        if ("assigns", key) in self._dirty:
            self._dirty.discard(("assigns", key))
            self.assigns_in[key].sort(key=lambda a: a[2])
        return self.assigns_in.get(key, [])

    def callers_of(self, name: str) -> list[tuple[str, Call]]:
        """Every parsed call of `name`, by file and position."""
        if ("callers", name) in self._dirty:
            self._dirty.discard(("callers", name))
            self.callers[name].sort(key=lambda pc: (pc[0], pc[1].span.start_byte))
        return self.callers.get(name, [])

    def tags_for(self, path: str, func: str | None) -> dict[str, str]:
        """Local and file-scope struct tags visible in a function."""
        merged = dict(self.tags.get((path, None), {}))
        merged.update(self.tags.get((path, func), {}))
        return merged

    def definitions(self, name: str, from_path: str) -> list[tuple[str, FuncInfo]]:
        """Where `name` is defined, as seen from `from_path` (a static elsewhere is not visible)."""
        if ("funcs", name) in self._dirty:
            self._dirty.discard(("funcs", name))
            self.funcs[name].sort(key=lambda pf: (pf[0], pf[1].start_byte))
        defs = self.funcs.get(name, [])
        local = [(p, f) for p, f in defs if p == from_path]
        if local:
            return local
        return [(p, f) for p, f in defs if not f.static]


@dataclass(frozen=True)
class State:
    """One step of the search: a root inside one function."""

    path: str
    func: str
    root: Root
    hops: int
    chain: tuple[Evidence, ...]
    up: bool = True
    """Whether the search may go up to this function's callers (not after descending into a callee)."""
    guard: tuple[str, bool] | None = None
    """The guard of the call that led into this function (inherited by its releases)."""
    via_field: bool = False
    """Reached through the users of a struct field (the field may hold pages of other origins)."""


class Analyzer:
    """Finds acquire sites and follows each one's pages to their releases."""

    def __init__(self, facts: Iterable[FileFacts], catalogue: Catalogue, version: Version | None,
                 store: FactStore | None = None) -> None:
        self.cat = catalogue
        self.version = version
        self.ix = Index.build(facts)
        self.store = store
        self._wrappers: dict[tuple[str, str, str], str] = {}
        self._alias_cache: dict[tuple[str, str, Root], tuple[set[str], list[tuple[str, str, int]]]] = {}
        self._short_only: set[tuple[str, int, int]] = set()
        self._site_root_text = ""
        self._pin_choice = frozenset(catalogue.pin_flags) | frozenset(catalogue.pin_predicates)
        self._site_flags: frozenset[str] = frozenset()
        self._release_names = frozenset(catalogue.release)
        """Names this site's code records its pin choice in (`is_pinned`, `pin`), set per site."""

    # ------------------------------------------------------------------ acquire sites

    def shadowed(self, path: str, name: str) -> bool:
        """A file-local static function of an API's name outside the API's home shadows the API."""
        return (path, name) in self.ix.statics and not path.startswith(self.cat.api_homes)

    def sites(self, only: list[str] | None = None) -> list[Site]:
        """Every acquire call site in the parsed files (or in the files `only`), analysed."""
        out = []
        # The acquire functions of each file are parsed first (once, by whoever analyses the file);
        # snapshot them: the closure search adds facts to the index as it parses more functions.
        files = (sorted(self.store.hits) if self.store is not None else sorted(self.ix.files)) if only is None else only
        if self.store is not None:
            for path in files:
                self._take(self.store.acquire_facts(path))
        acquires = [
            (path, c) for path in files for ff in list(self.ix.files[path]) for c in ff.calls
            if c.name in self.cat.acquire
        ]
        for path, c in acquires:
            if self.shadowed(path, c.name):
                continue
            site = self.site(path, c, self.cat.acquire[c.name])
            if site is not None:
                out.append(site)
        out.sort(key=lambda s: (s.file, s.line, s.column))
        return out

    def _flag_values(self, path: str, func: str | None, text: str, line: int) -> list[str]:
        """The text of a flags argument, with a plain variable resolved through its assignments."""
        t = text.strip()
        if func is not None and re.fullmatch(r"[A-Za-z_]\w*", t) and not t.startswith("FOLL_"):
            vals = [rhs for lhs, rhs, ln in self.ix.assigns_of((path, func)) if lhs == t and ln <= line]
            if vals:
                return vals
        return [t]

    def _write(self, path: str, c: Call, form: Form) -> bool | None:
        if form.write is not None and form.write < len(c.args):
            t = c.args[form.write].strip()
            if re.fullmatch(r"0+|false", t):
                return False
            if re.fullmatch(r"[1-9]\d*|true", t):
                return True
            return None
        if form.flags is not None and form.flags < len(c.args):
            vals = self._flag_values(path, c.func, c.args[form.flags], c.span.line)
            has = [self.cat.write_flag in v for v in vals]
            cond = any("?" in v for v in vals)
            if all(has) and not cond:
                return True
            if not any(has) and all(re.fullmatch(r"[\sA-Z_|0-9()]*", v) for v in vals):
                return False
            return None
        return None

    def site(self, path: str, c: Call, api: AcquireApi) -> Site | None:
        """Analyse one acquire call."""
        form = api.form_for(len(c.args), self.version)
        ev: list[Evidence] = []
        flags_text = ""
        if form is not None and form.flags is not None and form.flags < len(c.args):
            flags_text = " ".join(self._flag_values(path, c.func, c.args[form.flags], c.span.line))
        if api.needs_flag and api.needs_flag not in flags_text and not re.search(r"\b[a-z_]\w*\b", flags_text):
            return None  # follow_page() with constant flags and no FOLL_GET takes no reference
        ref = api.ref
        if self.cat.pin_flag in flags_text.replace("FOLL_PIN_", ""):
            ref = RefKind.PIN
        elif self.cat.get_flag in flags_text and api.ref is RefKind.GET:
            ref = RefKind.GET
        if c.dead:
            ev.append(Evidence(path, c.span.line, "call is under #if 0 (dead code)"))
        pages_arg: str | None = None
        write: bool | None = None
        root: Root | None = None
        gap = False
        tags = self.ix.tags_for(path, c.func)
        if form is None:
            ev.append(Evidence(path, c.span.line, f"{c.name}() called with {len(c.args)} arguments: a form "
                               "rules/catalogue/apis.toml does not know; pages not followed"))
            gap = True
        else:
            write = self._write(path, c, form)
            if form.pages is None:
                if c.lhs:
                    root = root_of(c.lhs, tags, path)
                    ev.append(Evidence(path, c.span.line, f"{c.name}() returns the page, stored in `{c.lhs}`"))
                elif c.returned:
                    ev.append(Evidence(path, c.span.line, f"{c.name}() returns the page to the caller"))
            elif form.pages < len(c.args):
                pages_arg = c.args[form.pages]
                if _strip(pages_arg) in _NULLS or pages_arg.strip() in _NULLS:
                    pages_arg = None
                else:
                    root = root_of(pages_arg, tags, path)
                    what = {"bio": "the bio's bvecs", "sg": "the sg table", "pointer": "an array it allocates"}.get(
                        api.carrier or "", f"`{pages_arg}`")
                    ev.append(Evidence(path, c.span.line, f"{c.name}() fills {what} with {ref.value.upper()} references"))
        width = len(c.name)
        base = dict(
            file=path, line=c.span.line, column=c.span.column, function=c.func, api=c.name, ref_kind=ref,
            pages_arg=pages_arg, write=write, call_text=f"{c.name}({', '.join(c.args)})", width=width,
            implementation=c.func in self.cat.acquire, catalogue_gap=gap,
        )
        kernel = self.kernel_iterator(path, c) if c.name in self.cat.extraction else None
        if kernel is not None:
            ev.append(Evidence(path, c.span.line, kernel))
            ev.append(Evidence(path, c.span.line, f"{c.name}() only lists the pages of a kernel iterator: "
                               "no reference is taken, nothing is held"))
            return Site(status=Status.NO_PAGES, closure=(), evidence=tuple(ev), **base)  # type: ignore[arg-type]
        if form is not None and form.pages is not None and pages_arg is None:
            ev.append(Evidence(path, c.span.line, "no pages array passed: fault-in only, nothing is held"))
            return Site(status=Status.NO_PAGES, closure=(), evidence=tuple(ev), **base)  # type: ignore[arg-type]
        if c.func is None:
            ev.append(Evidence(path, c.span.line, "call outside any function the parser could find; pages not followed"))
            return Site(status=Status.NO_CLOSURE_FOUND, closure=(), evidence=tuple(ev), **base)  # type: ignore[arg-type]
        self._site_flags = self.pin_choice_names(path, c)
        self._site_root_text = self._root_text(c, form) if form is not None else ""
        releases, chain, reach = self.follow(path, c, root)
        releases = self._feasible(releases, path, c.func or "", chain, ref)
        defects: tuple[Defect, ...] = ()
        if root is not None and form is not None:
            releases, defects, pruned = self.paths(path, c, form, root, releases)
            chain = chain + pruned
        if root is not None and root.kind == "local" and (
                not releases or any(r.function != c.func or r.file != path for r in releases)):
            # The pages leave through a parameter or the return value (released, if at all, only on
            # error paths here): an acquire wrapper.
            fi_a = next((f for p, f in self.ix.funcs.get(c.func, []) if p == path), None)
            if fi_a is not None and (root.name in fi_a.params or c.returned
                                     or self._returns(path, c.func, {root.name}, root)):
                self._wrappers.setdefault((path, c.func, "acquire"), c.name)
                if c.func not in self.cat.acquire:
                    idx = fi_a.params.index(root.name) if root.name in fi_a.params else None
                    defects += self.wrapper_callers(path, fi_a, idx, releases)
        passthrough = False
        # The caller's gup_flags choose the reference kind only for an API that takes FOLL_GET
        # unless told FOLL_PIN (mm/gup.c internals); a pin API pins whatever flags it is given.
        if form is not None and form.flags is not None and form.flags < len(c.args) and api.ref is RefKind.GET:
            fi = next((f for p, f in self.ix.funcs.get(c.func, []) if p == path), None)
            passthrough = fi is not None and any(
                p and re.search(rf"\b{re.escape(p)}\b", c.args[form.flags]) for p in fi.params)
        status = self.status(ref, releases, passthrough)
        if passthrough and form is not None and form.flags is not None:
            defects += self.pinned_by_callers(path, c, c.args[form.flags], releases)
        if passthrough and len({r.kind for r in releases} - {RefKind.NONE}) > 1:
            ev.append(Evidence(path, c.span.line, f"gup_flags come from {c.func}()'s caller: either release kind is expected"))
        ev.extend(chain)
        if status is Status.NO_CLOSURE_FOUND:
            ev.append(Evidence(path, c.span.line, reach))
            if c.func in self.cat.acquire:
                ev.append(Evidence(path, c.span.line, f"this is the implementation of {c.func}(): its pages go back "
                                   f"to {c.func}()'s callers, which are audited as sites of their own"))
        # Written for sure, or under a condition (`writeable ? FOLL_WRITE : 0`): some calls write.
        may_write = write is True or (write is None and self.cat.write_flag in flags_text)
        if may_write and releases and status in (Status.RAW_CLOSURE, Status.CONVERTED):
            defects += self.dirty_lost(path, c, releases)
        return Site(status=status, closure=tuple(releases), evidence=tuple(ev), defects=defects,
                    **base)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ paths of the acquiring function

    def paths(self, path: str, c: Call, form: Form, root: Root, releases: list[Release]
              ) -> tuple[list[Release], tuple[Defect, ...], list[Evidence]]:
        """Walk the acquiring function's paths (audit/paths.py): drop its own releases that no
        feasible path from the acquire reaches, and collect the defects found on single paths."""
        fl = self.ix.flows.get((path, c.func or ""))
        if fl is None:
            return releases, (), []
        names, _ = self._aliases(path, c.func or "", root)
        holds = self._holds_fn(path, c.func or "", root, names)
        fi = next((f for p, f in self.ix.funcs.get(c.func or "", []) if p == path), None)
        kind = "field" if root.kind == "field" else "param" if fi is not None and root.name in fi.params else "local"
        # Calls in this function that hand the pages to a function the closure search found releasing them.
        releasing = {r.function for r in releases if r.hops == 1 and r.function}
        wrappers: dict[str, int] = {}
        base = _BASE_SPLIT.split(access_path(root_arg) or "")[0] if (root_arg := self._root_text(c, form)) else ""
        for call in self.ix.calls_of((path, c.func or "")):
            if call.name in releasing:
                for i, a in enumerate(call.args):
                    # The pages, or (for pages kept in a struct field) the struct that holds them.
                    if holds(a) or (kind == "field" and base and access_path(a) == base):
                        wrappers.setdefault(call.name, -1 - i if not holds(a) else i)
        one = False
        if form.count is not None and form.count < len(c.args) and _IDENT.fullmatch(c.args[form.count].strip()):
            vals = self._flag_values(path, c.func, c.args[form.count], c.span.line)
            one = vals == ["1"] or (bool(vals) and all(v.strip() == "1" for v in vals))
        acq = Acquire(c.name, c.span.line, c.span.column, c.args, form.pages, form.count, c.lhs, kind,
                      base if kind == "field" else "", one)
        res = walk(fl, acq, holds, self.cat, path, wrappers)
        if not res.complete:
            return releases, (), []
        kept, pruned = [], []
        if res.acquire_repeats:
            # The call runs again around a loop: its own releases may drop an earlier round's pages.
            return releases, tuple(res.defects), []
        self._short_only = {(path, r.line, r.column) for r in releases if r.file == path and r.function == c.func
                            and r.hops == 0 and (r.line, r.column) not in res.full_releases}
        for r in releases:
            if r.file == path and r.function == c.func and r.hops == 0 and (r.line, r.column) not in res.reachable_releases:
                pruned.append(Evidence(path, r.line, f"{r.api}() at line {r.line} is on no feasible path from the "
                                       f"{c.name}() call (the conditions that lead to it rule the acquire out)"))
                continue
            kept.append(r)
        return kept, tuple(res.defects), pruned

    def _kernel_guard(self, guard: str | None, guard_else: bool) -> bool:
        """A branch that tests a kernel-only flag (`flags & MSG_SPLICE_PAGES`) positively: an atom
        of the condition's top-level conjunction that names the flag and compares nothing."""
        if not guard or guard_else:
            return False
        f = parse_condition(guard, self.cat.transparent_conditions)
        conjuncts = f[1] if f[0] == "and" else (f,)
        return any(g[0] == "atom" and "==" not in g[1].replace("!=", "")
                   and set(_IDENT.findall(g[1])) & self.cat.kernel_only_flags for g in conjuncts)

    def _kernel_iter_expr(self, path: str, func: str, expr: str, depth: int = 1) -> str | None:
        """Why the iterator `expr` is kernel-backed in `func`, or None."""
        e = expr.strip().lstrip("&").strip()
        fields = set(_FIELD_NAMES.findall(e))
        if fields & self.cat.kernel_iterator_fields:
            return f"`{expr}` is a kernel iterator field ({', '.join(sorted(fields & self.cat.kernel_iterator_fields))})"
        for call in self.ix.calls_of((path, func)):
            if not call.args:
                continue
            if call.name in self.cat.kernel_iterators and call.args[0].strip().lstrip("&").strip() == e:
                return f"{func}() makes `{e}` a kernel iterator with {call.name}() (line {call.span.line})"
            if depth > 0 and call.name not in self.cat.acquire:
                for i, a in enumerate(call.args):
                    if a.strip().lstrip("&").strip() != e or not a.strip().startswith("&"):
                        continue
                    if self.store is not None:
                        self._take(self.store.definition(call.name, path))
                    for dpath, fi in self.ix.definitions(call.name, path):
                        if i < len(fi.params) and fi.params[i] and dpath == path:
                            why = self._kernel_iter_expr(dpath, fi.name, fi.params[i], depth - 1)
                            if why:
                                return f"{call.name}() (line {call.span.line}) loads `{e}`: {why}"
        return None

    def kernel_iterator(self, path: str, c: Call) -> str | None:
        """Why an extraction call only ever sees kernel iterators (so it takes nothing), or None:
        the iterator is made kernel-backed in the function, or is a kernel iterator field, the call
        sits in a branch that tests a kernel-only flag, or every caller calls under such a branch
        or passes a kernel iterator."""
        i = self.cat.extraction[c.name]
        func = c.func or ""
        if i < len(c.args):
            why = self._kernel_iter_expr(path, func, c.args[i])
            if why:
                return why
        if self._kernel_guard(c.guard, c.guard_else):
            return f"the call is in a branch that tests a kernel-only flag (`{c.guard}`)"
        fi = next((f for p, f in self.ix.funcs.get(func, []) if p == path), None)
        if fi is None or i >= len(c.args):
            return None
        idx = next((k for k, p in enumerate(fi.params) if p and p == c.args[i].strip().lstrip("&").strip()), None)
        self.load_callers(func, path)
        callers = [(cp, cc) for cp, cc in self.ix.callers_of(func)
                   if cc.func is not None and (not fi.static or cp == path)]
        if not callers:
            return None
        for cp, cc in callers:
            if self._kernel_guard(cc.guard, cc.guard_else):
                continue
            if idx is not None and idx < len(cc.args) and self._kernel_iter_expr(cp, cc.func or "", cc.args[idx]):
                continue
            return None
        return (f"every caller of {func}() ({len(callers)}) calls it in a branch that tests a kernel-only flag "
                "or passes a kernel iterator")

    def flag_kinds(self, path: str, func: str, arg: str, depth: int = 3) -> dict[RefKind, tuple[str, int, str]]:
        """Which reference kinds the callers of `func` ask for through the flags `arg` (a parameter of
        `func`, possibly modified there): {kind: (file, line, caller)} of the first caller found."""
        out: dict[RefKind, tuple[str, int, str]] = {}
        fi = next((f for p, f in self.ix.funcs.get(func, []) if p == path), None)
        if fi is None or depth <= 0:
            return out
        idx = next((i for i, p in enumerate(fi.params) if p and re.search(rf"\b{re.escape(p)}\b", arg)), None)
        if idx is None:
            return out
        self.load_callers(func, path)
        for cpath, cc in self.ix.callers_of(func):
            if cc.func is None or idx >= len(cc.args) or (fi.static and cpath != path):
                continue
            texts = self._flag_values(cpath, cc.func, cc.args[idx], cc.span.line) + [cc.args[idx]]
            words = {w for t in texts for w in _IDENT.findall(t)}
            # `gup_flags |= FOLL_PIN;` in the caller before the call.
            words |= {w for lhs, rhs, ln in self.ix.assigns_of((cpath, cc.func)) if lhs.strip() in words
                      and ln <= cc.span.line for w in _IDENT.findall(rhs)}
            if self.cat.pin_flag in words:
                out.setdefault(RefKind.PIN, (cpath, cc.span.line, cc.func))
            if self.cat.get_flag in words:
                out.setdefault(RefKind.GET, (cpath, cc.span.line, cc.func))
            if RefKind.PIN not in out:
                for k, v in self.flag_kinds(cpath, cc.func, cc.args[idx], depth - 1).items():
                    out.setdefault(k, v)
        return out

    def pinned_by_callers(self, path: str, c: Call, flags_arg: str, releases: list[Release]) -> tuple[Defect, ...]:
        """gup-pin-put-page in code whose reference kind is its caller's choice (mm/gup.c internals,
        drivers' own wrappers): a FOLL_GET release that some FOLL_PIN caller's pages reach, not under
        a test of the pin choice, drops pins as references."""
        kinds = self.flag_kinds(path, c.func or "", flags_arg)
        pin = kinds.get(RefKind.PIN)
        if pin is None:
            return ()
        out = []
        for r in releases:
            if r.kind is RefKind.GET and r.hops <= MISMATCH_HOPS and not self._tests_pin_choice(r.guard):
                out.append(Defect("gup-pin-put-page", r.file, r.line, r.column, r.function,
                                  f"{r.api}() drops pages that {pin[2]}() ({pin[0]}:{pin[1]}) asks {c.name}() to take "
                                  f"with FOLL_PIN: a pin released as a FOLL_GET reference",
                                  (Evidence(path, c.span.line, f"{c.name}() takes the kind of reference its "
                                            f"gup_flags say; {pin[2]}() passes FOLL_PIN"),
                                   Evidence(r.file, r.line, f"{r.function}() releases them with {r.api}()")),
                                  "high"))
        return tuple(out)

    @staticmethod
    def _root_text(c: Call, form: Form) -> str:
        if form.pages is not None and form.pages < len(c.args):
            return c.args[form.pages]
        return c.lhs or ""

    def wrapper_callers(self, path: str, fi: FuncInfo, idx: int | None, releases: list[Release]) -> tuple[Defect, ...]:
        """The path walk in the callers of an acquire wrapper (`pages = io_pin_pages(...)`,
        `pinned = pin_rcv_pages(fd, tidbuf)`): the wrapper's call is their acquire, all or nothing."""
        self.load_callers(fi.name, path)
        out: list[Defect] = []
        releasing = {r.function for r in releases if r.function}
        for cpath, cc in self.ix.callers_of(fi.name):
            if cc.func is None or (fi.static and cpath != path):
                continue
            expr = cc.args[idx] if idx is not None and idx < len(cc.args) else cc.lhs
            if not expr:
                continue
            croot = root_of(expr, self.ix.tags_for(cpath, cc.func), cpath)
            if croot is None:
                continue
            fl = self.ix.flows.get((cpath, cc.func))
            if fl is None and self.store is not None:
                for ff in self.store.flows_of(cpath, cc.func, frozenset({fi.name})):
                    self._take([ff])
                fl = self.ix.flows.get((cpath, cc.func))
            if fl is None:
                continue
            names, _ = self._aliases(cpath, cc.func, croot)
            holds = self._holds_fn(cpath, cc.func, croot, names)
            cfi = next((f for p, f in self.ix.funcs.get(cc.func, []) if p == cpath), None)
            kind = "field" if croot.kind == "field" else (
                "param" if cfi is not None and croot.name in cfi.params else "local")
            wrappers = {call.name: i for call in self.ix.calls_of((cpath, cc.func)) if call.name in releasing
                        for i, a in enumerate(call.args) if holds(a)}
            acq = Acquire(fi.name, cc.span.line, cc.span.column, cc.args, idx, None, cc.lhs, kind,
                          _BASE_SPLIT.split(access_path(expr) or "")[0] if kind == "field" else "", True)
            res = walk(fl, acq, holds, self.cat, cpath, wrappers)
            out.extend(d for d in res.defects if d.rule in ("gup-leak", "gup-double-release"))
        return tuple(out)

    def dirty_lost(self, path: str, c: Call, releases: list[Release]) -> tuple[Defect, ...]:
        """gup-dirty-lost: pages taken for writing, and no release or releasing function dirties them.
        Releases only on short-count error paths (nothing was written) do not count."""
        releases = [r for r in releases if (r.file, r.line, r.column) not in self._short_only]
        if not releases:
            return ()
        for r in releases:
            rel = self.cat.release.get(r.api)
            if rel is None or rel.dirty or "dirty" in r.api:
                return ()
            for call in self.ix.calls_of((r.file, r.function or "")):
                if call.name in self.cat.dirtying:
                    return ()
        for call in self.ix.calls_of((path, c.func or "")):
            if call.name in self.cat.dirtying:
                return ()
        r = releases[0]
        return (Defect("gup-dirty-lost", r.file, r.line, r.column, r.function,
                       f"{c.name}() takes the pages for writing, but {r.api}() in {r.function}() drops them "
                       "without marking them dirty (no set_page_dirty_lock() or dirtying release on the closure)",
                       (Evidence(path, c.span.line, f"{c.name}() requests write access"),),
                       "medium"),)

    # ------------------------------------------------------------------ closure search

    def _aliases(self, path: str, func: str, root: Root) -> tuple[set[str], list[tuple[str, str, int]]]:
        """Names in `func` that hold the root's pages (`p = pages[i]`, `pages = x->page_list`)."""
        key = (path, func, root)
        got = self._alias_cache.get(key)
        if got is None:
            got = self._alias_cache[key] = self._compute_aliases(path, func, root)
        return got

    def _compute_aliases(self, path: str, func: str, root: Root) -> tuple[set[str], list[tuple[str, str, int]]]:
        tags = self.ix.tags_for(path, func)
        names: set[str] = set()
        stores: list[tuple[str, str, int]] = []
        if root.kind == "local":
            names.add(root.name)
        assigns = self.ix.assigns_of((path, func))
        calls = self.ix.calls_of((path, func))

        holds = self._holds_fn(path, func, root, names)
        changed = True
        rounds = 0
        while changed and rounds < 4:
            changed = False
            rounds += 1
            for lhs, rhs, ln in assigns:
                if not holds(rhs) or _array_allocation().search(rhs):
                    continue
                lr = root_of(lhs, tags, path)
                if lr is None:
                    continue
                if lr.kind == "local" and lr.name not in names:
                    names.add(lr.name)
                    changed = True
                elif lr.kind == "field":
                    stores.append((lhs, rhs, ln))
            for c in calls:
                if "for_each" in c.name and any(holds(a) for a in c.args):
                    for a in c.args:
                        if re.fullmatch(r"[A-Za-z_]\w*", a) and a not in names and not holds(a):
                            names.add(a)
                            changed = True
        return names, stores

    def _holds_fn(self, path: str, func: str, root: Root, names: set[str]):  # type: ignore[no-untyped-def]
        tags = self.ix.tags_for(path, func)

        def holds(expr: str) -> bool:
            return _matches(root_of(expr, tags, path), root, names, path)

        return holds

    def _release_kind(self, c: Call) -> RefKind:
        rel = self.cat.release[c.name]
        if rel.kind is not RefKind.NONE and self._tests_pin_choice(c.guard):
            return RefKind.NONE  # one arm of a conditional pair
        return rel.kind

    def _feasible(self, releases: list[Release], path: str, func: str, chain: list[Evidence],
                  ref: RefKind) -> list[Release]:
        """Drop releases of the other kind in other functions that no path of their own function can
        reach (the conditions leading to them contradict each other): they would make a false
        mismatch. The acquiring function's own releases are judged by the path walk from the acquire."""
        kept = []
        for r in releases:
            if (r.file, r.function) == (path, func) or not r.function or r.kind in (ref, RefKind.NONE):
                kept.append(r)
                continue
            if not r.guard:
                kept.append(r)  # under no condition of its function: reachable
                continue
            fl = self.ix.flows.get((r.file, r.function))
            if fl is None and self.store is not None:
                self._take(self.store.flows_of(r.file, r.function, self._release_names))
                fl = self.ix.flows.get((r.file, r.function))
            ok = feasible_calls(fl, self.cat, self._release_names) if fl is not None else None
            if ok is not None and (r.line, r.column) not in ok:
                chain.append(Evidence(r.file, r.line, f"{r.api}() in {r.function}() is on no feasible path of its "
                                      "function (the conditions that lead to it contradict each other)"))
                continue
            kept.append(r)
        return kept

    def _container(self, arg: str, st: State, acq: Call) -> str | None:
        """In the acquiring function, an argument that is the struct holding the tracked field
        (`af_alg_free_sg(&ctx->sgl)` for pages in `ctx->sgl.sgt`): the field's name, else None."""
        if st.root.kind != "field" or st.func != acq.func or st.hops:
            return None
        form_root = self._site_root_text
        full, part = access_path(form_root or ""), access_path(arg)
        if not full or not part or not _FIELDS.findall(part) or full == part:
            return None
        return st.root.name if full.startswith(part) and full[len(part):][:1] in ("-", ".") else None

    def _tests_pin_choice(self, guard: str | None) -> bool:
        """Whether a condition tests how the pages were taken: a catalogue pin flag or predicate
        (FOLL_PIN, BIO_PAGE_PINNED, iov_iter_extract_will_pin()), or a variable or field this site's
        code set from one, or the condition that chose between a pin and a get acquire."""
        if not guard:
            return False
        words = set(_IDENT.findall(guard))
        return bool(words & self._pin_choice or words & self._site_flags)

    def pin_choice_names(self, path: str, c: Call) -> frozenset[str]:
        """Names the acquiring function records its pin choice in: the target of an assignment from
        a catalogue pin flag or predicate, and the fields tested by a condition that chooses between
        this acquire and one of the other kind."""
        func = c.func or ""
        out: set[str] = set()
        preds = frozenset(self.cat.pin_predicates)
        flags = frozenset(self.cat.pin_flags)
        for lhs, rhs, _ in self.ix.assigns_of((path, func)):
            words = set(_IDENT.findall(rhs))
            if words & set(self.cat.acquire):
                continue  # the acquire itself (its flags argument names FOLL_GET/FOLL_PIN)
            tested = {w for w in words & flags if re.search(rf"&\s*\(?\s*{w}\b", rhs)}
            if words & preds or tested:
                tail = _IDENT.findall(lhs)
                if tail:
                    out.add(tail[-1])
        if c.guard:
            mine = self.cat.acquire[c.name].ref
            for other in self.ix.calls_of((path, func)):
                oa = self.cat.acquire.get(other.name)
                if oa is not None and other is not c and other.guard == c.guard and other.guard_else != c.guard_else \
                        and oa.ref is not mine:
                    # The last name of each access path tested (`kfp->pin` -> `pin`) is the flag.
                    out.update(_IDENT.findall(m)[-1] for m in _PATH.findall(c.guard) if not m.isupper())
        return frozenset(out)

    def follow(self, path: str, acq: Call, root: Root | None) -> tuple[list[Release], list[Evidence], str]:
        """Search from the acquiring function for the releases of `root`."""
        if root is None:
            return [], [], "the pages value could not be named; no release searched"
        start = State(path, acq.func or "", root, 0, ())
        todo: deque[State] = deque([start])
        seen: set[tuple[str, str, Root]] = set()
        found: dict[tuple[str, int, int], Release] = {}
        chain: list[Evidence] = []
        steps = 0
        funcs_seen: set[tuple[str, str]] = set()
        fanned: set[Root] = set()
        via_field: set[tuple[str, int, int]] = set()
        # What this search may see: the prefiltered files, plus the neighbour files its own queries
        # find. Facts other sites' searches happened to load elsewhere are ignored, so a site's
        # verdict does not depend on which sites were analysed before it.
        visible: set[str] | None = set(self.store.hits) if self.store is not None else None
        while todo and steps < MAX_STEPS:
            st = todo.popleft()
            if found and st.hops > min(r.hops for r in found.values()) + SEARCH_BEYOND:
                continue  # releases found nearer: further hops only add other owners' pages
            key = (st.path, st.func, st.root)
            if key in seen:
                continue
            if self.store is not None:
                self._take(self.store.body(st.path, st.func))
            seen.add(key)
            steps += 1
            funcs_seen.add((st.path, st.func))
            names, stores = self._aliases(st.path, st.func, st.root)
            if st.root.kind == "local" and st.hops < MAX_HOPS:
                # `struct page **pages = ttm->pages + pinned;` then gup into `pages`: the pages live in
                # the storage `pages` points into, so track that too.
                stags = self.ix.tags_for(st.path, st.func)
                for lhs, rhs, ln in self.ix.assigns_of((st.path, st.func)):
                    if lhs not in names or "(" in rhs:
                        continue
                    rr = root_of(rhs, stags, st.path)
                    if rr is None or (rr.kind == "local" and rr.name in names) or rr == st.root:
                        continue
                    ev = Evidence(st.path, ln, f"`{lhs}` points into `{rhs}`")
                    todo.append(State(st.path, st.func, rr, st.hops, st.chain + (ev,), st.up, st.guard, st.via_field))
            holds = self._holds_fn(st.path, st.func, st.root, names)
            hit = False
            for c in self.ix.calls_of((st.path, st.func)):
                if st.path == path and st.func == acq.func and c.span.start_byte == acq.span.start_byte:
                    continue
                rel = self.cat.release.get(c.name)
                if (rel is not None and st.hops == 0 and st.path == path and st.func == acq.func
                        and c.span.start_byte < acq.span.start_byte and not acq.in_loop):
                    continue  # released before this acquire, outside a loop: an earlier call's pages
                if rel is not None and not c.dead:
                    if rel.arg < len(c.args) and holds(c.args[rel.arg]):
                        g = (c.guard, c.guard_else) if c.guard else st.guard
                        r = Release(st.path, c.span.line, c.span.column, st.func, c.name, self._release_kind(c), len(c.name),
                                    g[0] if g else None, g[1] if g else False, st.hops)
                        if (st.path, c.span.line, c.span.column) not in found:
                            found[(st.path, c.span.line, c.span.column)] = r
                            if st.via_field:
                                via_field.add((st.path, c.span.line, c.span.column))
                            if st.func != acq.func and st.root.kind == "local":
                                fi_w = next((f for p, f in self.ix.funcs.get(st.func, []) if p == st.path), None)
                                if fi_w is not None and st.root.name in fi_w.params:
                                    self._wrappers.setdefault((st.path, st.func, "release"), c.name)
                            if not hit:
                                chain.extend(st.chain)
                                hit = True
                            chain.append(Evidence(st.path, c.span.line, f"{st.func}() releases `{c.args[rel.arg]}` with {c.name}()"))
                    continue
                if st.hops >= MAX_HOPS:
                    continue
                ho = self.cat.handoffs.get(c.name)
                if ho is not None:
                    if ho.src < len(c.args) and ho.dst < len(c.args) and holds(c.args[ho.src]):
                        cr = root_of(c.args[ho.dst], self.ix.tags_for(st.path, st.func), st.path)
                        if cr is not None and cr != st.root:
                            ev = Evidence(st.path, c.span.line, f"{st.func}() hands `{c.args[ho.src]}` to the {ho.carrier} `{c.args[ho.dst]}` ({c.name})")
                            todo.append(State(st.path, st.func, cr, st.hops, st.chain + (ev,), via_field=st.via_field))
                        if ho.destructor and ho.destructor_file and self.store is not None \
                                and self.store.add_file(ho.destructor_file):
                            if visible is not None:
                                visible.add(ho.destructor_file)
                            self._take(self.store.definition(ho.destructor, ho.destructor_file))
                            for dpath, fi in self.ix.definitions(ho.destructor, ho.destructor_file):
                                if dpath == ho.destructor_file and ho.destructor_arg < len(fi.params):
                                    ev = Evidence(st.path, c.span.line, f"the {ho.carrier}'s pages are dropped by "
                                                  f"{ho.destructor}() ({dpath}:{fi.line}) when it is freed")
                                    todo.append(State(dpath, fi.name, Root("local", fi.params[ho.destructor_arg]),
                                                      st.hops + 1, st.chain + (ev,), False))
                    continue
                if c.name in self.cat.acquire:
                    continue
                # Passed on to a function defined in the parsed files: follow into its parameter.
                for i, a in enumerate(c.args):
                    inner = None if holds(a) else self._container(a, st, acq)
                    if not holds(a) and inner is None:
                        continue
                    if self.store is not None:
                        self._take(self.store.definition(c.name, st.path, _namespace(st.func), visible))
                    for dpath, fi in self.ix.definitions(c.name, st.path):
                        if visible is not None and dpath not in visible:
                            continue
                        if i < len(fi.params) and fi.params[i]:
                            what = f"`{a}`" if inner is None else f"`{a}`, which holds `{st.root.show()}`,"
                            ev = Evidence(st.path, c.span.line, f"{st.func}() passes {what} to {c.name}() ({dpath}:{fi.line})")
                            g = (c.guard, c.guard_else) if c.guard else st.guard
                            nroot = Root("local", fi.params[i]) if inner is None else Root("field", inner, "", dpath)
                            todo.append(State(dpath, fi.name, nroot, st.hops + 1, st.chain + (ev,), False, g,
                                              st.via_field))
            if st.hops >= MAX_HOPS:
                continue
            tags = self.ix.tags_for(st.path, st.func)
            # A completion callback stored next to the value: `bio->bi_end_io = fn`.
            for lhs, rhs, ln in self.ix.assigns_of((st.path, st.func)):
                lr = root_of(lhs, tags, st.path)
                base = re.split(r"->|\.", lhs)[0].strip()
                if lr is not None and lr.kind == "field" and base in names and re.fullmatch(r"[A-Za-z_]\w*", rhs):
                    if self.store is not None:
                        self._take(self.store.definition(rhs, st.path, None, visible))
                    for dpath, fi in self.ix.definitions(rhs, st.path):
                        if visible is not None and dpath not in visible:
                            continue
                        if fi.params and fi.params[0]:
                            ev = Evidence(st.path, ln, f"{st.func}() sets `{lhs} = {rhs}`: completion callback")
                            todo.append(State(dpath, fi.name, Root("local", fi.params[0]), st.hops + 1, st.chain + (ev,), False,
                                              via_field=st.via_field))
            # Stored into a struct field: track the field in this function, then tree-wide.
            extra = [c for c in self.ix.calls_of((st.path, st.func))
                     if c.name in self.cat.extra_refs and c.args and holds(c.args[0])]
            for lhs, rhs, ln in stores:
                fr = root_of(lhs, tags, st.path)
                if extra and fr is not None and fr != st.root:
                    chain.append(Evidence(st.path, extra[0].span.line, f"{st.func}() takes its own reference with "
                                          f"{extra[0].name}() before storing in `{lhs}`: that one is released on its own"))
                    continue
                if fr is not None and fr.kind == "field" and fr != st.root:
                    ev = Evidence(st.path, ln, f"{st.func}() stores the pages in `{lhs}`")
                    todo.append(State(st.path, st.func, fr, st.hops, st.chain + (ev,), st.up, via_field=st.via_field))
            if st.root.kind == "field" and st.root not in fanned:
                fanned.add(st.root)
                if self.store is not None:
                    ns = _namespace(st.func)
                    local_tag = st.root.tag if ns and st.root.tag.startswith(ns + "_") else ""
                    home = _subsystem(st.root.file)
                    homes = self.cat.api_homes

                    def within(p: str, home: str = home, homes: tuple[str, ...] = homes) -> bool:
                        return _subsystem(p) == home or p.startswith(homes)

                    self._take(self.store.field_users(
                        st.root.name, None if st.root.tag else st.root.file, st.root.file, local_tag,
                        within, st.root.tag, visible, home))
                for upath, ufunc in sorted(self.ix.field_users.get(st.root.name, ())):
                    if visible is not None and upath not in visible:
                        continue
                    if (not st.root.tag and upath != st.root.file) or (upath, ufunc) == (st.path, st.func):
                        continue  # an untyped field is only linked within the file that stored it
                    if st.root.tag and not self._uses_tag(upath, ufunc, st.root):
                        continue
                    if _subsystem(upath) != _subsystem(st.root.file) and not upath.startswith(self.cat.api_homes):
                        # A field of a shared struct leads only into mm/ (vm_fault->page goes back to the
                        # fault path), not into unrelated subsystems that use the same struct.
                        continue
                    ev = Evidence(st.path, st.chain[-1].line if st.chain else acq.span.line,
                                  f"pages kept in `{st.root.show()}`; {ufunc}() ({upath}) uses that field")
                    todo.append(State(upath, ufunc, st.root, st.hops + 1, st.chain + (ev,), False, via_field=True))
            # The value is a parameter, or returned: go up to the callers.
            fi_up = next((f for p, f in self.ix.funcs.get(st.func, []) if p == st.path), None)
            up_idx: int | None = None
            if fi_up is not None and st.root.kind == "local":
                for i, pn in enumerate(fi_up.params):
                    if pn in names and pn:
                        up_idx = i
                        break
            returned = any(
                c.returned and c.span.start_byte == acq.span.start_byte for c in self.ix.calls_of((st.path, st.func))
            ) if (st.path, st.func) == (path, acq.func) else False
            # Callers of an acquire API are acquire sites of their own (mm/gup.c internals).
            rets = returned or self._returns(st.path, st.func, names, st.root)
            if not st.up:
                up_idx = None  # went down into a callee: its parameters lead back where we came from
            if fi_up is not None and st.func not in self.cat.acquire and (up_idx is not None or rets):
                if self.store is not None:
                    self._take(self.store.callers(st.func, st.path, fi_up.static))
                for cpath, cc in self.ix.callers_of(st.func):
                    if visible is not None and cpath not in visible:
                        continue
                    if cc.func is None or (fi_up.static and cpath != st.path):
                        continue
                    nr: Root | None = None
                    if up_idx is not None and up_idx < len(cc.args):
                        nr = root_of(cc.args[up_idx], self.ix.tags_for(cpath, cc.func), cpath)
                        why = f"{cc.func}() passes `{cc.args[up_idx]}` to {st.func}()"
                    elif cc.lhs:
                        nr = root_of(cc.lhs, self.ix.tags_for(cpath, cc.func), cpath)
                        why = f"{cc.func}() takes the pages {st.func}() returns into `{cc.lhs}`"
                    if nr is not None:
                        ev = Evidence(cpath, cc.span.line, why)
                        todo.append(State(cpath, cc.func, nr, st.hops + 1, st.chain + (ev,), via_field=st.via_field))
        releases = sorted(found.values(), key=lambda r: (r.hops, r.file != path, r.file, r.line))
        if self._site_flags:
            # The struct records whether its pages are pinned (`ap->args.is_pinned = iov_iter_extract_will_pin()`):
            # a release reached through the field's other users that does not test that record
            # releases what other stores put there (page-cache folios, allocated pages), not these.
            kept_f = []
            for r in releases:
                if (r.file, r.line, r.column) in via_field and not self._tests_pin_choice(r.guard):
                    chain.append(Evidence(r.file, r.line, f"{r.api}() in {r.function}() releases pages another store "
                                          f"put in the field: unlike the pinned ones it does not test "
                                          f"`{'`/`'.join(sorted(self._site_flags))}`"))
                    continue
                kept_f.append(r)
            releases = kept_f
        # A release of the other kind found only far away (through several hand-offs) is more likely
        # a different owner's pages than a mismatch: keep it out of the verdict, say so.
        kinds_near = {r.kind for r in releases if r.hops <= MISMATCH_HOPS}
        kept = []
        for r in releases:
            if r.hops > MISMATCH_HOPS and r.kind is not RefKind.NONE and r.kind not in kinds_near and kinds_near:
                chain.append(Evidence(r.file, r.line, f"ignored {r.api}() in {r.function}(): {r.hops} hops away, "
                                      "the pages there are likely another owner's"))
                continue
            kept.append(r)
        releases = kept
        chain = list(dict.fromkeys(chain))  # hops shared by several releases are told once
        if len(chain) > MAX_EVIDENCE:
            more = len(chain) - MAX_EVIDENCE
            chain = chain[:MAX_EVIDENCE] + [Evidence(path, acq.span.line, f"… {more} more steps not shown")]
        reach = (
            f"no release found: searched {len(funcs_seen)} function(s) across "
            f"{len({p for p, _ in funcs_seen})} file(s), up to {MAX_HOPS} hops from `{root.show()}`"
        )
        return releases, chain, reach

    def load_callers(self, func: str, path: str) -> None:
        """Parse the callers of `func` (in `path`'s view) into the index, when parsing on demand."""
        if self.store is None:
            return
        fi = next((f for p, f in self.ix.funcs.get(func, []) if p == path), None)
        self._take(self.store.callers(func, path, bool(fi and fi.static)))

    def wrappers(self) -> list[Wrapper]:
        """The acquire and release wrappers the closure searches went through, with their callers."""
        out = []
        for (path, func, kind), api in sorted(self._wrappers.items()):
            if func in self.cat.acquire or func in self.cat.release:
                continue  # the catalogue's own implementations (mm/gup.c) are not wrappers
            fi = next((f for p, f in self.ix.funcs.get(func, []) if p == path), None)
            hits = self.store.hits if self.store is not None else None
            callers = sorted({(p, c.span.line, c.func or "") for p, c in self.ix.callers_of(func)
                              if c.func is not None and (not fi or not fi.static or p == path)
                              and (hits is None or p in hits or p == path)})
            out.append(Wrapper(func, path, fi.line if fi else 0, kind, api, tuple(callers)))
        return out

    def _take(self, new: list[FileFacts]) -> None:
        for ff in new:
            self.ix.add(ff)

    def _uses_tag(self, path: str, func: str, root: Root) -> bool:
        """Whether `func` has a variable of the field root's struct type, or the file is the storing one."""
        return path == root.file or root.tag in self.ix.tags_for(path, func).values()

    def _returns(self, path: str, func: str, names: set[str], root: Root) -> bool:
        """Whether `func` returns the tracked pages (`return pages;`, `return dio->pages[i];`)."""
        tags = self.ix.tags_for(path, func)
        return any(
            _matches(root_of(text, tags, path), root, names, path) for text in self.ix.returns_in.get((path, func), [])
        )

    # ------------------------------------------------------------------ verdict

    @staticmethod
    def conditional(releases: list[Release]) -> set[tuple[str, int]]:
        """Releases that are arms of a conditional pair: the same guard, GET on one side, PIN on the other.

        `if (x->is_pinned) unpin_user_page(p); else put_page(p);` and a `switch` over the operation
        (`case PIN_…: unpin_user_pages(); case GUP_…: put_page()`) release one kind per path.
        """
        by_guard: dict[str, set[RefKind]] = defaultdict(set)
        for r in releases:
            if r.guard:
                key = "switch" if r.guard.startswith("case ") else r.guard
                by_guard[key].add(r.kind)
        mixed = {g for g, ks in by_guard.items() if {RefKind.GET, RefKind.PIN} <= ks}
        return {
            (r.file, r.line) for r in releases
            if r.guard and ("switch" if r.guard.startswith("case ") else r.guard) in mixed
        }

    def status(self, ref: RefKind, releases: list[Release], passthrough: bool = False) -> Status:
        """converted / raw-closure / mismatch / no-closure-found from the releases found.

        `passthrough`: the call's flags are the enclosing function's parameter, so the reference
        kind is the caller's choice (mm/gup.c internals) and either release is expected.
        """
        if not releases:
            return Status.NO_CLOSURE_FOUND
        cond = self.conditional(releases)
        kinds = {r.kind for r in releases if (r.file, r.line) not in cond and not passthrough}
        definite = kinds - {RefKind.NONE}
        if definite and definite != {ref}:
            return Status.MISMATCH
        if ref is RefKind.PIN:
            return Status.CONVERTED
        return Status.RAW_CLOSURE
