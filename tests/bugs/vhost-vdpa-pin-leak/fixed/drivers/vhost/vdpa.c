// SPDX-License-Identifier: GPL-2.0
/*
 * Excerpt of drivers/vhost/vdpa.c after 7ed9e3d97c32 "vhost-vdpa: fix page
 * pinning leakage in error path" (v5.10-rc1), from the patch.  That commit was
 * reverted (5e1a3149eec8) and re-landed as "vhost-vdpa: fix page pinning
 * leakage in error path (rework)" for v5.10.
 */

static int vhost_vdpa_process_iotlb_update(struct vhost_vdpa *v,
					   struct vhost_iotlb_msg *msg)
{
	struct vhost_dev *dev = &v->vdev;
	struct vhost_iotlb *iotlb = dev->iotlb;
	struct page **page_list;
	struct vm_area_struct **vmas;
	unsigned int gup_flags = FOLL_LONGTERM;
	unsigned long map_pfn, last_pfn = 0;
	unsigned long npages, lock_limit;
	unsigned long i, nmap = 0;
	u64 iova = msg->iova;
	long pinned;
	int ret = 0;

	if (vhost_iotlb_itree_first(iotlb, msg->iova,
				    msg->iova + msg->size - 1))
		return -EEXIST;

	if (msg->perm & VHOST_ACCESS_WO)
		gup_flags |= FOLL_WRITE;

	npages = PAGE_ALIGN(msg->size + (iova & ~PAGE_MASK)) >> PAGE_SHIFT;
	if (!npages)
		return -EINVAL;

	page_list = kvmalloc_array(npages, sizeof(struct page *), GFP_KERNEL);
	vmas = kvmalloc_array(npages, sizeof(struct vm_area_struct *),
			      GFP_KERNEL);
	if (!page_list || !vmas) {
		ret = -ENOMEM;
		goto free;
	}

	mmap_read_lock(dev->mm);

	lock_limit = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
	if (npages + atomic64_read(&dev->mm->pinned_vm) > lock_limit) {
		ret = -ENOMEM;
		goto unlock;
	}

	pinned = pin_user_pages(msg->uaddr & PAGE_MASK, npages, gup_flags,
				page_list, vmas);
	if (npages != pinned) {
		if (pinned < 0) {
			ret = pinned;
		} else {
			unpin_user_pages(page_list, pinned);
			ret = -ENOMEM;
		}
		goto unlock;
	}

	iova &= PAGE_MASK;
	map_pfn = page_to_pfn(page_list[0]);

	/* One more iteration to avoid extra vdpa_map() call out of loop. */
	for (i = 0; i <= npages; i++) {
		unsigned long this_pfn;
		u64 csize;

		/* The last chunk may have no valid PFN next to it */
		this_pfn = i < npages ? page_to_pfn(page_list[i]) : -1UL;

		if (last_pfn && (this_pfn == -1UL ||
				 this_pfn != last_pfn + 1)) {
			/* Pin a contiguous chunk of memory */
			csize = last_pfn - map_pfn + 1;
			ret = vhost_vdpa_map(v, iova, csize << PAGE_SHIFT,
					     map_pfn << PAGE_SHIFT,
					     msg->perm);
			if (ret) {
				/*
				 * Unpin the rest chunks of memory on the
				 * flight with no corresponding vdpa_map()
				 * calls having been made yet. On the other
				 * hand, vdpa_unmap() in the failure path
				 * is in charge of accounting the number of
				 * pinned pages for its own.
				 * This asymmetrical pattern of accounting
				 * is for efficiency to pin all pages at
				 * once, while there is no other callsite
				 * of vdpa_map() than here above.
				 */
				unpin_user_pages(&page_list[nmap],
						 npages - nmap);
				goto out;
			}
			atomic64_add(csize, &dev->mm->pinned_vm);
			nmap += csize;
			iova += csize << PAGE_SHIFT;
			map_pfn = this_pfn;
		}
		last_pfn = this_pfn;
	}

	WARN_ON(nmap != npages);
out:
	if (ret)
		vhost_vdpa_unmap(v, msg->iova, msg->size);
unlock:
	mmap_read_unlock(dev->mm);
free:
	kvfree(vmas);
	kvfree(page_list);
	return ret;
}
