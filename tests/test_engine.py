"""audit/engine.py: the tree's root from any folder in it, the checks on a source, the APIs worth
prefiltering for, and one scan (walk, prefilter, prepare, COW profile) before any parsing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from audit import catalogue, engine
from audit.source import FsSource
from audit.version import tree_version
from conftest import make_tree
from snippets import ACME_GET

HEADER = "long get_user_pages_fast(unsigned long start, int nr_pages, unsigned int gup_flags, struct page **pages);\n"


def _tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "linux", {"drivers/misc/acme.c": ACME_GET, "include/linux/mm.h": HEADER})


def test_the_root_is_found_from_a_folder_inside_the_tree(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    assert engine.find_root(tree / "drivers" / "misc") == (tree, "drivers/misc")
    assert engine.find_root(tree) == (tree, "")


def test_a_source_that_is_not_a_kernel_tree_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(engine.InputError, match="nope: no such file or directory$"):
        engine.check_source(FsSource(str(tmp_path / "nope")))
    with pytest.raises(engine.InputError, match=": not a kernel source tree "):
        engine.check_source(FsSource(str(tmp_path)))


def test_only_the_apis_the_headers_declare_are_prefiltered_for(tmp_path: Path) -> None:
    src = FsSource(str(_tree(tmp_path)))
    assert engine.declared_apis(src, catalogue.load(tree_version(src))) == {"get_user_pages_fast"}


def test_a_scan_prepares_the_candidates_and_profiles_cow_before_parsing(tmp_path: Path) -> None:
    src = FsSource(str(_tree(tmp_path)))
    sc = engine.scan(src, catalogue.load(tree_version(src)), workers=1)
    assert sc.files_scanned == 2 and "drivers/misc/acme.c" in sc.store.hits
    assert sc.cow.reuse_check == "unknown" and sc.problems == ()


def test_an_audit_of_a_source_reports_its_site(tmp_path: Path) -> None:
    report = engine.audit_tree(FsSource(str(_tree(tmp_path))), shown_root="linux", workers=1)
    assert [(s.file, s.line, s.api, s.status.value) for s in report.sites] == [
        ("drivers/misc/acme.c", 5, "get_user_pages_fast", "raw-closure")]
    assert report.tree.root == "linux"


def _many(tmp_path: Path, n: int = 45) -> Path:
    """A tree of `n` driver files with one site each: enough for the analysis to be shared out."""
    files = {f"drivers/misc/acme{i}.c": ACME_GET.replace("acme_get", f"acme{i}_get") for i in range(n)}
    files["include/linux/mm.h"] = HEADER
    return make_tree(tmp_path / "linux", files)


def _key(report) -> list[tuple[str, int, str, tuple[str, ...]]]:  # type: ignore[no-untyped-def]
    return [(s.file, s.line, s.status.value, tuple(f.rule for f in s.findings)) for s in report.sites]


def test_the_analysis_shared_with_a_forked_child_agrees_with_one_process(tmp_path: Path) -> None:
    src = FsSource(str(_many(tmp_path)))
    one = engine.audit_tree(src, workers=1)
    two = engine.audit_tree(src, workers=2)
    assert len(one.sites) == 45 and _key(two) == _key(one) and two.cow == one.cow


@pytest.mark.parametrize("promoted", [True, False], ids=["child-promoted", "child-stopped"])
def test_a_cow_profile_its_child_did_not_finish_is_kept_or_one_of_the_analysis_tasks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, promoted: bool) -> None:
    """A late child goes on at the normal priority when this process may raise one; otherwise it is
    stopped and the analysis works the profile out. Either way the report is the same."""
    src = FsSource(str(_many(tmp_path)))
    expected = engine.audit_tree(src, workers=2)
    monkeypatch.setattr(engine._Forked, "ready", lambda self: False)
    if not promoted:
        monkeypatch.setattr(engine._Forked, "promote", lambda self: False)
    for workers in (1, 2):
        late = engine.audit_tree(src, workers=workers)
        assert late.cow == expected.cow and _key(late) == _key(expected)


def test_a_forked_value_comes_from_the_child_or_is_computed_here() -> None:
    job = engine._Forked(sorted, [3, 1, 2], nice=19)
    assert job.result() == [1, 2, 3] and job.ready()
    stopped = engine._Forked(sorted, [2, 1])
    stopped.cancel()
    assert stopped.result() == [1, 2]


def test_a_promoted_child_runs_at_this_process_priority_and_keeps_its_value() -> None:
    job = engine._Forked(sorted, [3, 1, 2], nice=19)
    pid = job.pid
    if job.promote():
        try:
            assert os.getpriority(os.PRIO_PROCESS, pid) == os.getpriority(os.PRIO_PROCESS, 0)
        except ProcessLookupError:
            pass  # it had already finished: nothing left to check but its value
    assert job.result() == [1, 2, 3]
    assert not job.promote()  # no child any more
