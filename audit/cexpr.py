"""Helpers over the text of C expressions, shared by the parsing layer, the path analysis and fix."""

from __future__ import annotations

import re

IDENT = re.compile(r"[A-Za-z_]\w*")
"""A C identifier."""
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


def strip_parens(t: str) -> str:
    """`((x))` -> `x`; `(a) && (b)` stays as it is."""
    t = t.strip()
    while balanced_parens(t):
        t = t[1:-1].strip()
    return t
