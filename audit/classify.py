"""Who uses a gup site, who reaches it, and which fork/COW races it is exposed to.

Three pure functions over data files in `rules/catalogue/`:

- `classify(file, function)`: the user class of domain.md §7 from `classes.toml` (path patterns, and
  function-name overrides such as `__access_remote_vm` -> ptrace in mm/memory.c);
- `reached_from(sites, index)`: the other user classes whose callers reach a site through the
  (partial) call graph of `audit.analyze.Index`;
- `exposure(ref_kind, write, status, cow)`: the races of domain.md §1.1 / §6.5 a site is exposed to,
  decided by the table in `exposure.toml`.

All path, function and race knowledge lives in the TOML files; this module only interprets them.
"""

from __future__ import annotations

import fnmatch
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from audit import tables
from audit.model import CowProfile

if TYPE_CHECKING:
    from audit.analyze import Index
    from audit.model import Site
    from audit.source import Source

NO_POLICY = frozenset({"core-mm", "unknown"})
"""Classes that are never reported in `reached_from` (no user behind them)."""
MAX_DEPTH = 6
"""How many caller levels `reached_from` walks up from a site's function."""
MAX_NODES = 5000
"""How many (file, function) nodes one `reached_from` walk may visit."""


# ---------------------------------------------------------------------------------- classes

@dataclass(frozen=True)
class PathPattern:
    """One path pattern of a class."""

    klass: str
    """The class id."""
    prefix: str
    """The pattern as written (`arch/*/kvm/`)."""
    regex: re.Pattern[str]
    """The compiled prefix match (`*` stays within one component)."""
    weight: int
    """Literal characters in the pattern: the most specific pattern wins."""
    why: str
    """Optional explanation for the evidence line."""


@dataclass(frozen=True)
class FunctionPattern:
    """A function-name override of a class."""

    klass: str
    """The class id."""
    name: str
    """fnmatch glob over the enclosing function's name."""
    within: tuple[str, ...]
    """Path prefixes the override is limited to; empty = anywhere."""
    why: str
    """Explanation for the evidence line ("is the ptrace access path")."""


@dataclass(frozen=True)
class ClassInfo:
    """A user class: its title and pin_user_pages.rst case."""

    id: str
    """The class id (`o_direct`)."""
    title: str
    """What the class is."""
    case: str
    """pin_user_pages.rst case number(s), `—` when none applies."""


@dataclass(frozen=True)
class Classes:
    """The parsed `classes.toml`."""

    info: dict[str, ClassInfo]
    """Every class by id, the fallback included."""
    paths: tuple[PathPattern, ...]
    """Every path pattern, most specific first."""
    functions: tuple[FunctionPattern, ...]
    """Every function override, in file order."""
    fallback: ClassInfo
    """The class given when nothing matches."""


def _compile(prefix: str) -> re.Pattern[str]:
    """An anchored prefix regex where `*` matches within one path component."""
    return re.compile("^" + "[^/]*".join(re.escape(part) for part in prefix.split("*")))


@cache
def load_classes() -> Classes:
    """Read `rules/catalogue/classes.toml` once."""
    raw = tables.load("classes")
    fb = raw.table("fallback", {})
    fallback = ClassInfo(fb.text("id", "unknown"), fb.text("title", "no class matches"), str(fb.value("case", "—")))
    info = {fallback.id: fallback}
    paths: list[PathPattern] = []
    functions: list[FunctionPattern] = []
    classes = raw.table("classes", {})
    for cid in classes.keys():
        c = classes.table(cid)
        info[cid] = ClassInfo(cid, c.text("title"), str(c.value("case")))
        for p in c.tables("paths"):
            prefix = p.text("prefix")
            paths.append(PathPattern(cid, prefix, _compile(prefix), len(prefix.replace("*", "")), p.text("why", "")))
        for f in c.tables("functions"):
            functions.append(FunctionPattern(cid, f.text("name"), f.texts("within"), f.text("why", "")))
    # Most specific first; a stable sort keeps file order among equals.
    paths.sort(key=lambda p: -p.weight)
    return Classes(info, tuple(paths), tuple(functions), fallback)


def class_info(klass: str) -> ClassInfo:
    """Title and pin_user_pages.rst case of a class id (the fallback's for an unknown id)."""
    cl = load_classes()
    return cl.info.get(klass, cl.fallback)


def class_ids() -> tuple[str, ...]:
    """Every class id in `classes.toml`, the fallback last."""
    cl = load_classes()
    return tuple(k for k in cl.info if k != cl.fallback.id) + (cl.fallback.id,)


def _case(ci: ClassInfo) -> str:
    """` (pin_user_pages.rst case N)` for the reason line, '' for classes without a case."""
    return f" (pin_user_pages.rst case {ci.case})" if ci.case.strip("—- ") else ""


