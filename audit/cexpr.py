"""Helpers over the text of C expressions, shared by the parsing layer, the path analysis and fix."""

from __future__ import annotations

import re

IDENT = re.compile(r"[A-Za-z_]\w*")
"""A C identifier."""


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


def strip_parens(t: str) -> str:
    """`((x))` -> `x`; `(a) && (b)` stays as it is."""
    t = t.strip()
    while balanced_parens(t):
        t = t[1:-1].strip()
    return t
