"""What a condition, or a value, says about an acquire's result (the mixin of the path walk).

The result `R` of the acquire is kept on a path as the outcomes it can still have: NEG (an errno),
ZERO, PART (a short count) and FULL. An atom about R (`ret < 0`, `pinned != nr_pages`, `!ret`,
`IS_ERR(pages)`, `DIV_ROUND_UP(len + off, PAGE_SIZE) != num_pages` for an API that counts bytes)
has a truth value for each outcome; `ResultTests` computes it for `Walker` (audit/paths.py), with
C's conversions where they change the answer: an errno held in an unsigned variable is a huge
number, above 0 and above the requested count.
"""

from __future__ import annotations


from audit.cexpr import COMPARE, ERRNO, IDENT, ternary
from audit.conditions import Formula, atoms, parse, value
from audit.counts import pages_of, strip_cast

NEG, ZERO, PART, FULL = "neg", "zero", "part", "full"
ALL = frozenset({NEG, ZERO, PART, FULL})
HELD = frozenset({PART, FULL})

_CMP = COMPARE
_WORD = IDENT


class ResultTests:
    """The walk's reading of conditions and values about the acquire's result. Expects the
    attributes `acq`, `accumulators`, `cat`, `holds`, `requested`, `promoted`, `single`, `unsigned` and
    `transparent` of `Walker`."""

    def _is_r(self, text: str, rnames: frozenset[str]) -> bool:
        t = text.strip()
        while t.startswith("(") and t.endswith(")"):
            t = t[1:-1].strip()
        if t in rnames:
            return True
        if self.acq.fails_by or not (t.startswith(self.acq.name + "(") and t.endswith(")")):
            return False  # (a wrapper's 0-or-errno result is no count: `Acquire.fails_by`)
        depth = 0
        for i, ch in enumerate(t):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and ch == ")":
                return i == len(t) - 1  # the whole text is the call
        return False

    def _is_r_count(self, text: str, rnames: frozenset[str]) -> bool:
        """`_is_r`, or, for an API that counts bytes, the number of pages those bytes span
        (`DIV_ROUND_UP(len + off, PAGE_SIZE)`, `len >> PAGE_SHIFT`)."""
        if self._is_r(text, rnames):
            return True
        inner = pages_of(text) if self.acq.max_pages is not None else None
        return inner is not None and any(self._is_r(t, rnames) for t in inner.split("+"))

    def _r_atom(self, atom: str, o: str, rnames: frozenset[str], zeros: frozenset[str] = frozenset()) -> bool | None:
        """The value of an atom about R for outcome `o`, None when the atom is not about R.
        `zeros` are names the path set to 0 (`mapped = 0; … if (mapped != pinned)`)."""
        if atom.startswith("!") and self._is_r(atom[1:], rnames):
            return o == ZERO
        acc = self._accumulated(atom, o)
        if acc is not None:
            return acc
        if self.single and not self.acq.fails_by and o == FULL and _WORD.fullmatch(atom) and self.holds(atom):
            return True  # the page a one-page acquire returned is not NULL (`ret != 1 || !page`)
        head, _, rest = atom.partition("(")
        if rest.endswith(")") and head in self.cat.error_tests | self.cat.error_or_null_tests \
                and self._is_r(rest[:-1], rnames):
            return o == NEG or (o == ZERO and head in self.cat.error_or_null_tests)
        if self._is_r(atom, rnames):
            return o != ZERO
        m = _CMP.match(atom)
        if m is None:
            return None
        left, op, right = strip_cast(m.group(1)), m.group(2), strip_cast(m.group(3))
        raw_right = m.group(3).strip()
        if self._is_r_count(right, rnames) and not self._is_r_count(left, rnames):
            left, right, raw_right = right, left, m.group(1).strip()
            op = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op, op)
        if not self._is_r_count(left, rnames):
            return None
        # An errno in an unsigned variable is a huge positive number (`u32 res`): above 0 and above
        # the requested count. So is one compared, uncast, with an unsigned count C converts it to.
        huge = o == NEG and (left.strip("()") in self.unsigned or (right in self.promoted and raw_right == right))
        if right == "0" or right in zeros:
            sign = 1 if huge else {NEG: -1, ZERO: 0, PART: 1, FULL: 1}[o]
            return {"<": sign < 0, "<=": sign <= 0, ">": sign > 0, ">=": sign >= 0, "==": sign == 0, "!=": sign != 0}[op]
        if right in self.requested or (right == "1" and self.single):
            rel = 1 if huge else 0 if o == FULL else -1
            return {"<": rel < 0, "<=": rel <= 0, ">": rel > 0, ">=": rel >= 0, "==": rel == 0, "!=": rel != 0}[op]
        if op in ("==", "!=") and ERRNO.fullmatch(right) and o != NEG:
            return op == "!="  # `ret == -EOPNOTSUPP`: only an error can be that errno
        return None

    def _accumulated(self, atom: str, o: str) -> bool | None:
        """A test of a counter that adds the result (`pages_done += ret`) against 0: once the acquire
        took pages the counter is not 0 (None: not such a test)."""
        if o not in HELD or not self.accumulators:
            return None
        if atom in self.accumulators:
            return True
        if atom.startswith("!") and atom[1:] in self.accumulators:
            return False
        m = _CMP.match(atom)
        if m is not None and m.group(1).strip() in self.accumulators and m.group(3).strip() == "0":
            return {"==": False, "!=": True, ">": True, ">=": True, "<": False, "<=": False}[m.group(2)]
        return None

    def _tests_count(self, f: Formula, rnames: frozenset[str]) -> bool:
        """Whether some atom of `f` compares the result with the requested count (whatever the other
        atoms, and whichever way the branch goes)."""
        for a in atoms(f):
            m = _CMP.match(a)
            if m is None:
                continue
            left, right = strip_cast(m.group(1)), strip_cast(m.group(3))
            if self._is_r_count(right, rnames):
                left, right = right, left
            if self._is_r_count(left, rnames) and right in self.requested:
                return True
        return False

    def _about_r(self, f: Formula, rnames: frozenset[str]) -> bool:
        """Whether some atom of `f` is about the result."""
        return any(self._r_atom(a, FULL, rnames) is not None for a in atoms(f))

    def _negative(self, rhs: str, outcomes: frozenset[str], rnames: frozenset[str]) -> bool:
        """Whether an assigned value is certainly a negative errno on this path: `-EFAULT`, the
        acquire's result when only errors are left, or `c ? a : b` with both arms so."""
        t = rhs.replace(" ", "")
        if ERRNO.fullmatch(t):
            return True
        if self._is_r(t, rnames):
            return bool(outcomes) and outcomes <= {NEG}
        tern = ternary(t) if "?" in t else None
        if tern is not None:
            cond, a, b = tern
            cf = parse(cond, self.transparent)
            for arm, truth in ((a, True), (b, False)):
                if ERRNO.fullmatch(arm):
                    continue
                if not self._is_r(arm, rnames):
                    return False
                picked = {o for o in outcomes
                          if value(cf, {}, lambda x, o=o: self._r_atom(x, o, rnames)) in (truth, None)}
                if not picked <= {NEG}:
                    return False
            return True
        return False
