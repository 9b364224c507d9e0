"""The closure search's hop kinds (audit/search.py) on small trees shaped like real drivers: each
test names the kernel code it stands for, and asserts the site's status and the release it pairs;
a twin with the other release kind proves the hop really reached that release."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.engine import audit_tree
from audit.source import FsSource
from conftest import make_tree

# hfi1 (drivers/infiniband/hw/hfi1/user_pages.c, user_exp_rcv.c): the acquire wrapper and its
# release helper in one file, their only caller in a sibling file that names no gup API.
WRAPPER = """
#include <linux/mm.h>
int drv_acquire_user_pages(unsigned long vaddr, int npages, struct page **pages)
{
	return pin_user_pages_fast(vaddr, npages, FOLL_WRITE | FOLL_LONGTERM, pages);
}

void drv_release_user_pages(struct page **p, int npages)
{
	unpin_user_pages_dirty_lock(p, npages, true);
}
"""
SIBLING = """
int drv_pin_rcv_pages(struct drv_buf *buf, unsigned long vaddr, int npages)
{
	struct page **pages = kcalloc(npages, sizeof(*pages), GFP_KERNEL);
	int pinned = drv_acquire_user_pages(vaddr, npages, pages);

	if (pinned <= 0) {
		kfree(pages);
		return pinned;
	}
	drv_work(buf, pages, pinned);
	RELEASE
	kfree(pages);
	return 0;
}
"""


@pytest.mark.parametrize("release, status, line", [
    ("drv_release_user_pages(pages, pinned);", "converted", 10),
    ("for (int i = 0; i < pinned; i++) put_page(pages[i]);", "mismatch", 12),
])
def test_callers_in_sibling_files_that_name_no_gup_api(tmp_path: Path, release: str, status: str, line: int) -> None:
    tree = make_tree(tmp_path, {
        "drivers/drv/user_pages.c": WRAPPER,
        "drivers/drv/user_exp_rcv.c": SIBLING.replace("RELEASE", release),
    })
    site, = audit_tree(FsSource(str(tree)), workers=1).sites
    assert (site.file, site.line, site.status.value) == ("drivers/drv/user_pages.c", 5, status)
    assert any((r.file, r.line) == ("drivers/drv/user_pages.c", 10) for r in site.closure) == (status == "converted")
    if status == "mismatch":
        assert [(r.file, r.line, r.api) for r in site.closure if r.api == "put_page"] == \
            [("drivers/drv/user_exp_rcv.c", line, "put_page")]


# usnic (drivers/infiniband/hw/usnic/usnic_uiom.c): the pages go into an sg list through the cursor of
# for_each_sg() over a chunk's scatterlist; the chunk's users unpin through sg_page().
CHUNKS = """
#include <linux/mm.h>
struct drv_chunk { struct list_head list; int nents; struct scatterlist page_list[]; };

static void drv_put_pages(struct list_head *chunk_list)
{
	struct drv_chunk *chunk;
	struct scatterlist *sg;
	struct page *page;
	int i;

	list_for_each_entry(chunk, chunk_list, list) {
		for_each_sg(chunk->page_list, sg, chunk->nents, i) {
			page = sg_page(sg);
			RELEASE
		}
	}
}

