"""Loads `rules/catalogue/apis.toml`: the acquire and release APIs of every era.

The one place that turns the catalogue's data into typed objects. Version-dependent facts (argument
positions, reference kinds) are resolved here against the tree's version; nothing else in the code
knows an API name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from audit import tables
from audit.model import RefKind
from audit.tables import Table
from audit.version import Version, in_range




@dataclass(frozen=True)
class Form:
    """One argument layout of an acquire API."""

    arity: int
    """Number of arguments."""
    pages: int | None
    """Index of the pages argument; None when the call returns the page."""
    write: int | None
    """Index of an int write argument."""
    flags: int | None
    """Index of a gup_flags argument."""
    versions: str | None
    """Kernel version range the form belongs to."""
    count: int | None = None
    """Index of the requested count (pages, or bytes for extractions); None for single-page forms."""
    max_pages: int | None = None
    """For an API that counts bytes: the index of its bound on the number of pages it fills (the
    `maxpages` of iov_iter_extract_pages()), which a release of that many pages also means."""


@dataclass(frozen=True)
class AcquireApi:
    """An API that takes references (or pins) on user pages."""

    name: str
    """Callee name."""
    ref: RefKind
    """Reference kind in this tree's version."""
    forms: tuple[Form, ...]
    """Argument layouts."""
    carrier: str | None
    """"bio", "pointer", "sg" when the pages argument is not a plain `struct page **`."""
    needs_flag: str | None
    """A reference is taken only with this FOLL_ flag."""
    pin_counterpart: str | None
    """Pin API to convert to."""
    family: str = ""
    """The API this one renames ('' = itself): findings keep their identity across the rename."""
    zero_for_one: bool = False
    """In this tree's version the call can return 0 for a one-page request (nothing filled, no
    error): a release of the page on that outcome releases a page that was never taken."""
    errno_result: bool = False
    """It returns 0 when it took the pages (into its carrier) and a negative errno when it took
    none: its result is no count."""

    def form_for(self, arity: int, version: Version | None) -> Form | None:
        """The form matching a call's arity, preferring one whose version range holds."""
        same = [f for f in self.forms if f.arity == arity]
        for f in same:
            if f.versions and version is not None and in_range(version, f.versions):
                return f
        for f in same:
            if not f.versions:
                return f
        return same[0] if same else None


@dataclass(frozen=True)
class ReleaseApi:
    """An API that drops references (or pins) on pages."""

    name: str
    """Callee name."""
    kind: RefKind
    """GET or PIN in this tree's version; NONE for releases that test the kind themselves."""
    shape: str
    """"page", "array", "folio" or "bio"."""
    arg: int
    """Index of the argument naming the pages."""
    dirty: bool
    """The release dirties the pages."""
    pin_counterpart: str | None
    """Pin-aware release to convert to."""
    dirty_arg: int | None = None
    """The argument that says whether it dirties (`make_dirty`): a constant false there means it
    does not."""


@dataclass(frozen=True)
class Handoff:
    """A call that hands a page on to a carrier (bio, sg entry, skb frag)."""

    name: str
    """Callee name."""
    src: int
    """Index of the page argument."""
    dst: int
    """Index of the carrier argument."""
    carrier: str
    """What receives the page."""
    merges: bool = False
    """The call may merge the page into the carrier's last segment of the same page, keeping one
    reference for two ranges: the caller drops the other."""
    same: int | None = None
    """Index of the out-parameter that reports a same-page merge."""
    zero_fails: bool = False
    """A zero result means the page was not taken (it stays the caller's)."""
    destructor: str | None = None
    """The function that drops the carrier's pages (reached through pointers the search cannot follow)."""
    destructor_file: str | None = None
    """Where `destructor` is defined."""
    destructor_arg: int = 0
    """The destructor's parameter that holds the page."""


