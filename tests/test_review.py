"""`audit --diff REV` (only findings in functions a change touches) and `audit TREE/folder` (scope)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from audit import cli
from conftest import make_tree
from snippets import ACME_GET_READ as OLD


NEW = OLD + """
static int acme_short(unsigned long uaddr, int n)
{
\tstruct page **pages = kcalloc(n, sizeof(*pages), GFP_KERNEL);
\tint ret;

\tret = pin_user_pages_fast(uaddr, n, 0, pages);
\tif (ret != n) {
\t\tkfree(pages);
\t\treturn -EFAULT;
\t}
\tunpin_user_pages(pages, n);
\tkfree(pages);
\treturn 0;
}
"""


def _git(tree: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(tree), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    tree = make_tree(tmp_path / "linux", {"drivers/misc/acme.c": OLD})
    _git(tree, "init", "-q")
    _git(tree, "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    _git(tree, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base")
    (tree / "drivers/misc/acme.c").write_text(NEW)
    return tree


def test_diff_reports_only_findings_in_changed_functions(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([str(repo), "--format", "concise"]) == 1
    everything = capsys.readouterr().out.splitlines()
    assert any(":7:8: warning:" in ln for ln in everything)  # the old raw closure is reported without --diff
    assert cli.main([str(repo), "--format", "concise", "--diff", "HEAD"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [ln.split(": ", 1)[0].removeprefix(f"{repo}/") + " " + ln.rsplit(" ", 1)[1] for ln in out] == [
        "drivers/misc/acme.c:21:1 [gup-leak]"]


def test_diff_on_an_unknown_revision_is_a_usage_error(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([str(repo), "--diff", "no-such-rev"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("audit: error: --diff no-such-rev: ") and err.count("\n") == 1


def test_a_folder_of_the_tree_reports_its_sites_with_whole_tree_verdicts(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "linux", {"drivers/misc/acme.c": NEW, "fs/acme.c": OLD})
    whole, part = tmp_path / "whole.json", tmp_path / "part.json"
    assert cli.main([str(tree), "--format", "json", "-o", str(whole), "--no-cache"]) == 1
    assert cli.main([str(tree / "drivers"), "--format", "json", "-o", str(part), "--no-cache"]) == 1
    w, p = json.loads(whole.read_text()), json.loads(part.read_text())
    assert (p["tree"]["root"], p["tree"]["scope"]) == (str(tree), "drivers")
    assert p["sites"] == [s for s in w["sites"] if s["file"].startswith("drivers/")]
    assert len(p["sites"]) == 2 and len(w["sites"]) == 3
