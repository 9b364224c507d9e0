#!/usr/bin/env python3
"""Sanity check for the real-bug development set: every bug.toml names files and
lines that exist, the acquire line holds a call, and buggy/ differs from fixed/.
Run: python3 tests/bugs/check_bugs.py [-v]"""
import os, sys, tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
RULES = {"gup-leak", "gup-release-count", "gup-double-release", "gup-dirty-lost",
         "gup-pin-put-page", "gup-get-unpin"}
REQUIRED = ["commit", "title", "version", "file", "function", "rule", "line",
            "acquire_line", "source", "explanation", "confidence"]


def main(verbose):
    bad = 0
    ids = sorted(d for d in os.listdir(HERE) if os.path.isfile(os.path.join(HERE, d, "bug.toml")))
    for bid in ids:
        with open(os.path.join(HERE, bid, "bug.toml"), "rb") as f:
            meta = tomllib.load(f)
        errs = [f"missing {k}" for k in REQUIRED if k not in meta]
        if meta.get("rule") not in RULES:
            errs.append(f"unknown rule {meta.get('rule')}")
        bpath = os.path.join(HERE, bid, "buggy", meta.get("file", "?"))
        fpath = os.path.join(HERE, bid, "fixed", meta.get("file", "?"))
        if not os.path.isfile(bpath) or not os.path.isfile(fpath):
            errs.append("buggy/ or fixed/ file missing")
        else:
            blines = open(bpath).read().split("\n")
            if open(bpath).read() == open(fpath).read():
                errs.append("buggy == fixed")
            if meta.get("function") and meta["function"] + "(" not in open(bpath).read():
                errs.append(f"function {meta['function']} not in buggy file")
            for key in ("line", "acquire_line"):
                n = meta.get(key, 0)
                if not (1 <= n <= len(blines)) or not blines[n - 1].strip():
                    errs.append(f"{key} {n} out of range or blank")
                elif verbose:
                    print(f"  {bid}: {key:12} {n:4}: {blines[n-1].strip()}")
            if "(" not in blines[meta.get("acquire_line", 1) - 1]:
                errs.append("acquire_line holds no call")
        if errs:
            bad += 1
            print(f"FAIL {bid}: {'; '.join(errs)}")
        elif verbose:
            print(f"ok   {bid} [{meta['rule']}] {meta['file']}:{meta['line']} ({meta['version']})")
    print(f"{len(ids)} bugs, {bad} failing")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main("-v" in sys.argv))
