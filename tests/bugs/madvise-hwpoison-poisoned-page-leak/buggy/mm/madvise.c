/*
 * Excerpt of mm/madvise.c and mm/memory-failure.c (Linux 3.11/3.12 era),
 * BEFORE "mm/hwpoison.c: fix held reference count after unpoisoning empty
 * zero page". madvise_hwpoison() is the 3.12-era text (stored copy of a
 * madvise.c with the fix, index id 24147559330) with the fix's four added
 * lines taken out. The memory_failure() head is reconstructed from the
 * 2.6.32 __memory_failure() (TestSetPageHWPoison early return), trimmed.
 */

/* mm/memory-failure.c (trimmed helper) */
int memory_failure(unsigned long pfn, int trapno, int flags)
{
	struct page *p;

	p = pfn_to_page(pfn);
	if (TestSetPageHWPoison(p)) {
		printk(KERN_ERR "MCE %#lx: already hardware poisoned\n", pfn);
		return 0;
	}

	/* ... with MF_COUNT_INCREASED the caller's reference is consumed
	 * by the rest of the handler ... */
	return 0;
}

/*
 * Error injection support for memory error handling.
 */
static int madvise_hwpoison(int bhv, unsigned long start, unsigned long end)
{
	struct page *p;
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	for (; start < end; start += PAGE_SIZE <<
				compound_order(compound_head(p))) {
		int ret;

		ret = get_user_pages_fast(start, 1, 0, &p);
		if (ret != 1)
			return ret;
		if (bhv == MADV_SOFT_OFFLINE) {
			pr_info("Soft offlining page %#lx at %#lx\n",
				page_to_pfn(p), start);
			ret = soft_offline_page(p, MF_COUNT_INCREASED);
			if (ret)
				return ret;
			continue;
		}
		pr_info("Injecting memory failure for page %#lx at %#lx\n",
		       page_to_pfn(p), start);
		/* Ignore return value for now */
		memory_failure(page_to_pfn(p), 0, MF_COUNT_INCREASED);
	}
	return 0;
}
