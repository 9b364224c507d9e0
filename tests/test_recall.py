"""Recall on real trees: every textual `api(` occurrence is either a reported site or visibly not a
call (a comment, a string, a prototype or definition at column 0, a macro body)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from audit import catalogue
from audit.engine import audit_tree
from audit.version import tree_version

pytestmark = pytest.mark.kernel


def _not_a_call(line: str, api: str) -> bool:
    s = line.strip()
    if s.startswith(("*", "/*", "//", "#")):
        return True
    before = line.split(api, 1)[0]
    if before.count('"') % 2 == 1 or "/*" in before or "//" in before:
        return True  # inside a string or a trailing comment
    # A definition or prototype: the name starts a column-0 declaration (type words before it).
    line = re.sub(r"__attribute__\s*\(\(.*?\)\)", "", line)
    return bool(re.match(r"^[A-Za-z_][\w\s\*]*\b" + re.escape(api) + r"\s*\(", line)) and not line.startswith(("\t", " "))


@pytest.mark.parametrize("fixture", ["tree_2632", "tree_61"])
def test_every_call_of_an_acquire_api_is_a_site(fixture: str, request: pytest.FixtureRequest) -> None:
    root: Path = request.getfixturevalue(fixture)
    names = sorted(catalogue.load(tree_version(root)).acquire)
    out = subprocess.run(
        ["grep", "-rnoE", "--include=*.c", "--include=*.h", r"\b(" + "|".join(names) + r")\s*\(", "."],
        cwd=root, capture_output=True, text=True, errors="replace", check=False,
    ).stdout
    report = audit_tree(root)
    got = {(s.file, s.line, s.api) for s in report.sites}
    missed = []
    for hit in out.splitlines():
        f, ln, m = hit.split(":", 2)
        api = re.match(r"\w+", m).group(0)  # type: ignore[union-attr]
        key = (f[2:], int(ln), api)
        if key in got:
            continue
        src = (root / key[0]).read_bytes()
        text = src.split(b"\n")[key[1] - 1].decode("utf-8", "replace")
        if re.search(rb"^static\b[^;(]*\b" + api.encode() + rb"\s*\(", src, re.M) and not key[0].startswith("mm/"):
            continue  # a driver's own static function of the same name shadows the API
        if api == "follow_page" and "FOLL_GET" not in text and not re.search(r"follow_page\([^)]*,\s*[a-z_]\w*\)", text):
            continue  # constant flags without FOLL_GET: no reference is taken
        if not _not_a_call(text, api):
            missed.append((key, text.strip()))
    assert missed == [], "\n".join(f"{k}: {t}" for k, t in missed)
    # and every reported site is the api's name at the reported line and column
    for s in report.sites:
        text = (root / s.file).read_bytes().split(b"\n")[s.line - 1].decode("utf-8", "replace")
        assert text[s.column - 1 : s.column - 1 + len(s.api)] == s.api, (s.file, s.line)
