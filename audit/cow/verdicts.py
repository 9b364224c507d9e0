"""The three verdicts of the COW profile (interface.md `Cow`), read from a handful of mm/ files.

- `reuse_check` and `mapcount_only_sites`: in each write-fault/swap-in/collapse function, every
  test that decides reuse is classified by kind (`audit.cow.reuse`); the predicates' own
  definitions say what they really count.
- `fork_copies_pinned`: a fork page-table copier calls a pin test (directly or through a
  `*_try_dup_anon_rmap*()` wrapper whose definition is checked).
- `gup_unshares`: the gup core forces a COW break or unshares for read requests.

Files come from the tree's `Source.file`; a missing file is normal (older and newer trees lack
some), an unreadable one becomes evidence. Nothing is written and nothing raises.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from audit.cow.idioms import EXCLUSIVE, KINDS, MAPCOUNT, REFCOUNT, CowCatalogue
from audit.cow.reuse import Atom, ReuseAnalyzer
from audit.cow.syntax import asserted, idiom_text, statement
from audit.model import CowProfile, CowSite, Evidence
from audit.parse import Node
from audit.source import Source
from audit.sourcefile import Function, SourceFile, names_regex


class Files:
    """The catalogue's files of one tree, each asked of the source once."""

    def __init__(self, src: Source, cat: CowCatalogue) -> None:
        self.src = src
        self.cat = cat
        self._files: dict[str, SourceFile | None] = {}
        self.unreadable: list[Evidence] = []
        """One line per file that exists but cannot be read."""

    def file(self, rel: str) -> SourceFile | None:
        """The file at `rel`, None when absent or unreadable."""
        if rel not in self._files:
            sf: SourceFile | None = None
            try:
                sf = self.src.file(rel)
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                pass  # older and newer trees lack some of the files: normal
            except OSError as e:
                self.unreadable.append(Evidence(rel, 1, f"cannot read: {e.strerror or e}"))
            self._files[rel] = sf
        return self._files[rel]

    def files(self, rels: Iterable[str] | None = None) -> Iterator[SourceFile]:
        """The catalogue files (or `rels`) that exist, in catalogue order."""
        for rel in rels if rels is not None else self.cat.files:
            sf = self.file(rel)
            if sf is not None:
                yield sf

    def find(self, names: Iterable[str], rels: Iterable[str] | None = None) -> list[tuple[SourceFile, Function]]:
        """Definitions of `names` across the catalogue files (or `rels`)."""
        names = tuple(names)
        out = []
        for sf in self.files(rels):
            for fn in sf.find(names):
                out.append((sf, fn))
        return out


@dataclass(frozen=True)
class HelperFact:
    """What one definition of a reuse predicate counts."""

    name: str
    """The predicate (`reuse_swap_page`)."""
    kind: str | None
    """refcount when it counts the refcount, mapcount when only the mapcount, None when neither."""
    evidence: Evidence
    """The line that shows it."""


