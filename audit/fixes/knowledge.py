"""What `audit fix` knows about the APIs it rewrites: the `[fix]` tables of `rules/catalogue/apis.toml`.

Templates of the pin-aware releases, the legitimate FOLL_GET users, the versions the pin API exists
in, the calls that read a page's reference count, the long-term pin flag. Python reads them; it does
not embed them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from audit import catalogue, tables
from audit.tables import Table
from audit.version import Version, parse_version


@dataclass(frozen=True)
class ReleaseTemplate:
    """What one GET release API becomes (`[[fix.release]]`)."""

    name: str
    """The GET release."""
    to: str
    """Plain conversion, e.g. `unpin_user_page({0})`."""
    to_dirty: str | None
    """Conversion that dirties the pages, e.g. `unpin_user_pages_dirty_lock({&0}, 1, {dirty})`."""
    loop: str | None
    """Conversion of a whole per-page release loop."""
    loop_dirty: str | None
    """Conversion of a whole per-page release loop that dirtied (or must dirty) the pages."""


@dataclass(frozen=True)
class FixRules:
    """The `[fix]` tables of `rules/catalogue/apis.toml`."""

    pin_api_since: Version
    """First version with the pin API."""
    case3_markers: tuple[str, ...]
    """Identifiers that show an MMU notifier in a driver's folder (pin_user_pages.rst case 3)."""
    identity_uses: frozenset[str]
    """Calls that use only a page's address (page_to_phys)."""
    fold_dirty: frozenset[str]
    """Dirtying calls folded into unpin_user_pages_dirty_lock()."""
    dirty_tests: tuple[str, ...]
    """Tests in a dirtying `if` that the pin-aware release does itself."""
    unsigned_types: frozenset[str]
    """Type words of a loop bound that cannot be negative."""
    max_line: int
    """Line length a rewritten call may grow to before it is wrapped."""
    array_allocators: tuple[str, ...]
    """Calls that allocate a pages *array* (a store of their result into a field is not a page)."""
    refcount_reads: frozenset[str]
    """Calls that read a page's reference count: a function using them measures references (a test)."""
    longterm_flag: str
    """The gup flag of a pin held past the system call (`FOLL_LONGTERM`)."""
    teardown_fields: frozenset[str]
    """Operations-table members that tear an object down (`.release = f`)."""
    teardown_calls: dict[str, int]
    """Calls that register their function-pointer argument (at this index) as a teardown (`kref_put`)."""
    teardown_depth: int
    """Caller hops followed upward from a release to a teardown."""
    available: dict[str, str]
    """Pin-side API -> version range it exists in."""
    decline_acquire: dict[str, str]
    """Acquire API -> why it is not converted mechanically."""
    decline_release: dict[str, str]
    """Release API -> why it is not converted mechanically."""
    release: dict[str, ReleaseTemplate]
    """Release API -> its conversion."""


@cache
def fix_rules() -> FixRules:
    """Load the `[fix]` tables of apis.toml (CatalogueError, naming the key, when malformed)."""
    raw = tables.load("apis").table("fix", {})
    return FixRules(
        pin_api_since=_version(raw, "pin_api_since", "5.6"),
        case3_markers=raw.texts("case3_markers"),
        identity_uses=frozenset(raw.texts("identity_uses")),
        fold_dirty=frozenset(raw.texts("fold_dirty")),
        dirty_tests=raw.texts("dirty_tests"),
        unsigned_types=catalogue.load(None).unsigned_types | {"unsigned"},
        max_line=raw.integer("max_line", 80),
        array_allocators=catalogue.load(None).array_allocators,
        refcount_reads=frozenset(raw.texts("refcount_reads")),
        longterm_flag=raw.text("longterm_flag", "FOLL_LONGTERM"),
        teardown_fields=frozenset(raw.texts("teardown_fields")),
        teardown_calls=raw.integer_map("teardown_calls"),
        teardown_depth=raw.integer("teardown_depth", 4),
        available=raw.text_map("available"),
        decline_acquire=raw.text_map("decline_acquire"),
        decline_release=raw.text_map("decline_release"),
        release={
            e.text("name"): ReleaseTemplate(e.text("name"), e.text("to"), e.opt_text("to_dirty"), e.opt_text("loop"),
                                           e.opt_text("loop_dirty"))
            for e in raw.tables("release")
        },
    )


def _version(t: Table, key: str, default: str) -> Version:
    try:
        return parse_version(str(t.value(key, default)))
    except ValueError:
        raise t.error(key, "not a version") from None
