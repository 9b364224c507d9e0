"""Reuse decisions: which tests in one write-fault, swap-in or collapse function decide whether a
page is reused instead of copied, and what guards each of them.

A test (`Atom`) is a reuse predicate call or a comparison of a counter. It is *decisive* when its
truth decides reuse; a mapcount test is safe when a refcount or anon-exclusive test guards the same
path: conjoined with it, in an enclosing `if`, or in an earlier bail-out branch
(`if (page_count(page) != 1) goto copy;`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from audit.cow.idioms import GUARDS, MAPCOUNT, CowCatalogue
from audit.cow.syntax import asserted, callee, comparison, idiom_text, operator, statement
from audit.parse import Node
from audit.sourcefile import Function, SourceFile, callees

_CONTAINERS = frozenset(
    {"compound_statement", "preproc_if", "preproc_ifdef", "preproc_else", "preproc_elif", "preproc_elifdef"}
)
_JUMPS = frozenset({"goto_statement", "return_statement", "break_statement", "continue_statement"})


@dataclass
class Atom:
    """One test in a function: a predicate call or a comparison of a counter."""

    node: Node
    """The call (predicate) or the comparison (counter)."""
    kinds: set[str]
    """mapcount / refcount / exclusive; a comparison of mapcount with refcount has both."""
    positive: bool
    """True when the test being true means the page may be reused (`== 1`, `reuse_swap_page()`)."""
    text: str
    """The test's source text."""
    line: int
    """1-based line of the idiom's callee."""
    callees: list[str] = field(default_factory=list)
    """The idiom calls inside it."""


@dataclass(frozen=True)
class Decision:
    """Where a test is used as a decision: an `if` condition, an assignment or a return."""

    kind: str
    """"if", "assign", "return" or "ternary"."""
    stmt: Node
    """The statement holding the decision."""
    root: Node
    """The top of the boolean expression (inside the `if` parentheses)."""
    negated: bool
    """An odd number of `!` between the test and `root`."""
    chain: tuple[tuple[Node, str, bool], ...]
    """Each `&&`/`||` between the test and `root`: (node, operator, negated below it)."""


@dataclass(frozen=True)
class Verdict:
    """How one test decides reuse in its function."""

    atom: Atom
    """The test."""
    decisive: bool
    """The test decides whether the page is reused (not a side check)."""
    guard: Atom | None
    """A refcount/exclusive test that guards the same path, if any."""
    conjoined: bool = False
    """The guard is part of the same condition (`a || b`), not an enclosing or earlier test."""


