"""`--format sarif`: the report as a SARIF 2.1.0 log (OASIS errata01 schema), one run, one result per finding.

Layout of the log:

- `runs[0].tool.driver` names gup-audit and carries every rule of `rules/*.toml` as a
  reportingDescriptor (title, rationale, help, confidence/classification, default level).
- One `result` per Finding left after --select/--ignore/--baseline (site findings and the COW
  profile's `cow-mapcount-reuse` findings alike), with its message, its faulty line as its location
  (relative to the `SRCROOT` base, i.e. the audited tree), a `relatedLocation` for the call, every
  release on the closure and every step of the finding's path (or the site's evidence), and a
  `partialFingerprints` entry from `Finding.key` that survives line shifts and API renames.
- Unreadable/unparseable files become tool execution notifications of the run's invocation.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from audit import __version__
from audit.model import Finding, Release, Report, Site
from audit.report.interface import Context, ordered
from audit.rules import Rule

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SRCROOT = "SRCROOT"
"""The uriBaseId every location is relative to: the audited tree's root."""
FINGERPRINT = "gupAuditFinding/v2"
"""Name of the partial fingerprint (bump the suffix if the key's recipe changes)."""

_LEVELS = {"error": "error", "warning": "warning", "note": "note"}


def level(severity: str) -> str:
    """SARIF level of a rule severity (`error`, `warning`, `note`; anything else is `warning`)."""
    return _LEVELS.get(severity, "warning")


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def _camel(rule_id: str) -> str:
    """`gup-raw-put-page` -> `GupRawPutPage` (SARIF's reportingDescriptor.name convention)."""
    return "".join(part[:1].upper() + part[1:] for part in rule_id.replace("_", "-").split("-") if part)


_GENERIC = {
    "api": "the acquire API",
    "release": "the release",
    "pin_api": "its pin counterpart",
    "pin_release": "the pin-aware release (unpin_user_pages*())",
    "file": "the file",
    "line": "the line",
    "function": "the function",
    "idiom": "its reuse test",
}


def _generic(template: str) -> str:
    """A message/help template with its `{placeholder}()` fields spelled out, for rule-level text."""
    return re.sub(r"\{(\w+)\}(?:\(\))?", lambda m: _GENERIC.get(m.group(1), m.group(0)), template)


def _paragraphs(text: str) -> str:
    """Unwrap hard-wrapped lines, keeping blank-line paragraph breaks."""
    paras = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]
    return "\n\n".join(p for p in paras if p)


def rule_descriptor(rule: Rule) -> dict[str, Any]:
    """The reportingDescriptor of one rule."""
    help_lines = []
    if rule.help:
        text = _generic(rule.help)
        help_lines.append(text[:1].upper() + text[1:] + ".")
    if rule.limitations:
        help_lines.append("Limitations:\n" + "\n".join(f"- {x}" for x in rule.limitations))
    if rule.references:
        help_lines.append("References:\n" + "\n".join(f"- {x}" for x in rule.references))
    help_text = "\n\n".join(help_lines) if help_lines else rule.title
    props: dict[str, Any] = {
        "confidence": rule.confidence,
        "precision": rule.confidence if rule.confidence in ("very-high", "high", "medium", "low") else "medium",
        "classification": rule.classification,
        "tags": sorted({t for t in ("gup", rule.classification, rule.kind) if t}),
        "kind": rule.kind,
    }
    if rule.applies:
        props["applies"] = rule.applies
    if rule.severity_by_version:
        props["severity_by_version"] = [{"versions": v, "severity": s} for v, s in rule.severity_by_version]
    return {
        "id": rule.id,
        "name": _camel(rule.id),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": _paragraphs(rule.rationale)},
        "help": {"text": help_text},
        "defaultConfiguration": {"level": level(rule.severity)},
        "properties": props,
    }


def _physical(file: str, line: int, column: int | None = None, width: int = 0, snippet: str | None = None) -> dict[str, Any]:
    region: dict[str, Any] = {"startLine": max(1, line)}
    if column is not None and column >= 1:
        region["startColumn"] = column
        if width > 0:
            region["endColumn"] = column + width
    if snippet is not None:
        region["snippet"] = {"text": snippet}
    return {"artifactLocation": {"uri": file, "uriBaseId": SRCROOT}, "region": region}


def _release_message(r: Release) -> str:
    where = f" in {r.function}()" if r.function else " at file scope"
    return f"release: {r.api}(){where}"


