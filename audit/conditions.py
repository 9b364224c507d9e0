"""Branch conditions as boolean formulas over atoms, and what a path already knows about them.

Pure: condition text in, formulas out. An atom is a comparison or a plain expression, compared by
its whitespace-free text; `!`, `&&`, `||` and parentheses build formulas; the catalogue's
transparent macros (`unlikely(x)`, `WARN_ON_ONCE(x)`) stand for their first argument. `Facts`
holds what the conditions taken so far on a path imply about atoms (with unit propagation over
the formulas that did not yet decide), so that a later test of the same thing follows one branch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache

from audit.cexpr import IDENT, strip_parens
from audit.facts import split_args

Formula = tuple  # ("atom", text) | ("not", f) | ("and", (f, …)) | ("or", (f, …))


def _split_top(text: str, op: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    cur = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and text.startswith(op, i):
            parts.append(text[cur:i])
            i += len(op)
            cur = i
            continue
        i += 1
    parts.append(text[cur:])
    return [p.strip() for p in parts]


_ZERO_TEST = re.compile(r"([A-Za-z_][\w.]*(?:->[\w.]+)*)(==|!=)0|0(==|!=)([A-Za-z_][\w.]*(?:->[\w.]+)*)")


@lru_cache(maxsize=8192)
def parse(text: str, transparent: frozenset[str] = frozenset()) -> Formula:
    """The formula of a condition's text."""
    t = " ".join(text.split())
    t = strip_parens(t)
    ors = _split_top(t, "||")
    if len(ors) > 1:
        return ("or", tuple(parse(p, transparent) for p in ors))
    ands = _split_top(t, "&&")
    if len(ands) > 1:
        return ("and", tuple(parse(p, transparent) for p in ands))
    if t.startswith("!") and not t.startswith("!="):
        return ("not", parse(t[1:], transparent))
    head = t.split("(", 1)[0].strip()
    if head in transparent and t.endswith(")"):
        args = split_args(t[len(head):].strip())
        if args:
            return parse(args[0], transparent)
    a = t.replace(" ", "")
    m = _ZERO_TEST.fullmatch(a)
    if m is not None:
        # `x == 0` is `!x`, `x != 0` is `x`: one atom, so that a path that took `!x` knows `x == 0`.
        x = m.group(1) or m.group(4)
        eq = (m.group(2) or m.group(3)) == "=="
        return ("not", ("atom", x)) if eq else ("atom", x)
    return ("atom", a)


def atoms(f: Formula) -> list[str]:
    """Every atom of a formula."""
    if f[0] == "atom":
        return [f[1]]
    if f[0] == "not":
        return atoms(f[1])
    return [a for g in f[1] for a in atoms(g)]


def value(f: Formula, known: dict[str, bool], atom_value=None) -> bool | None:  # type: ignore[no-untyped-def]
    """Three-valued evaluation: True, False, or None when the facts do not decide."""
    kind = f[0]
    if kind == "atom":
        if atom_value is not None:
            v = atom_value(f[1])
            if v is not None:
                return v
        return known.get(f[1])
    if kind == "not":
        v = value(f[1], known, atom_value)
        return None if v is None else not v
    vals = [value(g, known, atom_value) for g in f[1]]
    if kind == "and":
        if any(v is False for v in vals):
            return False
        return True if all(v is True for v in vals) else None
    if any(v is True for v in vals):
        return True
    return False if all(v is False for v in vals) else None


