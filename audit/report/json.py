"""The `gup-audit/1` JSON report (interface.md), and the dict form other formats reuse."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, TextIO

from audit import __version__
from audit.model import CowProfile, Finding, Report, Site, Status
from audit.report.interface import Context

SCHEMA = "gup-audit/1"


def site_dict(s: Site) -> dict[str, Any]:
    """One `Site` object of the contract."""
    return {
        "file": s.file,
        "line": s.line,
        "column": s.column,
        "function": s.function,
        "api": s.api,
        "ref_kind": s.ref_kind.value,
        "pages_arg": s.pages_arg,
        "write": s.write,
        "status": s.status.value,
        "closure": [{"file": r.file, "line": r.line, "function": r.function, "api": r.api} for r in s.closure],
        "evidence": [{"file": e.file, "line": e.line, "message": e.message} for e in s.evidence],
        "class": s.klass,
        "reached_from": list(s.reached_from),
        "exposure": list(s.exposure),
        "rule": s.rule,
        "findings": [finding_dict(f) for f in s.findings],
    }


def finding_dict(f: Finding) -> dict[str, Any]:
    """One `findings` entry (interface.md), with its stable `key`, column and help added."""
    return {
        "rule": f.rule,
        "severity": f.severity.value,
        "message": f.message,
        "file": f.file,
        "line": f.line,
        "column": f.column,
        "path": [{"file": e.file, "line": e.line, "message": e.message} for e in f.path],
        "confidence": f.confidence,
        "help": f.help,
        "key": f.key,
    }


def cow_dict(c: CowProfile) -> dict[str, Any]:
    """The `Cow` object of the contract."""
    return {
        "reuse_check": c.reuse_check,
        "mapcount_only_sites": [
            {"file": x.file, "line": x.line, "function": x.function, "idiom": x.idiom} for x in c.mapcount_only_sites
        ],
        "fork_copies_pinned": c.fork_copies_pinned,
        "gup_unshares": c.gup_unshares,
        "evidence": [{"file": e.file, "line": e.line, "message": e.message} for e in c.evidence],
    }


def summary(report: Report) -> dict[str, Any]:
    """Counts by status (every status, zero included), by class and by API."""
    by_status = {st.value: 0 for st in Status}
    for s in report.sites:
        by_status[s.status.value] += 1
    found = report.findings()
    return {
        "sites": len(report.sites),
        "by_status": by_status,
        "by_rule": dict(sorted(Counter(f.rule for f in found).items())),
        "by_severity": {sev: sum(1 for f in found if f.severity.value == sev) for sev in ("error", "warning", "note")},
        "by_class": dict(sorted(Counter(s.klass for s in report.sites).items())),
        "by_api": dict(sorted(Counter(s.api for s in report.sites).items())),
    }


def report_dict(report: Report) -> dict[str, Any]:
    """The whole report as the contract's JSON object."""
    t = report.tree
    return {
        "schema": SCHEMA,
        "tool": {"name": "gup-audit", "version": __version__},
        "tree": {
            "root": t.root,
            "kernel_version": t.kernel_version,
            "files_scanned": t.files_scanned,
            "files_parsed": t.files_parsed,
            "scope": t.scope,
            "parse_problems": [{"file": p.file, "line": p.line, "message": p.message} for p in t.parse_problems],
        },
        "sites": [site_dict(s) for s in report.sites],
        "cow": cow_dict(report.cow),
        "cow_findings": [finding_dict(f) for f in report.cow_findings],
        "summary": summary(report),
        "wrappers": [
            {"name": w.name, "file": w.file, "line": w.line, "kind": w.kind, "api": w.api,
             "callers": [{"file": f, "line": ln, "function": fn} for f, ln, fn in w.callers]}
            for w in report.wrappers
        ],
    }


class JsonReporter:
    """`--format json`."""

    def write(self, report: Report, ctx: Context, out: TextIO) -> None:
        """Write the JSON document."""
        # One string, one write (json.dump writes each of its tens of thousands of pieces).
        out.write(json.dumps(report_dict(report), indent=1) + "\n")
