"""Loads and compiles `queries/facts/*.scm` once per process and runs them over a tree.

All patterns are compiled into one Query so a file is walked once; each match is tagged with the
stem of the .scm file it came from. tree-sitter Nodes do not leave this module and facts.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

from tree_sitter import Node, Query, QueryCursor, Tree

from audit.parse import language
from audit.resources import queries_dir


@cache
def _compiled() -> tuple[Query, tuple[str, ...]]:
    """The combined query and, per pattern index, the stem of its file."""
    files = sorted((queries_dir() / "facts").glob("*.scm"))
    text = []
    owners: list[str] = []
    for f in files:
        src = f.read_text()
        q = Query(language(), src)
        owners.extend([f.stem] * q.pattern_count)
        text.append(src)
    return Query(language(), "\n".join(text)), tuple(owners)


def run(tree: Tree) -> Iterator[tuple[str, dict[str, list[Node]]]]:
    """Yield (query file stem, captures) for every match in `tree`, in document order."""
    query, owners = _compiled()
    for idx, caps in QueryCursor(query).matches(tree.root_node):
        yield owners[idx], caps


def warm() -> None:
    """Compile the query (and create the parser) in this process, before workers are forked."""
    _compiled()
    from audit.parse import mask_spec, parser

    parser()
    mask_spec()
