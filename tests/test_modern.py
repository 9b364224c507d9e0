"""Kernels newer than 6.12: the catalogue's post-6.12 forms and names on small trees shaped like the
newer kernels' own code (each fixture names the file and release it is cut from; sources are in
tests/labels/modern-apis.md, "After 6.12"). Each asserts the site's status and the exact release it
pairs; a twin shows what changes the verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.engine import audit_tree
from audit.source import FsSource
from conftest import make_tree

BIO_H = """\
static inline void bio_release_pages(struct bio *bio, bool mark_dirty)
{
\tif (bio_flagged(bio, BIO_PAGE_PINNED))
\t\t__bio_release_pages(bio, mark_dirty);
}
int bio_iov_iter_get_pages(struct bio *bio, struct iov_iter *iter, unsigned len_align_mask);
int bio_iov_iter_bounce(struct bio *bio, struct iov_iter *iter, size_t maxlen);
void bio_iov_iter_unbounce(struct bio *bio, bool is_error, bool mark_dirty);
"""

UIO_H = """\
ssize_t iov_iter_extract_pages(struct iov_iter *i, struct page ***pages, size_t maxsize,
\t\tunsigned int maxpages, iov_iter_extraction_t extraction_flags, size_t *offset0);
ssize_t iov_iter_extract_bvecs(struct iov_iter *iter, struct bio_vec *bv, size_t max_size,
\t\tunsigned short *nr_vecs, unsigned short max_vecs, iov_iter_extraction_t extraction_flags);
"""

# fs/iomap/direct-io.c, v6.18: iomap_dio_bio_iter() after cb6d51a41157 ("iomap: open code
# bio_iov_iter_get_bdev_pages"), the 3-argument bio_iov_iter_get_pages() of 82dd5d763c9b.
IOMAP_618 = """\
static void iomap_dio_bio_end_io(struct bio *bio)
{
\tstruct iomap_dio *dio = bio->bi_private;

\tif (dio->flags & IOMAP_DIO_DIRTY) {
\t\tbio_check_pages_dirty(bio);
\t} else {
\t\tbio_release_pages(bio, false);
\t\tbio_put(bio);
\t}
}

static int iomap_dio_bio_iter(struct iomap_iter *iter, struct iomap_dio *dio)
{
\tstruct bio *bio;
\tint ret;

\tbio = iomap_dio_alloc_bio(iter, dio, nr_pages, bio_opf);
\tbio->bi_private = dio;
\tbio->bi_end_io = iomap_dio_bio_end_io;
\tret = bio_iov_iter_get_pages(bio, dio->submit.iter,
\t\t\t\t     bdev_logical_block_size(iter->iomap.bdev) - 1);
\tif (unlikely(ret)) {
\t\tbio_put(bio);
\t\treturn ret;
\t}
\tiomap_dio_submit_bio(iter, dio, bio, pos);
\treturn 0;
}
"""

# block/fops.c, v7.3 (and 7.2.y stable): blkdev_iov_iter_get_pages() after 14b007e17881 ("block:
# validate user space vectors during extraction") passes the device's DMA alignment as well.
FOPS_73 = """\
static void blkdev_bio_end_io(struct bio *bio)
{
\tif (bio->bi_private)
\t\tbio_check_pages_dirty(bio);
\telse
\t\tbio_release_pages(bio, false);
}

static inline int blkdev_iov_iter_get_pages(struct bio *bio,
\t\tstruct iov_iter *iter, struct block_device *bdev)
{
\treturn bio_iov_iter_get_pages(bio, iter, ARGS);
}

