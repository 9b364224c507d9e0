"""`audit track PATH [PATH..]`: conversion progress across several kernel trees (oldest first).

Each tree is audited on its own (`audit.engine.audit_tree`); the trees are then summarised side by
side: counts by status, by user class and by subsystem, the share of page-holding sites already
converted to the pin API, and the sites that appeared, disappeared or changed between consecutive
trees.

Subsystem of a file (`by_subsystem`): the first two path components when the file lies at least two
directories deep under one of the large umbrella folders `drivers/`, `arch/`, `sound/` or `net/`
(`drivers/infiniband/core/umem.c` -> `drivers/infiniband`, `net/core/datagram.c` -> `net/core`);
otherwise the first component (`fs/nfs/direct.c` -> `fs`, `mm/gup.c` -> `mm`, `drivers/foo.c` ->
`drivers`); `.` for a file at the top of the tree.

Identity of a site across trees (`changes`): file + function + API family + ordinal, never the line.
The API family is the GET-era name of the call (`pin_user_pages_fast` belongs to the
`get_user_pages_fast` family, by the catalogue's `pin_counterpart`), so a converted call is seen as
the same site with a new status; the ordinal numbers the calls of one family inside one function
(1-based, in source order). A file that moved or a function that was renamed shows as one site
disappearing and one appearing.
"""

from __future__ import annotations

import argparse
import io
import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from audit import catalogue, trackchart
from audit.engine import audit_tree
from audit.model import Report, Site, Status
from audit.source import FsSource, Source
from audit.version import parse_version, tree_version

SCHEMA = "gup-audit-track/1"
UMBRELLAS = frozenset({"drivers", "arch", "sound", "net"})
"""Top-level folders whose second component names the subsystem."""
STATUSES = tuple(st.value for st in Status)
"""Every status, in the contract's order (each count is present, zero included)."""
BAR_WIDTH = 30
"""Width in cells of a conversion bar."""
LIST_LIMIT = 20
"""Changed sites listed per tree pair in the pretty view (JSON lists all)."""


def subsystem(file: str) -> str:
    """The subsystem a tree-relative path belongs to (see the module docstring for the rule)."""
    parts = file.split("/")
    if len(parts) == 1:
        return "."
    if parts[0] in UMBRELLAS and len(parts) >= 3:
        return f"{parts[0]}/{parts[1]}"
    return parts[0]


def _status_counts(sites: Iterable[Site]) -> dict[str, int]:
    counts = {st: 0 for st in STATUSES}
    for s in sites:
        counts[s.status.value] += 1
    return counts


def converted_share(by_status: dict[str, int]) -> float | None:
    """Converted sites over sites that hold pages (every status but `no-pages`); None when there are none."""
    holding = sum(n for st, n in by_status.items() if st != Status.NO_PAGES.value)
    if holding == 0:
        return None
    return round(by_status.get(Status.CONVERTED.value, 0) / holding, 4)


def tree_summary(report: Report) -> dict[str, Any]:
    """One entry of `trees`: the contract's keys plus `sites` and `converted_share`."""
    by_sub: dict[str, list[Site]] = {}
    for s in report.sites:
        by_sub.setdefault(subsystem(s.file), []).append(s)
    by_status = _status_counts(report.sites)
    return {
        "root": report.tree.root,
        "kernel_version": report.tree.kernel_version,
        "sites": len(report.sites),
        "by_status": by_status,
        "by_class": dict(sorted(Counter(s.klass for s in report.sites).items())),
        "by_subsystem": {k: _status_counts(v) for k, v in sorted(by_sub.items())},
        "converted_share": converted_share(by_status),
    }


@dataclass(frozen=True)
class _Keyed:
    """A site with its cross-tree identity."""

    file: str
    function: str | None
    family: str
    ordinal: int
    site: Site

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.file, self.function or "", self.family, self.ordinal)


def families(roots: Sequence[Source]) -> dict[str, str]:
    """Pin API name -> the GET API it converts (from the catalogue of every tree's version)."""
    out: dict[str, str] = {}
    versions = {tree_version(r) for r in roots}
    for v in sorted(versions, key=lambda x: x or (0, 0, 0)):
        cat = catalogue.load(v)
        for name in sorted(cat.acquire):
            pin = cat.acquire[name].pin_counterpart
            if pin and pin != name:
                out.setdefault(pin, name)
    return out


