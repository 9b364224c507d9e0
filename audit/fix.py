"""`audit fix`: turn raw gup closures into a unified diff that converts them to the pin API.

The audit says which acquire sites still take FOLL_GET references released with put_page() and
friends (`raw-closure`) and where each release is. For every such site that can be converted
safely, the acquire is renamed to its pin counterpart (`get_user_pages_fast` -> `pin_user_pages_fast`,
FOLL_GET dropped from the flags) and every release on its closure becomes the pin-aware release
(`put_page` -> `unpin_user_page`, a `set_page_dirty_lock` + `put_page` pair -> one
`unpin_user_pages_dirty_lock(&p, 1, dirty)`, a whole release loop -> `unpin_user_pages(p, n)` when the
loop can be recognised safely, `release_pages` -> `unpin_user_pages`).

Safety over coverage: a site is declined (one `declined FILE:LINE api(): reason` line on stderr) when
its closure is incomplete, a release on it is shared with pages that were not gup'd or with a site
that is not converted, it is a legitimate FOLL_GET user, the tree has no pin API, or the source does
not have the shape the rewrite needs. Release helpers are converted once, and only when every caller
hands them pages of sites converted in the same diff.

What the rewrite needs to know about APIs (templates, legitimate users, versions) is in the `[fix]`
tables of `rules/catalogue/apis.toml`. The tree is only read: the diff goes to `out`.
"""

from __future__ import annotations

import argparse
import difflib
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any, TextIO

from tree_sitter import Node, Tree

from audit import catalogue, parse, rules
from audit.catalogue import Catalogue
from audit.engine import audit_tree
from audit.model import RefKind, Release, Report, Site, Status
from audit.resources import rules_dir
from audit.version import Version, in_range, parse_version, tree_version

TAB = 8
"""Tab width for line lengths and continuation alignment (kernel style)."""


# ---------------------------------------------------------------------------------- knowledge


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
    legit_classes: frozenset[str]
    """User classes that legitimately keep FOLL_GET."""
    legit_paths: tuple[str, ...]
    """Path patterns of legitimate FOLL_GET users."""
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
    available: dict[str, str]
    """Pin-side API -> version range it exists in."""
    decline_acquire: dict[str, str]
    """Acquire API -> why it is not converted mechanically."""
    decline_release: dict[str, str]
    """Release API -> why it is not converted mechanically."""
    release: dict[str, ReleaseTemplate]
    """Release API -> its conversion."""


class FixRulesError(Exception):
    """The `[fix]` tables are malformed."""


@cache
def fix_rules() -> FixRules:
    """Load the `[fix]` tables."""
    path = rules_dir() / "catalogue" / "apis.toml"
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text()).get("fix", {})
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise FixRulesError(f"{path}: {e}") from None
    try:
        return FixRules(
            pin_api_since=parse_version(str(raw.get("pin_api_since", "5.6"))),
            legit_classes=frozenset(raw.get("legit_classes", [])),
            legit_paths=tuple(raw.get("legit_paths", [])),
            case3_markers=tuple(raw.get("case3_markers", [])),
            identity_uses=frozenset(raw.get("identity_uses", [])),
            fold_dirty=frozenset(raw.get("fold_dirty", [])),
            dirty_tests=tuple(raw.get("dirty_tests", [])),
            unsigned_types=frozenset(raw.get("unsigned_types", [])),
            max_line=int(raw.get("max_line", 80)),
            array_allocators=catalogue.load(None).array_allocators,
            available=dict(raw.get("available", {})),
            decline_acquire=dict(raw.get("decline_acquire", {})),
            decline_release=dict(raw.get("decline_release", {})),
            release={
                e["name"]: ReleaseTemplate(e["name"], e["to"], e.get("to_dirty"), e.get("loop"), e.get("loop_dirty"))
                for e in raw.get("release", [])
            },
        )
    except (KeyError, TypeError, ValueError) as e:
        raise FixRulesError(f"{path}: [fix]: {e}") from None


def path_matches(rel: str, pattern: str) -> bool:
    """Whether `rel` matches a `legit_paths` pattern (`*` within one component, `dir/` = below dir)."""
    pparts = pattern.rstrip("/").split("/")
    rparts = rel.split("/")
    if pattern.endswith("/"):
        if len(rparts) <= len(pparts):
            return False
    elif len(rparts) != len(pparts):
        return False
    return all(fnmatch.fnmatchcase(r, p) for r, p in zip(rparts, pparts))


# ---------------------------------------------------------------------------------- expressions

_IDENT = re.compile(r"[A-Za-z_]\w*")
_CAST = re.compile(r"^\(\s*(?:const\s+|volatile\s+)*(?:struct\s+|union\s+)?\w+(?:\s+\w+)*\s*\**\s*\)\s*")
_KEYWORDS = frozenset({"struct", "union", "const", "sizeof", "unsigned", "signed", "int", "long", "char", "void"})


def _balanced_outer_parens(e: str) -> bool:
    """Whether `e` is one parenthesised group `( … )` from its first to its last character."""
    if not (e.startswith("(") and e.endswith(")")):
        return False
    depth = 0
    for i, ch in enumerate(e):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and i != len(e) - 1:
            return False
    return True


def strip_expr(expr: str) -> str:
    """The storage an expression names: `&ap->pages[n] + 1` -> `ap->pages` (no `&`, casts, offsets, subscripts)."""
    e = " ".join(expr.split())
    while True:
        before = e
        e = e.lstrip("&*").strip()
        m = _CAST.match(e)
        if m and m.end() < len(e):
            e = e[m.end():].strip()
        if _balanced_outer_parens(e):
            e = e[1:-1].strip()
        if e == before:
            break
    depth = 0
    for i, ch in enumerate(e):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif depth == 0 and ch in "+-" and e[i + 1 : i + 2] != ">" and i > 0:
            e = e[:i].strip()
            break
    while True:
        new = re.sub(r"\[[^\[\]]*\]", "", e)
        if new == e:
            break
        e = new
    return e


def expr_key(expr: str | None) -> str | None:
    """The last name of the storage an expression names: `&q->kif->u.h.header_page` -> `header_page`."""
    if not expr:
        return None
    ids = [x for x in _IDENT.findall(strip_expr(expr)) if x not in _KEYWORDS]
    return ids[-1] if ids else None


def expr_root(expr: str | None) -> str | None:
    """The first name of the storage an expression names: `&q->kif->pages[i]` -> `q`."""
    if not expr:
        return None
    ids = [x for x in _IDENT.findall(strip_expr(expr)) if x not in _KEYWORDS]
    return ids[0] if ids else None


def _is_call_expr(expr: str) -> bool:
    """Whether the storage an expression names is a call result (`kmalloc(…)`), not a variable."""
    return re.match(r"^[A-Za-z_]\w*\s*\(", strip_expr(expr)) is not None


