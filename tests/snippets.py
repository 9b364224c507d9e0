"""C snippets shared by the tests: small kernel-style drivers and mm/ excerpts, each written once.

Test modules import them by name (`from snippets import DRIVER`); the tests that use a snippet
assert its lines, so edit one only together with them.
"""

from __future__ import annotations

RAW_GET_DIRTY = """\
#include <linux/mm.h>

static int foo_get(unsigned long uaddr, struct page **pages, int n)
{
\tint i, got;

\tgot = get_user_pages_fast(uaddr, n, FOLL_WRITE, pages);
\tfor (i = 0; i < got; i++)
\t\tset_page_dirty_lock(pages[i]), put_page(pages[i]);
\treturn 0;
}
"""
"""foo_get(): get_user_pages_fast() into `pages`, then set_page_dirty_lock() and put_page() per page (a raw closure that dirties)."""

NEW_FUNCTION = """
static void foo_new(unsigned long uaddr, struct page **pages)
{
\tif (get_user_pages_fast(uaddr, 1, 0, pages) == 1)
\t\tput_page(pages[0]);
}
"""
"""foo_new(): one more raw site, appended to a file to make a finding new against a baseline."""

RAW_GET = """\
#include <linux/mm.h>

static int foo_get(unsigned long uaddr, struct page **pages, int n)
{
\tint i, got;

\tgot = get_user_pages_fast(uaddr, n, FOLL_WRITE, pages);
\tfor (i = 0; i < got; i++)
\t\tput_page(pages[i]);
\treturn 0;
}
"""
"""foo_get(): get_user_pages_fast() released with put_page() in a loop (raw closure)."""

PINNED = """\
#include <linux/mm.h>

static int foo_get(unsigned long uaddr, struct page **pages, int n)
{
\tint got;

\tgot = pin_user_pages_fast(uaddr, n, FOLL_WRITE, pages);
\tunpin_user_pages(pages, got);
\treturn 0;
}
"""
"""foo_get() converted: pin_user_pages_fast() released with unpin_user_pages()."""

FAULT_IN = """\
#include <linux/mm.h>

int bar_fault_in(unsigned long uaddr, int n)
{
\treturn get_user_pages_fast(uaddr, n, 0, NULL);
}
"""
"""bar_fault_in(): get_user_pages_fast() with no pages array (fault-in only, no-pages)."""

ACME_GET = """\
static int acme_get(unsigned long uaddr, struct page **pages, int n)
{
\tint i, got;

\tgot = get_user_pages_fast(uaddr, n, FOLL_WRITE, pages);
\tfor (i = 0; i < got; i++)
\t\tput_page(pages[i]);
\treturn 0;
}
"""
"""acme_get(): get_user_pages_fast() released with put_page() in a loop, no #include (raw closure)."""

ACME_PINNED = """\
static int acme_get(unsigned long uaddr, struct page **pages, int n)
{
\tint got;

\tgot = pin_user_pages_fast(uaddr, n, FOLL_WRITE, pages);
\tunpin_user_pages(pages, got);
\treturn 0;
}
"""
"""acme_get() converted: pin_user_pages_fast() released with unpin_user_pages()."""

ACME_PIN_PUT_PAGE = """\

static int acme_peek(unsigned long uaddr, struct page **pages)
{
\tint got = pin_user_pages_fast(uaddr, 1, 0, pages);

\tput_page(pages[0]);
\treturn got;
}
"""
"""acme_peek(): pin_user_pages_fast() released with put_page() (a pin/get mismatch), appended to a file."""

ACME_GET_READ = """\
#include <linux/mm.h>

static int acme_get(unsigned long uaddr, struct page **pages, int n)
{
\tint i, got;

\tgot = get_user_pages_fast(uaddr, n, 0, pages);
\tfor (i = 0; i < got; i++)
\t\tput_page(pages[i]);
\treturn 0;
}
"""
"""acme_get(): get_user_pages_fast() without FOLL_WRITE released with put_page() in a loop."""

DRIVER = """\
#include <linux/mm.h>

static int acme_get(unsigned long uaddr, struct page **pages, int n)
{
\tint i, got;

\tgot = get_user_pages_fast(uaddr, n, FOLL_WRITE, pages);
\tfor (i = 0; i < got; i++)
\t\tset_page_dirty_lock(pages[i]), put_page(pages[i]);
\treturn 0;
}

static int acme_pin(unsigned long uaddr, struct page **pages, int n)
{
\tint got = pin_user_pages_fast(uaddr, n, 0, pages);

\tif (got > 0)\n\t\tunpin_user_pages(pages, got);
\treturn got;
}
"""
"""acme_get() (raw closure that dirties) and acme_pin() (pinned, unpinned): the CLI and pretty-report driver."""

HOSTILE_DRIVER = """// SPDX-License-Identifier: GPL-2.0
#include <linux/mm.h>

static int acme_pin(unsigned long uaddr, struct page **pages)
{
	int i, n;

	n = get_user_pages_fast(uaddr, 4, 1, pages);
	if (n <= 0)
		return n;
	for (i = 0; i < n; i++)
		put_page(pages[i]);
	return 0;
}
"""
"""acme_pin(): an SPDX-tagged raw closure, copied into hostile trees."""

MEMORY_MAPCOUNT_REUSE = """\
static vm_fault_t do_wp_page(struct vm_fault *vmf)
{
\tstruct vm_area_struct *vma = vmf->vma;

\tif (PageAnon(vmf->page)) {
\t\tif (reuse_swap_page(vmf->page, NULL)) {
\t\t\twp_page_reuse(vmf);
\t\t\treturn VM_FAULT_WRITE;
\t\t}
\t}
\treturn wp_page_copy(vmf);
}
"""
"""do_wp_page() reusing an anon page on reuse_swap_page() alone (a mapcount-only COW site)."""
