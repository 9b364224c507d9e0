/*
 * Excerpt of include/linux/uio.h, Linux v6.3: the helpers that decide whether
 * iov_iter_extract_pages() pinned the pages.  A user-backed (UBUF/IOVEC)
 * iterator is pinned (FOLL_PIN); a BVEC iterator - such as the one
 * netfs_extract_user_iter() builds - is not.  Bodies as in v6.3.
 */

static inline bool user_backed_iter(const struct iov_iter *i)
{
	return i->user_backed;
}

/* iov_iter_extract_will_pin - Indicate how pages from the iterator will be retained (doc comment trimmed) */
static inline bool iov_iter_extract_will_pin(const struct iov_iter *iter)
{
	return user_backed_iter(iter);
}
