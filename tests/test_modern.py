"""Kernels newer than 6.12: the catalogue's post-6.12 forms and names on small trees shaped like the
newer kernels' own code (each fixture names the file and release it is cut from; sources are in
tests/labels/modern-apis.md, "After 6.12"). Each asserts the site's status and the exact release it
pairs; a twin shows what changes the verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.engine import audit_tree
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
    site, = audit_tree(tree, workers=1).sites
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
    site, = audit_tree(tree, workers=1).sites
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
    return list(audit_tree(tree, workers=1).sites)


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
    site, = audit_tree(tree, workers=1).sites
    assert (site.line, site.api, site.ref_kind.value, site.status.value) == (11, "iov_iter_extract_bvecs", "pin", "converted")
    assert [(r.line, r.api) for r in site.closure] == [(17, "bio_release_pages")]


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
    site, = audit_tree(tree, workers=1).sites
    assert (site.line, site.api, site.ref_kind.value, site.status.value) == (
        7, "netfs_extract_iter_to_sg", "pin", status)
