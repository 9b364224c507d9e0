"""Captures -> facts: one FileFacts per parsed file (functions, calls, assignments, macros).

Runs in worker processes. It knows node types of the C grammar but no kernel API: which calls
matter is decided later from the catalogue. Heavier context (loops, guards, `#if 0`) is computed
only for calls named in `focus`, the catalogue's names, to keep per-file cost low.
"""

from __future__ import annotations

import re
from functools import lru_cache
from bisect import bisect_right
from dataclasses import dataclass, field

from audit import flow, parse, queries
from audit.cexpr import FOR_EACH_CALL
from audit.model import Assign, Call, Decl, FileFacts, FuncInfo, MacroDef, ParseProblem
from audit.parse import Node, Tree

_CARRIES = re.compile(rb"page|bio|folio|sg|vec|frame|umem|buf")
_LOOPS = frozenset({"for_statement", "while_statement", "do_statement"})
_DECL_WRAPPERS = frozenset(
    {"pointer_declarator", "array_declarator", "function_declarator", "parenthesized_declarator", "init_declarator"}
)


_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


@lru_cache(maxsize=16384)
def split_args(text: str) -> tuple[str, ...]:
    """Split an argument list's text `(a, f(b, c), d)` into stripped arguments, comments removed."""
    if "/" in text:
        text = _COMMENT.sub(" ", text)
    inner = text.strip()
    if inner.startswith("("):
        inner = inner[1:]
    if inner.endswith(")"):
        inner = inner[:-1]
    if not inner.strip():
        return ()
    if not any(c in inner for c in "([{\"'"):
        # No nesting and no literal: the commas are the separators (most calls).
        return tuple(" ".join(a.split()) for a in inner.split(","))
    out: list[str] = []
    depth = 0
    cur: list[str] = []
    in_str: str | None = None
    prev = ""
    for ch in inner:
        if in_str:
            cur.append(ch)
            if ch == in_str and prev != "\\":
                in_str = None
        elif ch in "\"'":
            in_str = ch
            cur.append(ch)
        elif ch in "([{":
            depth += 1
            cur.append(ch)
        elif ch in ")]}":
            depth -= 1
            cur.append(ch)
        elif ch == "," and depth == 0:
            out.append(" ".join("".join(cur).split()))
            cur = []
        else:
            cur.append(ch)
        prev = ch
    out.append(" ".join("".join(cur).split()))
    return tuple(out)


def _declared_name(node: Node | None) -> Node | None:
    """The identifier a declarator declares (`*pages[4]` -> `pages`)."""
    while node is not None and node.type in _DECL_WRAPPERS:
        node = node.child_by_field_name("declarator")
    if node is not None and node.type in ("identifier", "field_identifier"):
        return node
    return None


def _text(src: bytes, n: Node) -> str:
    return src[n.start_byte : n.end_byte].decode("utf-8", "replace")


def _function_info(src: bytes, lines: parse.Lines, d: Node, decl: Node, body: Node) -> FuncInfo | None:
    fdecl: Node | None = decl
    while fdecl is not None and fdecl.type != "function_declarator":
        fdecl = fdecl.child_by_field_name("declarator")
    if fdecl is None:
        return None
    name_node = _declared_name(fdecl.child_by_field_name("declarator"))
    if name_node is None:
        return None
    params: list[str] = []
    ptypes: list[str] = []
    plist = fdecl.child_by_field_name("parameters")
    if plist is not None:
        for p in plist.named_children:
            if p.type != "parameter_declaration":
                continue
            pn = _declared_name(p.child_by_field_name("declarator"))
            params.append(_text(src, pn) if pn is not None else "")
            t = p.child_by_field_name("type")
            tag = t.child_by_field_name("name") if t is not None and t.type == "struct_specifier" else None
            ptypes.append(_text(src, tag) if tag is not None else "")
    static = any(c.type == "storage_class_specifier" and _text(src, c) == "static" for c in d.children)
    name, name_byte = _text(src, name_node), name_node.start_byte
    if body.start_byte > 0 and src[body.start_byte - 1 : body.start_byte] == b"\n":
        # A macro invocation without `;` above the function (`store(x)`) makes tree-sitter take the
        # macro for the declarator; the kernel-style header right above the `{` names it right.
        hdr = parse.header_name(src, body.start_byte)
        if hdr is not None and hdr[0] != name and hdr[1] > name_byte:
            name, name_byte = hdr
    return FuncInfo(
        name=name,
        line=lines.line_of(name_byte),
        start_byte=body.start_byte,
        end_byte=body.end_byte,
        params=tuple(params),
        param_types=tuple(ptypes),
        static=static,
        degraded=d.has_error,
    )


