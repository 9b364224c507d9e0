"""audit/walk.py: the .c/.h regular files of a tree, sorted; everything else is skipped with a reason;
the fingerprint changes with any file; unusable bytes are problems, not crashes."""

from __future__ import annotations

import os
from pathlib import Path

from audit import walk
from audit.model import ParseProblem


def _tree(root: Path) -> Path:
    for rel in ("mm/a.c", "mm/b.h", "mm/c.txt", ".git/x.c", "drivers/z/y.c"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("int x;\n")
    os.symlink("nowhere.c", root / "mm" / "dangling.c")
    os.mkfifo(root / "mm" / "fifo.c")
    return root


def test_walk_lists_regular_c_and_h_files_and_says_why_it_skips_others(tmp_path: Path) -> None:
    w = walk.walk(str(_tree(tmp_path)))
    assert w.files == (("drivers/z/y.c", 0), ("mm/a.c", 0), ("mm/b.h", 0))
    assert set(w.problems) == {ParseProblem("mm/fifo.c", 1, "a FIFO, not a regular file: skipped"),
                               ParseProblem("mm/dangling.c", 1, "dangling or looping symlink, skipped")}
    assert w.dirs == ("", "drivers", "drivers/z", "mm")


def test_the_fingerprinting_walk_agrees_and_notices_a_change(tmp_path: Path) -> None:
    root = str(_tree(tmp_path))
    w, fp = walk.walk_fingerprinted(root)
    plain = walk.walk(root)
    assert (w.files, set(w.problems), w.dirs) == (plain.files, set(plain.problems), plain.dirs)
    assert walk.walk_fingerprinted(root)[1] == fp
    (tmp_path / "mm" / "a.c").write_text("int xy;\n")
    assert walk.walk_fingerprinted(root)[1] != fp


def test_binary_files_are_not_parsed_and_bad_utf8_is_noted_at_its_line() -> None:
    problems: list[ParseProblem] = []
    assert not walk.usable("x.c", b"a\0b", problems)
    assert walk.usable("y.c", b"ok\n\xff\n", problems)
    assert problems == [ParseProblem("x.c", 1, "binary content (NUL bytes), not parsed"),
                        ParseProblem("y.c", 2, "invalid UTF-8; parsed as bytes, text shown with replacements")]


def test_work_is_split_by_size_largest_first() -> None:
    assert walk.chunked([("a", 5), ("b", 3), ("c", 2), ("d", 1)], 2) == [[("a", 5), ("d", 1)], [("b", 3), ("c", 2)]]


def test_the_prefilter_selects_files_naming_an_api() -> None:
    pf = walk.prefilter(["get_user_pages", "pin_user_pages_fast"])
    assert pf.matches(b"x = pin_user_pages_fast(") and not pf.matches(b"get_user_page(")
