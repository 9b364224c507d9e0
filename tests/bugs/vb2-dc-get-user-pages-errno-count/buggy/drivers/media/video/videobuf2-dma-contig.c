/*
 * Excerpt of drivers/media/video/videobuf2-dma-contig.c as added by
 * "[PATCH 08/11] v4l: vb2-dma-contig: add support for scatterlist in userptr
 * mode" (Tomasz Stanislawski / Andrzej Pietrasiewicz, linux-media +
 * dri-devel, 2012-04-05), the review-cycle version before "negative error
 * means that no page was pinned / n = max(n, 0);" was added (PATCHv6 08/13,
 * 2012-05-23, and the merged 3.8 file).  Text verbatim from the patch's added
 * lines: struct vb2_dc_buf (partial), vb2_dc_release_sgtable(),
 * vb2_dc_sgt_foreach_page(), vma_is_io(), vb2_dc_get_user_pages(),
 * vb2_dc_set_page_dirty(), vb2_dc_put_userptr(), vb2_dc_get_userptr();
 * vb2_dc_pages_to_sgt(), vb2_dc_get_user_vma() and
 * vb2_dc_get_contiguous_size() are trimmed.  Not compilable.
 */

struct vb2_dc_buf {
	struct device			*dev;
	void				*vaddr;
	unsigned long			size;
	dma_addr_t			dma_addr;
	enum dma_data_direction		dma_dir;
	struct sg_table			*dma_sgt;

	/* MMAP related */
	struct vb2_vmarea_handler	handler;
	atomic_t			refcount;

	/* USERPTR related */
	struct vm_area_struct		*vma;
};

static void vb2_dc_release_sgtable(struct sg_table *sgt)
{
	sg_free_table(sgt);
	kfree(sgt);
}

static void vb2_dc_sgt_foreach_page(struct sg_table *sgt,
	void (*cb)(struct page *pg))
{
	struct scatterlist *s;
	int i, j;

	for_each_sg(sgt->sgl, s, sgt->nents, i) {
		struct page *page = sg_page(s);
		int n_pages = PAGE_ALIGN(s->offset + s->length) >> PAGE_SHIFT;

		for (j = 0; j < n_pages; ++j, ++page)
			cb(page);
	}
}

/*********************************************/
/*       callbacks for USERPTR buffers       */
/*********************************************/

static inline int vma_is_io(struct vm_area_struct *vma)
{
	return !!(vma->vm_flags & (VM_IO | VM_PFNMAP));
}

static int vb2_dc_get_user_pages(unsigned long start, struct page **pages,
	int n_pages, struct vm_area_struct *vma, int write)
{
	int n;

	if (vma_is_io(vma)) {
		for (n = 0; n < n_pages; ++n, start += PAGE_SIZE) {
			unsigned long pfn;
			int ret = follow_pfn(vma, start, &pfn);

			if (ret) {
				printk(KERN_ERR "no page for address %lu\n",
					start);
				return ret;
			}
			pages[n] = pfn_to_page(pfn);
		}
	} else {
		n = get_user_pages(current, current->mm, start & PAGE_MASK,
			n_pages, write, 1, pages, NULL);
		if (n != n_pages) {
			printk(KERN_ERR "got only %d of %d user pages\n",
				n, n_pages);
			while (n)
				put_page(pages[--n]);
			return -EFAULT;
		}
	}

	return 0;
}

static void vb2_dc_set_page_dirty(struct page *page)
{
	set_page_dirty_lock(page);
}

static void vb2_dc_put_userptr(void *buf_priv)
{
	struct vb2_dc_buf *buf = buf_priv;
	struct sg_table *sgt = buf->dma_sgt;

	dma_unmap_sg(buf->dev, sgt->sgl, sgt->orig_nents, buf->dma_dir);
	if (!vma_is_io(buf->vma)) {
		vb2_dc_sgt_foreach_page(sgt, vb2_dc_set_page_dirty);
		vb2_dc_sgt_foreach_page(sgt, put_page);
	}

	vb2_dc_release_sgtable(sgt);
	vb2_put_vma(buf->vma);
	kfree(buf);
}

static void *vb2_dc_get_userptr(void *alloc_ctx, unsigned long vaddr,
	unsigned long size, int write)
{
	struct vb2_dc_buf *buf;
	unsigned long start, end, offset, offset2;
	struct page **pages;
	int n_pages;
	int ret = 0;
	struct sg_table *sgt;
	unsigned long contig_size;

	buf = kzalloc(sizeof *buf, GFP_KERNEL);
	if (!buf)
		return ERR_PTR(-ENOMEM);

	buf->dev = alloc_ctx;
	buf->dma_dir = write ? DMA_FROM_DEVICE : DMA_TO_DEVICE;

	start = (unsigned long)vaddr & PAGE_MASK;
	offset = (unsigned long)vaddr & ~PAGE_MASK;
	end = PAGE_ALIGN((unsigned long)vaddr + size);
	offset2 = end - (unsigned long)vaddr - size;
	n_pages = (end - start) >> PAGE_SHIFT;

	pages = kmalloc(n_pages * sizeof pages[0], GFP_KERNEL);
	if (!pages) {
		ret = -ENOMEM;
		printk(KERN_ERR "failed to allocate pages table\n");
		goto fail_buf;
	}

	buf->vma = vb2_dc_get_user_vma(start, end - start);
	if (IS_ERR(buf->vma)) {
		printk(KERN_ERR "failed to get VMA\n");
		ret = PTR_ERR(buf->vma);
		goto fail_pages;
	}

	/* extract page list from userspace mapping */
	ret = vb2_dc_get_user_pages(start, pages, n_pages, buf->vma, write);
	if (ret) {
		printk(KERN_ERR "failed to get user pages\n");
		goto fail_vma;
	}

	sgt = vb2_dc_pages_to_sgt(pages, n_pages, offset, offset2);
	if (IS_ERR(sgt)) {
		printk(KERN_ERR "failed to create scatterlist table\n");
		ret = -ENOMEM;
		goto fail_get_user_pages;
	}

	/* pages are no longer needed */
	kfree(pages);
	pages = NULL;

	sgt->nents = dma_map_sg(buf->dev, sgt->sgl, sgt->orig_nents,
		buf->dma_dir);
	if (sgt->nents <= 0) {
		printk(KERN_ERR "failed to map scatterlist\n");
		ret = -EIO;
		goto fail_sgt;
	}

	contig_size = vb2_dc_get_contiguous_size(sgt);
	if (contig_size < size) {
		printk(KERN_ERR "contiguous mapping is too small %lu/%lu\n",
			contig_size, size);
		ret = -EFAULT;
		goto fail_map_sg;
	}

	buf->dma_addr = sg_dma_address(sgt->sgl);
	buf->size = size;
	buf->dma_sgt = sgt;

	atomic_inc(&buf->refcount);

	return buf;

fail_map_sg:
	dma_unmap_sg(buf->dev, sgt->sgl, sgt->nents, buf->dma_dir);

fail_sgt:
	if (!vma_is_io(buf->vma))
		vb2_dc_sgt_foreach_page(sgt, put_page);
	vb2_dc_release_sgtable(sgt);

fail_get_user_pages:
	if (pages && !vma_is_io(buf->vma))
		while (n_pages)
			put_page(pages[--n_pages]);

fail_vma:
	vb2_put_vma(buf->vma);

fail_pages:
	kfree(pages); /* kfree is NULL-proof */

fail_buf:
	kfree(buf);

	return ERR_PTR(ret);
}
