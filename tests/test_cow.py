"""The COW safety profile (audit/cow/): exact verdicts, sites and evidence per kernel era.

Fixture trees under tests/fixtures/cow/<era>/ are small hand-written excerpts in the style of each
era (2.6.11, 4.14, 5.8, 5.10, 5.18, 6.12, plus parser edge cases); lines are located by a unique
snippet of the fixture, never typed in. The real v2.6.32 and 6.1 trees are checked line by line
when they are on the machine (conftest.py's `tree_2632` / `tree_61` skip with the reason).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from audit import cow
from audit.model import CowProfile, CowSite, Evidence
from audit.source import FsSource
from conftest import REPO, make_tree

FIXTURES = REPO / "tests" / "fixtures" / "cow"

NO_GUARD = "no page_count/folio_ref_count or PageAnonExclusive test on that path (mapcount-only)"
NO_UNSHARE = "no should_force_cow_break(), gup_must_unshare(), FAULT_FLAG_UNSHARE"
GUP_PIN = "unshares a shared anon page for read-only FOLL_PIN requests, not for FOLL_GET reads"


def line(era: str, rel: str, snippet: str) -> int:
    """1-based line of the one line of fixture `era/rel` that contains `snippet`."""
    lines = (FIXTURES / era / rel).read_text().splitlines()
    hits = [i for i, text in enumerate(lines, 1) if snippet in text]
    assert len(hits) == 1, f"{snippet!r} occurs {len(hits)} times in {era}/{rel}"
    return hits[0]


def ev(era: str, rel: str, snippet: str, message: str) -> Evidence:
    """An expected evidence line, located by snippet."""
    return Evidence(rel, line(era, rel, snippet), message)


def site(era: str, rel: str, snippet: str, function: str, idiom: str) -> CowSite:
    """An expected mapcount-only site, located by snippet."""
    return CowSite(rel, line(era, rel, snippet), function, idiom)


def run(era: str) -> CowProfile:
    return cow.profile(FsSource(str(FIXTURES / era)))


# ---------------------------------------------------------------------------------------------
# Eras


def test_2_6_11_can_share_swap_page_counting_page_count_is_a_refcount_test() -> None:
    era = "v2.6.11"
    p = run(era)
    assert (p.reuse_check, p.fork_copies_pinned, p.gup_unshares) == ("page-count", False, False)
    assert p.mapcount_only_sites == ()
    assert list(p.evidence) == [
        ev(era, "mm/memory.c", "int reuse = can_share_swap_page(old_page);",
           "do_wp_page() decides reuse of an anon page with can_share_swap_page(old_page): a refcount test"),
        ev(era, "mm/memory.c", "if (write_access && can_share_swap_page(page))",
           "do_swap_page() decides reuse of a swapped-in page with can_share_swap_page(page): a refcount test"),
        ev(era, "mm/swapfile.c", "switch (page_count(page))",
           "can_share_swap_page() (function) counts page_count(): a refcount test"),
        ev(era, "mm/memory.c", "ptep_set_wrprotect(src_pte);",
           "copy_one_pte() shares anon pages with the child (ptep_set_wrprotect(src_pte)) with no pin test"),
        ev(era, "mm/memory.c", "int get_user_pages(",
           f"get_user_pages() breaks COW only for write requests: {NO_UNSHARE}"),
    ]


def test_4_14_every_write_fault_and_swap_in_reuses_on_the_mapcount() -> None:
    era = "v4.14"
    p = run(era)
    assert (p.reuse_check, p.fork_copies_pinned, p.gup_unshares) == ("mapcount-only", False, False)
    wp = "if (reuse_swap_page(vmf->page, &total_map_swapcount))"
    thp = "if (page_trans_huge_mapcount(page, NULL) == 1)"
    huge = "if (page_mapcount(old_page) == 1 && PageAnon(old_page))"
    swap = "reuse_swap_page(page, NULL)) {"
    assert p.mapcount_only_sites == (
        site(era, "mm/memory.c", wp, "do_wp_page", "reuse_swap_page(vmf->page, &total_map_swapcount)"),
        site(era, "mm/huge_memory.c", thp, "do_huge_pmd_wp_page", "page_trans_huge_mapcount(page, NULL) == 1"),
        site(era, "mm/hugetlb.c", huge, "hugetlb_cow", "page_mapcount(old_page) == 1"),
        site(era, "mm/memory.c", swap, "do_swap_page", "reuse_swap_page(page, NULL)"),
    )
    gate = "if (page_count(page) != 1 + PageSwapCache(page))"
    assert list(p.evidence) == [
        ev(era, "mm/memory.c", wp,
           f"do_wp_page() reuses an anon page on reuse_swap_page(vmf->page, &total_map_swapcount) alone: {NO_GUARD}"),
        ev(era, "mm/huge_memory.c", thp,
           f"do_huge_pmd_wp_page() reuses a THP on page_trans_huge_mapcount(page, NULL) == 1 alone: {NO_GUARD}"),
        ev(era, "mm/hugetlb.c", huge, f"hugetlb_cow() reuses a hugetlb page on page_mapcount(old_page) == 1 alone: {NO_GUARD}"),
        ev(era, "mm/memory.c", swap, f"do_swap_page() reuses a swapped-in page on reuse_swap_page(page, NULL) alone: {NO_GUARD}"),
        # khugepaged asks reuse_swap_page() only after page_count() refused gup-held pages.
        ev(era, "mm/khugepaged.c", gate,
           "__collapse_huge_page_isolate() decides reuse of a read-only swap-cache page in a THP collapse with "
           "page_count(page) != 1 + PageSwapCache(page): a refcount test"),
        ev(era, "mm/khugepaged.c", "!reuse_swap_page(page, NULL)",
           "__collapse_huge_page_isolate() tests reuse_swap_page(page, NULL) only behind "
           f"page_count(page) != 1 + PageSwapCache(page) (line {line(era, 'mm/khugepaged.c', gate)})"),
        ev(era, "mm/swapfile.c", "count = page_trans_huge_map_swapcount(",
           "reuse_swap_page() (function) counts page_trans_huge_map_swapcount() and never the refcount: a mapcount-only test"),
        ev(era, "include/linux/swap.h", "(page_trans_huge_mapcount(page, total_map_swapcount) == 1)",
           "reuse_swap_page() (macro) counts page_trans_huge_mapcount() and never the refcount: a mapcount-only test"),
        ev(era, "mm/memory.c", "ptep_set_wrprotect(src_mm, addr, src_pte);",
           "copy_one_pte() shares anon pages with the child (ptep_set_wrprotect(src_mm, addr, src_pte)) with no pin test"),
        ev(era, "mm/huge_memory.c", "page_dup_rmap(src_page, true);",
           "copy_huge_pmd() shares anon pages with the child (page_dup_rmap(src_page, true)) with no pin test"),
        ev(era, "mm/hugetlb.c", "huge_ptep_set_wrprotect(src, addr, src_pte);",
           "copy_hugetlb_page_range() shares anon pages with the child (huge_ptep_set_wrprotect(src, addr, src_pte)) with no pin test"),
        ev(era, "mm/gup.c", "static long __get_user_pages(",
           f"__get_user_pages() breaks COW only for write requests: {NO_UNSHARE}"),
    ]


def test_5_8_a_ksm_only_refcount_test_does_not_guard_reuse_and_gup_forces_a_cow_break() -> None:
    era = "v5.8"
    p = run(era)
    assert (p.reuse_check, p.fork_copies_pinned, p.gup_unshares) == ("mapcount-only", False, True)
    wp = "if (reuse_swap_page(vmf->page, &total_map_swapcount))"
    assert p.mapcount_only_sites == (
        site(era, "mm/memory.c", wp, "do_wp_page", "reuse_swap_page(vmf->page, &total_map_swapcount)"),
    )
    assert list(p.evidence) == [
        ev(era, "mm/memory.c", wp,
           f"do_wp_page() reuses an anon page on reuse_swap_page(vmf->page, &total_map_swapcount) alone: {NO_GUARD}"),
        ev(era, "mm/memory.c", "ptep_set_wrprotect(src_mm, addr, src_pte);",
           "copy_one_pte() shares anon pages with the child (ptep_set_wrprotect(src_mm, addr, src_pte)) with no pin test"),
        ev(era, "mm/gup.c", "if (should_force_cow_break(vma, foll_flags))",
           "__get_user_pages() forces a COW break on COW mappings for every FOLL_GET request, reads included: "
           "should_force_cow_break(vma, foll_flags)"),
    ]


def test_5_10_small_pages_use_the_refcount_but_thp_swap_in_and_hugetlb_do_not() -> None:
    era = "v5.10"
    p = run(era)
    assert (p.reuse_check, p.fork_copies_pinned, p.gup_unshares) == ("page-count", True, False)
    thp = "if (reuse_swap_page(page, NULL)) {"
    huge = "if (page_mapcount(old_page) == 1 && PageAnon(old_page))"
    swap = "if ((vmf->flags & FAULT_FLAG_WRITE) && reuse_swap_page(page, NULL))"
    assert p.mapcount_only_sites == (
        site(era, "mm/huge_memory.c", thp, "do_huge_pmd_wp_page", "reuse_swap_page(page, NULL)"),
        site(era, "mm/hugetlb.c", huge, "hugetlb_cow", "page_mapcount(old_page) == 1"),
        site(era, "mm/memory.c", swap, "do_swap_page", "reuse_swap_page(page, NULL)"),
    )
    assert list(p.evidence) == [
        ev(era, "mm/memory.c", "if (PageKsm(page) || page_count(page) != 1)",
           "do_wp_page() decides reuse of an anon page with page_count(page) != 1: a refcount test"),
        ev(era, "mm/memory.c", "page_mapcount(page) != 1 || page_count(page) != 1",
           "do_wp_page() tests page_mapcount(page) != 1 only together with page_count(page) != 1"),
        ev(era, "mm/huge_memory.c", thp, f"do_huge_pmd_wp_page() reuses a THP on reuse_swap_page(page, NULL) alone: {NO_GUARD}"),
        ev(era, "mm/hugetlb.c", huge, f"hugetlb_cow() reuses a hugetlb page on page_mapcount(old_page) == 1 alone: {NO_GUARD}"),
        ev(era, "mm/memory.c", swap, f"do_swap_page() reuses a swapped-in page on reuse_swap_page(page, NULL) alone: {NO_GUARD}"),
        ev(era, "mm/memory.c", "if (likely(!page_maybe_dma_pinned(page)))",
           "copy_present_page() copies a possibly pinned anon page instead of sharing it (page_maybe_dma_pinned(page))"),
        # copy_present_pte() shares only after copy_present_page() declined: no line of its own.
        ev(era, "mm/huge_memory.c", "page_maybe_dma_pinned(src_page))) {",
           "copy_huge_pmd() copies a possibly pinned anon page instead of sharing it (page_maybe_dma_pinned(src_page))"),
        ev(era, "mm/gup.c", "static long __get_user_pages(", f"__get_user_pages() breaks COW only for write requests: {NO_UNSHARE}"),
    ]


def test_5_18_only_hugetlb_still_reuses_on_the_mapcount() -> None:
    era = "v5.18"
    p = run(era)
    assert (p.reuse_check, p.fork_copies_pinned, p.gup_unshares) == ("page-count", True, False)
    huge = "if (page_mapcount(old_page) == 1 && PageAnon(old_page))"
    assert p.mapcount_only_sites == (site(era, "mm/hugetlb.c", huge, "hugetlb_cow", "page_mapcount(old_page) == 1"),)
    assert list(p.evidence) == [
        ev(era, "mm/memory.c", "if (PageKsm(page) || page_count(page) > 3)",
           "do_wp_page() decides reuse of an anon page with page_count(page) > 3: a refcount test"),
        ev(era, "mm/huge_memory.c", "if (page_count(page) > 1 + PageSwapCache(page) * thp_nr_pages(page))",
           "do_huge_pmd_wp_page() decides reuse of a THP with page_count(page) > 1 + PageSwapCache(page) * "
           "thp_nr_pages(page): a refcount test"),
        ev(era, "mm/hugetlb.c", huge, f"hugetlb_cow() reuses a hugetlb page on page_mapcount(old_page) == 1 alone: {NO_GUARD}"),
        ev(era, "mm/memory.c", "(page != swapcache || page_count(page) == 1)",
           "do_swap_page() decides reuse of a swapped-in page with page_count(page) == 1: a refcount test"),
        ev(era, "mm/memory.c", "if (page && unlikely(page_needs_cow_for_dma(src_vma, page)))",
           "copy_present_pte() copies a possibly pinned anon page instead of sharing it (page_needs_cow_for_dma(src_vma, page))"),
        ev(era, "mm/hugetlb.c", "if (unlikely(page_needs_cow_for_dma(vma, ptepage)))",
           "copy_hugetlb_page_range() copies a possibly pinned anon page instead of sharing it (page_needs_cow_for_dma(vma, ptepage))"),
        # This fake tree has no gup core at all.
        Evidence("mm/gup.c", 1, f"no gup core found; {NO_UNSHARE}"),
    ]


def test_6_12_folio_forms_exclusive_bit_and_hugetlb_wp_folio_mapcount() -> None:
    era = "v6.12"
    p = run(era)
    assert (p.reuse_check, p.fork_copies_pinned, p.gup_unshares) == ("anon-exclusive", True, True)
    huge = "if (folio_mapcount(old_folio) == 1 && folio_test_anon(old_folio))"
    assert p.mapcount_only_sites == (site(era, "mm/hugetlb.c", huge, "hugetlb_wp", "folio_mapcount(old_folio) == 1"),)
    dup = "maybe_pinned = likely(!folio_is_device_private(folio)) &&"
    dup_line = line(era, "include/linux/rmap.h", dup) + 1
    assert list(p.evidence) == [
        ev(era, "mm/memory.c", "(PageAnonExclusive(vmf->page) || wp_can_reuse_anon_folio(folio, vma))",
           "do_wp_page() decides reuse of an anon page with PageAnonExclusive(vmf->page): the anon-exclusive bit"),
        ev(era, "mm/memory.c", "if (folio_test_ksm(folio) || folio_ref_count(folio) > 3)",
           "wp_can_reuse_anon_folio() decides reuse of an anon folio with folio_ref_count(folio) > 3: a refcount test"),
        # `folio_large_mapcount(folio) <= 1` bails out (frees a barely mapped folio): not a reuse test.
        ev(era, "mm/memory.c", "if (folio_large_mapcount(folio) != folio_ref_count(folio))",
           "__wp_can_reuse_large_anon_folio() decides reuse of a large anon folio with "
           "folio_large_mapcount(folio) != folio_ref_count(folio): a refcount test"),
        # The first of do_huge_pmd_wp_page()'s two `if (PageAnonExclusive(page))` tests.
        Evidence("mm/huge_memory.c", line(era, "mm/huge_memory.c", "/* Early check when only holding the PT lock. */") + 1,
                 "do_huge_pmd_wp_page() decides reuse of a THP with PageAnonExclusive(page): the anon-exclusive bit"),
        ev(era, "mm/huge_memory.c", "if (folio_ref_count(folio) >",
           "do_huge_pmd_wp_page() decides reuse of a THP with folio_ref_count(folio) > 1 + folio_test_swapcache(folio) * "
           "folio_nr_pages(folio): a refcount test"),
        ev(era, "mm/hugetlb.c", huge, f"hugetlb_wp() reuses a hugetlb page on folio_mapcount(old_folio) == 1 alone: {NO_GUARD}"),
        ev(era, "mm/memory.c", "(exclusive || folio_ref_count(folio) == 1)",
           "do_swap_page() decides reuse of a swapped-in page with folio_ref_count(folio) == 1: a refcount test"),
        ev(era, "mm/memory.c", "if (unlikely(folio_try_dup_anon_rmap_pte(folio, page, dst_vma, src_vma)))",
           "copy_present_ptes() copies a possibly pinned anon page instead of sharing it "
           "(folio_try_dup_anon_rmap_pte(folio, page, dst_vma, src_vma))"),
        ev(era, "mm/huge_memory.c", "if (unlikely(folio_try_dup_anon_rmap_pmd(",
           "copy_huge_pmd() copies a possibly pinned anon page instead of sharing it "
           "(folio_try_dup_anon_rmap_pmd(src_folio, src_page, dst_vma, src_vma))"),
        ev(era, "mm/hugetlb.c", "} else if (hugetlb_try_dup_anon_rmap(pte_folio, dst_vma)) {",
           "copy_hugetlb_page_range() copies a possibly pinned anon page instead of sharing it "
           "(hugetlb_try_dup_anon_rmap(pte_folio, dst_vma))"),
        Evidence("include/linux/rmap.h", dup_line,
                 "folio_try_dup_anon_rmap_pte() refuses to share a page when folio_needs_cow_for_dma(src_vma, folio) "
                 "(in __folio_try_dup_anon_rmap())"),
        Evidence("include/linux/rmap.h", dup_line,
                 "folio_try_dup_anon_rmap_pmd() refuses to share a page when folio_needs_cow_for_dma(src_vma, folio) "
                 "(in __folio_try_dup_anon_rmap())"),
        ev(era, "include/linux/rmap.h", "if (unlikely(folio_needs_cow_for_dma(vma, folio)))",
           "hugetlb_try_dup_anon_rmap() refuses to share a page when folio_needs_cow_for_dma(vma, folio)"),
        ev(era, "mm/gup.c", "if (!pte_write(pte) && gup_must_unshare(vma, flags, page))",
           f"follow_page_pte() {GUP_PIN}: gup_must_unshare(vma, flags, page)"),
        ev(era, "mm/gup.c", "fault_flags |= FAULT_FLAG_UNSHARE;",
           "faultin_page() asks the fault handler to unshare a shared anon page for a read-only pin: "
           "fault_flags |= FAULT_FLAG_UNSHARE"),
        ev(era, "mm/huge_memory.c", "if (!pmd_write(*pmd) && gup_must_unshare(vma, flags, page))",
           f"follow_trans_huge_pmd() {GUP_PIN}: gup_must_unshare(vma, flags, page)"),
    ]


def test_parser_edge_cases() -> None:
    """Unbalanced #ifdef braces (text fallback), #if 0, comments, assertions, else-branch reuse,
    and a dup wrapper whose definition never tests for pins."""
    era = "edge"
    p = run(era)
    assert (p.reuse_check, p.fork_copies_pinned, p.gup_unshares) == ("mapcount-only", False, False)
    reuse = "reuse = reuse_swap_page(old_page);"
    shared = "if (unlikely(page_mapcount(old_page) != 1)) {"
    assert p.mapcount_only_sites == (
        site(era, "mm/memory.c", reuse, "do_wp_page", "reuse_swap_page(old_page)"),
        site(era, "mm/hugetlb.c", shared, "hugetlb_cow", "page_mapcount(old_page) != 1"),
    )
    assert list(p.evidence) == [
        ev(era, "mm/memory.c", "static int do_wp_page(",
           "do_wp_page() is not a clean function_definition: tests read from damaged nodes"),
        ev(era, "mm/memory.c", reuse, f"do_wp_page() reuses an anon page on reuse_swap_page(old_page) alone: {NO_GUARD}"),
        ev(era, "mm/hugetlb.c", shared, f"hugetlb_cow() reuses a hugetlb page on page_mapcount(old_page) != 1 alone: {NO_GUARD}"),
        # The #if 0 reuse_swap_page(), the comment and the VM_BUG_ON() are not decisions.
        ev(era, "mm/memory.c", "likely(page_count(page) == 1)",
           "do_swap_page() decides reuse of a swapped-in page with page_count(page) == 1: a refcount test"),
        ev(era, "mm/memory.c", "ptep_set_wrprotect(src_mm, addr, src_pte);",
           "copy_one_pte() shares anon pages with the child (ptep_set_wrprotect(src_mm, addr, src_pte)) with no pin test"),
        ev(era, "include/linux/rmap.h", "static inline int page_try_dup_anon_rmap(",
           "page_try_dup_anon_rmap() never tests for a pin: fork shares what it duplicates"),
        ev(era, "mm/gup.c", "int __get_user_pages(", f"__get_user_pages() breaks COW only for write requests: {NO_UNSHARE}"),
    ]


# ---------------------------------------------------------------------------------------------
# The path logic, on inline functions


def _wp(tmp_path: Path, body: str) -> CowProfile:
    """The profile of a tree whose do_wp_page() has `body` (lines 3.. of mm/memory.c)."""
    src = f"static int do_wp_page(struct vm_fault *vmf)\n{{\n{body}}}\n"
    return cow.profile(FsSource(str(make_tree(tmp_path, {"mm/memory.c": src}))))


@pytest.mark.parametrize(
    ("body", "verdict", "site_line"),
    [
        pytest.param(
            "\tif (page_count(page) != 1)\n\t\tgoto copy;\n\tif (reuse_swap_page(page))\n\t\twp_page_reuse(vmf);\n",
            "page-count", None, id="earlier-refcount-bailout-guards",
        ),
        pytest.param(
            "\tif (PageKsm(page) && page_count(page) != 1)\n\t\tgoto copy;\n\tif (reuse_swap_page(page))\n\t\twp_page_reuse(vmf);\n",
            "mapcount-only", 5, id="ksm-only-bailout-does-not-guard",
        ),
        pytest.param(
            "\tif (PageAnonExclusive(page))\n\t\tgoto reuse;\n\tif (page_mapcount(page) == 1)\n\t\twp_page_reuse(vmf);\n",
            "mapcount-only", 5, id="jump-to-reuse-does-not-guard",
        ),
        pytest.param(
            "\tif (page_mapcount(page) == 1 && PageAnonExclusive(page))\n\t\twp_page_reuse(vmf);\n",
            "anon-exclusive", None, id="conjoined-exclusive-guards",
        ),
        pytest.param(
            "\tif (page_mapcount(page) == 1 || PageAnonExclusive(page))\n\t\twp_page_reuse(vmf);\n",
            "mapcount-only", 3, id="disjoined-exclusive-does-not-guard",
        ),
        pytest.param(
            "\tif (page_mapcount(page) == 1 && (PageKsm(page) || page_count(page) == 1))\n\t\twp_page_reuse(vmf);\n",
            "mapcount-only", 3, id="guard-behind-an-alternative-does-not-guard",
        ),
        pytest.param(
            "\tif (!reuse_swap_page(page)) {\n\t\tunlock_page(page);\n\t\tgoto copy;\n\t}\n\twp_page_reuse(vmf);\n",
            "mapcount-only", 3, id="negated-predicate-bailout-decides",
        ),
        pytest.param(
            "\tif (page_count(page) == 1) {\n\t\tif (page_mapcount(page) == 1)\n\t\t\twp_page_reuse(vmf);\n\t}\n",
            "page-count", None, id="enclosing-refcount-guards",
        ),
        pytest.param(
            "\tVM_BUG_ON(page_mapcount(page) == 1);\n\tcount_stat(page_mapcount(page) == 1);\n",
            "unknown", None, id="assertions-and-arguments-decide-nothing",
        ),
    ],
)
def test_reuse_path_logic(tmp_path: Path, body: str, verdict: str, site_line: int | None) -> None:
    p = _wp(tmp_path, body)
    assert p.reuse_check == verdict
    assert [s.line for s in p.mapcount_only_sites] == ([site_line] if site_line else [])


def test_a_tree_without_the_files_is_unknown_not_an_error(tmp_path: Path) -> None:
    p = cow.profile(FsSource(str(make_tree(tmp_path, {}))))
    assert (p.reuse_check, p.mapcount_only_sites, p.fork_copies_pinned, p.gup_unshares) == ("unknown", (), False, False)
    assert [e.message for e in p.evidence] == [
        "do_wp_page() not found: reuse check unknown",
        "no fork page-table copier found: fork taken to share pinned pages",
        f"no gup core found; {NO_UNSHARE}",
    ]


def test_idioms_come_from_the_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dropping hugetlb_wp from cow.toml's reuse functions drops its site: no name is hard-coded."""
    cat = cow.catalogue()
    fewer = {k: v for k, v in cat.reuse_functions.items() if k != "hugetlb_wp"}
    monkeypatch.setattr(cow, "catalogue", lambda: dataclasses.replace(cat, reuse_functions=fewer))
    assert run("v6.12").mapcount_only_sites == ()


