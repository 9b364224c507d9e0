"""audit/sourcefile.py and Source.file: one model of a C file — its functions, the calls and uses of
names in them, the macros it defines — answered from queries/, and read once per source."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit import sourcefile
from audit.source import FsSource
from audit.sourcefile import SourceFile
from conftest import make_tree

SRC = b"""#define reuse_page(p) (page_count(p) == 1)
static int helper(struct page *page)
{
\t/* page_count(page) in a comment is no call */
\tchar *s = "page_count(page)";
\treturn page_count(page) + FLAG_X;
}

#if 0
static int helper(struct page *page) { return 0; }
#endif

static int (wrapped)(void)
{
\treturn helper(NULL);
}
"""


def test_functions_skip_if_0_and_know_their_lines() -> None:
    sf = SourceFile("mm/x.c", SRC)
    assert sorted(sf.functions) == ["helper", "wrapped"]
    (h,) = sf.functions["helper"]
    assert (h.line, h.start, h.degraded) == (2, SRC.index(b"{\n\t/*"), False)
    # The first definition of a name anywhere (dead code too), as `audit fix` looks it up.
    assert sf.definition("helper") is not None and sf.definition("nothing") is None


def test_calls_and_identifiers_are_code_only() -> None:
    sf = SourceFile("mm/x.c", SRC)
    (h,) = sf.functions["helper"]
    calls = list(sf.calls(h.start, h.end, frozenset({"page_count"})))
    assert [(n, sf.lines.line_of(c.start_byte)) for n, c in calls] == [("page_count", 6)]
    assert [n for n, _ in sf.identifiers(h.start, h.end, frozenset({"FLAG_X"}))] == ["FLAG_X"]
    assert sourcefile.callees(sf.functions["wrapped"][0].body) == ["helper"]  # type: ignore[arg-type]


def test_macros_dead_code_and_the_call_at_a_position() -> None:
    sf = SourceFile("mm/x.c", SRC)
    assert [n for n, _ in sf.macros(frozenset({"reuse_page"}))] == ["reuse_page"]
    assert [sf.dead(d) for d in sf.definitions()] == [False, True, False]  # the second helper is under #if 0
    call = sf.call_at(6, 9, "page_count")
    assert call is not None and sf.text(call) == "page_count(page)"
    assert sf.call_at(6, 10, "page_count") is None


def test_a_function_tree_sitter_cannot_build_is_found_by_layout() -> None:
    src = b"int f(int u)\n{\n#ifdef A\n\tif (u) {\n#else\n\tif (!u) {\n#endif\n\t\treturn g(u);\n\t}\n\treturn 0;\n}\n"
    (f,) = SourceFile("x.c", src).find(["f"])
    assert (f.name, f.degraded, f.body) == ("f", True, None)


def test_a_source_reads_a_file_once_and_raises_for_a_missing_one(tmp_path: Path) -> None:
    src = FsSource(str(make_tree(tmp_path, {"mm/memory.c": "int x;\n"})))
    assert src.file("mm/memory.c") is src.file("mm/memory.c")
    with pytest.raises(FileNotFoundError):
        src.file("mm/gup.c")
    assert src.problem() is None and FsSource(str(tmp_path / "nope")).problem() == "no such file or directory"