static int drv_get_pages(unsigned long addr, int npages, struct list_head *chunk_list)
{
	struct page **page_list = (struct page **)__get_free_page(GFP_KERNEL);
	struct drv_chunk *chunk;
	struct scatterlist *sg;
	int ret, i;

	ret = pin_user_pages(addr, npages, FOLL_WRITE, page_list);
	if (ret < 0)
		return ret;
	chunk = kmalloc(sizeof(*chunk), GFP_KERNEL);
	chunk->nents = ret;
	for_each_sg(chunk->page_list, sg, chunk->nents, i)
		sg_set_page(sg, page_list[i], PAGE_SIZE, 0);
	list_add_tail(&chunk->list, chunk_list);
	free_page((unsigned long)page_list);
	return 0;
}
"""


@pytest.mark.parametrize("release, status", [
    ("unpin_user_pages_dirty_lock(&page, 1, true);", "converted"),
    ("put_page(page);", "mismatch"),
])
def test_a_for_each_cursor_walks_the_storage_it_iterates(tmp_path: Path, release: str, status: str) -> None:
    tree = make_tree(tmp_path, {"drivers/drv/uiom.c": CHUNKS.replace("RELEASE", release)})
    site, = audit_tree(FsSource(str(tree)), workers=1).sites
    assert (site.line, site.status.value) == (27, status)
    assert [(r.line, r.function) for r in site.closure] == [(15, "drv_put_pages")]


# vfio type1 (drivers/vfio/vfio_iommu_type1.c): the page leaves as its pfn (`*pfn = page_to_pfn(...)`)
# and comes back in put_pfn() through pfn_to_page().
PFNS = """
#include <linux/mm.h>
static int drv_put_pfn(unsigned long pfn)
{
	struct page *page = pfn_to_page(pfn);

	RELEASE
	return 1;
}

static int drv_get_pfn(unsigned long vaddr, unsigned long *pfn)
{
	struct page *page;
	int ret = pin_user_pages_fast(vaddr, 1, FOLL_LONGTERM, &page);

	if (ret == 1)
		*pfn = page_to_pfn(page);
	return ret;
}

int drv_map(unsigned long vaddr)
{
	unsigned long pfn;
	int ret = drv_get_pfn(vaddr, &pfn);

	if (ret != 1)
		return -EFAULT;
	if (drv_iommu_map(pfn))
		drv_put_pfn(pfn);
	return 0;
}
"""


@pytest.mark.parametrize("release, status", [
    ("unpin_user_page(page);", "converted"),
    ("put_page(page);", "mismatch"),
])
def test_a_page_that_travels_as_its_pfn_is_followed(tmp_path: Path, release: str, status: str) -> None:
    tree = make_tree(tmp_path, {"drivers/drv/iommu.c": PFNS.replace("RELEASE", release)})
    site, = audit_tree(FsSource(str(tree)), workers=1).sites
    assert (site.line, site.status.value) == (14, status)
    assert [(r.line, r.function) for r in site.closure] == [(7, "drv_put_pfn")]


# vfio spapr tce (drivers/vfio/vfio_iommu_spapr_tce.c): a page pinned for writing leaves as its
# physical address; the release rebuilds it with pfn_to_page() and does not dirty it, but the arch
# IOMMU helper that holds the address dirties it (arch/powerpc/kernel/iommu.c), unseen: a note only.
ADDRESS = """
#include <linux/mm.h>
static void drv_unuse_page(unsigned long hpa)
{
	struct page *page;

	page = pfn_to_page(hpa >> PAGE_SHIFT);
	unpin_user_page(page);
}

static void drv_unuse_struct_page(struct page *page)
{
	unpin_user_page(page);
}

static int drv_use_page(unsigned long tce, unsigned long *hpa)
{
	struct page *page = NULL;

	if (pin_user_pages_fast(tce & PAGE_MASK, 1, FOLL_WRITE, &page) != 1)
		return -EFAULT;
	KEEP
	return 0;
}

