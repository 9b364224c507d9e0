"""One C file of the audited tree as the parsing layer hands it out.

A `SourceFile` holds the file's bytes and, computed on first use, its line index, its masked text,
its column-0 function chunks, its tree-sitter tree and its function definitions. Every other layer
gets one through `Source.file(rel)` (the fact store builds its own from the bytes the prefilter
already read). What it answers — which functions a file defines, where a name is called or used,
which function-like macros it defines — comes from `queries/`; the only hand-written climbs are the
ones a query cannot express (is a node in an `#if 0` branch, which declarator names a function).
Nodes it returns are `audit.parse.Node`s: they stay inside the parsing layer and the COW profiler.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from functools import cache, cached_property

from audit import parse, queries
from audit.grep import has_word, word_starts
from audit.parse import Node, Tree

_SCOPES = frozenset({
    "translation_unit", "ERROR", "linkage_specification", "declaration_list", "compound_statement",
    "preproc_if", "preproc_ifdef", "preproc_else", "preproc_elif", "preproc_elifdef",
})
"""Node types a top-level function definition may sit in (file scope, preprocessor branches, the
error nodes of macro damage); a definition under anything else is not a top-level function."""


@cache
def names_regex(names: frozenset[str], call: bool) -> re.Pattern[bytes]:
    alt = b"|".join(re.escape(n.encode()) for n in sorted(names, key=len, reverse=True))
    return re.compile(rb"\b(" + alt + rb")\b" + (rb"\s*\(" if call else b""))


@dataclass(frozen=True)
class Function:
    """A function body in a source file (tree-sitter's, or the kernel-layout fallback's)."""

    name: str
    """The function's name."""
    path: str
    """File relative to the tree root."""
    line: int
    """1-based line of the name."""
    start: int
    """Byte offset of the body's `{`."""
    end: int
    """Byte offset just past the body's `}`."""
    body: Node | None
    """The compound statement (None for a text-fallback function)."""
    degraded: bool
    """tree-sitter built no function_definition; found by kernel layout."""


def is_if0(src: bytes, node: Node) -> bool:
    """`node` is a `#if 0` (a preproc_if whose condition is the literal 0)."""
    cond = node.child_by_field_name("condition")
    return cond is not None and src[cond.start_byte : cond.end_byte].strip() == b"0"


def declarator_name(d: Node | None) -> Node | None:
    """The identifier a (pointer, array, parenthesized, init) declarator declares."""
    while d is not None and d.type not in ("identifier", "field_identifier"):
        nxt = d.child_by_field_name("declarator")
        if nxt is None:
            nxt = next((c for c in d.named_children if c.type in ("identifier", "parenthesized_declarator",
                                                                     "pointer_declarator", "array_declarator")), None)
        d = nxt
    return d


def defined_name(fdef: Node) -> Node | None:
    """The identifier a function_definition defines (through pointer and other declarators)."""
    d = fdef.child_by_field_name("declarator")
    while d is not None and d.type != "function_declarator":
        d = d.child_by_field_name("declarator")
    return declarator_name(d.child_by_field_name("declarator")) if d is not None else None


def calls_under(node: Node, names: Collection[str] | None = None) -> Iterator[tuple[str, Node]]:
    """(callee, call_expression) of every direct call under `node` (itself included) whose callee is
    in `names` (any, when None), in document order."""
    for caps in queries.matches("facts/calls", node):
        t = caps["call.fn"][0].text
        if t is not None and (names is None or t.decode() in names):
            yield t.decode(), caps["call.expr"][0]


def callees(node: Node) -> list[str]:
    """The callee names of every direct call under `node` (itself included), in document order."""
    return [name for name, _ in calls_under(node)]


def nodes(node: Node, query: str) -> list[tuple[str, Node]]:
    """(capture, node) for every capture of `queries/<query>.scm` under `node` (itself included), in
    the order of a walk: document order, an enclosing node before the nodes inside it."""
    found = [(cap, n) for caps in queries.matches(query, node) for cap, ns in caps.items() for n in ns]
    return sorted(found, key=lambda x: (x[1].start_byte, -x[1].end_byte))


def identifiers_under(node: Node, name: str) -> Iterator[Node]:
    """Every identifier `name` used as code under `node`, in document order."""
    want = name.encode()
    for caps in queries.matches("source/identifiers", node):
        ident = caps["use.ident"][0]
        if ident.text == want:
            yield ident


