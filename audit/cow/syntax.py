"""The small syntax questions the COW profiler asks of a test's nodes: the callee of a call, the
operator of an expression, the comparison a counter takes part in, the statement around a node,
and whether a node is an assertion's argument.

These climb from a node towards the function's top, which a query (matching downwards) cannot
say; everything found downwards comes from `queries/` through `audit.sourcefile`.
"""

from __future__ import annotations

from audit.cow.idioms import CowCatalogue
from audit.parse import Node
from audit.sourcefile import Function

_CMP = frozenset({"==", "!=", "<", "<=", ">", ">="})
_ARITH = frozenset({"+", "-", "*", "/", "%", "<<", ">>", "&", "|", "^"})


def idiom_text(src: bytes, n: Node) -> str:
    """Source text of `n`, whitespace-normalised (idioms span lines)."""
    return " ".join(src[n.start_byte : n.end_byte].decode("utf-8", "replace").split())


def callee(call: Node) -> str | None:
    """The name a call_expression calls, None for an indirect call."""
    fn = call.child_by_field_name("function")
    if fn is None or fn.type != "identifier":
        return None
    return fn.text.decode() if fn.text is not None else None


def operator(node: Node) -> str | None:
    """The operator of a unary or binary expression."""
    o = node.child_by_field_name("operator")
    return o.type if o is not None else None


def asserted(cat: CowCatalogue, fn: Function, node: Node) -> bool:
    """The node is an argument of an assertion (`VM_BUG_ON_PAGE(PageAnonExclusive(p), p)`)."""
    p = node.parent
    while p is not None and p.start_byte >= fn.start:
        if p.type == "call_expression":
            name = callee(p)
            if name is not None and cat.assertions.search(name):
                return True
        p = p.parent
    return False


def comparison(call: Node) -> tuple[Node, bool] | None:
    """The comparison a counter call takes part in, and whether it reads "not shared"
    (`page_count(p) == 1`, `1 >= page_mapcount(p)`) rather than "shared" (`!= 1`, `> 1 + …`)."""
    n = call
    while n.parent is not None:
        p = n.parent
        if p.type == "parenthesized_expression" or (p.type == "binary_expression" and operator(p) in _ARITH):
            n = p
            continue
        if p.type == "binary_expression" and operator(p) in _CMP:
            o = str(operator(p))
            left = p.child_by_field_name("left")
            on_left = left is not None and left.start_byte <= call.start_byte < left.end_byte
            if o == "==":
                return p, True
            if o == "!=":
                return p, False
            small = {"<", "<="} if on_left else {">", ">="}
            return p, o in small
        return None
    return None


def statement(node: Node) -> Node:
    """The expression statement, declaration or return holding `node`."""
    n = node
    while n.parent is not None and n.type not in ("expression_statement", "declaration", "return_statement"):
        n = n.parent
    return n
