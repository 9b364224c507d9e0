"""What the closure search tracks: a root (a local name, or a struct field tree-wide) and how an
expression's text names one (`&dio->pages[i] + 1` -> the field `pages` of `struct dio`).

Pure functions over expression text; the catalogue supplies page accessors and carrier members.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache

from audit.catalogue import load as load_catalogue
from audit.facts import split_args
from audit.model import fast_init

PATH_EXPR = re.compile(r"[A-Za-z_]\w*(?:\s*(?:->|\.)\s*[A-Za-z_]\w*|\s*\[[^\]]*\])*")
_CAST = re.compile(r"^\(\s*(?:const\s+|volatile\s+)*(?:struct\s+|union\s+|unsigned\s+|signed\s+)*\w+\s*\**\s*\)")
NULLS = frozenset({"NULL", "0", "(void *)0", "NULL_PAGE"})
MEMBER_TAIL = re.compile(r"(?:->|\.)\s*([A-Za-z_]\w*)\)*$")
"""The last member of an access path, also inside a call that takes it (`sg_page(ao->op_sg)`)."""
FIELDS = re.compile(r"(?:->|\.)([A-Za-z_]\w*)")
MEMBER_PATH = re.compile(r"[A-Za-z_]\w*(?:(?:->|\.)[A-Za-z_]\w*)+")
"""A blank-free access path through at least one member (`rm->data.op_sg`)."""
BASE_SPLIT = re.compile(r"->|\.|\[")
FIELD_NAMES = re.compile(r"(?:->|\.)\s*([A-Za-z_]\w*)")
_WS = re.compile(r"\s+")
_SUBSCRIPTS = re.compile(r"(\[[^\]]*\])+$")


@cache
def accessors() -> re.Pattern[str]:
    """Page accessors from the catalogue (`sg_page(sg)`): the page's root is their argument."""
    names = sorted(load_catalogue(None).accessors, key=len, reverse=True)
    return re.compile(r"^(?:" + "|".join(map(re.escape, names)) + r")\s*\(" if names else r"(?!)")


@cache
def _carrier_members() -> frozenset[str]:
    """Members that hold a carrier's entries (an sg_table's `sgl`), from the catalogue."""
    return load_catalogue(None).carrier_members


@cache
def _page_member() -> re.Pattern[str]:
    """A trailing member that is the page itself (`.bv_page`), from the catalogue."""
    names = sorted(load_catalogue(None).page_members)
    return re.compile(r"(?:->|\.)(?:" + "|".join(map(re.escape, names)) + r")$" if names else r"(?!)")


@cache
def array_allocation() -> re.Pattern[str]:
    """A call that allocates fresh memory: the catalogue's array and page allocators."""
    cat = load_catalogue(None)
    names = sorted(set(cat.array_allocators) | cat.allocators, key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(map(re.escape, names)) + r")\s*\(" if names else r"(?!)")


@fast_init
@dataclass(frozen=True)
class Root:
    """What is being tracked: a local name in one function, or a struct field tree-wide."""

    kind: str
    """"local" or "field"."""
    name: str
    """Variable name, or field name."""
    tag: str = ""
    """For a field: the struct tag, '' when unknown."""
    file: str = ""
    """For a field: the file where the pages were stored (an untyped field matches only there)."""

    def show(self) -> str:
        """Human form for evidence lines."""
        if self.kind == "field":
            return f"{self.tag or '…'}->{self.name}" if self.tag else f"->{self.name}"
        return self.name


_CALL_HEAD = re.compile(r"([A-Za-z_]\w*)\s*\(")


def called_name(expr: str) -> str | None:
    """The function an expression calls (`kzalloc` of `kzalloc(…)`, casts and `&`/`*` aside), or None."""
    m = _CALL_HEAD.match(strip_expr(expr))
    return m.group(1) if m is not None else None


@lru_cache(maxsize=None)
def strip_expr(expr: str) -> str:
    e = expr.strip()
    while True:
        m = _CAST.match(e)
        e2 = e[m.end():].strip() if m else e
        e2 = e2.lstrip("&*( ").strip()
        if e2 == e:
            break
        e = e2
    return e


@lru_cache(maxsize=None)
def access_path(expr: str) -> str | None:
    """`&dio->pages[i] + 1` -> `dio->pages`; `sg_page(sg)` -> `sg`; None when there is no path."""
    e = strip_expr(expr)
    m = accessors().match(e)
    if m:
        inner = split_args(e[m.end() - 1 :])
        return access_path(inner[0]) if inner else None
    m = PATH_EXPR.match(e)
    if not m:
        return None
    p = _WS.sub("", m.group(0))
    p = _SUBSCRIPTS.sub("", p)
    # `bvecs[i].bv_page`: the page of an element of the carrier `bvecs`.
    p = _SUBSCRIPTS.sub("", _page_member().sub("", p))
    return p or None


@lru_cache(maxsize=None)
def _path_parts(expr: str) -> tuple[str, str, str, bool] | None:
    """(kind, name, base variable, single-level access) for an expression, tag-free and cached."""
    p = access_path(expr)
    if p is None:
        return None
    m = MEMBER_TAIL.search(p)
    if m:
        base = BASE_SPLIT.split(p)[0]
        fields = FIELDS.findall(p)
        if len(fields) > 1 and fields[-1] in _carrier_members():
            # `sgl->sgt.sgl`: the entries of the carrier `sgt` are the carrier itself.
            return ("field", fields[-2], base, False)
        return ("field", m.group(1), base, len(fields) == 1)
    return ("local", p.split("[")[0], "", True)


def root_of(expr: str, tags: dict[str, str], path: str = "") -> Root | None:
    """The Root an expression refers to; `tags` maps local names to struct tags."""
    parts = _path_parts(expr)
    if parts is None:
        return None
    kind, name, base, single = parts
    if kind == "local" and name in NULLS:
        return None  # NULL names no storage
    if kind == "field":
        # Only a one-level access has a known tag (`dio->pages` with `struct dio *dio`).
        return Root("field", name, tags.get(base, "") if single else "", path)
    return Root("local", name)


def subsystem(path: str) -> str:
    """`drivers/vdpa/vdpa_user/x.c` -> `drivers/vdpa`; `mm/gup.c` -> `mm`."""
    parts = path.split("/")
    return "/".join(parts[:2]) if len(parts) > 2 else parts[0]


def namespace(func: str) -> str | None:
    """The subsystem prefix of a function name (`p9` for p9_virtio_zc_request), None if too short."""
    head = func.lstrip("_").split("_", 1)[0]
    return head if len(head) >= 2 and head not in ("get", "put", "set", "do", "is", "add", "free", "alloc") else None


def refers_to(expr: str, tags: dict[str, str], path: str, root: Root, names: set[str]) -> bool:
    """`matches(root_of(expr, tags, path), root, names, path)` without building the Root (the
    closure search and the path walks ask this of every argument they meet)."""
    parts = _path_parts(expr)
    if parts is None:
        return False
    kind, name, base, single = parts
    if kind != "field":
        return name in names
    if root.kind != "field" or name != root.name:
        return False
    tag = tags.get(base, "") if single else ""
    if root.tag and tag:
        return tag == root.tag
    return path == root.file


def matches(r: Root | None, root: Root, names: set[str], path: str) -> bool:
    """Whether expression root `r`, seen in file `path`, refers to the tracked `root`."""
    if r is None:
        return False
    if r.kind == "local":
        return r.name in names
    if root.kind != "field" or r.name != root.name:
        return False
    if root.tag and r.tag:
        return r.tag == root.tag
    # One side's struct type is unknown: trust the field name only inside the storing file.
    return path == root.file