static ssize_t __blkdev_direct_IO_simple(struct kiocb *iocb, struct iov_iter *iter,
\t\tstruct block_device *bdev)
{
\tstruct bio *bio = bio_alloc(bdev, 4, REQ_OP_READ, GFP_KERNEL);
\tint ret;

\tret = blkdev_iov_iter_get_pages(bio, iter, bdev);
\tif (ret)
\t\treturn ret;
\tbio->bi_end_io = blkdev_bio_end_io;
\tsubmit_bio(bio);
\treturn 0;
}
"""


def test_three_argument_bio_iov_iter_get_pages_of_6_18(tmp_path: Path) -> None:
    tree = make_tree(tmp_path, {"fs/iomap/direct-io.c": IOMAP_618}, (6, 18, 0))
    site, = audit_tree(FsSource(str(tree)), workers=1).sites
    assert (site.line, site.api, site.ref_kind.value, site.status.value, site.rule) == (
        21, "bio_iov_iter_get_pages", "pin", "converted", None)
    assert [(r.line, r.function, r.api) for r in site.closure] == [
        (6, "iomap_dio_bio_end_io", "bio_check_pages_dirty"), (8, "iomap_dio_bio_end_io", "bio_release_pages")]


@pytest.mark.parametrize("args, status, rule", [
    ("bdev_dma_alignment(bdev),\n\t\t\tbdev_logical_block_size(bdev) - 1", "converted", None),
    # A form no kernel has: the call is reported as a catalogue gap, never as "no release found".
    ("bdev_dma_alignment(bdev), 0, 0", "no-closure-found", "gup-catalogue-gap"),
])
def test_four_argument_bio_iov_iter_get_pages_of_7_3(tmp_path: Path, args: str, status: str, rule: str | None) -> None:
    tree = make_tree(tmp_path, {"block/fops.c": FOPS_73.replace("ARGS", args)}, (7, 3, 0))
    site, = audit_tree(FsSource(str(tree)), workers=1).sites
    assert (site.line, site.function, site.status.value, site.rule) == (12, "blkdev_iov_iter_get_pages", status, rule)
    assert [(r.line, r.api) for r in site.closure] == (
        [(4, "bio_check_pages_dirty"), (6, "bio_release_pages")] if status == "converted" else [])


# block/bio.c, v7.1: bio_iov_iter_get_pages() fills the bio through iov_iter_extract_bvecs() (v7.0,
# 91b73c458182); the bounce-buffered read (8dd5e7c75d7b, maxlen from a9aa6045abde) pins the user pages
# into bi_io_vec[1..] behind the bounce folio in bi_io_vec[0], and bio_iov_iter_unbounce() unpins them
# (bvec_unpin() -> unpin_user_folio()) under BIO_PAGE_PINNED and puts the bounce folio.
BIO_71 = """\
int bio_iov_iter_get_pages(struct bio *bio, struct iov_iter *iter,
\t\t\t   unsigned len_align_mask)
{
\tiov_iter_extraction_t flags = 0;

\tif (iov_iter_is_bvec(iter)) {
\t\tbio_iov_bvec_set(bio, iter);
\t\tiov_iter_advance(iter, bio->bi_iter.bi_size);
\t\treturn 0;
\t}

\tif (iov_iter_extract_will_pin(iter))
\t\tbio_set_flag(bio, BIO_PAGE_PINNED);
\tdo {
\t\tssize_t ret;

\t\tret = iov_iter_extract_bvecs(iter, bio->bi_io_vec,
\t\t\t\tBIO_MAX_SIZE - bio->bi_iter.bi_size,
\t\t\t\t&bio->bi_vcnt, bio->bi_max_vecs, flags);
\t\tif (ret <= 0) {
\t\t\tif (!bio->bi_vcnt)
\t\t\t\treturn ret;
\t\t\tbreak;
\t\t}
\t\tbio->bi_iter.bi_size += ret;
\t} while (iov_iter_count(iter) && !bio_full(bio, 0));
\treturn bio_iov_iter_align_down(bio, iter, len_align_mask);
}

static int bio_iov_iter_bounce_read(struct bio *bio, struct iov_iter *iter,
\t\tsize_t maxlen)
{
\tsize_t len = min3(iov_iter_count(iter), maxlen, SZ_1M);
\tstruct folio *folio;

\tfolio = folio_alloc_greedy(GFP_KERNEL, &len);
\tif (!folio)
\t\treturn -ENOMEM;

\tdo {
\t\tssize_t ret;

\t\tret = iov_iter_extract_bvecs(iter, bio->bi_io_vec + 1, len,
\t\t\t\t&bio->bi_vcnt, bio->bi_max_vecs - 1, 0);
\t\tif (ret <= 0) {
\t\t\tif (!bio->bi_vcnt) {
\t\t\t\tfolio_put(folio);
\t\t\t\treturn ret;
\t\t\t}
\t\t\tbreak;
\t\t}
\t\tlen -= ret;
\t\tbio->bi_iter.bi_size += ret;
\t} while (len && bio->bi_vcnt < bio->bi_max_vecs - 1);

\tbvec_set_folio(&bio->bi_io_vec[0], folio, bio->bi_iter.bi_size, 0);
RECORD\treturn 0;
}

