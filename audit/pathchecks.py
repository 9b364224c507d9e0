"""The checks the path walk makes at a release (the mixin of `Walker`, audit/paths.py).

At each release of the acquired pages on a path: does it cover what the acquire returned
(gup-release-count: the requested count, or a copy of it, after a short or untested result; an
errno as a count where C makes it a huge one; the page of a one-page request that returned 0), and
were the same pages released before on this path, by this function or by a callee that releases
them when it fails (gup-double-release)?
"""

from __future__ import annotations

import re
from typing import Any

from audit.cexpr import IDENT
from audit.conditions import Facts
from audit.counts import loop_bound
from audit.flow import FlowCall, FlowNode
from audit.outcomes import FULL, HELD, NEG, PART, ZERO


def norm_path(expr: str) -> str:
    """`&x -> f` -> `x->f`: an access path without blanks, address-of or dereference."""
    return "".join(expr.split()).lstrip("&*")


def nonzero(facts: Facts, name: str) -> bool:
    """Whether the path's facts say `name` is not 0 (`if (ret)`, `if (ret < 0)`, `if (ret != 0)`)."""
    known = facts.as_dict()
    return known.get(name) is True or known.get(f"{name}<0") is True or known.get(f"{name}!=0") is True \
        or known.get(f"{name}==0") is False


_COUNT_DOWN = re.compile(r"(\w+)(?:--)?|--(\w+)")
"""A loop condition that tests a count for nonzero while counting it down (`n`, `n--`, `--n`)."""


