"""What every reporter gets: the report, the catalogue and rules for messages, and source lines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TextIO

from audit.catalogue import Catalogue
from audit.model import Report, Site
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


def findings(report: Report) -> list[Site]:
    """Sites that carry a finding, most severe rule first, then by position."""
    return [s for s in report.sites if s.rule is not None]


class Reporter(Protocol):
    """A report format."""

    def write(self, report: Report, ctx: Context, out: TextIO) -> None:
        """Render `report` to `out`."""
