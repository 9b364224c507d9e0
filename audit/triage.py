"""What a run reports: `--select`/`--ignore`, `--baseline`, the folder scope and the exit code.

Pure functions over a Report's Findings, keyed on `Finding.key` (rule|file|function|API family), so
that a baseline made on one kernel version carries to the next across line shifts and API renames.
Filters remove findings only; the sites, their statuses and the COW profile stay as analysed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from audit.catalogue import Catalogue
from audit.findings import COW_RULE, finding_key, with_findings
from audit.model import Finding, Report, Site
from audit.review import Change


@dataclass(frozen=True)
class Filters:
    """What the user asked to see."""

    select: frozenset[str] | None = None
    """Only these rule ids (None = all)."""
    ignore: frozenset[str] | None = None
    """Never these rule ids."""
    baseline: Counter[str] | None = None
    """Finding keys accepted earlier, with how many findings of each key."""
    change: Change | None = None
    """`--diff REV`: only findings whose acquire, release or faulty line lies in a changed function."""


class BaselineError(Exception):
    """The baseline file is not a gup-audit/1 report (exit 2)."""


def baseline_keys(data: Any, cat: Catalogue) -> Counter[str]:
    """The finding keys of a previous JSON report (its `findings` entries; for reports made before
    findings had keys, the site's rule with its file, function and API family)."""
    if not isinstance(data, dict) or data.get("schema") != "gup-audit/1":
        raise BaselineError("not a gup-audit/1 JSON report")
    keys: Counter[str] = Counter()
    for s in data.get("sites", []):
        if not isinstance(s, dict):
            continue
        entries = s.get("findings")
        if entries is None:
            entries = [{"rule": s["rule"]}] if s.get("rule") else []
        for f in entries:
            key = f.get("key") or finding_key(str(f.get("rule")), str(s.get("file")), s.get("function"),
                                             cat.family(str(s.get("api"))))
            keys[key] += 1
    cow = data.get("cow", {})
    for c in cow.get("mapcount_only_sites", []) if isinstance(cow, dict) else []:
        keys[finding_key(COW_RULE, str(c.get("file")), c.get("function"), "")] += 1
    return keys


def apply(report: Report, filters: Filters) -> Report:
    """Drop findings of unselected or ignored rules, and the ones the baseline already has.

    Each baseline entry hides one finding of its key, in file order, so a second such finding added
    to a baselined function is still new.
    """
    budget = Counter(filters.baseline or {})
    keep: set[int] = set()
    site_of = {id(f): s for s in report.sites for f in s.findings}
    for f in sorted(report.findings(), key=lambda f: (f.file, f.line, f.rule)):
        if filters.change is not None and not _in_change(f, site_of.get(id(f)), filters.change):
            continue
        if filters.select is not None and f.rule not in filters.select:
            continue
        if filters.ignore is not None and f.rule in filters.ignore:
            continue
        if budget[f.key] > 0:
            budget[f.key] -= 1
            continue
        keep.add(id(f))
    return with_findings(report, keep)


def _in_change(f: Finding, s: Site | None, change: Change) -> bool:
    """Whether a finding's acquire, one of its releases or its faulty line is in the change."""
    if change.touches(f.file, f.function if s is None else None, f.line):
        return True
    if s is None:
        return False
    return change.touches(s.file, s.function, s.line) or any(
        change.touches(r.file, r.function, r.line) for r in s.closure) or any(
        change.touches(e.file, None, e.line) for e in f.path)


def in_scope(file: str, scope: str) -> bool:
    """Whether a tree-relative path lies under the folder `scope` ('' = the whole tree)."""
    return not scope or file == scope or file.startswith(scope.rstrip("/") + "/")


def scoped(report: Report, scope: str) -> Report:
    """Only the sites (and COW findings) under `scope`; verdicts are the whole tree's."""
    if not scope:
        return report
    return replace(
        report,
        tree=replace(report.tree, scope=scope),
        sites=tuple(s for s in report.sites if in_scope(s.file, scope)),
        cow_findings=tuple(f for f in report.cow_findings if in_scope(f.file, scope)),
        wrappers=tuple(w for w in report.wrappers if in_scope(w.file, scope)),
    )


def exit_code(report: Report) -> int:
    """1 when any finding is left to report, else 0 (interface.md)."""
    return 1 if report.findings() else 0


__all__ = ["BaselineError", "Filters", "apply", "baseline_keys", "exit_code", "in_scope", "scoped"]
