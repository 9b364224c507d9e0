"""In-tree check of the real-bug development set (tests/bugs/): each bug is looked for in a REAL kernel
tree, not in its trimmed excerpt.

Usage: python bench/intree.py [--trees DIR] [--only ID[,ID..]] [--fresh] [--verbose]

Per bug, `bug.toml` says where the bug lives in a real tree:

    intree_mode  = "as-is"     the tree's own file still has the bug (an old tree, or a fix later than it)
                   "reversed"  the tree has the fix; tests/bugs/<id>/intree/<tree>/<file>.diff is a unified
                               diff that reverses it in that real file (everything else of the file kept)
                   "adapted"   as "reversed", but the fixed code was reshaped later, so the reversal
                               puts the bug's shape on the later code (see intree_note)
                   "none"      not recreatable (intree_note says why)
    intree_tree  = "linux-source-6.1"           the tree (a folder under --trees)
    intree_file  = "..."                        the file in that tree when it moved (default: `file`)
    intree_function = "..."                     the function holding the faulty line (default: `function`)
    intree_line  = 689                          the faulty line in the real (reversed) file
    intree_other_lines = [..]                   further faulty lines of the same bug
    intree_fixed = ["linux-source-6.1", "linux-source-6.12:path"]   unmodified trees whose file has the
                               fixed code: no error/warning of the bug's rule may sit in the function
    intree_also  = ["linux-2.6.32:net/rds/info.c:237"]   further as-is occurrences (tree:file:line)

A reversed file is put into a hard-linked copy of the tree (`cp -al`; the one file is removed before it
is written, so the original tree is never touched), audited with `python -m audit COPY --format json
--no-cache`, and the copy is deleted. Unmodified trees are audited once per run (cached under
$TMPDIR/gup-audit-intree/<tree>.json; --fresh redoes them).

Prints a table: id, tree, mode, verdict (found / MISSED / n/a), fixed-clean (clean / FP), and for each
miss the findings of the bug's rule in that file; then every error-level finding in the fixed real files.
Exit status 0 always (a measurement, not a test).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUGS = REPO / "tests" / "bugs"
SEVERE = ("error", "warning")


def reversed_text(real: Path, diff: Path) -> str:
    """The real file with the fix reversed: the tree's file with the stored unified diff applied
    (`patch`; the repository keeps only the diff, never a kernel file)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        subprocess.run(["patch", "-s", "-o", str(out), str(real), str(diff)], check=True,
                       stdout=subprocess.DEVNULL)
        return out.read_text(errors="replace")


def find_func(text: str, name: str) -> tuple[int, int] | None:
    """1-based (first, last) line of the definition of `name` in C text, or None (a rough brace match)."""
    lines = text.split("\n")
    pat = re.compile(r"(^|[\s*])" + re.escape(name) + r"\s*\(")
    for i, line in enumerate(lines):
        if not line or line[0] in " \t#/" or line.startswith(" *") or not pat.search(line):
            continue
        if line.rstrip().endswith(";"):
            continue
        opening = None
        for j in range(i, min(i + 20, len(lines))):
            if "{" in lines[j]:
                opening = j
                break
            if re.sub(r"/\*.*?\*/|//.*", "", lines[j]).rstrip().endswith(";"):
                break  # a prototype
        if opening is None:
            continue
        depth = 0
        for k in range(opening, len(lines)):
            s = re.sub(r'"(\\.|[^"\\])*"', '""', lines[k])
            s = re.sub(r"'(\\.|[^'\\])*'", "''", s)
            s = re.sub(r"//.*", "", s)
            depth += s.count("{") - s.count("}")
            if depth == 0 and "}" in s:
                return i + 1, k + 1
    return None


def audit(tree: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-m", "audit", str(tree), "--format", "json", "--no-cache"],
                         capture_output=True, text=True, env=env, cwd=REPO)
    if out.returncode not in (0, 1):
        raise RuntimeError(f"audit {tree}: exit {out.returncode}: {out.stderr[-2000:]}")
    return json.loads(out.stdout)


def findings(report: dict, path: str) -> list[dict]:
    """Every finding whose faulty line is in `path`, with the site's function and acquire line."""
    res = []
    for s in report["sites"]:
        for f in s["findings"]:
            if f["file"] == path:
                res.append(dict(f, site_function=s["function"], site_line=s["line"], site_file=s["file"],
                                api=s["api"]))
    return res


def in_function(f: dict, rng: tuple[int, int] | None, function: str) -> bool:
    return (rng is not None and rng[0] <= f["line"] <= rng[1]) or f["site_function"] == function


