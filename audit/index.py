"""The cross-file index of parsed facts, and the one lookup facade the analysis asks through.

`Index` holds the facts of every function parsed so far. `Lookup` is how the analysis asks for a
function, its definitions, its callers, the users of a struct field or a control-flow graph: it
loads what is missing from the fact store (parse on demand), then answers from the index, applying
a search's visibility in one place.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from audit.model import Call, FileFacts, FuncInfo
from audit.roots import FIELD_NAMES, Root, namespace, subsystem
from audit.store import FactStore


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
                key = (path, c.func)
                self.calls_in[key].append(c)
                dirty.add(("calls", key))
                # One search over the arguments joined by a NUL, which no field access crosses.
                joined = "\0".join(c.args)
                if "->" in joined or "." in joined:
                    for fname in FIELD_NAMES.findall(joined):
                        self.field_users[fname].add(key)
        for a in ff.assigns:
            if a.func is not None:
                self.assigns_in[(path, a.func)].append((a.lhs, a.rhs, a.line))
                dirty.add(("assigns", (path, a.func)))
                for fname in FIELD_NAMES.findall(a.rhs):
                    self.field_users[fname].add((path, a.func))
        for fname, text in ff.returns:
            self.returns_in[(path, fname)].append(text)
            for field_name in FIELD_NAMES.findall(text):
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




class Lookup:
    """Functions, callers, field users and flows, loaded on demand and filtered by visibility.

    `visible`, where a method takes it, is the set of files one search may see (the prefiltered
    files plus the neighbours its own queries found); None sees everything parsed."""

    def __init__(self, ix: Index, store: FactStore) -> None:
        self.ix = ix
        self.store = store

    def take(self, new: Iterable[FileFacts]) -> None:
        """Index freshly parsed facts."""
        for ff in new:
            self.ix.add(ff)

    def func(self, path: str, name: str) -> FuncInfo | None:
        """The definition of `name` in `path`, if parsed."""
        return next((f for p, f in self.ix.funcs.get(name, []) if p == path), None)

    def body(self, path: str, func: str) -> None:
        """Make sure the facts of `func` in `path` are indexed."""
        self.take(self.store.body(path, func))

    def definitions(self, name: str, from_path: str, visible: set[str] | None = None,
                    prefix: str | None = None) -> list[tuple[str, FuncInfo]]:
        """The definitions of `name` seen from `from_path` (a `prefix`-named function not in the
        prefiltered files is searched for in nearby files, which become visible)."""
        self.take(self.store.definition(name, from_path, prefix, visible))
        defs = self.ix.definitions(name, from_path)
        return defs if visible is None else [(p, f) for p, f in defs if p in visible]

    def callers(self, func: str, path: str, visible: set[str] | None = None,
                near: bool = False) -> list[tuple[str, Call]]:
        """Every call of `func` (defined in `path`) from inside a function; only from `path` when
        `func` is static there. With `near`, the files next to `path` that the prefilter did not
        select are searched for callers too (a driver's wrapper called from its sibling files);
        those files become visible."""
        fi = self.func(path, func)
        static = bool(fi and fi.static)
        self.take(self.store.callers(func, path, static))
        found: set[str] = set()
        if near and not static:
            found, new = self.store.callers_near(func, path)
            self.take(new)
            if visible is not None:
                visible.update(found)
        return [(cp, cc) for cp, cc in self.ix.callers_of(func)
                if cc.func is not None and (not static or cp == path)
                and (visible is None or cp in visible or cp in found)]

    def flow(self, path: str, func: str, names: frozenset[str]) -> Any:
        """The control-flow graph of `func` in `path` (built for its calls of `names` if missing)."""
        fl = self.ix.flows.get((path, func))
        if fl is None:
            self.take(self.store.flows_of(path, func, names))
            fl = self.ix.flows.get((path, func))
        return fl

    def getters(self, root: Root) -> dict[str, str]:
        """Short functions (of the storing file and the headers it includes) that return the field
        `root` of what they are given: name -> file."""
        return self.store.getters(root.file, root.name) if root.kind == "field" and root.file else {}

    def getter_users(self, root: Root, visible: set[str] | None) -> list[tuple[str, str]]:
        """(file, function) of the parsed functions that call a getter of the field `root`."""
        out: set[tuple[str, str]] = set()
        for name, gpath in self.getters(root).items():
            self.take(self.store.callers(name, gpath, False))
            out.update((p, c.func) for p, c in self.ix.callers_of(name)
                       if c.func is not None and c.func != name and (visible is None or p in visible))
        return sorted(out)

    def field_users(self, root: Root, near_func: str, homes: tuple[str, ...],
                    visible: set[str] | None) -> list[tuple[str, str]]:
        """(file, function) of every parsed user of the field `root`: functions of the storing
        subsystem or of the APIs' homes (mm/), and, for a typed field, nearby files naming the tag."""
        ns = namespace(near_func)
        local_tag = root.tag if ns and root.tag.startswith(ns + "_") else ""
        home = subsystem(root.file)

        def within(p: str) -> bool:
            return subsystem(p) == home or p.startswith(homes)

        self.take(self.store.field_users(root.name, None if root.tag else root.file, root.file, local_tag,
                                         within, root.tag, visible, home))
        return [(p, f) for p, f in sorted(self.ix.field_users.get(root.name, ()))
                if visible is None or p in visible]