def _context(src: bytes, node: Node) -> tuple[bool, bool, str | None, bool]:
    """(in_loop, dead, guard condition, in else branch) for a focus call."""
    in_loop = False
    dead = False
    guard: str | None = None
    guard_else = False
    child = node
    cur = node.parent
    while cur is not None and cur.type != "function_definition":
        t = cur.type
        if t in _LOOPS:
            in_loop = True
        elif t == "if_statement" and guard is None:
            cond = cur.child_by_field_name("condition")
            if cond is not None and child.start_byte >= cond.end_byte:
                guard = _text(src, cond).strip()[1:-1].strip() if cond.type == "parenthesized_expression" else _text(src, cond)
                alt = cur.child_by_field_name("alternative")
                guard_else = alt is not None and alt.start_byte <= child.start_byte
        elif t == "case_statement" and guard is None:
            val = cur.child_by_field_name("value")
            guard = "case " + (_text(src, val).strip() if val is not None else "default")
        elif t in ("preproc_if", "preproc_elif"):
            cond = cur.child_by_field_name("condition")
            alt = cur.child_by_field_name("alternative")
            in_alt = alt is not None and alt.start_byte <= child.start_byte
            if cond is not None and _text(src, cond).strip() == "0" and not in_alt:
                dead = True
        if not in_loop and t in ("compound_statement", "expression_statement"):
            prev = cur.prev_named_sibling
            if prev is not None and prev.type == "expression_statement" and FOR_EACH_CALL.match(src[prev.start_byte : prev.end_byte]):
                in_loop = True
        child = cur
        cur = cur.parent
    return in_loop, dead, guard, guard_else


def _lhs_of(src: bytes, call: Node) -> tuple[str | None, bool]:
    """What the call's value is assigned to, and whether it is returned."""
    p = call.parent
    # Casts and parentheses around the call: `(long)f(x)`.
    while p is not None and p.type in ("cast_expression", "parenthesized_expression"):
        p = p.parent
    if p is None:
        return None, False
    if p.type == "assignment_expression":
        left = p.child_by_field_name("left")
        return (_text(src, left).strip() if left is not None else None), False
    if p.type == "init_declarator":
        n = _declared_name(p.child_by_field_name("declarator"))
        return (_text(src, n) if n is not None else None), False
    if p.type == "return_statement":
        return None, True
    return None, False


@dataclass
class _Captured:
    """What one pass of the fact queries over a tree found, before functions are assigned."""

    funcs: list[FuncInfo] = field(default_factory=list)
    call_nodes: list[tuple[Node, Node, Node]] = field(default_factory=list)
    """(callee, argument list, call expression) of every direct call."""
    assigns: list[tuple[str, str, int]] = field(default_factory=list)
    """(lhs, rhs, byte of lhs) of assignments and initialised declarations."""
    decls: list[tuple[str, str, int]] = field(default_factory=list)
    """(name, struct tag, byte) of struct-typed declarations."""
    macros: list[MacroDef] = field(default_factory=list)
    returns: list[tuple[str, int]] = field(default_factory=list)
    """(returned text, byte) of return statements."""
    bodies: dict[int, Node] = field(default_factory=dict)
    """Body start byte -> the body node of each function."""


def _capture(src: bytes, lines: parse.Lines, tree: Tree, focus: frozenset[str]) -> _Captured:
    """Run the fact queries over `tree` and sort their captures by kind."""
    got = _Captured()
    for _stem, caps in queries.run(tree):
        if "call.fn" in caps:
            got.call_nodes.append((caps["call.fn"][0], caps["call.args"][0], caps["call.expr"][0]))
        elif "func.def" in caps:
            fi = _function_info(src, lines, caps["func.def"][0], caps["func.decl"][0], caps["func.body"][0])
            if fi is not None:
                got.funcs.append(fi)
                got.bodies[fi.start_byte] = caps["func.body"][0]
        elif "assign.lhs" in caps:
            lhs_n, rhs_n = caps["assign.lhs"][0], caps["assign.rhs"][0]
            got.assigns.append((_text(src, lhs_n), _text(src, rhs_n), lhs_n.start_byte))
        elif "init.decl" in caps:
            n = _declared_name(caps["init.decl"][0])
            if n is not None:
                got.assigns.append((_text(src, n), _text(src, caps["init.value"][0]), n.start_byte))
        elif "decl.struct" in caps:
            n = _declared_name(caps["decl.var"][0])
            if n is not None:
                got.decls.append((_text(src, n), _text(src, caps["decl.struct"][0]), n.start_byte))
        elif "ret.value" in caps:
            v = caps["ret.value"][0]
            got.returns.append((_text(src, v), v.start_byte))
        elif "macro.name" in caps:
            macro = _macro(src, lines, caps, focus)
            if macro is not None:
                got.macros.append(macro)
    return got


