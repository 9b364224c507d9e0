"""Benchmark: `audit` on a tree beside the grep baseline of the issue, same run, warm cache.

Usage: python bench/bench.py TREE [TREE..] [--reps N]
For each tree: grep, a cold audit (--no-cache), and a re-run served by the result cache; then
`audit track` over all the trees given. Prints medians and ratios against grep. No test asserts
these numbers (these machines are noisy); the README records them.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GREP = [
    "grep", "-rlE",
    r"\b(get_user_pages|pin_user_pages|iov_iter_get_pages|iov_iter_extract_pages|bio_iov_iter_get_pages)\w*\s*\(",
    "--include=*.c", "--include=*.h",
]
AUDIT = str(Path(sys.executable).with_name("audit"))


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=env)
    return time.perf_counter() - t


def med(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f}s"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("trees", nargs="+")
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    env = dict(os.environ, XDG_CACHE_HOME=tempfile.mkdtemp(prefix="gup-audit-bench-"))
    cold_of: dict[str, float] = {}
    for tree in a.trees:
        timed(GREP + [tree])  # warm the page cache
        timed([AUDIT, tree, "--format", "json", "-o", "/dev/null", "--no-cache"])
        timed([AUDIT, tree, "--format", "json", "-o", "/dev/null"], env)  # fills the result cache
        g, cold, warm = [], [], []
        for _ in range(a.reps):
            g.append(timed(GREP + [tree]))
            cold.append(timed([AUDIT, tree, "--format", "json", "-o", "/dev/null", "--no-cache"]))
            warm.append(timed([AUDIT, tree, "--format", "json", "-o", "/dev/null"], env))
        gm, cm, wm = statistics.median(g), statistics.median(cold), statistics.median(warm)
        cold_of[tree] = cm
        print(f"tree {tree}")
        print(f"  grep -rlE        median {med(g)}  (runs: {', '.join(f'{x:.2f}' for x in g)})")
        print(f"  audit, cold      median {med(cold)}  ratio {cm / gm:.2f}x grep")
        print(f"  audit, cached    median {med(warm)}  ratio {wm / gm:.2f}x grep")
    if len(a.trees) > 1:
        t = timed([AUDIT, "track", *a.trees, "--format", "json", "--no-cache"])
        print(f"track over {len(a.trees)} trees (no cache): {t:.2f}s = "
              f"{t / max(cold_of.values()):.2f}x the slowest single cold audit")
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS of a child process {rss:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