# ---------------------------------------------------------------------------------------------
# Real trees


@pytest.mark.kernel
def test_2_6_32_real_tree(tree_2632: Path) -> None:
    p = cow.profile(FsSource(str(tree_2632)))
    assert (p.reuse_check, p.fork_copies_pinned, p.gup_unshares) == ("mapcount-only", False, False)
    assert p.mapcount_only_sites == (
        CowSite("mm/memory.c", 2031, "do_wp_page", "reuse_swap_page(old_page)"),
        CowSite("mm/memory.c", 2584, "do_swap_page", "reuse_swap_page(page)"),
    )
    assert list(p.evidence) == [
        Evidence("mm/memory.c", 2031, f"do_wp_page() reuses an anon page on reuse_swap_page(old_page) alone: {NO_GUARD}"),
        # 2.6.32's hugetlb_cow() still tests page_count(); page_mapcount() came with 2.6.36.
        Evidence("mm/hugetlb.c", 1941, "hugetlb_cow() decides reuse of a hugetlb page with page_count(old_page) == 1: a refcount test"),
        Evidence("mm/memory.c", 2584, f"do_swap_page() reuses a swapped-in page on reuse_swap_page(page) alone: {NO_GUARD}"),
        Evidence("mm/swapfile.c", 662, "reuse_swap_page() (function) counts page_mapcount() and never the refcount: a mapcount-only test"),
        Evidence("include/linux/swap.h", 434, "reuse_swap_page() (macro) counts page_mapcount() and never the refcount: a mapcount-only test"),
        Evidence("mm/memory.c", 617,
                 "copy_one_pte() shares anon pages with the child (ptep_set_wrprotect(src_mm, addr, src_pte)) with no pin test"),
        Evidence("mm/hugetlb.c", 1787,
                 "copy_hugetlb_page_range() shares anon pages with the child (huge_ptep_set_wrprotect(src, addr, src_pte)) with no pin test"),
        Evidence("mm/memory.c", 1232, f"__get_user_pages() breaks COW only for write requests: {NO_UNSHARE}"),
    ]


