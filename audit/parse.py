"""The one place that knows tree-sitter-c: bytes -> Tree, attribute masking, coordinates.

It also names tree-sitter's `Node` and `Tree` types for the rest of the parsing layer (queries,
facts, flow graphs, source files) and for the syntax-level COW profiler and `fix` rewrite, so that
no other module imports tree_sitter.

Kernel attribute macros are blanked with equal-length spaces before parsing (domain.md §9.4), so
byte offsets, lines and columns of the masked text are those of the file. Coordinates are turned
into 1-based lines and 1-based *character* columns here and nowhere else.
"""

from __future__ import annotations

import itertools
import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import cache

import tree_sitter
import tree_sitter_c
from tree_sitter import Language, Parser, Point, Range

from audit import tables
from audit.model import Span, fast_init

Node = tree_sitter.Node
"""A syntax node: the modules above the parser name the type through audit.parse."""
Tree = tree_sitter.Tree
"""A parsed file."""


@cache
def language() -> Language:
    """The pinned tree-sitter-c grammar."""
    return Language(tree_sitter_c.language())


@cache
def parser() -> Parser:
    """A parser for the C grammar (one per process)."""
    return Parser(language())


@dataclass(frozen=True)
class MaskSpec:
    """What to blank before parsing, and how macro-defined functions are named."""

    pattern: re.Pattern[bytes]
    """Matches every attribute token or attribute call to blank."""
    function_macros: dict[str, str]
    """Function-defining macro -> name prefix (`SYSCALL_DEFINE3` -> `sys_`)."""


@cache
def mask_spec() -> MaskSpec:
    """Load `rules/catalogue/attributes.toml`."""
    raw = tables.load("attributes")
    toks = sorted(raw.texts("tokens"), key=len, reverse=True)
    calls = sorted(raw.texts("with_args"), key=len, reverse=True)
    alts = []
    if calls:
        # One level of nested parentheses covers __attribute__((x)) and __aligned(sizeof(long)).
        alts.append(rb"\b(?:" + b"|".join(re.escape(c.encode()) for c in calls) + rb")\s*\((?:[^()]|\([^()]*\))*\)")
    if toks:
        alts.append(rb"\b(?:" + b"|".join(re.escape(t.encode()) for t in toks) + rb")\b")
    return MaskSpec(re.compile(b"|".join(alts)), raw.text_map("function_macros"))


def _blank(m: re.Match[bytes]) -> bytes:
    return re.sub(rb"[^\n]", b" ", m.group(0))


def mask_ranges(src: bytes, ranges: list[tuple[int, int]]) -> bytes:
    """`mask()` applied inside `ranges` only (enough when only those ranges are parsed)."""
    buf: bytearray | None = None
    pat = mask_spec().pattern
    for a0, b0 in ranges:
        for m in pat.finditer(src, a0, b0):
            if buf is None:
                buf = bytearray(src)
            a, b = m.span()
            buf[a:b] = _blank(m) if b"\n" in m.group(0) else b" " * (b - a)
    return src if buf is None else bytes(buf)


def mask(src: bytes) -> bytes:
    """Blank attribute macros with spaces; the result has the same length and line breaks."""
    buf: bytearray | None = None
    for m in mask_spec().pattern.finditer(src):
        if buf is None:
            buf = bytearray(src)
        a, b = m.span()
        text = m.group(0)
        buf[a:b] = _blank(m) if b"\n" in text else b" " * (b - a)
    return src if buf is None else bytes(buf)


def parse(src: bytes, ranges: list[tuple[int, int]] | None = None, lines: Lines | None = None,
          masked: bytes | None = None) -> Tree:
    """Parse masked source bytes; with `ranges`, only those byte ranges (offsets stay the file's)."""
    p = parser()
    text = masked if masked is not None else (mask_ranges(src, ranges) if ranges else mask(src))
    if not ranges:
        return p.parse(text)
    ln = lines or Lines(src)
    p.included_ranges = [
        Range(Point(ln.line_of(a) - 1, a - ln.starts[ln.line_of(a) - 1]),
              Point(ln.line_of(max(a, b - 1)) - 1, b - ln.starts[ln.line_of(max(a, b - 1)) - 1]), a, b)
        for a, b in ranges
    ]
    try:
        return p.parse(text)
    finally:
        p.included_ranges = []


