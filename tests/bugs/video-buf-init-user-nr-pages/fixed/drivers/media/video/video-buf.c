/*
 * Excerpt of drivers/media/video/video-buf.c (v2.5.45), around BK commit
 * b7649ef789 "[PATCH] videobuf update" (Gerd Knorr, Oct 2002; id as quoted by
 * Linus Torvalds from tglx/history.git).  videobuf_dma_init_user() is taken
 * from the patch ('-' and context lines for the buggy side, '+' lines for
 * the fixed side); the struct, videobuf_dma_free() and videobuf_iolock() are
 * reconstructed from the patch context and the later (2.6.x) text.
 * Trimmed, not compilable.
 */

/* from video-buf.h */
struct videobuf_dmabuf {
	/* for userland buffer */
	struct page         **pages;
	int                 offset;

	/* for kernel buffers */
	void                *vmalloc;

	/* common */
	struct scatterlist  *sglist;
	int                 sglen;
	int                 nr_pages;
	int                 direction;
};

int videobuf_dma_init_user(struct videobuf_dmabuf *dma, int direction,
			   unsigned long data, unsigned long size)
{
	unsigned long first,last;
	int err, rw = 0;

	dma->direction = direction;
	switch (dma->direction) {
	case PCI_DMA_FROMDEVICE: rw = READ;  break;
	case PCI_DMA_TODEVICE:   rw = WRITE; break;
	default:                 BUG();
	}

	first = (data          & PAGE_MASK) >> PAGE_SHIFT;
	last  = ((data+size-1) & PAGE_MASK) >> PAGE_SHIFT;
	dma->offset   = data & ~PAGE_MASK;
	dma->nr_pages = last-first+1;
	dma->pages = kmalloc(dma->nr_pages * sizeof(struct page*),
			     GFP_KERNEL);
	if (NULL == dma->pages)
		return -ENOMEM;
	dprintk(1,"init user [0x%lx+0x%lx => %d pages]\n",
		data,size,dma->nr_pages);

	down_read(&current->mm->mmap_sem);
        err = get_user_pages(current,current->mm,
			     data & PAGE_MASK, dma->nr_pages,
			     rw == READ, 1, /* force */
			     dma->pages, NULL);
	up_read(&current->mm->mmap_sem);
	if (err != dma->nr_pages) {
		dma->nr_pages = (err >= 0) ? err : 0;
		dprintk(1,"get_user_pages: err=%d [%d]\n",err,dma->nr_pages);
		return err < 0 ? err : -EINVAL;
	}
	return 0;
}

int videobuf_dma_free(struct videobuf_dmabuf *dma)
{
	if (dma->sglen)
		BUG();

	if (dma->pages) {
		int i;
		for (i=0; i < dma->nr_pages; i++)
			page_cache_release(dma->pages[i]);
		kfree(dma->pages);
		dma->pages = NULL;
	}
	if (dma->vmalloc) {
		vfree(dma->vmalloc);
		dma->vmalloc = NULL;
	}
	dma->direction = PCI_DMA_NONE;
	return 0;
}

int videobuf_iolock(struct pci_dev *pci, struct videobuf_buffer *vb)
{
	int err,pages;

	if (0 == vb->baddr) {
		/* no userspace addr -- kernel bounce buffer */
		pages = PAGE_ALIGN(vb->size) >> PAGE_SHIFT;
		err = videobuf_dma_init_kernel(&vb->dma,PCI_DMA_FROMDEVICE,
					       pages);
		if (0 != err)
			return err;
	} else {
		/* dma directly to userspace */
		err = videobuf_dma_init_user(&vb->dma,PCI_DMA_FROMDEVICE,
					     vb->baddr,vb->bsize);
		if (0 != err)
			return err;
	}
	err = videobuf_dma_pci_map(pci,&vb->dma);
	if (0 != err)
		return err;
	return 0;
}

/*
 * A driver's buffer release (e.g. bttv_dma_free() in bttv-driver.c) ends with
 *	videobuf_dma_pci_unmap(btv->dev, &buf->vb.dma);
 *	videobuf_dma_free(&buf->vb.dma);
 * also when buf_prepare failed in videobuf_iolock().
 */
