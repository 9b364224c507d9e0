"""`--format sarif`: the report as a SARIF 2.1.0 log (OASIS errata01 schema), one run, one result per finding.

Layout of the log:

- `runs[0].tool.driver` names gup-audit and carries every rule of `rules/*.toml` as a
  reportingDescriptor (title, rationale, help, confidence/classification, default level).
- One `result` per site that carries a finding (`Site.rule` is not None, after --select/--ignore/
  --baseline), with the concise message, the callee's position as its location (relative to the
  `SRCROOT` base, i.e. the audited tree), a `relatedLocation` for every release on the closure and
  for every evidence line, and a `partialFingerprints` entry that survives line shifts.
- One result of rule `cow-mapcount-reuse` per COW reuse decision taken on the mapcount alone, when
  that rule exists.
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
from audit.model import CowSite, Release, Report, Site
from audit.report.interface import Context, findings
from audit.rules import Rule, render

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SRCROOT = "SRCROOT"
"""The uriBaseId every location is relative to: the audited tree's root."""
FINGERPRINT = "gupAuditSite/v1"
"""Name of the partial fingerprint (bump the suffix if the key's recipe changes)."""
COW_RULE = "cow-mapcount-reuse"
"""The rule COW mapcount-only reuse sites are reported under."""

_LEVELS = {"error": "error", "warning": "warning", "note": "note"}


def level(severity: str) -> str:
    """SARIF level of a rule severity (`error`, `warning`, `note`; anything else is `warning`)."""
    return _LEVELS.get(severity, "warning")


def fingerprint_key(rule: str | None, file: str, function: str | None, api: str, call_text: str) -> str:
    """The identity of a finding that survives line shifts: rule|file|function|api|call text.

    The call text is whitespace-normalised so that re-indenting or re-wrapping the call keeps the key.
    The same recipe as `audit.cli.site_key`.
    """
    return f"{rule}|{file}|{function}|{api}|{' '.join(call_text.split())}"


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
        for s in findings(report):
            results.append(self.site_result(s, ctx, index, seen))
        if COW_RULE in ctx.rules:
            for c in report.cow.mapcount_only_sites:
                results.append(self.cow_result(c, ctx, index, seen))
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

    def site_result(self, s: Site, ctx: Context, index: dict[str, int], seen: Counter[str]) -> dict[str, Any]:
        """The result of one finding on an acquire site."""
        assert s.rule is not None
        rule = ctx.rules.get(s.rule)
        msg = render(rule.message, s, ctx.catalogue) if rule else s.status.value
        loc: dict[str, Any] = {"physicalLocation": _physical(s.file, s.line, s.column, s.width, _snippet(ctx, s.file, s.line))}
        if s.function:
            loc["logicalLocations"] = [{"name": s.function, "kind": "function"}]
        related: list[dict[str, Any]] = []
        for r in s.closure:
            related.append({
                "id": len(related) + 1,
                "physicalLocation": _physical(r.file, r.line, r.column if r.column else None, r.width),
                "message": {"text": _release_message(r)},
            })
        for e in s.evidence:
            related.append({
                "id": len(related) + 1,
                "physicalLocation": _physical(e.file, e.line),
                "message": {"text": e.message},
            })
        key = fingerprint_key(s.rule, s.file, s.function, s.api, s.call_text or s.api)
        seen[key] += 1
        props: dict[str, Any] = {
            "status": s.status.value,
            "api": s.api,
            "function": s.function,
            "ref_kind": s.ref_kind.value,
            "write": s.write,
            "class": s.klass,
            "reached_from": list(s.reached_from),
            "exposure": list(s.exposure),
        }
        if rule and rule.help:
            props["help"] = render(rule.help, s, ctx.catalogue)
        result: dict[str, Any] = {"ruleId": s.rule}
        if s.rule in index:
            result["ruleIndex"] = index[s.rule]
        result |= {
            "level": level(rule.severity_for(ctx.version)) if rule else "warning",
            "kind": "fail",
            "message": {"text": msg},
            "locations": [loc],
            "partialFingerprints": {FINGERPRINT: f"{_digest(key)}:{seen[key]}"},
            "properties": props,
        }
        if related:
            result["relatedLocations"] = related
        return result

    def cow_result(self, c: CowSite, ctx: Context, index: dict[str, int], seen: Counter[str]) -> dict[str, Any]:
        """The result of one mapcount-only COW reuse decision."""
        rule = ctx.rules[COW_RULE]
        try:
            msg = rule.message.format(file=c.file, line=c.line, function=c.function, idiom=c.idiom)
        except (KeyError, IndexError, ValueError):
            msg = rule.message
        loc: dict[str, Any] = {"physicalLocation": _physical(c.file, c.line, snippet=_snippet(ctx, c.file, c.line))}
        if c.function:
            loc["logicalLocations"] = [{"name": c.function, "kind": "function"}]
        key = fingerprint_key(COW_RULE, c.file, c.function, c.idiom, c.idiom)
        seen[key] += 1
        result: dict[str, Any] = {
            "ruleId": COW_RULE,
            "ruleIndex": index[COW_RULE],
            "level": level(rule.severity_for(ctx.version)),
            "kind": "fail",
            "message": {"text": msg},
            "locations": [loc],
            "partialFingerprints": {FINGERPRINT: f"{_digest(key)}:{seen[key]}"},
            "properties": {"idiom": c.idiom, "function": c.function},
        }
        if rule.help:
            result["properties"]["help"] = rule.help
        return result

    def write(self, report: Report, ctx: Context, out: TextIO) -> None:
        """Write the SARIF log as JSON."""
        json.dump(self.log(report, ctx), out, indent=1)
        out.write("\n")
