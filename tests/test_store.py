"""audit/store.py: prefiltered files are cut into functions and indexed by text; the store parses
only the functions a question needs, each once, and finds neighbours' files on demand."""

from __future__ import annotations

from pathlib import Path

from audit import catalogue, store
from audit.model import FileFacts
from audit.source import FsSource
from conftest import make_tree

A = """static void drv_release(struct drv *d)
{
\tunpin_user_pages(d->pages, d->n);
}

static int drv_map(struct drv *d, unsigned long uaddr)
{
\td->n = pin_user_pages_fast(uaddr, 4, 0, d->pages);
\treturn 0;
}

int drv_open(struct drv *d)
{
\treturn drv_map(d, 0);
}
"""
B = "void drv_user(struct drv *d)\n{\n\tdrv_open(d);\n}\n"
FINDER = catalogue.CallFinder(("pin_user_pages_fast",))


def _names(ffs: list[FileFacts]) -> list[str]:
    return [f.name for ff in ffs for f in ff.functions]


def _store(tmp_path: Path) -> store.FactStore:
    tree = make_tree(tmp_path, {"drivers/d/a.c": A, "drivers/d/b.c": B})
    st = store.FactStore(FsSource(str(tree)), frozenset({"pin_user_pages_fast", "unpin_user_pages"}),
                         ("drivers", "drivers/d"))
    st.add_prepared("drivers/d/a.c", store.prepare("drivers/d/a.c", A.encode(), FINDER))
    return st


def test_prepare_cuts_indexes_and_finds_the_acquiring_function() -> None:
    p = store.prepare("drivers/d/a.c", A.encode(), FINDER)
    assert [(c.name, c.static) for c in p.chunks] == [("drv_release", True), ("drv_map", True), ("drv_open", False)]
    assert (p.acquire, p.whole) == ((1,), False)
    # The text index is a superset: a definition's own header names it as a callee too.
    assert (p.called["drv_map"], p.fields["pages"]) == ((1, 2), (0, 1))


def test_a_call_outside_every_function_makes_the_file_parse_whole() -> None:
    src = b"#define GET(u, p) pin_user_pages_fast(u, 1, 0, p)\nint x = GET(0, 0);\n"
    assert store.prepare("x.c", src, FINDER).whole


def test_only_the_acquiring_function_is_parsed_first(tmp_path: Path) -> None:
    st = _store(tmp_path)
    assert st.acquire_bytes("drivers/d/a.c") == len(A.split("\n\n")[1]) + 1
    assert _names(st.acquire_facts("drivers/d/a.c")) == ["drv_map"]
    assert st.acquire_facts("drivers/d/a.c") == []


def test_each_function_is_parsed_once_whatever_asks_for_it(tmp_path: Path) -> None:
    st = _store(tmp_path)
    st.acquire_facts("drivers/d/a.c")
    assert _names(st.field_users("pages", "drivers/d/a.c")) == ["drv_release"]  # drv_map is parsed already
    assert st.body("drivers/d/a.c", "drv_release") == []
    assert _names(st.callers("drv_map", "drivers/d/a.c", True)) == ["drv_open"]


def test_neighbour_files_are_searched_by_name_and_added(tmp_path: Path) -> None:
    st = _store(tmp_path)
    assert st.search_near("drv_open", "drivers/d/a.c") == {"drivers/d/b.c"}
    assert (sorted(st.files), sorted(st.hits)) == (["drivers/d/a.c", "drivers/d/b.c"], ["drivers/d/a.c"])
    assert _names(st.callers("drv_open", "drivers/d/a.c", False)) == ["drv_open", "drv_user"]


def test_shared_folders_have_no_neighbours(tmp_path: Path) -> None:
    st = _store(tmp_path)
    st.shared_dirs = catalogue.load(None).shared_dirs
    assert st.neighbours("mm/gup.c") == [] and st.neighbours("drivers/d/a.c") == ["drivers/d"]
    # a top-level subsystem is one: io_uring/rsrc.c calls memmap.c's io_pin_pages()
    assert st.neighbours("io_uring/memmap.c") == ["io_uring"]


def test_a_subsystems_other_halves_are_its_neighbours_not_any_folder_of_the_same_name(tmp_path: Path) -> None:
    st = _store(tmp_path)
    st.shared_dirs = catalogue.load(None).shared_dirs
    st.all_dirs = ("fs/ceph", "net/ceph", "include/linux/ceph", "drivers/soc/tegra/ceph", "net/core",
                   "drivers/cxl/core", "sound/core", "virt/kvm", "arch/x86/kvm", "Documentation/virt/kvm",
                   "drivers/infiniband/core", "fs/fuse", "drivers/soc/tegra/fuse")
    assert st.neighbours("fs/ceph/file.c") == ["fs/ceph", "include/linux/ceph", "net/ceph"]
    assert st.neighbours("virt/kvm/kvm_main.c") == ["virt/kvm", "arch/x86/kvm"]
    assert st.neighbours("net/core/datagram.c") == ["net/core", "sound/core"]  # same level: kept
    assert st.neighbours("fs/fuse/file.c") == ["fs/fuse"]
    assert st.neighbours("drivers/infiniband/core/umem.c") == ["drivers/infiniband/core"]  # deeper: its own only
