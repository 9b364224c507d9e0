"""Helpers over the text of C expressions, shared by the parsing layer, the path analysis and fix."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

IDENT = re.compile(r"[A-Za-z_]\w*")
"""A C identifier."""
ERRNO = re.compile(r"-E[A-Z0-9]+")
"""An errno constant as C code writes it (`-ENOMEM`), blanks removed; match it whole."""
FOR_EACH_CALL = re.compile(rb"^\s*\w*for_each\w*\s*\(")
"""A statement that starts with a kernel iterator macro (`list_for_each_entry(p, head, m)`)."""


def iterator_macro(name: str) -> bool:
    """Whether a called name is a kernel iterator macro (`for_each_sg`, `list_for_each_entry`): by
    kernel convention, which the parser cannot see through (the macro bodies are not parsed)."""
    return "for_each" in name


def balanced_parens(e: str) -> bool:
    """Whether `e` is one parenthesised group `( … )` from its first to its last character."""
    if not (e.startswith("(") and e.endswith(")")):
        return False
    depth = 0
    for i, ch in enumerate(e):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and i != len(e) - 1:
            return False
    return True


def constant_truth(text: str) -> bool | None:
    """What a constant argument says as a truth value: False for `0` or `false`, True for another
    number or `true`, None for anything else (a variable, an expression)."""
    t = text.strip()
    if re.fullmatch(r"0+|false", t):
        return False
    if re.fullmatch(r"[1-9]\d*|true", t):
        return True
    return None


def ternary(text: str) -> tuple[str, str, str] | None:
    """The condition and the two arms of a top-level `c ? a : b` (None for any other expression)."""
    depth, q = 0, -1
    for i, ch in enumerate(text):
        depth += (ch in "([") - (ch in ")]")
        if depth == 0 and ch == "?" and q < 0:
            q = i
        elif depth == 0 and ch == ":" and q >= 0:
            return text[:q].strip(), text[q + 1:i].strip(), text[i + 1:].strip()
    return None


def strip_parens(t: str) -> str:
    """`((x))` -> `x`; `(a) && (b)` stays as it is."""
    t = t.strip()
    while balanced_parens(t):
        t = t[1:-1].strip()
    return t


class _Comparison:
    """`left op right` of a comparison at the top level of an expression."""

    __slots__ = ("_parts",)

    def __init__(self, left: str, op: str, right: str) -> None:
        self._parts = (left + op + right, left, op, right)

    def group(self, i: int) -> str:
        return self._parts[i]


class _TopCompare:
    """Finds the first comparison operator outside parentheses and brackets (`f(a != b, c) != 1`
    compares the call with 1), never `->`, `<<`, `>>` or `<<=`; `match(text)` returns an object
    whose `group(1..3)` are the left side, the operator and the right side, or None."""

    def match(self, text: str) -> _Comparison | None:
        if "<" not in text and ">" not in text and "=" not in text:
            return None  # no comparison operator at all (most texts asked)
        return _top_comparison(text)


@lru_cache(maxsize=65536)
def _top_comparison(text: str) -> _Comparison | None:
    """`_TopCompare.match` of a text holding a `<`, `>` or `=` (many paths ask the same texts)."""
    depth = 0
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif depth == 0:
            two = text[i:i + 2]
            if two in ("<=", ">=", "==", "!=") and text[i - 1:i] not in ("<", ">") and text[i + 2:i + 3] != "=":
                return _Comparison(text[:i], two, text[i + 2:])
            if ch in "<>" and text[i - 1:i] not in ("-", "<", ">") and text[i + 1:i + 2] not in ("<", ">", "="):
                return _Comparison(text[:i], ch, text[i + 1:])
            if two in ("<<", ">>", "->"):
                i += 2
                continue
        i += 1
    return None


COMPARE = _TopCompare()
"""The top-level comparison of a condition's text (see `_TopCompare`)."""


def errno_value(text: str, holds_errno: Callable[[str], bool]) -> bool:
    """Whether a returned expression is an errno: a constant (`-EINVAL`), or a variable that
    `holds_errno` says holds one; as such, as an error pointer (`ERR_PTR(ret)`), or as either arm of
    a choice between two (`ret < 0 ? ret : -EFAULT`: an arm is an errno when the condition says so).
    The one text-level test of an errno exit; what a variable holds is the caller's to say (a
    path's facts, the function's assignments, or any variable for a 0-or-errno convention)."""
    t = strip_parens(text)
    if t.startswith("ERR_PTR") and strip_parens(t[7:]) != t[7:].strip():
        return errno_value(t[7:], holds_errno)
    tern = ternary(t)
    if tern is not None:
        cond, a, b = strip_parens(tern[0].replace(" ", "")), tern[1].strip(), tern[2].strip()
        return (bool(IDENT.fullmatch(a)) and cond == f"{a}<0" or errno_value(a, holds_errno)) and (
            bool(IDENT.fullmatch(b)) and cond == f"{b}>=0" or errno_value(b, holds_errno))
    return bool(ERRNO.fullmatch(t.replace(" ", "")) or (IDENT.fullmatch(t) and holds_errno(t)))