@dataclass(frozen=True)
class Catalogue:
    """The catalogue resolved for one kernel version."""

    acquire: dict[str, AcquireApi]
    """Acquire APIs by name."""
    release: dict[str, ReleaseApi]
    """Release APIs by name."""
    dirtying: frozenset[str]
    """Calls that mark a page dirty."""
    allocators: frozenset[str]
    """Calls returning pages the caller owns (not gup'd)."""
    extra_refs: frozenset[str]
    """Calls that take an extra ordinary reference on a page."""
    accessors: tuple[str, ...]
    """Calls that turn a carrier element into its page (the root is their argument)."""
    from_address: frozenset[str]
    """Accessors that rebuild a page from its pfn or address: pages that travelled as numbers."""
    array_allocators: tuple[str, ...]
    """Calls that allocate a fresh array."""
    zeroing_allocators: frozenset[str]
    """Array allocators whose memory comes back zeroed."""
    handoffs: dict[str, Handoff]
    """Hand-off calls by name."""
    pin_flags: tuple[str, ...]
    """Flags a condition tests to tell pins from references (FOLL_PIN, BIO_PAGE_PINNED)."""
    pin_predicates: tuple[str, ...]
    """Calls that tell whether an acquire pins (iov_iter_extract_will_pin, user_backed_iter)."""
    unpinned_flags: frozenset[str]
    """Pin flags whose positive test means the pages are not pinned (FOLL_GET, BIO_PAGE_REFFED)."""
    api_homes: tuple[str, ...]
    """Directories where the APIs are defined."""
    shared_dirs: frozenset[str]
    """Top-level folders of shared code, not one subsystem's neighbourhood."""
    declared_in: tuple[str, ...]
    """Headers that declare the acquire APIs."""
    extraction: dict[str, int]
    """Extraction APIs (pins only from user-backed iterators) -> index of the iterator argument."""
    kernel_iterators: frozenset[str]
    """Calls that make their first argument a kernel-backed iterator."""
    kernel_only_flags: frozenset[str]
    """Flags only kernel callers set (MSG_SPLICE_PAGES): a branch testing one carries kernel pages."""
    kernel_iterator_fields: frozenset[str]
    """Struct fields that only ever hold kernel iterators."""
    transparent_conditions: frozenset[str]
    """Macros that stand for their first argument in a branch condition (`unlikely(x)`)."""
    assertions: frozenset[str]
    """`BUG_ON(x)`: a path on which x holds does not go on."""

    error_tests: frozenset[str]
    """`IS_ERR(p)`: true for an error pointer."""
    error_or_null_tests: frozenset[str]
    """`IS_ERR_OR_NULL(p)`: true for an error pointer or NULL."""
    type_ranks: dict[str, int]
    """Integer type words -> conversion rank on LP64 (0 below int, 1 int, 2 long)."""
    unsigned_types: frozenset[str]
    """Integer types without a sign (`u32`, `size_t`; `unsigned …` is recognised by its keyword): an
    errno stored in one is a huge count."""
    carrier_members: frozenset[str]
    """Members that hold a carrier's entries (an sg_table's `sgl`)."""
    page_members: frozenset[str]
    """Members of a carrier's element that are the page itself (a bio_vec's `bv_page`)."""
    segment_counts: frozenset[str]
    """Members counting a carrier's segments (a bio's `bi_vcnt`): testing one tells a merge."""
    table_freers: frozenset[str]
    """Calls that free a table the pages were listed in (`sg_free_table()`), never their references:
    after it, the table no longer holds them for anyone."""
    array_freers: frozenset[str]
    """Calls that free a pages array itself (kfree), not the references in it."""
    errno_handoffs: frozenset[str]
    """Calls that keep the pages only when they succeed: an errno result means they took nothing."""
    readers: frozenset[str]
    """Calls that only look at a page and return a property of it (a size, a flag): handing them
    the pages keeps them where they are."""
    write_flag: str
    """`FOLL_WRITE`."""
    pin_flag: str
    """`FOLL_PIN`."""
    get_flag: str
    """`FOLL_GET`."""

    def rank(self, type_text: str) -> int:
        """The conversion rank of an integer type (`narrow_types`, `int_types`, `long_types`): 0 below
        int, 1 int, 2 long; -1 unknown."""
        words = [w for w in type_text.split() if w not in ("const", "volatile", "signed", "unsigned")] or ["int"]
        ranks = [self.type_ranks[w] for w in words if w in self.type_ranks]
        if 2 in ranks:
            return 2
        if 0 in ranks:
            return 0
        return 1 if ranks == [1] and len(words) == 1 else -1

    def converts_to_unsigned(self, signed_type: str, other_type: str) -> bool:
        """Whether C converts a value of `signed_type` to unsigned when it is compared with one of
        `other_type`."""
        if self.is_unsigned(signed_type) or not self.is_unsigned(other_type):
            return False
        rs, ro = self.rank(signed_type), self.rank(other_type)
        return rs >= 1 and ro >= rs

    def is_unsigned(self, type_text: str) -> bool:
        """Whether a declared type (`u32`, `unsigned int`, `const size_t`) is an unsigned integer."""
        words = type_text.replace("const", " ").replace("volatile", " ").split()
        return "unsigned" in words or (len(words) == 1 and words[0] in self.unsigned_types)

    def family(self, api: str) -> str:
        """The API family of an acquire API: itself, or the API it renames."""
        a = self.acquire.get(api)
        return (a.family or a.name) if a is not None else api

    def focus(self) -> frozenset[str]:
        """Every name whose calls need full context in facts.py."""
        return frozenset(self.acquire) | frozenset(self.release) | self.dirtying | frozenset(self.handoffs)

    def acquire_calls(self) -> CallFinder:
        """Finds every call of an acquire API (`CallFinder`)."""
        return CallFinder(tuple(self.acquire))


