"""The findings stage: analysed sites and the COW profile in, `Finding`s out.

Runs after the analysis and before any reporter. Which rules report a site (`when` tables), each
finding's severity (by kernel version, by user class, by confidence: `severity_by` in the rule
file), its message, its faulty line and its stable identity are decided here, once; reporters
render Findings and decide nothing.
"""

from __future__ import annotations

from dataclasses import replace

from audit.catalogue import Catalogue
from audit.classify import legitimate_get
from audit.model import CowProfile, CowSite, Defect, Evidence, Finding, RefKind, Report, Severity, Site
from audit.rules import Rule, render
from audit.version import Version

COW_RULE = "cow-mapcount-reuse"
"""The rule the COW profile's mapcount-only reuse decisions are reported under."""


def finding_key(rule: str, file: str, function: str | None, family: str) -> str:
    """Identity of a finding across line shifts and API renames: rule|file|function|API family."""
    return f"{rule}|{file}|{function or ''}|{family}"


def _facts(site: Site, confidence: str) -> dict[str, str]:
    """The conditions a rule's `severity_by` rows test, for one finding at `site`."""
    return {
        "legitimate": "true" if legitimate_get(site.file, site.klass) else "false",
        "implementation": "true" if site.implementation else "false",
        "confidence": confidence,
    }


def _faulty(site: Site, rule: Rule) -> tuple[str, int, int, tuple[Evidence, ...], str | None]:
    """Where a status rule's finding points: the wrong-kind release for a mismatch, else the call;
    and the release the message names."""
    if ("status", "mismatch") in rule.when:
        wrong = next((r for r in site.closure if r.kind not in (RefKind.NONE, site.ref_kind)), None)
        if wrong is not None:
            steps: list[Evidence] = []
            for e in site.evidence:
                steps.append(e)
                if (e.file, e.line) == (wrong.file, wrong.line):
                    break
            return wrong.file, wrong.line, wrong.column, tuple(steps), wrong.api
    return site.file, site.line, site.column, (), None


def site_findings(site: Site, rules: dict[str, Rule], version: Version | None, cat: Catalogue) -> tuple[Finding, ...]:
    """Every finding at one site, most severe first."""
    family = cat.family(site.api)
    out: list[tuple[int, int, Finding]] = []
    for rule in rules.values():
        if rule.kind not in ("site", "exposure") or not rule.matches(site):
            continue
        sev = Severity(rule.severity_for(version, _facts(site, rule.confidence)))
        file, line, col, path, release = _faulty(site, rule)
        f = Finding(rule.id, sev, render(rule.message, site, cat, release),
                    render(rule.help, site, cat, release) if rule.help else "",
                    file, line, col, path, finding_key(rule.id, site.file, site.function, family),
                    site.function, rule.confidence)
        out.append((sev.rank, rule.priority, f))
    for d in site.defects:
        rule = rules.get(d.rule)
        if rule is None:
            continue
        sev = Severity(rule.severity_for(version, _facts(site, d.confidence)))
        f = Finding(rule.id, sev, d.message, render(rule.help, site, cat) if rule.help else "", d.file, d.line,
                    d.column, d.path, finding_key(rule.id, site.file, site.function, family), site.function,
                    d.confidence)
        out.append((sev.rank, rule.priority, f))
    out.sort(key=lambda x: (x[0], x[1], x[2].file, x[2].line))
    return tuple(f for _, _, f in out)


def cow_findings(cow: CowProfile, rules: dict[str, Rule], version: Version | None) -> tuple[Finding, ...]:
    """One `cow-mapcount-reuse` finding per mapcount-only reuse decision."""
    rule = rules.get(COW_RULE)
    if rule is None:
        return ()
    sev = Severity(rule.severity_for(version))

    def one(c: CowSite) -> Finding:
        fields = {"file": c.file, "line": c.line, "function": c.function, "idiom": c.idiom}
        msg, hlp = (t.format(**fields) if t else "" for t in (rule.message, rule.help))
        return Finding(rule.id, sev, msg, hlp, c.file, c.line, 1, (), finding_key(rule.id, c.file, c.function, ""),
                       c.function, rule.confidence)

    return tuple(one(c) for c in cow.mapcount_only_sites)


def attach(sites: list[Site], cow: CowProfile, rules: dict[str, Rule], version: Version | None,
           cat: Catalogue) -> tuple[tuple[Site, ...], tuple[Finding, ...]]:
    """The sites with their findings (and `rule` = the most severe one's), and the COW findings."""
    done = []
    for s in sites:
        fs = site_findings(s, rules, version, cat)
        done.append(replace(s, findings=fs, rule=fs[0].rule if fs else None))
    return tuple(done), cow_findings(cow, rules, version)


def with_findings(report: Report, keep: set[int]) -> Report:
    """The report with only the findings whose `id()` is in `keep` (used by the triage filters)."""
    sites = []
    for s in report.sites:
        fs = tuple(f for f in s.findings if id(f) in keep)
        sites.append(replace(s, findings=fs, rule=fs[0].rule if fs else None))
    return replace(report, sites=tuple(sites), cow_findings=tuple(f for f in report.cow_findings if id(f) in keep))


__all__ = ["COW_RULE", "Defect", "attach", "cow_findings", "finding_key", "site_findings", "with_findings"]
