"""Checks of a site that read past the acquiring function (audit/contexts.py): where a lost dirty bit
is reported, and how sure it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.engine import audit_tree
from audit.source import FsSource
from conftest import make_tree

# etnaviv / acrn shape (drivers/gpu/drm/etnaviv/etnaviv_gem.c, 6.12): pages pinned for writing, an
# error path that unpins them before any I/O, and the main release in the object's teardown. The
# missing dirtying belongs to the main release; i915's shape (i915_gem_userptr.c) dirties the pages
# in the caller of the releasing helper, which makes the finding unsure.
USERPTR = """
#include <linux/mm.h>
struct drv_obj { struct page **pvec; int n; };

static void drv_drop_ref(struct drv_obj *obj)
{
	unpin_user_pages(obj->pvec, obj->n);
	obj->pvec = NULL;
}

void drv_put_pages(struct drv_obj *obj)
{
	int i;

	DIRTY
	drv_drop_ref(obj);
}

int drv_get_pages(struct drv_obj *obj, unsigned long addr, int n)
{
	struct page **pvec = kvmalloc_array(n, sizeof(*pvec), GFP_KERNEL);
	int pinned = pin_user_pages_fast(addr, n, FOLL_WRITE, pvec);

	if (pinned != n) {
		if (pinned > 0)
			unpin_user_pages(pvec, pinned);
		kvfree(pvec);
		return -EFAULT;
	}
	if (drv_map(obj, pvec, n)) {
		unpin_user_pages(pvec, n);
		kvfree(pvec);
		return -EIO;
	}
	obj->pvec = pvec;
	obj->n = n;
	return 0;
}
"""


@pytest.mark.parametrize("dirty, severity", [
    ("", "warning"),
    ("for (i = 0; i < obj->n; i++) set_page_dirty_lock(obj->pvec[i]);", "note"),
])
def test_dirty_lost_sits_on_the_main_release(tmp_path: Path, dirty: str, severity: str) -> None:
    tree = make_tree(tmp_path, {"drivers/drv/userptr.c": USERPTR.replace("DIRTY", dirty)})
    site, = audit_tree(FsSource(str(tree)), workers=1).sites
    assert (site.line, site.status.value) == (22, "converted")
    got = [(f.rule, f.line, f.severity.value) for f in site.findings if f.rule == "gup-dirty-lost"]
    assert got == [("gup-dirty-lost", 7, severity)]


# radeon_ttm_tt_pin_userptr() shape (drivers/gpu/drm/radeon/radeon_ttm.c, 6.1 and 6.12): the pages
# are pinned through a local cursor into the ttm's own array, and the only release the search finds
# is the function's own failure clean-up; the real release (radeon_ttm_tt_unpin_userptr(), which
# dirties them) walks an sg table the search does not follow. A clean-up before any I/O says
# nothing about dirtying: unsure (a note). The same release of a local array is still a warning.
PIN_USERPTR = """
#include <linux/mm.h>
struct drv_tt { struct page **pages; unsigned long num_pages; struct sg_table *sg; };

int drv_tt_pin_userptr(struct drv_tt *ttm, unsigned long userptr)
{
	unsigned pinned = 0;
	int r;

	do {
		unsigned num_pages = ttm->num_pages - pinned;
		struct page **pages = ttm->pages + pinned;

		r = get_user_pages(userptr, num_pages, FOLL_WRITE, pages, NULL);
		if (r < 0)
			goto release_pages;
		pinned += r;
	} while (pinned < ttm->num_pages);

	r = sg_alloc_table_from_pages(ttm->sg, ttm->pages, ttm->num_pages, 0, ttm->num_pages << PAGE_SHIFT, GFP_KERNEL);
	if (r)
		goto release_pages;
	return 0;

release_pages:
	release_pages(ttm->pages, pinned);
	return r;
}
"""


# The twin: the same clean-up of an array of the function's own, which nothing keeps.
PIN_LOCAL = """
#include <linux/mm.h>

int drv_pin_local(unsigned long userptr, unsigned long num_pages, struct sg_table *sg)
{
	struct page **pages = kcalloc(num_pages, sizeof(*pages), GFP_KERNEL);
	int r;

	r = get_user_pages(userptr, num_pages, FOLL_WRITE, pages, NULL);
	if (r < 0)
		goto out;
	if (r != num_pages)
		goto release_pages;
	r = sg_alloc_table_from_pages(sg, pages, num_pages, 0, num_pages << PAGE_SHIFT, GFP_KERNEL);
	if (r)
		goto release_pages;
	return 0;

release_pages:
	release_pages(pages, r);
out:
	kfree(pages);
	return r;
}
"""


@pytest.mark.parametrize("src, line, severity", [(PIN_USERPTR, 26, "note"), (PIN_LOCAL, 20, "warning")])
def test_a_cleanup_of_pages_kept_through_a_cursor_is_unsure(tmp_path: Path, src: str, line: int, severity: str) -> None:
    tree = make_tree(tmp_path, {"drivers/drv/ttm.c": src})
    got = [(f.rule, f.line, f.severity.value) for s in audit_tree(FsSource(str(tree)), workers=1).sites
           for f in s.findings if f.rule == "gup-dirty-lost"]
    assert got == [("gup-dirty-lost", line, severity)]


# A write argument that is an expression: only the calls with `rw == READ` write. The buffer's
# teardown is judged, as an error-level trust matter, only where nothing in the file dirties a page.
DIRECTION = """
#include <linux/mm.h>

struct vb_dma {
	struct page **pages;
	int nr_pages;
	int direction;
};

static int vb_dma_init_user(struct vb_dma *dma, int rw, unsigned long data, int n)
{
	int err;

	dma->nr_pages = n;
	dma->pages = kmalloc(n * sizeof(struct page *), GFP_KERNEL);
	if (!dma->pages)
		return -ENOMEM;
	err = get_user_pages(current, current->mm, data & PAGE_MASK, n, rw == READ, 1, dma->pages, NULL);
	if (err != n) {
		dma->nr_pages = err >= 0 ? err : 0;
		return err < 0 ? err : -EINVAL;
	}
	return 0;
}

static int vb_dma_free(struct vb_dma *dma)
{
	int i;

	for (i = 0; i < dma->nr_pages; i++)
		page_cache_release(dma->pages[i]);
	kfree(dma->pages);
	dma->pages = NULL;
	return 0;
}
OTHER"""


@pytest.mark.parametrize("other, severity", [
    ("", "warning"),
    # Elsewhere in the file pages are dirtied (a bio's completion, say): the writing calls' pages
    # may go that way first, so the teardown's clean put is unsure.
    ("static void vb_bio_done(struct bio *bio)\n{\n\tbio_check_pages_dirty(bio);\n}\n", "note"),
])
def test_a_direction_write_argument_is_judged_where_nothing_dirties(tmp_path: Path, other: str,
                                                                     severity: str) -> None:
    tree = make_tree(tmp_path, {"drivers/media/vb.c": DIRECTION.replace("OTHER", other)})
    site, = audit_tree(FsSource(str(tree)), workers=1).sites
    assert (site.line, site.status.value) == (18, "raw-closure")
    got = [(f.rule, f.line, f.severity.value) for f in site.findings if f.rule == "gup-dirty-lost"]
    assert got == [("gup-dirty-lost", 31, severity)]