int drv_build(unsigned long tce)
{
	unsigned long hpa;
	struct page *page;

	if (drv_use_page(tce, &hpa))
		return -EFAULT;
	if (drv_map(hpa))
		UNUSE
	return 0;
}
"""


@pytest.mark.parametrize("keep, unuse, line, severity", [
    ("*hpa = __pa((unsigned long) page_address(page));", "drv_unuse_page(hpa);", 8, "note"),
    ("drv_keep(hpa, page);", "drv_unuse_struct_page(page);", 13, "warning"),
])
def test_dirty_lost_is_unsure_when_the_page_travelled_as_an_address(
        tmp_path: Path, keep: str, unuse: str, line: int, severity: str) -> None:
    src = ADDRESS.replace("KEEP", keep).replace("UNUSE", unuse)
    if severity == "warning":
        # The twin keeps the struct page: drv_use_page() hands it back through a second parameter.
        src = src.replace("unsigned long *hpa)", "unsigned long *hpa, struct page **out)") \
                 .replace("drv_keep(hpa, page);", "*out = page;") \
                 .replace("drv_use_page(tce, &hpa)", "drv_use_page(tce, &hpa, &page)")
    tree = make_tree(tmp_path, {"drivers/drv/tce.c": src})
    site, = audit_tree(FsSource(str(tree)), workers=1).sites
    assert site.status.value == "converted"
    got = [(f.rule, f.line, f.severity.value) for f in site.findings if f.rule == "gup-dirty-lost"]
    assert got == [("gup-dirty-lost", line, severity)]


# ceph (fs/ceph/file.c): the pages go into a bio_vec array with bvec_set_page(); put_bvecs() drops
# each element's page, `bvecs[i].bv_page` (a carrier element's page member, catalogue data).
BVECS = """
#include <linux/mm.h>
static void drv_put_bvecs(struct bio_vec *bvecs, int num_bvecs)
{
	int i;

	for (i = 0; i < num_bvecs; i++)
		if (bvecs[i].bv_page)
			RELEASE
	kvfree(bvecs);
}

static ssize_t drv_get_bvecs(struct iov_iter *iter, size_t maxsize, struct bio_vec *bvecs)
{
	struct page *pages[16];
	size_t start;
	int idx = 0;
	ssize_t bytes = iov_iter_get_pages2(iter, pages, maxsize, 16, &start);

	if (bytes < 0)
		return bytes;
	for ( ; idx * PAGE_SIZE < bytes; idx++)
		bvec_set_page(&bvecs[idx], pages[idx], PAGE_SIZE, 0);
	return bytes;
}

ssize_t drv_direct_io(struct iov_iter *iter, size_t len)
{
	struct bio_vec *bvecs = kvmalloc_array(16, sizeof(*bvecs), GFP_KERNEL);
	ssize_t n = drv_get_bvecs(iter, len, bvecs);

	if (n > 0)
		drv_submit(bvecs, n);
	drv_put_bvecs(bvecs, 16);
	return n;
}
"""


@pytest.mark.parametrize("release, status", [
    ("put_page(bvecs[i].bv_page);", "raw-closure"),
    ("unpin_user_page(bvecs[i].bv_page);", "mismatch"),
])
def test_a_bvec_element_page_member_is_the_page(tmp_path: Path, release: str, status: str) -> None:
    tree = make_tree(tmp_path, {"drivers/drv/dio.c": BVECS.replace("RELEASE", release)})
    site, = audit_tree(FsSource(str(tree)), workers=1).sites
    assert (site.line, site.status.value) == (18, status)
    assert [(r.line, r.function) for r in site.closure] == [(9, "drv_put_bvecs")]


# smbdirect (fs/smb/client/smbdirect.c): extract_iter_to_sg() in a static helper whose iterator comes,
# two callers up and from a sibling file, from a netfs subrequest (`&rdata->subreq.io_iter`, a kernel
# iterator field in the catalogue): nothing is pinned.
EXTRACT = """
#include <linux/mm.h>
static int drv_iter_to_mr(struct drv_conn *info, struct iov_iter *iter, struct sg_table *sgt)
{
	return extract_iter_to_sg(iter, iov_iter_count(iter), sgt, 16, 0);
}

struct drv_mr *drv_register_mr(struct drv_conn *info, struct iov_iter *iter)
{
	struct drv_mr *mr = drv_get_mr(info);

