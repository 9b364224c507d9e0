"""`--format concise`: one finding per line, `file:line:col: rule-id message` (for editors and make)."""

from __future__ import annotations

from typing import TextIO

from audit.model import Report
from audit.report.interface import Context, findings
from audit.rules import render


class ConciseReporter:
    """One line per finding."""

    def write(self, report: Report, ctx: Context, out: TextIO) -> None:
        """Write the lines."""
        for s in findings(report):
            rule = ctx.rules[s.rule] if s.rule else None
            msg = render(rule.message, s, ctx.catalogue) if rule else s.status.value
            where = ""
            if s.closure:
                r = s.closure[0]
                where = f" at line {r.line}" if r.file == s.file else f" at {r.file}:{r.line}"
            out.write(f"{s.file}:{s.line}:{s.column}: {s.rule} {msg}{where}\n")
        for c in report.cow.mapcount_only_sites:
            out.write(f"{c.file}:{c.line}:1: cow-mapcount-reuse {c.function}() reuses a page on {c.idiom} alone\n")