int bio_iov_iter_bounce(struct bio *bio, struct iov_iter *iter, size_t maxlen)
{
\tif (op_is_write(bio_op(bio)))
\t\treturn bio_iov_iter_bounce_write(bio, iter, maxlen);
\treturn bio_iov_iter_bounce_read(bio, iter, maxlen);
}

static void bvec_unpin(struct bio_vec *bv, bool mark_dirty)
{
\tstruct folio *folio = page_folio(bv->bv_page);
\tsize_t nr_pages = (bv->bv_offset + bv->bv_len - 1) / PAGE_SIZE -
\t\t\tbv->bv_offset / PAGE_SIZE + 1;

\tif (mark_dirty)
\t\tfolio_mark_dirty_lock(folio);
\tunpin_user_folio(folio, nr_pages);
}

static void bio_iov_iter_unbounce_read(struct bio *bio, bool is_error,
\t\tbool mark_dirty)
{
\tunsigned int len = bio->bi_io_vec[0].bv_len;

\tif (likely(!is_error)) {
\t\tvoid *buf = bvec_virt(&bio->bi_io_vec[0]);
\t\tstruct iov_iter to;

\t\tiov_iter_bvec(&to, ITER_DEST, bio->bi_io_vec + 1, bio->bi_vcnt, len);
\t\tWARN_ON_ONCE(copy_to_iter(buf, len, &to) != len);
\t} else {
\t\tmark_dirty = false;
\t}

\tif (bio_flagged(bio, BIO_PAGE_PINNED)) {
\t\tint i;

\t\tfor (i = 0; i < bio->bi_vcnt; i++)
\t\t\tbvec_unpin(&bio->bi_io_vec[1 + i], mark_dirty);
\t}

\tfolio_put(page_folio(bio->bi_io_vec[0].bv_page));
}

void bio_iov_iter_unbounce(struct bio *bio, bool is_error, bool mark_dirty)
{
\tif (op_is_write(bio_op(bio)))
\t\tbio_free_folios(bio);
\telse
\t\tbio_iov_iter_unbounce_read(bio, is_error, mark_dirty);
}
"""

RECORD = "\tif (iov_iter_extract_will_pin(iter))\n\t\tbio_set_flag(bio, BIO_PAGE_PINNED);\n"

# fs/iomap/direct-io.c, v7.1: IOMAP_DIO_BOUNCE bios are filled by bio_iov_iter_bounce() and
# completed by bio_iov_iter_unbounce(), the others as before.
IOMAP_71 = """\
static void __iomap_dio_bio_end_io(struct bio *bio, bool inline_completion)
{
\tstruct iomap_dio *dio = bio->bi_private;

\tif (dio->flags & IOMAP_DIO_BOUNCE) {
\t\tbio_iov_iter_unbounce(bio, !!dio->error,
\t\t\t\tdio->flags & IOMAP_DIO_USER_BACKED);
\t\tbio_put(bio);
\t} else if (dio->flags & IOMAP_DIO_USER_BACKED) {
\t\tbio_check_pages_dirty(bio);
\t} else {
\t\tbio_release_pages(bio, false);
\t\tbio_put(bio);
\t}
}

void iomap_dio_bio_end_io(struct bio *bio)
{
\t__iomap_dio_bio_end_io(bio, false);
}