class ReuseAnalyzer:
    """Classifies every reuse test in one function."""

    def __init__(self, cat: CowCatalogue, sf: SourceFile, fn: Function, demoted: dict[str, str]) -> None:
        self.cat = cat
        self.sf = sf
        self.fn = fn
        self.demoted = demoted
        self.atoms = self._atoms()

    def _atoms(self) -> list[Atom]:
        """Every live, non-assertion test in the function, in source order."""
        by_range: dict[tuple[int, int], Atom] = {}
        src = self.sf.src
        for name, call in self.sf.calls(self.fn.start, self.fn.end, self.cat.reuse_names):
            kp = self.cat.kind_of(name)
            if kp is None:
                continue
            kind, is_pred = kp
            # NOTE: a predicate whose definition in this tree counts something else (a 2.6.11
            # can_share_swap_page() counting page_count()) is classified by what it counts.
            kind = self.demoted.get(name, kind)
            if is_pred:
                node, positive = call, True
            else:
                cmp = comparison(call)
                if cmp is None:
                    continue
                node, positive = cmp
            if self.sf.dead(node) or asserted(self.cat, self.fn, node):
                continue
            key = (node.start_byte, node.end_byte)
            atom = by_range.get(key)
            if atom is None:
                atom = Atom(node, set(), positive, idiom_text(src, node), self.sf.lines.line_of(call.start_byte))
                by_range[key] = atom
            atom.kinds.add(kind)
            atom.callees.append(name)
        return sorted(by_range.values(), key=lambda a: a.node.start_byte)

    def _inside_fn(self, node: Node) -> bool:
        return node.start_byte >= self.fn.start and node.end_byte <= self.fn.end

    def decision(self, node: Node) -> Decision | None:
        """Climb from a test to the decision that uses it, through `!`, `&&`, `||`, parentheses
        and `likely()`; None when the test feeds something else (a call argument, a loop)."""
        n, neg = node, False
        chain: list[tuple[Node, str, bool]] = []
        while True:
            p = n.parent
            if p is None or not self._inside_fn(p):
                return None
            t = p.type
            if t == "parenthesized_expression":
                gp = p.parent
                if gp is not None and gp.type == "if_statement" and gp.child_by_field_name("condition") == p:
                    return Decision("if", gp, n, neg, tuple(chain))
                n = p
            elif t == "unary_expression" and operator(p) == "!":
                neg, n = not neg, p
            elif t == "binary_expression" and operator(p) in ("&&", "||"):
                chain.append((p, str(operator(p)), neg))
                n = p
            elif t == "argument_list" and p.named_child_count == 1 and p.parent is not None and (
                callee(p.parent) in self.cat.transparent
            ):
                n = p.parent
            elif t == "conditional_expression" and p.child_by_field_name("condition") == n:
                return Decision("ternary", statement(p), n, neg, tuple(chain))
            elif (t == "assignment_expression" and p.child_by_field_name("right") == n) or (
                t == "init_declarator" and p.child_by_field_name("value") == n
            ):
                return Decision("assign", statement(p), n, neg, tuple(chain))
            elif t == "return_statement":
                return Decision("return", p, n, neg, tuple(chain))
            else:
                return None

    def _path(self, node: Node, top: Node) -> tuple[bool, bool, set[str]]:
        """(boolean-only path, `!` parity, `&&`/`||` operators) from `node` up to `top`."""
        n, neg = node, False
        ops: set[str] = set()
        while n != top:
            p = n.parent
            if p is None:
                return False, neg, ops
            t = p.type
            if t == "unary_expression" and operator(p) == "!":
                neg = not neg
            elif t == "binary_expression" and operator(p) in ("&&", "||"):
                ops.add(str(operator(p)))
            elif t == "argument_list" and p.parent is not None and callee(p.parent) in self.cat.transparent:
                pass  # likely(...): the call itself is checked on the next step
            elif not (t == "parenthesized_expression" or (t == "call_expression" and callee(p) in self.cat.transparent)):
                return False, neg, ops
            n = p
        return True, neg, ops

    def _guards_in(self, top: Node) -> Iterator[Atom]:
        for a in self.atoms:
            if a.kinds & GUARDS and top.start_byte <= a.node.start_byte and a.node.end_byte <= top.end_byte:
                yield a

    def _gate(self, cond: Node, via: str, positive: bool) -> Atom | None:
        """A guard in `cond` that must hold (via only `via` operators, with `positive` polarity)
        for control to pass the way it does."""
        root = cond.named_children[0] if cond.type == "parenthesized_expression" and cond.named_child_count else cond
        for g in self._guards_in(root):
            ok, neg, ops = self._path(g.node, root)
            if ok and ops <= {via} and (g.positive != neg) == positive:
                return g
        return None

    def branch(self, ifs: Node) -> str:
        """What the `then` branch of `ifs` does: "reuse" (jumps to the reuse path), "bail"
        (cleanup then a jump away) or "body" (does the work itself)."""
        c = ifs.child_by_field_name("consequence")
        if c is None:
            return "body"
        stmts = [x for x in c.named_children if x.type != "comment"] if c.type == "compound_statement" else [c]
        if not stmts:
            return "body"
        last = stmts[-1]
        if last.type == "goto_statement":
            label = last.child_by_field_name("label")
            if label is not None and self.cat.reuse_label.search(idiom_text(self.sf.src, label)):
                return "reuse"
        elif last.type == "return_statement":
            value = last.named_children[0] if last.named_child_count else None
            if value is not None:
                vtext = idiom_text(self.sf.src, value)
                if vtext == "true":
                    return "reuse"
                if any(c2 in self.cat.reuse_functions for c2 in callees(value)):
                    return "reuse"
        elif last.type not in _JUMPS:
            return "body"
        for s in stmts[:-1]:
            if s.type != "expression_statement":
                return "body"
            if any(not self.cat.cleanup.search(name) for name in callees(s)):
                return "body"
        return "bail"

    def verdict(self, atom: Atom) -> Verdict:
        """Whether `atom` decides reuse, and what guards it."""
        d = self.decision(atom.node)
        if d is None:
            return Verdict(atom, False, None)
        effective = atom.positive != d.negated
        if d.kind == "if":
            br = self.branch(d.stmt)
            if br == "bail":
                decisive = not effective
            else:
                # NOTE: `if (shared) copy(); else reuse();` puts the reuse in the else branch.
                decisive = effective or d.stmt.child_by_field_name("alternative") is not None
        else:
            decisive = True
        if not decisive:
            return Verdict(atom, False, None)
        if atom.kinds & GUARDS and MAPCOUNT in atom.kinds:
            return Verdict(atom, True, atom, True)  # `folio_large_mapcount(f) != folio_ref_count(f)`
        g = self._conjoined(atom, d)
        if g is not None:
            return Verdict(atom, True, g, True)
        return Verdict(atom, True, self._enclosing(d.stmt))

    def _conjoined(self, atom: Atom, d: Decision) -> Atom | None:
        """A guard combined with `atom` so that both must agree before reuse: `a && g` with
        both true-means-reuse, or `a || g` with both true-means-shared."""
        for node, op, neg_below in d.chain:
            left = node.child_by_field_name("left")
            right = node.child_by_field_name("right")
            sib = right if left is not None and left.start_byte <= atom.node.start_byte < left.end_byte else left
            if sib is None:
                continue
            pa = atom.positive != neg_below
            for g in self._guards_in(sib):
                # `a && (x || g)` does not need g: x alone lets the page through.
                ok, neg, ops = self._path(g.node, node)
                if not ok or not ops <= {op}:
                    continue
                pg = g.positive != neg
                if (op == "&&" and pa and pg) or (op == "||" and not pa and not pg):
                    return g
        return None

    def _enclosing(self, stmt: Node) -> Atom | None:
        """A guard on the way to `stmt`: an enclosing `if` it depends on, or an earlier bail-out
        in an enclosing block (`if (folio_ref_count(folio) > 3) goto copy;`)."""
        node = stmt
        body = self.fn.body
        while node.parent is not None and self._inside_fn(node.parent) and node != body:
            parent = node.parent
            if parent.type == "if_statement" and parent.child_by_field_name("consequence") == node:
                cond = parent.child_by_field_name("condition")
                g = self._gate(cond, "&&", True) if cond is not None else None
                if g is not None:
                    return g
            elif parent.type == "else_clause" and parent.parent is not None and parent.parent.type == "if_statement":
                cond = parent.parent.child_by_field_name("condition")
                g = self._gate(cond, "||", False) if cond is not None else None
                if g is not None:
                    return g
            if parent.type in _CONTAINERS:
                for sib in parent.named_children:
                    if sib.start_byte >= node.start_byte:
                        break
                    while sib.type == "labeled_statement" and sib.named_child_count:
                        sib = sib.named_children[-1]
                    if sib.type == "if_statement" and self.branch(sib) == "bail":
                        cond = sib.child_by_field_name("condition")
                        g = self._gate(cond, "||", False) if cond is not None else None
                        if g is not None:
                            return g
            node = parent
        return None