def _macro(src: bytes, lines: parse.Lines, caps: dict[str, list[Node]], focus: frozenset[str]) -> MacroDef | None:
    """A function-like macro whose body names a focus call (a wrapper), else None."""
    body = _text(src, caps["macro.body"][0])
    if not any(name in body for name in focus):
        return None
    params = tuple(_text(src, c) for c in caps["macro.params"][0].named_children if c.type == "identifier")
    return MacroDef(_text(src, caps["macro.name"][0]), params, " ".join(body.split()),
                    lines.line_of(caps["macro.name"][0].start_byte))


class _Functions:
    """The functions of a parse, sorted, and which one holds a byte."""

    def __init__(self, funcs: list[FuncInfo]) -> None:
        self.funcs = sorted(funcs, key=lambda f: f.start_byte)
        self._reindex()

    def _reindex(self) -> None:
        self.covered = [(f.start_byte, f.end_byte) for f in self.funcs]
        self.starts = [r[0] for r in self.covered]

    def covering(self, byte: int) -> int:
        """Index of the function holding `byte`, -1 when none does."""
        i = bisect_right(self.starts, byte) - 1
        return i if i >= 0 and self.covered[i][0] <= byte < self.covered[i][1] else -1

    def at(self, byte: int) -> FuncInfo | None:
        """The function holding `byte`."""
        i = self.covering(byte)
        return self.funcs[i] if i >= 0 else None

    def add_layout_fallback(self, src: bytes, lines: parse.Lines, ranges: list[tuple[int, int]] | None) -> None:
        """Functions tree-sitter could not build, found by kernel layout, where they add bodies."""
        for name, nbyte, b0, b1 in parse.text_functions(src):
            if ranges and not any(a <= b0 < b for a, b in ranges):
                continue
            if self.covering(b0 + 1) < 0:
                self.funcs.append(FuncInfo(name, lines.line_of(nbyte), b0, b1, (), (), False, True))
        self.funcs.sort(key=lambda f: f.start_byte)
        self._reindex()


def _calls(path: str, src: bytes, lines: parse.Lines, got: _Captured, fns: _Functions,
           focus: frozenset[str]) -> tuple[list[Call], list[ParseProblem]]:
    """Every call with its enclosing function, value use and (for the calls that matter) context."""
    calls: list[Call] = []
    problems: list[ParseProblem] = []
    for fn, args, expr in got.call_nodes:
        name = _text(src, fn)
        f = fns.at(fn.start_byte)
        lhs, returned = _lhs_of(src, expr)
        # Loop/guard context matters for releases and for calls that may pass pages on; skip the
        # parent walk for the rest (most calls), it is the costliest part of extraction.
        if name in focus or (f is not None and _CARRIES.search(src, args.start_byte, args.end_byte)):
            in_loop, dead, guard, guard_else = _context(src, expr)
        else:
            in_loop, dead, guard, guard_else = False, False, None, False
        if name in focus and f is not None and f.degraded and f.params == ():
            problems.append(
                ParseProblem(path, lines.line_of(fn.start_byte),
                             f"parse damaged around {name}(): enclosing function {f.name} found by layout")
            )
        calls.append(
            Call(
                name=name,
                span=lines.span(fn.start_byte, fn.end_byte),
                call_end_byte=expr.end_byte,
                args=split_args(_text(src, args)) if (name in focus or f is not None) else (),
                func=f.name if f is not None else None,
                lhs=lhs,
                returned=returned,
                in_loop=in_loop,
                dead=dead,
                guard=guard,
                guard_else=guard_else,
                stmt_line=lines.line_of(expr.start_byte),
            )
        )
    return calls, problems


