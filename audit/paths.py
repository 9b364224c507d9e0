"""Every path of an acquiring function, from function entry through the acquire to each exit.

Pure: a `Flow` (audit/flow.py), the acquire call, the tracked pages value and the catalogue in;
`PathResult` out: the releases reachable from the acquire on a feasible path, and the `Defect`s
found on single paths (gup-leak, gup-release-count, gup-double-release).

The acquire's result `R` is modelled by the outcomes it can still have on the path: negative
(an errno), zero, a partial count (0 < R < requested) or the full count. A condition that tests R
(`ret < 0`, `ret != nr_pages`, `pinned < npages`, `!ret`) keeps the outcomes for which it can take
the branch; a branch no outcome can take is infeasible and is not followed. Other conditions are
formulas over atoms (`conditions.py`): a path that already took `kfp->pin` true does not enter
`if (!kfp->pin)`, nor the `&&` whose other half it ruled out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache

from audit.callee import OTHER_UNLESS_ERRNO
from audit.cexpr import COMPARE, ERRNO, FOR_EACH_CALL, IDENT, errno_value, strip_parens, ternary
from audit.catalogue import Catalogue, Handoff
from audit.conditions import Facts, Formula, atoms, parse, value
from audit.counts import HelperCount, loop_bound, unsigned_names
from audit.flow import Flow, FlowCall, FlowNode
from audit.flowfacts import ZERO_VALUES as _ZERO
from audit.flowfacts import (errno_facts, failure_test, feasible_calls, flow_facts, null_facts, positive_facts,
                             shared_atoms, zero_facts)
from audit.model import Defect, Evidence
from audit.outcomes import ALL, FULL, HELD, NEG, PART, ZERO, ResultTests
from audit.pathchecks import ReleaseChecks, norm_path
from audit.roots import FIELDS, MEMBER_PATH, called_name

Effect = Callable[[FlowCall], "str | None"]


@dataclass(frozen=True)
class Teardown:
    """A release in another function (the pages' owner's teardown) in a loop bounded by a struct
    count, or of what a struct member holds: it releases whatever the count or member still says
    the struct holds."""

    file: str
    line: int
    column: int
    function: str
    api: str
    bound: str
    """The count's access path, or the member's name."""

MAX_STATES = 3000
"""States one site's walk may visit before it gives up (and reports nothing)."""

_CMP = COMPARE
_WORD = IDENT
_INDEXED = re.compile(r"(<?[A-Za-z_][\w.>-]*)\[([A-Za-z_]\w*)(\+\+|--)?\]")
"""An array element `pages[j]` (`pages[j++]`: the element before the step), blanks removed."""
_NUMBER = re.compile(r"-?\d\w*")
"""An integer literal (`0`, `-1`, `0x10`, `4UL`), blanks removed."""
_BASE_NAME = re.compile(r"[\s(&*]*([A-Za-z_]\w*)")
"""The variable an argument starts from (`&page`, `pages[i]`, `*pp`)."""
_NEAR_EXIT = 10
"""A leak whose array was freed is reported on its exit (the goto, return or break) unless that exit
lies more than this many lines below the free: then on the free itself."""
_OFFSET = re.compile(r"&([A-Za-z_][\w.>-]*)\[([A-Za-z_]\w*)\]|([A-Za-z_][\w.>-]*)\+([A-Za-z_]\w*)")
"""An array argument filled from a variable offset: `&pages[start]`, `pages + start` (blanks removed)."""


TESTED_AT_CALL = "()"
"""`Acquire.fails_by` for a 0-or-errno call whose result is kept in no variable: tested where it is
made (no C name can be this text)."""


@dataclass(frozen=True)
class Acquire:
    """What the walk needs of the acquire call."""

    name: str
    line: int
    column: int
    args: tuple[str, ...]
    pages_index: int | None
    count_index: int | None
    """The requested count's argument (None: one page at most, or not a count)."""
    result: str | None
    """The variable the result is assigned to (None: the call's value is tested or dropped)."""
    root_kind: str
    """"local", "param" or "field": who owns the pages array."""
    base: str = ""
    """For a field root, the variable holding the struct (`vsg` of `vsg->pages`)."""
    one: bool = False
    """The count is known to be 1 (a variable only ever set to 1): a result is all or nothing."""
    partial: bool = False
    """The call can return a short count even without a count argument (a wrapper that returns its
    own acquire's result): never treat the result as all or nothing."""
    max_pages: int | None = None
    """For an API that counts bytes, the argument bounding the pages it fills (`maxpages`)."""
    zero_one: bool = False
    """A one-page request can return 0 (nothing filled, no errno) in this tree's version."""
    fails_by: str = ""
    """For an acquire (or a wrapper) that returns 0 when it took every page and an errno when it
    took none: the variable holding that result, or `TESTED_AT_CALL` when the call is tested where
    it is made (`if (bio_iov_iter_get_pages(bio, iter))`).
    The walk takes the call as taking every page, and the side of a test that says it failed as
    taking none."""
    count_out: str = ""
    """For a `fails_by` wrapper that returns 0 after a short pin too: the caller's variable it reports
    the pinned count in (`pinned` of `lock_pages(…, &pinned)`). Its success then holds that many."""
    released_on_failure: bool = False
    """For a `fails_by` wrapper whose errno exits after its acquire all release the pages: the side
    of a test that says it failed holds nothing, and its pages were released there already."""
    kept_on_failure: bool = False
    """For a `fails_by` wrapper that pins into a struct its caller passes: some of its errno exits
    leave pages in that struct (a short pin recorded in a count member), so the side of a test that
    says it failed may still hold pages there."""
    held_counts: frozenset[str] = frozenset()
    """The caller's variables a wrapper sets, through their address, on every way out that returns
    the pages (`nr_pages` of `io_pin_pages(…, &nr_pages)`): not 0 where the call took pages."""


@dataclass
class PathResult:
    """What the walk found."""

    reachable_releases: set[tuple[int, int]] = field(default_factory=set)
    """(line, column) of the release calls some feasible path from the acquire reaches."""
    before_alias: dict[tuple[int, int], str] = field(default_factory=dict)
    """(line, column) of releases through a name that held another value there (it takes the pages
    only below: `put_page(page); page = wpage;`) -> the name."""
    full_releases: set[tuple[int, int]] = field(default_factory=set)
    """The ones reached on a path where the acquire may have returned every page (not only errors)."""
    defects: list[Defect] = field(default_factory=list)
    complete: bool = True
    """False when the walk gave up (too many states): no defect is claimed then."""
    acquire_repeats: bool = False
    """The acquire sits in a loop (or a goto retry): later rounds add to what earlier rounds took."""
    r_returned: set[str] = field(default_factory=set)
    """Outcomes with which some exit returns the acquire's result itself (a wrapper's callers get it)."""
    count_out: str = ""
    """A pointer parameter the function adds the acquire's result to (`*pinned += page_count`)."""
    short_success: bool = False
    """Some `return 0` follows a short pin whose pages are still held: 0 does not mean every page."""
    kept_on_error: bool = False
    """Some errno exit leaves pages held in the caller's array or struct, released by nothing here
    (a short pin whose count is recorded there): the caller's error side still holds them."""
    released_on_error: bool = False
    """Some errno exit after the acquire released the pages it took."""
    held_on_error: bool = False
    """Some errno exit after the acquire may leave pages held, or handed to a callee: an errno from
    this function does not say its pages are gone."""
    set_when_held: frozenset[str] | None = None
    """The pointers every exit that returns the pages (or the acquire's result) while pages may be
    held has set through, not to 0 (`_State.set_out`); None before the first such exit."""


