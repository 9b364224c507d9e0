"""Benchmark: `audit` on kernel trees beside the grep baseline of the issue, same run, warm cache.

Usage: python bench/bench.py TREE [TREE..] [--reps N] [--audit CMD]
For each tree, each repetition runs, back to back: the README's grep, a cold audit (--no-cache), a
first run with the result cache on (no report of the tree in it: the walk also fingerprints the tree), and a
re-run served by the cache. The trees take turns within a repetition, so that a burst of load on
a shared machine hits all of them alike. Prints, per tree, the median wall time of each and its
ratio to grep's, and the median CPU time (user + system, children included); then `audit track`
over all the trees given. No test asserts these numbers (these machines are noisy); the README
records them.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

GREP = [
    "grep", "-rlE",
    r"\b(get_user_pages|pin_user_pages|iov_iter_get_pages|iov_iter_extract_pages|bio_iov_iter_get_pages)\w*\s*\(",
    "--include=*.c", "--include=*.h",
]
KINDS = ("grep", "cold", "first", "cached")


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=env)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("trees", nargs="+")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--audit", default=f"{shlex.quote(sys.executable)} -m audit",
                    help="the audit command (default: this Python's `-m audit`)")
    a = ap.parse_args()
    audit = shlex.split(a.audit)
    scratch = tempfile.mkdtemp(prefix="gup-audit-bench-")
    warm_env = dict(os.environ, XDG_CACHE_HOME=os.path.join(scratch, "warm"))

    def run(kind: str, tree: str) -> tuple[float, float]:
        out = [*audit, tree, "--format", "json", "-o", os.devnull]
        if kind == "grep":
            return timed(GREP + [tree])
        if kind == "cold":
            return timed([*out, "--no-cache"])
        if kind == "first":
            # No report of the tree in the result cache; the tool's compiled bytecode, kept in the
            # same cache folder, stays (a user's first run of a tree is not a fresh install).
            fresh = os.path.join(scratch, "first")
            for part in ("reports", "roots"):
                shutil.rmtree(os.path.join(fresh, "gup-audit", part), ignore_errors=True)
            return timed(out, dict(os.environ, XDG_CACHE_HOME=fresh))
        return timed(out, warm_env)

    for tree in a.trees:  # warm the page cache and fill the result cache
        run("grep", tree)
        run("cold", tree)
        run("cached", tree)
    wall: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    for _ in range(a.reps):
        for tree in a.trees:
            for kind in KINDS:
                w, c = run(kind, tree)
                wall.setdefault((tree, kind), []).append(w)
                cpu.setdefault((tree, kind), []).append(c)
    cold_of: dict[str, float] = {}
    for tree in a.trees:
        g = statistics.median(wall[(tree, "grep")])
        print(f"tree {tree}")
        for kind in KINDS:
            m = statistics.median(wall[(tree, kind)])
            runs = ", ".join(f"{x:.2f}" for x in wall[(tree, kind)])
            ratio = "" if kind == "grep" else f"  ratio {m / g:.2f}x grep"
            print(f"  {kind:7s} median {m:.2f}s{ratio}  cpu {statistics.median(cpu[(tree, kind)]):.2f}s  (runs: {runs})")
        cold_of[tree] = statistics.median(wall[(tree, "cold")])
    if len(a.trees) > 1:
        t, _ = timed([*audit, "track", *a.trees, "--format", "json", "--no-cache"])
        print(f"track over {len(a.trees)} trees (no cache): {t:.2f}s = "
              f"{t / max(cold_of.values()):.2f}x the slowest single cold audit")
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS of a child process {rss:.0f} MB")
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