@pytest.mark.kernel
def test_6_1_real_tree(tree_61: Path) -> None:
    p = cow.profile(FsSource(str(tree_61)))
    assert (p.reuse_check, p.fork_copies_pinned, p.gup_unshares) == ("anon-exclusive", True, True)
    # hugetlb_wp() reuses on page_mapcount() == 1; the PageAnonExclusive() test inside the branch
    # only moves the anon rmap after the decision (FOLL_GET users of hugetlb pages can leak).
    assert p.mapcount_only_sites == (CowSite("mm/hugetlb.c", 5592, "hugetlb_wp", "page_mapcount(old_page) == 1"),)
    where = [(e.file, e.line) for e in p.evidence]
    assert where == [
        ("mm/memory.c", 3461), ("mm/memory.c", 3471),            # do_wp_page: exclusive bit, then refcount
        ("mm/huge_memory.c", 1353), ("mm/huge_memory.c", 1381),  # do_huge_pmd_wp_page
        ("mm/hugetlb.c", 5592),                                   # hugetlb_wp: mapcount-only
        ("mm/memory.c", 4053),                                    # do_swap_page: refcount
        ("mm/memory.c", 966), ("mm/huge_memory.c", 1168), ("mm/hugetlb.c", 5144),  # fork copiers
        ("include/linux/rmap.h", 254),                            # page_try_dup_anon_rmap -> page_needs_cow_for_dma
        ("mm/gup.c", 635), ("mm/gup.c", 1021), ("mm/gup.c", 2499), ("mm/gup.c", 2685),
        ("mm/gup.c", 2751), ("mm/gup.c", 2791), ("mm/huge_memory.c", 1475), ("mm/hugetlb.c", 6549),
    ]
    assert p.evidence[0].message == "do_wp_page() decides reuse of an anon page with PageAnonExclusive(vmf->page): the anon-exclusive bit"
    assert p.evidence[4].message == f"hugetlb_wp() reuses a hugetlb page on page_mapcount(old_page) == 1 alone: {NO_GUARD}"
    assert p.evidence[6].message == (
        "copy_present_pte() copies a possibly pinned anon page instead of sharing it (page_try_dup_anon_rmap(page, false, src_vma))"
    )
    assert p.evidence[9].message == "page_try_dup_anon_rmap() refuses to share a page when page_needs_cow_for_dma(vma, page)"
    assert p.evidence[10].message == f"follow_page_pte() {GUP_PIN}: gup_must_unshare(flags, page)"
