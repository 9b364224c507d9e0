/*
 * Excerpt of drivers/net/macvtap.c (v3.2/v3.3, zerocopy added by "macvtap: Add zero-copy
 * support"), AFTER "macvtap: zerocopy: put page when fail to get all requested user pages"
 * (Jason Wang, 2012). Verbatim text of the stored v3.2-era file; unrelated functions trimmed.
 */

/* set skb frags from iovec, this can move to core network code for reuse */
static int zerocopy_sg_from_iovec(struct sk_buff *skb, const struct iovec *from,
				  int offset, size_t count)
{
	int len = iov_length(from, count) - offset;
	int copy = skb_headlen(skb);
	int size, offset1 = 0;
	int i = 0;
	skb_frag_t *f;

	/* Skip over from offset */
	while (count && (offset >= from->iov_len)) {
		offset -= from->iov_len;
		++from;
		--count;
	}

	/* copy up to skb headlen */
	while (count && (copy > 0)) {
		size = min_t(unsigned int, copy, from->iov_len - offset);
		if (copy_from_user(skb->data + offset1, from->iov_base + offset,
				   size))
			return -EFAULT;
		if (copy > size) {
			++from;
			--count;
		}
		copy -= size;
		offset1 += size;
		offset = 0;
	}

	if (len == offset1)
		return 0;

	while (count--) {
		struct page *page[MAX_SKB_FRAGS];
		int num_pages;
		unsigned long base;

		len = from->iov_len - offset1;
		if (!len) {
			offset1 = 0;
			++from;
			continue;
		}
		base = (unsigned long)from->iov_base + offset1;
		size = ((base & ~PAGE_MASK) + len + ~PAGE_MASK) >> PAGE_SHIFT;
		num_pages = get_user_pages_fast(base, size, 0, &page[i]);
		if ((num_pages != size) ||
		    (num_pages > MAX_SKB_FRAGS - skb_shinfo(skb)->nr_frags)) {
			for (i = 0; i < num_pages; i++)
				put_page(page[i]);
			return -EFAULT;
		}
		skb->data_len += len;
		skb->len += len;
		skb->truesize += len;
		atomic_add(len, &skb->sk->sk_wmem_alloc);
		while (len) {
			f = &skb_shinfo(skb)->frags[i];
			f->page = page[i];
			f->page_offset = base & ~PAGE_MASK;
			f->size = min_t(int, len, PAGE_SIZE - f->page_offset);
			skb_shinfo(skb)->nr_frags++;
			/* increase sk_wmem_alloc */
			base += f->size;
			len -= f->size;
			i++;
		}
		offset1 = 0;
		++from;
	}
	return 0;
}

/* Get packet from user space buffer */
static ssize_t macvtap_get_user(struct macvtap_queue *q, struct msghdr *m,
				const struct iovec *iv, unsigned long total_len,
				size_t count, int noblock)
{
	struct sk_buff *skb;
	struct macvlan_dev *vlan;
	unsigned long len = total_len;
	int err;
	struct virtio_net_hdr vnet_hdr = { 0 };
	int vnet_hdr_len = 0;
	int copylen;
	bool zerocopy = false;

	/* ... vnet header parsing trimmed ... */

	if (m && m->msg_control && sock_flag(&q->sk, SOCK_ZEROCOPY))
		zerocopy = true;

	if (zerocopy) {
		copylen = vnet_hdr.hdr_len;
		if (!copylen)
			copylen = GOODCOPY_LEN;
	} else
		copylen = len;

	skb = macvtap_alloc_skb(&q->sk, NET_IP_ALIGN, copylen,
				vnet_hdr.hdr_len, noblock, &err);
	if (!skb)
		goto err;

	if (zerocopy) {
		err = zerocopy_sg_from_iovec(skb, iv, vnet_hdr_len, count);
		skb_shinfo(skb)->tx_flags |= SKBTX_DEV_ZEROCOPY;
	} else
		err = skb_copy_datagram_from_iovec(skb, 0, iv, vnet_hdr_len,
						   len);
	if (err)
		goto err_kfree;

	/* ... transmit trimmed ... */
	return total_len;

err_kfree:
	kfree_skb(skb);

err:
	rcu_read_lock_bh();
	vlan = rcu_dereference_bh(q->vlan);
	if (vlan)
		vlan->dev->stats.tx_dropped++;
	rcu_read_unlock_bh();

	return err;
}
