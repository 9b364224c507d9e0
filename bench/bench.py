"""Benchmark: `audit` on a tree beside the grep baseline of the issue, same run, warm cache.

Usage: python bench/bench.py TREE [--reps N]
Prints both medians, the ratio, and audit's peak RSS. No test asserts these numbers.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

GREP = [
    "grep", "-rlE",
    r"\b(get_user_pages|pin_user_pages|iov_iter_get_pages|iov_iter_extract_pages|bio_iov_iter_get_pages)\w*\s*\(",
    "--include=*.c", "--include=*.h",
]


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("tree")
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    tree = str(Path(a.tree))
    audit = [str(Path(sys.executable).with_name("audit")), tree, "--format", "json", "-o", "/dev/null"]
    timed(GREP + [tree])  # warm the page cache
    timed(audit)
    g, t = [], []
    for _ in range(a.reps):
        g.append(timed(GREP + [tree]))
        t.append(timed(audit))
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    gm, tm = statistics.median(g), statistics.median(t)
    print(f"tree {tree}")
    print(f"grep -rlE   median {gm:.2f}s  (runs: {', '.join(f'{x:.2f}' for x in g)})")
    print(f"audit       median {tm:.2f}s  (runs: {', '.join(f'{x:.2f}' for x in t)})")
    print(f"ratio audit/grep {tm / gm:.2f}x   peak RSS of a child {rss:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
