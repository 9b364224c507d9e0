"""audit/tables.py: every catalogue file is read by one loader, and a malformed one is exit 2 with one
line naming the file and the key (never a traceback, never exit 1)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from audit import catalogue, classify, cli, cow, parse, tables
from audit.fixes import knowledge
from conftest import REPO, make_tree


def _clear() -> None:
    for f in (tables.load, catalogue.load, parse.mask_spec, cow.catalogue, classify.load_classes,
              classify.load_entries, classify.load_exposure, classify.load_legitimate, knowledge.fix_rules):
        f.cache_clear()


@pytest.fixture
def rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of rules/ that the catalogue loader reads instead of the real one."""
    copy = tmp_path / "rules"
    shutil.copytree(REPO / "rules", copy)
    monkeypatch.setattr(tables, "rules_dir", lambda: copy)
    _clear()
    yield copy
    monkeypatch.undo()
    _clear()


def _edit(rules: Path, name: str, old: str, new: str) -> None:
    p = rules / "catalogue" / f"{name}.toml"
    text = p.read_text()
    assert old in text
    p.write_text(text.replace(old, new, 1))


def _run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    tree = make_tree(tmp_path / "t", {"drivers/misc/a.c": "int x;\n"})
    rc = cli.main([argv[0], str(tree), *argv[1:]] if argv and argv[0] in ("fix", "track") else
                  [str(tree), "--no-cache", "--format", "concise", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_every_catalogue_file_loads_through_one_loader() -> None:
    names = sorted(p.stem for p in (REPO / "rules" / "catalogue").glob("*.toml"))
    assert names == ["apis", "attributes", "classes", "cow", "exposure"]
    for name in names:
        t = tables.load(name)
        assert t.file == f"rules/catalogue/{name}.toml" and t.keys()


def test_a_wrong_type_names_the_file_and_the_key(rules: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    _edit(rules, "cow", 'main = ["do_wp_page"', 'main = "do_wp_page"\nold_main = ["do_wp_page"')
    assert _run(tmp_path, capsys) == (2, "", "audit: error: rules/catalogue/cow.toml: reuse.main: not a list of strings\n")


def test_a_missing_key_names_the_file_and_the_key(rules: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    _edit(rules, "exposure", "\nexposed = false\n", "\n# exposed = false\n")
    assert _run(tmp_path, capsys) == (2, "", "audit: error: rules/catalogue/exposure.toml: rule[0].exposed: missing\n")


def test_bad_toml_names_the_file_on_one_line(rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit(rules, "apis", "[[acquire]]", "[[acquire]")
    rc, out, err = _run(tmp_path, capsys)
    assert (rc, out) == (2, "")
    assert err.startswith("audit: error: rules/catalogue/apis.toml: not valid TOML: ") and err.count("\n") == 1


def test_fix_tables_are_checked_before_the_audit(rules: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    _edit(rules, "apis", "max_line = ", 'max_line = "wide" # ')
    assert _run(tmp_path, capsys, "fix") == (2, "", "audit: error: rules/catalogue/apis.toml: fix.max_line: not an integer\n")


def test_table_accessors_name_their_key() -> None:
    t = tables.Table("rules/catalogue/x.toml", {"a": {"b": [{"c": 1}]}})
    row = t.table("a").tables("b")[0]
    assert row.integer("c") == 1 and row.text("d", "x") == "x"
    with pytest.raises(tables.CatalogueError, match=r"^rules/catalogue/x.toml: a.b\[0\].d: missing$"):
        row.text("d")
    with pytest.raises(tables.CatalogueError, match=r"^rules/catalogue/x.toml: a.b\[0\].c: not a string$"):
        row.text("c")
