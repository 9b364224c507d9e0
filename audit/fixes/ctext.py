"""C text for `audit fix`: expressions as text, and the node helpers the rewrite uses.

Files are the parsing layer's `audit.sourcefile.SourceFile`s, read through the tree's
`audit.source.Source`; the rewrite works on byte ranges of them. What is found downwards (calls,
identifiers, definitions) comes from `queries/` through `audit.sourcefile`; the helpers here climb
from a node or read its fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from audit.cexpr import IDENT, balanced_parens
from audit.parse import Node
from audit.sourcefile import declarator_name, defined_name

TAB = 8
"""Tab width for line lengths and continuation alignment (kernel style)."""


class Decline(Exception):
    """A site (or release) cannot be converted; the message is the reason."""


@dataclass(frozen=True)
class Edit:
    """Replace bytes [start, end) of `file` with `text`."""

    file: str
    """Path relative to the tree root."""
    start: int
    """First byte replaced."""
    end: int
    """Byte just past the replaced range."""
    text: bytes
    """Replacement."""


_CAST = re.compile(r"^\(\s*(?:const\s+|volatile\s+)*(?:struct\s+|union\s+)?\w+(?:\s+\w+)*\s*\**\s*\)\s*")
_KEYWORDS = frozenset({"struct", "union", "const", "sizeof", "unsigned", "signed", "int", "long", "char", "void"})


def strip_expr(expr: str) -> str:
    """The storage an expression names: `&ap->pages[n] + 1` -> `ap->pages` (no `&`, casts, offsets, subscripts)."""
    e = " ".join(expr.split())
    while True:
        before = e
        e = e.lstrip("&*").strip()
        m = _CAST.match(e)
        if m and m.end() < len(e):
            e = e[m.end():].strip()
        if balanced_parens(e):
            e = e[1:-1].strip()
        if e == before:
            break
    depth = 0
    for i, ch in enumerate(e):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif depth == 0 and ch in "+-" and e[i + 1 : i + 2] != ">" and i > 0:
            e = e[:i].strip()
            break
    while True:
        new = re.sub(r"\[[^\[\]]*\]", "", e)
        if new == e:
            break
        e = new
    return e


def expr_key(expr: str | None) -> str | None:
    """The last name of the storage an expression names: `&q->kif->u.h.header_page` -> `header_page`."""
    if not expr:
        return None
    ids = [x for x in IDENT.findall(strip_expr(expr)) if x not in _KEYWORDS]
    return ids[-1] if ids else None


def expr_root(expr: str | None) -> str | None:
    """The first name of the storage an expression names: `&q->kif->pages[i]` -> `q`."""
    if not expr:
        return None
    ids = [x for x in IDENT.findall(strip_expr(expr)) if x not in _KEYWORDS]
    return ids[0] if ids else None


def is_call_expr(expr: str) -> bool:
    """Whether the storage an expression names is a call result (`kmalloc(…)`), not a variable."""
    return re.match(r"^[A-Za-z_]\w*\s*\(", strip_expr(expr)) is not None


def visual_width(text: str) -> int:
    """Display width of `text` with kernel tabs."""
    col = 0
    for ch in text:
        col = (col // TAB + 1) * TAB if ch == "\t" else col + 1
    return col


def indent_to(width: int) -> str:
    """Kernel-style indentation reaching display column `width`: tabs, then spaces."""
    return "\t" * (width // TAB) + " " * (width % TAB)


# ---------------------------------------------------------------------------------- nodes


def node_text(n: Node | None) -> str:
    """Source text of a node ('' for None)."""
    return "" if n is None or n.text is None else n.text.decode("utf-8", "replace")


def function_name(fdef: Node) -> str | None:
    """The name a function_definition defines."""
    n = defined_name(fdef)
    return node_text(n) if n is not None else None


def function_params(fdef: Node) -> list[tuple[str, str]]:
    """(name, declaration text) of each parameter in order."""
    d = fdef.child_by_field_name("declarator")
    while d is not None and d.type != "function_declarator":
        d = d.child_by_field_name("declarator")
    plist = d.child_by_field_name("parameters") if d is not None else None
    out: list[tuple[str, str]] = []
    if plist is None:
        return out
    for p in plist.named_children:
        if p.type != "parameter_declaration":
            continue
        n = declarator_name(p.child_by_field_name("declarator"))
        out.append((node_text(n) if n is not None else "", node_text(p)))
    return out


def enclosing(node: Node, types: tuple[str, ...]) -> Node | None:
    """The nearest ancestor of one of `types`."""
    n = node.parent
    while n is not None and n.type not in types:
        n = n.parent
    return n


def call_args(call: Node) -> list[Node]:
    """The argument nodes of a call_expression (comments skipped)."""
    al = call.child_by_field_name("arguments")
    return [] if al is None else [a for a in al.named_children if a.type != "comment"]


def in_loop(node: Node, stop: Node) -> bool:
    """Whether `node` sits in a loop (or a `*for_each*` iterator macro body) below `stop`."""
    n = node.parent
    while n is not None and n != stop:
        if n.type in ("for_statement", "while_statement", "do_statement"):
            return True
        if n.type == "compound_statement":
            prev = n.prev_named_sibling
            if prev is not None and re.match(r"\w*for_each\w*\s*\(", node_text(prev)):
                return True
        n = n.parent
    return False
