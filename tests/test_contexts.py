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
