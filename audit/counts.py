"""How many pages a release drops, against what the acquire returned (gup-release-count).

Pure helpers of the path walk (audit/paths.py): the count a release covers (its count argument, the
bound of the loop it sits in, or the count parameter of a driver's own release helper), and whether
that count can be what C makes of an errno. A negative count is harmless in a `for (i = 0; i < n;
i++)` loop over a signed `n`, and a huge one when `n` is unsigned (a `u64` parameter of the helper,
`unsigned int nr_pages = ret`) or when the release API takes an unsigned count
(unpin_user_pages(pages, ret)). A result stored in an unsigned variable (`u32 res =
get_user_pages_fast(…)`) is never below 0 nor below the requested count: the errno passes the
check and the code goes on as if every page had been taken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from audit.cexpr import COMPARE, IDENT
from audit.flow import Flow

_CMP = COMPARE
_WORD = IDENT
_CAST = re.compile(r"^\((?:(?:unsigned|signed|const|long|short|int|char|__[us]\d+|[us]\d+|size_t|ssize_t)\s*)+\)")


@dataclass(frozen=True)
class HelperCount:
    """The count parameter of a driver's own release helper (`qp_release_pages(pages, num_pages,
    dirty)` releases `pages[0..num_pages)`)."""

    index: int
    """The argument that carries the count."""
    unsigned: bool
    """A negative count is a huge one there (an unsigned parameter, or an array release API)."""
    member: str = ""
    """For a helper handed the struct holding the pages: the member of that argument its release
    loop runs to (`->pgnr` of `free_user_pages(bo)`, which puts `bo->pages[0..bo->pgnr)`)."""


def strip_cast(text: str) -> str:
    """`(int)nr` -> `nr`: an integer cast does not change which value a comparison is about."""
    return _CAST.sub("", text.strip(), count=1).strip()


def loop_bound(flow: Flow, loop: int) -> str | None:
    """The `n` of the loop condition `i < n` / `i != n` of loop node `loop` (`n+1` for `i <= n`),
    or None."""
    m = _CMP.match(flow.nodes[loop].text.replace(" ", ""))
    if m is not None and m.group(2) in ("<", "!="):
        return m.group(3)
    if m is not None and m.group(2) == "<=" and _WORD.fullmatch(m.group(3)):
        return f"{m.group(3)}+1"
    return None


def helper_count(flow: Flow, params: tuple[str, ...], pages_index: int, release: dict, unsigned) -> HelperCount | None:  # type: ignore[type-arg,no-untyped-def]
    """The count parameter of release helper `flow` (whose parameter `pages_index` holds the pages):
    the count argument of an array release of them, or the bound of the loop that releases
    `pages[i]`, when that is another parameter. `release` is the catalogue's release table,
    `unsigned(name)` tells an unsigned parameter."""
    if pages_index >= len(params) or not params[pages_index]:
        return None
    pages = params[pages_index]
    # The array itself when the parameter is its address (`page_array = *pages`).
    names = {pages} | {lhs.strip() for node in flow.nodes for lhs, rhs in node.assigns
                       if _WORD.fullmatch(lhs.strip()) and re.fullmatch(rf"\*\s*{re.escape(pages)}", rhs.strip())}
    for node in flow.nodes:
        for c in node.calls:
            rel = release.get(c.name)
            if rel is None or rel.arg >= len(c.args) or not names & set(_WORD.findall(c.args[rel.arg])):
                continue
            if rel.shape == "array" and rel.arg + 1 < len(c.args):
                cnt = c.args[rel.arg + 1].strip()
                if cnt in params and cnt not in names:
                    return HelperCount(params.index(cnt), True)
            elif node.loop >= 0:
                bound = loop_bound(flow, node.loop)
                if bound and bound in params and bound not in names:
                    return HelperCount(params.index(bound), bool(unsigned(bound)))
    return None


def helper_member_count(flow: Flow, params: tuple[str, ...], struct_index: int, release: dict) -> HelperCount | None:  # type: ignore[type-arg]
    """For release helper `flow` handed the struct holding the pages (parameter `struct_index`): the
    member of that struct bounding the loop that releases the pages it holds, or None."""
    if struct_index >= len(params) or not params[struct_index]:
        return None
    base = params[struct_index]
    for node in flow.nodes:
        if node.loop < 0:
            continue
        for c in node.calls:
            rel = release.get(c.name)
            if rel is None or rel.arg >= len(c.args) or base not in _WORD.findall(c.args[rel.arg]):
                continue
            bound = (loop_bound(flow, node.loop) or "").replace(" ", "")
            m = re.fullmatch(rf"{re.escape(base)}((?:->|\.)\w+)", bound)
            if m is not None:
                return HelperCount(struct_index, False, m.group(1))
    return None


_PAGES_OF = (re.compile(r"^DIV_ROUND_UP\((.+),PAGE_SIZE\)$"), re.compile(r"^PAGE_ALIGN\((.+)\)>>PAGE_SHIFT$"),
             re.compile(r"^\(?(.+?)\)?>>PAGE_SHIFT$"), re.compile(r"^\(?(.+?)\)?/PAGE_SIZE$"))


def pages_of(text: str) -> str | None:
    """`DIV_ROUND_UP(len+off,PAGE_SIZE)` -> `len+off`: the byte count whose pages a (whitespace-free)
    expression counts, or None."""
    t = text.replace(" ", "")
    for rx in _PAGES_OF:
        m = rx.match(t)
        if m is not None:
            return m.group(1)
    return None


def unsigned_names(flow: Flow, is_unsigned) -> frozenset[str]:  # type: ignore[no-untyped-def]
    """The parameters and locals of `flow` declared with an unsigned integer type."""
    return frozenset(n for n, t in flow.types if is_unsigned(t))
