"""The plan of `audit fix`: which sites convert, with which edits, and which are declined and why.

The audit (its report) says which sites still take FOLL_GET references released with put_page() and
friends (`raw-closure`) and where each release is; `audit fix` does not search again. The planner
asks the policy about each site, the rewriter for its edits, and settles by a fixpoint what depends
on other sites: a release shared with a site that is not converted, a release helper called with
pages from elsewhere, a release that cannot be rewritten, edits that overlap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import pairwise

from audit.fixes.context import TreeContext, acquire_call
from audit.fixes.ctext import Decline, Edit
from audit.fixes.lifetime import Lifetime
from audit.fixes.policy import Policy, is_helper, site_id
from audit.fixes.rewrite import Rewriter
from audit.model import RefKind, Release, Report, Site, Status

Loc = tuple[str, int, int]
"""(file, line, column) of a site or a release."""


@dataclass(frozen=True)
class Conversion:
    """One converted site: what its acquire and releases become, and why that is safe."""

    site: Site
    """The site."""
    new_api: str
    """Its pin counterpart."""
    releases: tuple[tuple[Release, str], ...]
    """Each release on its closure and the pin-aware release it becomes."""
    write_back: tuple[str, ...]
    """`file:line` of releases that now dirty pages they did not dirty before (FOLL_WRITE pages)."""
    longterm: str | None
    """Why the pin takes FOLL_LONGTERM, or None."""

    @property
    def note(self) -> str:
        """The one-line summary printed after `converted FILE:LINE api()`."""
        n = len({loc(r) for r, _ in self.releases})
        out = f"-> {self.new_api}(), {n} release{'s' if n != 1 else ''} converted"
        if self.write_back:
            out += (f"; write-back: the pages are written (FOLL_WRITE) and the old release did not dirty them, "
                    f"so the new release dirties them ({', '.join(self.write_back)})")
        if self.longterm:
            out += f"; FOLL_LONGTERM: {self.longterm}"
        return out


@dataclass
class Plan:
    """What `audit fix` will do: the edits, the converted sites and the declined ones."""

    edits: list[Edit] = field(default_factory=list)
    """Every edit, deduplicated."""
    converted: list[Conversion] = field(default_factory=list)
    """Converted sites."""
    declined: list[tuple[Site, str]] = field(default_factory=list)
    """Declined sites with the reason."""

    def edits_of(self, conv: Conversion) -> list[Edit]:
        """The edits that belong to one conversion (its acquire's file and lines, its releases')."""
        return [e for e in self.edits if e in self._owned.get(site_id(conv.site), ())]

    _owned: dict[Loc, set[Edit]] = field(default_factory=dict)
    """Site -> the edits it needs (shared release edits belong to every site that needs them)."""


def loc(r: Release) -> Loc:
    """Identity of a release call: (file, line, column)."""
    return (r.file, r.line, r.column)


@dataclass
class _State:
    """The fixpoint's state: candidates, declines and the edits found so far."""

    sites: list[Site]
    by_loc: dict[Loc, list[Site]] = field(default_factory=dict)
    by_helper: dict[tuple[str, str], list[Site]] = field(default_factory=dict)
    declined: dict[Loc, str] = field(default_factory=dict)
    cands: dict[Loc, Site] = field(default_factory=dict)
    acquire_edits: dict[Loc, list[Edit]] = field(default_factory=dict)
    longterm: dict[Loc, str] = field(default_factory=dict)

    def decline(self, sid: Loc, why: str) -> None:
        """Move a candidate to the declined sites."""
        self.declined[sid] = why
        self.cands.pop(sid, None)