class SourceFile:
    """One file of the tree: bytes, line index, masked text, lazy tree and functions."""

    def __init__(self, path: str, src: bytes, chunks: list[parse.Chunk] | None = None) -> None:
        """The file `path` (relative to the tree root) with contents `src`; `chunks` when its
        column-0 functions are already known (the fact store cuts big files its own way)."""
        self.path = path
        self.src = src
        self._chunks = chunks

    @property
    def chunks(self) -> list[parse.Chunk]:
        """Its column-0 functions (`parse.chunks`), in file order."""
        if self._chunks is None:
            self._chunks = parse.chunks(self.src)
        return self._chunks

    @cached_property
    def lines(self) -> parse.Lines:
        """Line numbering."""
        return parse.Lines(self.src)

    @cached_property
    def masked(self) -> bytes:
        """`src` with attribute macros blanked (same length and line breaks)."""
        return parse.mask(self.src)

    @cached_property
    def tree(self) -> Tree:
        """The tree-sitter tree of the masked source (offsets are those of `src`)."""
        return parse.parse(self.src, masked=self.masked)

    @cached_property
    def utf8(self) -> bool:
        """The bytes decode as UTF-8."""
        try:
            self.src.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True

    def mentions(self, names: Iterable[str]) -> bool:
        """Whether any of `names` occurs in the text at all, as a whole word."""
        return any(has_word(self.src, n.encode()) for n in names)

    def text(self, node: Node) -> str:
        """Source text of `node`."""
        return self.src[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def offset(self, line: int, column: int) -> int:
        """Byte offset of 1-based `line` and character `column` (-1 past the file)."""
        if line < 1 or line > len(self.lines.starts):
            return -1
        return self.lines.starts[line - 1] + len(self.lines.text(line)[: column - 1].encode("utf-8"))

    def line_start(self, byte: int) -> int:
        """Byte offset of the start of the line holding `byte`."""
        return self.src.rfind(b"\n", 0, byte) + 1

    def call_at(self, line: int, column: int, name: str) -> Node | None:
        """The call_expression whose callee `name` starts at (line, column)."""
        at = self.offset(line, column)
        if at < 0 or self.src[at : at + len(name)] != name.encode():
            return None
        for caps in queries.matches("facts/calls", self.tree.root_node, at, at + len(name)):
            ident = caps["call.fn"][0]
            if ident.start_byte == at and ident.end_byte == at + len(name):
                return caps["call.expr"][0]
        return None

    # -- functions --------------------------------------------------------------------------------

    def definitions(self) -> Iterator[Node]:
        """Every function_definition node, in document order (dead code and nested ones too)."""
        for caps in queries.matches("facts/functions", self.tree.root_node):
            yield caps["func.def"][0]

    @cached_property
    def _first_definitions(self) -> dict[str, Node]:
        out: dict[str, Node] = {}
        for fdef in self.definitions():
            ident = defined_name(fdef)
            name = ident.text.decode() if ident is not None and ident.text is not None else ""
            if name and name not in out:
                out[name] = fdef
        return out

    def definition(self, name: str) -> Node | None:
        """The first function_definition of `name` anywhere in the file (dead code included)."""
        return self._first_definitions.get(name)

    @cached_property
    def functions(self) -> dict[str, list[Function]]:
        """Top-level function definitions by name, in file order, skipping `#if 0` regions."""
        out: dict[str, list[Function]] = {}
        for fdef in self.definitions():
            fn = self._function(fdef)
            if fn is not None:
                out.setdefault(fn.name, []).append(fn)
        return out

    def _function(self, fdef: Node) -> Function | None:
        """The Function a top-level, live function_definition defines, else None."""
        if not self._top_level(fdef):
            return None
        ident = defined_name(fdef)
        body = fdef.child_by_field_name("body")
        if ident is None or body is None:
            return None
        name = self.src[ident.start_byte : ident.end_byte].decode()
        return Function(name, self.path, self.lines.line_of(ident.start_byte), body.start_byte, body.end_byte, body, False)

    def named(self, name: str) -> list[Function]:
        """`functions[name]` (empty when none), found from the name's occurrences in the text: only
        the definitions around them are matched, not the whole file (what a lookup by name costs)."""
        if "functions" in self.__dict__:
            return self.functions.get(name, [])
        found: dict[int, Function | None] = {}
        root = self.tree.root_node
        for at in word_starts(self.src, name.encode()):
            for caps in queries.matches("facts/functions", root, at, at + len(name)):
                fdef = caps["func.def"][0]
                if fdef.start_byte not in found:
                    found[fdef.start_byte] = self._function(fdef)
        return sorted((f for f in found.values() if f is not None and f.name == name), key=lambda f: f.start)

    def _top_level(self, node: Node) -> bool:
        """Every ancestor is a scope that holds top-level definitions, and none is the `#if 0`
        side of a preprocessor conditional."""
        child, p = node, node.parent
        while p is not None:
            if p.type not in _SCOPES and p.parent is not None:
                return False
            if p.type == "preproc_if" and is_if0(self.src, p):
                alt = p.child_by_field_name("alternative")
                if alt is None or alt != child:
                    return False
            child, p = p, p.parent
        return True

    @cached_property
    def _layout_functions(self) -> list[tuple[str, int, int, int]]:
        """The functions the kernel layout shows (`parse.text_functions`), read once."""
        return list(parse.text_functions(self.src))

    def find(self, names: Iterable[str]) -> list[Function]:
        """Definitions of `names` in this file; the kernel-layout fallback fills in the ones
        tree-sitter could not build (unbalanced `#ifdef` braces inside the function)."""
        # A whole-word search per name (bytes.find): cheaper than listing every word of a large file.
        wanted = [n for n in names if has_word(self.src, n.encode())]
        if not wanted:
            return []
        out: list[Function] = []
        missing = set()
        for n in wanted:
            defs = self.named(n)
            if defs:
                out.extend(defs)
            else:
                missing.add(n)
        if missing:
            for name, name_byte, start, end in self._layout_functions:
                if name in missing:
                    out.append(Function(name, self.path, self.lines.line_of(name_byte), start, end, None, True))
        out.sort(key=lambda f: f.start)
        return out

    # -- uses of names ----------------------------------------------------------------------------

    def dead(self, node: Node) -> bool:
        """The node sits in the `#if 0` branch of a preprocessor conditional (dead code)."""
        child, p = node, node.parent
        while p is not None:
            if p.type == "preproc_if" and is_if0(self.src, p):
                alt = p.child_by_field_name("alternative")
                if alt is None or not (alt.start_byte <= child.start_byte < alt.end_byte):
                    return True
            child, p = p, p.parent
        return False

    def calls(self, start: int, end: int, names: frozenset[str]) -> Iterator[tuple[str, Node]]:
        """(callee, call_expression) for every direct call of `names` whose callee lies in bytes
        [start, end), in order. Comments, strings and declarations never count."""
        if not names or names_regex(names, False).search(self.src, start, end) is None:
            return
        found = []
        for caps in queries.matches("facts/calls", self.tree.root_node, start, end):
            ident = caps["call.fn"][0]
            if start <= ident.start_byte and ident.end_byte <= end:
                name = self.src[ident.start_byte : ident.end_byte].decode("utf-8", "replace")
                if name in names:
                    found.append((ident.start_byte, name, caps["call.expr"][0]))
        for _, name, call in sorted(found, key=lambda x: x[0]):
            yield name, call

    def identifiers(self, start: int, end: int, names: frozenset[str]) -> Iterator[tuple[str, Node]]:
        """(name, identifier node) for every identifier of `names` used as code in bytes [start, end)."""
        if not names or names_regex(names, False).search(self.src, start, end) is None:
            return
        found = []
        for caps in queries.matches("source/identifiers", self.tree.root_node, start, end):
            ident = caps["use.ident"][0]
            if start <= ident.start_byte and ident.end_byte <= end:
                name = self.src[ident.start_byte : ident.end_byte].decode("utf-8", "replace")
                if name in names:
                    found.append((ident.start_byte, name, ident))
        for _, name, ident in sorted(found, key=lambda x: x[0]):
            yield name, ident

    def macros(self, names: frozenset[str]) -> Iterator[tuple[str, Node]]:
        """(name, preproc_function_def) for every function-like macro defining one of `names`."""
        if not self.mentions(names):
            return
        for caps in queries.matches("source/defines", self.tree.root_node):
            name = self.text(caps["define.name"][0])
            if name in names:
                yield name, caps["define.def"][0]

