"""User classes, reached_from and fork/COW exposure (audit/classify.py and its TOML tables)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit import catalogue
from audit.analyze import Analyzer, Index
from audit.classify import class_ids, class_info, classify, exposure, load_classes, load_exposure, reached_from
from audit.engine import scan
from audit.model import Call, CowProfile, CowSite, FileFacts, FuncInfo, RefKind, Site, Span, Status
from audit.version import tree_version
from audit.source import FsSource
from conftest import REPO

LABELS = REPO.parent / "shared" / "labels" / "linux-6.1-closures.json"

DOMAIN_CLASSES = {
    "o_direct", "nfs", "aio", "io_uring", "fuse", "ceph", "9p", "splice", "rdma", "vfio", "media", "drm",
    "vhost", "xen", "kvm", "process_vm", "ptrace", "futex", "net", "core-mm", "misc-driver", "unknown",
}

# ------------------------------------------------------------------------------------ classes

NAMED = [
    # o_direct
    ("fs/direct-io.c", "dio_refill_pages", "o_direct"),
    ("fs/iomap/direct-io.c", "iomap_dio_bio_iter", "o_direct"),
    ("fs/iomap.c", "iomap_dio_actor", "o_direct"),
    ("block/fops.c", "__blkdev_direct_IO_simple", "o_direct"),
    ("block/bio.c", "__bio_iov_iter_get_pages", "o_direct"),
    ("block/blk-map.c", "bio_map_user_iov", "o_direct"),
    ("fs/block_dev.c", "__blkdev_direct_IO", "o_direct"),
    ("fs/bio.c", "__bio_map_user_iov", "o_direct"),
    # the other I/O users
    ("fs/nfs/direct.c", "nfs_direct_read_schedule_iovec", "nfs"),
    ("fs/aio.c", "aio_setup_ring", "aio"),
    ("io_uring/rsrc.c", "io_pin_pages", "io_uring"),
    ("fs/io_uring.c", "io_sqe_buffer_register", "io_uring"),
    ("fs/fuse/file.c", "fuse_get_user_pages", "fuse"),
    ("fs/ceph/file.c", "__iter_get_bvecs", "ceph"),
    ("net/ceph/pagevec.c", None, "ceph"),
    ("net/9p/trans_virtio.c", "p9_get_mapped_pages", "9p"),
    ("fs/splice.c", "iter_to_pipe", "splice"),
    ("net/core/datagram.c", "__zerocopy_sg_from_iter", "net"),
    ("net/tls/tls_sw.c", "tls_setup_from_iter", "net"),
    ("crypto/af_alg.c", "af_alg_make_sg", "net"),
    # long-term DMA users
    ("drivers/infiniband/core/umem.c", "ib_umem_get", "rdma"),
    ("drivers/vfio/vfio_iommu_type1.c", "vaddr_get_pfns", "vfio"),
    ("drivers/iommu/iommufd/pages.c", None, "vfio"),
    ("drivers/vdpa/vdpa_user/vduse_dev.c", "vduse_dev_reg_umem", "vfio"),
    ("drivers/vhost/vdpa.c", None, "vfio"),
    ("drivers/vhost/vhost.c", None, "vhost"),
    ("drivers/vhost/scsi.c", "vhost_scsi_map_to_sgl", "vhost"),
    ("arch/powerpc/mm/book3s64/iommu_api.c", "mm_iommu_do_alloc", "vfio"),
    ("arch/s390/kvm/pci.c", None, "vfio"),
    ("drivers/media/v4l2-core/videobuf-dma-sg.c", None, "media"),
    ("drivers/staging/media/atomisp/pci/hmm/hmm_bo.c", "alloc_user_pages", "media"),
    ("mm/frame_vector.c", "get_vaddr_frames", "media"),
    ("drivers/gpu/drm/i915/gem/i915_gem_userptr.c", None, "drm"),
    ("drivers/accel/habanalabs/common/memory.c", None, "drm"),
    ("drivers/xen/privcmd.c", "lock_pages", "xen"),
    # KVM
    ("arch/x86/kvm/svm/sev.c", None, "kvm"),
    ("arch/powerpc/kvm/book3s_64_mmu_hv.c", None, "kvm"),
    ("virt/kvm/kvm_main.c", "hva_to_pfn_slow", "kvm"),
    ("virt/kvm/async_pf.c", "async_pf_execute", "kvm"),
    # short-term CPU access
    ("mm/process_vm_access.c", "process_vm_rw_single_vec", "process_vm"),
    ("mm/memory.c", "__access_remote_vm", "ptrace"),
    ("mm/memory.c", "access_process_vm", "ptrace"),
    ("mm/nommu.c", "__access_remote_vm", "ptrace"),
    ("fs/exec.c", "get_arg_page", "ptrace"),
    ("kernel/ptrace.c", None, "ptrace"),
    ("kernel/events/uprobes.c", "uprobe_write_opcode", "ptrace"),
    ("fs/proc/base.c", None, "ptrace"),
    ("kernel/futex/core.c", "get_futex_key", "futex"),
    ("kernel/futex.c", "get_futex_key", "futex"),
    # no driver policy
    ("mm/memory.c", "get_dump_page", "core-mm"),
    ("mm/gup.c", "__get_user_pages_locked", "core-mm"),
    ("mm/mempolicy.c", "lookup_node", "core-mm"),
    ("lib/iov_iter.c", "__iov_iter_get_pages_alloc", "core-mm"),
    ("fs/coredump.c", "dump_user_range", "core-mm"),
    ("kernel/events/core.c", "perf_virt_to_phys", "core-mm"),
    ("arch/x86/mm/gup.c", "get_user_pages_fast", "core-mm"),
    ("arch/ia64/kernel/err_inject.c", "store_virtual_to_phys", "core-mm"),
    # other drivers
    ("drivers/block/ublk_drv.c", "ublk_copy_user_pages", "misc-driver"),
    ("drivers/tee/tee_shm.c", "register_shm_helper", "misc-driver"),
    ("drivers/misc/sgi-gru/grufault.c", None, "misc-driver"),
    ("arch/x86/kernel/cpu/sgx/ioctl.c", "__sgx_encl_add_page", "misc-driver"),
    # fallback
    ("tools/testing/selftests/mm/cow.c", "main", "unknown"),
]


@pytest.mark.parametrize(("file", "function", "want"), NAMED, ids=lambda v: str(v))
def test_named_paths_get_their_class(file: str, function: str | None, want: str) -> None:
    got, reason = classify(file, function)
    assert got == want, reason
    assert reason.startswith(f"class {want}")


def test_every_domain_class_is_in_the_toml_and_nothing_else() -> None:
    assert set(class_ids()) == DOMAIN_CLASSES
    assert class_ids()[-1] == "unknown"
    assert class_info("rdma").case == "2"
    assert class_info("o_direct").case == "1"
    assert class_info("no-such-class").id == "unknown"


def test_every_class_has_a_path_and_every_pattern_is_reachable() -> None:
    cl = load_classes()
    with_paths = {p.klass for p in cl.paths}
    assert with_paths == DOMAIN_CLASSES - {"unknown"}
    for p in cl.paths:
        probe = p.prefix.replace("*", "x") + ("probe.c" if p.prefix.endswith("/") else "")
        got, reason = classify(probe, None)
        assert got == p.klass, f"pattern {p.prefix!r} of {p.klass} is shadowed: {reason}"


def test_function_overrides_respect_within() -> None:
    assert classify("arch/arm64/kernel/mte.c", "__access_remote_tags")[0] == "ptrace"
    assert classify("drivers/misc/x.c", "__access_remote_tags")[0] == "misc-driver"
    assert classify("drivers/misc/x.c", "get_futex_key")[0] == "futex"  # no `within`: anywhere
    assert "get_futex_key()" in classify("kernel/futex/core.c", "get_futex_key")[1]


def test_reason_names_the_pattern_and_the_unknown_says_why() -> None:
    assert "`drivers/vhost/vdpa.c`" in classify("drivers/vhost/vdpa.c", None)[1]
    assert "no pattern" in classify("foo/bar.c", None)[1]
    assert classify("./mm/gup.c", None)[0] == "core-mm"


def test_hand_labels_agree() -> None:
    if not LABELS.is_file():
        pytest.skip(f"{LABELS} is not on this machine")
    labels = json.loads(LABELS.read_text())
    assert len(labels) == 64
    bad = []
    for s in labels:
        got, reason = classify(s["file"], s["function"])
        if got != s["class"]:
            bad.append(f"{s['file']}:{s['line']} {s['function']}: label {s['class']}, got {got} ({reason})")
    agree = (len(labels) - len(bad)) / len(labels)
    print(f"class agreement with the 6.1 hand labels: {len(labels) - len(bad)}/{len(labels)} ({agree:.0%})")
    for b in bad:
        print("  " + b)
    assert agree >= 0.85, "\n".join(bad)
    assert not bad, "\n".join(bad)


# ---------------------------------------------------------------------------------- exposure

OLD = CowProfile(
    reuse_check="mapcount-only",
    mapcount_only_sites=(CowSite("mm/memory.c", 2000, "do_wp_page", "reuse_swap_page(old_page)"),),
    fork_copies_pinned=False,
)
MID = CowProfile(  # v5.9-v5.17: small pages fixed, THP still mapcount-only, fork copies pins
    reuse_check="page-count",
    mapcount_only_sites=(CowSite("mm/huge_memory.c", 1300, "do_huge_pmd_wp_page", "reuse_swap_page(page, NULL)"),),
    fork_copies_pinned=True,
)
NEW = CowProfile(reuse_check="anon-exclusive", fork_copies_pinned=True, gup_unshares=True)
UNKNOWN = CowProfile(reuse_check="unknown", fork_copies_pinned=False)

TABLE = [
    # ref, write, status, cow, expected exposure
    ("get", True, "raw-closure", NEW, ("fork-read-lost",)),
    ("get", None, "raw-closure", NEW, ("fork-read-lost",)),
    ("get", False, "raw-closure", NEW, ()),
    ("pin", True, "converted", NEW, ()),
    ("pin", None, "converted", NEW, ()),
    ("pin", True, "converted", OLD, ("fork-read-lost",)),
    ("pin", False, "converted", OLD, ("fork-write-leak",)),
    ("pin", None, "converted", OLD, ("fork-read-lost", "fork-write-leak")),
    ("get", None, "raw-closure", OLD, ("fork-read-lost", "fork-write-leak")),
    ("get", False, "raw-closure", OLD, ("fork-write-leak",)),
    ("get", True, "raw-closure", OLD, ("fork-read-lost",)),
    ("get", False, "raw-closure", MID, ("fork-write-leak",)),
    ("pin", None, "converted", MID, ("fork-write-leak",)),
    ("get", None, "mismatch", MID, ("fork-read-lost", "fork-write-leak")),
    ("get", None, "no-closure-found", UNKNOWN, ("fork-read-lost",)),
    ("get", False, "raw-closure", UNKNOWN, ()),
    ("pin", None, "converted", UNKNOWN, ("fork-read-lost",)),
    ("get", True, "no-pages", OLD, ()),
    ("get", None, "no-pages", OLD, ()),
    ("pin", False, "no-pages", OLD, ()),
]


@pytest.mark.parametrize(("ref", "write", "status", "cow", "want"), TABLE)
def test_exposure_decision_table(ref: str, write: bool | None, status: str, cow: CowProfile, want: tuple[str, ...]) -> None:
    got, reason = exposure(ref, write, status, cow)
    assert got == want, reason
    assert reason


def test_exposure_takes_enums_and_explains() -> None:
    got, reason = exposure(RefKind.GET, False, Status.RAW_CLOSURE, OLD)
    assert got == ("fork-write-leak",)
    assert "do_wp_page mm/memory.c:2000" in reason
    got, reason = exposure(RefKind.GET, None, Status.NO_PAGES, OLD)
    assert got == () and "no pages" in reason
    got, reason = exposure("get", False, "raw-closure", UNKNOWN)
    assert got == () and "unknown" in reason


def test_exposure_table_races_match_the_rule_files() -> None:
    races = load_exposure().races
    assert races == ("fork-read-lost", "fork-write-leak")
    from audit.rules import rule_by_id

    rules = rule_by_id()
    for race in races:
        r = rules[race]
        assert r.kind == "exposure" and r.when == (("exposure", race),) and r.priority == 40
        assert r.severity == "warning"


# ------------------------------------------------------------------------------ reached_from

def _span(line: int) -> Span:
    return Span(line, 1, line, 10, line * 100, line * 100 + 10)


def _facts(path: str, funcs: list[tuple[str, bool]], calls: list[tuple[str, str, int]]) -> FileFacts:
    """A file defining `funcs` ((name, static)) and making `calls` ((callee, caller, line))."""
    fis = tuple(FuncInfo(n, i + 1, 0, 0, (), (), st, False) for i, (n, st) in enumerate(funcs))
    cs = tuple(Call(callee, _span(ln), 0, (), caller, None, False, False, False, None, False, ln) for callee, caller, ln in calls)
    return FileFacts(path, fis, cs, (), (), (), (), (0,), ())


def _site(file: str, line: int, function: str | None) -> Site:
    return Site(file=file, line=line, column=1, function=function, api="get_user_pages_fast", ref_kind=RefKind.GET,
                pages_arg="pages", write=None, status=Status.RAW_CLOSURE, closure=(), evidence=())


def test_reached_from_walks_callers_and_classifies_them() -> None:
    chain = [f"core_step{i}" for i in range(8)]
    ix = Index.build([
        _facts("lib/iov_iter.c", [("__iov_iter_get_pages_alloc", True), ("iov_iter_get_pages2", False)],
               [("get_user_pages_fast", "__iov_iter_get_pages_alloc", 10), ("__iov_iter_get_pages_alloc", "iov_iter_get_pages2", 20)]),
        _facts("fs/direct-io.c", [("dio_refill_pages", True)], [("iov_iter_get_pages2", "dio_refill_pages", 5)]),
        _facts("fs/nfs/direct.c", [("nfs_direct_read", False)], [("iov_iter_get_pages2", "nfs_direct_read", 7)]),
        # A caller of nfs: the walk stops at the nfs entry point.
        _facts("drivers/misc/x.c", [("x_read", False)], [("nfs_direct_read", "x_read", 3)]),
        # A same-named static elsewhere is not the helper.
        _facts("drivers/gpu/drm/y.c", [("__iov_iter_get_pages_alloc", True)],
               [("__iov_iter_get_pages_alloc", "y_ioctl", 4)]),
        # core-mm is climbed through; what is above it counts.
        _facts("mm/z.c", [("z_helper", False)], [("iov_iter_get_pages2", "z_helper", 9)]),
        _facts("net/core/datagram.c", [("dg", False)], [("z_helper", "dg", 2)]),
        # Too deep: eight core-mm levels above the site before an rdma caller.
        _facts("mm/deep.c", [(n, False) for n in chain],
               [("iov_iter_get_pages2", chain[0], 1)] + [(chain[i], chain[i + 1], i + 2) for i in range(7)]),
        _facts("drivers/infiniband/core/deep.c", [("ib_deep", False)], [(chain[-1], "ib_deep", 1)]),
    ])
    sites = [_site("lib/iov_iter.c", 10, "__iov_iter_get_pages_alloc"), _site("fs/direct-io.c", 5, "dio_refill_pages"),
             _site("mm/q.c", 1, None)]
    got = reached_from(sites, ix)
    assert got[("lib/iov_iter.c", 10)] == ("net", "nfs", "o_direct")
    assert got[("fs/direct-io.c", 5)] == ()
    assert got[("mm/q.c", 1)] == ()


def test_reached_from_on_61(tree_61: Path) -> None:
    version = tree_version(FsSource(str(tree_61)))
    cat = catalogue.load(version)
    sc = scan(FsSource(str(tree_61)), cat)
    an = Analyzer((), cat, version, sc.store)
    sites = an.sites()
    got = reached_from(sites, an.ix, an.load_callers, None, sc.store.hits)
    helper = next(s for s in sites if s.file == "lib/iov_iter.c")
    assert {"o_direct", "nfs", "net", "fuse", "ceph", "9p", "splice", "vhost"} <= set(got[(helper.file, helper.line)])
    for s in sites:
        own = classify(s.file, s.function)[0]
        assert own not in got[(s.file, s.line)]
        assert not {"core-mm", "unknown"} & set(got[(s.file, s.line)])