class Lines:
    """Byte offset <-> (line, column) for one file."""

    def __init__(self, src: bytes) -> None:
        self.src = src
        # Each line starts one byte past the end of the one before (split and sum run in C). A
        # tuple: every FileFacts of the file shares it (`tuple()` of a tuple copies nothing).
        self.starts = tuple(itertools.accumulate([len(x) + 1 for x in src.split(b"\n")[:-1]], initial=0))

    def line_of(self, byte: int) -> int:
        """1-based line containing `byte`."""
        return bisect_right(self.starts, byte)

    def column_of(self, byte: int) -> int:
        """1-based character column of `byte`."""
        ls = self.starts[self.line_of(byte) - 1]
        seg = self.src[ls:byte]
        return (len(seg) if seg.isascii() else len(seg.decode("utf-8", "replace"))) + 1

    def span(self, start: int, end: int) -> Span:
        """The Span of bytes [start, end)."""
        starts, src = self.starts, self.src
        line = bisect_right(starts, start)
        # Most spans (a name) end on the line they start on: one search instead of four.
        nxt = starts[line] if line < len(starts) else len(src) + 1
        end_line = line if max(start, end - 1) < nxt else bisect_right(starts, end - 1)
        end_at = line if end < nxt else bisect_right(starts, end)
        seg = src[starts[line - 1]:start]
        column = (len(seg) if seg.isascii() else len(seg.decode("utf-8", "replace"))) + 1
        seg = src[starts[end_at - 1]:end]
        end_column = (len(seg) if seg.isascii() else len(seg.decode("utf-8", "replace"))) + 1
        return Span(line, column, end_line, end_column, start, end)

    def text(self, line: int) -> str:
        """The text of 1-based `line`, without its newline."""
        if line < 1 or line > len(self.starts):
            return ""
        a = self.starts[line - 1]
        b = self.starts[line] - 1 if line < len(self.starts) else len(self.src)
        return self.src[a:b].decode("utf-8", "replace")


_HEADER_NAME = re.compile(rb"\b([A-Za-z_]\w*)\s*\(")
_NOT_NAMES = frozenset({b"if", b"for", b"while", b"switch", b"return", b"sizeof", b"__attribute__", b"typeof"})


_MACRO_LINE = re.compile(rb"\w+\s*\([^()]*\)")


def header_name(src: bytes, brace: int) -> tuple[str, int] | None:
    """The function name in the kernel-style header above a column-0 `{` at byte `brace`.

    The header is the run of lines above the brace back to a blank line, a `}`, a line ending in
    `;` or `*/`, or a directive. Returns (name, byte offset of the name) or None.
    """
    h = _header(src, brace)
    return None if h is None else (h[0], h[1])


def _header(src: bytes, brace: int) -> tuple[str, int, int] | None:
    """(name, name byte, header start byte) of the header above a column-0 `{`."""
    hstart = brace
    while hstart > 0:
        prev = src.rfind(b"\n", 0, hstart - 1) + 1
        line = src[prev : hstart - 1].rstrip()
        if not line or line.startswith((b"}", b"#", b"*", b"/*")) or line.endswith((b";", b"*/", b"}", b")\\")):
            break
        if prev != hstart and _MACRO_LINE.fullmatch(line.strip()):
            # A bare macro invocation line (`store(err_type_info)`) is not part of this header.
            if src[hstart:brace].strip():
                break
        hstart = prev
        if hstart == 0:
            break
    header = src[hstart:brace]
    macros = mask_spec().function_macros
    for hm in _HEADER_NAME.finditer(header):
        word = hm.group(1)
        if word in _NOT_NAMES:
            continue
        prefix = macros.get(word.decode())
        if prefix is not None:
            arg = re.match(rb"\s*\(\s*(\w+)", header[hm.end() - 1 :])
            return prefix + (arg.group(1).decode() if arg else word.decode()), hstart + hm.start(1), hstart
        return word.decode(), hstart + hm.start(1), hstart
    return None


@fast_init
@dataclass(frozen=True)
class Chunk:
    """A top-level function found by kernel layout: header lines, then `{` … `}` at column 0."""

    name: str
    """The function's name."""
    static: bool
    """The header says `static`."""
    start: int
    """Byte offset of the header's first line."""
    end: int
    """Byte offset just past the closing brace's line."""


