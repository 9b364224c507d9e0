"""Command line: argument parsing, reporter choice, exit codes. The only module that prints.

Exit codes (interface.md): 0 ran with no finding (or none new against the baseline), 1 findings,
2 usage or input error (one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import io
import json
import os
import shutil
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import TextIO, assert_never

from audit import __version__, catalogue, review, rules, triage
from audit.catalogue import CatalogueError
from audit.engine import InputError, _lap, audit_tree, find_root
from audit.model import Report
from audit.report.interface import Context
from audit.rules import RuleError
from audit.source import FsSource, Source
from audit.version import tree_version


class Format(str, Enum):
    """Output formats."""

    PRETTY = "pretty"
    CONCISE = "concise"
    JSON = "json"
    SARIF = "sarif"


class UsageError(Exception):
    """Bad arguments (exit 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _scan_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="audit",
        description="Find get_user_pages call sites in a Linux kernel tree, their closures (where the pages "
        "are released) and their exposure to the fork/COW races.",
        epilog="Other commands: audit rules | audit explain RULE-ID | audit track PATH [PATH..] | audit fix PATH",
    )
    p.add_argument("path", nargs="?", default=".", help="kernel source tree, or a folder inside one (default: .)")
    p.add_argument("--format", choices=[f.value for f in Format], help="output format (default: pretty on a terminal, concise otherwise)")
    p.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")
    p.add_argument("--select", metavar="ID[,ID..]", help="report only these rule ids")
    p.add_argument("--ignore", metavar="ID[,ID..]", help="do not report these rule ids")
    p.add_argument("--diff", metavar="REV",
                   help="in a git checkout: only findings in functions changed since REV (review a patch series)")
    p.add_argument("--baseline", metavar="FILE", help="report only findings not in FILE (a previous JSON report)")
    p.add_argument("-v", "--show-evidence", action="store_true",
                   help="pretty: every evidence step, the API table, the COW evidence and the discovered wrappers")
    p.add_argument("--jobs", type=_jobs, default=None, help="worker processes (default: all cores)")
    p.add_argument("--no-cache", action="store_true",
                   help="do not use or update the result cache ($XDG_CACHE_HOME/gup-audit)")
    p.add_argument("--version", action="version", version=f"gup-audit {__version__}")
    return p


def _ids(text: str | None) -> set[str] | None:
    if not text:
        return None
    ids = {x.strip() for x in text.split(",") if x.strip()}
    known = set(rules.rule_by_id())
    bad = sorted(ids - known)
    if bad:
        raise UsageError(f"unknown rule id(s): {', '.join(bad)} (see `audit rules`)")
    return ids


def _baseline(path: str, cat: catalogue.Catalogue) -> Counter[str]:
    try:
        data = json.loads(Path(path).read_text())
        return triage.baseline_keys(data, cat)
    except (OSError, ValueError, triage.BaselineError) as e:
        raise UsageError(f"baseline {path}: {e}") from None


