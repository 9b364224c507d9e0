"""What a path walk needs to know about a whole function before walking it, computed once per flow.

Pure: a `Flow` (audit/flow.py) and the catalogue's transparent condition macros in, sets of atoms and
names out. Which condition atoms are worth remembering on a path (tested more than once, or about a
variable the function sets to an errno constant or to 0), which variables hold a known constant,
what each loop's body assigns; and `feasible_calls`, the calls some path from the entry reaches
without contradicting its own conditions. Several walks of one function (one per acquire, per
wrapper caller) share the answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from audit.cexpr import ERRNO, IDENT, strip_parens, ternary
from audit.catalogue import Catalogue
from audit.conditions import Facts, atoms, parse
from audit.flow import Flow
from audit.roots import MEMBER_PATH, called_name

_WORD = IDENT


@dataclass(frozen=True)
class FlowFacts:
    """Per-function facts shared by every walk of that function."""

    shared: frozenset[str]
    """Atoms whose value a path remembers: tested twice, or about an errno- or 0-valued variable."""
    zeroed: frozenset[str]
    """Variables set to 0 somewhere (and never through a pointer) that some condition tests."""
    known_names: frozenset[str]
    """Names some remembered atom mentions (a call given their address forgets those facts)."""
    loop_assigned: dict[int, frozenset[str]]
    """Loop node -> the plain variables its body assigns."""
    cursors: dict[str, str]
    """Variables only ever set to one struct field, besides stepping (`sg = rm->data.op_sg; … sg++`)
    -> that field, blanks removed: what is put through the cursor is put into the field's array."""
    elements: dict[str, str]
    """Variables only ever set to one array element (`page = pages[j]`) -> that element, blanks removed:
    releasing the variable releases the element."""
    zero_members: dict[str, frozenset[str]]
    """Variables given memory a zeroing allocator returns (`req = kzalloc(…)`) -> their members that
    conditions test (`req->page_list`): right after the allocation each is 0 or NULL."""
    zero_member_atoms: frozenset[str]
    """The condition atoms that test those members (a path's facts decide them)."""


_CACHE: dict[int, tuple[Flow, FlowFacts]] = {}


def flow_facts(flow: Flow, transparent: frozenset[str], zeroing: frozenset[str]) -> FlowFacts:
    """The facts of `flow` (cached while the flow lives; a flow belongs to one function). `zeroing`:
    the catalogue's allocators of zeroed memory (one run asks with one catalogue)."""
    got = _CACHE.get(id(flow))
    if got is not None and got[0] is flow:
        return got[1]
    if len(_CACHE) > 4096:
        _CACHE.clear()
    zeroed = _zeroed_names(flow)
    shared = shared_atoms(flow, transparent) | _errno_atoms(flow, transparent) | frozenset(
        a for node in flow.nodes if node.kind == "cond" and node.text != "#if"
        for a in atoms(parse(node.text, transparent)) if set(_WORD.findall(a)) & zeroed)
    loop_assigned: dict[int, set[str]] = {}
    for n in flow.nodes:
        names = {lhs.strip() for lhs, _ in n.assigns if _WORD.fullmatch(lhs.strip())}
        lp = n.loop
        while names and lp >= 0:
            loop_assigned.setdefault(lp, set()).update(names)
            lp = flow.nodes[lp].loop
    members, member_atoms = _zeroed_members(flow, transparent, zeroing)
    ff = FlowFacts(shared, zeroed, frozenset(w for a in shared for w in _WORD.findall(a)),
                   {k: frozenset(v) for k, v in loop_assigned.items()}, _cursors(flow), _one_value(flow, _ELEMENT, False),
                   members, member_atoms)
    _CACHE[id(flow)] = (flow, ff)
    return ff


_ELEMENT = re.compile(r"[A-Za-z_]\w*(?:(?:->|\.)[A-Za-z_]\w*)*\[[A-Za-z_]\w*\]")


_CURSOR = re.compile(rf"({MEMBER_PATH.pattern})(?:\+[\w.>-]+)?")
"""A cursor's value: a field's array, from its start or from an offset (`region->mreg_pfns + done`)."""


def _cursors(flow: Flow) -> dict[str, str]:
    """Variables that only ever point into one field's array -> that field (blanks removed)."""
    return {k: m.group(1) for k, v in _one_value(flow, _CURSOR, True).items()
            if (m := _CURSOR.fullmatch(v)) is not None}