def keyed(report: Report, family_of: dict[str, str]) -> dict[tuple[str, str, str, int], _Keyed]:
    """The report's sites by cross-tree identity (file, function, API family, ordinal)."""
    seen: Counter[tuple[str, str, str]] = Counter()
    out: dict[tuple[str, str, str, int], _Keyed] = {}
    for s in sorted(report.sites, key=lambda x: (x.file, x.line, x.column)):
        fam = family_of.get(s.api, s.api)
        base = (s.file, s.function or "", fam)
        seen[base] += 1
        k = _Keyed(s.file, s.function, fam, seen[base], s)
        out[k.key] = k
    return out


def _ident(k: _Keyed) -> dict[str, Any]:
    return {"file": k.file, "function": k.function, "family": k.family, "ordinal": k.ordinal}


def changes(old: Report, new: Report, family_of: dict[str, str]) -> dict[str, Any]:
    """Sites that appeared, disappeared or changed status/API between two trees."""
    a, b = keyed(old, family_of), keyed(new, family_of)
    appeared = [_ident(b[k]) | {"api": b[k].site.api, "line": b[k].site.line, "status": b[k].site.status.value}
                for k in sorted(b.keys() - a.keys())]
    disappeared = [_ident(a[k]) | {"api": a[k].site.api, "line": a[k].site.line, "status": a[k].site.status.value}
                   for k in sorted(a.keys() - b.keys())]
    changed = []
    for k in sorted(a.keys() & b.keys()):
        x, y = a[k].site, b[k].site
        if x.status != y.status or x.api != y.api:
            changed.append(_ident(b[k]) | {
                "line": y.line,
                "from": {"api": x.api, "status": x.status.value},
                "to": {"api": y.api, "status": y.status.value},
            })
    return {
        "from": old.tree.root,
        "to": new.tree.root,
        "appeared": appeared,
        "disappeared": disappeared,
        "changed": changed,
    }


def track_dict(reports: Sequence[Report], roots: Sequence[Source]) -> dict[str, Any]:
    """The `gup-audit-track/1` document for reports of trees given oldest first."""
    family_of = families(roots)
    return {
        "schema": SCHEMA,
        "trees": [tree_summary(r) for r in reports],
        "changes": [changes(reports[i], reports[i + 1], family_of) for i in range(len(reports) - 1)],
    }


def oldest_first(reports: Sequence[Report]) -> list[int]:
    """Indexes of `reports` by kernel version, oldest first; trees without a version last; ties keep
    the order given."""
    def key(i: int) -> tuple[bool, tuple[int, int, int], int]:
        v = reports[i].tree.kernel_version
        return (v is None, parse_version(v) if v else (0, 0, 0), i)

    return sorted(range(len(reports)), key=key)


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.0f}%"


def _label(tree: dict[str, Any]) -> str:
    v = tree["kernel_version"]
    return f"{tree['root']} ({v})" if v else str(tree["root"])


def tree_table(tree: dict[str, Any]) -> Table:
    """Status counts by subsystem for one tree."""
    t = Table(title=_label(tree), title_justify="left", title_style="bold")
    t.add_column("subsystem")
    for st in STATUSES:
        t.add_column(st, justify="right")
    t.add_column("total", justify="right")
    t.add_column("share", justify="right")
    for name, counts in tree["by_subsystem"].items():
        t.add_row(name, *(str(counts[st]) for st in STATUSES), str(sum(counts.values())), _pct(converted_share(counts)))
    t.add_section()
    t.add_row(Text("all", style="bold"), *(str(tree["by_status"][st]) for st in STATUSES), str(tree["sites"]),
              _pct(tree["converted_share"]), style="bold")
    return t


def _bar(share: float | None) -> Text:
    if share is None:
        return Text(" " * BAR_WIDTH)
    full = round(share * BAR_WIDTH)
    return Text.assemble(("█" * full, "green"), ("░" * (BAR_WIDTH - full), "red"))


