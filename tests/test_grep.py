"""audit/grep.py: the early start of `audit TREE` (before the tool is imported) and its hand-over."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from audit import cache, catalogue, engine, grep
from audit.source import FsSource
from audit.version import tree_version
from conftest import make_tree

DRIVER = "static int acme(unsigned long u, struct page **p)\n{\n\treturn get_user_pages_fast(u, 1, 0, p);\n}\n"


def test_only_a_plain_scan_of_a_tree_is_started_early(tmp_path: Path) -> None:
    tree = str(make_tree(tmp_path / "t", {"drivers/misc/acme.c": DRIVER}))
    assert grep._scan_root([tree, "--format", "json", "--no-cache"]) == tree
    assert grep._scan_root(["-o", "out.json", "--jobs", "2", tree, "--no-cache"]) == tree
    assert grep._scan_root([tree, "--format", "json"]) == tree
    assert grep._scan_root(["rules", "--no-cache"]) is None
    assert grep._scan_root([tree + "/drivers", "--no-cache"]) is None  # a folder inside a tree
    assert grep._scan_root([tree, "--no-cache", "--help"]) is None


@pytest.mark.skipif(grep.shutil.which("git") is None, reason="git is not installed")
def test_a_tree_the_result_cache_knows_is_not_grepped_early(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    tree = str(make_tree(tmp_path / "t", {"drivers/misc/acme.c": DRIVER}))
    try:
        grep.start_early([tree, "--format", "json"])  # never seen: grep starts
        assert len(grep._EARLY) == 1
        grep.drop_early()
        cache.mark(FsSource(tree).identity())
        grep.start_early([tree, "--format", "json"])  # a cached report may serve this run
        assert grep._EARLY == []
        grep.start_early([tree, "--no-cache"])
        assert len(grep._EARLY) == 1
        grep.drop_early()
        grep.start_early([tree, "--no-cache", "--jobs", "1"])  # the job the engine will ask for
        assert [jobs for _, _, jobs, _ in grep._EARLY] == [1]
    finally:
        grep.drop_early()


@pytest.mark.skipif(grep.shutil.which("git") is None, reason="git is not installed")
def test_the_engine_takes_over_the_early_job_when_it_asks_for_the_same(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", {"drivers/misc/acme.c": DRIVER})
    grep.start_early([str(tree), "--no-cache"])
    try:
        assert len(grep._EARLY) == 1
        src = FsSource(str(tree))
        pf, _ = engine._prefilter(src, catalogue.load(tree_version(src)))
        n = os.cpu_count() or 1
        assert grep.claim_early(str(tmp_path / "other"), pf, n) is None
        job = grep.claim_early(str(tree), pf, n)
        assert job is not None and grep.claim_early(str(tree), pf, n) is None
        got = job.result()
        assert got is not None and got[0] == {"drivers/misc/acme.c"}
    finally:
        grep.drop_early()


@pytest.mark.skipif(grep.shutil.which("git") is None, reason="git is not installed")
def test_an_unclaimed_early_job_is_stopped(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", {"drivers/misc/acme.c": DRIVER})
    grep.start_early([str(tree), "--no-cache"])
    procs = [p for _, _, _, job in grep._EARLY for p in job.procs]
    grep.drop_early()
    assert grep._EARLY == [] and all(p.poll() is not None for p in procs)


@pytest.mark.parametrize(("text", "call", "member"), [
    (b"x = helper_fn(a);", True, False),
    (b"x = helper_fn\n\t\t(a);", True, False),            # split across lines
    (b"x = my_helper_fn(a);", False, False),              # another name ending in it
    (b"x = helper_fn_2(a);", False, False),               # another name starting with it
    (b"cb = helper_fn;", False, False),                   # named, not called
    (b"n = p->helper_fn;", False, True),
    (b"n = p -> \n helper_fn + 1;", False, True),
    (b"n = p.helper_fn;", False, False),                  # a member, but not through a pointer
    (b"n = p->helper_fn(x);", True, True),
])
def test_call_and_member_tests_read_whole_words(text: bytes, call: bool, member: bool) -> None:
    assert grep.has_call(text, b"helper_fn") is call
    assert grep.has_member(text, b"helper_fn") is member