@dataclass(frozen=True)
class _State:
    node: int
    armed: bool
    outcomes: frozenset[str]
    facts: Facts
    rnames: frozenset[str]
    in_loops: frozenset[int]
    releases: tuple[tuple[int, int, str, str], ...]
    """(line, column, api, argument text) of releases of the pages since the acquire."""
    handed: bool
    freed: int
    """Line where the array was freed while pages were held and not released (0: not)."""
    steps: tuple[tuple[int, str], ...]
    """(line, message) of the branches taken since the acquire (the finding's path)."""
    jump: int
    """Line of the first goto/return taken after the last branch on R (the exit that leaks)."""
    stored: frozenset[str] = frozenset()
    """Field paths the pages were stored into on this path (`vm->page`): releasing those releases ours."""
    recounted: frozenset[str] = frozenset()
    """Names of the requested count assigned since the acquire (they no longer mean "requested")."""
    count_kept: bool = False
    """The acquire's count was stored where the pages' owner can find it (a field, through a pointer)."""
    freed_col: int = 1
    """Column of the call that freed the array (the leak's column when it comes before any exit)."""
    bypassed: bool = False
    """The path took an undecided branch away from a release of the pages: it may not be the
    path the code takes, so a leak on it is only a note."""
    guessed: bool = False
    """After a release, the path took a branch the walk could not decide (`if (rv > 0)` on a
    value it does not know): a second release behind it is only a note."""
    err_released: tuple[tuple[int, str, str], ...] = ()
    """(line, callee, result variable) of calls to callees that release the pages when they fail."""
    req_alias: frozenset[str] = frozenset()
    """Names that were given the requested count on this path (`shm->num_pages = num_pages`)."""
    r_tested: bool = False
    """The path took a branch on the acquire's result."""
    count_tested: bool = False
    """The path went through a condition that compares the result with the requested count."""
    undo: tuple[str, bool, str] | None = None
    """The last hand-off that can fail, and whether the pages were handed on before it: the variable
    holding its returned pointer (`wdata = alloc(pages, …)`), or `@name` for a catalogue hand-off
    tested where it is called (`if (!bio_add_hw_page(…))`), and the function called. On the side
    of a test that says it failed, the pages were not taken."""
    stale: frozenset[str] = frozenset()
    """Struct counts (`rm->data.op_nents`) of entries this path released in a loop bounded by them and
    has not reset since, and (`@rm->atomic.op_sg`) members holding a page this path put there and
    released: a teardown that releases by the same count or member releases them again."""
    offset_moved: bool = False
    """The acquire filled its array from an offset (`&pages[start]`), and the offset has been
    advanced since on this path: the pages below it now include this round's."""
    offset_reset: bool = False
    """... and it has been set back to a constant since (`for (i = 0; …)`): an element indexed by
    it is no longer one of this round's."""
    handed_into: str = ""
    """The table the pages were last handed to by an [handoff_failures] call (`sgt` of
    `sg_alloc_table_from_pages(sgt, pages, …)`): freeing it hands them back."""
    earlier: bool = False
    """The acquire fills its array from an offset its loop advances, and nothing but a release takes
    the pages in that loop: when a round fails, the earlier rounds' pages sit below the offset."""
    late: frozenset[str] = frozenset()
    """Names of `Walker._late` given the pages on this path: a release through one of the others
    releases another value."""
    undecided: bool = False
    """Since the acquire, the path took a branch the walk could not decide that does not test the
    result (`if (a->pinned)` set elsewhere): what follows may not be what the code does."""
    from_cursor: bool = False
    """This path released entries indexed from `Walker._cursor`: a clean-up that starts at the
    cursor, past what earlier rounds filled."""
    set_out: frozenset[str] = frozenset()
    """Pointers this path set what they point to through since the acquire, not to 0 (`*npages =
    nr_pages`, `*need_drop = 1`)."""


class _Next:
    """The fields of a path state that one flow node's calls and assignments change: a mutable copy
    of the state, made into the next `_State` when the node is done."""

    # NOTE: a copy of the state's __dict__, not one attribute at a time: a walk makes tens of
    # thousands of these. The fields are immutable values, so the copy is never shared state.

    def __init__(self, st: _State) -> None:
        self.__dict__.update(st.__dict__)

    def state(self) -> _State:
        """The state these fields make."""
        new = object.__new__(_State)
        new.__dict__.update(self.__dict__)
        return new


