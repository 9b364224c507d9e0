// SPDX-License-Identifier: GPL-2.0 or BSD-3-Clause
/*
 * Excerpt of drivers/infiniband/hw/hfi1/user_pages.c, verbatim from 6.1.192
 * (/work/trees/linux-source-6.1); the two functions are unchanged from the
 * 5.6 pin_user_pages conversion through 6.1. hfi1_can_pin_pages() is trimmed.
 */

int hfi1_acquire_user_pages(struct mm_struct *mm, unsigned long vaddr, size_t npages,
			    bool writable, struct page **pages)
{
	int ret;
	unsigned int gup_flags = FOLL_LONGTERM | (writable ? FOLL_WRITE : 0);

	ret = pin_user_pages_fast(vaddr, npages, gup_flags, pages);
	if (ret < 0)
		return ret;

	atomic64_add(ret, &mm->pinned_vm);

	return ret;
}

void hfi1_release_user_pages(struct mm_struct *mm, struct page **p,
			     size_t npages, bool dirty)
{
	unpin_user_pages_dirty_lock(p, npages, dirty);

	if (mm) { /* during close after signal, mm can be NULL */
		atomic64_sub(npages, &mm->pinned_vm);
	}
}