class Runner:
    def __init__(self, trees: Path, fresh: bool):
        self.trees = trees
        self.cache = Path(tempfile.gettempdir()) / "gup-audit-intree"
        self.cache.mkdir(exist_ok=True)
        self.fresh = fresh
        self.reports: dict[str, dict] = {}

    def pristine(self, tree: str) -> dict:
        if tree not in self.reports:
            cached = self.cache / f"{tree}.json"
            if cached.is_file() and not self.fresh:
                self.reports[tree] = json.loads(cached.read_text())
            else:
                self.reports[tree] = audit(self.trees / tree)
                cached.write_text(json.dumps(self.reports[tree]))
        return self.reports[tree]

    def reversed(self, tree: str, path: str, text: str) -> dict:
        work = Path(tempfile.mkdtemp(prefix="it-", dir=tempfile.gettempdir()))
        copy = work / tree
        try:
            subprocess.run(["cp", "-al", str(self.trees / tree), str(copy)], check=True)
            target = copy / path
            target.unlink()  # hard link: never write through it
            target.write_text(text)
            return audit(copy)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def fmt(f: dict) -> str:
    return (f"{f['rule']}/{f['severity']} {f['file']}:{f['line']} (site {f['site_function']}:{f['site_line']}"
            f" {f['api']}) {f['message'][:150]}")


def check_bug(meta: dict, run: Runner, verbose: bool) -> tuple[list[list[str]], list[str], list[str]]:
    """(table rows, diagnostics, error-level findings in fixed real files)"""
    bid, rule, mode = meta["id"], meta["rule"], meta.get("intree_mode", "none")
    rows, diag, fps = [], [], []
    if mode == "none":
        rows.append([bid, "-", mode, "n/a", "-", meta.get("intree_note", "")[:90]])
        return rows, diag, fps
    tree = meta["intree_tree"]
    path = meta.get("intree_file", meta["file"])
    function = meta.get("intree_function", meta["function"])
    lines = {meta["intree_line"], *meta.get("intree_other_lines", [])}
    targets = [(tree, path, lines, mode)]
    for extra in meta.get("intree_also", []):
        t, p, ln = extra.split(":")
        targets.append((t, p, {int(ln)}, "as-is"))
    for t, p, want, m in targets:
        if m == "as-is":
            report = run.pristine(t)
            text = (run.trees / t / p).read_text(errors="replace")
        else:
            text = reversed_text(run.trees / t / p, BUGS / bid / "intree" / t / (p + ".diff"))
            report = run.reversed(t, p, text)
        rng = find_func(text, function)
        found = findings(report, p)
        hit = [f for f in found if f["rule"] == rule and f["line"] in want and f["severity"] in SEVERE]
        verdict = "found" if hit else "MISSED"
        if not hit:
            near = [f for f in found if f["rule"] == rule and in_function(f, rng, function)]
            at = [f for f in found if f["line"] in want]
            diag.append(f"{bid} [{t}:{p}:{sorted(want)} {rule}] MISSED")
            for f in near:
                diag.append(f"    same rule in function: {fmt(f)}")
            for f in at:
                if f not in near:
                    diag.append(f"    at the line: {fmt(f)}")
            if not near and not at:
                sites = [s for s in report["sites"] if s["file"] == p and
                         (s["function"] == function or (rng and rng[0] <= s["line"] <= rng[1]))]
                for s in sites:
                    diag.append(f"    site {s['function']}:{s['line']} {s['api']} status={s['status']} "
                                f"findings={[(f['rule'], f['severity'], f['line']) for f in s['findings']]}")
                if not sites:
                    diag.append("    no site in the function")
        elif verbose:
            diag.append(f"{bid} [{t}] found: {fmt(hit[0])}")
        rows.append([bid, t, m, verdict, "", f"{p}:{sorted(want)}"])
    clean = []
    for spec in meta.get("intree_fixed", []):
        t, _, p = spec.partition(":")
        p = p or path
        report = run.pristine(t)
        text = (run.trees / t / p).read_text(errors="replace")
        rng = find_func(text, function)
        found = findings(report, p)
        bad = [f for f in found if f["rule"] == rule and f["severity"] in SEVERE and in_function(f, rng, function)]
        clean.append(f"{t}:{'clean' if not bad else 'FP'}")
        for f in bad:
            diag.append(f"{bid} [{t}:{p}] fixed file still reports: {fmt(f)}")
        for f in found:
            if f["severity"] == "error":
                fps.append(f"{bid} [{t}:{p}] {fmt(f)}")
    if rows:
        rows[0][4] = " ".join(clean) or "-"
    return rows, diag, fps


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trees", default="/work/trees")
    ap.add_argument("--only", default="")
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    run = Runner(Path(args.trees), args.fresh)
    rows, diags, fps = [], [], []
    for toml in sorted(BUGS.glob("*/bug.toml")):
        meta = tomllib.loads(toml.read_text())
        if only and meta["id"] not in only:
            continue
        r, d, f = check_bug(meta, run, args.verbose)
        rows += r
        diags += d
        fps += f
    head = ["id", "tree", "mode", "in-tree", "fixed", "where"]
    widths = [max(len(str(x[i])) for x in rows + [head]) for i in range(len(head))]
    for row in [head] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    judged = [r for r in rows if r[3] in ("found", "MISSED")]
    print(f"\n{sum(r[3] == 'found' for r in judged)}/{len(judged)} found in real trees; "
          f"{sum(r[3] == 'n/a' for r in rows)} not recreatable")
    if diags:
        print("\nDiagnostics:")
        print("\n".join(diags))
    if fps:
        print("\nError-level findings in the fixed real files:")
        print("\n".join(sorted(set(fps))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