class Walker(ResultTests, ReleaseChecks):
    """One site's path walk."""

    def __init__(self, flow: Flow, acq: Acquire, holds: Callable[[str], bool], cat: Catalogue,
                 file: str, release_wrappers: dict[str, int], effect: Effect | None = None,
                 helper_counts: dict[str, HelperCount] | None = None,
                 teardowns: dict[str, Teardown] | None = None, promoted: frozenset[str] = frozenset(),
                 dropped: bool = False, callers_test_sign: Callable[[], bool] | None = None) -> None:
        self.flow = flow
        self.callers_test_sign = callers_test_sign
        """Whether every caller of this function tests the result it returns for zero or an errno
        only, and records it nowhere (asked only when a short result is returned as it is)."""
        self.dropped = dropped
        """The pages are in a field of a struct this function was handed, and its callers free that
        struct when it returns an error: an error exit that leaves them there loses them."""
        self.promoted = promoted
        """Requested counts of an unsigned type that a signed result is converted to when compared."""
        self.teardowns = teardowns or {}
        self.acq = acq
        self.holds = lru_cache(maxsize=None)(holds)
        # Pure for one walk (its acquire, catalogue and counts are fixed); asked on every path.
        self._is_r = lru_cache(maxsize=None)(self._is_r)  # type: ignore[method-assign]
        self._r_atom = lru_cache(maxsize=None)(self._r_atom)  # type: ignore[method-assign]
        self.cat = cat
        self.file = file
        self.wrappers = release_wrappers
        self.helper_counts = helper_counts or {}
        self.unsigned = unsigned_names(flow, cat.is_unsigned)
        """Variables declared with an unsigned integer type: an errno held in one is a huge number."""
        self._scalars = frozenset(n for n, _ in flow.types)
        """Parameters and locals of a scalar type (not pointers)."""
        self.effect = effect
        self.transparent = cat.transparent_conditions
        ci = acq.count_index
        self.requested = {" ".join(acq.args[i].split()) for i in (ci, acq.max_pages)
                          if i is not None and i < len(acq.args)}
        pi = acq.pages_index
        self._pages_arg = acq.args[pi].strip() if pi is not None and pi < len(acq.args) else ""
        """The acquire's pages argument as written ('' when it returns the page)."""
        one_slot = pi is None or (self._pages_arg.startswith("&")
                                  and _WORD.fullmatch(self._pages_arg[1:].strip()) is not None)
        # One page at most: a single-page form (no count, and no pages or the address of one page
        # variable: `get_user_page_fast_only(addr, flags, &page)`), or a count of 1. Then a result
        # is all or nothing.
        self.single = not acq.partial and (acq.one or (ci is None and one_slot) or (
            ci is not None and ci < len(acq.args) and acq.args[ci].strip() == "1"))
        m = _OFFSET.fullmatch("".join(self._pages_arg.split())) if self._pages_arg else None
        self._offset = (m.group(1) or m.group(3), m.group(2) or m.group(4)) if m is not None else None
        """(array, offset) when the acquire fills the array from a variable offset (`&pages[start]`,
        `pages + start`): a release of `count = offset` pages of that array, the offset unmoved,
        releases what earlier acquires put below it, none of this one's."""
        self._offset_steps = self._offset is not None and any(
            lhs.strip() == self._offset[1] and not "".join(rhs.split()).isdigit()
            for n in flow.nodes for lhs, rhs in n.assigns)
        """The offset is advanced somewhere (`i++`, `start += ret`): at the acquire it need not be 0."""
        stepped = any(lhs.strip() == self._pages_arg and steps_forward(self._pages_arg, rhs)
                      for n in flow.nodes for lhs, rhs in n.assigns)
        self._cursor = self._pages_arg if self._offset is None and acq.name not in cat.acquire \
            and _WORD.fullmatch(self._pages_arg) and stepped else ""
        """An acquire wrapper that fills the entries of a carrier from a cursor its caller steps past
        them (`sg` of `map_to_sgl(…, sg, …)` with `sg += ret`): what earlier rounds filled lies
        below the cursor, and a release indexed from the cursor (`sg_page(&sg[i])`) reaches none
        of it."""
        self.result = PathResult()
        self._defects: dict[tuple[str, int], Defect] = {}
        self._held_return = 0
        """Line of an exit that returns the result (or the requested count) with the pages kept."""
        self._released_returns: list[tuple[int, int, str, _State]] = []
        """(exit, release line, release call, state) of exits returning a short result they released."""
        ff = flow_facts(flow, self.transparent, cat.zeroing_allocators)
        into = ff.cursors.get(self._pages_arg)
        if into is not None:
            # The acquire fills a cursor into a field's array (`pages = ttm->pages + pinned`): that
            # field names these pages too (`release_pages(ttm->pages, pinned, 0)`).
            own = self.holds
            self.holds = lru_cache(maxsize=None)(
                lambda a: own(a) or norm_path(a) == into or norm_path(a).startswith(into + "["))
        self._loop_releases = self._releasing_loops()
        self._to_acquire = self._reaching_acquire()
        self.result.acquire_repeats = any(
            n.loop >= 0 and any(map(self._is_acquire, n.calls))
            for n in flow.nodes)
        self._late = self._late_aliases()
        self._zeroed = ff.zeroed
        self._zalloc = ff.zero_members
        self._shared = ff.shared | ff.zero_member_atoms
        self._known_names = ff.known_names
        self._loop_assigned = ff.loop_assigned
        self._elements = ff.elements
        self._callee_releases: set[str] = set()
        """Callees met on the walk that release the pages they are handed on every path."""
        self._cursors = ff.cursors
        self._round_fields = self._earlier_rounds()
        self._earlier_in_array = self._rounds_in_array()
        res = acq.result.strip() if acq.result else ""
        outs = {a.strip()[1:].strip() for a in acq.args if a.strip().startswith("&")}
        self.accumulators = _accumulators(flow, res) if _WORD.fullmatch(res) else frozenset()
        """Counters that only start at a constant and add the result (`pages_done += ret`): not 0
        once it took pages."""
        self._derived = frozenset({res}) if _WORD.fullmatch(res) and any(
            lhs.strip() == res and res in _WORD.findall(rhs) and "".join(rhs.split()) != res
            for n in flow.nodes for lhs, rhs in n.assigns) else frozenset()
        """The result variable when the function recomputes it from itself (`size -= trim`): a test of
        it then decides on what the acquire returned, a branch the code does take."""
        self._counted = frozenset(o for o in outs if _WORD.fullmatch(o) and not self.holds(o))
        """Variables the acquire sets through a pointer (`&nr_pages`): comparing one decides on what it
        returned (a bare truth test may be a flag saying whether it took anything: `need_drop`)."""
        self._tested = frozenset(w for n in flow.nodes if n.kind in ("cond", "loop") for w in _WORD.findall(n.text))
        self._plain_cache: dict[tuple[int, frozenset[str] | None], bool] = {}
        self._to_release = self._reaching_release()
        self._fresh_checks = self._failure_checks()

    def _reaching_release(self) -> set[int]:
        """Nodes from which a release or a hand-off of the pages can be reached in the same round
        of any loop ("later in this round" is what counts, not the next round), and not through the
        acquire (a retry takes the pages anew: `do { … } while (rc == -EAGAIN)`)."""
        return _backward(self.flow.nodes, [
            i for i, node in enumerate(self.flow.nodes)
            if any(any(self.holds(a) for a in c.args) and c.name not in self.cat.array_freers
                   and c.name != self.acq.name for c in node.calls)
            or any(self.holds(rhs) for _, rhs in node.assigns)], True,
            frozenset(i for i, node in enumerate(self.flow.nodes) if any(map(self._is_acquire, node.calls))))

    def _failure_checks(self) -> set[int]:
        """Conditions that only test whether a call after the acquire failed (`imu = io_alloc_imu(…);
        if (!imu)`, `if (ret < 0)`, `if (IS_ERR(p))`): the check of a later step that can fail. Its
        failing side is an error path the code does take, not a branch the walk cannot tell (a leak
        there is not lowered)."""
        line = self.acq.line
        skip = self.cat.readers | frozenset(self.cat.accessors)
        fresh = {"".join(c.lhs.split()) for n in self.flow.nodes for c in n.calls if c.lhs and c.line > line
                 and c.name != self.acq.name and c.name not in skip
                 and (_WORD.fullmatch(c.lhs.strip()) or MEMBER_PATH.fullmatch("".join(c.lhs.split())))}
        if not fresh:
            return set()
        tests = self.cat.error_tests | self.cat.error_or_null_tests
        out = set()
        for i, n in enumerate(self.flow.nodes):
            if n.kind != "cond" or n.line <= line:
                continue
            got = atoms(parse(n.text, self.transparent))
            if got and all(failure_test(a, fresh, tests) for a in got):
                out.add(i)
        return out

    def _from_cursor(self, arg: str) -> bool:
        """Whether a released expression is indexed from the cursor (`sg_page(&sg[i])`, or a
        variable only ever given such a value: `page = sg_page(&sg[i]); put_page(page)`)."""
        if not self._cursor:
            return False
        m = _BASE_NAME.match(self._entry_of(arg))
        if m is None:
            return False
        if m.group(1) == self._cursor:
            return True
        rhs = [r for n in self.flow.nodes for lhs, r in n.assigns if lhs.strip() == m.group(1)]
        return bool(rhs) and all((b := _BASE_NAME.match(self._entry_of(r))) is not None and b.group(1) == self._cursor
                                 for r in rhs)

    def _late_aliases(self) -> frozenset[str]:
        """Plain names that take the pages only by assignments no path to the acquire passes
        (`page = wpage;` after `get_user_page_fast_only(…, &wpage)`), named nowhere in the acquire
        call: until such an assignment, the name holds another value, and a release through it
        (`put_page(page); page = wpage;`) is not of these pages."""
        named = set(_WORD.findall(" ".join(self.acq.args)))
        giving: dict[str, bool] = {}
        for i, n in enumerate(self.flow.nodes):
            for lhs, rhs in n.assigns:
                name = lhs.strip()
                if _WORD.fullmatch(name) and name not in named and name != rhs.strip() and self.holds(rhs):
                    giving[name] = giving.get(name, True) and i not in self._to_acquire
        return frozenset(k for k, late in giving.items() if late)

    def _reaching_acquire(self) -> set[int]:
        """Nodes from which the acquire call can be reached: a path not yet through the acquire
        that leaves this set can never matter."""
        return _backward(self.flow.nodes, [i for i, n in enumerate(self.flow.nodes)
                                           if any(map(self._is_acquire, n.calls))], False)

    def _releasing_loops(self) -> set[int]:
        """Loop nodes whose body releases the pages: skipping such a loop is iterating it zero times
        over a count the path already showed to be empty, not a leak."""
        out: set[int] = set()
        for node in self.flow.nodes:
            if node.loop >= 0 and any((got := self._release_of(c, frozenset())) is not None
                                      and not (self._cursor and self._from_cursor(got[0])) for c in node.calls):
                lp = node.loop
                while lp >= 0 and lp not in out:
                    out.add(lp)
                    lp = self.flow.nodes[lp].loop
        return out

    # ------------------------------------------------------------------ R and conditions

    def _plain(self, node_index: int, f: Formula, st: _State) -> bool:
        """Whether a condition can neither prune nor teach anything: no atom is tested elsewhere and
        none is about the acquire's result."""
        key = (node_index, st.rnames if st.armed else None)
        got = self._plain_cache.get(key)
        if got is None:
            got = not any(a in self._shared or (st.armed and self._r_atom(a, FULL, st.rnames) is not None)
                          for a in atoms(f))
            self._plain_cache[key] = got
        return got

    def _fresh_zeroed(self, name: str, rhs: str, nx: _Next) -> None:
        """`name = kzalloc(…)`: its tested members are known to be 0 (after the assignment's own
        forgetting). A struct stored elsewhere (`priv->req = req`) may be changed through that
        other name: what was known of its members is forgotten."""
        if not self._zalloc:
            return
        members = self._zalloc.get(name)
        if members and called_name(rhs) in self.cat.zeroing_allocators:
            nx.facts = null_facts(nx.facts, members)
            return
        for v, ms in self._zalloc.items():
            if v != name and _whole(v, rhs):
                nx.facts = nx.facts.forget(set(ms))

    def _loop_entry(self, node: FlowNode, st: _State) -> tuple[_State | None, _State | bool]:
        """A `for (i = 0; i < X; …)` loop is entered exactly when X > 0, and a loop whose condition
        tests the result (`while (ret)`) exactly when that holds: the states for entering it (None:
        it cannot be entered) and for skipping it (False: it cannot be skipped)."""
        if st.armed and st.rnames and not node.entry and not FOR_EACH_CALL.match(node.text.encode()):
            f = parse(node.text, self.transparent)
            if self._about_r(f, st.rnames):
                enter, skip = self.branch(f, st, True), self.branch(f, st, False)
                return (_with(st, outcomes=enter[0], facts=enter[1]) if enter else None,
                        _with(st, outcomes=skip[0], facts=skip[1]) if skip else False)
        m = re.fullmatch(r"(\w+)\s*=\s*0", node.entry.strip())
        c = _CMP.match(node.text.replace(" ", ""))
        if m is None or c is None or c.group(1) != m.group(1) or c.group(2) not in ("<", "!="):
            return st, True
        bound = c.group(3)
        enter = self.branch(parse(f"{bound}>0"), st, True)
        skip = self.branch(parse(f"{bound}>0"), st, False)
        if skip and st.armed and bound in {r.replace(" ", "") for r in self.requested}:
            # No round over the requested count: it was 0, so "every page" is no page.
            left = (skip[0] - {PART, FULL}) | ({ZERO} if FULL in skip[0] else set())
            skip = (frozenset(left), skip[1]) if left else None
        return (_with(st, outcomes=enter[0], facts=enter[1]) if enter else None,
                _with(st, outcomes=skip[0], facts=skip[1]) if skip else False)

    def branch(self, f: Formula, st: _State, truth: bool) -> tuple[frozenset[str], Facts] | None:
        """Outcomes and facts after taking the `truth` side of `f`; None when infeasible."""
        known = st.facts.as_dict()
        zeros = st.facts.zeros
        keep = []
        for o in st.outcomes:
            v = value(f, known, lambda a, o=o: self._r_atom(a, o, st.rnames, zeros) if st.armed else None)
            if v is None or v is truth:
                keep.append(o)
        if not keep:
            return None
        shared = self._shared
        errs = {e[2] for e in st.err_released}
        # The offset below which earlier rounds' pages sit is kept even when it counts the result
        # (`start += ret`): `if (start) unpin_user_pages(pages, start)` says whether any are there.
        below = {self._offset[1]} if st.earlier and self._offset else set()
        facts = st.facts.assume(f, truth, lambda a: not set(_WORD.findall(a)) & below and (
            (a not in shared and not set(_WORD.findall(a)) & errs)
            or (st.armed and self._r_atom(a, FULL, st.rnames) is not None)))
        if facts is None:
            return None
        return frozenset(keep), facts

    # ------------------------------------------------------------------ events

    def _ours(self, arg: str, stored: frozenset[str]) -> bool:
        return self.holds(arg) or (bool(stored) and self._entry_of(arg) in stored)

    def _entry_of(self, arg: str) -> str:
        """The field an argument reaches: `sg_page(&rm->data.op_sg[i])` -> `rm->data.op_sg`."""
        a = norm_path(arg)
        m = re.fullmatch(r"(\w+)\((.*)\)", a)
        if m is not None and m.group(1) in self.cat.accessors:
            a = norm_path(m.group(2))
        return re.sub(r"\[[^\]]*\]$", "", a)

    def _before_alias(self, c: FlowCall, arg: str, late: frozenset[str] | None) -> bool:
        """Whether `arg` is named by a late alias (`Walker._late`) that has not taken the pages on
        this path (`late`: those that have; None: not asked); recorded for the closure's evidence."""
        m = _BASE_NAME.match(arg)
        if late is None or m is None or m.group(1) not in self._late or m.group(1) in late:
            return False
        self.result.before_alias.setdefault((c.line, c.column), m.group(1))
        return True

    def _release_of(self, c: FlowCall, stored: frozenset[str], late: frozenset[str] | None = None
                    ) -> tuple[str, str | None, bool] | None:
        """(argument text, count text, whether a negative count is a huge one) when `c` releases the
        tracked pages, else None (`late`: as `_before_alias` asks)."""
        rel = self.cat.release.get(c.name)
        if rel is not None and rel.arg < len(c.args) and self._ours(c.args[rel.arg], stored):
            if self._before_alias(c, c.args[rel.arg], late):
                return None
            count = c.args[rel.arg + 1] if rel.shape == "array" and rel.arg + 1 < len(c.args) else None
            return c.args[rel.arg], count, count is not None
        i = self.wrappers.get(c.name)
        if i is not None and i < 0 and -1 - i < len(c.args):
            # Handed the struct whose field holds the pages; its loop may run to a member of it.
            hc = self.helper_counts.get(c.name)
            count = c.args[-1 - i].strip() + hc.member if hc is not None and hc.member else None
            return c.args[-1 - i], count, count is not None and hc is not None and hc.unsigned
        if i is not None and 0 <= i < len(c.args) and self.holds(c.args[i]):
            if self._before_alias(c, c.args[i], late):
                return None
            hc = self.helper_counts.get(c.name)
            if hc is not None and hc.index < len(c.args):
                return c.args[i], c.args[hc.index], hc.unsigned  # a helper that releases `count` pages
            return c.args[i], None, False
        return None

    def _is_acquire(self, c: FlowCall) -> bool:
        """Whether `c` is the acquire call this walk follows."""
        return c.name == self.acq.name and c.line == self.acq.line and c.column == self.acq.column

    def _acquire_loop_body(self) -> tuple[int, list[FlowNode]]:
        """The innermost loop around the acquire (-1: none) and the nodes inside it, nested loops'
        included."""
        where = next((n.loop for n in self.flow.nodes if any(map(self._is_acquire, n.calls))), -1)
        if where < 0:
            return where, []
        body = []
        for n in self.flow.nodes:
            lp = n.loop
            while lp >= 0 and lp != where:
                lp = self.flow.nodes[lp].loop
            if lp == where:
                body.append(n)
        return where, body

    def _earlier_rounds(self) -> frozenset[str]:
        """For an acquire in a loop: the fields its loop puts the pages into through a cursor
        (`sg_set_page(sg, pages, …); sg++` with `sg = rm->data.op_sg`). The walk takes one round;
        these hold the earlier rounds' pages when it arrives."""
        if not self._cursors:
            return frozenset()
        out = set()
        for n in self._acquire_loop_body()[1]:
            for c in n.calls:
                dst = self._carrier(c)
                if dst is not None and dst in self._cursors:
                    out.add(self._cursors[dst])
        return frozenset(out)

    def _rounds_in_array(self) -> bool:
        """For an acquire in a loop that fills its array from an offset the loop advances
        (`&pages[i]` with `i++`, `pages + pinned` with `pinned += ret`): whether the pages stay in
        that array through the loop (no call in it but the acquire, a reader, a release or a free
        takes them), so that the earlier rounds' pages are still there when a round fails."""
        where, body = self._acquire_loop_body()
        moving = self._offset[1] if self._offset is not None else self._cursor
        if where < 0 or not moving or moving not in self._loop_assigned.get(where, ()):
            return False
        skip = self.cat.readers | self.cat.array_freers | frozenset(self.cat.release) | {self.acq.name}
        if self._cursor:
            skip = skip | frozenset(self.cat.accessors)  # (`sg_page(&sg[i])` names an entry, takes nothing)
        return not any(any(c.name not in skip and any(self.holds(a) for a in c.args) for c in n.calls)
                       or any(self.holds(rhs) and not (self._cursor and (lhs.strip() == self._cursor
                                                                         and steps_forward(self._cursor, rhs)
                                                                         or self._from_cursor(rhs)))
                              for lhs, rhs in n.assigns) for n in body)

    def _carrier(self, c: FlowCall) -> str | None:
        """The carrier (blank-free) a catalogue hand-off `c` puts the tracked pages into, or None."""
        h = self.cat.handoffs.get(c.name)
        if h is None or h.dst >= len(c.args) or h.src >= len(c.args) or not self.holds(c.args[h.src]):
            return None
        return norm_path(c.args[h.dst])

    def _failure_side(self, f: Formula, undo: tuple[str, bool, str]) -> bool | None:
        """The side of `f` on which the hand-off `undo` names failed (None: `f` does not test it)."""
        neg = False
        while f[0] == "not":
            neg, f = not neg, f[1]
        if f[0] != "atom":
            return None
        a, key = f[1], undo[0]
        got: bool | None = None
        if key[0] in "=!":
            # An errno result (in a variable, or the call tested where it is made): nonzero fails.
            m = _CMP.match(a)
            name = key[1:]
            subject = m.group(1).strip() if m is not None else a
            if key[0] == "=" and subject != name or key[0] == "!" and not subject.startswith(name + "("):
                return None
            zero = m is not None and m.group(3).strip() == "0"
            got = True if m is None else {"<": zero, "!=": zero or None, "==": False if zero else None}.get(m.group(2))
        elif key.startswith("@"):
            call = key[1:] + "("
            m = _CMP.match(a)
            if m is None:
                got = False if a.startswith(call) else None
            elif m.group(1).startswith(call):
                right, op = m.group(3), m.group(2)
                got = {"!=": right != "0", "<": True, "==": right == "0"}.get(op)
        elif a == key:
            got = False
        elif a in (f"IS_ERR({key})", f"IS_ERR_OR_NULL({key})", f"{key}==NULL"):
            got = True
        elif a == f"{key}!=NULL":
            got = False
        return None if got is None else got != neg

    def _derived_test(self, f: Formula) -> bool:
        return any(set(_WORD.findall(a)) & self._derived
                   or (_CMP.match(a) is not None and set(_WORD.findall(a)) & self._counted) for a in atoms(f))

    def _merge_told(self, args: tuple[str, ...], same: int | None) -> bool:
        """Whether the function learns that an add merged into the same page: it tests the add's
        same-page out-parameter, or compares a carrier's segment count (`bi_vcnt`)."""
        if same is not None and same < len(args):
            out = args[same].strip()
            if out.startswith("&") and out[1:].strip() in self._tested:
                return True
        return bool(self.cat.segment_counts & self._tested)

    def _element(self, arg: str) -> str:
        """The released expression, as the array element it is when it is one: `page` set only from
        `pages[j]` and `pages[j++]` are both `pages[j]`."""
        a = "".join(arg.split())
        a = self._elements.get(a, a)
        m = _INDEXED.fullmatch(a)
        return f"{m.group(1)}[{m.group(2)}]" if m is not None and m.group(3) == "++" else a

    def _defect(self, rule: str, line: int, column: int, msg: str, st: _State, confidence: str,
                file: str | None = None) -> None:
        key = (rule, line)
        if key in self._defects:
            return
        path = (Evidence(self.file, self.acq.line, f"{self.acq.name}() takes the pages"),) + tuple(
            Evidence(self.file, ln, m) for ln, m in st.steps)
        self._defects[key] = Defect(rule, file or self.file, line, column, self.flow.func, msg, path, confidence)

    def effects(self, node: FlowNode, st: _State) -> _State | None:
        """The state after the calls and assignments of `node` (None: the path ends here)."""
        stale_undo = st.undo is not None and st.undo[0].startswith(("@", "!"))
        if not node.calls and not node.assigns:
            return _with(st, undo=None) if stale_undo else st
        nx = _Next(st)
        if stale_undo:
            nx.undo = None  # a hand-off tested where it is called: only its own condition node can
        for c in node.calls:
            if not self._call(c, node, st, nx):
                return None
        for lhs, rhs in node.assigns:
            self._assign(lhs.strip(), rhs, node, nx)
        return nx.state()

    def _call(self, c: FlowCall, node: FlowNode, st: _State, nx: _Next) -> bool:
        """What call `c` does to the pages (False: the path ends: the acquire runs again, or an
        assertion stops the kernel)."""
        if c.name in self.cat.assertions and c.args:
            # `BUG_ON(x)`: the path goes on only where x is false.
            got = self.branch(parse(c.args[0], self.transparent), nx.state(), False)
            if got is None:
                return False
            nx.outcomes, nx.facts = got
            return True
        for v, members in self._zalloc.items() if self._zalloc else ():
            # Handed the struct, a callee may set any member; handed a member's address, that one.
            if any(_whole(v, a) for a in c.args):
                nx.facts = nx.facts.forget(set(members))
            else:
                touched = {p for p in members for a in c.args if p in "".join(a.split())}
                if touched:
                    nx.facts = nx.facts.forget(touched)
        out_args = {a.strip()[1:].strip() for a in c.args if a.strip().startswith("&")}
        if out_args & self._known_names or (out_args & self.acq.held_counts and not self._is_acquire(c)):
            nx.facts = nx.facts.forget(out_args)  # `f(&need_drop)` may set it: what was known is gone
        if out_args and nx.releases:
            # `f(&old)` may fill `old` anew: a release through it named what it held before.
            nx.releases = tuple(r if not set(_WORD.findall(r[3])) & out_args or r[3].startswith("~")
                                else r[:3] + ("~" + r[3],) for r in nx.releases)
        if self._is_acquire(c):
            if nx.armed:
                self.result.acquire_repeats = True
                return False  # around a retry loop: the first round's pages are accounted for
            nx.armed = True
            nx.offset_moved = nx.offset_reset = False
            nx.earlier = self._earlier_in_array
            if self.acq.fails_by:
                nx.outcomes = frozenset({PART, FULL} if self.acq.count_out else {FULL})
                # Nonzero (tested in a variable, or where it is called): it took nothing.
                key = "!" + self.acq.name if self.acq.fails_by == TESTED_AT_CALL else "=" + self.acq.fails_by
                nx.undo = (key, nx.handed, "")
                nx.stored = nx.stored | self._round_fields
                return True
            nx.stored = nx.stored | self._round_fields
            nx.outcomes = ALL - ({PART} if self.single else set())
            nx.rnames = frozenset({self.acq.result}) if self.acq.result else frozenset()
            for v in sorted(self.acq.held_counts):
                # (Said of every path, also where the call failed: there no page is held anyway.)
                nx.facts = positive_facts(nx.facts.forget({v}), v)
            return True
        if not nx.armed:
            return True
        if nx.undo is not None and c.lhs and c.lhs.strip() == nx.undo[0].lstrip("="):
            nx.undo = None  # the variable now holds this call's result
        eff = self.effect(c) if self.effect is not None and c.name not in self.cat.release else None
        if eff == "always-release":
            self._callee_releases.add(c.name)
        if eff == "error-release":
            # Released by the callee when it fails, kept (handed on) when it succeeds.
            if c.lhs and _WORD.fullmatch(c.lhs.strip()):
                nx.err_released = nx.err_released + ((c.line, c.name, c.lhs.strip()),)
            nx.handed = True
            return True
        h = self.cat.handoffs.get(c.name)
        dst = self._carrier(c)
        if h is not None and dst is not None:
            field_ = self._cursors.get(dst) or (dst if MEMBER_PATH.fullmatch(dst) else None)
            if field_ is not None:
                nx.stored = nx.stored | {field_}  # put into a field's carrier, directly or through a cursor
            if h.merges and nx.outcomes & HELD and not self._merge_told(c.args, h.same):
                self._defect("gup-leak", c.line, c.column,
                             f"{c.name}() may merge this page into the {h.carrier}'s last segment when it "
                             f"continues the same page, keeping one reference for both ranges; nothing here tests "
                             f"whether it merged, so the reference {self.acq.name}() took for the second range is "
                             f"never dropped", st, "medium")
        got = self._release_of(c, nx.stored, nx.late)
        if got is not None and self._cursor and self._from_cursor(got[0]):
            # Indexed from the cursor: the entries at and past it, none of those earlier rounds
            # filled below it (nor, when this round failed, any of this round's).
            nx.from_cursor = True
            if len(nx.steps) < 12:
                nx.steps = nx.steps + ((c.line, f"{c.name}() releases entries from the cursor `{self._cursor}` "
                                                f"on, not the ones below it"),)
            return True
        if got is not None and nx.offset_reset and self._offset is not None and nx.outcomes & HELD:
            m = _INDEXED.fullmatch("".join(got[0].split()))
            if m is not None and m.group(2) == self._offset[1] and norm_path(m.group(1)) == norm_path(self._offset[0]):
                # Indexed from the start again: the elements below where this round began.
                bound = loop_bound(self.flow, node.loop) if node.loop >= 0 else None
                if bound is not None and self._is_r(bound, nx.rnames):
                    # ... counted by this round's result: meant for this round's pages, it takes
                    # earlier rounds' instead.
                    self._defect("gup-release-count", c.line, c.column,
                                 f"{c.name}() releases `{m.group(1)}[{m.group(2)}]` for `{m.group(2)}` from 0 to "
                                 f"`{bound}`, but {self.acq.name}() filled `{norm_path(self._offset[0])}` from where "
                                 f"`{m.group(2)}` stood: it releases earlier rounds' pages, and this round's stay "
                                 f"held", st, "medium")
                elif len(nx.steps) < 12:
                    nx.steps = nx.steps + ((c.line, f"{c.name}() releases `{m.group(1)}[{m.group(2)}]` for "
                                                    f"`{m.group(2)}` from 0 to `{bound}`: the pages below where "
                                                    f"{self.acq.name}() began, none of its own"),)
                return True
        if got is not None and self._below_offset(got, nx.offset_moved):
            # The pages earlier acquires put below this one's offset, not this one's.
            nx.earlier = False
            if len(nx.steps) < 12:
                nx.steps = nx.steps + ((c.line, f"{c.name}() releases the {got[1].strip()} pages below "
                                                f"`{got[1].strip()}`, where {self.acq.name}() began to fill "
                                                f"`{norm_path(self._offset[0])}`: none of its own"),)  # type: ignore[index,union-attr]
            return True
        if got is None and eff == "always-release":
            # A callee that releases the pages it is handed on every path: a release of them as
            # this function names them, which a later release of the same name repeats.
            got = (next((a for a in c.args if self.holds(a)), ""), None, False)
        if got is not None:
            self._released(c, (self._element(got[0]), got[1], got[2]), node, st, nx)
            return True
        if nx.stale and c.name in self.cat.array_freers:
            # The struct (or an array of it) is freed here: this function destroys it, no teardown runs.
            gone = {norm_path(a) for a in c.args}
            nx.stale = frozenset(b for b in nx.stale if not any(
                g and (b.lstrip("@") == g or b.lstrip("@").startswith((g + "->", g + "."))) for g in gone))
        if c.name in self.cat.table_freers and nx.handed and nx.handed_into \
                and any(norm_path(a) == nx.handed_into for a in c.args):
            # The table the pages were only listed in is freed: they are the array's again.
            nx.handed, nx.handed_into = False, ""
            if len(nx.steps) < 12:
                nx.steps = nx.steps + ((c.line, f"{c.name}() frees the table they were listed in, not the pages"),)
            return True
        if c.name in self.cat.array_freers and any(self.holds(a) for a in c.args):
            if nx.outcomes & HELD and not nx.releases and not nx.handed and not nx.freed:
                # The finding stays on the exit that follows (the goto, return or break a reader
                # looks for); its message names the line that freed the array.
                nx.freed, nx.freed_col = c.line, c.column
            return True
        if eff == "release":
            # A callee that releases what it is handed (or the struct holding them).
            nx.releases = nx.releases + ((c.line, c.column, c.name, ""),)
        elif eff != "read" and (eff in ("other", OTHER_UNLESS_ERRNO) or (any(self.holds(a) for a in c.args)
                                                                         and c.name not in self.cat.dirtying)):
            self._handed(c, h, nx, eff == OTHER_UNLESS_ERRNO)
        return True

    def _below_offset(self, got: tuple[str, str | None, bool], moved: bool) -> bool:
        """Release `got` is `count = offset` pages of the array the acquire filled from that offset,
        and the offset has not moved since: only what lies below this acquire's pages."""
        return self._offset is not None and not moved and got[1] is not None \
            and norm_path(got[0]) == norm_path(self._offset[0]) and "".join(got[1].split()) == self._offset[1]

    def _released(self, c: FlowCall, got: tuple[str, str | None, bool], node: FlowNode, st: _State,
                  nx: _Next) -> None:
        """Call `c` releases the pages (`got`: the released expression, the count, whether a negative
        count is a huge one): check it against the path, record it."""
        self.result.reachable_releases.add((c.line, c.column))
        if FULL in nx.outcomes:
            self.result.full_releases.add((c.line, c.column))
        self._release_checks(c, got, node, st, nx.outcomes, nx.rnames, nx.recounted, nx.releases, nx.facts,
                             nx.err_released)
        nx.releases = nx.releases + ((c.line, c.column, c.name, got[0]),)
        if self.teardowns and node.loop >= 0:
            bound = norm_path(loop_bound(self.flow, node.loop) or "")
            if member_key(bound) in self.teardowns:
                nx.stale = nx.stale | {bound}
        if self.teardowns and nx.stored:
            # A page put into a struct member and released here: the member still holds it.
            nx.stale = nx.stale | {"@" + f for f in nx.stored if "@" + _last(f) in self.teardowns
                                   and self._entry_of(got[0]) != f}

    def _handed(self, c: FlowCall, h: Handoff | None, nx: _Next, errno_fails: bool = False) -> None:
        """Call `c` is handed the pages; remember how it would say it took nothing (`errno_fails`:
        the callee's body shows an errno exit before it looks at them)."""
        lhs = (c.lhs or "").strip()
        errno = errno_fails or c.name in self.cat.errno_handoffs
        if ((h is not None and h.zero_fails) or errno) and not lhs:
            nx.undo = (("!" if errno else "@") + c.name, nx.handed, c.name)
        elif errno and _WORD.fullmatch(lhs):
            nx.undo = ("=" + lhs, nx.handed, c.name)  # an errno in it says nothing was kept
        elif _WORD.fullmatch(lhs) and lhs not in self._scalars:
            nx.undo = (lhs, nx.handed, c.name)  # a returned pointer: NULL or an ERR_PTR says nothing was kept
        nx.handed_into = norm_path(c.args[0]) if c.name in self.cat.errno_handoffs and c.args and not nx.handed else ""
        nx.handed = True

    def _assign(self, name: str, rhs: str, node: FlowNode, nx: _Next) -> None:
        """What `name = rhs` does to the path's knowledge of the pages and of the result."""
        nx.req_alias = self._copy_of_requested(name, rhs, nx.recounted, nx.req_alias)
        if not nx.armed:
            if ERRNO.fullmatch(rhs.replace(" ", "")) and _WORD.fullmatch(name):
                # `ret = -ENOMEM;` before the acquire: a later `if (ret)` on an error path is decided.
                nx.facts = errno_facts(nx.facts.forget({name}), name)
            elif name in self._zeroed and rhs.strip() in _ZERO:
                nx.facts = zero_facts(nx.facts.forget({name}), name)
            elif _WORD.fullmatch(name):
                nx.facts = nx.facts.forget({name})
            self._fresh_zeroed(name, rhs, nx)
            return
        negative = self._negative(rhs, nx.outcomes, nx.rnames)
        if name in self._late:
            nx.late = nx.late | {name} if self.holds(rhs) else nx.late - {name}
        m = _INDEXED.fullmatch("".join(name.split()))
        into = self._cursors.get(m.group(1) if m is not None else name.lstrip("*").strip())
        if into is not None and self.holds(rhs):
            nx.stored = nx.stored | {into}  # put through a cursor into a field's array (`pfns[i] = …`)
        elif self.holds(rhs) and (name.startswith("*") or not self.holds(name)):
            if ("->" in name or "." in name) and not name.startswith("*"):
                nx.stored = nx.stored | {norm_path(name)}
            else:
                nx.handed = True
        if name in self.requested:
            nx.recounted = nx.recounted | {name}
        if name.startswith("*") and _WORD.fullmatch(name[1:].strip()):
            p = name[1:].strip()
            nx.set_out = nx.set_out - {p} if rhs.strip() in _ZERO else nx.set_out | {p}
        if name.startswith("*") and _WORD.fullmatch(name[1:].strip()) \
                and any(self._is_r(w, nx.rnames) for w in _WORD.findall(rhs)):
            self.result.count_out = name[1:].strip()  # `*pinned += page_count`: the count goes out here
        if self._is_r(rhs, nx.rnames) and ("->" in name or "." in name or name.startswith("*")):
            nx.count_kept = True
        elif self.acq.base and re.match(rf"{re.escape(self.acq.base)}\s*(->|\.)", name) \
                and " ".join(rhs.split()) not in self.requested:
            # The owner's state is updated: it knows what it holds (a copy of the requested count
            # tells it nothing of a short pin).
            nx.count_kept = True
        # A member given the result holds it too (`buf->npages = ret`): a count read from it is R's.
        held = name if _WORD.fullmatch(name) else norm_path(name) if MEMBER_PATH.fullmatch(norm_path(name)) else ""
        if held and held in nx.rnames and not self._is_r(rhs, nx.rnames):
            nx.rnames = nx.rnames - {held}
        elif held and self._is_r(rhs, nx.rnames):
            nx.rnames = nx.rnames | {held}
        if name in self.requested and name not in _WORD.findall(rhs):
            nx.releases = ()  # a new count (a count-down, `pagecount--`, in a release loop is not)
        elif self.holds(name):
            # The name now holds another value: what was released through it was the old one
            # (`put_page(kmapped); kmapped = page;`). Releases through other names stand.
            nx.releases = tuple(r for r in nx.releases if name not in _WORD.findall(r[3]))
        if nx.releases and _WORD.fullmatch(name):
            nx.releases = _index_moved(nx.releases, name, rhs)
        if self._offset is not None and name == self._offset[1]:
            nx.offset_moved = True
            if "".join(rhs.split()).isdigit() and self._offset_steps:
                nx.offset_reset = True
        if nx.undo is not None and nx.undo[0].lstrip("=") == name \
                and not any((c.lhs or "").strip() == name for c in node.calls):
            nx.undo = None  # the pointer now holds something else
        if nx.stale:
            key = norm_path(name)
            # A count reset, or the struct told: any member next to the one holding the page.
            nx.stale = frozenset(k for k in nx.stale if k != key and not k.startswith((key + ".", key + "->"))
                                 and not (k.startswith("@") and _parent(k[1:]) in (key, _parent(key))))
        nx.facts = nx.facts.forget({name})
        nx.err_released = tuple(e for e in nx.err_released if e[2] != name or e[1] in _WORD.findall(rhs))
        if negative and _WORD.fullmatch(name):
            nx.facts = errno_facts(nx.facts, name)
        elif name in self._zeroed and rhs.strip() in _ZERO:
            nx.facts = zero_facts(nx.facts, name)
        self._fresh_zeroed(name, rhs, nx)

    @classmethod
    def _error_exit(cls, ret: str, st: _State) -> bool:
        """Whether the exit returns an errno: a constant (`-EINVAL`) or a variable this path set to one,
        as such or as an error pointer (`ERR_PTR(ret)`), or either arm of a choice between two
        (`ret < 0 ? ret : -EFAULT`)."""
        return errno_value(ret, lambda name: st.facts.as_dict().get(f"{name}<0") is True)

    def _earlier_rounds_at_exit(self, node: FlowNode, st: _State) -> None:
        """gup-leak: a round of the acquire's loop failed and this error exit releases nothing, while
        the earlier rounds' pages sit in the array below the offset (`&pages[i]`) and no count of
        them is returned or kept."""
        ret = node.text
        array, offset = self._offset if self._offset is not None else (self._cursor, self._cursor)
        known = st.facts.as_dict()
        # (The failed round's own errno returned, `return ret;`, is an errno exit too.)
        errno_r = st.outcomes == {NEG} and bool(_WORD.fullmatch(ret.strip())) and self._is_r(ret.strip(), st.rnames)
        if self._cursor and not st.from_cursor:
            return  # no clean-up here: the carrier's owner may release every entry set
        if not (self._error_exit(ret, st) or errno_r) or st.count_kept or offset in _WORD.findall(ret) \
                or known.get(offset) is False or known.get(f"{offset}==0") is True:
            return  # (an offset this path tested to be 0 has nothing below it)
        line = st.jump or node.line
        where = f"put in `{array}` below `{offset}`" if self._offset is not None else \
            f"put in the entries below the cursor `{array}`, which the loop stepped past them"
        self._defect("gup-leak", line, 1,
                     f"a round of the loop around {self.acq.name}() failed and this exit releases none of the "
                     f"pages earlier rounds {where}", st, "medium")

    def _stale_at_exit(self, node: FlowNode, st: _State) -> None:
        """An error exit that leaves a struct count on entries it released: the owner's teardown,
        run when the caller drops the struct on the error, releases them again."""
        if not self._error_exit(node.text, st):
            return
        for bound in sorted(st.stale):
            held = bound.startswith("@")
            t = self.teardowns["@" + _last(bound[1:]) if held else member_key(bound)]
            what = (f"what `{bound[1:]}` holds, which this error exit (line {st.jump or node.line}) already "
                    f"released without clearing it or telling the struct" if held else
                    f"the entries `{t.bound}` counts, which this error exit (line {st.jump or node.line}) "
                    f"already released without resetting the count")
            self._defect("gup-double-release", t.line, t.column,
                         f"{t.function}() releases {what}: the {self.acq.name}() pages are released twice", st,
                         "low" if st.guessed else "medium", file=t.file)

    @cached_property
    def _r_against_variable(self) -> bool:
        """Some test of the function compares the acquire's result with a variable (`ret < n`):
        a short result may be told by a copy of the count the walk does not know for one."""
        res = (self.acq.result or "").strip()
        if not res:
            return False
        for n in self.flow.nodes:
            if n.kind not in ("cond", "loop"):
                continue
            for a in atoms(parse(n.text, self.transparent)):
                c = _CMP.match(a.replace(" ", ""))
                if c is not None and res in (c.group(1), c.group(3)):
                    other = c.group(3) if c.group(1) == res else c.group(1)
                    if not (_NUMBER.fullmatch(other) or ERRNO.fullmatch(other)):
                        return True
        return False

    def _short_uncounted_at_exit(self, node: FlowNode, st: _State) -> None:
        """gup-release-count: `return 0` (or a void return) after a pin into a struct that may have
        been short (the result never compared with the count), while the struct's count member still
        holds the requested count: the owner's teardown releases that many, slots never filled among
        them."""
        if self.acq.root_kind != "field" or self.single or st.count_kept or st.handed or st.stored \
                or self._r_against_variable:
            return
        for req in sorted((self.requested - st.recounted) | st.req_alias):
            t = self.teardowns.get(member_key(req))
            if t is None:
                continue
            ret = node.text.strip()
            returns = "nothing" if not ret else ret if ret == "0" else \
                f"the result `{ret}` to callers that test it only for 0 or an errno"
            self._defect("gup-release-count", t.line, t.column,
                         f"{t.function}() releases `{t.bound}` pages, the count requested of {self.acq.name}(); but "
                         f"{self.acq.name}() may pin fewer, and this function returns {returns} (line "
                         f"{st.jump or node.line}) without comparing its result with `{req}` or recording it: the "
                         "teardown releases slots never filled", st, "medium", file=t.file)
            return

    def at_exit(self, node: FlowNode, st: _State) -> None:
        """The checks of an exit; `return c ? a : b` whose condition tests the last hand-off that can
        fail (`rc ? rc : nr` after `rc = helper(…, pages)`) is two exits, one on each side of it."""
        t = ternary(strip_parens(node.text)) if st.armed and st.undo is not None and "?" in node.text else None
        f = parse(t[0], self.transparent) if t is not None else None
        # The side of the condition on which the hand-off failed (None: it does not test it).
        failed = self._failure_side(f, st.undo) if f is not None else None  # type: ignore[arg-type]
        if t is None or f is None or failed is None:
            self._at_exit(node, st)
            return
        undo = st.undo
        assert undo is not None
        for truth, arm in ((True, t[1]), (False, t[2])):
            got = self.branch(f, st, truth)
            if got is None:
                continue  # the path's own tests rule this arm out
            outcomes, facts = got
            if truth is not failed:
                self._at_exit(replace(node, text=arm), _with(st, outcomes=outcomes, facts=facts))
                continue
            if undo[0].startswith("="):
                facts = errno_facts(facts, undo[0][1:])
            self._at_exit(replace(node, text=arm), _with(
                st, handed=undo[1], facts=facts,
                outcomes=outcomes if undo[2] else frozenset({PART} if self.acq.kept_on_failure else {NEG})))

    def _at_exit(self, node: FlowNode, st: _State) -> None:
        if st.stale and st.armed:
            self._stale_at_exit(node, st)
        if st.armed and st.earlier and not (st.outcomes & HELD) and not (st.releases or st.handed or st.stored):
            self._earlier_rounds_at_exit(node, st)
        if st.armed and PART in st.outcomes and node.text.strip() in ("0", "") and not (st.releases or st.freed):
            # (`return 0`, or the end of a void function.)
            self.result.short_success = self.result.short_success or node.text.strip() == "0"
            self._short_uncounted_at_exit(node, st)
        elif st.armed and PART in st.outcomes and not (st.releases or st.freed) and self.teardowns \
                and self.acq.root_kind == "field" and self.callers_test_sign is not None \
                and self._is_r(node.text.strip(), st.rnames) and self.callers_test_sign():
            # (The result returned as it is, to callers that only ask whether it is 0 or an errno.)
            self._short_uncounted_at_exit(node, st)
        error_exit = st.armed and self._error_exit(node.text, st)
        if error_exit and st.releases and not st.count_kept:
            self.result.released_on_error = True
        elif error_exit and (st.outcomes & HELD or st.count_kept):
            # (A count recorded in the owner's struct on the way out, `a->pinned = 0`, says what
            # is left: a caller's release by it is no second release.)
            self.result.held_on_error = True
        if error_exit and st.outcomes & HELD and not (st.releases or st.handed or st.stored) \
                and (self.acq.root_kind == "field" or (self.acq.root_kind == "param" and st.count_kept)):
            # (In the caller's own array with no count recorded, the leak is this function's.)
            self.result.kept_on_error = True
        if st.armed and st.outcomes & HELD and node.text and (
                self.holds(node.text.strip()) or self._is_r(node.text.strip(), st.rnames)):
            got = self.result.set_when_held
            self.result.set_when_held = st.set_out if got is None else got & st.set_out
        if not st.armed or not (st.outcomes & HELD) or st.releases or st.handed or st.stored:
            return
        ret = node.text
        if ret and not st.freed and (self.holds(ret) or any(self._is_r(w, st.rnames) for w in _WORD.findall(ret))
                                     or any(w in st.rnames for w in _WORD.findall(ret))):
            return  # the pages, or their count, go back to the caller (unless their array was freed)
        partial_only = FULL not in st.outcomes
        if not partial_only and not st.freed and not (error_exit and (
                self.acq.root_kind in ("local", "param") or self.dropped)):
            return  # every page may be held and none released: ownership went where the walk cannot see
        if self.acq.root_kind == "local":
            # Every page may be held at an error exit that neither releases nor hands them on: the
            # function's own array, so nobody else can release them.
            conf = "high" if partial_only or st.freed else "medium"
        elif st.freed:
            conf = "high" if partial_only else "medium"
        elif ERRNO.fullmatch(ret.replace(" ", "")) and partial_only and not st.count_kept:
            # The caller's array or a struct's: an error return that records no count leaves
            # nobody knowing how many of its slots hold pages.
            conf = "medium"
        elif error_exit and self.acq.root_kind == "param" and not st.count_kept:
            # The caller's array, every page held, and an errno back: a caller that sees the error
            # has no count to release by.
            conf = "medium"
        elif error_exit and self.dropped:
            # In the struct the caller frees on this error, with nothing released on the way.
            conf = "medium"
        else:
            return
        if st.bypassed:
            conf = "low"
        line = st.jump or node.line
        if st.freed and line > st.freed + _NEAR_EXIT:
            line = st.freed  # the exit is far from where the array went: the free is the place
        col = st.freed_col if st.freed and line == st.freed else 1
        what = "a short count" if partial_only else "the pages"
        freed = f", and the array is freed at line {st.freed}" if st.freed else (
            f", and the callers free the struct holding them in `{self.acq.base}` when this function "
            "returns an error" if self.dropped and error_exit and self.acq.root_kind == "field" else "")
        holder = self.acq.base or self._pages_arg
        took = f"returned {what}" if not (self.acq.kept_on_failure and partial_only) else \
            f"failed with pages still pinned in `{holder}`"
        self._defect("gup-leak", line, col, f"{self.acq.name}() {took} but this exit releases none of them{freed}",
                     st, conf)

    # ------------------------------------------------------------------ the walk

    def run(self) -> PathResult:
        nodes = self.flow.nodes
        start = _State(0, False, ALL, Facts(), frozenset(), frozenset(), (), False, 0, (), 0)
        todo = [start]
        seen: set[tuple] = set()
        n = 0
        while todo:
            st = todo.pop()
            # Not the path taken (the first one decides), except where the pages are still held: there
            # each exit that leads here is a leak of its own (`goto bail` from two places).
            carrier = st.armed and not st.releases and not st.handed and bool(st.outcomes & HELD)
            key = (st.node, st.armed, st.outcomes, st.facts, st.rnames, st.in_loops, st.releases, st.handed,
                   bool(st.freed), st.stored, st.recounted, st.count_kept, st.bypassed, st.guessed,
                   st.jump if carrier else 0, st.req_alias, st.r_tested, st.count_tested, st.undo, st.stale,
                   st.offset_moved, st.offset_reset, st.earlier, st.handed_into, st.late, st.from_cursor,
                   st.undecided, st.set_out)
            if key in seen:
                continue
            seen.add(key)
            n += 1
            if n > MAX_STATES:
                self.result.complete = False
                self.result.defects = []
                return self.result
            if not st.armed and st.node not in self._to_acquire:
                continue
            node = nodes[st.node]
            nxt = self.effects(node, st)
            if nxt is None:
                continue
            st = nxt
            if node.kind == "return":
                if st.armed and node.text and self._is_r(node.text, st.rnames):
                    self.result.r_returned |= st.outcomes
                if st.armed and node.text:
                    self._count_return(node, st)
                if st.armed and st.jump == 0:
                    st = _with(st, jump=node.line)
                self.at_exit(node, st)
                continue
            if node.kind == "stmt" and st.armed and st.jump == 0 and (node.text.startswith("goto") or (
                    node.text == "break" and node.loop >= 0 and node.succ == (nodes[node.loop].succ[1],))):
                st = _with(st, jump=node.line)  # a goto, or a break out of a loop: the way out it takes
            if node.kind == "loop":
                if st.node in st.in_loops:
                    if node.text.strip() in ("1", "true"):
                        continue  # `for (;;)`: the way out is a break, never the loop's end
                    todo.append(_with(st, node=node.succ[1], in_loops=st.in_loops - {st.node}))
                else:
                    enter, skip_ok = self._loop_entry(node, st)
                    skip = st if isinstance(skip_ok, bool) else skip_ok
                    if enter is not None:
                        # Whatever the body assigns may have changed in earlier rounds (the walk
                        # takes one): `last = 0` before the loop says nothing about `last` inside it.
                        changed = self._loop_assigned.get(st.node)
                        if changed:
                            enter = _with(enter, facts=enter.facts.forget(changed))
                        todo.append(_with(enter, node=node.succ[0], in_loops=st.in_loops | {st.node}))
                    if skip_ok is False:
                        continue
                    if st.armed and st.node in self._loop_releases and not st.releases:
                        # Skipping a releasing loop: the count it runs over was empty on this path.
                        skip = _with(skip, releases=((node.line, 0, "(loop)", ""),))
                    elif st.armed and enter is not None and node.succ[0] in self._to_release \
                            and node.succ[1] not in self._to_release and not (
                                isinstance(skip_ok, _State) and skip_ok.outcomes != st.outcomes):
                        # Skipping, for a count nothing bounds, a loop that hands the pages on.
                        skip = _with(skip, bypassed=True)
                    todo.append(_with(skip, node=node.succ[1]))
                continue
            if node.kind == "cond" and node.text != "#if":
                f = parse(node.text, self.transparent)
                plain = self._plain(st.node, f, st) and not _tests_any(f, st.err_released) \
                    and not (st.earlier and self._offset is not None and _mentions(f, {self._offset[1]}))
                sides = [(truth, succ, (st.outcomes, st.facts) if plain else self.branch(f, st, truth))
                         for truth, succ in ((True, node.succ[0]), (False, node.succ[1]))]
                both = all(got is not None for _, _, got in sides)
                failed = self._failure_side(f, st.undo) if st.armed and st.undo is not None else None
                for truth, succ, got in sides:
                    if got is None:
                        continue
                    other = node.succ[1] if truth else node.succ[0]
                    bypass = st.bypassed or (both and st.armed and other in self._to_release
                                             and succ not in self._to_release and not self._about_r(f, st.rnames)
                                             and st.node not in self._fresh_checks and not self._derived_test(f)
                                             and failed is None)
                    guessed = st.guessed or (both and st.armed and bool(st.releases) and not self._about_r(f, st.rnames))
                    undecided = st.undecided or (both and st.armed and failed is None
                                                 and not self._about_r(f, st.rnames))
                    outcomes, facts = got
                    if failed is truth and st.undo[0].startswith("="):  # type: ignore[index]
                        facts = errno_facts(facts, st.undo[0][1:])  # type: ignore[index] # what it returned is an errno
                    if failed is truth and not st.undo[2]:  # type: ignore[index]
                        # The acquire (or its wrapper) itself failed: nothing taken, unless the
                        # wrapper leaves pages pinned in the struct its caller passed.
                        outcomes = frozenset({PART} if self.acq.kept_on_failure else {NEG})
                    steps = st.steps
                    jump = st.jump
                    if st.armed:
                        if len(steps) < 12:
                            told = (f": {st.undo[2] or self.acq.name}() failed" + (
                                ", and may have left pages pinned in the struct" if self.acq.kept_on_failure
                                and not st.undo[2] else " and took nothing")) \
                                if failed is truth else ""  # type: ignore[index]
                            steps = steps + ((node.line, f"`{node.text}` is {'true' if truth else 'false'}{told}"),)
                    todo.append(_with(st, node=succ, outcomes=outcomes, facts=facts, steps=steps, jump=jump,
                                      bypassed=bypass, guessed=guessed, undecided=undecided,
                                      handed=st.undo[1] if failed is truth else st.handed,
                                      r_tested=st.r_tested or (st.armed and self._about_r(f, st.rnames)),
                                      count_tested=st.count_tested or (st.armed and self._tests_count(f, st.rnames))))
                continue
            for s in node.succ:
                todo.append(_with(st, node=s))
        self._released_count_returned()
        self.result.defects = sorted(self._defects.values(), key=lambda d: (d.line, d.rule))
        return self.result

    def _count_return(self, node: FlowNode, st: _State) -> None:
        """Note an exit that returns the result (or the requested count) with the pages kept or
        handed on (what a positive result means to the callers), and one that returns a short
        result whose pages this path released."""
        text = " ".join(node.text.split())
        real = [r for r in st.releases if r[0] > 0 and r[2] != "(loop)"]
        if self._is_r(text, st.rnames) and real and PART in st.outcomes and FULL not in st.outcomes \
                and not st.handed:
            self._released_returns.append((node.line, real[0][0], real[0][2], st))
        elif not st.releases and st.outcomes & HELD and (self._is_r(text, st.rnames)
                                                          or text in self.requested - st.recounted):
            # (Not past a release loop that ran zero times: that exit is the release's own.)
            self._held_return = self._held_return or node.line

    def _released_count_returned(self) -> None:
        """gup-double-release: a short result returned after its pages were released, by a function
        whose other exit returns the count of pages it keeps (sg's st_map_user_pages(): the caller
        reads both as pages mapped and its teardown releases them again)."""
        if not self._held_return:
            return
        for line, rline, api, st in self._released_returns:
            self._defect("gup-double-release", line, 1,
                         f"{self.flow.func}() returns a short {self.acq.name}() result after {api}() released "
                         f"those pages (line {rline}), as it returns the count of pages it keeps at line "
                         f"{self._held_return}: a caller that takes a positive result as pages held releases "
                         "them again", st, "medium")