	drv_iter_to_mr(info, iter, &mr->sgt);
	return mr;
}
"""
READER = """
void drv_issue_read(struct drv_rdata *rdata)
{
	rdata->mr = drv_register_mr(rdata->conn, ITER);
}
"""


@pytest.mark.parametrize("iterator, status", [
    ("&rdata->subreq.io_iter", "no-pages"),
    ("&rdata->user_iter", "no-closure-found"),
])
def test_kernel_iterators_are_read_through_callers_that_pass_them_on(
        tmp_path: Path, iterator: str, status: str) -> None:
    tree = make_tree(tmp_path, {"drivers/drv/direct.c": EXTRACT,
                                "drivers/drv/pdu.c": READER.replace("ITER", iterator)})
    site, = audit_tree(FsSource(str(tree)), workers=1).sites
    assert (site.file, site.line, site.status.value) == ("drivers/drv/direct.c", 5, status)


# lib/iov_iter.c: a static helper takes the pages for iov_iter_get_pages2(), a catalogue API whose
# callers are sites of their own: the helper's call is part of the API's implementation (a note).
HELPER = """
#include <linux/mm.h>
static ssize_t __get_pages_helper(unsigned long addr, int n, struct page **pages)
{
	return get_user_pages_fast(addr, n, 0, pages);
}

ssize_t CALLER(struct iov_iter *i, struct page **pages, size_t maxsize, unsigned maxpages, size_t *start)
{
	return __get_pages_helper(i->ubuf, maxpages, pages);
}
"""


@pytest.mark.parametrize("caller, implementation, severity", [
    ("iov_iter_get_pages2", True, "note"),
    ("drv_get_pages", False, "warning"),
])
def test_a_helper_of_a_catalogue_api_is_its_implementation(
        tmp_path: Path, caller: str, implementation: bool, severity: str) -> None:
    tree = make_tree(tmp_path, {"drivers/drv/iov_helper.c": HELPER.replace("CALLER", caller)})
    site, = audit_tree(FsSource(str(tree)), workers=1).sites
    assert (site.line, site.status.value, site.implementation) == (5, "no-closure-found", implementation)
    assert [(f.rule, f.severity.value) for f in site.findings if f.rule == "gup-no-release"] == \
        [("gup-no-release", severity)]


# fuse (fs/fuse/file.c, 6.12): the struct records whether its pages are pinned
# (`ap->args.is_pinned = iov_iter_extract_will_pin(ii)`); the release tests that record. The arm for
# pinned pages must unpin: a put_page() there is a mismatch, whatever the record is called; a
# put_page() on the other arm drops other pages (page-cache folios).
RECORD = """
#include <linux/mm.h>
static void drv_release_pages(struct drv_args_pages *ap)
{
	unsigned int i;

	for (i = 0; i < ap->num_pages; i++) {
		if (ARM)
			THEN;
		else
			ELSE;
	}
}

static int drv_get_user_pages(struct drv_args_pages *ap, struct iov_iter *ii, size_t max)
{
	ssize_t ret = iov_iter_extract_pages(ii, &ap->pages, max, 16, 0, &ap->off);

	if (ret < 0)
		return ret;
	ap->RECORDNAME = iov_iter_extract_will_pin(ii);
	ap->num_pages = DIV_ROUND_UP(ret, PAGE_SIZE);
	return 0;
}

