"""`audit track --git REPO REV..`: revisions read from the object store, no checkout."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from audit import cli
from audit.engine import audit_tree
from audit.source import FsSource, GitSource
from conftest import make_tree
from snippets import ACME_GET as RAW
from snippets import ACME_PINNED as CONVERTED
from snippets import ACME_PIN_PUT_PAGE as REGRESSION


pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@example.org", "-c", "user.name=t", *args],
                   check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """v1: a raw closure; v2: converted; v3: a new pinned page released with put_page."""
    r = make_tree(tmp_path / "linux", {"drivers/misc/acme.c": RAW,
                                        "include/linux/mm.h": "int get_user_pages_fast(unsigned long, int, unsigned int, struct page **);\n"
                                                              "int pin_user_pages_fast(unsigned long, int, unsigned int, struct page **);\n"})
    _git(r, "init", "-q")
    _git(r, "add", "-A")
    _git(r, "commit", "-qm", "v1")
    _git(r, "tag", "v1")
    (r / "drivers/misc/acme.c").write_text(CONVERTED)
    _git(r, "commit", "-qam", "v2")
    _git(r, "tag", "v2")
    (r / "drivers/misc/acme.c").write_text(CONVERTED + REGRESSION)
    _git(r, "commit", "-qam", "v3")
    _git(r, "tag", "v3")
    return r


def test_track_over_git_revisions(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["track", "--git", str(repo), "v1", "v2", "v3", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "gup-audit-track/1"
    assert [(t["root"], t["kernel_version"], t["by_status"]["raw-closure"], t["by_status"]["converted"],
             t["by_status"]["mismatch"]) for t in doc["trees"]] == [
        ("v1", "6.1.0", 1, 0, 0), ("v2", "6.1.0", 0, 1, 0), ("v3", "6.1.0", 0, 1, 1)]
    assert doc["trees"][2]["by_subsystem"] == {
        "drivers/misc": {"converted": 1, "raw-closure": 0, "mismatch": 1, "no-closure-found": 0, "no-pages": 0}}
    first, second = doc["changes"]
    assert [(c["function"], c["from"]["status"], c["to"]["status"]) for c in first["changed"]] == [
        ("acme_get", "raw-closure", "converted")]
    assert [(c["function"], c["api"], c["line"], c["status"]) for c in second["appeared"]] == [
        ("acme_peek", "pin_user_pages_fast", 12, "mismatch")]
    # Nothing was checked out: the work tree still holds v3 and is unchanged.
    assert (repo / "drivers/misc/acme.c").read_text() == CONVERTED + REGRESSION


def test_git_revision_audits_like_its_checkout(repo: Path, tmp_path: Path) -> None:
    from_git = audit_tree(GitSource(str(repo), "v1"), workers=1)
    checkout = make_tree(tmp_path / "co", {"drivers/misc/acme.c": RAW})
    from_fs = audit_tree(FsSource(str(checkout)), workers=1)
    key = lambda r: [(s.file, s.line, s.column, s.api, s.status, s.closure) for s in r.sites]  # noqa: E731
    assert key(from_git) == key(from_fs)


def test_unknown_revision_is_a_usage_error(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["track", "--git", str(repo), "v1", "nope"]) == 2
    assert "no revision 'nope'" in capsys.readouterr().err
