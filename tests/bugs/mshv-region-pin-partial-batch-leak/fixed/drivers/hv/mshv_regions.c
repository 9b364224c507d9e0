// SPDX-License-Identifier: GPL-2.0-only
/*
 * Excerpt of drivers/hv/mshv_regions.c with "mshv: Convert region storage from page pointers to PFNs"
 * ([PATCH v3 03/11], linux-hyperv 2026-05-13): the [PATCH 1/7] text with v3's reordered
 * mshv_region_pin() loop body. The struct below is reduced to the fields used here
 * (reconstructed from the series' diff of drivers/hv/mshv_root.h).
 */

#define MSHV_INVALID_PFN				ULONG_MAX

struct mshv_mem_region {
	struct hlist_node hnode;
	struct kref mreg_refcount;
	u64 nr_pfns;
	u64 start_gfn;
	u64 start_uaddr;
	u32 hv_map_flags;
	struct mshv_partition *partition;
	enum mshv_region_type mreg_type;
	struct mmu_interval_notifier mreg_mni;
	struct mutex mreg_mutex;
	unsigned long mreg_pfns[];
};

static void mshv_region_invalidate_pfns(struct mshv_mem_region *region,
					u64 pfn_offset, u64 pfn_count)
{
	u64 i;

	for (i = pfn_offset; i < pfn_offset + pfn_count; i++) {
		if (!pfn_valid(region->mreg_pfns[i]))
			continue;

		if (region->mreg_type == MSHV_REGION_TYPE_MEM_PINNED)
			unpin_user_page(pfn_to_page(region->mreg_pfns[i]));

		region->mreg_pfns[i] = MSHV_INVALID_PFN;
	}
}

static void mshv_region_invalidate(struct mshv_mem_region *region)
{
	mshv_region_invalidate_pfns(region, 0, region->nr_pfns);
}

static int mshv_region_pin(struct mshv_mem_region *region)
{
	u64 done_count, nr_pfns, i;
	unsigned long *pfns;
	struct page **pages;
	__u64 userspace_addr;
	int ret;

	pages = kmalloc_array(MSHV_PIN_PAGES_BATCH_SIZE,
			      sizeof(struct page *), GFP_KERNEL);
	if (!pages)
		return -ENOMEM;

	for (done_count = 0; done_count < region->nr_pfns; done_count += ret) {
		pfns = region->mreg_pfns + done_count;
		userspace_addr = region->start_uaddr +
				 done_count * HV_HYP_PAGE_SIZE;
		nr_pfns = min(region->nr_pfns - done_count,
			      MSHV_PIN_PAGES_BATCH_SIZE);

		/*
		 * Pinning assuming 4k pages works for large pages too.
		 * All page structs within the large page are returned.
		 *
		 * Pin requests are batched because pin_user_pages_fast
		 * with the FOLL_LONGTERM flag does a large temporary
		 * allocation of contiguous memory.
		 */
		ret = pin_user_pages_fast(userspace_addr, nr_pfns,
					  FOLL_WRITE | FOLL_LONGTERM,
					  pages);

		for (i = 0; i < ret; i++)
			pfns[i] = page_to_pfn(pages[i]);

		/*
		 * Demand all requested pages were successfully pinned
		 * or fail otherwise.
		 */
		if (ret != nr_pfns)
			goto release_pages;

	}

	kfree(pages);
	return 0;

release_pages:
	if (ret > 0)
		done_count += ret;
	mshv_region_invalidate_pfns(region, 0, done_count);
	kfree(pages);
	return ret < 0 ? ret : -ENOMEM;
}

int mshv_map_pinned_region(struct mshv_mem_region *region)
{
	struct mshv_partition *partition = region->partition;
	int ret;

	ret = mshv_region_pin(region);
	if (ret) {
		pt_err(partition, "Failed to pin memory region: %d\n",
		       ret);
		goto err_out;
	}

	/* ... SNP unshare trimmed ... */

	ret = mshv_region_map(region);
	if (!ret)
		return 0;

	mshv_region_invalidate(region);
err_out:
	return ret;
}