class ReleaseChecks:
    """Expects the attributes `acq`, `cat`, `flow`, `promoted`, `requested`, `single`, `unsigned`,
    `_offset`, `_callee_releases` and the method
    `_defect` of `Walker`."""

    def _copy_of_requested(self, name: str, rhs: str, recounted: frozenset[str], req_alias: frozenset[str]
                           ) -> frozenset[str]:
        """The names holding a copy of the requested count after `name = rhs` (`nr = n`,
        `shm->num_pages = num_pages`)."""
        norm = norm_path(name)
        if " ".join(rhs.split()) in (self.requested - recounted) | req_alias and norm not in self.requested:
            return req_alias | {norm}
        return req_alias - {norm}

    def _check_count(self, c: FlowCall, count: str | None, explicit: bool, node: FlowNode, st: Any,
                     outcomes: frozenset[str], rnames: frozenset[str], recounted: frozenset[str],
                     facts: Facts | None = None) -> None:
        """gup-release-count at release `c` of `count` pages (None: the bound of the loop it is in)."""
        if count is None and node.loop >= 0:
            count = loop_bound(self.flow, node.loop)
            # A loop over a negative bound runs zero times, unless the bound is unsigned.
            explicit = count is not None and count in self.unsigned
            down = _COUNT_DOWN.fullmatch(self.flow.nodes[node.loop].text.replace(" ", ""))
            name = down and (down.group(1) or down.group(2))
            if count is None and name and name in rnames and NEG in outcomes:
                # `while (n) put_page(pages[--n])`: an errno is nonzero, and counting it down walks
                # below the array.
                self._defect("gup-release-count", c.line, c.column,
                             f"the loop `{self.flow.nodes[node.loop].text}` counts down from `{name}`, which may hold "
                             f"a negative errno from {self.acq.name}(): it never reaches 0, and {c.name}() releases "
                             "entries below the array", st, "high" if outcomes == {NEG} else "medium")
                return
        if count is None or not outcomes:
            return
        if st.earlier and not outcomes & HELD and self._offset is not None \
                and count.replace(" ", "") == f"{self._offset[1]}+1":
            # This round failed: slot `offset` was never filled, and the loop releases it too.
            self._defect("gup-release-count", c.line, c.column,
                         f"{c.name}() releases `{self._offset[0]}[0..{self._offset[1]}]`, one more than the earlier "
                         f"rounds filled: this round's {self.acq.name}() failed and left "
                         f"`{self._offset[0]}[{self._offset[1]}]` unfilled", st, "high")
            return
        # A release API releases; a driver's helper that runs over the count may keep some (a bvec).
        does = "releases" if c.name in self.cat.release else "is handed, to release or keep,"
        cnt = " ".join(count.split()).replace(" ", "")
        out = self.acq.count_out
        if out and PART in outcomes and NEG not in outcomes and cnt != out and out not in IDENT.findall(cnt):
            # The wrapper said 0 after a short pin too; how many it pinned is in `out`.
            self._defect("gup-release-count", c.line, c.column,
                         f"{c.name}() {does} `{count}` pages after {self.acq.name}() returned 0, but it returns 0 "
                         f"after a short pin too and reports how many it pinned in `{out}`", st, "medium")
            return
        requested = cnt in {r.replace(" ", "") for r in self.requested if r not in recounted} | st.req_alias
        res = self.acq.result
        if requested and outcomes <= {NEG, ZERO, PART} and PART in outcomes and rnames and not self.single:
            self._defect("gup-release-count", c.line, c.column,
                         f"{c.name}() {does} the requested `{count}` pages on a path where {self.acq.name}() "
                         f"returned fewer: slots it never filled are released", st, "high")
        elif requested and NEG in outcomes and ZERO not in outcomes and res in self.unsigned and res in rnames:
            # The result was tested, but an errno in an unsigned variable passed the test as a huge count.
            self._defect("gup-release-count", c.line, c.column,
                         f"`{res}` is unsigned, so an errno from {self.acq.name}() passes its test as a huge "
                         f"count and {c.name}() {does} the requested `{count}` pages, none of them filled",
                         st, "high")
        elif requested and NEG in outcomes and ZERO not in outcomes and self.promoted and st.r_tested:
            # The result was compared with the unsigned requested count: C converted an errno to a
            # huge number, the test passed it as every page.
            self._defect("gup-release-count", c.line, c.column,
                         f"`{res}` is compared with the unsigned `{next(iter(self.promoted))}`, so C converts an "
                         f"errno from {self.acq.name}() to a huge count that passes the test, and {c.name}() "
                         f"{does} the requested `{count}` pages, none of them filled", st, "medium")
        elif requested and {PART, FULL} <= outcomes and NEG not in outcomes and st.r_tested and not st.count_tested \
                and rnames and not self.single:
            # The result was tested for an error, never for a short count.
            self._defect("gup-release-count", c.line, c.column,
                         f"{c.name}() {does} the requested `{count}` pages on a path where {self.acq.name}() "
                         f"may have returned fewer: its result was tested for an error, never for a short count",
                         st, "medium")
        elif res and res not in rnames and outcomes & HELD and res in IDENT.findall(cnt) \
                and facts is not None and facts.as_dict().get(f"{res}<0") is True:
            # The result variable was given an errno after the acquire (`ret = -EINVAL; goto err;`),
            # and the count is still read from it: no page, or a negative count, of those held.
            self._defect("gup-release-count", c.line, c.column,
                         f"`{res}` no longer holds what {self.acq.name}() returned: this path set it to an "
                         f"errno, so {c.name}() {does} `{count}` pages, none of the ones still held",
                         st, "medium")
        elif explicit and cnt in {r.replace(" ", "") for r in rnames} and NEG in outcomes:
            # An explicit count (an API's, a helper's unsigned one, an unsigned loop bound).
            only = outcomes == {NEG}
            self._defect("gup-release-count", c.line, c.column,
                         f"{c.name}() uses `{count}` as a count on a path where it "
                         f"{'holds' if only else 'may hold'} a negative errno from {self.acq.name}()",
                         st, "high" if only else "medium")

    def _release_checks(self, c: FlowCall, got: tuple[str, str | None, bool], node: FlowNode, st: Any,
                        outcomes: frozenset[str], rnames: frozenset[str], recounted: frozenset[str],
                        releases: tuple[tuple[int, int, str, str], ...], facts: Facts,
                        err_released: tuple[tuple[int, str, str], ...]) -> None:
        """The count, zero-result and double-release defects of release `c` (`got` is what
        `_release_of` said of it) on a path whose earlier releases are `releases`."""
        arg, count, explicit = got
        self._check_count(c, count, explicit, node, st, outcomes, rnames, recounted, facts)
        direct = c.name in self.cat.release or c.name in self._callee_releases
        if self.single and self.acq.zero_one and ZERO in outcomes and count is None and direct:
            self._defect("gup-release-count", c.line, c.column,
                         f"{c.name}() releases a page {self.acq.name}() may not have filled: in this "
                         f"kernel it returns 0 for a one-page request (a fatal signal) and this path "
                         f"takes 0 as success", st, "medium")
        for line, col, api, prev_arg in releases:
            if direct and (api in self.cat.release or api in self._callee_releases) and prev_arg == arg \
                    and (line, col) != (c.line, c.column) \
                    and outcomes & HELD:
                self._defect("gup-double-release", c.line, c.column,
                             f"{self.acq.name}() pages already released by {api}() at line {line} are "
                             f"released again by {c.name}() on this path", st,
                             "low" if st.guessed else "medium")
        if self.acq.released_on_failure and direct and NEG in outcomes and not outcomes & HELD and not st.undecided:
            # The wrapper failed: it released what it had taken on its way out, or took nothing.
            self._defect("gup-double-release", c.line, c.column,
                         f"{self.acq.name}() releases the pages itself on each errno exit after it takes them; "
                         f"on this path it failed, and {c.name}() releases them again", st,
                         "low" if st.guessed else "medium")
        for line, callee, res in err_released:
            if direct and outcomes & HELD and nonzero(facts, res):
                self._defect("gup-double-release", c.line, c.column,
                             f"{callee}() already released the {self.acq.name}() pages when it failed "
                             f"(line {line}); {c.name}() releases them again after testing `{res}`", st,
                             "low" if st.guessed else "medium")
