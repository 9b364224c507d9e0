// SPDX-License-Identifier: GPL-2.0-only
/*
 * Excerpt of mm/mempolicy.c as of v5.6, before ba841078cd05 "mm/mempolicy: Allow lookup_node() to
 * handle fatal signal" (v5.7-rc1).  lookup_node() is the v5.6 text (the '-' and context lines of
 * that commit's diff, and the AnghaBench extract of the same function); do_get_mempolicy() is cut
 * to its call.
 */

static int lookup_node(struct mm_struct *mm, unsigned long addr)
{
	struct page *p;
	int err;

	int locked = 1;
	err = get_user_pages_locked(addr & PAGE_MASK, 1, 0, &p, &locked);
	if (err >= 0) {
		err = page_to_nid(p);
		put_page(p);
	}
	if (locked)
		up_read(&mm->mmap_sem);
	return err;
}

/* Retrieve NUMA policy */
static long do_get_mempolicy(int *policy, nodemask_t *nmask,
			     unsigned long addr, unsigned long flags)
{
	int err;
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma = NULL;
	struct mempolicy *pol = current->mempolicy, *pol_refcount = NULL;

	if (flags & MPOL_F_NODE) {
		if (flags & MPOL_F_ADDR) {
			/*
			 * Take a refcount on the mpol, lookup_node()
			 * wil drop the mmap_sem, so after calling
			 * lookup_node() only "pol" remains valid, "vma"
			 * is stale.
			 */
			pol_refcount = pol;
			vma = NULL;
			mpol_get(pol);
			err = lookup_node(mm, addr);
			if (err < 0)
				goto out;
			*policy = err;
		}
	}
	err = 0;
 out:
	if (pol_refcount)
		mpol_put(pol_refcount);
	return err;
}