def _one_value(flow: Flow, pattern: re.Pattern[str], steps: bool) -> dict[str, str]:
    """Plain variables every assignment of which gives them the same (blank-free) value, when that
    value matches `pattern`; `steps` ignores stepping assignments (`sg++`, `sg += n`)."""
    seen: dict[str, set[str]] = {}
    for n in flow.nodes:
        for lhs, rhs in n.assigns:
            name, r = lhs.strip(), "".join(rhs.split())
            if not _WORD.fullmatch(name):
                continue
            if steps and (r in (f"{name}++", f"++{name}") or r.startswith(f"{name}+")):
                continue
            seen.setdefault(name, set()).add(r)
    return {name: next(iter(vals)) for name, vals in seen.items()
            if len(vals) == 1 and pattern.fullmatch(next(iter(vals)))}


SIGN_TESTS: dict[str, Callable[[int], bool]] = {
    "": lambda sign: sign != 0, "<0": lambda sign: sign < 0, "!=0": lambda sign: sign != 0,
    "==0": lambda sign: sign == 0, ">0": lambda sign: sign > 0, ">=0": lambda sign: sign >= 0,
    "<=0": lambda sign: sign <= 0,
}
"""The usual tests of a value's sign, as condition atoms spell them after the name (`ret`, `ret<0`,
…), and what each says of a value of sign -1, 0 or 1."""


def _sign_facts(facts: Facts, name: str, sign: int) -> Facts:
    """`name` holds a value of this sign (-1: a negative errno, 0: zero): what that says about the
    usual tests of it."""
    known = dict(facts.known)
    for test, holds in SIGN_TESTS.items():
        known[name + test] = holds(sign)
    return Facts(tuple(sorted(known.items())), facts.pending)


def errno_facts(facts: Facts, name: str) -> Facts:
    """`name` holds a negative errno: what that says about the usual tests of it."""
    return _sign_facts(facts, name, -1)


def failure_test(atom: str, names: set[str], tests: frozenset[str]) -> bool:
    """Whether `atom` tests one of `names` (variables or member paths, blanks removed) for failure:
    `x`, `x<0`, `x!=0`, `x==NULL`, `IS_ERR(x)`."""
    m = re.fullmatch(r"(\w+)\((\w+(?:(?:->|\.)\w+)*)\)", atom)
    if m is not None:
        return m.group(1) in tests and m.group(2) in names
    m = re.fullmatch(r"(\w+(?:(?:->|\.)\w+)*)(?:(<|!=|==)(0|NULL))?", atom)
    return m is not None and m.group(1) in names


def zero_facts(facts: Facts, name: str) -> Facts:
    """`name` was just set to 0."""
    return _sign_facts(facts, name, 0)


def positive_facts(facts: Facts, name: str) -> Facts:
    """`name` holds a count above 0."""
    return _sign_facts(facts, name, 1)


def null_facts(facts: Facts, names: frozenset[str]) -> Facts:
    """Each of `names` holds 0 or NULL (members of memory a zeroing allocator just returned)."""
    for name in sorted(names):
        facts = _sign_facts(facts, name, 0)
    known = dict(facts.known)
    for name in names:
        known[f"{name}==NULL"], known[f"{name}!=NULL"] = True, False
    return Facts(tuple(sorted(known.items())), facts.pending)


ZERO_VALUES = frozenset({"0", "NULL"})
"""What a variable is set to when it is set to nothing (a count's 0, a pointer's NULL)."""


def _zeroed_names(flow: Flow) -> frozenset[str]:
    """Variables set to 0 (or NULL) somewhere and tested by some condition: a path that set one
    knows it."""
    names = {lhs.strip() for node in flow.nodes for lhs, rhs in node.assigns
             if rhs.strip() in ZERO_VALUES and _WORD.fullmatch(lhs.strip())}
    if not names:
        return frozenset()
    # A variable whose address is taken can change behind the walk's back (`p = &x; *p = 1`).
    names -= {m for node in flow.nodes for text in [node.text, *(r for _, r in node.assigns)]
              for m in re.findall(r"&\s*([A-Za-z_]\w*)", text)}
    tested: set[str] = set()
    for node in flow.nodes:
        if node.kind == "cond" and node.text != "#if":
            tested.update(_WORD.findall(node.text))
    return frozenset(names & tested)