# Between a callee's name and its `(`: blanks, line breaks, comments, line continuations.
_CALL_GAP = re.compile(rb"(?:\s++|/\*(?s:.*?)\*/|//[^\n]*+|\\(?=\r?\n))*+\(")
_WORD = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


@dataclass(frozen=True)
class CallFinder:
    """Calls of any of `names`, found at token level: the name as a whole word, then any blanks,
    line breaks, comments and line continuations, then `(`.

    A line-based `name\\s*\\(` misses `get_user_pages\\n\\t\\t(current, ...)` (2.6.32
    drivers/misc/sgi-gru/grufault.c) and `name /* why */ (`. Only the names that contain no other
    name are looked up, with `bytes.find` (a fast substring search in C); the whole word around
    each occurrence then says which name it is (`get_user_pages` finds `__get_user_pages_fast`
    too). A regex alternation of 27 names tries every byte of a file and is ten times slower.
    """

    names: tuple[str, ...]
    """The callee names."""

    def _found(self, data: bytes, stop: bool) -> list[int]:
        names = self._names()
        out: list[int] = []
        gap = _CALL_GAP.match
        end = len(data)
        for root in self._roots():
            i = data.find(root)
            while i >= 0:
                s, j = i, i + len(root)
                while s > 0 and data[s - 1] in _WORD:
                    s -= 1
                while j < end and data[j] in _WORD:
                    j += 1
                if data[s:j] in names and gap(data, j):
                    out.append(s)
                    if stop:
                        return out
                i = data.find(root, j)
        return sorted(set(out))

    @cache
    def _names(self) -> frozenset[bytes]:
        return frozenset(n.encode() for n in self.names)

    @cache
    def _roots(self) -> tuple[bytes, ...]:
        """The names that contain no other name: every name contains one of them."""
        ns = sorted(self._names(), key=len)
        return tuple(n for k, n in enumerate(ns) if not any(m in n for m in ns[:k]))

    def starts(self, data: bytes) -> list[int]:
        """Byte offsets of the names that are called, in file order."""
        return self._found(data, False)

    def search(self, data: bytes) -> bool:
        """Whether `data` calls any of the names."""
        return bool(self._found(data, True))


def _kind(t: Table, key: str, text: str) -> RefKind:
    if text == "either":
        return RefKind.NONE
    try:
        return RefKind(text)
    except ValueError:
        raise t.error(key, f"unknown reference kind {text!r}") from None


def _by_version(entry: Table, key: str, version: Version | None) -> str:
    """The value of `key`, or of the first `<key>_by_version` entry whose range holds `version`."""
    for alt in entry.tables(f"{key}_by_version"):
        if version is not None and in_range(version, alt.text("versions")):
            return str(alt.value(key))
    return entry.text(key)


def _acquire(e: Table, version: Version | None) -> AcquireApi:
    name = e.text("name")
    if "forms" not in e:
        raise e.error("forms", "missing")
    forms = tuple(
        Form(arity=f.integer("arity"), pages=f.opt_index("pages"), write=f.opt_index("write"), flags=f.opt_index("flags"),
             count=f.opt_index("count"), versions=f.opt_text("versions"), max_pages=f.opt_index("max_pages"))
        for f in e.tables("forms")
    )
    zero = e.opt_text("zero_result")
    return AcquireApi(name, _kind(e, "ref", _by_version(e, "ref", version)), forms, e.opt_text("carrier"),
                      e.opt_text("needs_flag"), e.opt_text("pin_counterpart"), e.text("family", ""),
                      zero is not None and version is not None and in_range(version, zero),
                      e.flag("errno_result", False))


