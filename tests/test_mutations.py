"""Mutation tests on real kernel files: swap a release for the other kind, expect `mismatch`.

A real converted site's files are copied into a temp tree; its unpin_* release is replaced by a
put_page-style release, and a raw site's put_page() by unpin_user_page(). The audit must report
each mutated site as a mismatch with the rule for that direction, and nothing else may change.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from audit.engine import audit_tree
from audit.model import Site, Status
from audit.source import FsSource
from conftest import make_tree

pytestmark = pytest.mark.kernel


def _copy(src_tree: Path, dst: Path, files: list[str], version: tuple[int, int, int]) -> Path:
    tree = make_tree(dst, {}, version)
    for rel in files:
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src_tree / rel, tree / rel)
    return tree


def _mutate(path: Path, pattern: str, repl: str, count: int) -> None:
    text = path.read_text(errors="surrogateescape")
    new, n = re.subn(pattern, repl, text)
    assert n == count, f"{path.name}: expected {count} replacements, made {n}"
    path.write_text(new, errors="surrogateescape")


def _site(sites: tuple[Site, ...], file: str, line: int) -> Site:
    hits = [s for s in sites if s.file == file and s.line == line]
    assert len(hits) == 1
    return hits[0]


def test_61_pinned_process_vm_released_with_release_pages_is_a_mismatch(tree_61: Path, tmp_path: Path) -> None:
    rel = "mm/process_vm_access.c"
    tree = _copy(tree_61, tmp_path / "t", [rel], (6, 1, 192))
    before = _site(audit_tree(FsSource(str(tree)), workers=1).sites, rel, 105)
    assert (before.status, before.rule) == (Status.CONVERTED, None)
    _mutate(tree / rel, r"unpin_user_pages_dirty_lock\((\w+), (\w+),\s*\w+\)", r"release_pages(\1, \2)", 1)
    after = _site(audit_tree(FsSource(str(tree)), workers=1).sites, rel, 105)
    assert (after.status, after.rule) == (Status.MISMATCH, "gup-pin-put-page")
    assert [(c.line, c.api) for c in after.closure] == [(126, "release_pages")]


def test_61_pinned_xdp_umem_released_with_put_page_is_a_mismatch(tree_61: Path, tmp_path: Path) -> None:
    rel = "net/xdp/xdp_umem.c"
    tree = _copy(tree_61, tmp_path / "t", [rel], (6, 1, 192))
    site = next(s for s in audit_tree(FsSource(str(tree)), workers=1).sites if s.api == "pin_user_pages")
    assert site.status is Status.CONVERTED
    _mutate(tree / rel, r"unpin_user_pages_dirty_lock\(([^,]+), ([^,]+), true\)", r"release_pages(\1, \2)", 1)
    after = _site(audit_tree(FsSource(str(tree)), workers=1).sites, rel, site.line)
    assert (after.status, after.rule) == (Status.MISMATCH, "gup-pin-put-page")


def test_61_raw_nfs_direct_released_with_unpin_is_a_mismatch(tree_61: Path, tmp_path: Path) -> None:
    rel = "fs/nfs/direct.c"
    tree = _copy(tree_61, tmp_path / "t", [rel], (6, 1, 192))
    raw = [s for s in audit_tree(FsSource(str(tree)), workers=1).sites if s.status is Status.RAW_CLOSURE]
    assert [(s.line, s.function) for s in raw] == [
        (334, "nfs_direct_read_schedule_iovec"), (824, "nfs_direct_write_schedule_iovec")]
    _mutate(tree / rel, r"put_page\(pages\[i\]\)", "unpin_user_page(pages[i])", 1)
    after = audit_tree(FsSource(str(tree)), workers=1).sites
    for line in (334, 824):
        s = _site(after, rel, line)
        assert (s.status, s.rule) == (Status.MISMATCH, "gup-get-unpin")
        assert ("fs/nfs/direct.c", 147, "nfs_direct_release_pages", "unpin_user_page") in {
            (c.file, c.line, c.function, c.api) for c in s.closure}


def test_2632_raw_aio_ring_released_with_unpin_is_a_mismatch(tree_2632: Path, tmp_path: Path) -> None:
    rel = "fs/aio.c"
    tree = _copy(tree_2632, tmp_path / "t", [rel], (2, 6, 32))
    assert _site(audit_tree(FsSource(str(tree)), workers=1).sites, rel, 145).status is Status.RAW_CLOSURE
    _mutate(tree / rel, r"put_page\(info->ring_pages\[i\]\)", "unpin_user_page(info->ring_pages[i])", 1)
    s = _site(audit_tree(FsSource(str(tree)), workers=1).sites, rel, 145)
    assert (s.status, s.rule) == (Status.MISMATCH, "gup-get-unpin")
