"""Rule fixtures: `/* ruleid: X */` above a line must fire X there, `/* ok: X */` must not.

The marked line is the finding's line: the call for a site's status and exposure rules, the faulty
line (the leaking exit, the over-counting or second release, the undirtied release) for path rules."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from audit.engine import audit_tree
from audit.source import FsSource
from conftest import REPO, make_tree

FIXTURES = REPO / "tests" / "fixtures"
RULE_DIRS = sorted(p for p in FIXTURES.iterdir() if p.is_dir() and (REPO / "rules" / f"{p.name}.toml").is_file())
MARK = re.compile(r"/\*\s*(ruleid|ok|todoruleid|todook):\s*([\w-]+)\s*\*/")
VERSION = re.compile(r"/\*\s*version:\s*(\d+)\.(\d+)\s*\*/")
"""`/* version: 5.6 */` in a fixture: the tree it is audited in has that kernel version (default 6.1)."""


def expected(path: Path, rule: str) -> tuple[set[int], set[int]]:
    """Lines that must fire and lines that must not, from the markers (the marked line + 1)."""
    fire, quiet = set(), set()
    for i, line in enumerate(path.read_text().splitlines(), 1):
        m = MARK.search(line)
        if m and m.group(2) == rule:
            (fire if m.group(1) in ("ruleid", "todook") else quiet).add(i + 1)
    return fire, quiet


@pytest.mark.parametrize("rule_dir", RULE_DIRS, ids=lambda p: p.name)
def test_rule_fixtures_fire_exactly_where_annotated(rule_dir: Path, tmp_path: Path) -> None:
    rule = rule_dir.name
    for src in sorted(rule_dir.glob("*.c")):
        v = VERSION.search(src.read_text())
        tree = make_tree(tmp_path / src.stem, {}, (int(v.group(1)), int(v.group(2)), 0) if v else (6, 1, 0))
        (tree / "drivers" / "misc").mkdir(parents=True)
        shutil.copy(src, tree / "drivers" / "misc" / src.name)
        report = audit_tree(FsSource(str(tree)), workers=1)
        got = {f.line for s in report.sites for f in s.findings if f.rule == rule}
        fire, quiet = expected(src, rule)
        assert fire, f"{src.name} has no ruleid marker for {rule}"
        assert got == fire, f"{src.name}: {rule} fired on {sorted(got)}, expected {sorted(fire)}"
        assert not (got & quiet)


def test_every_site_rule_has_a_fixture_directory() -> None:
    site_rules = {p.stem for p in (REPO / "rules").glob("gup-*.toml")}
    assert site_rules <= {p.name for p in RULE_DIRS}
