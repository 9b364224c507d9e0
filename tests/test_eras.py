"""The same source means different things in different eras: kinds and pairings follow the version."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.engine import audit_tree
from audit.source import FsSource
from conftest import make_tree

BLOCK_DIO = """\
static void blkdev_bio_end_io(struct bio *bio)
{
\tif (bio->bi_private)
\t\tbio_check_pages_dirty(bio);
\telse
\t\tbio_release_pages(bio, false);
}

static ssize_t blkdev_direct_io(struct kiocb *iocb, struct iov_iter *iter, struct block_device *bdev)
{
\tstruct bio *bio = bio_alloc(bdev, 4, REQ_OP_READ, GFP_KERNEL);
\tint ret;

\tret = bio_iov_iter_get_pages(bio, iter);
\tif (ret)
\t\treturn ret;
\tbio->bi_end_io = blkdev_bio_end_io;
\tsubmit_bio(bio);
\treturn 0;
}
"""

EXTRACT_DIO = """\
struct dio {
\tstruct page **pages;
\tbool is_pinned;
};

static inline void dio_unpin_page(struct dio *dio, struct page *page)
{
\tif (dio->is_pinned)
\t\tunpin_user_page(page);
}

static int dio_refill_pages(struct dio *dio, struct iov_iter *iter)
{
\tsize_t from;
\tssize_t ret;

\tret = iov_iter_extract_pages(iter, &dio->pages, LONG_MAX, 64, 0, &from);
\tdio->is_pinned = iov_iter_extract_will_pin(iter);
\treturn ret;
}

static void dio_cleanup(struct dio *dio, int n)
{
\tint i;

\tfor (i = 0; i < n; i++)
\t\tdio_unpin_page(dio, dio->pages[i]);
}
"""

OLD_GUP = """\
static int acme_map(unsigned long uaddr, struct page **pages, int n, int write)
{
\tint i, got;

\tdown_read(&current->mm->mmap_sem);
\tgot = get_user_pages(current, current->mm, uaddr, n, write, 0, pages, NULL);
\tup_read(&current->mm->mmap_sem);
\tfor (i = 0; i < got; i++)
\t\tpage_cache_release(pages[i]);
\treturn 0;
}
"""


@pytest.mark.parametrize(("version", "ref", "status"), [((6, 1, 0), "get", "raw-closure"), ((6, 5, 0), "pin", "converted")])
def test_bio_pages_are_pinned_from_6_4(version: tuple[int, int, int], ref: str, status: str, tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", {"block/fops.c": BLOCK_DIO}, version)
    (site,) = audit_tree(FsSource(str(tree)), workers=1).sites
    assert (site.api, site.line, site.ref_kind.value, site.status.value) == ("bio_iov_iter_get_pages", 14, ref, status)
    assert [(c.function, c.api) for c in site.closure] == [
        ("blkdev_bio_end_io", "bio_check_pages_dirty"), ("blkdev_bio_end_io", "bio_release_pages")]


def test_extracted_pages_released_under_will_pin_are_converted(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", {"fs/direct-io.c": EXTRACT_DIO}, (6, 5, 0))
    (site,) = audit_tree(FsSource(str(tree)), workers=1).sites
    assert (site.api, site.line, site.ref_kind.value, site.status.value, site.rule) == (
        "iov_iter_extract_pages", 17, "pin", "converted", None)
    assert [(c.function, c.api, c.line) for c in site.closure] == [("dio_unpin_page", "unpin_user_page", 9)]


def test_2_6_era_eight_argument_get_user_pages(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", {"drivers/misc/acme.c": OLD_GUP}, (2, 6, 32))
    (site,) = audit_tree(FsSource(str(tree)), workers=1).sites
    assert (site.pages_arg, site.write, site.ref_kind.value, site.status.value) == ("pages", None, "get", "raw-closure")
    # Before 5.2 there is no pin API: the unconverted closure is a note, the fork race stays a warning
    # and comes first.
    assert [(f.rule, f.severity.value) for f in site.findings] == [
        ("fork-read-lost", "warning"), ("gup-raw-put-page", "note")]
    assert site.rule == "fork-read-lost"
    assert [(c.api, c.line) for c in site.closure] == [("page_cache_release", 9)]


SKB_H = """\
static inline void __skb_frag_unref(skb_frag_t *frag, bool recycle)
{
\tstruct page *page = skb_frag_page(frag);

\tput_page(page);
}
"""

ZEROCOPY = """\
static int acme_zerocopy(struct sk_buff *skb, struct iov_iter *from)
{
\tstruct page *pages[4];
\tsize_t start;
\tssize_t copied;

\tcopied = iov_iter_get_pages2(from, pages, 4096, 4, &start);
\tif (copied < 0)
\t\treturn -EFAULT;
\tskb_fill_page_desc(skb, 0, pages[0], start, copied);
\treturn 0;
}
"""


def test_pages_handed_to_an_skb_are_dropped_by_its_frag_destructor(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", {"net/core/acme.c": ZEROCOPY, "include/linux/skbuff.h": SKB_H})
    (site,) = audit_tree(FsSource(str(tree)), workers=1).sites
    assert (site.status.value, site.rule) == ("raw-closure", "gup-raw-put-page")
    assert [(c.file, c.line, c.function, c.api) for c in site.closure] == [
        ("include/linux/skbuff.h", 5, "__skb_frag_unref", "put_page")]
    without = make_tree(tmp_path / "u", {"net/core/acme.c": ZEROCOPY})
    assert [s.status.value for s in audit_tree(FsSource(str(without)), workers=1).sites] == ["no-closure-found"]