def _backward(nodes: tuple[FlowNode, ...], start: list[int], skip_back_edges: bool,
              stop: frozenset[int] = frozenset()) -> set[int]:
    """The nodes from which one of `start` can be reached (optionally not through a loop's back edge,
    and neither through nor from the nodes of `stop` unless they are among `start`)."""

    def inside(i: int, lp: int) -> bool:
        while i >= 0:
            if i == lp:
                return True
            i = nodes[i].loop
        return False

    preds: dict[int, list[int]] = {}
    for i, node in enumerate(nodes):
        for s in node.succ:
            if skip_back_edges and nodes[s].kind == "loop" and inside(node.loop, s):
                continue
            preds.setdefault(s, []).append(i)
    seen = set(start)
    todo = list(start)
    while todo:
        for p in preds.get(todo.pop(), ()):
            if p not in seen and p not in stop:
                seen.add(p)
                todo.append(p)
    return seen


def _accumulators(flow: Flow, res: str) -> frozenset[str]:
    """Variables that add `res` to themselves (`pages_done += ret`) and are otherwise only set to
    constants."""
    adding: set[str] = set()
    other: set[str] = set()
    for n in flow.nodes:
        for lhs, rhs in n.assigns:
            name = lhs.strip()
            if not _WORD.fullmatch(name) or name == res:
                continue
            r = "".join(rhs.split())
            if r.startswith(name + "+") and res in _WORD.findall(r):
                adding.add(name)
            elif not r.isdigit():
                other.add(name)
    return frozenset(adding - other)