def _placed(lines: parse.Lines, got: _Captured, fns: _Functions) -> tuple[list[Assign], list[Decl], list[tuple[str, str]]]:
    """Assignments, struct-typed declarations (parameters too) and returns, with their function."""
    assigns = []
    for lhs, rhs, b in got.assigns:
        f = fns.at(b)
        if f is not None:
            assigns.append(Assign(" ".join(lhs.split()), " ".join(rhs.split()), f.name, lines.line_of(b)))
    decls = []
    for name, tag, b in got.decls:
        f = fns.at(b)
        decls.append(Decl(name, tag, f.name if f is not None else None))
    for f in fns.funcs:
        for pn, pt in zip(f.params, f.param_types):
            if pn and pt:
                decls.append(Decl(pn, pt, f.name))
    returns = []
    for text, b in got.returns:
        f = fns.at(b)
        if f is not None:
            returns.append((f.name, " ".join(text.split())))
    return assigns, decls, returns


def _flows(src: bytes, lines: parse.Lines, got: _Captured, fns: _Functions, calls: list[Call],
           flows_for: frozenset[str]) -> list[flow.Flow]:
    """The control-flow graphs of the functions that call a name in `flows_for`."""
    if not flows_for:
        return []
    return _build_flows(src, lines, fns, got.bodies,
                        {c.func for c in calls if c.name in flows_for and c.func is not None})


def _build_flows(src: bytes, lines: parse.Lines, fns: _Functions, bodies: dict[int, Node],
                 wanted: set[str]) -> list[flow.Flow]:
    """The control-flow graphs of the functions named in `wanted`, in file order."""
    out = []
    for f in fns.funcs:
        body = bodies.get(f.start_byte)
        if f.name in wanted and body is not None:
            fl = flow.build(f.name, body, src, lines, split_args)
            if fl is not None:
                out.append(fl)
    return out


def flows_only(src: bytes, ranges: list[tuple[int, int]], lines: parse.Lines,
               flows_for: frozenset[str]) -> tuple[flow.Flow, ...]:
    """The control-flow graphs `extract(..., flows_for=flows_for)` would give for `ranges`, without
    the other facts (calls with their context, assignments, declarations): for a function whose
    other facts are already known, parsed again because it calls a newly found wrapper."""
    bodies: dict[int, Node] = {}
    funcs: list[FuncInfo] = []
    callees: list[Node] = []
    for _stem, caps in queries.run(parse.parse(src, ranges, lines)):
        if "call.fn" in caps:
            callees.append(caps["call.fn"][0])
        elif "func.def" in caps:
            fi = _function_info(src, lines, caps["func.def"][0], caps["func.decl"][0], caps["func.body"][0])
            if fi is not None:
                funcs.append(fi)
                bodies[fi.start_byte] = caps["func.body"][0]
    fns = _Functions(funcs)
    wanted = {f.name for fn in callees if _text(src, fn) in flows_for and (f := fns.at(fn.start_byte)) is not None}
    return tuple(_build_flows(src, lines, fns, bodies, wanted))


def extract(path: str, src: bytes, focus: frozenset[str], ranges: list[tuple[int, int]] | None = None,
            lines: parse.Lines | None = None, masked: bytes | None = None,
            flows_for: frozenset[str] = frozenset()) -> FileFacts:
    """Parse `src` (or only its byte `ranges`) and return the facts. `focus` names the calls that get
    full context; `lines` and `masked` may be passed in when the same file is parsed repeatedly.
    Functions that call a name in `flows_for` also get their control-flow graph (`flow.build`)."""
    lines = lines or parse.Lines(src)
    got = _capture(src, lines, parse.parse(src, ranges, lines, masked), focus)
    fns = _Functions(got.funcs)
    if any(fns.covering(fn.start_byte) < 0 for fn, _, _ in got.call_nodes if _text(src, fn) in focus):
        fns.add_layout_fallback(src, lines, ranges)
    calls, problems = _calls(path, src, lines, got, fns, focus)
    assigns, decls, returns = _placed(lines, got, fns)
    return FileFacts(
        path=path,
        flows=tuple(_flows(src, lines, got, fns, calls, flows_for)),
        functions=tuple(fns.funcs),
        calls=tuple(calls),
        assigns=tuple(assigns),
        decls=tuple(decls),
        macros=tuple(got.macros),
        returns=tuple(returns),
        lines=tuple(lines.starts),
        problems=tuple(problems),
    )