static ssize_t iomap_dio_bio_iter_one(struct iomap_iter *iter,
\t\tstruct iomap_dio *dio, loff_t pos, unsigned int alignment, blk_opf_t op)
{
\tstruct bio *bio;
\tssize_t ret;

\tbio = iomap_dio_alloc_bio(iter, dio, nr_vecs, op);
\tbio->bi_private = dio;
\tbio->bi_end_io = iomap_dio_bio_end_io;

\tif (dio->flags & IOMAP_DIO_BOUNCE)
\t\tret = bio_iov_iter_bounce(bio, dio->submit.iter,
\t\t\t\tiomap_max_bio_size(&iter->iomap));
\telse
\t\tret = bio_iov_iter_get_pages(bio, dio->submit.iter,
\t\t\t\t\t     alignment - 1);
\tif (unlikely(ret))
\t\tgoto out_put_bio;
\tiomap_dio_submit_bio(iter, dio, bio, pos);
\treturn bio->bi_iter.bi_size;

out_put_bio:
\tbio_put(bio);
\treturn ret;
}
"""


def _block_71(tmp_path: Path, record: str = RECORD) -> list:  # type: ignore[type-arg]
    tree = make_tree(tmp_path, {"block/bio.c": BIO_71.replace("RECORD", record), "include/linux/bio.h": BIO_H,
                                "include/linux/uio.h": UIO_H, "fs/iomap/direct-io.c": IOMAP_71}, (7, 1, 0))
    return list(audit_tree(FsSource(str(tree)), workers=1).sites)


def test_bounce_buffered_direct_io_of_7_0(tmp_path: Path) -> None:
    sites = {(s.file, s.line): s for s in _block_71(tmp_path)}
    bounce = sites[("fs/iomap/direct-io.c", 33)]
    assert (bounce.api, bounce.ref_kind.value, bounce.status.value, bounce.rule) == (
        "bio_iov_iter_bounce", "pin", "converted", None)
    assert [(r.line, r.api) for r in bounce.closure] == [
        (6, "bio_iov_iter_unbounce"), (10, "bio_check_pages_dirty"), (12, "bio_release_pages")]
    get = sites[("fs/iomap/direct-io.c", 36)]
    assert (get.api, get.status.value) == ("bio_iov_iter_get_pages", "converted")


def test_iov_iter_extract_bvecs_pins_into_the_bios_bvecs(tmp_path: Path) -> None:
    sites = {(s.file, s.line): s for s in _block_71(tmp_path)}
    # The bounce read's pages are unpinned under BIO_PAGE_PINNED; the folio_put() of bi_io_vec[0] drops
    # the bounce folio, which a store of another origin put there: the read records its pin choice in
    # BIO_PAGE_PINNED, and that folio_put() does not test it.
    read = sites[("block/bio.c", 43)]
    assert (read.function, read.api, read.ref_kind.value, read.status.value, read.rule) == (
        "bio_iov_iter_bounce_read", "iov_iter_extract_bvecs", "pin", "converted", None)
    assert [(r.line, r.function, r.api) for r in read.closure] == [(77, "bvec_unpin", "unpin_user_folio")]
    impl = sites[("block/bio.c", 17)]
    assert (impl.function, impl.status.value, impl.rule) == ("bio_iov_iter_get_pages", "converted", None)


def test_without_the_pin_record_the_bounce_folio_put_is_taken_for_the_pages(tmp_path: Path) -> None:
    sites = {(s.file, s.line): s for s in _block_71(tmp_path, record="")}
    read = sites[("block/bio.c", 43)]
    assert (read.status.value, read.rule) == ("mismatch", "gup-pin-put-page")
    assert (100, "folio_put") in [(r.line, r.api) for r in read.closure]


# block/bio.c, v7.3 (14b007e17881, also in 7.2.y stable): iov_iter_extract_bvecs() takes the device's
# memory alignment mask, and a misaligned vector releases what earlier iterations pinned.
BIO_73 = """\
int bio_iov_iter_get_pages(struct bio *bio, struct iov_iter *iter,
\t\t\t   unsigned mem_align_mask, unsigned len_align_mask)
{
\tiov_iter_extraction_t flags = 0;

\tif (iov_iter_extract_will_pin(iter))
\t\tbio_set_flag(bio, BIO_PAGE_PINNED);
\tdo {
\t\tssize_t size;

\t\tsize = iov_iter_extract_bvecs(iter, bio->bi_io_vec,
\t\t\t\tBIO_MAX_SIZE - bio->bi_iter.bi_size,
\t\t\t\t&bio->bi_vcnt, bio->bi_max_vecs,
\t\t\t\tmem_align_mask, flags);
\t\tif (size <= 0) {
\t\t\tif (size == -EINVAL) {
\t\t\t\tbio_release_pages(bio, false);
\t\t\t\tbio_clear_flag(bio, BIO_PAGE_PINNED);
\t\t\t\tbio->bi_vcnt = 0;
\t\t\t}
\t\t\tif (!bio->bi_vcnt)
\t\t\t\treturn size;
\t\t\tbreak;
\t\t}
\t\tbio->bi_iter.bi_size += size;
\t} while (iov_iter_count(iter) && !bio_full(bio, 0));
\treturn bio_iov_iter_align_down(bio, iter, len_align_mask);
}
"""


def test_seven_argument_iov_iter_extract_bvecs_of_7_3(tmp_path: Path) -> None:
    uio = UIO_H.replace("unsigned short max_vecs,", "unsigned short max_vecs, unsigned mem_align_mask,")
    tree = make_tree(tmp_path, {"block/bio.c": BIO_73, "include/linux/uio.h": uio}, (7, 3, 0))
    site, = audit_tree(FsSource(str(tree)), workers=1).sites
    # The call sits in the body of bio_iov_iter_get_pages(), a catalogue API: its bio goes to the
    # API's callers (sites of their own); its own bio_release_pages() is its failure clean-up.
    assert (site.line, site.api, site.ref_kind.value, site.status.value) == (
        11, "iov_iter_extract_bvecs", "pin", "no-closure-found")
    assert site.implementation and site.closure == ()
    assert any(e.line == 17 and "bio_release_pages() in bio_iov_iter_get_pages() releases them only inside"
               in e.message for e in site.evidence)


# fs/cifs/smb2ops.c, v6.3/v6.4: the sg table of an encrypted request is filled by
# netfs_extract_iter_to_sg() (renamed extract_iter_to_sg() in v6.5) from a kernel iterator; a
# bvec-queue iterator (ITER_BVECQ, netfs-next 2026) is kernel-backed as well.
SG = """\
static int acme_crypt_sg(struct sg_table *sgt, struct iov_iter *from, void *buf, size_t len)
{
\tstruct kvec kv = { .iov_base = buf, .iov_len = len };
\tstruct iov_iter iter;

\tITER
\treturn netfs_extract_iter_to_sg(ARG, len, sgt, 16, 0);
}
"""


@pytest.mark.parametrize("iter_setup, arg, status", [
    ("iov_iter_kvec(&iter, ITER_SOURCE, &kv, 1, len);", "&iter", "no-pages"),
    ("iov_iter_bvec_queue(&iter, ITER_SOURCE, bq, 0, 0, len);", "&iter", "no-pages"),
    ("", "from", "no-closure-found"),
])
def test_netfs_extract_iter_to_sg_of_6_3(tmp_path: Path, iter_setup: str, arg: str, status: str) -> None:
    tree = make_tree(tmp_path, {"fs/cifs/smb2ops.c": SG.replace("ITER", iter_setup).replace("ARG", arg)}, (6, 3, 0))
    site, = audit_tree(FsSource(str(tree)), workers=1).sites
    assert (site.line, site.api, site.ref_kind.value, site.status.value) == (
        7, "netfs_extract_iter_to_sg", "pin", status)


# virt/kvm/kvm_main.c, v6.13 (KVM pull for 6.13; 2bcb52a3602b "KVM: Pin (as in FOLL_PIN) pages during
# kvm_vcpu_map()"): hva_to_pfn_fast/slow pin or get by `kfp->pin` and hand the page out through the
# pointer `*kfp->refcounted_page`; __kvm_vcpu_map() points it at `map->pinned_page` and asks for a pin
# (`.pin = true`), kvm_vcpu_unmap() unpins it.
KVM_613 = """\
static kvm_pfn_t kvm_resolve_pfn(struct kvm_follow_pfn *kfp, struct page *page,
\t\t\t\t struct follow_pfnmap_args *map, bool writable)
{
\tkvm_pfn_t pfn;

\tif (map)
\t\tpfn = map->pfn;
\telse
\t\tpfn = page_to_pfn(page);

\t*kfp->refcounted_page = page;

\treturn pfn;
}

