"""The picture of `audit track`: the share of page-holding sites converted to the pin API, per tree.

One row for the whole tree, then one per subsystem that holds pages in at least one tree (a subsystem
whose sites all take no pages, or that has none, gets no row); one column per tree, oldest first,
headed by its kernel version (or, where versions repeat or are unknown, by the tree's name). A cell
is a bar — converted in green, the rest of the page-holding sites in red — with `converted/holding`
and the percentage; a tree where the subsystem holds no pages shows a dash, never `0/0`.

Plain SVG 1.1 written here (rich's terminal recording is a screenshot of the whole text view, tens of
thousands of pixels tall); HTML is the same SVG in a page, with the numbers as a table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from audit.model import Status

FONT = 13
"""Font size (px) of the cells."""
CHAR = FONT * 0.6
"""Advance of one character of the monospace font."""
ROW = 21
"""Row height (px)."""
PAD = 12
"""Outer margin (px)."""
BAR = 96
"""Bar width (px) in a cell."""
GREEN, RED, TRACK, INK, MUTED, RULE = "#2e7d32", "#e57373", "#eeeeee", "#1a1a1a", "#8a8a8a", "#d0d0d0"


@dataclass(frozen=True)
class Cell:
    """One subsystem in one tree."""

    converted: int
    """Converted sites."""
    holding: int
    """Sites that hold pages (every status but `no-pages`)."""

    @property
    def share(self) -> float | None:
        """converted / holding; None when nothing holds pages."""
        return None if self.holding == 0 else self.converted / self.holding

    @property
    def counts(self) -> str:
        """`12/30`, or a dash when nothing holds pages."""
        return "–" if self.share is None else f"{self.converted}/{self.holding}"

    @property
    def percent(self) -> str:
        """`40%`, or '' when nothing holds pages."""
        s = self.share
        return "" if s is None else f"{s * 100:.0f}%"

    @property
    def label(self) -> str:
        """`12/30 40%`, or a dash when nothing holds pages."""
        return f"{self.counts} {self.percent}".strip()


def _cell(counts: dict[str, int] | None) -> Cell:
    """The cell of one status-count dict (None: the subsystem is absent)."""
    if not counts:
        return Cell(0, 0)
    holding = sum(n for st, n in counts.items() if st != Status.NO_PAGES.value)
    return Cell(counts.get(Status.CONVERTED.value, 0), holding)


def headings(trees: Sequence[dict[str, Any]]) -> list[str]:
    """A distinct column heading per tree: its kernel version, else (or when versions repeat) its root."""
    versions = [t["kernel_version"] for t in trees]
    out = []
    for t, v in zip(trees, versions):
        out.append(v if v is not None and versions.count(v) == 1 else f"{t['root']}" + (f" ({v})" if v else ""))
    seen: dict[str, int] = {}
    for i, h in enumerate(out):
        seen[h] = seen.get(h, 0) + 1
        if seen[h] > 1:
            out[i] = f"{h} #{seen[h]}"
    return out


def rows(trees: Sequence[dict[str, Any]]) -> list[tuple[str, list[Cell]]]:
    """("all", cells) then (subsystem, cells) for each subsystem holding pages in some tree, by name."""
    out = [("all", [_cell(t["by_status"]) for t in trees])]
    names = sorted({n for t in trees for n in t["by_subsystem"]})
    for name in names:
        cells = [_cell(t["by_subsystem"].get(name)) for t in trees]
        if any(c.holding for c in cells):
            out.append((name, cells))
    return out


@dataclass(frozen=True)
class Layout:
    """Pixel geometry of the chart."""

    label_w: float
    """Width of the subsystem column."""
    count_w: float
    """Width of the longest `converted/holding`."""
    col_w: float
    """Width of one tree column."""
    top: float
    """y of the first row's top."""
    width: int
    """Total width."""
    height: int
    """Total height."""


def layout(heads: list[str], table: list[tuple[str, list[Cell]]]) -> Layout:
    """Sizes from the longest texts: every label fits, nothing is wider than it needs."""
    label_w = max(len(n) for n, _ in table) * CHAR + 2 * PAD
    count_w = max(len(c.counts) for _, cs in table for c in cs) * CHAR
    col_w = max(BAR + 8 + count_w + 5 * CHAR, len(max(heads, key=len)) * CHAR) + 2 * PAD
    top = PAD + 2 * ROW + ROW + 6  # title, legend, column headings
    width = int(PAD + label_w + col_w * len(heads) + PAD)
    height = int(top + ROW * len(table) + PAD + ROW)
    return Layout(label_w, count_w, col_w, top, width, height)


