"""Function bodies -> control-flow graphs of plain values (the path analysis reads these).

Part of the parsing layer: it walks tree-sitter nodes of one function body and returns a `Flow`,
a list of `FlowNode`s (statements, branch conditions, returns) with their successors. `goto`
ladders, loops (including the kernel's `*for_each*` iterator macros), `switch` fall-through,
`break`/`continue` are edges. Each node carries the calls and assignments evaluated in it, in
source order, as text. No kernel API is known here.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

from audit import parse, queries
from audit.cexpr import FOR_EACH_CALL, strip_parens
from audit.model import fast_init
from audit.parse import Node

_LOOPS = frozenset({"for_statement", "while_statement", "do_statement"})
MAX_NODES = 4000
"""A body with more statements than this gets no flow graph (generated code)."""


@fast_init
@dataclass(frozen=True)
class FlowCall:
    """A call evaluated in a flow node."""

    name: str
    args: tuple[str, ...]
    line: int
    column: int
    lhs: str | None
    """What its value is assigned to, if anything."""


@fast_init
@dataclass(frozen=True)
class FlowNode:
    """One statement or branch condition."""

    kind: str
    """"stmt", "cond" (succ = (true, false)), "return", "loop" (a loop's condition: (body, exit))."""
    line: int
    text: str
    """The statement's text, the condition's text, or the returned expression ('' for none)."""
    succ: tuple[int, ...]
    calls: tuple[FlowCall, ...] = ()
    assigns: tuple[tuple[str, str], ...] = ()
    """(lhs, rhs) of assignments and initialised declarations, in order."""
    loop: int = -1
    """The innermost enclosing loop node (-1 outside loops)."""
    entry: str = ""
    """For a `for` loop's condition: the initializer's text (`i = 0`)."""


@dataclass(frozen=True)
class Flow:
    """The control-flow graph of one function body. Node 0 is the entry; `exit` is a virtual
    return at the closing brace (index len(nodes) - 1)."""

    func: str
    nodes: tuple[FlowNode, ...]
    types: tuple[tuple[str, str], ...] = ()
    """(name, type text) of the function's parameters and local variables that are not pointers or
    arrays (`("res", "u32")`, `("nr_pages", "unsigned int")`): what the path walk needs to tell an
    unsigned count from a signed one."""


def _text(src: bytes, n: Node) -> str:
    return " ".join(src[n.start_byte : n.end_byte].decode("utf-8", "replace").split())


class _Builder:
    def __init__(self, src: bytes, lines: parse.Lines, split_args, body: Node) -> None:  # type: ignore[no-untyped-def]
        self.src = src
        self.lines = lines
        self.split_args = split_args
        self.nodes: list[dict] = []  # mutable while building
        self.labels: dict[str, int] = {}
        self.gotos: list[tuple[int, str]] = []
        self.loops: list[int] = []
        # Every call, assignment, initialised declarator and increment of the body, found once by
        # a query (in C) rather than by walking each statement's subtree node by node in Python.
        self.found = queries.nodes("flow/effects", body)
        self.starts = [x.start_byte for x in self.found]

    def new(self, kind: str, at: Node, text: str, succ: tuple[int, ...], scan: Node | None = None) -> int:
        if len(self.nodes) > MAX_NODES:
            raise OverflowError("function too large for a flow graph")
        calls, assigns = self.effects(scan) if scan is not None else ((), ())
        self.nodes.append({"kind": kind, "line": self.lines.line_of(at.start_byte), "text": text, "succ": succ,
                           "calls": calls, "assigns": assigns, "loop": self.loops[-1] if self.loops else -1,
                           "entry": ""})
        return len(self.nodes) - 1

    def _under(self, n: Node) -> list[Node]:
        """The body's effect nodes in the subtree of `n` (`n` too), in document order."""
        a, b = n.start_byte, n.end_byte
        out = []
        for cur in self.found[bisect_left(self.starts, a):bisect_left(self.starts, b)]:
            if cur.end_byte > b:
                continue  # an ancestor of `n` that starts where it does
            if cur.end_byte == b and cur.start_byte == a and cur != n and not _inside(cur, n):
                continue  # an ancestor with the same bytes
            out.append(cur)
        return out

    def effects(self, n: Node) -> tuple[tuple[FlowCall, ...], tuple[tuple[str, str], ...]]:
        calls: list[tuple[int, FlowCall]] = []
        assigns: list[tuple[int, tuple[str, str]]] = []
        for cur in self._under(n):
            t = cur.type
            if t == "call_expression":
                fn = cur.child_by_field_name("function")
                args = cur.child_by_field_name("arguments")
                if fn is not None and fn.type in ("identifier", "field_expression", "parenthesized_expression") \
                        and args is not None:
                    # A call through a function pointer (`ops->submit(pages)`) is named by its text:
                    # no catalogue entry or body matches it, so handing it the pages is a hand-off.
                    raw = self.src[args.start_byte : args.end_byte].decode("utf-8", "replace")
                    calls.append((cur.start_byte, FlowCall(_text(self.src, fn), self.split_args(raw),
                                                          self.lines.line_of(fn.start_byte),
                                                          self.lines.column_of(fn.start_byte), _lhs(self.src, cur))))
            elif t == "assignment_expression":
                left, right = cur.child_by_field_name("left"), cur.child_by_field_name("right")
                if left is not None and right is not None:
                    op = cur.child_by_field_name("operator")
                    rhs = _text(self.src, right)
                    if op is not None and _text(self.src, op) != "=":
                        rhs = f"{_text(self.src, left)} {_text(self.src, op)[:-1]} {rhs}"
                    assigns.append((cur.start_byte, (_text(self.src, left), rhs)))
            elif t == "init_declarator":
                d, v = cur.child_by_field_name("declarator"), cur.child_by_field_name("value")
                name = _declared(d)
                if name is not None and v is not None:
                    assigns.append((cur.start_byte, (_text(self.src, name), _text(self.src, v))))
            elif t in ("update_expression",):
                arg = cur.child_by_field_name("argument")
                if arg is not None:
                    assigns.append((cur.start_byte, (_text(self.src, arg), _text(self.src, cur))))
        calls.sort(key=lambda x: x[0])
        assigns.sort(key=lambda x: x[0])
        return tuple(c for _, c in calls), tuple(a for _, a in assigns)

    # ------------------------------------------------------------------ statements

    def block(self, children: list[Node], nxt: int, brk: int, cont: int) -> int:
        cur = nxt
        i = len(children) - 1
        while i >= 0:
            c = children[i]
            prev = children[i - 1] if i > 0 else None
            if (prev is not None and prev.type == "expression_statement" and c.type in ("compound_statement", "expression_statement")
                    and FOR_EACH_CALL.match(self.src[prev.start_byte : prev.end_byte]) and not _ends_with_semicolon(self.src, prev)):
                # `list_for_each_entry(p, head, m) { … }`: a loop macro, its body the next statement.
                loop = self.new("loop", prev, _text(self.src, prev), (), prev)
                self.loops.append(loop)
                body = self.stmt(c, loop, cur, loop)
                self.loops.pop()
                self.nodes[loop]["succ"] = (body, cur)
                cur = loop
                i -= 2
                continue
            cur = self.stmt(c, cur, brk, cont)
            i -= 1
        return cur

    def stmt(self, n: Node, nxt: int, brk: int, cont: int) -> int:  # noqa: C901 - one case per statement kind
        t = n.type
        if t == "compound_statement":
            return self.block([c for c in n.named_children if c.type != "comment"], nxt, brk, cont)
        if t == "if_statement":
            cond = n.child_by_field_name("condition")
            then = n.child_by_field_name("consequence")
            alt = n.child_by_field_name("alternative")
            t_entry = self.stmt(then, nxt, brk, cont) if then is not None else nxt
            f_entry = nxt
            if alt is not None:
                inner = alt.named_children[-1] if alt.type == "else_clause" and alt.named_children else alt
                f_entry = self.stmt(inner, nxt, brk, cont)
            ctext = strip_parens(_text(self.src, cond)) if cond is not None else "1"
            return self.new("cond", cond or n, ctext, (t_entry, f_entry), cond)
        if t in ("while_statement", "for_statement"):
            cond = n.child_by_field_name("condition")
            loop = self.new("loop", cond or n, strip_parens(_text(self.src, cond)) if cond is not None else "1", (), cond)
            self.loops.append(loop)
            target = loop
            if t == "for_statement":
                upd = n.child_by_field_name("update")
                if upd is not None:
                    target = self.new("stmt", upd, _text(self.src, upd), (loop,), upd)
            body = n.child_by_field_name("body")
            b = self.stmt(body, target, nxt, target) if body is not None else target
            self.loops.pop()
            self.nodes[loop]["succ"] = (b, nxt)
            if t == "for_statement":
                init = n.child_by_field_name("initializer")
                if init is not None:
                    self.nodes[loop]["entry"] = _text(self.src, init).rstrip(";")
                    return self.new("stmt", init, _text(self.src, init), (loop,), init)
            return loop
        if t == "do_statement":
            cond = n.child_by_field_name("condition")
            loop = self.new("loop", cond or n, strip_parens(_text(self.src, cond)) if cond is not None else "0", (), cond)
            self.loops.append(loop)
            body = n.child_by_field_name("body")
            b = self.stmt(body, loop, nxt, loop) if body is not None else loop
            self.loops.pop()
            self.nodes[loop]["succ"] = (b, nxt)
            return b
        if t == "return_statement":
            val = n.named_children[0] if n.named_children else None
            return self.new("return", n, _text(self.src, val) if val is not None else "", (), n)
        if t == "goto_statement":
            lab = n.child_by_field_name("label")
            idx = self.new("stmt", n, _text(self.src, n), ())
            self.gotos.append((idx, _text(self.src, lab) if lab is not None else ""))
            return idx
        if t == "labeled_statement":
            lab = n.child_by_field_name("label")
            inner = [c for c in n.named_children if c.type not in ("statement_identifier", "comment")]
            entry = self.block(inner, nxt, brk, cont)
            if lab is not None:
                self.labels[_text(self.src, lab)] = entry
            return entry
        if t == "break_statement":
            return self.new("stmt", n, "break", (brk,))
        if t == "continue_statement":
            return self.new("stmt", n, "continue", (cont,))
        if t == "switch_statement":
            cond = n.child_by_field_name("condition")
            body = n.child_by_field_name("body")
            cases = [c for c in (body.named_children if body is not None else []) if c.type == "case_statement"]
            entries: list[int] = []
            cur = nxt
            has_default = False
            for case in reversed(cases):
                stmts = [c for c in case.named_children if c != case.child_by_field_name("value") and c.type != "comment"]
                cur = self.block(stmts, cur, nxt, cont)
                entries.append(cur)
                has_default = has_default or case.child_by_field_name("value") is None
            succ = tuple(reversed(entries)) + (() if has_default else (nxt,))
            return self.new("switch", cond or n, strip_parens(_text(self.src, cond)) if cond is not None else "", succ, cond)
        if t in ("comment", "preproc_call", "preproc_def", "preproc_function_def"):
            return nxt
        if t in ("preproc_if", "preproc_ifdef", "preproc_else", "preproc_elif"):
            # Conditional compilation: either branch may be the built one; both are paths.
            kids = [c for c in n.named_children if c.type not in ("identifier", "comment")
                    and c != n.child_by_field_name("condition")]
            alt = n.child_by_field_name("alternative")
            main = [c for c in kids if c != alt]
            a = self.block(main, nxt, brk, cont)
            b = self.stmt(alt, nxt, brk, cont) if alt is not None else nxt
            return self.new("cond", n, "#if", (a, b)) if a != b else a
        return self.new("stmt", n, _text(self.src, n), (nxt,), n)


def _inside(node: Node, top: Node) -> bool:
    """Whether `node` is in the subtree of `top`."""
    p = node.parent
    while p is not None:
        if p == top:
            return True
        p = p.parent
    return False


def _ends_with_semicolon(src: bytes, n: Node) -> bool:
    return src[n.start_byte : n.end_byte].rstrip().endswith(b";")


def _declared(node: Node | None) -> Node | None:
    while node is not None and node.type in ("pointer_declarator", "array_declarator", "parenthesized_declarator",
                                             "init_declarator", "function_declarator"):
        node = node.child_by_field_name("declarator")
    return node if node is not None and node.type == "identifier" else None


def _lhs(src: bytes, call: Node) -> str | None:
    p = call.parent
    while p is not None and p.type in ("cast_expression", "parenthesized_expression"):
        p = p.parent
    if p is not None and p.type == "assignment_expression":
        left = p.child_by_field_name("left")
        return _text(src, left) if left is not None else None
    if p is not None and p.type == "init_declarator":
        n = _declared(p.child_by_field_name("declarator"))
        return _text(src, n) if n is not None else None
    return None


def build(func: str, body: Node, src: bytes, lines: parse.Lines, split_args) -> Flow | None:  # type: ignore[no-untyped-def]
    """The flow graph of one function body, or None when it is too large or damaged."""
    b = _Builder(src, lines, split_args, body)
    end = b.new("return", body, "", ())  # falling off the closing brace
    b.nodes[end]["line"] = lines.line_of(max(body.end_byte - 1, body.start_byte))
    try:
        entry = b.stmt(body, end, end, end)
    except (OverflowError, RecursionError):
        return None
    for idx, label in b.gotos:
        b.nodes[idx]["succ"] = (b.labels.get(label, end),)
    # Node 0 must be the entry: add a pass-through entry node in front.
    entry_node = FlowNode("stmt", b.nodes[entry]["line"], "{", (entry + 1,))
    shifted = [FlowNode(d["kind"], d["line"], d["text"], tuple(s + 1 for s in d["succ"]), d["calls"], d["assigns"],
                        d["loop"] + 1 if d["loop"] >= 0 else -1, d["entry"]) for d in b.nodes]
    return Flow(func, (entry_node, *shifted), _scalar_types(body, src))


def _scalar_types(body: Node, src: bytes) -> tuple[tuple[str, str], ...]:
    """(name, type text) of the scalar parameters and locals of the function whose body is `body`."""
    out: dict[str, str] = {}
    decls: list[Node] = []
    fn = body.parent
    if fn is not None and fn.type == "function_definition":
        d = fn.child_by_field_name("declarator")
        while d is not None and d.type != "function_declarator":
            d = d.child_by_field_name("declarator")
        params = d.child_by_field_name("parameters") if d is not None else None
        if params is not None:
            decls.extend(c for c in params.named_children if c.type == "parameter_declaration")
    # The declarations not inside another declaration or a nested function, latest first (the
    # order of a depth-first walk that takes a node's last child first).
    inner = []
    for d in queries.nodes("flow/declarations", body):
        p = d.parent
        while p is not None and p != body and p.type not in ("declaration", "function_definition"):
            p = p.parent
        if p == body:
            inner.append(d)
    decls.extend(reversed(inner))
    for decl in decls:
        t = decl.child_by_field_name("type")
        if t is None or t.type in ("struct_specifier", "union_specifier", "enum_specifier"):
            continue
        ttext = _text(src, t)
        for d in decl.children_by_field_name("declarator"):
            if d.type == "init_declarator":
                d = d.child_by_field_name("declarator")
            if d is not None and d.type == "identifier":  # not a pointer, an array or a function
                out.setdefault(_text(src, d), ttext)
    return tuple(sorted(out.items()))