static bool hva_to_pfn_fast(struct kvm_follow_pfn *kfp, kvm_pfn_t *pfn)
{
\tstruct page *page;
\tbool r;

\tif (kfp->pin)
\t\tr = pin_user_pages_fast(kfp->hva, 1, FOLL_WRITE, &page) == 1;
\telse
\t\tr = get_user_page_fast_only(kfp->hva, FOLL_WRITE, &page);

\tif (r) {
\t\t*pfn = kvm_resolve_pfn(kfp, page, NULL, true);
\t\treturn true;
\t}

\treturn false;
}

static int hva_to_pfn_slow(struct kvm_follow_pfn *kfp, kvm_pfn_t *pfn)
{
\tunsigned int flags = FOLL_HWPOISON | FOLL_HONOR_NUMA_FAULT | kfp->flags;
\tstruct page *page, *wpage;
\tint npages;

\tif (kfp->pin)
\t\tnpages = pin_user_pages_unlocked(kfp->hva, 1, &page, flags);
\telse
\t\tnpages = get_user_pages_unlocked(kfp->hva, 1, &page, flags);
\tif (npages != 1)
\t\treturn npages;

\tif (WARN_ON_ONCE(kfp->map_writable && kfp->pin))
\t\tgoto out;

\tif (!(flags & FOLL_WRITE) && kfp->map_writable &&
\t    get_user_page_fast_only(kfp->hva, FOLL_WRITE, &wpage)) {
\t\tput_page(page);
\t\tpage = wpage;
\t\tflags |= FOLL_WRITE;
\t}

out:
\t*pfn = kvm_resolve_pfn(kfp, page, NULL, flags & FOLL_WRITE);
\treturn npages;
}