def _index_moved(releases: tuple[tuple[int, int, str, str], ...], name: str, rhs: str
                 ) -> tuple[tuple[int, int, str, str], ...]:
    """The releases of array elements after index `name` is set to `rhs`. A step (`j++`, `j += n`,
    `ret--` counting down) leaves the released element behind (`<pages[j]`: one before the index) — a later
    release of `pages[j]` is another page — until the index is reset to a constant (`j = 0`: the
    walk over the array starts again); any other value keeps them as released pages no later
    release can name (`~pages[j]`)."""
    r = "".join(rhs.split())
    step = r in (f"{name}++", f"++{name}", f"{name}--", f"--{name}") or r.startswith((f"{name}+", f"{name}-"))
    reset = r.isdigit()
    out = []
    for rel in releases:
        m = _INDEXED.fullmatch(rel[3])
        if m is None or m.group(2) != name:
            out.append(rel)
        elif step:
            out.append(rel[:3] + ("<" + rel[3].lstrip("<"),))
        elif reset and rel[3].startswith("<"):
            out.append(rel[:3] + (rel[3][1:],))
        else:
            out.append(rel[:3] + ("~" + rel[3].lstrip("<"),))  # released, but no longer nameable
    return tuple(out)


def _tests_any(f: Formula, err_released: tuple[tuple[int, str, str], ...]) -> bool:
    """Whether a condition tests the result of a call that releases the pages when it fails."""
    return _mentions(f, {e[2] for e in err_released})


