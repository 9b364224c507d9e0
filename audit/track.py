"""`audit track PATH [PATH..]`: conversion progress across several kernel trees (oldest first), as a
document (`gup-audit-track/1`) that the CLI writes as JSON or renders (`audit.report.track` for the
pretty view, `audit.trackchart` for SVG and HTML).

Each tree is audited on its own (`audit.engine.audit_tree`); the trees are then summarised side by
side: counts by status, by user class and by subsystem, the share of page-holding sites already
converted to the pin API, and the sites that appeared, disappeared or changed between consecutive
trees.

Subsystem of a file (`by_subsystem`): the first two path components when the file lies at least two
directories deep under one of the large umbrella folders `drivers/`, `arch/`, `sound/` or `net/`
(`drivers/infiniband/core/umem.c` -> `drivers/infiniband`, `net/core/datagram.c` -> `net/core`);
otherwise the first component (`fs/nfs/direct.c` -> `fs`, `mm/gup.c` -> `mm`, `drivers/foo.c` ->
`drivers`); `.` for a file at the top of the tree.

Identity of a site across trees (`changes`): file + function + API family + ordinal, never the line.
The API family is the GET-era name of the call (`pin_user_pages_fast` belongs to the
`get_user_pages_fast` family, by the catalogue's `pin_counterpart`), so a converted call is seen as
the same site with a new status; the ordinal numbers the calls of one family inside one function
(1-based, in source order). A file that moved or a function that was renamed shows as one site
disappearing and one appearing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from audit import catalogue
from audit.engine import audit_tree
from audit.model import Report, Site, Status
from audit.source import Source
from audit.version import parse_version, tree_version

SCHEMA = "gup-audit-track/1"
UMBRELLAS = frozenset({"drivers", "arch", "sound", "net"})
"""Top-level folders whose second component names the subsystem."""
STATUSES = tuple(st.value for st in Status)
"""Every status, in the contract's order (each count is present, zero included)."""


def subsystem(file: str) -> str:
    """The subsystem a tree-relative path belongs to (see the module docstring for the rule)."""
    parts = file.split("/")
    if len(parts) == 1:
        return "."
    if parts[0] in UMBRELLAS and len(parts) >= 3:
        return f"{parts[0]}/{parts[1]}"
    return parts[0]


def _status_counts(sites: Iterable[Site]) -> dict[str, int]:
    counts = {st: 0 for st in STATUSES}
    for s in sites:
        counts[s.status.value] += 1
    return counts


def converted_share(by_status: dict[str, int]) -> float | None:
    """Converted sites over sites that hold pages (every status but `no-pages`); None when there are none."""
    holding = sum(n for st, n in by_status.items() if st != Status.NO_PAGES.value)
    if holding == 0:
        return None
    return round(by_status.get(Status.CONVERTED.value, 0) / holding, 4)


def tree_summary(report: Report) -> dict[str, Any]:
    """One entry of `trees`: the contract's keys plus `sites` and `converted_share`."""
    by_sub: dict[str, list[Site]] = {}
    for s in report.sites:
        by_sub.setdefault(subsystem(s.file), []).append(s)
    by_status = _status_counts(report.sites)
    return {
        "root": report.tree.root,
        "kernel_version": report.tree.kernel_version,
        "sites": len(report.sites),
        "by_status": by_status,
        "by_class": dict(sorted(Counter(s.klass for s in report.sites).items())),
        "by_subsystem": {k: _status_counts(v) for k, v in sorted(by_sub.items())},
        "converted_share": converted_share(by_status),
    }


@dataclass(frozen=True)
class _Keyed:
    """A site with its cross-tree identity."""

    file: str
    function: str | None
    family: str
    ordinal: int
    site: Site

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.file, self.function or "", self.family, self.ordinal)


def families(roots: Sequence[Source]) -> dict[str, str]:
    """Pin API name -> the GET API it converts (from the catalogue of every tree's version)."""
    out: dict[str, str] = {}
    versions = {tree_version(r) for r in roots}
    for v in sorted(versions, key=lambda x: x or (0, 0, 0)):
        cat = catalogue.load(v)
        for name in sorted(cat.acquire):
            pin = cat.acquire[name].pin_counterpart
            if pin and pin != name:
                out.setdefault(pin, name)
    return out


def keyed(report: Report, family_of: dict[str, str]) -> dict[tuple[str, str, str, int], _Keyed]:
    """The report's sites by cross-tree identity (file, function, API family, ordinal)."""
    seen: Counter[tuple[str, str, str]] = Counter()
    out: dict[tuple[str, str, str, int], _Keyed] = {}
    for s in sorted(report.sites, key=lambda x: (x.file, x.line, x.column)):
        fam = family_of.get(s.api, s.api)
        base = (s.file, s.function or "", fam)
        seen[base] += 1
        k = _Keyed(s.file, s.function, fam, seen[base], s)
        out[k.key] = k
    return out


def _ident(k: _Keyed) -> dict[str, Any]:
    return {"file": k.file, "function": k.function, "family": k.family, "ordinal": k.ordinal}


def changes(old: Report, new: Report, family_of: dict[str, str]) -> dict[str, Any]:
    """Sites that appeared, disappeared or changed status/API between two trees."""
    a, b = keyed(old, family_of), keyed(new, family_of)
    appeared = [_ident(b[k]) | {"api": b[k].site.api, "line": b[k].site.line, "status": b[k].site.status.value}
                for k in sorted(b.keys() - a.keys())]
    disappeared = [_ident(a[k]) | {"api": a[k].site.api, "line": a[k].site.line, "status": a[k].site.status.value}
                   for k in sorted(a.keys() - b.keys())]
    changed = []
    for k in sorted(a.keys() & b.keys()):
        x, y = a[k].site, b[k].site
        if x.status != y.status or x.api != y.api:
            changed.append(_ident(b[k]) | {
                "line": y.line,
                "from": {"api": x.api, "status": x.status.value},
                "to": {"api": y.api, "status": y.status.value},
            })
    return {
        "from": old.tree.root,
        "to": new.tree.root,
        "appeared": appeared,
        "disappeared": disappeared,
        "changed": changed,
    }


def track_dict(reports: Sequence[Report], roots: Sequence[Source]) -> dict[str, Any]:
    """The `gup-audit-track/1` document for reports of trees given oldest first."""
    family_of = families(roots)
    return {
        "schema": SCHEMA,
        "trees": [tree_summary(r) for r in reports],
        "changes": [changes(reports[i], reports[i + 1], family_of) for i in range(len(reports) - 1)],
    }


def oldest_first(reports: Sequence[Report]) -> list[int]:
    """Indexes of `reports` by kernel version, oldest first; trees without a version last; ties keep
    the order given."""
    def key(i: int) -> tuple[bool, tuple[int, int, int], int]:
        v = reports[i].tree.kernel_version
        return (v is None, parse_version(v) if v else (0, 0, 0), i)

    return sorted(range(len(reports)), key=key)


def track(sources: Sequence[Source], labels: Sequence[str], workers: int | None = None,
          use_cache: bool = False) -> dict[str, Any]:
    """Audit each tree (shown as its label) and return the track document, trees oldest first."""
    reports = [audit_tree(src, shown_root=label, workers=workers, use_cache=use_cache)
               for src, label in zip(sources, labels)]
    order = oldest_first(reports)
    return track_dict([reports[i] for i in order], [sources[i] for i in order])

