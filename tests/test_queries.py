"""Every query compiles against the pinned grammar and uses only declared captures and known predicates."""

from __future__ import annotations

import re
import tomllib

import pytest
from tree_sitter import Query

from audit import parse, queries
from conftest import REPO

SCM = sorted((REPO / "queries").rglob("*.scm"))
DECLARED = set(tomllib.loads((REPO / "queries" / "captures.toml").read_text()))
BUILTIN_PREDICATES = {"eq?", "not-eq?", "match?", "not-match?", "any-of?", "set!"}


@pytest.mark.parametrize("path", SCM, ids=lambda p: p.relative_to(REPO).as_posix())
def test_query_compiles_and_declares_its_captures(path) -> None:  # type: ignore[no-untyped-def]
    text = path.read_text()
    q = Query(parse.language(), text)
    used = {q.capture_name(i) for i in range(q.capture_count)}
    assert used, f"{path.name} captures nothing"
    assert used <= DECLARED, f"undeclared captures: {sorted(used - DECLARED)}"
    # tree-sitter silently ignores unknown predicates: a typo would turn a filter into a no-op.
    predicates = set(re.findall(r"\(#([\w!?-]+)", text))
    assert predicates <= BUILTIN_PREDICATES, f"unknown predicates: {sorted(predicates - BUILTIN_PREDICATES)}"
    assert text.startswith(";;"), "each query file starts with a ;; header"


def test_every_declared_capture_is_used() -> None:
    used: set[str] = set()
    for path in SCM:
        q = Query(parse.language(), path.read_text())
        used |= {q.capture_name(i) for i in range(q.capture_count)}
    assert DECLARED == used


def test_the_combined_query_finds_a_call_with_its_parts() -> None:
    tree = parse.parse(b"int f(struct page **p)\n{\n\tget_user_pages_fast(a, 1, 0, p);\n}\n")
    names = [set(caps) for _, caps in queries.run(tree)]
    assert {"call.fn", "call.args", "call.expr"} in names
    assert {"func.def", "func.decl", "func.body"} in names