def _mentions(f: Formula, names: set[str]) -> bool:
    """Whether an atom of condition `f` names one of `names`."""
    return bool(names) and any(set(_WORD.findall(a)) & names for a in atoms(f))


def _with(st: _State, **kw) -> _State:  # type: ignore[no-untyped-def]
    # NOTE: the frozen dataclass's __init__ sets each field through object.__setattr__ (2.9 µs);
    # filling the new instance's __dict__ directly gives the same value in 0.6 µs, and a walk
    # makes tens of thousands of states.
    new = object.__new__(_State)
    d = new.__dict__
    d.update(st.__dict__)
    d.update(kw)
    return new


def walk(flow: Flow, acq: Acquire, holds: Callable[[str], bool], cat: Catalogue, file: str,
         release_wrappers: dict[str, int] | None = None, effect: Effect | None = None,
         helper_counts: dict[str, HelperCount] | None = None, teardowns: dict[str, Teardown] | None = None,
         promoted: frozenset[str] = frozenset(), dropped: bool = False,
         callers_test_sign: Callable[[], bool] | None = None) -> PathResult:
    """Walk every path of `flow` through the acquire `acq`; see the module docstring.

    `effect(call)` says what a call does with the pages it is handed (or with the struct holding
    them): "read" (they stay here), "release" (on some path), "always-release" (on every path),
    "error-release" (on its errno exits), "other" (kept elsewhere: a hand-off), or None when it
    cannot tell (a call that names the pages is then a hand-off). `teardowns` are the closure's
    releases in other functions by count or member (`Analyzer.teardowns`); `promoted`, the
    requested counts C converts a signed result to unsigned against; `dropped`, that the pages sit in
    a field of a struct the callers free when this function returns an error; `callers_test_sign()`,
    that the callers of this function test the result it returns only for 0 or an errno."""
    return Walker(flow, acq, holds, cat, file, release_wrappers or {}, effect, helper_counts, teardowns,
                  promoted, dropped, callers_test_sign).run()