@lru_cache(maxsize=65536)
def classify(file: str, function: str | None) -> tuple[str, str]:
    """The user class of a site in `file` (relative to the tree root) inside `function`.

    Returns (class id, one-line reason for an Evidence line). A function-name override of
    `classes.toml` wins over the path; otherwise the most specific matching path pattern decides.
    """
    cl = load_classes()
    file = file.replace("\\", "/").removeprefix("./")
    if function:
        for f in cl.functions:
            if fnmatch.fnmatchcase(function, f.name) and (not f.within or file.startswith(f.within)):
                return f.klass, f"class {f.klass}{_case(cl.info[f.klass])}: {function}() {f.why or 'matches ' + f.name}"
    for p in cl.paths:
        if p.regex.match(file):
            ci = cl.info[p.klass]
            return p.klass, f"class {p.klass}{_case(ci)}: {file} matches `{p.prefix}`, {p.why or ci.title}"
    fb = cl.fallback
    return fb.id, f"class {fb.id}: no pattern of rules/catalogue/classes.toml matches {file}"


# ---------------------------------------------------------------------------- reached_from

def _resolves(ix: Index, caller_path: str, name: str, target_path: str) -> bool:
    """Whether a call of `name` made in `caller_path` can reach the definition in `target_path`."""
    if (target_path, name) in ix.statics:
        return caller_path == target_path
    defs = ix.definitions(name, caller_path)
    if not defs:
        return True  # the caller's file sees no other definition
    return any(p == target_path for p, _ in defs)


@cache
def load_entries() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """`[entries]` of classes.toml: function -> classes reaching it indirectly, class -> paths."""
    raw = tables.load("classes").table("entries", {})
    funcs: dict[str, tuple[str, ...]] = {}
    for e in raw.tables("functions"):
        for n in e.texts("names", tables.REQUIRED):
            funcs[n] = tuple(sorted(set(funcs.get(n, ())) | set(e.texts("classes", tables.REQUIRED))))
    present = raw.table("present", {})
    return funcs, {k: present.texts(k) for k in present.keys()}


def present_classes(src: Source) -> frozenset[str]:
    """The entry classes whose code exists in the tree `src` reads (no io_uring in 2.6.32)."""
    _, present = load_entries()
    return frozenset(k for k, paths in present.items() if any(src.exists(p) for p in paths))


def _walk(ix: Index, file: str, function: str, own: str,
          load: Callable[[str, str], None] | None = None, present: frozenset[str] | None = None,
          visible: set[str] | None = None) -> tuple[str, ...]:
    """Breadth-first up the callers of `function` in `file`: the other user classes met.

    `load(func, path)` may parse the callers of a function first (the index is built lazily);
    functions listed in `[entries]` add the classes that reach them through operation tables.
    """
    entries, _ = load_entries()
    found: set[str] = set()
    start = (file, function)
    seen = {start}
    todo: deque[tuple[str, str, int]] = deque([(file, function, 0)])
    while todo and len(seen) < MAX_NODES:
        path, func, depth = todo.popleft()
        for k in entries.get(func, ()):
            if present is None or k in present:
                found.add(k)
        if depth >= MAX_DEPTH:
            continue
        if load is not None:
            load(func, path)
        for caller_path, call in ix.callers.get(func, ()):
            if call.func is None or not _resolves(ix, caller_path, func, path):
                continue
            if visible is not None and caller_path not in visible:
                continue  # only the prefiltered files: the answer must not depend on what else was parsed
            node = (caller_path, call.func)
            if node in seen:
                continue
            seen.add(node)
            klass, _ = classify(caller_path, call.func)
            if klass != own and klass not in NO_POLICY:
                found.add(klass)  # an entry point of another user: do not climb past it
                continue
            todo.append((caller_path, call.func, depth + 1))
    return tuple(sorted(found))


def reached_from(sites: Iterable[Site], index: Index, load: Callable[[str, str], None] | None = None,
                 present: frozenset[str] | None = None,
                 visible: set[str] | None = None) -> dict[tuple[str, int], tuple[str, ...]]:
    """The user classes whose callers reach each site, keyed by the site's (file, line).

    From the site's enclosing function the walk goes breadth-first up through the callers in
    `index.callers` (at most `MAX_DEPTH` levels). Each caller is classified with `classify()`; a
    caller of another user class (not the site's own, not core-mm or unknown) is recorded and the
    walk stops there, while callers of the site's own class or of core-mm/unknown are climbed
    through. A static function is reached only from its own file.

    Limits: the call graph is partial. Only files that mention an acquire API are parsed, so callers
    in other files are unseen; calls through function pointers (`->read_iter`, `->write_iter`,
    completion callbacks) are not edges, so AIO and io_uring reaching direct I/O do not show up;
    calls are matched by name. An empty tuple means "nothing found", not "no other user".
    """
    out: dict[tuple[str, int], tuple[str, ...]] = {}
    for s in sites:
        if not s.function:
            out[(s.file, s.line)] = ()
            continue
        own, _ = classify(s.file, s.function)
        out[(s.file, s.line)] = tuple(k for k in _walk(index, s.file, s.function, own, load, present, visible)
                                      if k != own)
    return out


# ---------------------------------------------------------------------------------- exposure