class Planner:
    """Decides, for one audited tree, which sites convert and what the edits are."""

    def __init__(self, ctx: TreeContext, report: Report, select: set[str] | None = None, scope: str = "") -> None:
        """Plan over `report` of the tree `ctx`: the sites `select`ed by rule id under folder `scope`.

        Sites outside the scope are neither converted nor listed, but they still count: a release
        shared with one of them declines the site in scope.
        """
        self.ctx = ctx
        self.report = report
        self.select = select
        self.scope = scope.strip("/")
        self.policy = Policy(ctx)
        self.rewriter = Rewriter(ctx)
        self.lifetime = Lifetime(ctx, self.policy)

    def selected(self, s: Site) -> bool:
        """Whether `--select` and the scope keep site `s`."""
        if self.scope and not s.file.startswith(self.scope + "/"):
            return False
        return self.select is None or (s.rule is not None and s.rule in self.select)

    def plan(self) -> Plan:
        """Decide every site and build the edits."""
        st = _State(list(self.report.sites))
        self._index(st)
        self._candidates(st)
        while True:
            if self._decline_shared(st) or self._decline_helpers(st):
                continue
            rel_edits = self._release_edits(st)
            if rel_edits is None or self._decline_clash(st, rel_edits):
                continue
            plan = self._result(st, rel_edits)
            break
        byid = {site_id(s): s for s in st.sites}
        plan.declined = [(byid[sid], why) for sid, why in sorted(st.declined.items())]
        return plan

    @staticmethod
    def _index(st: _State) -> None:
        """Sites by release location and by release helper."""
        for s in st.sites:
            for r in s.closure:
                st.by_loc.setdefault(loc(r), []).append(s)
                if is_helper(s, r) and r.function:
                    st.by_helper.setdefault((r.file, r.function), []).append(s)

    def _candidates(self, st: _State) -> None:
        """Every selected site that may convert on its own, with its acquire edits (the rest declined)."""
        for s in st.sites:
            if not self.selected(s):
                continue
            sid = site_id(s)
            if s.status is Status.NO_CLOSURE_FOUND and s.ref_kind is RefKind.GET:
                st.declined[sid] = self.policy.site_reason(s) or "closure incomplete (status no-closure-found)"
            elif s.status is Status.RAW_CLOSURE:
                why = self.policy.site_reason(s)
                if why:
                    st.declined[sid] = why
                    continue
                try:
                    self.policy.check_acquire(s)
                    ac = acquire_call(self.policy, s)
                    lt = self.lifetime.longterm(s, ac.fdef, ac.pages)
                    if lt and not self.ctx.available(self.ctx.fx.longterm_flag):
                        raise Decline(f"{lt}, but this tree has no {self.ctx.fx.longterm_flag}")
                    st.acquire_edits[sid] = self.rewriter.acquire_edit(s, longterm=lt is not None)
                except Decline as e:
                    st.declined[sid] = str(e)
                    continue
                st.cands[sid] = s
                if lt:
                    st.longterm[sid] = lt

    @staticmethod
    def _decline_shared(st: _State) -> bool:
        """Decline candidates with a release shared with a site that is not converted; whether any was."""
        changed = False
        for sid, s in sorted(st.cands.items()):
            for r in s.closure:
                group = st.by_loc.get(loc(r), [])
                if is_helper(s, r) and r.function:
                    group = group + st.by_helper.get((r.file, r.function), [])
                other = next((o for o in sorted(group, key=site_id) if site_id(o) not in st.cands), None)
                if other is not None:
                    where = f"{r.function}()" if r.function else r.file
                    st.decline(sid, f"release {r.api}() at {r.file}:{r.line} in {where} is shared with {other.file}:"
                                    f"{other.line} {other.api}() ({other.status.value}), which is not converted")
                    changed = True
                    break
        return changed

    def _decline_helpers(self, st: _State) -> bool:
        """Decline the sites of release helpers reached from elsewhere; whether any was."""
        changed = False
        for (hfile, hname), group in sorted(st.by_helper.items()):
            sharing = list({site_id(s): s for s in group if site_id(s) in st.cands}.values())
            if not sharing:
                continue
            why = self.policy.helper_problem(hfile, hname, sorted(sharing, key=site_id))
            if why:
                for s in sharing:
                    st.decline(site_id(s), why)
                changed = True
        return changed

    def _release_edits(self, st: _State) -> dict[Loc, tuple[Edit, bool]] | None:
        """The edit of every release of a candidate; None when one cannot be rewritten (its sites declined)."""
        out: dict[Loc, tuple[Edit, bool]] = {}
        failed = False
        for where, group in sorted(st.by_loc.items()):
            users = list({site_id(s): s for s in group if site_id(s) in st.cands}.values())
            if not users:
                continue
            r = next(x for x in users[0].closure if loc(x) == where)
            write_back = any(s.write is True for s in users) and not self.policy.function_dirties(r.file, r.function)
            try:
                out[where] = self.rewriter.release_edit(r, write_back)
            except Decline as e:
                for s in users:
                    st.decline(site_id(s), str(e))
                failed = True
        return None if failed else out

    def _decline_clash(self, st: _State, rel_edits: dict[Loc, tuple[Edit, bool]]) -> bool:
        """Decline the later site of two whose edits overlap and differ; whether any was."""
        owner: dict[tuple[str, int, int], list[Loc]] = {}
        edits: dict[tuple[str, int, int, bytes], Edit] = {}
        for sid, s in sorted(st.cands.items()):
            for ed in st.acquire_edits[sid] + [rel_edits[loc(r)][0] for r in s.closure]:
                edits[(ed.file, ed.start, ed.end, ed.text)] = ed
                owner.setdefault((ed.file, ed.start, ed.end), []).append(sid)
        clash = _clash(list(edits.values()))
        if clash is None:
            return False
        losers = sorted(set(owner.get((clash.file, clash.start, clash.end), [])))[-1:]
        line = self.ctx.file(clash.file).lines.line_of(clash.start)
        for sid in losers or sorted(st.cands):
            st.decline(sid, f"its edits overlap another conversion's at {clash.file}:{line}")
        return True

    def _result(self, st: _State, rel_edits: dict[Loc, tuple[Edit, bool]]) -> Plan:
        """The plan of the settled candidates."""
        plan = Plan()
        all_edits: set[Edit] = set()
        for sid, s in sorted(st.cands.items()):
            mine = set(st.acquire_edits[sid]) | {rel_edits[loc(r)][0] for r in s.closure}
            plan._owned[sid] = mine
            all_edits |= mine
            new = self.ctx.cat.acquire[s.api].pin_counterpart
            assert new is not None
            releases = tuple((r, self._became(rel_edits[loc(r)][0])) for r in sorted(s.closure, key=loc))
            added = tuple(sorted({f"{r.file}:{r.line}" for r in s.closure if rel_edits[loc(r)][1]}))
            plan.converted.append(Conversion(s, new, releases, added, st.longterm.get(sid)))
        plan.edits = sorted(all_edits, key=lambda e: (e.file, e.start, e.end))
        return plan

    def _became(self, e: Edit) -> str:
        """The pin-aware release an edit calls (by the catalogue's release kinds)."""
        for name in re.findall(r"\b[A-Za-z_]\w*\b", e.text.decode("utf-8", "replace")):
            api = self.ctx.cat.release.get(name)
            if api is not None and api.kind is RefKind.PIN:
                return name
        return "?"


def _clash(edits: list[Edit]) -> Edit | None:
    """An edit that overlaps another of the same file, if any."""
    by_file: dict[str, list[Edit]] = {}
    for e in edits:
        by_file.setdefault(e.file, []).append(e)
    for f in sorted(by_file):
        es = sorted(by_file[f], key=lambda e: (e.start, e.end))
        for a, b in pairwise(es):
            if b.start < a.end:
                return b
    return None
