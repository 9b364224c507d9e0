"""`audit fix`: turn raw gup closures into a diff (or `git am` patches) converting them to the pin API.

The command only: arguments, the audit, the plan (`audit.fixes.plan`), the output
(`audit.fixes.patch`). Which sites convert is `audit.fixes.policy` (and `.lifetime` for
FOLL_LONGTERM), how the text changes is `audit.fixes.rewrite`, API knowledge is the `[fix]` tables of
`rules/catalogue/apis.toml` (`audit.fixes.knowledge`). The tree — a folder, or with `--git REPO` a
revision read from the object store — is read through `audit.source`, never written: the diff goes
to stdout, the patches to `--split DIR`, which must lie outside the tree.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TextIO

from audit import catalogue, rules
from audit.engine import audit_tree, check_source, find_root
from audit.fixes.context import TreeContext
from audit.fixes.ctext import Edit, expr_key, expr_root, strip_expr
from audit.classify import path_matches
from audit.fixes.knowledge import FixRules, FixRulesError, fix_rules
from audit.fixes.patch import apply_edits, series, unified_diff
from audit.fixes.plan import Conversion, Plan, Planner
from audit.model import Report
from audit.source import FsSource, Source
from audit.version import tree_version

DEFAULT_AUTHOR = "gup-audit <gup-audit@localhost>"
"""Author of `--split` patches when neither `--author` nor GIT_AUTHOR_NAME/GIT_AUTHOR_EMAIL is set."""


def _parser() -> argparse.ArgumentParser:
    """The `audit fix` argument parser; errors raise audit.cli.UsageError (exit 2)."""
    from audit.cli import UsageError

    class P(argparse.ArgumentParser):
        def error(self, message: str) -> None:  # type: ignore[override]
            """Raise UsageError instead of exiting."""
            raise UsageError(message)

    p = P(prog="audit fix", description="Print a unified diff converting raw gup closures to the pin API "
          "(pin_user_pages*/unpin_user_page*). Declined sites are listed on stderr with the reason.")
    p.add_argument("path", help="kernel source tree (with --git: a revision of REPO)")
    p.add_argument("--git", metavar="REPO", help="read the revision given as PATH from this git repository's "
                   "object store (no checkout)")
    p.add_argument("--select", metavar="ID[,ID..]", help="convert only sites reported under these rule ids")
    p.add_argument("--check", action="store_true", help="print nothing on stdout; exit 1 if any site would be converted")
    p.add_argument("--split", metavar="DIR", help="write one `git am` patch per subsystem into DIR (outside the tree) "
                   "and print their names")
    p.add_argument("--author", metavar="'NAME <EMAIL>'", help="From: of the --split patches (default: "
                   "GIT_AUTHOR_NAME/GIT_AUTHOR_EMAIL, else gup-audit)")
    p.add_argument("--signoff", action="store_true", help="end each --split message with Signed-off-by: AUTHOR "
                   "(the Developer's Certificate of Origin is yours to give: off by default)")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    p.add_argument("--no-cache", action="store_true", help="do not use or update the result cache")
    return p


def _source(args: argparse.Namespace) -> Source:
    """The tree to read: a folder, or a git revision (UsageError/InputError when it is not a kernel tree)."""
    from audit.cli import UsageError

    if args.git:
        from audit.source import GitSource, SourceError

        try:
            src: Source = GitSource(args.git, args.path, label=args.path)
        except SourceError as e:
            raise UsageError(str(e)) from None
        check_source(src)
        return src
    root, _ = find_root(Path(args.path))
    return FsSource(str(root), args.path)


def _author(args: argparse.Namespace) -> str:
    """The From: line of the patches."""
    if args.author:
        return str(args.author)
    name, mail = os.environ.get("GIT_AUTHOR_NAME"), os.environ.get("GIT_AUTHOR_EMAIL")
    return f"{name} <{mail}>" if name and mail else DEFAULT_AUTHOR


def _split_dir(args: argparse.Namespace, src: Source) -> Path:
    """The --split folder, created; UsageError when it lies inside the audited tree or cannot be made."""
    from audit.cli import UsageError

    d = Path(args.split)
    if isinstance(src, FsSource):
        root, target = os.path.realpath(src.root), os.path.realpath(d)
        if target == root or target.startswith(root.rstrip(os.sep) + os.sep):
            raise UsageError(f"--split {args.split}: inside the audited tree (audit fix never writes there)")
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create {args.split}: {e.strerror}") from None
    return d


def make_plan(src: Source, select: set[str] | None = None, workers: int | None = None,
              report: Report | None = None, scope: str = "") -> tuple[Plan, TreeContext]:
    """Audit the tree (unless `report` is given) and plan the conversion of its sites under `scope`."""
    version = tree_version(src)
    if report is None:
        report = audit_tree(src, workers=workers)
    ctx = TreeContext(src, version, catalogue.load(version), fix_rules(), workers)
    return Planner(ctx, report, select, scope).plan(), ctx


def _select(args: argparse.Namespace) -> set[str] | None:
    """The --select rule ids (UsageError for unknown ones)."""
    from audit.cli import UsageError

    if not args.select:
        return None
    select = {x.strip() for x in args.select.split(",") if x.strip()}
    bad = sorted(select - set(rules.rule_by_id()))
    if bad:
        raise UsageError(f"unknown rule id(s): {', '.join(bad)} (see `audit rules`)")
    return select


def cmd_fix(argv: list[str], out: TextIO, err: TextIO | None = None) -> int:
    """`audit fix PATH [--git REPO] [--select ID..] [--check] [--split DIR]`: the diff (or the patch names) on
    `out`, converted/declined lines on `err`."""
    from audit.cli import UsageError

    err = sys.stderr if err is None else err
    args = _parser().parse_args(argv)
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    select = _select(args)
    try:
        fix_rules()
    except FixRulesError as e:
        raise UsageError(str(e)) from None
    src = _source(args)
    split = _split_dir(args, src) if args.split else None
    scope = "" if args.git else find_root(Path(args.path))[1]
    report = audit_tree(src, shown_root=src.label, workers=args.jobs, use_cache=not args.no_cache)
    plan, ctx = make_plan(src, select, args.jobs, report, scope)
    for s, why in plan.declined:
        err.write(f"declined {s.file}:{s.line} {s.api}(): {why}\n")
    for c in plan.converted:
        err.write(f"converted {c.site.file}:{c.site.line} {c.site.api}() {c.note}\n")
    if args.check:
        for c in plan.converted:
            out.write(f"{c.site.file}:{c.site.line}:{c.site.column}: {c.site.api}() can be converted to {c.new_api}()\n")
        return 1 if plan.converted else 0
    sources = {rel: ctx.file(rel).src for rel in {e.file for e in plan.edits}}
    if split is None:
        out.write(unified_diff(sources, plan.edits))
        return 0
    for p in series(plan, sources, _author(args), signoff=args.signoff):
        try:
            (split / p.name).write_text(p.text)
        except OSError as e:
            raise UsageError(f"cannot write {split / p.name}: {e.strerror}") from None
        out.write(f"{split / p.name}\n")
    return 0


__all__ = ["Conversion", "Edit", "FixRules", "Plan", "Planner", "apply_edits", "cmd_fix", "expr_key", "expr_root",
           "fix_rules", "make_plan", "path_matches", "strip_expr", "unified_diff"]
