"""A developer aid: `python -m audit.cow TREE...` prints each tree's COW profile and its time."""

from __future__ import annotations

import sys
import time

from audit.cow import profile
from audit.source import FsSource


def main(argv: list[str]) -> None:  # pragma: no cover
    """Profile each tree in `argv` and print the verdicts, the sites and the evidence."""
    for arg in argv:
        t = time.perf_counter()
        p = profile(FsSource(arg))
        dt = time.perf_counter() - t
        print(f"{arg}: {p.reuse_check}, fork_copies_pinned={p.fork_copies_pinned}, gup_unshares={p.gup_unshares} ({dt:.3f}s)")
        for s in p.mapcount_only_sites:
            print(f"  site {s.file}:{s.line} {s.function}() {s.idiom}")
        for e in p.evidence:
            print(f"  {e.file}:{e.line}: {e.message}")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
