"""`audit PATH --baseline FILE`: only findings not already in a previous JSON report, whatever the lines."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from audit import cli
from conftest import make_tree
from snippets import NEW_FUNCTION
from snippets import RAW_GET_DIRTY as RAW


@pytest.fixture
def baseline(tmp_path: Path) -> tuple[Path, Path]:
    """Tree A (one raw closure) and its JSON report."""
    tree = make_tree(tmp_path / "a", {"drivers/misc/foo.c": RAW}, (5, 10, 0))
    report = tmp_path / "baseline.json"
    assert cli.main([str(tree), "--format", "json", "-o", str(report)]) == 1
    return tree, report


def test_same_tree_against_its_baseline_is_clean(baseline: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    tree, report = baseline
    capsys.readouterr()
    assert cli.main([str(tree), "--baseline", str(report), "--format", "concise"]) == 0
    assert capsys.readouterr() == ("", "")


def test_only_the_new_site_is_reported_after_lines_shift(
    baseline: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree, report = baseline
    copy = tmp_path / "b"
    shutil.copytree(tree, copy)
    # Three blank lines at the top move the old site from line 7 to 10; the new site lands on line 18.
    (copy / "drivers/misc/foo.c").write_text("\n\n\n" + RAW + NEW_FUNCTION)
    capsys.readouterr()
    assert cli.main([str(copy), "--baseline", str(report), "--format", "concise"]) == 1
    assert capsys.readouterr().out == (
        f"{copy}/drivers/misc/foo.c:18:6: warning: get_user_pages_fast() takes FOLL_GET references released by "
        "put_page(): an unconverted gup closure [gup-raw-put-page]\n"
    )
    # Without the baseline both sites are reported (the first one also as exposed to fork-read-lost).
    assert cli.main([str(copy), "--format", "concise"]) == 1
    assert [ln.split(": ")[0].removeprefix(f"{copy}/") for ln in capsys.readouterr().out.splitlines()] == [
        "drivers/misc/foo.c:10:8", "drivers/misc/foo.c:10:8", "drivers/misc/foo.c:18:6",
    ]


def test_second_call_in_a_baselined_function_is_new(
    baseline: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree, report = baseline
    copy = tmp_path / "b"
    shutil.copytree(tree, copy)
    (copy / "drivers/misc/foo.c").write_text(
        RAW.replace("\treturn 0;\n", "\tgot = get_user_pages_fast(uaddr, 1, 0, pages);\n\tput_page(pages[0]);\n\treturn 0;\n")
    )
    capsys.readouterr()
    assert cli.main([str(copy), "--baseline", str(report), "--format", "concise"]) == 1
    assert [ln.split(": ")[0].removeprefix(f"{copy}/") for ln in capsys.readouterr().out.splitlines()] == [
        "drivers/misc/foo.c:10:8"]


@pytest.mark.parametrize("content", ["not json", '{"schema": "other/1", "sites": []}'])
def test_bad_baseline_is_a_usage_error(baseline: tuple[Path, Path], tmp_path: Path, content: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    tree, _ = baseline
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    capsys.readouterr()
    assert cli.main([str(tree), "--baseline", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"audit: error: baseline {bad}: ") and err.count("\n") == 1


def test_missing_baseline_is_a_usage_error(baseline: tuple[Path, Path], tmp_path: Path) -> None:
    tree, _ = baseline
    assert cli.main([str(tree), "--baseline", str(tmp_path / "nope.json")]) == 2
