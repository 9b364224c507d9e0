"""`rules/catalogue/cow.toml` as typed values: the files the COW profile reads and the idioms it
looks for in them (reuse tests by kind, fork pin tests and their wrappers, gup unshare idioms).

Kernel knowledge is data: no idiom name appears in the profiler's code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from audit import tables
from audit.tables import Table

MAPCOUNT = "mapcount"
REFCOUNT = "refcount"
EXCLUSIVE = "exclusive"
KINDS = (MAPCOUNT, REFCOUNT, EXCLUSIVE)
GUARDS = frozenset({REFCOUNT, EXCLUSIVE})
"""Kinds of test that make a mapcount test safe when they guard the same path."""


@dataclass(frozen=True)
class IdiomKind:
    """The calls that make a test of one kind (mapcount, refcount, exclusive)."""

    predicates: frozenset[str]
    """Calls that are the test themselves; true means the page may be reused."""
    counters: frozenset[str]
    """Calls that are a test when compared with something."""


@dataclass(frozen=True)
class GupIdiom:
    """A gup idiom that breaks COW or unshares for read requests."""

    name: str
    """The callee or identifier."""
    is_call: bool
    """A call (`gup_must_unshare(...)`) rather than a bare identifier (`FAULT_FLAG_UNSHARE`)."""
    note: str
    """What it means, for the evidence."""


@dataclass(frozen=True)
class CowCatalogue:
    """`rules/catalogue/cow.toml` as typed values."""

    files: tuple[str, ...]
    """The only files read."""
    assertions: re.Pattern[str]
    """Callees whose arguments are assertions."""
    transparent: frozenset[str]
    """Condition pass-through wrappers (`likely`)."""
    reuse_label: re.Pattern[str]
    """Goto labels that lead to the reuse path."""
    cleanup: re.Pattern[str]
    """Calls allowed before the jump of a bail-out branch."""
    reuse_functions: dict[str, str]
    """Reuse-deciding function -> what it reuses, in report order."""
    main: tuple[str, ...]
    """do_wp_page and its helpers: their verdict is `reuse_check`."""
    kinds: dict[str, IdiomKind]
    """mapcount / refcount / exclusive idioms."""
    reuse_helper_files: tuple[str, ...]
    """Where the reuse predicates are defined."""
    fork_functions: tuple[str, ...]
    """Fork page-table copiers."""
    fork_checks: frozenset[str]
    """Direct pin tests."""
    fork_wrappers: frozenset[str]
    """Wrappers expected to reach a pin test."""
    fork_helper_files: tuple[str, ...]
    """Where the wrappers are defined."""
    fork_shares: tuple[str, ...]
    """Calls that share a page at fork (cited when nothing copies)."""
    gup_files: tuple[str, ...]
    """Files examined whole for gup idioms."""
    gup_functions: tuple[str, ...]
    """gup functions examined wherever they are defined."""
    gup_anchors: tuple[str, ...]
    """Cited when nothing unshares."""
    gup_idioms: tuple[GupIdiom, ...]
    """COW-break / unshare idioms."""

    def kind_of(self, callee: str) -> tuple[str, bool] | None:
        """(kind, is_predicate) of a reuse idiom call, None if it is not one."""
        for k in KINDS:
            ik = self.kinds[k]
            if callee in ik.predicates:
                return k, True
            if callee in ik.counters:
                return k, False
        return None

    @property
    def reuse_names(self) -> frozenset[str]:
        """Every reuse idiom callee."""
        out: set[str] = set()
        for ik in self.kinds.values():
            out |= ik.predicates | ik.counters
        return frozenset(out)


def _pattern(t: Table, key: str) -> re.Pattern[str]:
    try:
        return re.compile(t.text(key))
    except re.error as e:
        raise t.error(key, f"not a regular expression: {e}") from None


@cache
def catalogue() -> CowCatalogue:
    """Load `rules/catalogue/cow.toml` once per process (CatalogueError, naming the key, when malformed)."""
    raw = tables.load("cow")
    reuse, fork, gup = raw.table("reuse"), raw.table("fork"), raw.table("gup")
    kinds = {}
    for k in KINDS:
        kt = reuse.table(k)
        kinds[k] = IdiomKind(frozenset(kt.texts("predicates")), frozenset(kt.texts("counters")))
    idioms = tuple(
        GupIdiom(d.text("call") if "call" in d else d.text("identifier"), "call" in d, d.text("note"))
        for d in gup.tables("idioms")
    )
    return CowCatalogue(
        files=raw.texts("files"),
        assertions=_pattern(raw, "assertions"),
        transparent=frozenset(raw.texts("transparent")),
        reuse_label=_pattern(raw, "reuse_label"),
        cleanup=_pattern(raw, "cleanup"),
        reuse_functions=reuse.text_map("functions", tables.REQUIRED),
        main=reuse.texts("main"),
        kinds=kinds,
        reuse_helper_files=reuse.texts("helper_files"),
        fork_functions=fork.texts("functions"),
        fork_checks=frozenset(fork.texts("checks")),
        fork_wrappers=frozenset(fork.texts("wrappers")),
        fork_helper_files=fork.texts("helper_files"),
        fork_shares=fork.texts("shares"),
        gup_files=gup.texts("files"),
        gup_functions=gup.texts("functions"),
        gup_anchors=gup.texts("anchors"),
        gup_idioms=idioms,
    )