def _visual(text: str) -> int:
    """Display width of `text` with kernel tabs."""
    col = 0
    for ch in text:
        col = (col // TAB + 1) * TAB if ch == "\t" else col + 1
    return col


def _indent(width: int) -> str:
    """Kernel-style indentation reaching display column `width`: tabs, then spaces."""
    return "\t" * (width // TAB) + " " * (width % TAB)


# ---------------------------------------------------------------------------------- sources


def grep_files(root: Path, regex: str, include: tuple[str, ...] = ("*.c", "*.h")) -> set[str]:
    """Files under `root` (relative, `/`-separated) whose text matches the extended `regex`.

    GNU grep reads a kernel tree far faster than Python; without it, a plain walk does the same.
    Symlinks are not followed and version-control folders are skipped.
    """
    exe = shutil.which("grep")
    if exe is not None and root.is_dir():
        cmd = [exe, "-rlZE", *(f"--include={g}" for g in include), "--exclude-dir=.git", "-e", regex, "--", "."]
        try:
            res = subprocess.run(cmd, cwd=root, capture_output=True, check=False)
        except OSError:
            res = None
        if res is not None and res.returncode in (0, 1):
            return {os.path.normpath(n.decode("utf-8", "surrogateescape")).replace(os.sep, "/")
                    for n in res.stdout.split(b"\0") if n}
    rx = re.compile(regex.encode())
    out: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".git" and not os.path.islink(os.path.join(dirpath, d)))
        for f in filenames:
            if not any(fnmatch.fnmatchcase(f, g) for g in include):
                continue
            p = os.path.join(dirpath, f)
            try:
                if rx.search(Path(p).read_bytes()):
                    out.add(os.path.relpath(p, root).replace(os.sep, "/"))
            except OSError:
                continue
    return out


def _walk(node: Node) -> Iterator[Node]:
    """Every node of the subtree, in document order."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children))


def _text(n: Node | None) -> str:
    """Source text of a node ('' for None)."""
    return "" if n is None or n.text is None else n.text.decode("utf-8", "replace")


def _declarator_name(d: Node | None) -> Node | None:
    """The identifier a (pointer/array/init) declarator declares."""
    while d is not None and d.type not in ("identifier", "field_identifier"):
        nxt = d.child_by_field_name("declarator")
        if nxt is None:
            nxt = next((c for c in d.named_children if c.type in ("identifier", "parenthesized_declarator",
                                                                     "pointer_declarator", "array_declarator")), None)
        d = nxt
    return d


def function_name(fdef: Node) -> str | None:
    """The name a function_definition defines."""
    d = fdef.child_by_field_name("declarator")
    while d is not None and d.type != "function_declarator":
        d = d.child_by_field_name("declarator")
    if d is None:
        return None
    n = _declarator_name(d.child_by_field_name("declarator"))
    return _text(n) if n is not None else None


def function_params(fdef: Node) -> list[tuple[str, str]]:
    """(name, declaration text) of each parameter in order."""
    d = fdef.child_by_field_name("declarator")
    while d is not None and d.type != "function_declarator":
        d = d.child_by_field_name("declarator")
    plist = d.child_by_field_name("parameters") if d is not None else None
    out: list[tuple[str, str]] = []
    if plist is None:
        return out
    for p in plist.named_children:
        if p.type != "parameter_declaration":
            continue
        n = _declarator_name(p.child_by_field_name("declarator"))
        out.append((_text(n) if n is not None else "", _text(p)))
    return out


def _enclosing(node: Node, types: tuple[str, ...]) -> Node | None:
    """The nearest ancestor of one of `types`."""
    n = node.parent
    while n is not None and n.type not in types:
        n = n.parent
    return n


def _call_args(call: Node) -> list[Node]:
    """The argument nodes of a call_expression (comments skipped)."""
    al = call.child_by_field_name("arguments")
    return [] if al is None else [a for a in al.named_children if a.type != "comment"]


def _in_loop(node: Node, stop: Node) -> bool:
    """Whether `node` sits in a loop (or a `*for_each*` iterator macro body) below `stop`."""
    n = node.parent
    while n is not None and n != stop:
        if n.type in ("for_statement", "while_statement", "do_statement"):
            return True
        if n.type == "compound_statement":
            prev = n.prev_named_sibling
            if prev is not None and re.match(r"\w*for_each\w*\s*\(", _text(prev)):
                return True
        n = n.parent
    return False


class Source:
    """One file of the tree: bytes, line index and (lazily) its tree-sitter parse."""

    def __init__(self, root: Path, rel: str) -> None:
        """Read `rel` under `root` (an unreadable file reads as empty)."""
        self.rel = rel
        try:
            self.data = (root / rel).read_bytes()
        except OSError:
            self.data = b""
        try:
            self.data.decode("utf-8")
            self.utf8 = True
        except UnicodeDecodeError:
            self.utf8 = False
        self.lines = parse.Lines(self.data)
        self._tree: Tree | None = None

    @property
    def tree(self) -> Tree:
        """The parse of the (attribute-masked) file."""
        if self._tree is None:
            self._tree = parse.parse(self.data)
        return self._tree

    def offset(self, line: int, column: int) -> int:
        """Byte offset of 1-based `line` and character `column`."""
        if line < 1 or line > len(self.lines.starts):
            return -1
        return self.lines.starts[line - 1] + len(self.lines.text(line)[: column - 1].encode("utf-8"))

    def line_start(self, byte: int) -> int:
        """Byte offset of the start of the line holding `byte`."""
        return self.data.rfind(b"\n", 0, byte) + 1

    def call_at(self, line: int, column: int, name: str) -> Node | None:
        """The call_expression whose callee `name` starts at (line, column)."""
        at = self.offset(line, column)
        if at < 0 or self.data[at : at + len(name)] != name.encode():
            return None
        n = self.tree.root_node.descendant_for_byte_range(at, at + len(name))
        while n is not None and n.type != "identifier" and n.start_byte == at:
            if n.type == "call_expression":
                break
            n = n.parent
        if n is None or n.type != "identifier":
            return None
        call = n.parent
        if call is None or call.type != "call_expression" or call.child_by_field_name("function") != n:
            return None
        return call

    def functions(self) -> dict[str, Node]:
        """Function definitions by name (the first of each name)."""
        out: dict[str, Node] = {}
        for n in _walk(self.tree.root_node):
            if n.type == "function_definition":
                name = function_name(n)
                if name and name not in out:
                    out[name] = n
        return out


# ---------------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Edit:
    """Replace bytes [start, end) of `file` with `text`."""

    file: str
    """Path relative to the tree root."""
    start: int
    """First byte replaced."""
    end: int
    """Byte just past the replaced range."""
    text: bytes
    """Replacement."""


@dataclass
class Plan:
    """What `audit fix` will do: the edits, the converted sites and the declined ones."""

    edits: list[Edit] = field(default_factory=list)
    """Every edit, deduplicated."""
    converted: list[tuple[Site, str]] = field(default_factory=list)
    """Converted sites with a note (write-back etc.)."""
    declined: list[tuple[Site, str]] = field(default_factory=list)
    """Declined sites with the reason."""


def _loc(r: Release) -> tuple[str, int, int]:
    """Identity of a release call: (file, line, column)."""
    return (r.file, r.line, r.column)


def _site_id(s: Site) -> tuple[str, int, int]:
    """Identity of a site: (file, line, column)."""
    return (s.file, s.line, s.column)


def _is_helper(s: Site, r: Release) -> bool:
    """Whether release `r` of site `s` sits in a function other than the acquiring one."""
    return r.file != s.file or r.function != s.function


class _Decline(Exception):
    """A site (or release) cannot be converted; the message is the reason."""


@dataclass(frozen=True)
class _Fold:
    """A dirtying statement right before a release, to be folded into it."""

    stmt: Node
    """The statement (`set_page_dirty_lock(p);` or `if (c) set_page_dirty_lock(p);`)."""
    dirty: str
    """The make_dirty expression it amounts to (`true`, `dirty`)."""


class Planner:
    """Decides, for one audited tree, which sites convert and what the edits are."""

    def __init__(self, root: Path, report: Report, version: Version | None, cat: Catalogue, fx: FixRules,
                 select: set[str] | None = None, workers: int | None = None) -> None:
        """Plan over `report` of the tree at `root` (version, catalogue and `[fix]` rules resolved)."""
        self.root = root
        self.report = report
        self.version = version
        self.cat = cat
        self.fx = fx
        self.select = select
        self.workers = workers
        self._sources: dict[str, Source] = {}
        self._mm_h: str | None = None
        self._helper_cache: dict[tuple[str, str, frozenset[tuple[str, int, int]]], str | None] = {}
        self._refs_cache: dict[str, set[str]] = {}

    # -------------------------------------------------------------- helpers

    def source(self, rel: str) -> Source:
        """The cached Source of `rel`."""
        s = self._sources.get(rel)
        if s is None:
            s = self._sources[rel] = Source(self.root, rel)
        return s

    def _mm_header(self) -> str | None:
        """The tree's include/linux/mm.h text, None when it has none."""
        if self._mm_h is None:
            p = self.root / "include" / "linux" / "mm.h"
            try:
                self._mm_h = p.read_text("utf-8", "replace")
            except OSError:
                self._mm_h = ""
        return self._mm_h or None

    def available(self, api: str) -> bool:
        """Whether the pin-side `api` exists in this tree (its mm.h, else the version table)."""
        mm = self._mm_header()
        if mm is not None and "pin_user_page" in mm:
            if re.search(rf"\b{re.escape(api)}\b", mm):
                return True
            return bool(grep_files(self.root / "include" / "linux", rf"\b{re.escape(api)}\b", ("*.h",)))
        spec = self.fx.available.get(api)
        if self.version is None:
            return False
        return in_range(self.version, spec) if spec else self.version >= self.fx.pin_api_since

    def pin_api(self) -> str | None:
        """Why the tree has no pin API at all, or None when it has one."""
        mm = self._mm_header()
        since = ".".join(str(x) for x in self.fx.pin_api_since[:2])
        if self.version is not None:
            if self.version < self.fx.pin_api_since:
                return f"no pin API before v{since}"
            return None
        if mm is not None and "pin_user_pages" in mm:
            return None
        return f"no pin API in this tree (no version, and include/linux/mm.h has no pin_user_pages; it came in v{since})"

    def selected(self, s: Site) -> bool:
        """Whether `--select` keeps site `s`."""
        return self.select is None or (s.rule is not None and s.rule in self.select)

    # -------------------------------------------------------------- per-site checks

    def site_reason(self, s: Site) -> str | None:
        """Why `s` (raw-closure or no-closure-found) cannot be converted on its own, else None."""
        none = self.pin_api()
        if none:
            return none
        if s.klass in self.fx.legit_classes:
            return f"legitimate FOLL_GET user (class {s.klass})"
        for pat in self.fx.legit_paths:
            if path_matches(s.file, pat):
                return f"legitimate FOLL_GET user (path {pat})"
        if s.status is Status.NO_CLOSURE_FOUND:
            return "closure incomplete (status no-closure-found)"
        if s.ref_kind is not RefKind.GET:
            return f"{s.api}() takes {s.ref_kind.value} references, not FOLL_GET"
        if s.wrapper:
            return f"{s.api}() is an acquire wrapper: convert its definition, not its callers"
        if s.api in self.fx.decline_acquire:
            return self.fx.decline_acquire[s.api]
        api = self.cat.acquire.get(s.api)
        if api is None or not api.pin_counterpart:
            return f"{s.api}() has no pin counterpart"
        if not self.available(api.pin_counterpart):
            return f"{api.pin_counterpart}() does not exist in this tree"
        if not s.closure:
            return "closure incomplete (no release found)"
        for r in s.closure:
            if r.kind is RefKind.PIN or (r.kind is RefKind.NONE and self.function_unpins(r.file, r.function)):
                return (f"{r.api}() at {r.file}:{r.line} is a conditional release (it tests whether the pages "
                        "were pinned): convert by hand")
            if r.api in self.fx.decline_release:
                return f"{r.api}() at {r.file}:{r.line}: {self.fx.decline_release[r.api]}"
            tmpl = self.fx.release.get(r.api)
            if tmpl is None:
                return f"{r.api}() at {r.file}:{r.line} has no pin-aware counterpart"
        return None

    def acquire_edit(self, s: Site) -> list[Edit]:
        """The edits renaming the acquire to its pin counterpart (and dropping FOLL_GET)."""
        api = self.cat.acquire[s.api]
        new = api.pin_counterpart
        assert new is not None
        src = self.source(s.file)
        if not src.utf8:
            raise _Decline(f"{s.file} is not UTF-8")
        call = src.call_at(s.line, s.column, s.api)
        if call is None:
            raise _Decline(f"no {s.api}() call at {s.file}:{s.line}:{s.column} (macro or changed source)")
        args = _call_args(call)
        form = api.form_for(len(args), self.version)
        if form is None:
            raise _Decline(f"{s.api}() with {len(args)} arguments matches no known form")
        if form.write is not None or form.flags is None:
            raise _Decline("old form with write/force int arguments: the pin API takes gup_flags")
        fdef = _enclosing(call, ("function_definition",))
        if fdef is None:
            raise _Decline(f"the function around {s.api}() does not parse: check by hand")
        flags = args[form.flags]
        body = fdef.child_by_field_name("body")
        get_flag = self.cat.get_flag
        for n in _walk(body) if body is not None else ():
            if n.type == "identifier" and _text(n) == get_flag and not (flags.start_byte <= n.start_byte < flags.end_byte):
                raise _Decline(f"{get_flag} is set outside the call (line {n.start_point[0] + 1}): convert by hand")
        self._check_escape(s, src, call, fdef, args[form.pages] if form.pages is not None and form.pages < len(args) else None)
        name = call.child_by_field_name("function")
        assert name is not None
        edits = self._rename(src, call, name, new)
        ftext = _text(flags)
        if re.search(rf"\b{get_flag}\b", ftext):
            nf = re.sub(rf"\s*\|\s*\b{get_flag}\b|\b{get_flag}\b\s*\|\s*", "", ftext)
            if re.search(rf"\b{get_flag}\b", nf):
                nf = re.sub(rf"\b{get_flag}\b", "0", nf)
            edits.append(Edit(s.file, flags.start_byte, flags.end_byte, nf.encode()))
        return edits

    def _check_escape(self, s: Site, src: Source, call: Node, fdef: Node, pages: Node | None) -> None:
        """Decline when the pages outlive the acquiring function but every release found is inside it.

        Pages kept in a struct field, a parameter or a global are normally released elsewhere (a
        teardown, a completion). When the closure has no release outside the acquiring function,
        the success path's release was not found, and converting what was found would leave it
        dropping pins with put_page().
        """
        if any(_is_helper(s, r) for r in s.closure) or pages is None:
            return
        where = self._escape(fdef, _text(pages))
        if where:
            raise _Decline(f"the pages are kept in {where} but every release found is in {s.function}(): "
                           "the success path's release was not found")
        uses = self._identity_only(s, call, fdef, pages)
        marker = self._notifier(s.file) if uses is not None else None
        if marker:
            raise _Decline(f"legitimate FOLL_GET user: {s.function}() uses only the page's address "
                           f"({', '.join(uses or ['nothing'])}) and drops it, and {marker} keeps the mapping coherent "
                           "(pin_user_pages.rst case 3)")

    def _identity_only(self, s: Site, call: Node, fdef: Node, pages: Node) -> list[str] | None:
        """The identity calls (`page_to_phys()`) that are the only uses of the pages in `fdef`, else None."""
        key = expr_key(_text(pages))
        body = fdef.child_by_field_name("body")
        if key is None or body is None:
            return None
        releases = [src_call for r in s.closure
                    if (src_call := self.source(r.file).call_at(r.line, r.column, r.api)) is not None]
        skip = [(call.start_byte, call.end_byte)] + [(c.start_byte, c.end_byte) for c in releases]
        seen: set[str] = set()
        for n in _walk(body):
            if n.type not in ("identifier", "field_identifier") or _text(n) != key:
                continue
            if any(a <= n.start_byte < b for a, b in skip):
                continue
            p = n.parent
            if p is not None and p.type in ("declaration", "init_declarator", "pointer_declarator", "array_declarator"):
                continue
            c = _enclosing(n, ("call_expression", "expression_statement", "compound_statement"))
            if c is None or c.type != "call_expression":
                return None
            fn = _text(c.child_by_field_name("function"))
            if fn not in self.fx.identity_uses:
                return None
            seen.add(f"{fn}()")
        return sorted(seen)

    def _notifier(self, rel: str) -> str | None:
        """`mmu_notifier_ops in FILE` when the site's folder registers an MMU notifier, else None."""
        if not self.fx.case3_markers:
            return None
        folder = os.path.dirname(rel)
        try:
            names = sorted(n for n in os.listdir(self.root / folder) if n.endswith((".c", ".h")))
        except OSError:
            return None
        rx = re.compile(rb"\b(" + b"|".join(re.escape(m.encode()) for m in self.fx.case3_markers) + rb")\b")
        for n in names:
            rel_n = f"{folder}/{n}" if folder else n
            m = rx.search(self.source(rel_n).data)
            if m:
                return f"{m.group(1).decode()} in {rel_n}"
        return None

    def _escape(self, fdef: Node, pages_text: str) -> str | None:
        """Where the pages outlive the acquiring function `fdef` (field, parameter, global, store), else None."""
        expr = strip_expr(pages_text)
        root = expr_root(expr)
        if root is None:
            return None
        if "->" in expr:
            return f"`{expr}`"
        params = {n for n, _ in function_params(fdef)}
        if root in params:
            return f"parameter `{root}`"
        body = fdef.child_by_field_name("body")
        if body is None:
            return None
        declared = False
        pointer = False
        assigns: list[tuple[str, str]] = []
        for n in _walk(body):
            if n.type == "init_declarator":
                d = _declarator_name(n.child_by_field_name("declarator"))
                v = n.child_by_field_name("value")
                if v is not None and v.type != "initializer_list":
                    assigns.append((_text(d), _text(v)))
            elif n.type == "declaration":
                for c in n.children_by_field_name("declarator"):
                    d = _declarator_name(c)
                    if d is not None and _text(d) == root:
                        declared = True
                        inner = c.child_by_field_name("declarator") if c.type == "init_declarator" else c
                        pointer = inner is not None and inner.type == "pointer_declarator"
            elif n.type == "assignment_expression":
                assigns.append((_text(n.child_by_field_name("left")), _text(n.child_by_field_name("right"))))
            elif n.type == "return_statement":
                if any(_text(c) == root for c in n.named_children if c.type == "identifier"):
                    return f"the return value (`{root}`)"
            elif n.type == "call_expression":
                h = self.cat.handoffs.get(_text(n.child_by_field_name("function")))
                a = _call_args(n)
                if h is not None and h.src < len(a) and expr_root(_text(a[h.src])) == root:
                    return f"a {h.carrier} ({_text(n.child_by_field_name('function'))}() line {n.start_point[0] + 1})"
        if not declared:
            return f"`{root}` (not a local)"
        for lhs, rhs in assigns:
            if expr_root(lhs) == root and strip_expr(lhs) == root:
                if not pointer:
                    continue
                r = strip_expr(rhs)
                if not _is_call_expr(rhs) and ("->" in r or expr_root(r) in params):
                    return f"`{root} = {' '.join(rhs.split())}`"
            elif expr_root(strip_expr(rhs)) == root and not _is_call_expr(rhs):
                lroot = expr_root(lhs)
                if "->" in lhs or lroot in params:
                    return f"`{' '.join(lhs.split())}`"
        return None

    # -------------------------------------------------------------- releases

    def _rename(self, src: Source, call: Node, name: Node, new: str) -> list[Edit]:
        """Rename a call's callee, realigning continuation lines aligned to its `(`."""
        old = _text(name)
        if call.start_point[0] == call.end_point[0] or len(new) == len(old):
            return [Edit(src.rel, name.start_byte, name.end_byte, new.encode())]
        delta = len(new) - len(old)
        ls = src.line_start(name.start_byte)
        paren = _visual(src.data[ls : name.end_byte].decode("utf-8", "replace")) + 1
        text = src.data[name.end_byte : call.end_byte].decode("utf-8")
        out_lines = text.split("\n")
        for i in range(1, len(out_lines)):
            ln = out_lines[i]
            stripped = ln.lstrip(" \t")
            lead = ln[: len(ln) - len(stripped)]
            if stripped and _visual(lead) == paren:
                out_lines[i] = _indent(paren + delta) + stripped
        return [Edit(src.rel, name.start_byte, call.end_byte, (new + "\n".join(out_lines)).encode())]

    def _dirty_fold(self, src: Source, stmt: Node, page: str) -> _Fold | None:
        """The dirtying statement right before `stmt` on the same page, if it can be folded."""
        prev = stmt.prev_sibling
        if prev is None or prev.type not in ("expression_statement", "if_statement"):
            return None
        cond = "true"
        inner = prev
        if prev.type == "if_statement":
            if prev.child_by_field_name("alternative") is not None:
                return None
            cons = prev.child_by_field_name("consequence")
            if cons is not None and cons.type == "compound_statement":
                kids = [c for c in cons.named_children]
                cons = kids[0] if len(kids) == 1 else None
            if cons is None or cons.type != "expression_statement":
                return None
            inner = cons
            folded = self._dirty_condition(_text(prev.child_by_field_name("condition")), page)
            if folded is None:
                return None
            cond = folded
        call = inner.named_children[0] if inner.named_children else None
        if call is None or call.type != "call_expression":
            return None
        if _text(call.child_by_field_name("function")) not in self.fx.fold_dirty:
            return None
        a = _call_args(call)
        if len(a) != 1 or " ".join(_text(a[0]).split()) != page:
            return None
        # The folded statement must own its lines and be followed only by blank space up to stmt.
        if src.data[src.line_start(prev.start_byte) : prev.start_byte].strip():
            return None
        if src.data[prev.end_byte : src.line_start(stmt.start_byte)].strip():
            return None
        if src.data[src.line_start(stmt.start_byte) : stmt.start_byte].strip():
            return None
        return _Fold(prev, cond)

    def _dirty_condition(self, cond: str, page: str) -> str | None:
        """The make_dirty expression of `if (cond) set_page_dirty_lock(page);`, or None if it tests the page."""
        c = cond.strip()
        if _balanced_outer_parens(c):
            c = c[1:-1].strip()
        parts = [p.strip() for p in c.split("&&")] if "||" not in c else [c]
        keep: list[str] = []
        for p in parts:
            q = p[1:-1].strip() if _balanced_outer_parens(p) else p
            if any(re.fullmatch(rf"!\s*{re.escape(t)}\s*\(\s*{re.escape(page)}\s*\)", q) for t in self.fx.dirty_tests):
                continue
            keep.append(p)
        if not keep:
            return "true"
        rest = " && ".join(keep)
        page_ids = set(_IDENT.findall(page))
        if page_ids & set(_IDENT.findall(rest)) or "(" in rest:
            return None
        return rest

    def _loop(self, src: Source, stmt: Node, fold: _Fold | None, arg: Node) -> tuple[Node, str, str] | None:
        """(for_statement, array, count) when `stmt` is the whole body of a collapsible release loop."""
        parent = stmt.parent
        loop = parent
        if parent is not None and parent.type == "compound_statement":
            kids = [c for c in parent.named_children]
            want = ([fold.stmt] if fold else []) + [stmt]
            if [k.id for k in kids] != [w.id for w in want]:
                return None
            loop = parent.parent
            if loop is None or loop.type != "for_statement" or loop.child_by_field_name("body") != parent:
                return None
        elif fold is not None or loop is None or loop.type != "for_statement" or loop.child_by_field_name("body") != stmt:
            return None
        assert loop is not None
        init = loop.child_by_field_name("initializer")
        cond = loop.child_by_field_name("condition")
        upd = loop.child_by_field_name("update")
        if init is None or cond is None or upd is None:
            return None
        declared_here = False
        if init.type == "assignment_expression" and _text(init.child_by_field_name("right")) == "0":
            var = _text(init.child_by_field_name("left"))
        elif init.type == "declaration":
            ds = init.children_by_field_name("declarator")
            if len(ds) != 1 or ds[0].type != "init_declarator" or _text(ds[0].child_by_field_name("value")) != "0":
                return None
            var = _text(ds[0].child_by_field_name("declarator"))
            declared_here = True
        else:
            return None
        if not _IDENT.fullmatch(var):
            return None
        if cond.type != "binary_expression" or _text(cond.child_by_field_name("left")) != var or \
                _text(cond.child_by_field_name("operator")) != "<":
            return None
        count_node = cond.child_by_field_name("right")
        count = _text(count_node)
        if _text(upd).replace(" ", "") not in (f"{var}++", f"++{var}", f"{var}+=1"):
            return None
        if arg.type != "subscript_expression" or _text(arg.child_by_field_name("index")) != var:
            return None
        array = _text(arg.child_by_field_name("argument"))
        if var in _IDENT.findall(array) or var in _IDENT.findall(count):
            return None
        for t in (array, count):
            if re.search(r"\(|\+\+|--|(?<![=!<>])=(?!=)", t):
                return None
        fdef = _enclosing(loop, ("function_definition",))
        if fdef is None or not self._count_unsigned(src.rel, fdef, count):
            return None
        if not declared_here and not self._var_dead_after(fdef, loop, var):
            return None
        return loop, array, count

    def _count_unsigned(self, file: str, fdef: Node, count: str) -> bool:
        """Whether the loop bound cannot be negative (a literal, or declared with an unsigned type)."""
        c = count.strip()
        if re.fullmatch(r"\d+[uUlL]*", c):
            return int(re.sub(r"[uUlL]", "", c)) >= 0
        fm = re.fullmatch(r"[A-Za-z_]\w*\s*(?:->|\.)\s*([A-Za-z_]\w*)", c)
        if fm:
            return self._field_unsigned(file, fm.group(1))
        if not _IDENT.fullmatch(c):
            return False
        decl_text: str | None = None
        for pname, ptext in function_params(fdef):
            if pname == c:
                decl_text = ptext
        body = fdef.child_by_field_name("body")
        for n in _walk(body) if body is not None else ():
            if n.type == "declaration":
                for d in n.children_by_field_name("declarator"):
                    dn = _declarator_name(d)
                    if dn is not None and _text(dn) == c:
                        tn = n.child_by_field_name("type")
                        decl_text = _text(tn) + " " + " ".join(_text(x) for x in n.children if x.type == "type_qualifier")
        if decl_text is None:
            return False
        words = _IDENT.findall(decl_text.split(c)[0] if c in decl_text else decl_text)
        return self._unsigned_words(words)

    def _unsigned_words(self, words: list[str]) -> bool:
        """Whether a declaration's type words name an unsigned type."""
        return any(w in self.fx.unsigned_types for w in words) or \
            any(" ".join(words[i : i + 2]) in self.fx.unsigned_types for i in range(len(words)))

    def _field_unsigned(self, file: str, fname: str) -> bool:
        """Whether every declaration of struct member `fname` in the file and its folder's headers is unsigned."""
        folder = os.path.dirname(file)
        cands = [file] + sorted(
            os.path.join(folder, n) for n in os.listdir(self.root / folder) if n.endswith(".h")
        ) if (self.root / folder).is_dir() else [file]
        rx = re.compile(r"^[ \t]*((?:[A-Za-z_]\w*[ \t]+)+)\**[ \t]*" + re.escape(fname) + r"[ \t]*(?:\[[^\]]*\])?[ \t]*;",
                        re.MULTILINE)
        found = False
        for rel in cands:
            text = self.source(rel).data.decode("utf-8", "replace")
            for m in rx.finditer(text):
                words = [w for w in m.group(1).split() if w not in ("const", "volatile")]
                if words and words[0] in ("return", "goto", "else"):
                    continue
                found = True
                if not self._unsigned_words(words):
                    return False
        return found

    def _var_dead_after(self, fdef: Node, loop: Node, var: str) -> bool:
        """Whether removing the loop changes nothing about `var`: used elsewhere, never read after it."""
        if _in_loop(loop, fdef):
            return False
        body = fdef.child_by_field_name("body")
        if body is None:
            return False
        uses: list[Node] = []
        labels: dict[str, int] = {}
        gotos: list[tuple[str, int]] = []
        for n in _walk(body):
            if n.type == "identifier" and _text(n) == var:
                uses.append(n)
            elif n.type == "labeled_statement":
                labels[_text(n.child_by_field_name("label"))] = n.start_byte
            elif n.type == "goto_statement":
                gotos.append((_text(n.child_by_field_name("label")), n.start_byte))
        def in_decl(n: Node) -> bool:
            """Whether identifier `n` is the name a declaration declares."""
            p = n.parent
            return p is not None and p.type in ("declaration", "init_declarator") and p.child_by_field_name("declarator") == n
        outside = [u for u in uses if not (loop.start_byte <= u.start_byte < loop.end_byte) and not in_decl(u)]
        if not outside:
            return False  # the declaration would be left unused
        if any(pos >= loop.end_byte and name in labels and labels[name] < loop.start_byte for name, pos in gotos):
            return False  # a backward jump over the loop
        after = sorted((u for u in outside if u.start_byte >= loop.end_byte), key=lambda u: u.start_byte)
        if not after:
            return True
        first = after[0]
        p = first.parent
        return p is not None and p.type == "assignment_expression" and p.child_by_field_name("left") == first and \
            _text(p.child_by_field_name("operator")) == "="

    def function_dirties(self, file: str, function: str | None) -> bool:
        """Whether `function` in `file` calls any dirtying API (its releases then already dirty)."""
        if function is None:
            return False
        f = self.source(file).functions().get(function)
        if f is None:
            return False
        return any(n.type == "call_expression" and _text(n.child_by_field_name("function")) in self.cat.dirtying
                   for n in _walk(f))

    def function_unpins(self, file: str, function: str | None) -> bool:
        """Whether `function` in `file` (or the file, when unknown) calls a pin-aware or either-kind release."""
        src = self.source(file)
        f = src.functions().get(function) if function else None
        scope = f if f is not None else src.tree.root_node
        names = {n for n, api in self.cat.release.items() if api.kind is not RefKind.GET}
        return any(n.type == "call_expression" and _text(n.child_by_field_name("function")) in names for n in _walk(scope))

    def release_edit(self, r: Release, write_back: bool) -> tuple[Edit, bool]:
        """The edit converting release `r`; also whether it now dirties pages it did not before."""
        src = self.source(r.file)
        if not src.utf8:
            raise _Decline(f"{r.file} is not UTF-8")
        call = src.call_at(r.line, r.column, r.api)
        if call is None:
            raise _Decline(f"no {r.api}() call at {r.file}:{r.line}:{r.column} (macro or changed source)")
        tmpl = self.fx.release[r.api]
        args = _call_args(call)
        texts = [" ".join(_text(a).split()) for a in args]
        stmt = call.parent
        whole_stmt = stmt is not None and stmt.type == "expression_statement" and \
            len(stmt.named_children) == 1 and stmt.named_children[0] == call
        fold = self._dirty_fold(src, stmt, texts[0]) if whole_stmt and texts and stmt is not None else None
        dirty = fold.dirty if fold is not None else ("true" if write_back else None)
        added_dirty = fold is None and write_back
        # A whole loop: for (i = 0; i < n; i++) [dirty(p[i]);] put_page(p[i]);
        if whole_stmt and stmt is not None and tmpl.loop and args:
            lp = self._loop(src, stmt, fold, args[0])
            if lp is not None:
                loop, array, count = lp
                t = tmpl.loop_dirty if dirty else tmpl.loop
                if t is not None:
                    new = self._fill(t, texts, args, dirty, array, count)
                    if new is not None:
                        return Edit(r.file, loop.start_byte, loop.end_byte,
                                    (self._wrap(src, loop, new) + ";").encode()), added_dirty
        t = tmpl.to_dirty if dirty else tmpl.to
        if t is None:
            if fold is not None:
                fold, dirty = None, None
                t = tmpl.to
            else:
                raise _Decline(f"{r.api}() at {r.file}:{r.line} cannot be made to dirty the pages")
        new = self._fill(t, texts, args, dirty, None, None)
        if new is None and fold is not None:
            # Not an lvalue: keep the dirtying statement and convert the release alone.
            fold, dirty = None, None
            new = self._fill(tmpl.to, texts, args, None, None, None)
        if new is None:
            raise _Decline(f"{r.api}({', '.join(texts)}) at {r.file}:{r.line}: `{texts[0] if texts else ''}` is not an "
                           "lvalue, so the release cannot dirty it")
        if fold is not None and stmt is not None:
            lead = src.data[src.line_start(stmt.start_byte) : stmt.start_byte].decode("utf-8")
            block = stmt.parent
            if block is not None and block.type == "compound_statement" and \
                    [c.id for c in block.children if c.type not in ("{", "}")] == [fold.stmt.id, stmt.id] and \
                    block.parent is not None and block.parent.type in ("for_statement", "while_statement") and \
                    block.parent.child_by_field_name("body") == block and \
                    src.data[src.line_start(block.start_byte) : block.start_byte].strip() and \
                    not src.data[src.line_start(block.end_byte - 1) : block.end_byte - 1].strip():
                # Folding leaves one statement: drop the braces (kernel style).
                start = block.start_byte
                while start > 0 and src.data[start - 1 : start] in (b" ", b"\t"):
                    start -= 1
                text = "\n" + lead + self._wrap(src, call, new) + ";"
                return Edit(r.file, start, block.end_byte, text.encode()), added_dirty
            ls = src.line_start(fold.stmt.start_byte)
            return Edit(r.file, ls, call.end_byte, (lead + self._wrap(src, call, new)).encode()), added_dirty
        name = call.child_by_field_name("function")
        assert name is not None
        if self._pure_rename(t, len(args)):
            renamed = t.split("(")[0]
            multi = call.start_point[0] != call.end_point[0]
            if multi or self._wrap(src, call, renamed + _text(call)[len(_text(name)):]).count("\n") == 0:
                return self._rename(src, call, name, renamed)[0], added_dirty
        return Edit(r.file, call.start_byte, call.end_byte, self._wrap(src, call, new).encode()), added_dirty

    @staticmethod
    def _pure_rename(template: str, nargs: int) -> bool:
        """Whether a template only renames the callee and keeps all `nargs` arguments in order."""
        m = re.fullmatch(r"(\w+)\((.*)\)", template)
        if not m:
            return False
        want = ", ".join(f"{{{i}}}" for i in range(nargs))
        return m.group(2) == want

    @staticmethod
    def _fill(template: str, texts: list[str], args: list[Node], dirty: str | None, array: str | None,
              count: str | None) -> str | None:
        """Instantiate a release template; None when `{&0}` needs an lvalue the argument is not."""
        def addr(i: int) -> str | None:
            """`&arg` for an lvalue argument `i`, else None."""
            if i >= len(args):
                return None
            a = args[i]
            if a.type in ("identifier", "subscript_expression", "field_expression"):
                return "&" + texts[i]
            if a.type == "pointer_expression" and _text(a).startswith("*"):
                inner = a.child_by_field_name("argument")
                return " ".join(_text(inner).split()) if inner is not None else None
            return None

        missing = False

        def sub(m: re.Match[str]) -> str:
            """Replace one `{…}` placeholder."""
            nonlocal missing
            k = m.group(1)
            if k.startswith("&"):
                v = addr(int(k[1:]))
            elif k.isdigit():
                v = texts[int(k)] if int(k) < len(texts) else None
            else:
                v = {"dirty": dirty, "array": array, "count": count}.get(k)
            if v is None:
                missing = True
                return ""
            return v

        out = re.sub(r"\{(&?\w+)\}", sub, template)
        return None if missing else out

    def _wrap(self, src: Source, node: Node, call: str) -> str:
        """`call` as it should replace `node`: on one line, or broken after commas and aligned to `(`.

        It is wrapped only when its line would grow past `max_line` (and past the original line).
        """
        ls = src.line_start(node.start_byte)
        lead = src.data[ls : node.start_byte].decode("utf-8")
        nl = src.data.find(b"\n", node.end_byte)
        tail = src.data[node.end_byte : nl if nl >= 0 else len(src.data)].decode("utf-8")
        first_nl = src.data.find(b"\n", ls)
        orig = _visual(src.data[ls : first_nl if first_nl >= 0 else len(src.data)].decode("utf-8"))
        if _visual(lead + call + tail) <= max(self.fx.max_line, orig):
            return call
        m = re.match(r"(\w+)\((.*)\)$", call)
        if not m:
            return call
        args = self._split_args(m.group(2))
        open_col = _visual(lead) + len(m.group(1)) + 1
        lines: list[str] = []
        cur = m.group(1) + "("
        base = _visual(lead)
        for i, a in enumerate(args):
            last = i == len(args) - 1
            piece = a + (")" + tail if last else ",")
            cand = cur + ("" if cur.endswith(("(", " ")) or not cur.strip() else " ") + piece
            if i > 0 and base + _visual(cand) > self.fx.max_line and cur.strip():
                lines.append(cur)
                cur = _indent(open_col) + piece
                base = 0
            else:
                cur = cand
        lines.append(cur)
        text = "\n".join(lines)
        return text[: len(text) - len(tail)] if tail else text

    @staticmethod
    def _split_args(text: str) -> list[str]:
        """Split an argument list's text at top-level commas."""
        out, depth, cur = [], 0, ""
        for ch in text:
            if ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth -= 1
            if ch == "," and depth == 0:
                out.append(cur.strip())
                cur = ""
            else:
                cur += ch
        if cur.strip():
            out.append(cur.strip())
        return out

    # -------------------------------------------------------------- helpers (releases elsewhere)

    def _references(self, names: set[str]) -> dict[str, set[str]]:
        """Files (relative) that mention each name as a word."""
        todo = sorted(n for n in names if n not in self._refs_cache)
        if todo:
            regex = r"\b(" + "|".join(re.escape(n) for n in todo) + r")\b"
            files = grep_files(self.root, regex)
            for n in todo:
                self._refs_cache[n] = set()
            rx = re.compile(regex.encode())
            for rel in sorted(files):
                data = self.source(rel).data
                for m in set(rx.findall(data)):
                    self._refs_cache[m.decode()].add(rel)
        return {n: self._refs_cache[n] for n in names}

    def helper_problem(self, hfile: str, hname: str, sharing: list[Site]) -> str | None:
        """Why release helper `hname` (in `hfile`) must not be converted for `sharing`, else None.

        The helper's pages come either from a parameter (then every caller must pass the pages of a
        site in `sharing`, and not pages it allocated) or from a struct field (then nothing else may
        store pages into that field in the files involved).
        """
        key = (hfile, hname, frozenset(_site_id(s) for s in sharing))
        if key in self._helper_cache:
            return self._helper_cache[key]
        why = self._helper_problem(hfile, hname, sharing)
        self._helper_cache[key] = why
        return why

    def _helper_problem(self, hfile: str, hname: str, sharing: list[Site]) -> str | None:
        """Uncached `helper_problem()`."""
        src = self.source(hfile)
        fdef = src.functions().get(hname)
        if fdef is None:
            return f"release helper {hname}() ({hfile}) does not parse: check by hand"
        params = [n for n, _ in function_params(fdef)]
        rels = {(r.line, r.column, r.api) for s in sharing for r in s.closure if r.file == hfile and r.function == hname}
        keys = {k for s in sharing if (k := expr_key(s.pages_arg)) is not None}
        param_idx: set[int] = set()
        fields: set[str] = set()
        for line, col, api in sorted(rels):
            call = src.call_at(line, col, api)
            if call is None:
                return f"no {api}() call at {hfile}:{line}: check by hand"
            a = _call_args(call)
            if not a:
                return f"{api}() at {hfile}:{line} has no argument"
            expr = strip_expr(_text(a[0]))
            root = expr_root(expr)
            if "->" in expr or "." in expr:
                fields.add(expr_key(expr) or "")
                continue
            if root in params:
                param_idx.add(params.index(root))
                continue
            # A local loaded from a field: `p = ctx->page;`
            src_field = None
            for n in _walk(fdef):
                if n.type == "assignment_expression" and strip_expr(_text(n.child_by_field_name("left"))) == root:
                    rhs = strip_expr(_text(n.child_by_field_name("right")))
                    if ("->" in rhs or "." in rhs) and not _is_call_expr(rhs):
                        src_field = expr_key(rhs)
                elif n.type == "init_declarator":
                    d = _declarator_name(n.child_by_field_name("declarator"))
                    v = n.child_by_field_name("value")
                    if d is not None and _text(d) == root and v is not None:
                        rhs = strip_expr(_text(v))
                        if ("->" in rhs or "." in rhs) and not _is_call_expr(rhs):
                            src_field = expr_key(rhs)
            if src_field:
                fields.add(src_field)
                continue
            return f"release helper {hname}() ({hfile}:{line}) releases `{_text(a[0])}`, whose origin is not known"
        refs = self._references({hname})[hname]
        files = set(refs) | {hfile} | {s.file for s in sharing}
        if param_idx:
            why = self._check_callers(hname, hfile, sorted(refs), sorted(param_idx), keys)
            if why:
                return why
        for f in sorted(fields):
            why = self._check_field(f, sorted(files), sharing)
            if why:
                return f"release helper {hname}() ({hfile}) releases pages from field `{f}`, but {why}"
        return None

    def _check_callers(self, hname: str, hfile: str, files: list[str], idx: list[int], keys: set[str]) -> str | None:
        """Why a caller of param-mode helper `hname` may hand it pages that were not gup'd, else None."""
        for rel in files:
            src = self.source(rel)
            if not src.utf8:
                return f"release helper {hname}() is referenced from {rel}, which is not UTF-8"
            for n in _walk(src.tree.root_node):
                if n.type in ("preproc_arg", "preproc_def") and re.search(rf"\b{re.escape(hname)}\b", _text(n)):
                    return f"release helper {hname}() is used in a macro at {rel}:{n.start_point[0] + 1}"
                if n.type != "identifier" or _text(n) != hname:
                    continue
                p = n.parent
                if p is not None and p.type == "function_declarator" and p.child_by_field_name("declarator") == n:
                    continue  # its definition or a prototype
                line = n.start_point[0] + 1
                if p is None or p.type != "call_expression" or p.child_by_field_name("function") != n:
                    return f"release helper {hname}() is also used as a function pointer at {rel}:{line}"
                caller = _enclosing(p, ("function_definition",))
                cname = function_name(caller) if caller is not None else None
                if caller is None or cname is None:
                    return f"release helper {hname}() is called at {rel}:{line} outside any function that parses"
                if cname == hname and rel == hfile:
                    continue
                a = _call_args(p)
                for i in idx:
                    if i >= len(a):
                        return f"release helper {hname}() is called with too few arguments at {rel}:{line}"
                    k = expr_key(_text(a[i]))
                    alloc = self._allocated_in(caller, k)
                    if alloc:
                        return (f"release helper {hname}() is shared with pages that were not gup'd: {cname}() "
                                f"({rel}:{line}) passes `{' '.join(_text(a[i]).split())}` from {alloc}")
                    if k not in keys:
                        return (f"release helper {hname}() is also called from {cname}() ({rel}:{line}) with "
                                f"`{' '.join(_text(a[i]).split())}`, not known to be gup'd pages")
        return None

    def _allocated_in(self, fdef: Node, key: str | None) -> str | None:
        """`alloc_page() at line N` when `fdef` stores an allocator's page (or extra reference) into `key`."""
        if key is None:
            return None
        for n in _walk(fdef):
            if n.type != "call_expression":
                continue
            fn = _text(n.child_by_field_name("function"))
            if fn in self.cat.allocators:
                p = n.parent
                while p is not None and p.type in ("cast_expression", "parenthesized_expression"):
                    p = p.parent
                lhs = None
                if p is not None and p.type == "assignment_expression":
                    lhs = _text(p.child_by_field_name("left"))
                elif p is not None and p.type == "init_declarator":
                    lhs = _text(p.child_by_field_name("declarator"))
                if lhs is not None and expr_key(lhs) == key:
                    return f"{fn}() at line {n.start_point[0] + 1}"
            elif fn in self.cat.extra_refs:
                a = _call_args(n)
                if a and expr_key(_text(a[0])) == key:
                    return f"{fn}() at line {n.start_point[0] + 1}"
        return None

    def _check_field(self, fname: str, files: list[str], sharing: list[Site]) -> str | None:
        """Why pages other than the sites' may be stored in field `fname` (in `files`), else None.

        Allowed stores: NULL/0, the array itself from an array allocator (`kmalloc_array()`), or the
        variable a site gup'd into. Any page stored into an element, or any allocator/extra-reference
        call on the field, means the field also holds pages that were not gup'd.
        """
        keys = {k for s in sharing if (k := expr_key(s.pages_arg)) is not None}
        name = re.escape(fname.encode())
        store = re.compile(rb"(?:->|\.)\s*" + name + rb"\s*(\[[^\]]*\])?\s*=(?!=)\s*([^;]*);")
        array_alloc = re.compile(r"^(?:\([^()]*\)\s*)?(?:" + "|".join(re.escape(x) for x in self.fx.array_allocators)
                                 + r")\s*\(")
        page_calls = re.compile(rb"\b(" + b"|".join(re.escape(n.encode()) for n in sorted(self.cat.allocators | self.cat.extra_refs))
                                + rb")\s*\(")
        field_ref = re.compile(rb"(?:->|\.)\s*" + name + rb"\b")
        for rel in files:
            data = self.source(rel).data
            for m in store.finditer(data):
                line = data.count(b"\n", 0, m.start()) + 1
                rhs = " ".join(m.group(2).decode("utf-8", "replace").split())
                if rhs in ("NULL", "0"):
                    continue
                if m.group(1) is None and (array_alloc.match(rhs) or expr_key(rhs) in keys):
                    continue
                return f"{rel}:{line} stores `{rhs[:60]}` there"
            for m in page_calls.finditer(data):
                start = max(data.rfind(b";", 0, m.start()), data.rfind(b"{", 0, m.start()), data.rfind(b"}", 0, m.start()))
                end = data.find(b";", m.end())
                if field_ref.search(data[start + 1 : end if end >= 0 else len(data)]):
                    line = data.count(b"\n", 0, m.start()) + 1
                    return f"{rel}:{line} puts {m.group(1).decode()}() pages there"
        return None

    # -------------------------------------------------------------- the whole plan

    def plan(self) -> Plan:
        """Decide every site and build the edits."""
        sites = list(self.report.sites)
        plan = Plan()
        by_loc: dict[tuple[str, int, int], list[Site]] = {}
        by_helper: dict[tuple[str, str], list[Site]] = {}
        for s in sites:
            for r in s.closure:
                by_loc.setdefault(_loc(r), []).append(s)
                if _is_helper(s, r) and r.function:
                    by_helper.setdefault((r.file, r.function), []).append(s)
        declined: dict[tuple[str, int, int], str] = {}
        cands: dict[tuple[str, int, int], Site] = {}
        for s in sites:
            if not self.selected(s):
                continue
            if s.status is Status.NO_CLOSURE_FOUND and s.ref_kind is RefKind.GET:
                declined[_site_id(s)] = self.site_reason(s) or "closure incomplete (status no-closure-found)"
            elif s.status is Status.RAW_CLOSURE:
                why = self.site_reason(s)
                if why:
                    declined[_site_id(s)] = why
                else:
                    cands[_site_id(s)] = s
        acquire_edits: dict[tuple[str, int, int], list[Edit]] = {}
        for sid, s in list(cands.items()):
            try:
                acquire_edits[sid] = self.acquire_edit(s)
            except _Decline as e:
                declined[sid] = str(e)
                del cands[sid]
        while True:
            changed = False
            # Releases shared with a site that is not converted.
            for sid, s in sorted(cands.items()):
                why = None
                for r in s.closure:
                    group = by_loc.get(_loc(r), [])
                    if _is_helper(s, r) and r.function:
                        group = group + by_helper.get((r.file, r.function), [])
                    for o in sorted(group, key=_site_id):
                        if _site_id(o) not in cands:
                            where = f"{r.function}()" if r.function else r.file
                            why = (f"release {r.api}() at {r.file}:{r.line} in {where} is shared with {o.file}:{o.line} "
                                   f"{o.api}() ({o.status.value}), which is not converted")
                            break
                    if why:
                        break
                if why:
                    declined[sid] = why
                    del cands[sid]
                    changed = True
            if changed:
                continue
            # Release helpers reached from elsewhere.
            for (hfile, hname), group in sorted(by_helper.items()):
                sharing = list({_site_id(s): s for s in group if _site_id(s) in cands}.values())
                if not sharing:
                    continue
                why = self.helper_problem(hfile, hname, sorted(sharing, key=_site_id))
                if why:
                    for s in sharing:
                        declined[_site_id(s)] = why
                        del cands[_site_id(s)]
                    changed = True
            if changed:
                continue
            # Build the release edits; a release that cannot be rewritten declines its sites.
            rel_edits: dict[tuple[str, int, int], tuple[Edit, bool]] = {}
            for loc, group in sorted(by_loc.items()):
                users = list({_site_id(s): s for s in group if _site_id(s) in cands}.values())
                if not users:
                    continue
                r = next(x for x in users[0].closure if _loc(x) == loc)
                write_back = any(s.write is True for s in users) and not self.function_dirties(r.file, r.function)
                try:
                    rel_edits[loc] = self.release_edit(r, write_back)
                except _Decline as e:
                    for s in users:
                        declined[_site_id(s)] = str(e)
                        del cands[_site_id(s)]
                    changed = True
            if changed:
                continue
            # Overlapping edits that differ decline the later site.
            owner: dict[tuple[str, int, int], list[tuple[str, int, int]]] = {}
            edits: dict[tuple[str, int, int, bytes], Edit] = {}
            for sid, s in sorted(cands.items()):
                for ed in acquire_edits[sid] + [rel_edits[_loc(r)][0] for r in s.closure]:
                    edits[(ed.file, ed.start, ed.end, ed.text)] = ed
                    owner.setdefault((ed.file, ed.start, ed.end), []).append(sid)
            clash = self._clash(list(edits.values()))
            if clash is not None:
                losers = sorted(set(owner.get((clash.file, clash.start, clash.end), [])))[-1:]
                line = self.source(clash.file).lines.line_of(clash.start)
                for sid in losers or sorted(cands):
                    declined[sid] = f"its edits overlap another conversion's at {clash.file}:{line}"
                    del cands[sid]
                continue
            plan.edits = sorted(edits.values(), key=lambda e: (e.file, e.start, e.end))
            for sid, s in sorted(cands.items()):
                added = sorted({f"{r.file}:{r.line}" for r in s.closure if rel_edits[_loc(r)][1]})
                new = self.cat.acquire[s.api].pin_counterpart
                n = len({_loc(r) for r in s.closure})
                note = f"-> {new}(), {n} release{'s' if n != 1 else ''} converted"
                if added:
                    note += (f"; write-back: the pages are written (FOLL_WRITE) and the old release did not dirty them, "
                             f"so the new release dirties them ({', '.join(added)})")
                plan.converted.append((s, note))
            break
        byid = {_site_id(s): s for s in sites}
        plan.declined = [(byid[sid], why) for sid, why in sorted(declined.items())]
        return plan

    @staticmethod
    def _clash(edits: list[Edit]) -> Edit | None:
        """An edit that overlaps another of the same file, if any."""
        by_file: dict[str, list[Edit]] = {}
        for e in edits:
            by_file.setdefault(e.file, []).append(e)
        for f in sorted(by_file):
            es = sorted(by_file[f], key=lambda e: (e.start, e.end))
            for a, b in pairwise(es):
                if b.start < a.end:
                    return b
        return None


# ---------------------------------------------------------------------------------- diff


def apply_edits(data: bytes, edits: list[Edit]) -> bytes:
    """`data` with non-overlapping `edits` applied."""
    out = bytearray()
    pos = 0
    for e in sorted(edits, key=lambda e: e.start):
        out += data[pos : e.start]
        out += e.text
        pos = e.end
    out += data[pos:]
    return bytes(out)


def unified_diff(root: Path, edits: list[Edit], sources: dict[str, bytes] | None = None) -> str:
    """One unified diff (`--- a/FILE` / `+++ b/FILE`, 3 lines of context) for all edits, files in order."""
    by_file: dict[str, list[Edit]] = {}
    for e in edits:
        by_file.setdefault(e.file, []).append(e)
    chunks: list[str] = []
    for rel in sorted(by_file):
        old = sources[rel] if sources and rel in sources else (root / rel).read_bytes()
        new = apply_edits(old, by_file[rel])
        a = old.decode("utf-8").splitlines(keepends=True)
        b = new.decode("utf-8").splitlines(keepends=True)
        for line in difflib.unified_diff(a, b, f"a/{rel}", f"b/{rel}", n=3):
            if line.startswith(("---", "+++")):
                line = line.rstrip("\n") + "\n"
            chunks.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(chunks)


# ---------------------------------------------------------------------------------- command


def _parser() -> argparse.ArgumentParser:
    """The `audit fix` argument parser; errors raise audit.cli.UsageError (exit 2)."""
    from audit.cli import UsageError

    class P(argparse.ArgumentParser):
        def error(self, message: str) -> None:  # type: ignore[override]
            """Raise UsageError instead of exiting."""
            raise UsageError(message)

    p = P(prog="audit fix", description="Print a unified diff converting raw gup closures to the pin API "
          "(pin_user_pages*/unpin_user_page*). Declined sites are listed on stderr with the reason.")
    p.add_argument("path", help="kernel source tree")
    p.add_argument("--select", metavar="ID[,ID..]", help="convert only sites reported under these rule ids")
    p.add_argument("--check", action="store_true", help="print nothing on stdout; exit 1 if any site would be converted")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    return p


def make_plan(root: Path, select: set[str] | None = None, workers: int | None = None,
              report: Report | None = None) -> Plan:
    """Audit `root` (unless `report` is given) and plan its conversion."""
    version = tree_version(root)
    if report is None:
        report = audit_tree(root, workers=workers)
    return Planner(root, report, version, catalogue.load(version), fix_rules(), select, workers).plan()


def cmd_fix(argv: list[str], out: TextIO, err: TextIO | None = None) -> int:
    """`audit fix PATH [--select ID..] [--check]`: the diff on `out`, converted/declined lines on stderr."""
    from audit.cli import UsageError

    err = sys.stderr if err is None else err
    args = _parser().parse_args(argv)
    select: set[str] | None = None
    if args.select:
        select = {x.strip() for x in args.select.split(",") if x.strip()}
        bad = sorted(select - set(rules.rule_by_id()))
        if bad:
            raise UsageError(f"unknown rule id(s): {', '.join(bad)} (see `audit rules`)")
    try:
        fx = fix_rules()
    except FixRulesError as e:
        raise UsageError(str(e)) from None
    root = Path(args.path)
    version = tree_version(root) if root.is_dir() else None
    report = audit_tree(root, shown_root=args.path, workers=args.jobs)
    planner = Planner(root, report, version, catalogue.load(version), fx, select, args.jobs)
    plan = planner.plan()
    for s, why in plan.declined:
        err.write(f"declined {s.file}:{s.line} {s.api}(): {why}\n")
    for s, note in plan.converted:
        err.write(f"converted {s.file}:{s.line} {s.api}() {note}\n")
    if args.check:
        for s, _ in plan.converted:
            out.write(f"{s.file}:{s.line}:{s.column}: {s.api}() can be converted to "
                      f"{planner.cat.acquire[s.api].pin_counterpart}()\n")
        return 1 if plan.converted else 0
    out.write(unified_diff(root, plan.edits, {rel: planner.source(rel).data for rel in {e.file for e in plan.edits}}))
    return 0


__all__ = ["Edit", "FixRules", "Plan", "Planner", "apply_edits", "cmd_fix", "fix_rules", "make_plan", "unified_diff"]
