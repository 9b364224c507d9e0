"""Loads and compiles `queries/**/*.scm` once per process and runs them over a tree.

The fact patterns (`queries/facts/*.scm`) are compiled into one Query so a file is walked once;
each match is tagged with the stem of the .scm file it came from. A single query file can also be
run on its own over a node or a byte range (`matches`), for the source-file questions of
`audit.sourcefile`. tree-sitter Nodes do not leave the parsing layer.
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


@cache
def compiled(name: str) -> Query:
    """The query file `queries/<name>.scm` (`"facts/calls"`), compiled once per process."""
    return Query(language(), (queries_dir() / f"{name}.scm").read_text())


def run(tree: Tree) -> Iterator[tuple[str, dict[str, list[Node]]]]:
    """Yield (query file stem, captures) for every match of the fact patterns in `tree`, in
    document order."""
    query, owners = _compiled()
    for idx, caps in QueryCursor(query).matches(tree.root_node):
        yield owners[idx], caps


def matches(name: str, node: Node, start: int | None = None, end: int | None = None) -> Iterator[dict[str, list[Node]]]:
    """The captures of every match of `queries/<name>.scm` under `node`, in document order; with
    `start` and `end`, only matches that intersect those bytes."""
    cursor = QueryCursor(compiled(name))
    if start is not None and end is not None:
        cursor.set_byte_range(start, end)
    for _, caps in cursor.matches(node):
        yield caps


def nodes(name: str, node: Node) -> list[Node]:
    """The nodes the one capture of `queries/<name>.scm` captures under `node` (`node` too), in
    document order (an enclosing node before the ones it holds)."""
    got = QueryCursor(compiled(name)).captures(node)
    return sorted((n for found in got.values() for n in found), key=lambda n: (n.start_byte, -n.end_byte))


def warm() -> None:
    """Compile the query (and create the parser) in this process, before workers are forked."""
    _compiled()
    from audit.parse import mask_spec, parser

    parser()
    mask_spec()
