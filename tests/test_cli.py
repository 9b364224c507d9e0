"""End to end through cli.main(): formats, exit codes, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from audit import cli
from conftest import make_tree
from snippets import DRIVER


@pytest.fixture
def small_tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "linux", {"drivers/misc/acme.c": DRIVER})


def test_concise_prints_one_exact_line_per_finding(small_tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([str(small_tree), "--format", "concise"]) == 1
    # The compiler's shape, every finding at the site (a raw closure that is also exposed), paths as
    # they open from the current folder.
    assert capsys.readouterr().out == (
        f"{small_tree}/drivers/misc/acme.c:7:8: warning: get_user_pages_fast() takes FOLL_GET references released by "
        "put_page(): an unconverted gup closure [gup-raw-put-page]\n"
        f"{small_tree}/drivers/misc/acme.c:7:8: warning: get_user_pages_fast() holds pages that may be written while "
        "fork() shares them: the written data can end up in the child (fork-read-lost) [fork-read-lost]\n"
    )


def test_concise_paths_open_from_the_current_folder(small_tree: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(small_tree.parent)
    assert cli.main(["linux", "--format", "concise", "--select", "gup-raw-put-page"]) == 1
    assert capsys.readouterr().out.split(": ")[0] == "linux/drivers/misc/acme.c:7:8"
    monkeypatch.chdir(small_tree / "drivers")
    assert cli.main(["misc", "--format", "concise", "--select", "gup-raw-put-page"]) == 1
    assert capsys.readouterr().out.split(": ")[0] == "../drivers/misc/acme.c:7:8"


def test_json_report_matches_the_contract_exactly(small_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    assert cli.main([str(small_tree), "--format", "json", "-o", str(out)]) == 1
    data = json.loads(out.read_text())
    assert data["schema"] == "gup-audit/1"
    assert data["tool"] == {"name": "gup-audit", "version": "0.1.0"}
    assert data["tree"] == {
        "root": str(small_tree), "kernel_version": "6.1.0", "files_scanned": 1, "files_parsed": 1, "scope": "",
        "parse_problems": [],
    }
    raw, pin = data["sites"]
    assert raw == {
        "file": "drivers/misc/acme.c", "line": 7, "column": 8, "function": "acme_get", "api": "get_user_pages_fast",
        "ref_kind": "get", "pages_arg": "pages", "write": True, "status": "raw-closure",
        "closure": [{"file": "drivers/misc/acme.c", "line": 9, "function": "acme_get", "api": "put_page"}],
        "evidence": [
            {"file": "drivers/misc/acme.c", "line": 7, "message": "get_user_pages_fast() fills `pages` with GET references"},
            {"file": "drivers/misc/acme.c", "line": 9, "message": "acme_get() releases `pages[i]` with put_page()"},
            {"file": "drivers/misc/acme.c", "line": 7, "message": "class misc-driver (pin_user_pages.rst case 1/2/5): "
             "drivers/misc/acme.c matches `drivers/`, a driver without a class of its own"},
            {"file": "drivers/misc/acme.c", "line": 7, "message": "fork-read-lost: a FOLL_GET page the device or kernel "
             "may write is shared at fork (fork copies only maybe-pinned pages), so after the parent's next write fault "
             "the data lands in the child's page; not fork-write-leak: the pages are written by the device or kernel, "
             "not read out"},
        ],
        "class": "misc-driver", "reached_from": [], "exposure": ["fork-read-lost"], "rule": "gup-raw-put-page",
        "findings": [
            {"rule": "gup-raw-put-page", "severity": "warning", "file": "drivers/misc/acme.c", "line": 7, "column": 8,
             "message": "get_user_pages_fast() takes FOLL_GET references released by put_page(): an unconverted gup closure",
             "path": [], "confidence": "high", "help": "pin with pin_user_pages_fast() and release with "
             "unpin_user_pages_dirty_lock(..., true)",
             "key": "gup-raw-put-page|drivers/misc/acme.c|acme_get|get_user_pages_fast"},
            {"rule": "fork-read-lost", "severity": "warning", "file": "drivers/misc/acme.c", "line": 7, "column": 8,
             "message": "get_user_pages_fast() holds pages that may be written while fork() shares them: the written "
             "data can end up in the child (fork-read-lost)", "path": [], "confidence": "medium",
             "help": "pin with pin_user_pages_fast() and release with unpin_user_pages_dirty_lock(..., true), so that "
             "fork copies the page instead of sharing it",
             "key": "fork-read-lost|drivers/misc/acme.c|acme_get|get_user_pages_fast"},
        ],
    }
    assert (pin["line"], pin["column"], pin["api"], pin["ref_kind"], pin["status"], pin["write"], pin["rule"]) == (
        15, 12, "pin_user_pages_fast", "pin", "converted", False, None)
    # The fake tree has no mm/memory.c: the COW profile is unknown, so no exposure is claimed for the pin.
    assert (pin["class"], pin["exposure"], data["cow"]["reuse_check"]) == ("misc-driver", [], "unknown")
    assert pin["closure"] == [{"file": "drivers/misc/acme.c", "line": 18, "function": "acme_pin", "api": "unpin_user_pages"}]
    assert data["summary"]["sites"] == 2
    assert data["summary"]["by_status"] == {
        "converted": 1, "raw-closure": 1, "mismatch": 0, "no-closure-found": 0, "no-pages": 0}
    assert data["summary"]["by_api"] == {"get_user_pages_fast": 1, "pin_user_pages_fast": 1}
    assert data["summary"]["by_rule"] == {"fork-read-lost": 1, "gup-raw-put-page": 1}
    assert data["summary"]["by_severity"] == {"error": 0, "warning": 2, "note": 0}
    assert pin["findings"] == []
    assert set(data["cow"]) == {"reuse_check", "mapcount_only_sites", "fork_copies_pinned", "gup_unshares", "evidence"}


def test_select_and_ignore_filter_by_rule_id(small_tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([str(small_tree), "--format", "concise", "--ignore", "gup-raw-put-page,fork-read-lost"]) == 0
    assert capsys.readouterr().out == ""
    # Every finding at a site is reported, so selecting the exposure finds the site.
    assert cli.main([str(small_tree), "--format", "concise", "--select", "fork-read-lost"]) == 1
    assert capsys.readouterr().out.endswith(" [fork-read-lost]\n")
    assert cli.main([str(small_tree), "--format", "concise", "--select", "gup-no-release"]) == 0
    assert cli.main([str(small_tree), "--format", "concise", "--select", "no-such-rule"]) == 2


@pytest.mark.parametrize("kind", ["missing", "file", "empty", "not-kernel"])
def test_bad_input_is_one_line_and_exit_2(kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "x"
    if kind == "file":
        target.write_text("hello")
    elif kind == "empty":
        target.mkdir()
    elif kind == "not-kernel":
        (target / "src").mkdir(parents=True)
        (target / "Makefile").write_text("all:\n\techo hi\n")
    assert cli.main([str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("audit: error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_bad_files_inside_a_tree_are_listed_not_fatal(small_tree: Path, tmp_path: Path) -> None:
    misc = small_tree / "drivers" / "misc"
    (misc / "junk.c").write_bytes(b"\x00\x01get_user_pages_fast(\x00\xff" * 50)
    (misc / "latin1.c").write_bytes(b"/* caf\xe9 */\nvoid f(void)\n{\n\tget_user_pages_fast(a, 1, 0, NULL);\n}\n")
    (misc / "huge.c").write_bytes(b"int x = get_user_pages_fast(a, 1, 0, p);\n" + b"/* pad */\n" * 900_000)
    os.symlink("loop.c", misc / "loop.c")
    before = sorted((p.name, p.stat(follow_symlinks=False).st_mtime) for p in misc.iterdir())
    out = tmp_path / "r.json"
    assert cli.main([str(small_tree), "--format", "json", "-o", str(out)]) == 1
    data = json.loads(out.read_text())
    problems = {p["file"]: p["message"] for p in data["tree"]["parse_problems"]}
    assert problems["drivers/misc/junk.c"] == "binary content (NUL bytes), not parsed"
    assert problems["drivers/misc/latin1.c"].startswith("invalid UTF-8")
    assert "parse limit" in problems["drivers/misc/huge.c"]
    assert problems["drivers/misc/loop.c"] == "dangling or looping symlink, skipped"
    latin = [s for s in data["sites"] if s["file"] == "drivers/misc/latin1.c"]
    assert [(s["line"], s["status"]) for s in latin] == [(4, "no-pages")]
    assert sorted((p.name, p.stat(follow_symlinks=False).st_mtime) for p in misc.iterdir()) == before


def test_rules_and_explain(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["rules"]) == 0
    out = capsys.readouterr().out
    assert "gup-pin-put-page" in out and "gup-raw-put-page" in out
    assert cli.main(["explain", "gup-pin-put-page"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("gup-pin-put-page: Pages pinned with pin_user_pages*() are released with put_page()\n")
    assert "GUP_PIN_COUNTING_BIAS" in text
    assert cli.main(["explain", "nope"]) == 2


def test_unknown_subcommand_module_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util

    if importlib.util.find_spec("audit.fix") is not None:
        pytest.skip("audit fix is available")
    assert cli.main(["fix", "."]) == 2
    assert capsys.readouterr().err == "audit: error: `audit fix` is not available in this version\n"


def test_readme_shows_the_current_help(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    help_text = capsys.readouterr().out.rstrip()
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert help_text in readme
