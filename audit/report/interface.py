"""What every reporter gets: the report, the catalogue and rules for messages, and source lines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TextIO

from audit.catalogue import Catalogue
from audit.model import Finding, Report, Site
from audit.rules import Rule
from audit.version import Version


@dataclass(frozen=True)
class Context:
    """Everything a reporter may consult besides the report."""

    catalogue: Catalogue
    """For message templates (pin counterparts)."""
    rules: dict[str, Rule]
    """Rules by id."""
    version: Version | None
    """The tree's version (severity by version)."""
    source: Callable[[str], list[str]]
    """Lines of a file of the tree (read by the CLI, cached)."""
    color: bool = False
    """Colour output (pretty only)."""
    show: Callable[[str], str] = str
    """Tree-relative path -> the path as it opens from the current folder (concise, pretty)."""


def ordered(report: Report) -> list[tuple[Finding, Site | None]]:
    """Every finding with its site (None for COW findings): errors first, then warnings, then
    notes, each by file and line."""
    items: list[tuple[Finding, Site | None]] = [(f, s) for s in report.sites for f in s.findings]
    items += [(f, None) for f in report.cow_findings]
    items.sort(key=lambda x: (x[0].severity.rank, x[0].file, x[0].line))  # stable: a site's own order stays
    return items


class Reporter(Protocol):
    """A report format."""

    def write(self, report: Report, ctx: Context, out: TextIO) -> None:
        """Render `report` to `out`."""
