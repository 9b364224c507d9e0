"""The byte prefilter (audit/walk.py): candidate files only, chosen so that no name can be missed."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit import catalogue, engine, grep, walk
from audit.catalogue import CallFinder
from audit.source import FsSource
from audit.version import tree_version

ERAS = {
    # The declared acquire APIs of three real trees (engine.declared_apis).
    "2.6.32": ["follow_page", "get_dump_page", "get_user_pages", "get_user_pages_fast"],
    "6.1": ["bio_iov_iter_get_pages", "follow_page", "get_dump_page", "get_user_page_fast_only", "get_user_pages",
            "get_user_pages_fast", "get_user_pages_fast_only", "get_user_pages_remote", "get_user_pages_unlocked",
            "iov_iter_get_pages", "iov_iter_get_pages2", "iov_iter_get_pages_alloc2", "pin_user_pages",
            "pin_user_pages_fast", "pin_user_pages_fast_only", "pin_user_pages_remote", "pin_user_pages_unlocked"],
    "6.12": ["bio_iov_iter_get_pages", "extract_iter_to_sg", "get_dump_page", "get_user_page_vma_remote",
             "get_user_pages", "get_user_pages_fast", "get_user_pages_remote", "iov_iter_extract_pages",
             "memfd_pin_folios", "pin_user_pages_fast", "pin_user_pages_remote", "pin_user_pages_unlocked"],
    "catalogue": sorted(catalogue.load(None).acquire),
}
SAMPLE = b"struct page *page; put_page(page); nr_pages = pages; unpin_user_page(p); folio_put(f);\n" * 200


@pytest.mark.parametrize("era", sorted(ERAS))
@pytest.mark.parametrize("sample", [b"", SAMPLE])
def test_every_name_contains_a_fixed_string_or_matches_the_regex(era: str, sample: bytes) -> None:
    pf = walk.prefilter(ERAS[era], sample)
    for name in ERAS[era]:
        text = f"\tn = {name}\n\t\t(a, b);\n".encode()
        assert pf.matches(text), (era, name, pf)
        if pf.fixed:
            assert any(f in name for f in pf.fixed)
    # At most two distinct first bytes: GNU grep then skips with memchr/memchr2.
    assert len({f[0] for f in pf.fixed}) <= 2


@pytest.mark.parametrize("era", sorted(ERAS))
def test_strings_frequent_in_kernel_text_are_not_chosen(era: str) -> None:
    pf = walk.prefilter(ERAS[era], SAMPLE)
    assert not any(f.encode() in SAMPLE for f in pf.fixed)
    assert not any(f.encode() in SAMPLE for f in pf.cover)


@pytest.mark.parametrize("era", sorted(ERAS))
@pytest.mark.parametrize("sample", [b"", SAMPLE])
def test_every_name_contains_a_cover_string_and_no_cover_string_is_redundant(era: str, sample: bytes) -> None:
    pf = walk.prefilter(ERAS[era], sample)
    assert all(any(c in name for c in pf.cover) for name in ERAS[era])
    for c in pf.cover:
        rest = [d for d in pf.cover if d != c]
        assert not all(any(d in name for d in rest) for name in ERAS[era]), (c, pf.cover)


def test_the_cover_takes_shared_pieces_and_whole_names_for_the_rest() -> None:
    # 6.12: one piece for the nine get/pin_user_page* names, one for the four iov_iter_get_pages
    # ones; extract_iter_to_sg and iov_iter_extract_pages share only `extract_`, too short.
    plain = b"struct page *page; put_page(page); nr_pages = pages; folio_put(f); iov_iter_count(i);\n" * 200
    pf = walk.prefilter(ERAS["6.12"] + ["get_user_page_fast_only", "iov_iter_get_pages2"], plain)
    assert pf.cover == ("extract_iter_to_sg", "get_dump_page", "iov_iter_extract_pages", "memfd_pin_folios",
                        "user_page", "v_iter_get_pages")


@pytest.mark.kernel
def test_the_rarest_first_bytes_win_on_612(tree_612: Path) -> None:
    # 6.12's names share no substring; `u` and `o` are the rarest pair of first bytes that every
    # name offers (`get_user_pages`, `memfd_pin_folios`, `extract_iter_to_sg`), and their
    # strings are rare in the declaring headers outside the names.
    src = FsSource(str(tree_612))
    pf, _ = engine._prefilter(src, catalogue.load(tree_version(src)))
    assert pf.fixed == ("o_sg", "olios", "ov_iter_extract_pages", "ov_iter_get_pages", "ump_page",
                        "user_page_fast_only", "user_page_vma_remote", "user_pages")


def test_names_sharing_a_long_substring_and_only_frequent_bytes_use_one_regex() -> None:
    pf = walk.prefilter(ERAS["6.1"], SAMPLE)
    assert pf.fixed == () and pf.regex.startswith(r"\b(") and pf.regex.endswith(r")\b")
    assert pf.matches(b"x = follow_page(vma") and not pf.matches(b"x = follow_pages(vma")


def test_a_call_is_the_name_as_a_word_then_blanks_comments_or_line_breaks_then_a_parenthesis() -> None:
    f = CallFinder(("get_user_pages", "get_user_pages_fast"))
    src = (b"a = get_user_pages\n\t\t(current, mm);\n"       # split across lines: a call
           b"b = get_user_pages /* why */ (x);\n"           # a comment in between: a call
           b"c = get_user_pages // no\n\t(y);\n"            # a line comment in between: a call
           b"#define G get_user_pages \\\n\t(z)\n"           # a line continuation: a call (in a macro)
           b"d = __get_user_pages(x);\n"                    # another name
           b"e = get_user_pages_fast;\n"                    # not called
           b"f = get_user_pages_fast(x);\n")
    lines = [src.count(b"\n", 0, i) + 1 for i in f.starts(src)]
    assert lines == [1, 3, 4, 6, 10]
    assert f.search(b"p = get_user_pages;\n") is False


def test_the_callers_index_sees_calls_split_by_a_comment_or_a_line_break() -> None:
    from audit import parse, store

    src = (b"static void a(struct page **p)\n{\n\tacme_put /* all of them */ (p);\n}\n\n"
           b"static void b(struct page **p)\n{\n\tacme_put\n\t\t(p);\n}\n\n"
           b"static void c(struct page **p)\n{\n\tvoid *f = acme_put;\n}\n")
    chunks = parse.chunks(src)
    called, _ = store.text_indexes(src, chunks)
    assert [chunks[i].name for i in called["acme_put"]] == ["a", "b"]


@pytest.mark.skipif(walk.shutil.which("git") is None, reason="git is not installed")
def test_git_grep_lists_c_and_h_files_only_and_reports_what_it_cannot_read(tmp_path: Path) -> None:
    from conftest import make_tree

    root = make_tree(tmp_path / "t", {"drivers/a/x.c": "n = get_user_pages(a, b);\n",
                                      "drivers/a/notes.c/readme.txt": "get_user_pages(\n",  # a folder named x.c
                                      "drivers/a/y.h": "#define Y get_dump_page\n",
                                      "drivers/a/z.c": "nothing here\n"})
    job = walk.GitGrepJob(str(root), walk.prefilter(["get_user_pages", "get_dump_page"]), 1)
    got = job.result()
    assert got is not None and got[0] == {"drivers/a/x.c", "drivers/a/y.h"}
    # git's messages for a file it cannot open (as a user without the permission).
    err = "error: failed to stat 'drivers/a/secret.c': Permission denied\nwarning: something else\n"
    assert job._problems(err) == [walk.ParseProblem("drivers/a/secret.c", 1, "cannot read: Permission denied")]


@pytest.mark.skipif(grep._rg() is None, reason="ripgrep is not installed")
def test_ripgrep_lists_the_same_files_and_reports_what_it_cannot_read(tmp_path: Path) -> None:
    from conftest import make_tree

    root = make_tree(tmp_path / "t", {"drivers/a/x.c": "n = get_user_pages(a, b);\n",
                                      "drivers/a/notes.c/readme.txt": "get_user_pages(\n",  # a folder named x.c
                                      "drivers/a/.hidden.h": "get_dump_page\n",  # no file is skipped as hidden
                                      "drivers/a/.gitignore": "*.c\n",  # nor as ignored
                                      "drivers/a/y.h": "#define Y get_dump_page\n",
                                      "drivers/a/bin.c": "\0\0get_user_pages\n",  # nor as binary
                                      "drivers/a/z.c": "nothing here\n"})
    pf = walk.prefilter(["get_user_pages", "get_dump_page"])
    job = grep.RgJob(str(root), pf, 1)
    got = job.result()
    assert got is not None and got[0] == {"drivers/a/x.c", "drivers/a/y.h", "drivers/a/.hidden.h", "drivers/a/bin.c"}
    assert got[0] == walk.GitGrepJob(str(root), pf, 1).result()[0]  # type: ignore[index]
    # ripgrep's message for a file it cannot open (as a user without the permission).
    err = "rg: ./drivers/a/secret.c: Permission denied (os error 13)\n"
    assert job._problems(err) == [walk.ParseProblem("drivers/a/secret.c", 1, "cannot read: Permission denied")]


def test_without_git_the_prefilter_is_gnu_grep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import make_tree

    root = make_tree(tmp_path / "t", {"drivers/a/x.c": "n = get_user_pages(a, b);\n"})
    which = walk.shutil.which
    monkeypatch.setattr(walk.shutil, "which", lambda exe: None if exe == "git" else which(exe))
    got = walk.GitGrepJob(str(root), walk.prefilter(["get_user_pages"]), 1).result()
    assert got is not None and got[0] == {"drivers/a/x.c"}
