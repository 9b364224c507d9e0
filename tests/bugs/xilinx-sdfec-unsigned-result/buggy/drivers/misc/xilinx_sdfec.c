// SPDX-License-Identifier: GPL-2.0
/*
 * Excerpt of drivers/misc/xilinx_sdfec.c as of v5.7, before 57343d516132
 * "misc: xilinx-sdfec: improve get_user_pages_fast() error handling" (v5.8).
 * xsdfec_table_write() is the pre-fix text of that commit's diff (its '-'
 * and context lines); the rest of the function is the 6.1 text with the
 * later pin_user_pages()/kmap_local_page() conversions reverted.
 */

#define XSDFEC_REG_WIDTH_JUMP (4)
#define XSDFEC_QC_TABLE_DEPTH (0x10000)
#define MAX_NUM_PAGES ((XSDFEC_QC_TABLE_DEPTH / PAGE_SIZE) + 1)

static int xsdfec_table_write(struct xsdfec_dev *xsdfec, u32 offset,
			      u32 *src_ptr, u32 len, const u32 base_addr,
			      const u32 depth)
{
	u32 reg = 0;
	u32 res;
	u32 n, i;
	u32 *addr = NULL;
	struct page *page[MAX_NUM_PAGES];

	/*
	 * Writes that go beyond the length of
	 * Shared Scale(SC) table should fail
	 */
	if (offset > depth / XSDFEC_REG_WIDTH_JUMP ||
	    len > depth / XSDFEC_REG_WIDTH_JUMP ||
	    offset + len > depth / XSDFEC_REG_WIDTH_JUMP) {
		dev_dbg(xsdfec->dev, "Write exceeds SC table length");
		return -EINVAL;
	}

	n = (len * XSDFEC_REG_WIDTH_JUMP) / PAGE_SIZE;
	if ((len * XSDFEC_REG_WIDTH_JUMP) % PAGE_SIZE)
		n += 1;

	res = get_user_pages_fast((unsigned long)src_ptr, n, 0, page);
	if (res < n) {
		for (i = 0; i < res; i++)
			put_page(page[i]);
		return -EINVAL;
	}

	for (i = 0; i < n; i++) {
		addr = kmap(page[i]);
		do {
			xsdfec_regwrite(xsdfec,
					base_addr + ((offset + reg) *
						     XSDFEC_REG_WIDTH_JUMP),
					addr[reg]);
			reg++;
		} while ((reg < len) &&
			 ((reg * XSDFEC_REG_WIDTH_JUMP) % PAGE_SIZE));
		put_page(page[i]);
	}
	return reg;
}