@dataclass
class Profiler:
    """Builds a CowProfile for one tree; `evidence` collects the lines in verdict order."""

    tree: Files
    """The tree's files."""
    cat: CowCatalogue
    """The idioms."""
    evidence: list[Evidence] = field(default_factory=list)
    """Evidence so far."""

    # -- reuse ----------------------------------------------------------------------------------

    def helpers(self) -> list[HelperFact]:
        """What each reuse predicate's definitions in this tree count (function and macro)."""
        cat = self.cat
        preds = frozenset().union(*(cat.kinds[k].predicates for k in KINDS))
        counters = {name: k for k in KINDS for name in cat.kinds[k].counters}
        names = frozenset(counters)
        out: list[HelperFact] = []
        for sf in self.tree.files(cat.reuse_helper_files):
            if not sf.mentions(preds):
                continue
            defs: list[tuple[str, int, list[tuple[str, int]], str]] = []
            for fn in sf.find(preds):
                hits = [
                    (name, sf.lines.line_of(call.start_byte))
                    for name, call in sf.calls(fn.start, fn.end, names)
                    if not sf.dead(call) and not asserted(cat, fn, call)
                ]
                defs.append((fn.name, fn.line, hits, "function"))
            for name, node in sf.macros(preds):
                if sf.dead(node):
                    continue
                body = node.child_by_field_name("value")
                base = body.start_byte if body is not None else node.end_byte
                text = sf.src[base : body.end_byte] if body is not None else b""
                hits = [
                    (m.group(1).decode(), sf.lines.line_of(base + m.start(1)))
                    for m in names_regex(names, True).finditer(text)
                ]
                defs.append((name, sf.lines.line_of(node.start_byte), hits, "macro"))
            for name, line, hits, what in sorted(defs, key=lambda d: d[1]):
                label = f"{name}() ({what})"
                ref = next(((h, ln) for h, ln in hits if counters[h] == REFCOUNT), None)
                mc = next(((h, ln) for h, ln in hits if counters[h] == MAPCOUNT), None)
                if ref is not None:
                    fact = HelperFact(name, REFCOUNT, Evidence(sf.path, ref[1], f"{label} counts {ref[0]}(): a refcount test"))
                elif mc is not None:
                    msg = f"{label} counts {mc[0]}() and never the refcount: a mapcount-only test"
                    fact = HelperFact(name, MAPCOUNT, Evidence(sf.path, mc[1], msg))
                else:
                    msg = f"{label} counts nothing the catalogue knows: kept as a mapcount test"
                    fact = HelperFact(name, None, Evidence(sf.path, line, msg))
                out.append(fact)
        return out

    def reuse(self) -> tuple[str, tuple[CowSite, ...]]:
        """`reuse_check` and `mapcount_only_sites`, one site per deciding function."""
        cat = self.cat
        facts = self.helpers()
        # NOTE: a predicate whose definition counts the refcount (2.6.11's can_share_swap_page()
        # used `switch (page_count(page))`) is no mapcount test in this tree.
        demoted = {f.name: REFCOUNT for f in facts if f.kind == REFCOUNT}
        sites: list[CowSite] = []
        main_kinds: dict[str, Atom] = {}
        relied_on: set[str] = set(demoted)
        ev: list[Evidence] = []
        for name, what in cat.reuse_functions.items():
            for sf, fn in self.tree.find([name]):
                if fn.degraded:
                    ev.append(Evidence(sf.path, fn.line, f"{name}() is not a clean function_definition: tests read from damaged nodes"))
                an = ReuseAnalyzer(cat, sf, fn, demoted)
                decisive = [v for v in map(an.verdict, an.atoms) if v.decisive]
                unsafe = next((v for v in decisive if MAPCOUNT in v.atom.kinds and v.guard is None), None)
                if unsafe is not None:
                    a = unsafe.atom
                    if not any(s.file == sf.path and s.function == name for s in sites):
                        sites.append(CowSite(sf.path, a.line, name, a.text))
                    relied_on.update(c for c in a.callees if c in cat.kinds[MAPCOUNT].predicates)
                    msg = (
                        f"{name}() reuses {what} on {a.text} alone: no page_count/folio_ref_count or "
                        "PageAnonExclusive test on that path (mapcount-only)"
                    )
                    ev.append(Evidence(sf.path, a.line, msg))
                    if name in cat.main:
                        main_kinds.setdefault(MAPCOUNT, a)
                    continue
                for kind, label in ((EXCLUSIVE, "the anon-exclusive bit"), (REFCOUNT, "a refcount test")):
                    v = next((v for v in decisive if kind in v.atom.kinds), None)
                    if v is None:
                        continue
                    ev.append(Evidence(sf.path, v.atom.line, f"{name}() decides reuse of {what} with {v.atom.text}: {label}"))
                    if name in cat.main:
                        main_kinds.setdefault(kind, v.atom)
                guarded = next((v for v in decisive if MAPCOUNT in v.atom.kinds and v.guard not in (None, v.atom)), None)
                if guarded is not None and guarded.guard is not None:
                    g, a = guarded.guard, guarded.atom
                    how = f"together with {g.text}" if guarded.conjoined else f"behind {g.text} (line {g.line})"
                    ev.append(Evidence(sf.path, a.line, f"{name}() tests {a.text} only {how}"))
        verdict = "unknown"
        for kind, label in ((MAPCOUNT, "mapcount-only"), (EXCLUSIVE, "anon-exclusive"), (REFCOUNT, "page-count")):
            if kind in main_kinds:
                verdict = label
                break
        if verdict == "unknown":
            main = cat.main[0] if cat.main else "do_wp_page"
            defs = self.tree.find([main])
            if defs:
                sf, fn = defs[0]
                self.evidence.append(Evidence(sf.path, fn.line, f"{main}() has no reuse test the catalogue knows: reuse check unknown"))
            else:
                self.evidence.append(Evidence(cat.files[0], 1, f"{main}() not found: reuse check unknown"))
        self.evidence.extend(ev)
        # Cite only the predicate definitions a verdict relies on.
        self.evidence.extend(f.evidence for f in facts if f.name in relied_on)
        return verdict, tuple(sites)

    # -- fork -----------------------------------------------------------------------------------

    def fork(self) -> bool:
        """`fork_copies_pinned`: a fork page-table copier tests for possibly pinned pages."""
        cat = self.cat
        names = cat.fork_checks | cat.fork_wrappers
        wrappers: dict[str, tuple[bool, Evidence]] = {}
        found = self.tree.find(cat.fork_functions)
        hits: dict[tuple[str, int], Node] = {}
        for sf, fn in found:
            for name, call in sf.calls(fn.start, fn.end, names):
                if sf.dead(call) or asserted(cat, fn, call):
                    continue
                if name in cat.fork_wrappers:
                    if name not in wrappers:
                        wrappers[name] = self._wrapper(name)
                    if not wrappers[name][0]:
                        continue
                hits[(sf.path, fn.start)] = call
                break
        copiers = frozenset(fn.name for sf, fn in found if (sf.path, fn.start) in hits)
        shares = frozenset(cat.fork_shares)
        ev: list[Evidence] = []
        for sf, fn in found:
            hit = hits.get((sf.path, fn.start))
            if hit is not None:
                msg = f"{fn.name}() copies a possibly pinned anon page instead of sharing it ({idiom_text(sf.src, hit)})"
                ev.append(Evidence(sf.path, sf.lines.line_of(hit.start_byte), msg))
                continue
            # A copier with neither a pin test nor a share (6.1's copy_present_page() is the
            # copy itself) says nothing about sharing; nor does one that shares only after a
            # copier it calls declined to copy (5.10's copy_present_pte()).
            if next(sf.calls(fn.start, fn.end, copiers), None) is not None:
                continue
            share = next((c for _, c in sf.calls(fn.start, fn.end, shares) if not sf.dead(c)), None)
            if share is not None:
                msg = f"{fn.name}() shares anon pages with the child ({idiom_text(sf.src, share)}) with no pin test"
                ev.append(Evidence(sf.path, sf.lines.line_of(share.start_byte), msg))
        if not found:
            ev.append(Evidence(cat.files[0], 1, "no fork page-table copier found: fork taken to share pinned pages"))
        ev.extend(e for _, e in wrappers.values())
        self.evidence.extend(ev)
        return bool(hits)

    def _wrapper(self, name: str) -> tuple[bool, Evidence]:
        """Whether wrapper `name` reaches a pin test in its definition (following the helpers it
        calls in the same files), with the line that shows it. A wrapper whose definition is not
        in the files read is trusted to the catalogue."""
        cat = self.cat
        todo, seen = [name], set[str]()
        first_def: tuple[str, int] | None = None
        while todo and len(seen) < 8:
            cur = todo.pop(0)
            if cur in seen:
                continue
            seen.add(cur)
            for sf, fn in self.tree.find([cur], cat.fork_helper_files):
                first_def = first_def or (sf.path, fn.line)
                local = frozenset(sf.functions) | cat.fork_checks
                for callee, call in sf.calls(fn.start, fn.end, local):
                    if sf.dead(call):
                        continue
                    if callee in cat.fork_checks:
                        via = "" if cur == name else f" (in {cur}())"
                        msg = f"{name}() refuses to share a page when {idiom_text(sf.src, call)}{via}"
                        return True, Evidence(sf.path, sf.lines.line_of(call.start_byte), msg)
                    todo.append(callee)
        if first_def is not None:
            return False, Evidence(first_def[0], first_def[1], f"{name}() never tests for a pin: fork shares what it duplicates")
        where = cat.fork_helper_files[0] if cat.fork_helper_files else cat.files[0]
        return True, Evidence(where, 1, f"{name}() definition not read: taken to test for pins, as the catalogue says")

    # -- gup ------------------------------------------------------------------------------------

    def gup(self) -> bool:
        """`gup_unshares`: a gup function forces a COW break or unshares for read requests."""
        cat = self.cat
        calls = frozenset(i.name for i in cat.gup_idioms if i.is_call)
        idents = frozenset(i.name for i in cat.gup_idioms if not i.is_call)
        notes = {i.name: i.note for i in cat.gup_idioms}
        targets: list[tuple[SourceFile, Function]] = []
        for sf in self.tree.files(cat.gup_files):
            if sf.mentions(calls | idents):
                targets.extend((sf, fn) for fns in sf.functions.values() for fn in fns)
        others = [r for r in cat.files if r not in cat.gup_files]
        targets.extend(self.tree.find(cat.gup_functions, others))
        hits: list[Evidence] = []
        for sf, fn in targets:
            if fn.name in calls:
                continue  # the idiom's own definition (5.8's static should_force_cow_break())
            first: list[tuple[int, str, str]] = []
            call = next(((n, c) for n, c in sf.calls(fn.start, fn.end, calls) if not sf.dead(c)), None)
            if call is not None:
                first.append((call[1].start_byte, call[0], idiom_text(sf.src, call[1])))
            ident = next(((n, i) for n, i in sf.identifiers(fn.start, fn.end, idents) if not sf.dead(i)), None)
            if ident is not None:
                first.append((ident[1].start_byte, ident[0], idiom_text(sf.src, statement(ident[1])).rstrip(";")))
            if first:
                off, name, text = min(first)
                hits.append(Evidence(sf.path, sf.lines.line_of(off), f"{fn.name}() {notes[name]}: {text}"))
        if hits:
            self.evidence.extend(sorted(set(hits), key=lambda e: (e.file, e.line)))
            return True
        words = ", ".join(f"{i.name}()" if i.is_call else i.name for i in cat.gup_idioms)
        anchor = next((d for a in cat.gup_anchors for d in self.tree.find([a])), None)
        if anchor is not None:
            sf, fn = anchor
            self.evidence.append(Evidence(sf.path, fn.line, f"{fn.name}() breaks COW only for write requests: no {words}"))
        else:
            self.evidence.append(Evidence(cat.gup_files[0] if cat.gup_files else cat.files[0], 1, f"no gup core found; no {words}"))
        return False


def profile(src: Source, cat: CowCatalogue) -> CowProfile:
    """The COW safety profile of the tree `src` reads (a few files; writes nothing), by the idioms of `cat`."""
    pr = Profiler(Files(src, cat), cat)
    reuse_check, sites = pr.reuse()
    fork = pr.fork()
    gup = pr.gup()
    pr.evidence.extend(pr.tree.unreadable)
    return CowProfile(
        reuse_check=reuse_check,
        mapcount_only_sites=sites,
        fork_copies_pinned=fork,
        gup_unshares=gup,
        evidence=tuple(pr.evidence),
    )