_OPEN = re.compile(rb"^\{[ \t]*(?:/\*.*)?$", re.M)
_OPEN_REST = re.compile(rb"\{[ \t]*(?:/\*.*)?$", re.M)
_CLOSE = re.compile(rb"^\}", re.M)


def chunks(src: bytes) -> list[Chunk]:
    """Every column-0 function body of a file with its header, in file order."""
    # NOTE: lines that start with `{` or `}` are found with bytes.find: a multi-line `^` regex
    # tries every byte of the file.
    out: list[Chunk] = []
    find = src.find
    pos = 0
    i = 0 if src[:1] == b"{" else find(b"\n{") + 1 or -1
    while i >= 0:
        m = _OPEN_REST.match(src, i)
        if m is not None:
            close = find(b"\n}", m.end())
            end = find(b"\n", close + 2) + 1 if close >= 0 else len(src)
            if end <= 0:
                end = len(src)
            h = _header(src, i)
            if h is not None:
                out.append(Chunk(h[0], b"static" in src[h[2] : i].split(b"(")[0], h[2], end))
            pos = end
        i = find(b"\n{", max(pos, i + 1) - 1) + 1 or -1
    return out


_TOP_HEADER = re.compile(rb"^[A-Za-z_][^\n;#]*\(", re.M)
MAX_CUT = 1024 * 1024
"""Longest function `chunk_around` cuts out."""


def chunk_around(src: bytes, pos: int) -> Chunk | None:
    """The function holding byte `pos` when its `{` is not at column 0 (`f(...) {`): from the
    nearest column-0 line above that opens a declaration with `(` to the next `}` at column 0.

    Used for files too big to parse whole, where a call outside the layout's chunks cannot be
    left to a whole-file parse. None when no such function can be cut out (or it is too long).
    """
    lo = max(0, pos - MAX_CUT)
    start = -1
    for m in _TOP_HEADER.finditer(src, lo, pos):
        start = m.start()
    if start < 0:
        return None
    close = _CLOSE.search(src, pos)
    if close is None or b"{" not in src[start:pos]:
        return None
    end = src.find(b"\n", close.end()) + 1 or len(src)
    if end - start > MAX_CUT:
        return None
    m = _HEADER_NAME.search(src, start, src.find(b"{", start))
    while m is not None and m.group(1) in _NOT_NAMES:
        m = _HEADER_NAME.search(src, m.end(), src.find(b"{", start))
    if m is None:
        return None
    return Chunk(m.group(1).decode(), b"static" in src[start : m.start()], start, end)


def in_comment(src: bytes, pos: int) -> bool:
    """Whether byte `pos` is inside a block comment or after a `//` on its line."""
    open_c = src.rfind(b"/*", 0, pos)
    if open_c >= 0 and src.rfind(b"*/", 0, pos) < open_c:
        return True
    return b"//" in src[src.rfind(b"\n", 0, pos) + 1:pos]


def outside_code(src: bytes, pos: int) -> bool:
    """Whether byte `pos` (outside any column-0 function) is in a comment, a directive or a
    file-scope declaration, where a name is not a call site: no reason to parse the whole file."""
    if in_comment(src, pos):
        return True
    ls = src.rfind(b"\n", 0, pos) + 1
    # The logical line (directives continue with a backslash).
    start = ls
    while start > 0 and src[max(0, start - 2) : start - 1] == b"\\":
        start = src.rfind(b"\n", 0, start - 1) + 1
    if src[start:pos].lstrip().startswith(b"#"):
        return True
    # A prototype at file scope: the statement ends with `;` before any `{`.
    semi, brace = src.find(b";", pos), src.find(b"{", pos)
    return semi >= 0 and (brace < 0 or semi < brace) and src[ls:ls + 1] not in (b"\t", b" ")


def text_functions(src: bytes) -> list[tuple[str, int, int, int]]:
    """Function bodies found by kernel layout alone: `{` and `}` at column 0.

    Used where tree-sitter built no function_definition (unbalanced `#ifdef` braces, macro
    damage). Returns (name, name_byte, body_start, body_end) tuples.
    """
    out: list[tuple[str, int, int, int]] = []
    closer = re.compile(rb"^\}", re.M)
    for m in re.finditer(rb"^\{[ \t]*(?:/\*.*)?$", src, re.M):
        start = m.start()
        close = closer.search(src, m.end())
        end = close.end() if close else len(src)
        found = header_name(src, start)
        if found is not None:
            out.append((found[0], found[1], start, end))
    return out