@dataclass(frozen=True)
class ExposureRule:
    """One row of the decision table in `exposure.toml`."""

    races: tuple[str, ...]
    """The races this row decides."""
    status: tuple[str, ...]
    """Site statuses it applies to (empty = any)."""
    ref_kind: tuple[str, ...]
    """"get"/"pin" (empty = any)."""
    write: tuple[str, ...]
    """"true"/"false"/"unknown" (empty = any)."""
    cow: tuple[tuple[str, Any], ...]
    """COW-profile facts that must hold."""
    exposed: bool
    """The verdict when the row matches."""
    reason: str
    """Evidence template."""


@dataclass(frozen=True)
class ExposureTable:
    """The parsed `exposure.toml`."""

    races: tuple[str, ...]
    """Race ids, in report order."""
    rules: tuple[ExposureRule, ...]
    """Rows in file order."""


@cache
def load_exposure() -> ExposureTable:
    """Read `rules/catalogue/exposure.toml` once."""
    raw = tables.load("exposure")
    races = raw.texts("races")
    rows = []
    for r in raw.tables("rule"):
        unknown = set(r.texts("races")) - set(races)
        if unknown:
            raise r.error("races", f"unknown race(s) {sorted(unknown)}")
        rows.append(ExposureRule(
            races=r.texts("races", races),
            status=r.texts("status"),
            ref_kind=r.texts("ref_kind"),
            write=r.texts("write"),
            cow=tuple(sorted(r.table("cow", {}).items())),
            exposed=r.flag("exposed"),
            reason=r.text("reason"),
        ))
    return ExposureTable(races, tuple(rows))


def _cow_facts(cow: CowProfile) -> dict[str, Any]:
    """The COW-profile facts the `cow` conditions of exposure.toml may test."""
    return {
        "reuse_check": cow.reuse_check,
        "mapcount_only": cow.reuse_check == "mapcount-only" or bool(cow.mapcount_only_sites),
        "fork_copies_pinned": cow.fork_copies_pinned,
        "gup_unshares": cow.gup_unshares,
    }


def _row_matches(row: ExposureRule, status: str, ref: str, write: str, facts: Mapping[str, Any]) -> bool:
    """Whether every condition of one decision-table row holds."""
    if row.status and status not in row.status:
        return False
    if row.ref_kind and ref not in row.ref_kind:
        return False
    if row.write and write not in row.write:
        return False
    return all(facts.get(k) == v for k, v in row.cow)


def exposure(ref_kind: str, write: bool | None, status: str, cow: CowProfile) -> tuple[tuple[str, ...], str]:
    """The races (`fork-read-lost`, `fork-write-leak`) a site is exposed to, and why.

    `ref_kind` and `status` may be the model's enums or their string values. The decision table is
    `rules/catalogue/exposure.toml`; the reason joins the deciding row of each race with "; ".
    """
    table = load_exposure()
    ref = str(getattr(ref_kind, "value", ref_kind))
    st = str(getattr(status, "value", status))
    w = "unknown" if write is None else ("true" if write else "false")
    facts = _cow_facts(cow)
    sites = ", ".join(f"{s.function} {s.file}:{s.line}" for s in cow.mapcount_only_sites) or f"do_wp_page: {cow.reuse_check}"
    exposed: list[str] = []
    reasons: list[str] = []
    for race in table.races:
        row = next((r for r in table.rules if race in r.races and _row_matches(r, st, ref, w, facts)), None)
        if row is None:
            reasons.append(f"not {race}: no row of exposure.toml applies ({ref}, write={w}, {st})")
            continue
        if row.exposed:
            exposed.append(race)
        text = row.reason.format(reuse_check=cow.reuse_check, mapcount_sites=sites, ref=ref, race=race)
        if text not in reasons:
            reasons.append(text)
    return tuple(exposed), "; ".join(reasons)


# ---------------------------------------------------------------------------- legitimate FOLL_GET users


def path_matches(rel: str, pattern: str) -> bool:
    """Whether `rel` matches a path pattern (`*` within one component, `dir/` = anything below dir)."""
    pparts = pattern.rstrip("/").split("/")
    rparts = rel.split("/")
    if pattern.endswith("/"):
        if len(rparts) <= len(pparts):
            return False
    elif len(rparts) != len(pparts):
        return False
    return all(fnmatch.fnmatchcase(r, p) for r, p in zip(rparts, pparts))


@lru_cache(maxsize=1)
def load_legitimate() -> tuple[frozenset[str], tuple[str, ...]]:
    """`legit_classes` and `legit_paths` of apis.toml's [fix] table."""
    fx = tables.load("apis").table("fix", {})
    return frozenset(fx.texts("legit_classes")), fx.texts("legit_paths")


def legitimate_get(file: str, klass: str) -> str | None:
    """Why a site is a legitimate FOLL_GET user (pin_user_pages.rst: KVM with MMU notifiers,
    ptrace-style immediate access, futex, core mm), or None. The one test `audit` and `fix` share:
    the classes and paths are `legit_classes`/`legit_paths` of apis.toml's [fix] table."""
    classes, paths = load_legitimate()
    if klass in classes:
        return f"legitimate FOLL_GET user (class {klass})"
    for pat in paths:
        if path_matches(file, pat):
            return f"legitimate FOLL_GET user (path {pat})"
    return None
