"""Which sites `audit fix` converts and which it declines, and why (the policy).

A site is declined when its closure is incomplete, a release on it is shared with pages that were not
gup'd or with a site that is not converted, it is a legitimate FOLL_GET user (by class, by path, or
because it only wants the page's address under an MMU notifier), the function measures the pages'
reference counts (a pin changes what it measures), the tree has no pin API, or the source does not
have the shape the rewrite needs. Release helpers are converted once, and only when every caller
hands them pages of sites converted together.
"""

from __future__ import annotations

import os
import re

from audit.fixes.context import Role, TreeContext, acquire_call
from audit.fixes.ctext import (
    Decline,
    call_args,
    declarator_name,
    enclosing,
    expr_key,
    expr_root,
    function_name,
    function_params,
    is_call_expr,
    node_text,
    strip_expr,
)
from audit.classify import legitimate_get
from audit.model import RefKind, Release, Site, Status
from audit.parse import Node
from audit.sourcefile import calls_under, identifiers_under, nodes


def site_id(s: Site) -> tuple[str, int, int]:
    """Identity of a site: (file, line, column)."""
    return (s.file, s.line, s.column)


def is_helper(s: Site, r: Release) -> bool:
    """Whether release `r` of site `s` sits in a function other than the acquiring one."""
    return r.file != s.file or r.function != s.function