@dataclass(frozen=True)
class Facts:
    """What a path knows: atom values, and formulas asserted but not yet decided."""

    known: tuple[tuple[str, bool], ...] = ()
    pending: tuple[tuple[Formula, bool], ...] = ()

    @cached_property
    def _words(self) -> frozenset[str]:
        """The words of every atom (a walk asks often whether an assigned variable is among them)."""
        return frozenset().union(*(_words(a) for a, _ in self.known),
                                 *(_words(a) for g, _ in self.pending for a in atoms(g)))

    @cached_property
    def _dict(self) -> dict[str, bool]:
        return dict(self.known)

    def as_dict(self) -> dict[str, bool]:
        """The known atoms and their values (one dict per Facts, shared: read it, never change it)."""
        return self._dict

    @cached_property
    def zeros(self) -> frozenset[str]:
        """The variables known to be 0 (`x==0` true)."""
        return frozenset(a[:-3] for a, v in self.known if v and a.endswith("==0") and IDENT.fullmatch(a[:-3]))

    def assume(self, f: Formula, truth: bool, skip=lambda a: False) -> Facts | None:  # type: ignore[no-untyped-def]
        """These facts plus `f == truth`; None when that contradicts them. Atoms for which `skip`
        holds (the acquire's result, tracked elsewhere) are neither asserted nor propagated."""
        known = dict(self.known)
        pending = list(self.pending) + [(f, truth)]
        changed = True
        while changed:
            changed = False
            rest = []
            for g, want in pending:
                ok = _assert(g, want, known, skip)
                if ok is None:
                    return None
                if ok:
                    changed = True
                elif value(g, known) is None:
                    rest.append((g, want))
                elif value(g, known) is not want and not _mentions(g, skip):
                    return None
            pending = rest
        return Facts(tuple(sorted(known.items())), tuple(pending[-8:]))

    def forget(self, names: set[str]) -> Facts:
        """Drop what is known about atoms that mention a variable just assigned."""
        if not self.known and not self.pending:
            return self  # nothing known (most of a walk before the first condition)
        plain = [n for n in names if _WORD.fullmatch(n)]
        other = [n for n in names if not _WORD.fullmatch(n)]
        if not other and self._words.isdisjoint(plain):
            return self  # no atom names them (one set test instead of a scan of every atom)

        def mentions(a: str) -> bool:
            if plain and not _words(a).isdisjoint(plain):
                return True
            return any(_has_word(a, n) for n in other)
        known = tuple((a, v) for a, v in self.known if not mentions(a))
        pending = tuple((g, w) for g, w in self.pending if not any(mentions(a) for a in atoms(g)))
        if len(known) == len(self.known) and len(pending) == len(self.pending):
            return self  # the same facts: nothing mentioned the names
        return Facts(known, pending)


def _mentions(f: Formula, skip) -> bool:  # type: ignore[no-untyped-def]
    return any(skip(a) for a in atoms(f))


_WORD = re.compile(r"\w+")
"""A whole word, as `_has_word` bounds one (letters, digits, `_`)."""
_VARIABLE = re.compile(r"(?<![\w.])(?<!->)\w+")
"""A whole word that is not a member name (after `->` or `.`)."""


@lru_cache(maxsize=16384)
def _words(text: str) -> frozenset[str]:
    """The variables an atom's text names: its whole words, less the members (`page_list` of
    `req->page_list` or `s.page_list` is no variable: assigning a local of that name leaves it)."""
    return frozenset(_VARIABLE.findall(text))


def _has_word(text: str, name: str) -> bool:
    i = text.find(name)
    while i >= 0:
        before = text[i - 1] if i > 0 else " "
        j = i + len(name)
        after = text[j] if j < len(text) else " "
        if not (before.isalnum() or before == "_") and not (after.isalnum() or after == "_"):
            return True
        i = text.find(name, i + 1)
    return False


def _assert(f: Formula, want: bool, known: dict[str, bool], skip) -> bool | None:  # type: ignore[no-untyped-def]
    """Record what `f == want` decides. True when something new was learnt, False when nothing
    could be, None on a contradiction."""
    kind = f[0]
    if kind == "atom":
        if skip(f[1]):
            return False
        have = known.get(f[1])
        if have is None:
            known[f[1]] = want
            return True
        return False if have is want else None
    if kind == "not":
        return _assert(f[1], not want, known, skip)
    parts = f[1]
    every = (kind == "and") == want  # and-true / or-false: every part takes `want`
    if every:
        learnt = False
        for g in parts:
            r = _assert(g, want, known, skip)
            if r is None:
                return None
            learnt = learnt or r
        return learnt
    # and-false / or-true: decided when all parts but one are known the other way.
    vals = [value(g, known) for g in parts]
    if any(v is want for v in vals):
        return False
    open_ = [g for g, v in zip(parts, vals) if v is None]
    if not open_:
        return None
    if len(open_) == 1 and not _mentions(open_[0], skip):
        return _assert(open_[0], want, known, skip)
    return False