def _snippet(ctx: Context, file: str, line: int) -> str | None:
    lines = ctx.source(file)
    if 1 <= line <= len(lines):
        return lines[line - 1]
    return None


class SarifReporter:
    """SARIF 2.1.0 output."""

    def log(self, report: Report, ctx: Context) -> dict[str, Any]:
        """The whole SARIF log as a dict."""
        rules = sorted(ctx.rules.values(), key=lambda r: r.id)
        index = {r.id: i for i, r in enumerate(rules)}
        results: list[dict[str, Any]] = []
        seen: Counter[str] = Counter()
        for f, s in ordered(report):
            results.append(self.result(f, s, ctx, index, seen))
        run: dict[str, Any] = {
            "tool": {
                "driver": {
                    "name": "gup-audit",
                    "version": __version__,
                    "semanticVersion": __version__,
                    "rules": [rule_descriptor(r) for r in rules],
                }
            },
            "invocations": [self.invocation(report)],
            "originalUriBaseIds": {
                SRCROOT: {
                    "uri": Path(report.tree.root).resolve().as_uri().rstrip("/") + "/",
                    "description": {"text": f"The audited kernel tree ({report.tree.root})"},
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
            "properties": {
                "tree": {
                    "root": report.tree.root,
                    "kernel_version": report.tree.kernel_version,
                    "files_scanned": report.tree.files_scanned,
                    "files_parsed": report.tree.files_parsed,
                },
                "cow": {
                    "reuse_check": report.cow.reuse_check,
                    "fork_copies_pinned": report.cow.fork_copies_pinned,
                    "gup_unshares": report.cow.gup_unshares,
                },
            },
        }
        return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}

    def invocation(self, report: Report) -> dict[str, Any]:
        """The run's invocation, with parse problems as warning notifications."""
        notes = [
            {
                "level": "warning",
                "message": {"text": p.message},
                "locations": [{"physicalLocation": _physical(p.file, p.line)}],
                "descriptor": {"id": "parse-problem"},
            }
            for p in report.tree.parse_problems
        ]
        inv: dict[str, Any] = {"executionSuccessful": True}
        if notes:
            inv["toolExecutionNotifications"] = notes
        return inv

    def result(self, f: Finding, s: Site | None, ctx: Context, index: dict[str, int], seen: Counter[str]) -> dict[str, Any]:
        """The result of one finding: its faulty line as the location; the call, the closure and the
        path as related locations."""
        width = s.width if s is not None and (f.file, f.line) == (s.file, s.line) else 0
        loc: dict[str, Any] = {"physicalLocation": _physical(f.file, f.line, f.column, width, _snippet(ctx, f.file, f.line))}
        if f.function:
            loc["logicalLocations"] = [{"name": f.function, "kind": "function"}]
        related: list[dict[str, Any]] = []

        def add(file: str, line: int, text: str, column: int | None = None, w: int = 0) -> None:
            related.append({"id": len(related) + 1, "physicalLocation": _physical(file, line, column, w),
                            "message": {"text": text}})

        props: dict[str, Any] = {"function": f.function, "confidence": f.confidence}
        if s is not None:
            if (f.file, f.line) != (s.file, s.line):
                add(s.file, s.line, f"acquire: {s.api}()", s.column, s.width)
            for r in s.closure:
                add(r.file, r.line, _release_message(r), r.column if r.column else None, r.width)
            for e in f.path or s.evidence:
                add(e.file, e.line, e.message)
            props |= {"status": s.status.value, "api": s.api, "ref_kind": s.ref_kind.value, "write": s.write,
                      "class": s.klass, "reached_from": list(s.reached_from), "exposure": list(s.exposure)}
        if f.help:
            props["help"] = f.help
        seen[f.key] += 1
        result: dict[str, Any] = {"ruleId": f.rule}
        if f.rule in index:
            result["ruleIndex"] = index[f.rule]
        result |= {
            "level": level(f.severity.value),
            "kind": "fail",
            "message": {"text": f.message},
            "locations": [loc],
            "partialFingerprints": {FINGERPRINT: f"{_digest(f.key)}:{seen[f.key]}"},
            "properties": props,
        }
        if related:
            result["relatedLocations"] = related
        return result

    def write(self, report: Report, ctx: Context, out: TextIO) -> None:
        """Write the SARIF log as JSON."""
        json.dump(self.log(report, ctx), out, indent=1)
        out.write("\n")