def _text(x: float, y: float, s: str, **attrs: Any) -> str:
    """An SVG <text> element (attributes with `_` for `-`)."""
    a = "".join(f' {k.rstrip("_").replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}"{a}>{escape(s)}</text>'


def _cell_svg(x: float, y: float, c: Cell, count_w: float) -> list[str]:
    """The bar, counts (right-aligned in `count_w`) and percentage of one cell at left edge x, row top y."""
    mid = y + ROW / 2
    if c.share is None:
        return [_text(x, mid + FONT * 0.35, c.label, fill=MUTED)]
    done = BAR * c.share
    out = [f'<rect x="{x:.1f}" y="{y + 4:.1f}" width="{BAR}" height="{ROW - 8}" fill="{RED}"/>']
    if done > 0:
        out.append(f'<rect x="{x:.1f}" y="{y + 4:.1f}" width="{done:.1f}" height="{ROW - 8}" fill="{GREEN}"/>')
    base = mid + FONT * 0.35
    out.append(_text(x + BAR + 8 + count_w, base, c.counts, fill=INK, text_anchor="end"))
    out.append(_text(x + BAR + 8 + count_w + 5 * CHAR, base, c.percent, fill=INK, text_anchor="end"))
    return out


def svg(trees: Sequence[dict[str, Any]]) -> str:
    """The chart of a `gup-audit-track/1` document's trees (already oldest first) as an SVG document."""
    heads = headings(trees)
    table = rows(trees)
    g = layout(heads, table)
    x0 = PAD + g.label_w
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{g.width}" height="{g.height}" '
        f'viewBox="0 0 {g.width} {g.height}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" '
        f'font-size="{FONT}">',
        f'<rect width="{g.width}" height="{g.height}" fill="#ffffff"/>',
        _text(PAD, PAD + FONT, "Conversion to the pin API: converted / sites holding pages", font_weight="bold",
              font_size=FONT + 2, fill=INK),
        f'<rect x="{PAD}" y="{PAD + ROW + 4}" width="12" height="12" fill="{GREEN}"/>',
        _text(PAD + 18, PAD + ROW + 14, "converted (pin + unpin)", fill=INK),
        f'<rect x="{PAD + 36 + 23 * CHAR:.1f}" y="{PAD + ROW + 4}" width="12" height="12" fill="{RED}"/>',
        _text(PAD + 54 + 23 * CHAR, PAD + ROW + 14, "not yet (raw closure, mismatch, no closure found)", fill=INK),
        _text(PAD, g.top - 8, "subsystem", font_weight="bold", fill=INK, class_="heading"),
    ]
    for j, h in enumerate(heads):
        parts.append(_text(x0 + j * g.col_w + PAD, g.top - 8, h, font_weight="bold", fill=INK, class_="heading"))
    parts.append(f'<line x1="{PAD}" y1="{g.top - 1}" x2="{g.width - PAD}" y2="{g.top - 1}" stroke="{INK}"/>')
    for i, (name, cells) in enumerate(table):
        y = g.top + i * ROW
        parts.append(f'<g class="row" data-subsystem="{escape(name)}">')
        if i == 0 or i % 2 == 0:
            shade = "#e8efe8" if i == 0 else "#f6f6f6"
            parts.append(f'<rect x="{PAD}" y="{y:.1f}" width="{g.width - 2 * PAD}" height="{ROW}" fill="{shade}"/>')
        parts.append(_text(PAD + 4, y + ROW / 2 + FONT * 0.35, name, fill=INK,
                           **({"font_weight": "bold"} if i == 0 else {})))
        for j, c in enumerate(cells):
            parts.extend(_cell_svg(x0 + j * g.col_w + PAD, y, c, g.count_w))
        parts.append("</g>")
        if i == 0:
            parts.append(f'<line x1="{PAD}" y1="{y + ROW:.1f}" x2="{g.width - PAD}" y2="{y + ROW:.1f}" stroke="{RULE}"/>')
    parts.append(_text(PAD, g.height - PAD, "– : no site of the subsystem holds pages in that tree; sites taking no "
                       "pages (fault-in only) are not counted", fill=MUTED, font_size=FONT - 2))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def html(trees: Sequence[dict[str, Any]]) -> str:
    """A page with the chart and the same numbers as a table."""
    heads = headings(trees)
    head = "".join(f"<th>{escape(h)}</th>" for h in heads)
    body = "\n".join(
        f"<tr><th>{escape(n)}</th>" + "".join(f"<td>{escape(c.label)}</td>" for c in cells) + "</tr>"
        for n, cells in rows(trees))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<title>gup-audit track</title>\n<style>body{font-family:sans-serif;margin:1.5em}"
        "table{border-collapse:collapse;font-family:monospace}td,th{padding:2px 10px;text-align:right}"
        "th:first-child{text-align:left}tr:nth-child(2){font-weight:bold}</style>\n</head>\n<body>\n"
        "<h1>gup-audit track: conversion to the pin API</h1>\n"
        f"{svg(trees)}"
        "<h2>Numbers</h2>\n"
        f"<table>\n<tr><th>subsystem</th>{head}</tr>\n{body}\n</table>\n</body>\n</html>\n"
    )
