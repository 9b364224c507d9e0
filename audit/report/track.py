"""The pretty view of an `audit track` document: a status table per tree, the conversion chart and
the changes between consecutive trees, rendered with rich to text (never printed here: the CLI
writes it). The SVG and HTML views are `audit.trackchart`.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from audit import trackchart
from audit.model import Status
from audit.track import STATUSES, converted_share

BAR_WIDTH = 30
"""Width in cells of a conversion bar."""
LIST_LIMIT = 20
"""Changed sites listed per tree pair in the pretty view (JSON lists all)."""


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


def pretty_text(doc: dict[str, Any], width: int | None, color: bool) -> str:
    """The pretty view as text: `width` columns (the terminal's when None), with colour or not."""
    buf = io.StringIO()
    con = Console(file=buf, width=width, color_system="auto" if color else None, no_color=not color,
                  force_terminal=color, highlight=False, emoji=False)
    render_pretty(con, doc)
    return buf.getvalue()
