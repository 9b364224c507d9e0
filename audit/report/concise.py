"""`--format concise`: one finding per line in the compiler's shape,
`file:line:col: severity: message [rule-id]`, the path as it opens from the current folder."""

from __future__ import annotations

from typing import TextIO

from audit.model import Report
from audit.report.interface import Context, ordered


class ConciseReporter:
    """One line per finding, errors first."""

    def write(self, report: Report, ctx: Context, out: TextIO) -> None:
        """Write the lines."""
        for f, _ in ordered(report):
            out.write(f"{ctx.show(f.file)}:{f.line}:{f.column}: {f.severity.value}: {f.message} [{f.rule}]\n")