class Policy(Role):
    """Decides whether a site may be converted."""

    def __init__(self, ctx: TreeContext) -> None:
        """The policy over `ctx`."""
        super().__init__(ctx)
        self._helper_cache: dict[tuple[str, str, frozenset[tuple[str, int, int]]], str | None] = {}

    # -------------------------------------------------------------- per-site checks

    def site_reason(self, s: Site) -> str | None:
        """Why `s` (raw-closure or no-closure-found) cannot be converted on its own, else None."""
        none = self.ctx.pin_api()
        if none:
            return none
        legit = legitimate_get(s.file, s.klass)
        if legit:
            return legit
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
        if not self.ctx.available(api.pin_counterpart):
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

    def check_acquire(self, s: Site) -> None:
        """Decline (raise Decline) when the acquire call cannot be converted as found in the source."""
        ac = acquire_call(self, s)
        flags = ac.flags
        body = ac.fdef.child_by_field_name("body")
        get_flag = self.cat.get_flag
        for n in identifiers_under(body, get_flag) if body is not None else ():
            if not (flags.start_byte <= n.start_byte < flags.end_byte):
                raise Decline(f"{get_flag} is set outside the call (line {n.start_point[0] + 1}): convert by hand")
        self._check_escape(s, ac.call, ac.fdef, ac.pages)
        why = self.measures_refcount(s, ac.fdef, ac.pages)
        if why:
            raise Decline(why)

    def measures_refcount(self, s: Site, fdef: Node, pages: Node | None) -> str | None:
        """Why `s` is a test that measures the references it takes, else None.

        The acquiring function reads the reference count of the pages it took (`page_ref_count()`,
        `page_count()`, … — `refcount_reads` in `[fix]`): what it measures is the FOLL_GET reference,
        and a pin (GUP_PIN_COUNTING_BIAS) changes the count it checks.
        """
        key = expr_key(node_text(pages)) if pages is not None else None
        if key is None or not self.fx.refcount_reads:
            return None
        for fn, n in calls_under(fdef, self.fx.refcount_reads):
            a = call_args(n)
            if a and expr_key(node_text(a[0])) == key:
                return (f"{s.function}() reads the pages' reference count ({fn}() at line {n.start_point[0] + 1}): "
                        "it measures FOLL_GET references, and a pin would change what it measures (a test)")
        return None

    def _check_escape(self, s: Site, call: Node, fdef: Node, pages: Node | None) -> None:
        """Decline when the pages outlive the acquiring function but every release found is inside it.

        Pages kept in a struct field, a parameter or a global are normally released elsewhere (a
        teardown, a completion). When the closure has no release outside the acquiring function,
        the success path's release was not found, and converting what was found would leave it
        dropping pins with put_page().
        """
        if any(is_helper(s, r) for r in s.closure) or pages is None:
            return
        where = self.escape(fdef, node_text(pages))
        if where:
            raise Decline(f"the pages are kept in {where} but every release found is in {s.function}(): "
                           "the success path's release was not found")
        uses = self._identity_only(s, call, fdef, pages)
        marker = self._notifier(s.file) if uses is not None else None
        if marker:
            raise Decline(f"legitimate FOLL_GET user: {s.function}() uses only the page's address "
                           f"({', '.join(uses or ['nothing'])}) and drops it, and {marker} keeps the mapping coherent "
                           "(pin_user_pages.rst case 3)")

    def _identity_only(self, s: Site, call: Node, fdef: Node, pages: Node) -> list[str] | None:
        """The identity calls (`page_to_phys()`) that are the only uses of the pages in `fdef`, else None."""
        key = expr_key(node_text(pages))
        body = fdef.child_by_field_name("body")
        if key is None or body is None:
            return None
        releases = [src_call for r in s.closure
                    if (src_call := self.source(r.file).call_at(r.line, r.column, r.api)) is not None]
        skip = [(call.start_byte, call.end_byte)] + [(c.start_byte, c.end_byte) for c in releases]
        seen: set[str] = set()
        for cap, n in nodes(body, "fix/names"):
            if cap not in ("name.ident", "name.field") or node_text(n) != key:
                continue
            if any(a <= n.start_byte < b for a, b in skip):
                continue
            p = n.parent
            if p is not None and p.type in ("declaration", "init_declarator", "pointer_declarator", "array_declarator"):
                continue
            c = enclosing(n, ("call_expression", "expression_statement", "compound_statement"))
            if c is None or c.type != "call_expression":
                return None
            fn = node_text(c.child_by_field_name("function"))
            if fn not in self.fx.identity_uses:
                return None
            seen.add(f"{fn}()")
        return sorted(seen)

    def _notifier(self, rel: str) -> str | None:
        """`mmu_notifier_ops in FILE` when the site's folder registers an MMU notifier, else None."""
        if not self.fx.case3_markers:
            return None
        folder = os.path.dirname(rel)
        rx = re.compile(rb"\b(" + b"|".join(re.escape(m.encode()) for m in self.fx.case3_markers) + rb")\b")
        for rel_n in self.ctx.listdir(folder):
            m = rx.search(self.source(rel_n).src)
            if m:
                return f"{m.group(1).decode()} in {rel_n}"
        return None

    def escape(self, fdef: Node, pages_text: str) -> str | None:
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
        for cap, n in nodes(body, "fix/values"):
            if cap == "value.init":
                d = declarator_name(n.child_by_field_name("declarator"))
                v = n.child_by_field_name("value")
                if v is not None and v.type != "initializer_list":
                    assigns.append((node_text(d), node_text(v)))
            elif cap == "value.decl":
                for c in n.children_by_field_name("declarator"):
                    d = declarator_name(c)
                    if d is not None and node_text(d) == root:
                        declared = True
                        inner = c.child_by_field_name("declarator") if c.type == "init_declarator" else c
                        pointer = inner is not None and inner.type == "pointer_declarator"
            elif cap == "value.assign":
                assigns.append((node_text(n.child_by_field_name("left")), node_text(n.child_by_field_name("right"))))
            elif cap == "value.return":
                if any(node_text(c) == root for c in n.named_children if c.type == "identifier"):
                    return f"the return value (`{root}`)"
            elif cap == "value.call":
                h = self.cat.handoffs.get(node_text(n.child_by_field_name("function")))
                a = call_args(n)
                if h is not None and h.src < len(a) and expr_root(node_text(a[h.src])) == root:
                    return f"a {h.carrier} ({node_text(n.child_by_field_name('function'))}() line {n.start_point[0] + 1})"
        if not declared:
            return f"`{root}` (not a local)"
        for lhs, rhs in assigns:
            if expr_root(lhs) == root and strip_expr(lhs) == root:
                if not pointer:
                    continue
                r = strip_expr(rhs)
                if not is_call_expr(rhs) and ("->" in r or expr_root(r) in params):
                    return f"`{root} = {' '.join(rhs.split())}`"
            elif expr_root(strip_expr(rhs)) == root and not is_call_expr(rhs):
                lroot = expr_root(lhs)
                if "->" in lhs or lroot in params:
                    return f"`{' '.join(lhs.split())}`"
        return None

    def function_dirties(self, file: str, function: str | None) -> bool:
        """Whether `function` in `file` calls any dirtying API (its releases then already dirty)."""
        if function is None:
            return False
        f = self.source(file).definition(function)
        if f is None:
            return False
        return next(calls_under(f, self.cat.dirtying), None) is not None

    def function_unpins(self, file: str, function: str | None) -> bool:
        """Whether `function` in `file` (or the file, when unknown) calls a pin-aware or either-kind release."""
        src = self.source(file)
        f = src.definition(function) if function else None
        scope = f if f is not None else src.tree.root_node
        names = {n for n, api in self.cat.release.items() if api.kind is not RefKind.GET}
        return next(calls_under(scope, names), None) is not None

    # -------------------------------------------------------------- helpers (releases elsewhere)

    def _references(self, hname: str, hfile: str, fdef: Node) -> set[str]:
        """The files that may call helper `hname`: its own file when it is `static`, else every file naming it."""
        if any(c.type == "storage_class_specifier" and node_text(c) == "static" for c in fdef.children):
            return {hfile}
        return self.ctx.references({hname})[hname]

    def helper_problem(self, hfile: str, hname: str, sharing: list[Site]) -> str | None:
        """Why release helper `hname` (in `hfile`) must not be converted for `sharing`, else None.

        The helper's pages come either from a parameter (then every caller must pass the pages of a
        site in `sharing`, and not pages it allocated) or from a struct field (then nothing else may
        store pages into that field in the files involved).
        """
        key = (hfile, hname, frozenset(site_id(s) for s in sharing))
        if key in self._helper_cache:
            return self._helper_cache[key]
        why = self._helper_problem(hfile, hname, sharing)
        self._helper_cache[key] = why
        return why

    def _helper_problem(self, hfile: str, hname: str, sharing: list[Site]) -> str | None:
        """Uncached `helper_problem()`."""
        src = self.source(hfile)
        fdef = src.definition(hname)
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
            a = call_args(call)
            if not a:
                return f"{api}() at {hfile}:{line} has no argument"
            expr = strip_expr(node_text(a[0]))
            root = expr_root(expr)
            if "->" in expr or "." in expr:
                fields.add(expr_key(expr) or "")
                continue
            if root in params:
                param_idx.add(params.index(root))
                continue
            # A local loaded from a field: `p = ctx->page;`
            src_field = None
            for cap, n in nodes(fdef, "fix/values"):
                if cap == "value.assign" and strip_expr(node_text(n.child_by_field_name("left"))) == root:
                    rhs = strip_expr(node_text(n.child_by_field_name("right")))
                    if ("->" in rhs or "." in rhs) and not is_call_expr(rhs):
                        src_field = expr_key(rhs)
                elif cap == "value.init":
                    d = declarator_name(n.child_by_field_name("declarator"))
                    v = n.child_by_field_name("value")
                    if d is not None and node_text(d) == root and v is not None:
                        rhs = strip_expr(node_text(v))
                        if ("->" in rhs or "." in rhs) and not is_call_expr(rhs):
                            src_field = expr_key(rhs)
            if src_field:
                fields.add(src_field)
                continue
            return f"release helper {hname}() ({hfile}:{line}) releases `{node_text(a[0])}`, whose origin is not known"
        refs = self._references(hname, hfile, fdef)
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
            for cap, n in nodes(src.tree.root_node, "fix/names"):
                if cap in ("name.macro", "name.macro_text") and re.search(rf"\b{re.escape(hname)}\b", node_text(n)):
                    return f"release helper {hname}() is used in a macro at {rel}:{n.start_point[0] + 1}"
                if cap != "name.ident" or node_text(n) != hname:
                    continue
                p = n.parent
                if p is not None and p.type == "function_declarator" and p.child_by_field_name("declarator") == n:
                    continue  # its definition or a prototype
                line = n.start_point[0] + 1
                if p is None or p.type != "call_expression" or p.child_by_field_name("function") != n:
                    return f"release helper {hname}() is also used as a function pointer at {rel}:{line}"
                caller = enclosing(p, ("function_definition",))
                cname = function_name(caller) if caller is not None else None
                if caller is None or cname is None:
                    return f"release helper {hname}() is called at {rel}:{line} outside any function that parses"
                if cname == hname and rel == hfile:
                    continue
                a = call_args(p)
                for i in idx:
                    if i >= len(a):
                        return f"release helper {hname}() is called with too few arguments at {rel}:{line}"
                    k = expr_key(node_text(a[i]))
                    alloc = self._allocated_in(caller, k)
                    if alloc:
                        return (f"release helper {hname}() is shared with pages that were not gup'd: {cname}() "
                                f"({rel}:{line}) passes `{' '.join(node_text(a[i]).split())}` from {alloc}")
                    if k not in keys:
                        return (f"release helper {hname}() is also called from {cname}() ({rel}:{line}) with "
                                f"`{' '.join(node_text(a[i]).split())}`, not known to be gup'd pages")
        return None

    def _allocated_in(self, fdef: Node, key: str | None) -> str | None:
        """`alloc_page() at line N` when `fdef` stores an allocator's page (or extra reference) into `key`."""
        if key is None:
            return None
        for fn, n in calls_under(fdef, self.cat.allocators | self.cat.extra_refs):
            if fn in self.cat.allocators:
                p = n.parent
                while p is not None and p.type in ("cast_expression", "parenthesized_expression"):
                    p = p.parent
                lhs = None
                if p is not None and p.type == "assignment_expression":
                    lhs = node_text(p.child_by_field_name("left"))
                elif p is not None and p.type == "init_declarator":
                    lhs = node_text(p.child_by_field_name("declarator"))
                if lhs is not None and expr_key(lhs) == key:
                    return f"{fn}() at line {n.start_point[0] + 1}"
            elif fn in self.cat.extra_refs:
                a = call_args(n)
                if a and expr_key(node_text(a[0])) == key:
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
            data = self.source(rel).src
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