int __kvm_vcpu_map(struct kvm_vcpu *vcpu, gfn_t gfn, struct kvm_host_map *map,
\t\t   bool writable)
{
\tstruct kvm_follow_pfn kfp = {
\t\t.slot = gfn_to_memslot(vcpu->kvm, gfn),
\t\t.gfn = gfn,
\t\t.flags = writable ? FOLL_WRITE : 0,
\t\t.refcounted_page = &map->pinned_page,
PIN\t};

\tmap->pinned_page = NULL;
\tmap->pfn = kvm_follow_pfn(&kfp);
\tif (is_error_noslot_pfn(map->pfn))
\t\treturn -EINVAL;
\tmap->page = pfn_to_page(map->pfn);
\tmap->hva = kmap(map->page);
\treturn map->hva ? 0 : -EFAULT;
}

void kvm_vcpu_unmap(struct kvm_vcpu *vcpu, struct kvm_host_map *map)
{
\tif (!map->hva)
\t\treturn;

\tkunmap(map->page);
\tif (map->pinned_page) {
\t\tif (map->writable)
\t\t\tkvm_set_page_dirty(map->pinned_page);
\t\tunpin_user_page(map->pinned_page);
\t}
\tmap->hva = NULL;
\tmap->pinned_page = NULL;
}
"""


def _kvm(tmp_path: Path, pin: str) -> dict[int, object]:
    tree = make_tree(tmp_path, {"virt/kvm/kvm_main.c": KVM_613.replace("PIN", pin)}, (6, 13, 0))
    return {s.line: s for s in audit_tree(FsSource(str(tree)), workers=1).sites}


def test_kvm_vcpu_map_pins_through_the_refcounted_page_pointer(tmp_path: Path) -> None:
    sites = _kvm(tmp_path, "\t\t.pin = true,\n")
    fast_pin, fast_get = sites[22], sites[24]
    slow_pin, slow_get = sites[41], sites[43]
    assert (fast_pin.api, fast_pin.status.value) == ("pin_user_pages_fast", "converted")
    assert (slow_pin.api, slow_pin.status.value) == ("pin_user_pages_unlocked", "converted")
    for s in (fast_pin, slow_pin):
        assert [(r.line, r.function, r.api) for r in s.closure] == [(91, "kvm_vcpu_unmap", "unpin_user_page")]
    # The GET branch never reaches kvm_vcpu_unmap(): the only set-up that points the pointer at
    # map->pinned_page asks for a pin. Its release is in the arch fault code, out of this tree.
    assert (fast_get.api, fast_get.status.value) == ("get_user_page_fast_only", "no-closure-found")
    assert (slow_get.api, slow_get.status.value, [r.line for r in slow_get.closure]) == (
        "get_user_pages_unlocked", "raw-closure", [52])


def test_without_pin_true_kvm_vcpu_map_would_unpin_get_references(tmp_path: Path) -> None:
    sites = _kvm(tmp_path, "")
    assert (sites[24].status.value, sites[24].rule, [r.line for r in sites[24].closure]) == (
        "mismatch", "gup-get-unpin", [90])
    assert (sites[22].status.value, sites[41].status.value) == ("no-closure-found", "no-closure-found")


# fs/fuse/file.c, v6.13 (3b97c3652d91 "fuse: convert direct io to use folios"): the extracted pages go
# into ap->folios through page_folio(); fuse_release_user_pages() unpins them under
# ap->args.is_pinned, while the page-cache folios other code stores in the same field are put.
FUSE_613 = """\
static void fuse_release_user_pages(struct fuse_args_pages *ap, ssize_t nres,
\t\t\t\t    bool should_dirty)
{
\tunsigned int i;

\tfor (i = 0; i < ap->num_folios; i++) {
\t\tif (should_dirty)
\t\t\tfolio_mark_dirty_lock(ap->folios[i]);
\t\tif (ap->args.is_pinned)
\t\t\tunpin_folio(ap->folios[i]);
\t}
}

