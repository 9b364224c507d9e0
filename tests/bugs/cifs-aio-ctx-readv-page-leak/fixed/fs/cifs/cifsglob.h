/* SPDX-License-Identifier: LGPL-2.1 */
/*
 * Excerpt of fs/cifs/cifsglob.h as of v5.0 with 13f5938d8264 "cifs: fix
 * page reference leak with readv/writev" applied (unchanged by it): the aio context that owns the
 * page array filled by setup_aio_ctx_iter(). Field list as in later trees.
 */

struct cifs_aio_ctx {
	struct kref		refcount;
	struct list_head	list;
	struct mutex		aio_mutex;
	struct completion	done;
	struct iov_iter		iter;
	struct kiocb		*iocb;
	struct cifsFileInfo	*cfile;
	struct bio_vec		*bv;
	loff_t			pos;
	unsigned int		npages;
	ssize_t			rc;
	unsigned int		len;
	unsigned int		total_len;
	bool			should_dirty;
	/*
	 * Indicates if this aio_ctx is for direct_io,
	 * If yes, iter is a copy of the user passed iov_iter
	 */
	bool			direct_io;
};
