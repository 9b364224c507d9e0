"""Golden renders of the pretty report (exact text, colour off, width 100): the default report
(warnings and notes in two lines, errors in full) and `-v` (every finding in full, every step)."""

from __future__ import annotations

import difflib
import io
from pathlib import Path

import pytest

from audit import catalogue, rules
from audit.engine import audit_tree
from audit.report.interface import Context
from audit.report.pretty import PrettyReporter
from audit.source import FsSource
from conftest import REPO, make_tree
from snippets import DRIVER

GOLDEN = REPO / "tests" / "golden" / "small_tree.txt"
GOLDEN_VERBOSE = REPO / "tests" / "golden" / "small_tree_verbose.txt"


@pytest.mark.parametrize("verbose", [False, True], ids=["default", "verbose"])
def test_pretty_render_matches_golden(tmp_path: Path, request: pytest.FixtureRequest, verbose: bool) -> None:
    tree = make_tree(tmp_path / "linux", {"drivers/misc/acme.c": DRIVER})
    report = audit_tree(FsSource(str(tree)), shown_root="linux", workers=1)
    src = {"drivers/misc/acme.c": DRIVER.splitlines()}
    ctx = Context(catalogue.load((6, 1, 0)), rules.rule_by_id(), (6, 1, 0), lambda f: src.get(f, []), False)
    buf = io.StringIO()
    PrettyReporter(width=100, verbose=verbose).write(report, ctx, buf)
    text = buf.getvalue()
    golden = GOLDEN_VERBOSE if verbose else GOLDEN
    if request.config.getoption("--update-golden"):
        golden.write_text(text)
    want = golden.read_text()
    assert text == want, "".join(difflib.unified_diff(want.splitlines(True), text.splitlines(True), "golden", "got"))