def _jobs(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


def _source_reader(src: Source) -> Callable[[str], list[str]]:
    """Tree-relative path -> the file's lines, for the reporters' snippets (empty when unreadable)."""
    @lru_cache(maxsize=256)
    def read(rel: str) -> list[str]:
        data = src.read(rel)
        return [] if data is None else data.decode("utf-8", "replace").splitlines()

    return read


def _opener(root: str) -> Callable[[str], str]:
    """Tree-relative path -> the path as it opens from the current folder (the tree as given)."""
    def show(rel: str) -> str:
        return os.path.normpath(os.path.join(root, rel))

    return show


def _with_progress(run: Callable[[], Report], label: str) -> Report:
    """Run an audit with a spinner on stderr when stderr is a terminal (stdout stays clean)."""
    if not sys.stderr.isatty():
        return run()
    from rich.console import Console

    from audit import engine

    con = Console(stderr=True)
    with con.status(f"auditing {label}: finding gup call sites …") as status:
        def step(what: str) -> None:
            status.update(f"auditing {label}: {what} …")

        engine.PROGRESS.append(step)
        try:
            return run()
        finally:
            engine.PROGRESS.remove(step)


def cmd_rules(out: TextIO) -> int:
    """`audit rules`."""
    for r in rules.load_rules():
        out.write(f"{r.id:<24} {r.severity:<8} {r.title}\n")
    return 0


def cmd_explain(rule_id: str, out: TextIO) -> int:
    """`audit explain RULE-ID`."""
    r = rules.rule_by_id().get(rule_id)
    if r is None:
        raise UsageError(f"unknown rule id {rule_id!r} (see `audit rules`)")
    out.write(f"{r.id}: {r.title}\n\n")
    out.write(f"severity: {r.severity}   confidence: {r.confidence}   applies: {r.applies or 'all'}\n")
    if r.severity_by_version:
        out.write("severity by version: " + ", ".join(f"{v} -> {s}" for v, s in r.severity_by_version) + "\n")
    out.write(f"\n{r.rationale}\n\nlimitations:\n")
    for lim in r.limitations:
        out.write(f"  - {lim}\n")
    out.write("\nreferences:\n")
    for ref in r.references:
        out.write(f"  - {ref}\n")
    return 0


def cmd_scan(argv: Sequence[str], stdout: TextIO) -> int:
    """`audit PATH ...`: scan and report."""
    args = _scan_parser().parse_args(list(argv))
    select, ignore = _ids(args.select), _ids(args.ignore)
    root, scope = find_root(Path(args.path))
    shown = args.path if not scope else str(root)
    src = FsSource(str(root), shown)
    version = tree_version(src)
    cat = catalogue.load(version)
    baseline = _baseline(args.baseline, cat) if args.baseline else None
    change = review.changed(root, args.diff) if args.diff else None
    report = _with_progress(lambda: audit_tree(src, shown_root=shown, workers=args.jobs,
                                               use_cache=not args.no_cache), args.path)
    report = triage.scoped(report, scope)
    report = triage.apply(report, triage.Filters(
        frozenset(select) if select is not None else None, frozenset(ignore) if ignore is not None else None,
        baseline, change))
    to_file = args.output is not None
    fmt = Format(args.format) if args.format else (Format.PRETTY if (stdout.isatty() and not to_file) else Format.CONCISE)
    tty = not to_file and stdout.isatty()
    color = fmt is Format.PRETTY and "NO_COLOR" not in os.environ and (tty or bool(os.environ.get("FORCE_COLOR")))
    ctx = Context(cat, rules.rule_by_id(), version, _source_reader(src), color, _opener(shown))
    buf = io.StringIO()
    if fmt is Format.PRETTY:
        from audit.report.pretty import PrettyReporter

        width = shutil.get_terminal_size((120, 24)).columns if tty else None
        PrettyReporter(width=width, verbose=args.show_evidence).write(report, ctx, buf)
    elif fmt is Format.CONCISE:
        from audit.report.concise import ConciseReporter

        ConciseReporter().write(report, ctx, buf)
    elif fmt is Format.JSON:
        from audit.report.json import JsonReporter

        JsonReporter().write(report, ctx, buf)
    elif fmt is Format.SARIF:
        from audit.report.sarif import SarifReporter

        SarifReporter().write(report, ctx, buf)
    else:
        assert_never(fmt)
    if to_file:
        try:
            Path(args.output).write_text(buf.getvalue())
        except OSError as e:
            raise UsageError(f"cannot write {args.output}: {e.strerror}") from None
    else:
        stdout.write(buf.getvalue())
    _lap("report written")
    return triage.exit_code(report)


def main(argv: Sequence[str] | None = None) -> int:
    """Run `audit` and return the process exit status."""
    # NOTE: a run allocates many small, long-lived fact objects and ends soon after: the cyclic
    # garbage collector would only walk them over and over (and, after fork, copy their pages).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _main(argv)
    finally:
        if was_enabled:
            gc.enable()


def _main(argv: Sequence[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    out = sys.stdout
    try:
        if args[:1] == ["rules"]:
            return cmd_rules(out)
        if args[:1] == ["explain"]:
            if len(args) != 2:
                raise UsageError("usage: audit explain RULE-ID")
            return cmd_explain(args[1], out)
        if args[:1] in (["track"], ["fix"]):
            try:
                mod = importlib.import_module(f"audit.{args[0]}")
            except ModuleNotFoundError:
                raise UsageError(f"`audit {args[0]}` is not available in this version") from None
            return int(getattr(mod, f"cmd_{args[0]}")(args[1:], out))
        return cmd_scan(args, out)
    except (UsageError, InputError, RuleError, CatalogueError, review.ReviewError) as e:
        sys.stderr.write(f"audit: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("audit: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0


__all__ = ["main"]
