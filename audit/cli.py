"""Command line: argument parsing, reporter choice, exit codes. The only module that prints.

It owns every command (`audit PATH`, `rules`, `explain`, `track`, `fix`): their arguments, the
files they write and what goes to stdout and stderr. The modules below return values.

Exit codes (interface.md): 0 ran with no finding (or none new against the baseline), 1 findings,
2 usage or input error (one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import shutil
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, assert_never

from audit import __version__, catalogue, rules
from audit.engine import InputError, _lap, audit_tree, find_root
from audit.model import Report
from audit.rules import RuleError
from audit.source import FsSource, Source
from audit.tables import CatalogueError
from audit.version import tree_version

if TYPE_CHECKING:
    from audit.review import Change

# NOTE: triage, review and the reporters are imported where they are used: the sooner a run
# reaches the engine, the sooner grep starts reading the tree.


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
    import json

    from audit import triage

    try:
        data = json.loads(Path(path).read_text())
        return triage.baseline_keys(data, cat)
    except (OSError, ValueError, triage.BaselineError) as e:
        raise UsageError(f"baseline {path}: {e}") from None


def _changed(root: Path, rev: str) -> Change:
    from audit import review

    return review.changed(root, rev)


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
    change = _changed(root, args.diff) if args.diff else None
    report = _with_progress(lambda: audit_tree(src, shown_root=shown, workers=args.jobs,
                                               use_cache=not args.no_cache), args.path)
    from audit import triage
    from audit.report.interface import Context

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


# -------------------------------------------------------------------------------------- track


def _track_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="audit track", description="Conversion progress across several kernel trees, sorted oldest "
                "first by kernel version whatever the order given.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="kernel source trees (with --git: revisions), in any order")
    p.add_argument("--git", metavar="REPO", help="read the revisions given as PATHs from this git repository's "
                   "object store (no checkout)")
    p.add_argument("--no-cache", action="store_true", help="do not use or update the result cache")
    p.add_argument("--format", choices=["pretty", "json"], default="pretty", help="output format (default: pretty)")
    p.add_argument("-o", "--output", metavar="FILE", help="write the output to FILE instead of stdout")
    p.add_argument("--svg", metavar="FILE", help="also save the conversion chart as SVG")
    p.add_argument("--html", metavar="FILE", help="also save the conversion chart (and its numbers) as HTML")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    return p


def _write(path: str, text: str) -> None:
    """Write a file the user asked for (UsageError when it cannot be written)."""
    try:
        Path(path).write_text(text)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror}") from None


def _git_source(repo: str, rev: str) -> Source:
    """A revision of `repo` (UsageError when it is not a repository or has no such revision)."""
    from audit.source import GitSource, SourceError

    try:
        return GitSource(repo, rev, label=rev)
    except SourceError as e:
        raise UsageError(str(e)) from None


def cmd_track(argv: Sequence[str], out: TextIO) -> int:
    """`audit track PATH [PATH..] [--format pretty|json] [-o FILE] [--svg FILE] [--html FILE] [--jobs N]`."""
    from audit import trackchart
    from audit.report.track import pretty_text
    from audit.track import track

    args = _track_parser().parse_args(list(argv))
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if args.git:
        sources = [_git_source(args.git, rev) for rev in args.paths]
    else:
        sources = [FsSource(p, label=p) for p in args.paths]
    doc = track(sources, args.paths, workers=args.jobs, use_cache=not args.no_cache)
    if args.format == "json":
        import json

        text = json.dumps(doc, indent=1) + "\n"
    else:
        to_tty = args.output is None and out.isatty()
        text = pretty_text(doc, None if to_tty else 120, to_tty and "NO_COLOR" not in os.environ)
    if args.svg:
        _write(args.svg, trackchart.svg(doc["trees"]))
    if args.html:
        _write(args.html, trackchart.html(doc["trees"]))
    if args.output is not None:
        _write(args.output, text)
    else:
        out.write(text)
    return 0


# ---------------------------------------------------------------------------------------- fix


def _fix_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="audit fix", description="Print a unified diff converting raw gup closures to the pin API "
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


def _author(args: argparse.Namespace) -> str:
    """The From: line of the patches."""
    from audit.fix import DEFAULT_AUTHOR

    if args.author:
        return str(args.author)
    name, mail = os.environ.get("GIT_AUTHOR_NAME"), os.environ.get("GIT_AUTHOR_EMAIL")
    return f"{name} <{mail}>" if name and mail else DEFAULT_AUTHOR


def _split_dir(split: str, tree: str | None) -> Path:
    """The --split folder, created; UsageError when it lies inside the audited folder `tree` or
    cannot be made."""
    d = Path(split)
    if tree is not None:
        root, target = os.path.realpath(tree), os.path.realpath(d)
        if target == root or target.startswith(root.rstrip(os.sep) + os.sep):
            raise UsageError(f"--split {split}: inside the audited tree (audit fix never writes there)")
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create {split}: {e.strerror}") from None
    return d


def cmd_fix(argv: Sequence[str], out: TextIO, err: TextIO | None = None) -> int:
    """`audit fix PATH [--git REPO] [--select ID..] [--check] [--split DIR]`: the diff (or the patch names) on
    `out`, converted/declined lines on `err`."""
    from audit.engine import check_source
    from audit.fix import fix
    from audit.fixes.knowledge import fix_rules

    err = sys.stderr if err is None else err
    args = _fix_parser().parse_args(list(argv))
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    select = _ids(args.select)
    fix_rules()  # a malformed [fix] table stops the command before the audit
    if args.git:
        src = _git_source(args.git, args.path)
        check_source(src)
        scope, folder = "", None
    else:
        root, scope = find_root(Path(args.path))
        src, folder = FsSource(str(root), args.path), str(root)
    split = _split_dir(args.split, folder) if args.split else None
    result = fix(src, select, scope, workers=args.jobs, use_cache=not args.no_cache)
    err.write("".join(line + "\n" for line in result.progress()))
    if args.check:
        out.write("".join(line + "\n" for line in result.check()))
        return 1 if result.plan.converted else 0
    if split is None:
        out.write(result.diff())
        return 0
    for p in result.patches(_author(args), signoff=args.signoff):
        _write(str(split / p.name), p.text)
        out.write(f"{split / p.name}\n")
    return 0


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


def _review_error() -> type[Exception]:
    """review.ReviewError (looked up only when an exception reaches the handler)."""
    from audit import review

    return review.ReviewError


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
        if args[:1] == ["track"]:
            return cmd_track(args[1:], out)
        if args[:1] == ["fix"]:
            return cmd_fix(args[1:], out, sys.stderr)
        return cmd_scan(args, out)
    except (UsageError, InputError, RuleError, CatalogueError, _review_error()) as e:
        sys.stderr.write(f"audit: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("audit: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0


__all__ = ["cmd_fix", "cmd_track", "main"]
