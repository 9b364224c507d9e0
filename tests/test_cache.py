"""The result cache: a hit on an unchanged tree, a miss after an edit, corruption rebuilt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from audit import cache
from audit.engine import audit_tree
from audit.source import FsSource
from conftest import make_tree
from snippets import ACME_GET as DRIVER


def _entries() -> list[Path]:
    return sorted((cache.cache_dir() / "reports").glob("*.pickle"))


def test_unchanged_tree_is_served_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = make_tree(tmp_path / "t", {"drivers/misc/acme.c": DRIVER})
    first = audit_tree(FsSource(str(tree)), use_cache=True)
    assert len(_entries()) == 1
    # A hit never parses: make parsing impossible and ask again.
    monkeypatch.setattr("audit.facts.extract", None)
    monkeypatch.setattr("audit.walk.GrepJob", None)
    again = audit_tree(FsSource(str(tree)), shown_root="renamed", use_cache=True)
    assert again.sites == first.sites
    assert again.tree.root == "renamed"


def test_an_edited_file_is_a_miss(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", {"drivers/misc/acme.c": DRIVER})
    first = audit_tree(FsSource(str(tree)), use_cache=True)
    src = tree / "drivers" / "misc" / "acme.c"
    with open(src, "a") as fh:  # appended in place: the folder's mtime does not change
        fh.write("\nstatic int acme_more(unsigned long u, struct page **p)\n{\n\treturn pin_user_pages_fast(u, 1, 0, p);\n}\n")
    second = audit_tree(FsSource(str(tree)), use_cache=True)
    assert [s.api for s in first.sites] == ["get_user_pages_fast"]
    assert [s.api for s in second.sites] == ["get_user_pages_fast", "pin_user_pages_fast"]
    assert len(_entries()) == 2


def test_a_corrupt_entry_is_rebuilt_not_trusted(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", {"drivers/misc/acme.c": DRIVER})
    first = audit_tree(FsSource(str(tree)), use_cache=True)
    (entry,) = _entries()
    entry.write_bytes(b"not a pickle")
    again = audit_tree(FsSource(str(tree)), use_cache=True)
    assert again.sites == first.sites
    (entry,) = _entries()
    assert cache.load(entry.stem) is not None  # rewritten with a valid report


def test_no_cache_neither_reads_nor_writes(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", {"drivers/misc/acme.c": DRIVER})
    audit_tree(FsSource(str(tree)), use_cache=False)
    assert _entries() == []
    assert not os.path.exists(cache.cache_dir() / "roots")
