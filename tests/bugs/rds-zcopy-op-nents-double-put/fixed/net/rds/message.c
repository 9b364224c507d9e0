// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Excerpt of net/rds/message.c from the Debian linux-source-6.1 tree (6.1.192,
 * verbatim), which carries the stable backport of "net/rds: reset op_nents
 * when zerocopy page pin fails" (CVE-2026-43494, fixed in 6.1.175).
 */

static void rds_message_purge(struct rds_message *rm)
{
	struct rds_znotifier *znotifier;
	unsigned long i, flags;
	bool zcopy;

	if (unlikely(test_bit(RDS_MSG_PAGEVEC, &rm->m_flags)))
		return;

	spin_lock_irqsave(&rm->m_rs_lock, flags);
	znotifier = rm->data.op_mmp_znotifier;
	rm->data.op_mmp_znotifier = NULL;
	zcopy = !!znotifier;

	if (rm->m_rs) {
		struct rds_sock *rs = rm->m_rs;

		if (znotifier) {
			rds_rm_zerocopy_callback(rs, znotifier);
			rds_wake_sk_sleep(rs);
		}
		sock_put(rds_rs_to_sk(rs));
		rm->m_rs = NULL;
	} else if (znotifier) {
		/*
		 * Zerocopy can fail before the message is queued on the
		 * socket, so there is no rs to carry the notification.
		 */
		mm_unaccount_pinned_pages(&znotifier->z_mmp);
		kfree(rds_info_from_znotifier(znotifier));
	}
	spin_unlock_irqrestore(&rm->m_rs_lock, flags);

	for (i = 0; i < rm->data.op_nents; i++) {
		/* XXX will have to put_page for page refs */
		if (!zcopy)
			__free_page(sg_page(&rm->data.op_sg[i]));
		else
			put_page(sg_page(&rm->data.op_sg[i]));
	}
	rm->data.op_nents = 0;

	if (rm->rdma.op_active)
		rds_rdma_free_op(&rm->rdma);
	if (rm->rdma.op_rdma_mr)
		kref_put(&rm->rdma.op_rdma_mr->r_kref, __rds_put_mr_final);

	if (rm->atomic.op_active)
		rds_atomic_free_op(&rm->atomic);
	if (rm->atomic.op_rdma_mr)
		kref_put(&rm->atomic.op_rdma_mr->r_kref, __rds_put_mr_final);
}

static int rds_message_zcopy_from_user(struct rds_message *rm, struct iov_iter *from)
{
	struct scatterlist *sg;
	int ret = 0;
	int length = iov_iter_count(from);
	int total_copied = 0;
	struct rds_msg_zcopy_info *info;

	rm->m_inc.i_hdr.h_len = cpu_to_be32(iov_iter_count(from));

	/*
	 * now allocate and copy in the data payload.
	 */
	sg = rm->data.op_sg;

	info = kzalloc(sizeof(*info), GFP_KERNEL);
	if (!info)
		return -ENOMEM;
	INIT_LIST_HEAD(&info->rs_zcookie_next);
	rm->data.op_mmp_znotifier = &info->znotif;
	if (mm_account_pinned_pages(&rm->data.op_mmp_znotifier->z_mmp,
				    length)) {
		ret = -ENOMEM;
		goto err;
	}
	while (iov_iter_count(from)) {
		struct page *pages;
		size_t start;
		ssize_t copied;

		copied = iov_iter_get_pages2(from, &pages, PAGE_SIZE,
					    1, &start);
		if (copied < 0) {
			struct mmpin *mmp;
			int i;

			for (i = 0; i < rm->data.op_nents; i++)
				put_page(sg_page(&rm->data.op_sg[i]));
			rm->data.op_nents = 0;
			mmp = &rm->data.op_mmp_znotifier->z_mmp;
			mm_unaccount_pinned_pages(mmp);
			ret = -EFAULT;
			goto err;
		}
		total_copied += copied;
		length -= copied;
		sg_set_page(sg, pages, copied, start);
		rm->data.op_nents++;
		sg++;
	}
	WARN_ON_ONCE(length != 0);
	return ret;
err:
	kfree(info);
	rm->data.op_mmp_znotifier = NULL;
	return ret;
}