static void fuse_readpages_end(struct fuse_mount *fm, struct fuse_args *args, int err)
{
\tstruct fuse_io_args *ia = container_of(args, typeof(*ia), ap.args);
\tstruct fuse_args_pages *ap = &ia->ap;
\tint i;

\tfor (i = 0; i < ap->num_folios; i++) {
\t\tfolio_end_read(ap->folios[i], !err);
\t\tfolio_put(ap->folios[i]);
\t}
}

static void fuse_readahead(struct readahead_control *rac, struct fuse_args_pages *ap)
{
\tstruct folio *folio;

\twhile (ap->num_folios < 16 && (folio = readahead_folio(rac)) != NULL)
\t\tap->folios[ap->num_folios++] = folio;
}

static int fuse_get_user_pages(struct fuse_args_pages *ap, struct iov_iter *ii,
\t\t\t       size_t *nbytesp, int write, unsigned int max_pages)
{
\tunsigned int nr_pages = 0;
\tsize_t nbytes = 0;
\tssize_t ret = 0;
\tstruct page **pages = kzalloc(max_pages * sizeof(struct page *), GFP_KERNEL);

\tif (!pages)
\t\treturn -ENOMEM;

\twhile (nbytes < *nbytesp && nr_pages < max_pages) {
\t\tunsigned nfolios, i;
\t\tsize_t start;

\t\tret = iov_iter_extract_pages(ii, &pages, *nbytesp - nbytes,
\t\t\t\t\t     max_pages - nr_pages, 0, &start);
\t\tif (ret < 0)
\t\t\tbreak;

\t\tnbytes += ret;
\t\tnfolios = DIV_ROUND_UP(ret + start, PAGE_SIZE);
\t\tfor (i = 0; i < nfolios; i++) {
\t\t\tstruct folio *folio = page_folio(pages[i]);

\t\t\tap->folios[ap->num_folios] = folio;
\t\t\tap->num_folios++;
\t\t}
\t\tnr_pages += nfolios;
\t}
\tkfree(pages);
RECORD\t*nbytesp = nbytes;
\treturn ret < 0 ? ret : 0;
}

ssize_t fuse_direct_io(struct fuse_io_priv *io, struct iov_iter *iter, loff_t *ppos, int flags)
{
\tstruct fuse_io_args *ia = fuse_io_alloc(io, 16);
\tsize_t nbytes = 4096;
\tssize_t nres;
\tint err;

\terr = fuse_get_user_pages(&ia->ap, iter, &nbytes, 0, 16);
\tif (err && !nbytes)
\t\treturn err;
\tnres = fuse_send_read(ia, *ppos, nbytes, NULL);
\tfuse_release_user_pages(&ia->ap, nres, io->should_dirty);
\treturn nres;
}
"""


@pytest.mark.parametrize("record, status, closure", [
    ("\tap->args.is_pinned = iov_iter_extract_will_pin(ii);\n", "converted", [(10, "unpin_folio")]),
    # Without the record the page-cache folios' folio_put() is taken for the pinned pages' release.
    ("", "mismatch", [(10, "unpin_folio"), (22, "folio_put")]),
])
def test_fuse_direct_io_folios_of_6_13(tmp_path: Path, record: str, status: str, closure: list) -> None:  # type: ignore[type-arg]
    tree = make_tree(tmp_path, {"fs/fuse/file.c": FUSE_613.replace("RECORD", record)}, (6, 13, 0))
    site, = audit_tree(FsSource(str(tree)), workers=1).sites
    assert (site.line, site.api, site.status.value) == (49, "iov_iter_extract_pages", status)
    assert [(r.line, r.api) for r in site.closure] == closure