_MEMBER_ATOM = re.compile(r"([A-Za-z_]\w*)->[A-Za-z_]\w*(?![\w.\[(]|->)")
"""A condition atom about one member of a struct pointer (`req->page_list`, `req->map==NULL`)."""


def _zeroed_members(flow: Flow, transparent: frozenset[str], zeroing: frozenset[str]
                    ) -> tuple[dict[str, frozenset[str]], frozenset[str]]:
    """`FlowFacts.zero_members` and `zero_member_atoms`."""
    allocs = {lhs.strip() for n in flow.nodes for lhs, rhs in n.assigns
              if _WORD.fullmatch(lhs.strip()) and called_name(rhs) in zeroing} if zeroing else set()
    out: dict[str, set[str]] = {}
    tested: set[str] = set()
    for n in flow.nodes if allocs else ():
        if n.kind in ("cond", "loop") and n.text != "#if" and "->" in n.text:
            for a in atoms(parse(n.text, transparent)):
                m = _MEMBER_ATOM.match(a)
                if m is not None and m.group(1) in allocs:
                    out.setdefault(m.group(1), set()).add(m.group(0))
                    tested.add(a)
    return {k: frozenset(v) for k, v in out.items()}, frozenset(tested)


def _errno_atoms(flow: Flow, transparent: frozenset[str]) -> frozenset[str]:
    """Atoms of conditions that test a variable some statement sets to an errno constant: what a
    path knows about them (`ret = -ENOMEM; … if (ret)`) decides the branch."""
    names = {lhs.strip() for node in flow.nodes for lhs, rhs in node.assigns
             if ERRNO.fullmatch(rhs.replace(" ", "")) and _WORD.fullmatch(lhs.strip())}
    if not names:
        return frozenset()
    out = set()
    for node in flow.nodes:
        if node.kind == "cond" and node.text != "#if":
            out.update(a for a in atoms(parse(node.text, transparent)) if set(_WORD.findall(a)) & names)
    return frozenset(out)


def shared_atoms(flow: Flow, transparent: frozenset[str]) -> frozenset[str]:
    """Atoms tested by more than one condition of a function: only what is known about those can
    prune a later branch (facts about the rest would only multiply the states)."""
    count: dict[str, int] = {}
    for node in flow.nodes:
        # (A returned choice, `return rc ? rc : n;`, is a condition too: the walk splits it.)
        t = ternary(strip_parens(node.text)) if node.kind == "return" and "?" in node.text else None
        if (node.kind == "cond" and node.text != "#if") or t is not None:
            for a in set(atoms(parse(t[0] if t is not None else node.text, transparent))):
                count[a] = count.get(a, 0) + 1
    return frozenset(a for a, k in count.items() if k > 1)


def feasible_calls(flow: Flow, cat: Catalogue, names: frozenset[str], budget: int = 4000) -> set[tuple[int, int]] | None:
    """(line, column) of the calls of `names` in `flow` that some path from the function's entry
    reaches without contradicting the conditions it took (`if (kernel) { if (!kernel) put_page(p); }`
    reaches no put_page). None when the walk ran out of budget (then nothing is ruled out)."""
    nodes = flow.nodes
    shared = shared_atoms(flow, cat.transparent_conditions)
    out: set[tuple[int, int]] = set()
    todo: list[tuple[int, Facts, frozenset[int]]] = [(0, Facts(), frozenset())]
    seen: set[tuple[int, Facts, frozenset[int]]] = set()
    while todo:
        item = todo.pop()
        if item in seen:
            continue
        seen.add(item)
        if len(seen) > budget:
            return None
        i, facts, loops = item
        node = nodes[i]
        out.update((c.line, c.column) for c in node.calls if c.name in names)
        for lhs, _ in node.assigns:
            facts = facts.forget({lhs.strip()})
        if node.kind == "loop":
            if i in loops:
                todo.append((node.succ[1], facts, loops - {i}))
            else:
                todo.append((node.succ[1], facts, loops))
                todo.append((node.succ[0], facts, loops | {i}))
        elif node.kind == "cond" and node.text != "#if":
            f = parse(node.text, cat.transparent_conditions)
            for truth, succ in ((True, node.succ[0]), (False, node.succ[1])):
                nf = facts.assume(f, truth, lambda a: a not in shared)
                if nf is not None:
                    todo.append((succ, nf, loops))
        else:
            todo.extend((s, facts, loops) for s in node.succ)
    return out