def _whole(name: str, text: str) -> bool:
    """Whether `text` names the variable `name` itself, not only one of its members
    (`priv->req = req`, `init(req)`, `(void *)req`; not `req->pages`)."""
    return re.search(rf"(?<![\w.>]){re.escape(name)}\b(?!\s*(?:->|\.))", text) is not None


def _last(path: str) -> str:
    """`rm->atomic.op_sg` -> `op_sg`."""
    members = FIELDS.findall(path)
    return members[-1] if members else path


def _parent(path: str) -> str:
    """`rm->atomic.op_sg` -> `rm->atomic` ("" for a plain name)."""
    m = re.match(r"(.*)(?:->|\.)[A-Za-z_]\w*$", path)
    return m.group(1) if m else ""


def steps_forward(name: str, rhs: str) -> bool:
    """`name = rhs` steps `name` forward (`name++`, `name += n`, `name = name + n`)."""
    r = "".join(rhs.split())
    return r in (f"{name}++", f"++{name}") or r.startswith(f"{name}+")


def member_key(expr: str) -> str:
    """A struct count's path without its base variable: `rm->data.op_nents` -> `data.op_nents` ("" for a
    plain name)."""
    parts = re.split(r"->|\.", "".join(expr.split()).lstrip("&*"))
    return ".".join(parts[1:]) if len(parts) > 1 and all(_WORD.fullmatch(p) for p in parts) else ""


__all__ = ["Acquire", "PathResult", "TESTED_AT_CALL", "Teardown", "member_key", "walk", "atoms", "feasible_calls",
           "shared_atoms", "steps_forward"]
