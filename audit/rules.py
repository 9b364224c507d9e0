"""Loads `rules/*.toml` into Rule objects and matches analysed sites against them.

A rule documents itself (title, rationale, limitations, references: `audit explain`) and says, in
its `when` table, which sites it reports. Severity by kernel version lives in the rule file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from typing import Any

from audit.catalogue import Catalogue
from audit.model import Site
from audit.resources import rules_dir
from audit.version import Version, in_range

REQUIRED = ("id", "title", "severity", "confidence", "rationale", "limitations", "references")
SEVERITIES = ("error", "warning", "note")


class RuleError(Exception):
    """A rule file is malformed (exit 2)."""


@dataclass(frozen=True)
class Rule:
    """One rule file."""

    id: str
    """The rule id (== file stem)."""
    title: str
    """One-line title."""
    severity: str
    """error / warning / note (before version adjustment)."""
    confidence: str
    """high / medium / low."""
    rationale: str
    """Why this matters, a commit-message paragraph."""
    limitations: tuple[str, ...]
    """Known gaps."""
    references: tuple[str, ...]
    """Docs, commits, threads."""
    applies: str
    """Kernel version range where the rule is meaningful."""
    classification: str
    """Short classification tag."""
    when: tuple[tuple[str, str], ...]
    """Site field -> value that must all hold for the rule to report a site."""
    priority: int
    """Lower wins when several rules match one site."""
    message: str
    """Message template for a finding."""
    help: str
    """Help template."""
    severity_by_version: tuple[tuple[str, str], ...]
    """(version range, severity) overrides."""

    kind: str
    """"site" for gup-site rules, "cow" for COW-profile rules, "exposure" for race exposure,
    "path" for faults the analysis finds on one path of a site (its `Defect`s)."""
    severity_by: tuple[tuple[tuple[tuple[str, str], ...], str], ...] = ()
    """(conditions, severity) overrides, first match wins: conditions on `versions` (a range),
    `legitimate` (the site is a legitimate FOLL_GET user), `implementation` (the call is inside a
    catalogue API's own implementation) and `confidence` (the finding's)."""

    def severity_for(self, version: Version | None, facts: dict[str, str] | None = None) -> str:
        """The severity in a tree of `version`, for a finding with `facts` (condition -> value)."""
        for rng, sev in self.severity_by_version:
            if version is not None and in_range(version, rng):
                return sev
        have = facts or {}
        for conds, sev in self.severity_by:
            if all(in_range(version, want) if key == "versions" and version is not None
                   else key != "versions" and have.get(key) == want for key, want in conds):
                return sev
        return self.severity

    def matches(self, site: Site) -> bool:
        """Whether this rule reports `site`."""
        for key, want in self.when:
            got = getattr(site, key, None)
            got = getattr(got, "value", got)
            if key == "exposure":
                if want not in site.exposure:
                    return False
            elif str(got) != want:
                return False
        return bool(self.when)


def _rule(path_stem: str, raw: dict[str, Any]) -> Rule:
    missing = [k for k in REQUIRED if k not in raw]
    if missing:
        raise RuleError(f"rules/{path_stem}.toml: missing {', '.join(missing)}")
    if raw["id"] != path_stem:
        raise RuleError(f"rules/{path_stem}.toml: id {raw['id']!r} differs from the file name")
    if raw["severity"] not in SEVERITIES:
        raise RuleError(f"rules/{path_stem}.toml: severity must be one of {SEVERITIES}")
    return Rule(
        id=raw["id"],
        title=raw["title"],
        severity=raw["severity"],
        confidence=raw["confidence"],
        rationale=raw["rationale"].strip(),
        limitations=tuple(raw["limitations"]),
        references=tuple(raw["references"]),
        applies=raw.get("applies", ""),
        classification=raw.get("classification", ""),
        when=tuple(sorted((k, str(v)) for k, v in raw.get("when", {}).items())),
        priority=int(raw.get("priority", 50)),
        message=raw.get("message", raw["title"]),
        help=raw.get("help", ""),
        severity_by_version=tuple((d["versions"], d["severity"]) for d in raw.get("severity_by_version", [])),
        kind=raw.get("kind", "site"),
        severity_by=tuple(_severity_row(path_stem, d) for d in raw.get("severity_by", [])),
    )


_CONDITIONS = ("versions", "legitimate", "implementation", "confidence")


def _severity_row(stem: str, row: dict[str, Any]) -> tuple[tuple[tuple[str, str], ...], str]:
    if row.get("severity") not in SEVERITIES:
        raise RuleError(f"rules/{stem}.toml: severity_by: severity must be one of {SEVERITIES}")
    bad = sorted(set(row) - {"severity", *_CONDITIONS})
    if bad:
        raise RuleError(f"rules/{stem}.toml: severity_by: unknown condition {', '.join(bad)}")
    conds = tuple(sorted((k, str(v).lower() if isinstance(v, bool) else str(v)) for k, v in row.items() if k != "severity"))
    return conds, row["severity"]


@cache
def load_rules() -> tuple[Rule, ...]:
    """Every rule file, sorted by id."""
    out = []
    for p in sorted(rules_dir().glob("*.toml")):
        try:
            raw = tomllib.loads(p.read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise RuleError(f"{p.name}: {e}") from None
        out.append(_rule(p.stem, raw))
    return tuple(out)


def rule_by_id() -> dict[str, Rule]:
    """Rules keyed by id."""
    return {r.id: r for r in load_rules()}


def render(template: str, site: Site, cat: Catalogue, release: str | None = None) -> str:
    """Fill a message/help template with the site's facts (`release`: the release the finding is
    about, by default the closure's first)."""
    api = cat.acquire.get(site.api)
    release = release or (site.closure[0].api if site.closure else "put_page")
    rel = cat.release.get(release)
    pin_release = "unpin_user_pages_dirty_lock(..., true)" if site.write else "unpin_user_pages()"
    if rel is not None and rel.pin_counterpart and rel.pin_counterpart.endswith("dirty_lock"):
        pin_release = f"{rel.pin_counterpart}(..., true)"
    elif rel is not None and rel.pin_counterpart and not site.write:
        pin_release = f"{rel.pin_counterpart}()"
    values = {
        "api": site.api,
        "release": release,
        "pin_api": (api.pin_counterpart if api and api.pin_counterpart else "pin_user_pages"),
        "pin_release": pin_release,
    }
    try:
        return template.format(**values)
    except (KeyError, IndexError):
        return template