def _release(e: Table, version: Version | None) -> ReleaseApi:
    return ReleaseApi(e.text("name"), _kind(e, "kind", _by_version(e, "kind", version)), e.text("shape"),
                      e.integer("arg", 0), e.flag("dirty", False), e.opt_text("pin_counterpart"),
                      e.opt_index("dirty_arg"))


def _handoff(h: Table) -> Handoff:
    return Handoff(h.text("name"), h.integer("from"), h.integer("to"), h.text("carrier"), h.flag("merges", False),
                   h.opt_index("same"), h.flag("zero_fails", False), h.opt_text("destructor"), h.opt_text("destructor_file"),
                   h.integer("destructor_arg", 0))


@cache
def load(version: Version | None) -> Catalogue:
    """The catalogue with version-dependent kinds resolved for `version` (CatalogueError, naming
    the file and the key, when apis.toml is malformed)."""
    raw = tables.load("apis")
    s, ext, cond = raw.table("settings", {}), raw.table("extraction", {}), raw.table("conditions", {})
    acq = {a.name: a for a in (_acquire(e, version) for e in raw.tables("acquire"))}
    rel = {r.name: r for r in (_release(e, version) for e in raw.tables("release"))}

    def names(key: str) -> tuple[str, ...]:
        return raw.table(key, {}).texts("names")

    return Catalogue(
        acquire=acq,
        release=rel,
        dirtying=frozenset(names("dirtying")),
        allocators=frozenset(names("allocators")),
        extra_refs=frozenset(names("extra_refs")),
        accessors=names("accessors"),
        from_address=frozenset(raw.table("accessors", {}).texts("from_address")),
        array_allocators=names("array_allocators"),
        zeroing_allocators=frozenset(raw.table("array_allocators", {}).texts("zeroing")),
        handoffs={h.name: h for h in map(_handoff, raw.tables("handoff"))},
        pin_flags=raw.table("guards", {}).texts("pin_flags"),
        pin_predicates=raw.table("guards", {}).texts("pin_predicates"),
        unpinned_flags=frozenset(raw.table("guards", {}).texts("unpinned_flags")),
        api_homes=s.texts("api_homes", ("mm/",)),
        shared_dirs=frozenset(s.texts("shared_dirs")),
        declared_in=s.texts("declared_in"),
        extraction={e.text("name"): e.integer("iter") for e in ext.tables("apis")},
        kernel_iterators=frozenset(ext.texts("kernel_iterators")),
        kernel_only_flags=frozenset(ext.texts("kernel_only_flags")),
        kernel_iterator_fields=frozenset(ext.texts("kernel_iterator_fields")),
        transparent_conditions=frozenset(cond.texts("transparent")),
        assertions=frozenset(cond.texts("assertions")),
        error_tests=frozenset(cond.texts("error_tests")),
        error_or_null_tests=frozenset(cond.texts("error_or_null_tests")),
        unsigned_types=frozenset(cond.texts("unsigned_types")),
        type_ranks={**{t: 0 for t in cond.texts("narrow_types")}, **{t: 1 for t in cond.texts("int_types")},
                    **{t: 2 for t in cond.texts("long_types")}},
        carrier_members=frozenset(raw.table("carriers", {}).texts("members")),
        page_members=frozenset(raw.table("carriers", {}).texts("page_members")),
        segment_counts=frozenset(raw.table("carriers", {}).texts("segment_counts")),
        table_freers=frozenset(raw.table("carriers", {}).texts("table_freers")),
        array_freers=frozenset(names("array_freers")),
        errno_handoffs=frozenset(raw.table("handoff_failures", {}).texts("errno")),
        readers=frozenset(names("readers")),
        write_flag=s.text("write_flag", "FOLL_WRITE"),
        pin_flag=s.text("pin_flag", "FOLL_PIN"),
        get_flag=s.text("get_flag", "FOLL_GET"),
    )
