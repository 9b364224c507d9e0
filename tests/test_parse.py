"""audit/parse.py: masking keeps offsets, coordinates are 1-based characters, layout finds functions."""

from __future__ import annotations

from audit import parse

SRC = (b"static int __must_check foo(int a)\n{\n\treturn a;\n}\n\n"
       b"SYSCALL_DEFINE3(bar, int, a, int, b, int, c)\n{\n\treturn 0;\n}\nint baz(void);\n")


def test_masking_blanks_attributes_and_keeps_every_offset() -> None:
    masked = parse.mask(SRC)
    assert len(masked) == len(SRC) and masked.count(b"\n") == SRC.count(b"\n")
    assert masked.startswith(b"static int              foo(int a)")
    assert parse.mask_ranges(SRC, [(40, len(SRC))]) == SRC  # the attribute lies outside the range


def test_lines_count_characters_not_bytes() -> None:
    lines = parse.Lines("a\néx\n".encode())
    assert (lines.line_of(2), lines.column_of(4)) == (2, 2)  # 'x' follows a two-byte 'é'
    assert lines.span(2, 5) == parse.Span(line=2, column=1, end_line=2, end_column=3, start_byte=2, end_byte=5)
    assert (lines.text(2), lines.text(9)) == ("éx", "")


def test_layout_finds_column_zero_functions_and_macro_defined_names() -> None:
    assert parse.chunks(SRC) == [parse.Chunk("foo", True, 0, 50), parse.Chunk("sys_bar", False, 51, 111)]
    assert parse.header_name(SRC, SRC.index(b"{", 60)) == ("sys_bar", 51)
    assert parse.text_functions(SRC)[0][:2] == ("foo", SRC.index(b"foo"))


def test_a_partial_parse_keeps_the_file_offsets() -> None:
    start = SRC.index(b"SYSCALL")
    tree = parse.parse(SRC, [(start, len(SRC))])
    assert tree.root_node.children[0].start_byte == start


def test_a_prototype_a_comment_or_a_directive_is_not_code() -> None:
    src = b"int baz(void);\n/* baz(1) */\n#define X baz(2)\n"
    assert all(parse.outside_code(src, src.index(b"baz", i)) for i in (0, 16, 30))
    assert not parse.outside_code(b"\tx = baz(1);\n", 5)