def conversion_chart(trees: Sequence[dict[str, Any]]) -> Table:
    """One bar per tree for the whole tree, then for each subsystem holding pages in some tree: the
    share of page-holding sites converted to the pin API (a dash where the subsystem holds none)."""
    t = Table(box=None, show_header=False, pad_edge=False)
    t.add_column("subsystem")
    t.add_column("tree")
    t.add_column("bar", no_wrap=True)
    t.add_column("share", justify="right")
    t.add_column("counts", justify="right")
    heads = trackchart.headings(trees)
    table = trackchart.rows(trees)
    for i, (name, cells) in enumerate(table):
        for j, c in enumerate(cells):
            first = name if j == 0 else ""
            if c.share is None:
                t.add_row(first, heads[j], Text(" " * BAR_WIDTH), "-", "-")
            else:
                t.add_row(Text(first, style="bold") if i == 0 else first, heads[j], _bar(c.share), _pct(c.share),
                          f"{c.converted}/{c.holding}")
        if i != len(table) - 1:
            t.add_row("", "", "", "", "")
    return t


def _site_line(item: dict[str, Any]) -> str:
    fn = f"{item['function']}()" if item["function"] else "<file scope>"
    return f"{item['file']}:{item['line']} in {fn}"


def render_pretty(con: Console, doc: dict[str, Any]) -> None:
    """The pretty view: a table per tree, the conversion chart, and the changes."""
    for tree in doc["trees"]:
        con.print(tree_table(tree))
        con.print()
    con.print(Text("Conversion to the pin API by subsystem (converted / sites holding pages)", style="bold"))
    con.print(conversion_chart(doc["trees"]))
    for ch in doc["changes"]:
        con.print()
        newly = sum(1 for c in ch["changed"] if c["to"]["status"] == Status.CONVERTED.value)
        con.print(Text(f"{ch['from']} -> {ch['to']}: {len(ch['appeared'])} appeared, {len(ch['disappeared'])} "
                       f"disappeared, {len(ch['changed'])} changed ({newly} newly converted)", style="bold"),
                  no_wrap=True, overflow="ignore", crop=False)
        rows: list[Text] = []
        for c in ch["changed"]:
            rows.append(Text(f"  ~ {_site_line(c)}: {c['from']['api']} {c['from']['status']} -> "
                             f"{c['to']['api']} {c['to']['status']}"))
        for c in ch["appeared"]:
            rows.append(Text(f"  + {_site_line(c)}: {c['api']} {c['status']}", style="green"))
        for c in ch["disappeared"]:
            rows.append(Text(f"  - {_site_line(c)}: {c['api']} {c['status']}", style="red"))
        for r in rows[:LIST_LIMIT]:
            con.print(r, no_wrap=True, overflow="ignore", crop=False)
        if len(rows) > LIST_LIMIT:
            con.print(Text(f"  … {len(rows) - LIST_LIMIT} more (see --format json)"))


def _parser() -> argparse.ArgumentParser:
    from audit.cli import UsageError

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> None:  # type: ignore[override]
            raise UsageError(message)

    p = Parser(prog="audit track", description="Conversion progress across several kernel trees, sorted oldest "
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
    from audit.cli import UsageError

    try:
        Path(path).write_text(text)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror}") from None


def cmd_track(argv: list[str], out: TextIO) -> int:
    """`audit track PATH [PATH..] [--format pretty|json] [-o FILE] [--svg FILE] [--html FILE] [--jobs N]`."""
    from audit.cli import UsageError

    args = _parser().parse_args(list(argv))
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    roots: list[Source]
    if args.git:
        from audit.source import GitSource, SourceError

        try:
            roots = [GitSource(args.git, rev, label=rev) for rev in args.paths]
        except SourceError as e:
            raise UsageError(str(e)) from None
    else:
        roots = [FsSource(p, label=p) for p in args.paths]
    reports = [audit_tree(root, shown_root=p, workers=args.jobs, use_cache=not args.no_cache)
               for root, p in zip(roots, args.paths)]
    order = oldest_first(reports)
    doc = track_dict([reports[i] for i in order], [roots[i] for i in order])
    buf = io.StringIO()
    if args.format == "json":
        json.dump(doc, buf, indent=1)
        buf.write("\n")
    else:
        to_tty = args.output is None and out.isatty()
        color = to_tty and "NO_COLOR" not in os.environ
        con = Console(file=buf, width=None if to_tty else 120, color_system="auto" if color else None,
                      no_color=not color, force_terminal=color, highlight=False, emoji=False)
        render_pretty(con, doc)
    if args.svg:
        _write(args.svg, trackchart.svg(doc["trees"]))
    if args.html:
        _write(args.html, trackchart.html(doc["trees"]))
    if args.output is not None:
        _write(args.output, buf.getvalue())
    else:
        out.write(buf.getvalue())
    return 0
