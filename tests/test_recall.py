"""Recall on real trees: every call of a catalogue API is either a reported site or visibly not a call.

The calls are found independently of the tool: `grep -w` picks every file that names an API as a
word, and a small lexer blanks comments, strings and character literals (keeping line breaks)
and joins continued lines, so that `name` followed by `(` is found even when a line break or a
comment separates them (2.6.32 drivers/misc/sgi-gru/grufault.c splits `get_user_pages` from its
arguments). What remains unreported must be a definition, a prototype, a macro body, a driver's
own static function of the same name, or `follow_page()` with constant flags and no FOLL_GET.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from audit import catalogue
from audit.engine import audit_tree
from audit.version import tree_version
from audit.source import FsSource

pytestmark = pytest.mark.kernel

_LEXEMES = re.compile(rb'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|\\\r?\n', re.S)


def _blank(m: re.Match[bytes]) -> bytes:
    """A comment, string or char literal, or a line continuation, as spaces (line breaks kept)."""
    return re.sub(rb"[^\n]", b" ", m.group(0))


def code_only(src: bytes) -> bytes:
    """`src` with comments, strings and character literals blanked; offsets and lines unchanged."""
    return _LEXEMES.sub(_blank, src)


def calls_in(src: bytes, names: list[str]) -> list[tuple[int, str, bool]]:
    """(line, api, split) of every `name (` in the code of `src`; `split` when the name and its `(`
    are on different lines or something other than blanks separates them in the original text."""
    code = code_only(src)
    rx = re.compile(rb"\b(" + b"|".join(re.escape(n.encode()) for n in names) + rb")\b\s*\(")
    out = []
    for m in rx.finditer(code):
        gap = src[m.end(1) : m.end() - 1]
        out.append((code.count(b"\n", 0, m.start()) + 1, m.group(1).decode(), bool(gap.strip(b" \t"))))
    return out


def _not_a_call(src: bytes, line: int, api: str, path: str) -> bool:
    lines = code_only(src).split(b"\n")
    text = lines[line - 1].decode("utf-8", "replace")
    # A macro body: the directive's logical line starts with `#`.
    first = line - 1
    while first > 0 and src.split(b"\n")[first - 1].rstrip().endswith(b"\\"):
        first -= 1
    if lines[first].lstrip().startswith(b"#"):
        return True
    # A definition or prototype: the name starts a column-0 declaration (type words before it).
    text = re.sub(r"__attribute__\s*\(\(.*?\)\)", "", text)
    if not text.startswith(("\t", " ")) and re.match(r"^(?:[A-Za-z_][\w\s\*]*\b)?" + re.escape(api) + r"\s*\(", text):
        return True
    if re.search(rb"^static\b[^;(]*\b" + api.encode() + rb"\s*\(", src, re.M) and not path.startswith("mm/"):
        return True  # a driver's own static function of the same name shadows the API
    return api == "follow_page" and "FOLL_GET" not in text and not re.search(r"follow_page\([^)]*,\s*[a-z_]\w*\)", text)


def _recall(root: Path) -> tuple[list[tuple[str, int, str]], list[tuple[str, int, str]], dict[tuple[str, int, str], str]]:
    """(missed calls, split calls, status of every reported site) for one tree."""
    names = sorted(catalogue.load(tree_version(FsSource(str(root)))).acquire)
    listed = subprocess.run(
        ["grep", "-rlwZF", "-D", "skip", "--include=*.c", "--include=*.h", *(a for n in names for a in ("-e", n)), "."],
        cwd=root, capture_output=True, check=False,
    ).stdout
    report = audit_tree(FsSource(str(root)))
    got = {(s.file, s.line, s.api): s.status.value for s in report.sites}
    missed, split = [], []
    for name in sorted(filter(None, listed.split(b"\0"))):
        rel = name.decode()[2:]
        src = (root / rel).read_bytes()
        for line, api, is_split in calls_in(src, names):
            key = (rel, line, api)
            if is_split:
                split.append(key)
            if key not in got and not _not_a_call(src, line, api, rel):
                missed.append(key)
    # and every reported site is the api's name at the reported line and column
    for s in report.sites:
        text = (root / s.file).read_bytes().split(b"\n")[s.line - 1].decode("utf-8", "replace")
        assert text[s.column - 1 : s.column - 1 + len(s.api)] == s.api, (s.file, s.line)
    return missed, split, got


def test_the_lexer_finds_split_calls_and_ignores_comments_and_strings() -> None:
    src = (b"/* get_user_pages(a) */\n"
           b"x = \"get_user_pages(\";\n"
           b"ret = get_user_pages\n"
           b"\t\t(current, mm);\n"
           b"n = pin_user_pages_fast /* why */ (a, 1, 0, p); // get_user_pages(b)\n"
           b"c = '(';\n"
           b"y = get_user_pages_fast(a, 1, 0, p);\n")
    assert calls_in(src, ["get_user_pages", "get_user_pages_fast", "pin_user_pages_fast"]) == [
        (3, "get_user_pages", True), (5, "pin_user_pages_fast", True), (7, "get_user_pages_fast", False)]


@pytest.mark.parametrize("fixture", ["tree_2632", "tree_61", "tree_612"])
def test_every_call_of_an_acquire_api_is_a_site(fixture: str, request: pytest.FixtureRequest) -> None:
    root: Path = request.getfixturevalue(fixture)
    missed, split, got = _recall(root)
    assert missed == []
    # Split calls are counted and found like any other.
    assert [k for k in split if k not in got] == []
    if fixture == "tree_2632":
        assert ("drivers/misc/sgi-gru/grufault.c", 214, "get_user_pages") in split
        assert got[("drivers/misc/sgi-gru/grufault.c", 214, "get_user_pages")] == "raw-closure"
