"""The tree's COW safety profile (interface.md `Cow`), read from a handful of mm/ files.

Reads only the files named in `rules/catalogue/cow.toml` (mm/memory.c, mm/hugetlb.c, … whichever
exist), through the tree's `Source.file`, and decides each verdict from the source idioms the
catalogue lists, never from the version number: stable trees carry backports (domain.md §6, §9.3).

- `idioms`: cow.toml as typed values (`catalogue()`).
- `verdicts`: the three verdicts (`reuse_check` with `mapcount_only_sites`, `fork_copies_pinned`,
  `gup_unshares`) and their evidence.
- `reuse`: which tests decide reuse in one function, and what guards them.
- `syntax`: the climbs from a test towards its decision.

It never writes anything and never raises on a missing or unreadable file: the verdict falls back
and the evidence says why. Nodes stay inside this package and the parsing layer.
"""

from __future__ import annotations

from audit.cow import verdicts
from audit.cow.idioms import CowCatalogue, catalogue
from audit.model import CowProfile
from audit.source import Source


def profile(src: Source) -> CowProfile:
    """The COW safety profile of the tree `src` reads (a few files; writes nothing)."""
    return verdicts.profile(src, catalogue())


__all__ = ["CowCatalogue", "catalogue", "profile"]