int drv_direct_io(struct drv_args_pages *ap, struct iov_iter *ii)
{
	int err = drv_get_user_pages(ap, ii, 65536);

	if (!err)
		drv_send(ap);
	drv_release_pages(ap);
	return err;
}
"""
UNPIN, PUT, FOLIO_PUT = "unpin_user_page(ap->pages[i])", "put_page(ap->pages[i])", "folio_put(page_folio(ap->pages[i]))"


@pytest.mark.parametrize("record", ["is_pinned", "mode"])
@pytest.mark.parametrize("arm, then, otherwise, status", [
    ("ap->RECORDNAME", UNPIN, PUT, "converted"),
    ("ap->RECORDNAME", FOLIO_PUT, PUT, "mismatch"),
    ("!ap->RECORDNAME", PUT, UNPIN, "converted"),
    ("!ap->RECORDNAME", UNPIN, PUT, "mismatch"),
])
def test_the_arm_of_a_recorded_pin_choice_decides_the_kind(
        tmp_path: Path, record: str, arm: str, then: str, otherwise: str, status: str) -> None:
    src = RECORD.replace("ARM", arm).replace("THEN", then).replace("ELSE", otherwise).replace("RECORDNAME", record)
    tree = make_tree(tmp_path, {"drivers/drv/file.c": src})
    site, = audit_tree(FsSource(str(tree)), workers=1).sites
    assert (site.line, site.status.value) == (17, status)


# A callee that returns (part of) the pages it was handed gives them back to the call that led into
# it, not to its other callers: mm/gup.c's gup_folio_next() also serves unpin_user_pages*(), whose
# unpins are not the closure of a caller's pages (6.12 labels, mm/gup.c:2571).
RETURNS = """
#include <linux/mm.h>
static struct page *drv_first(struct page **pages)
{
	return pages[0];
}

void drv_other(struct page **other)
{
	struct page *p = drv_first(other);

	put_page(p);
}

int drv_use(unsigned long addr)
{
	struct page *pages[4];
	struct page *first;
	int n = pin_user_pages_fast(addr, 4, 0, pages);

	if (n <= 0)
		return n;
	first = drv_first(pages);
	drv_touch(first);
	unpin_user_pages(pages, n);
	return 0;
}
"""


def test_a_value_returned_by_a_callee_goes_back_to_the_call_that_led_there(tmp_path: Path) -> None:
    tree = make_tree(tmp_path, {"drivers/drv/ret.c": RETURNS})
    site, = audit_tree(FsSource(str(tree)), workers=1).sites
    assert (site.line, site.status.value) == (19, "converted")
    assert [(r.line, r.api) for r in site.closure] == [(25, "unpin_user_pages")]


# frame vectors (drivers/media/common/videobuf2/frame_vector.c, include/media/frame_vector.h): the
# pages are pinned into `vec->ptrs`; put_vaddr_frames() reaches them only through the header's
# getter frame_vector_pages(), which returns `(struct page **)(vec->ptrs)`.
FV_H = """
struct drv_vector { unsigned int nr; bool got_ref; void *ptrs[]; };

static inline struct page **drv_vector_pages(struct drv_vector *vec)
{
	return (struct page **)(vec->ptrs);
}
"""
FV_C = """
#include <media/drv_vector.h>

int drv_get_frames(unsigned long start, unsigned int nr, struct drv_vector *vec)
{
	int ret = pin_user_pages_fast(start, nr, FOLL_LONGTERM, (struct page **)(vec->ptrs));

	if (ret > 0) {
		vec->got_ref = true;
		vec->nr = ret;
	}
	return ret;
}

void drv_put_frames(struct drv_vector *vec)
{
	struct page **pages;

	if (!vec->got_ref)
		return;
	pages = drv_vector_pages(vec);
	RELEASE
	vec->got_ref = false;
}
"""


@pytest.mark.parametrize("release, status", [
    ("unpin_user_pages(pages, vec->nr);", "converted"),
    ("release_pages(pages, vec->nr);", "mismatch"),
])
def test_a_getter_in_an_included_header_leads_to_the_field(tmp_path: Path, release: str, status: str) -> None:
    tree = make_tree(tmp_path, {"include/media/drv_vector.h": FV_H,
                                "drivers/media/drv/frame_vector.c": FV_C.replace("RELEASE", release)})
    site, = audit_tree(FsSource(str(tree)), workers=1).sites
    assert (site.file, site.line, site.status.value) == ("drivers/media/drv/frame_vector.c", 6, status)
    assert [(r.line, r.function) for r in site.closure] == [(22, "drv_put_frames")]
