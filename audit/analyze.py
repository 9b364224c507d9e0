"""Per acquire site: what the acquire takes, where its pages are released, and the site's status.

For each acquire call: the catalogue form its arguments match, the reference kind its flags choose,
the value that receives the pages (a root, audit/roots.py), then the closure search
(audit/search.py), the path walk of the acquiring function (audit/paths.py) and the checks in the
callers (audit/contexts.py). Pure: facts and catalogue in, Sites out.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import partial

from audit import contexts
from audit.callee import CalleeEffects
from audit.catalogue import AcquireApi, Catalogue, Form
from audit.conditions import atoms
from audit.conditions import parse as parse_condition
from audit.counts import HelperCount, helper_count, helper_member_count, loop_bound, unsigned_names
from audit.flowfacts import SIGN_TESTS, flow_facts
from audit.index import Index, Lookup
from audit.model import Call, Defect, Evidence, FileFacts, FuncInfo, RefKind, Release, Site, Status, Wrapper
from audit.paths import TESTED_AT_CALL, Acquire, Teardown, feasible_calls, member_key, walk
from audit.cexpr import IDENT, constant_truth, iterator_macro
from audit.roots import (BASE_SPLIT, FIELDS, MEMBER_PATH, MEMBER_TAIL, NULLS, Root, access_path, accessors,
                         array_allocation, called_name, matches, refers_to, root_of, strip_expr)
from audit.search import Search, SiteContext
from audit.store import FactStore
from audit.version import Version
from audit.wrappers import Out, field_out, wrapper_callers, wrapper_out


__all__ = ["Analyzer", "Index", "Root", "access_path", "root_of"]


@dataclass(frozen=True)
class Taken:
    """What one acquire call takes, read from its arguments."""

    form: Form | None
    ref: RefKind
    flags_text: str
    pages_arg: str | None
    write: bool | None
    root: Root | None
    gap: bool
    evidence: tuple[Evidence, ...]


class Analyzer:
    """Finds acquire sites and follows each one's pages to their releases."""

    def __init__(self, facts: Iterable[FileFacts], catalogue: Catalogue, version: Version | None,
                 store: FactStore) -> None:
        self.cat = catalogue
        self.version = version
        self.ix = Index.build(facts)
        self.store = store
        self.look = Lookup(self.ix, store)
        self.wrappers_seen: dict[tuple[str, str, str], str] = {}
        """(file, function, "acquire"|"release") -> the API a wrapper the searches went through wraps."""
        self.exits: dict[tuple[str, int, int], tuple[bool, str, bool, frozenset[str]]] = {}
        """Acquire call (file, line, column) -> what the walk of its function says its callers get
        beyond the pages: whether an errno exit leaves pages in their struct or array
        (`PathResult.kept_on_error`), the pointer parameter a `return 0` after a short pin
        reports the count through (`PathResult.count_out`, '' when none), whether its errno
        exits release what it took and none leaves any held, and the pointer parameters every exit
        that returns the pages (or their count) sets through (`PathResult.set_when_held`)."""
        self._alias_cache: dict[tuple[str, str, Root], tuple[set[str], list[tuple[str, str, int]]]] = {}
        self._sign_only: dict[tuple[str, str], bool] = {}
        """(file, function) -> whether its callers test its result for 0 or an errno only."""
        self._pin_choice = frozenset(catalogue.pin_flags) | frozenset(catalogue.pin_predicates)
        self._release_names = frozenset(catalogue.release)
        self.callees = CalleeEffects(self)
        """What called functions do with the pages they are handed (memoised summaries)."""

    # ------------------------------------------------------------------ acquire sites

    def shadowed(self, path: str, name: str) -> bool:
        """A file-local static function of an API's name outside the API's home shadows the API."""
        return (path, name) in self.ix.statics and not path.startswith(self.cat.api_homes)

    def sites(self, only: list[str] | None = None) -> list[Site]:
        """Every acquire call site in the prefiltered files (or in the files `only`), analysed."""
        out = []
        # The acquire functions of each file are parsed first (once, by whoever analyses the file);
        # snapshot them: the closure search adds facts to the index as it parses more functions.
        files = sorted(self.store.hits) if only is None else only
        for path in files:
            self.look.take(self.store.acquire_facts(path))
        acquires = [
            (path, c) for path in files for ff in list(self.ix.files[path]) for c in ff.calls
            if c.name in self.cat.acquire
        ]
        for path, c in acquires:
            if self.shadowed(path, c.name):
                continue
            site = self.site(path, c, self.cat.acquire[c.name])
            if site is not None:
                out.append(site)
        out.sort(key=lambda s: (s.file, s.line, s.column))
        return out

    def flag_values(self, path: str, func: str | None, text: str, line: int) -> list[str]:
        """The text of a flags argument, with a plain variable resolved through its assignments."""
        t = text.strip()
        if func is not None and IDENT.fullmatch(t) and not t.startswith("FOLL_"):
            vals = [rhs for lhs, rhs, ln in self.ix.assigns_of((path, func)) if lhs == t and ln <= line]
            if vals:
                return vals
        return [t]

    def _write(self, path: str, c: Call, form: Form) -> bool | None:
        if form.write is not None and form.write < len(c.args):
            return constant_truth(c.args[form.write])
        if form.flags is not None and form.flags < len(c.args):
            vals = self.flag_values(path, c.func, c.args[form.flags], c.span.line)
            has = [self.cat.write_flag in v for v in vals]
            cond = any("?" in v for v in vals)
            if all(has) and not cond:
                return True
            if not any(has) and all(re.fullmatch(r"[\sA-Z_|0-9()]*", v) for v in vals):
                return False
            return None
        return None

    def taken(self, path: str, c: Call, api: AcquireApi) -> Taken | None:
        """Read the acquire call: None for a call that takes no reference (follow_page() without FOLL_GET)."""
        form = api.form_for(len(c.args), self.version)
        ev: list[Evidence] = []
        flags_text = ""
        if form is not None and form.flags is not None and form.flags < len(c.args):
            flags_text = " ".join(self.flag_values(path, c.func, c.args[form.flags], c.span.line))
        if api.needs_flag and api.needs_flag not in flags_text and not re.search(r"\b[a-z_]\w*\b", flags_text):
            return None  # follow_page() with constant flags and no FOLL_GET takes no reference
        ref = api.ref
        if self.cat.pin_flag in flags_text.replace("FOLL_PIN_", ""):
            ref = RefKind.PIN
        elif self.cat.get_flag in flags_text and api.ref is RefKind.GET:
            ref = RefKind.GET
        if c.dead:
            ev.append(Evidence(path, c.span.line, "call is under #if 0 (dead code)"))
        pages_arg: str | None = None
        write: bool | None = None
        root: Root | None = None
        tags = self.ix.tags_for(path, c.func)
        if form is None:
            ev.append(Evidence(path, c.span.line, f"{c.name}() called with {len(c.args)} arguments: a form "
                               "rules/catalogue/apis.toml does not know; pages not followed"))
            return Taken(None, ref, flags_text, None, None, None, True, tuple(ev))
        write = self._write(path, c, form)
        if form.pages is None:
            if c.lhs:
                root = root_of(c.lhs, tags, path)
                ev.append(Evidence(path, c.span.line, f"{c.name}() returns the page, stored in `{c.lhs}`"))
            elif c.returned:
                ev.append(Evidence(path, c.span.line, f"{c.name}() returns the page to the caller"))
        elif form.pages < len(c.args):
            pages_arg = c.args[form.pages]
            if strip_expr(pages_arg) in NULLS or pages_arg.strip() in NULLS:
                pages_arg = None
            else:
                root = root_of(pages_arg, tags, path)
                what = {"bio": "the bio's bvecs", "sg": "the sg table", "pointer": "an array it allocates"}.get(
                    api.carrier or "", f"`{pages_arg}`")
                ev.append(Evidence(path, c.span.line, f"{c.name}() fills {what} with {ref.value.upper()} references"))
        return Taken(form, ref, flags_text, pages_arg, write, root, False, tuple(ev))

    def site(self, path: str, c: Call, api: AcquireApi) -> Site | None:
        """Analyse one acquire call."""
        t = self.taken(path, c, api)
        if t is None:
            return None
        form, root = t.form, t.root
        ev = list(t.evidence)
        base = dict(
            file=path, line=c.span.line, column=c.span.column, function=c.func, api=c.name, ref_kind=t.ref,
            pages_arg=t.pages_arg, write=t.write, call_text=f"{c.name}({', '.join(c.args)})", width=len(c.name),
            implementation=c.func in self.cat.acquire, catalogue_gap=t.gap,
        )
        empty = self.holds_nothing(path, c, form, t.pages_arg)
        if empty is not None:
            status, why = empty
            return Site(status=status, closure=(), evidence=tuple(ev + why), **base)  # type: ignore[arg-type]
        flags = contexts.pin_choice_names(self, path, c)
        ctx = SiteContext(path, c, _root_text(c, form) if form is not None else "", flags, self._pin_choice | flags,
                          t.ref, contexts.pin_choice_names(self, path, c, guards=False),
                          contexts.pin_polarity(self, path, c), self.cat.transparent_conditions)
        search = Search(self, ctx)
        releases, chain, reach = search.run(root) if root is not None else (
            [], [], "the pages value could not be named; no release searched")
        api_impl = c.func if c.func in self.cat.acquire else search.implements
        if api_impl is not None and api_impl != c.func:
            base["implementation"] = True
        releases = self._feasible(releases, path, c.func or "", chain, t.ref)
        defects: tuple[Defect, ...] = ()
        short_only: frozenset[tuple[str, int, int]] = frozenset()
        r_returned: frozenset[str] = frozenset()
        if root is not None and form is not None:
            releases, defects, pruned, short_only, r_returned = self.paths(path, c, form, root, releases)
            chain = chain + pruned
        defects += self._acquire_wrapper(path, c, form, root, releases, r_returned)
        passthrough = self._passthrough(path, c, api, form)
        status = self.status(t.ref, releases, passthrough)
        if passthrough and form is not None and form.flags is not None:
            defects += contexts.pinned_by_callers(self, ctx, c.args[form.flags], releases)
        if passthrough and len({r.kind for r in releases} - {RefKind.NONE}) > 1:
            ev.append(Evidence(path, c.span.line, f"gup_flags come from {c.func}()'s caller: either release kind is expected"))
        ev.extend(chain)
        closure = tuple(releases)
        if c.func in self.cat.acquire and status in (Status.RAW_CLOSURE, Status.CONVERTED) \
                and all((r.file, r.function) == (path, c.func) for r in releases):
            # The body of a gup API itself: its pages go to the API's callers, which are sites of
            # their own; what the body releases itself (its failure's clean-up) is not their closure.
            ev.extend(Evidence(r.file, r.line, f"{r.api}() in {r.function}() releases them only inside the "
                               f"implementation (on its way back to {api_impl}()'s callers)") for r in releases)
            status, closure = Status.NO_CLOSURE_FOUND, ()
        if status is Status.NO_CLOSURE_FOUND:
            ev.append(Evidence(path, c.span.line, reach))
            if api_impl is not None:
                ev.append(Evidence(path, c.span.line, f"this is the implementation of {api_impl}(): its pages go back "
                                   f"to {api_impl}()'s callers, which are audited as sites of their own"))
        # Written for sure, or under a condition (`writeable ? FOLL_WRITE : 0`, or a write argument
        # that is not a constant: `rw == READ`, `direction == DMA_FROM_DEVICE`): some calls write.
        by_arg = t.write is None and t.form is not None and t.form.write is not None
        may_write = t.write is True or (t.write is None and self.cat.write_flag in t.flags_text) or by_arg
        if may_write and releases and status in (Status.RAW_CLOSURE, Status.CONVERTED):
            # Kept through a pointer (`obj->userptr.pvec = pvec`), so past this function (a local
            # struct's field, `iter.pages = pages`, is not).
            # A local that points into a struct's array (`pages = ttm->pages + pinned`) keeps them there too.
            kept = root is not None and ("->" in (t.pages_arg or c.lhs or "") if root.kind == "field" else
                                         any("->" in lhs for lhs, _, _ in self.aliases(path, c.func or "", root)[1])
                                         or self._points_into_struct(path, c.func or "", root.name))
            by_caller = contexts.dirty_lost_by_caller(self, path, c, releases, t.flags_text)
            defects += by_caller if by_caller is not None else \
                contexts.dirty_lost(self, path, c, releases, short_only, kept, by_arg)
        return Site(status=status, closure=closure, evidence=tuple(ev), defects=defects,
                    **base)  # type: ignore[arg-type]

    def holds_nothing(self, path: str, c: Call, form: Form | None, pages_arg: str | None
                      ) -> tuple[Status, list[Evidence]] | None:
        """A call whose pages are not followed: a kernel-only extraction or a fault-in only
        (no-pages), or a call outside any function (no-closure-found). None for the others."""
        kernel = contexts.kernel_iterator(self, path, c) if c.name in self.cat.extraction else None
        if kernel is not None:
            return Status.NO_PAGES, [
                Evidence(path, c.span.line, kernel),
                Evidence(path, c.span.line, f"{c.name}() only lists the pages of a kernel iterator: "
                         "no reference is taken, nothing is held")]
        if form is not None and form.pages is not None and pages_arg is None:
            return Status.NO_PAGES, [Evidence(path, c.span.line, "no pages array passed: fault-in only, nothing is held")]
        if c.func is None:
            return Status.NO_CLOSURE_FOUND, [
                Evidence(path, c.span.line, "call outside any function the parser could find; pages not followed")]
        return None

    def _acquire_wrapper(self, path: str, c: Call, form: Form | None, root: Root | None, releases: list[Release],
                         r_returned: frozenset[str]) -> tuple[Defect, ...]:
        """The pages leave through a parameter, a field of a parameter or the return value
        (released, if at all, only on error paths here): an acquire wrapper, whose callers are
        walked as acquires (audit/wrappers.py)."""
        if root is None or root.kind not in ("local", "field") or c.func is None or (
                releases and all(r.function == c.func and r.file == path for r in releases)):
            return ()
        fi_a = self.look.func(path, c.func)
        if fi_a is None:
            return ()
        cnt = c.args[form.count] if form is not None and form.count is not None and form.count < len(c.args) else None
        if root.kind == "field":
            # Straight into a field of a struct the function was handed (`&umem->pgs[0]`).
            pi = form.pages if form is not None else None
            out = field_out(self, path, fi_a, c.args[pi], set(r_returned), cnt) \
                if pi is not None and pi < len(c.args) and c.func not in self.cat.acquire else None
            if out is None:
                return ()
            self.wrappers_seen.setdefault((path, c.func, "acquire"), c.name)
            return wrapper_callers(self, path, fi_a, self._with_exits(out, path, c, fi_a), releases)
        out = wrapper_out(self, path, fi_a, root, c.returned, set(r_returned), cnt, c.name)
        if out is not None:
            out = self._with_exits(out, path, c, fi_a)
        if out is not None or root.name in fi_a.params or c.returned or self.returns(path, c.func, {root.name}, root):
            self.wrappers_seen.setdefault((path, c.func, "acquire"), c.name)
        if out is None or c.func in self.cat.acquire:
            return ()
        return wrapper_callers(self, path, fi_a, out, releases)

    def _with_exits(self, out: Out, path: str, c: Call, fi: FuncInfo) -> Out:
        """`out` with what the walk of the wrapper's acquire said of its exits (`exits`)."""
        kept, count_out, released, held = self.exits.get((path, c.span.line, c.span.column),
                                                         (False, "", False, frozenset()))
        return replace(out, kept_on_error=kept, released_on_error=released,
                       count_out=fi.params.index(count_out) if count_out in fi.params else None,
                       held=tuple(i for i, p in enumerate(fi.params) if p and p in held))

    def _promoted(self, path: str, fl, c: Call, form: Form) -> frozenset[str]:  # type: ignore[no-untyped-def]
        """The requested count (blanks removed) when C converts the signed variable holding the
        acquire's result to unsigned in a comparison with it (`int ret` against `size_t nr`, a
        local or a struct member): an errno there compares as a huge count."""
        res = (c.lhs or "").strip()
        types = dict(fl.types)
        if res not in types or form.count is None or form.count >= len(c.args):
            return frozenset()
        cnt = "".join(c.args[form.count].split())
        if IDENT.fullmatch(cnt):
            ctypes = frozenset({types[cnt]}) if cnt in types else frozenset()
        elif MEMBER_PATH.fullmatch(cnt):
            ctypes = self.store.member_types(path, FIELDS.findall(cnt)[-1])
        else:
            ctypes = frozenset()
        ok = bool(ctypes) and all(self.cat.converts_to_unsigned(types[res], t) for t in ctypes)
        return frozenset({cnt}) if ok else frozenset()

    def teardowns(self, path: str, func: str, releases: list[Release], requested: str = "") -> dict[str, Teardown]:
        """The closure's releases in other functions that an error exit of `func` may leave to
        release again (audit/paths.py): by the count's path without its base (`data.op_nents`) for a
        release in a loop bounded by a struct count (`for (i = 0; i < rm->data.op_nents; i++)`),
        the line being the loop's first call given the released entry (an `if (!zcopy)
        __free_page(x); else put_page(x);` teardown releases it on either arm); by `@member` for a
        release of what a struct member holds (`page = sg_page(ao->op_sg); unpin_…(&page, …)`).
        Only looked for when `func` itself releases in a loop over a struct count, or hands pages
        to a carrier and releases; or when the acquire's count, `requested`, is a struct member
        (`buf->nr_pages`) or is given to one: then also a release of that member's count of pages
        (an array release's count or its loop's bound), which a short pin the struct is not told of
        over-counts."""
        out: dict[str, Teardown] = {}
        own = self.ix.flows.get((path, func))
        if own is None:
            return out
        counted = any(n.loop >= 0 and member_key(loop_bound(own, n.loop) or "")
                      and any(x.name in self.cat.release for x in n.calls) for n in own.nodes)
        carried = any(x.name in self.cat.handoffs for n in own.nodes for x in n.calls) and any(
            x.name in self.cat.release for n in own.nodes for x in n.calls)
        # The struct count members that hold the requested count: the count argument itself, or a
        # member given it here (`buf->nr_pages = n`).
        req = " ".join(requested.split())
        req_keys = {member_key(requested)} | {member_key(lhs) for n in own.nodes for lhs, rhs in n.assigns
                                              if req and " ".join(rhs.split()) == req}
        req_keys.discard("")
        if not counted and not carried and not req_keys:
            return out
        for r, fl, node, rc in self._other_releases(path, func, releases):
            rel = self.cat.release[rc.name]
            arg = "".join(rc.args[rel.arg].split())
            if req_keys:
                count = rc.args[rel.arg + 1] if rel.shape == "array" and rel.arg + 1 < len(rc.args) else \
                    loop_bound(fl, node.loop) or "" if node.loop >= 0 else ""
                if member_key(count) in req_keys:
                    out.setdefault(member_key(count), Teardown(r.file, rc.line, rc.column, r.function, r.api,
                                                               count.strip()))
            if not counted and not carried:
                continue
            if carried:
                texts = [strip_expr(arg)] + [rhs for n in fl.nodes for lhs, rhs in n.assigns
                                             if lhs.strip() == strip_expr(arg)]
                m = next((m for t in texts if (m := MEMBER_TAIL.search("".join(t.split()))) is not None), None)
                if m is not None:
                    out.setdefault("@" + m.group(1), Teardown(r.file, rc.line, rc.column, r.function, r.api,
                                                              m.group(1)))
            bound = loop_bound(fl, node.loop) or "" if node.loop >= 0 else ""
            if counted and member_key(bound):
                first = min((x for n in fl.nodes if n.loop == node.loop for x in n.calls
                             if any("".join(a.split()) == arg for a in x.args)), key=lambda x: (x.line, x.column))
                out.setdefault(member_key(bound), Teardown(r.file, first.line, first.column, r.function, r.api,
                                                           bound))
        return out

    def _callers_test_sign(self, path: str, func: str) -> bool:
        """Whether `func` has callers, and each stores its result in a variable that it then only
        tests for 0 or an errno (`if (err)`, `if (ret < 0)`, returning it is fine): none compares it
        with a count, copies it, or passes it on. A short count it returns is then lost."""
        key = (path, func)
        got = self._sign_only.get(key)
        if got is None:
            got = self._sign_only[key] = self._sign_only_callers(path, func)
        return got

    def _sign_only_callers(self, path: str, func: str) -> bool:
        callers = self.look.callers(func, path)
        if not callers:
            return False
        for cp, cc in callers:
            lhs = (cc.lhs or "").strip()
            fl = self.look.flow(cp, cc.func, frozenset({func})) if cc.func else None
            if fl is None or not IDENT.fullmatch(lhs):
                return False
            signs = {lhs + test for test in SIGN_TESTS}
            for n in fl.nodes:
                if n.kind in ("cond", "loop") and any(lhs in IDENT.findall(a) and a not in signs for a in
                                                      atoms(parse_condition(n.text, self.cat.transparent_conditions))):
                    return False
                if any(lhs in IDENT.findall(rhs) and lhs2.strip() != lhs for lhs2, rhs in n.assigns):
                    return False
                if any(x.name != func and any(lhs in IDENT.findall(a) for a in x.args) for x in n.calls):
                    return False
        return True

    def _other_releases(self, path: str, func: str, releases: list[Release]):  # type: ignore[no-untyped-def]
        """(release, its function's flow, the flow node and call) of the catalogue releases of the
        closure in functions other than `func`."""
        for r in releases:
            if r.hops == 0 or not r.function or (r.file, r.function) == (path, func):
                continue
            fl = self.look.flow(r.file, r.function, self._release_names)
            if fl is None:
                continue
            for node in fl.nodes:
                rc = next((x for x in node.calls if x.line == r.line and x.column == r.column), None)
                if rc is not None:
                    rel = self.cat.release.get(rc.name)
                    if rel is not None and rel.arg < len(rc.args):
                        yield r, fl, node, rc
                    break

    def _passthrough(self, path: str, c: Call, api: AcquireApi, form: Form | None) -> bool:
        """The caller's gup_flags choose the reference kind: only for an API that takes FOLL_GET
        unless told FOLL_PIN (mm/gup.c internals); a pin API pins whatever flags it is given."""
        if form is None or form.flags is None or form.flags >= len(c.args) or api.ref is not RefKind.GET:
            return False
        fi = self.look.func(path, c.func or "")
        return fi is not None and any(
            p and re.search(rf"\b{re.escape(p)}\b", c.args[form.flags]) for p in fi.params)

    # ------------------------------------------------------------------ paths of the acquiring function

    def paths(self, path: str, c: Call, form: Form, root: Root, releases: list[Release]
              ) -> tuple[list[Release], tuple[Defect, ...], list[Evidence], frozenset[tuple[str, int, int]],
                         frozenset[str]]:
        """Walk the acquiring function's paths (audit/paths.py): drop its own releases that no
        feasible path from the acquire reaches, and collect the defects found on single paths.
        Also returns the own releases that run only on short-count paths (nothing was written),
        and the outcomes with which the function returns the acquire's result."""
        func = c.func or ""
        fl = self.ix.flows.get((path, func))
        if fl is None:
            return releases, (), [], frozenset(), frozenset()
        names, _ = self.aliases(path, func, root)
        holds = self.holds_fn(path, func, root, names)
        fi = self.look.func(path, func)
        kind = "field" if root.kind == "field" else "param" if fi is not None and root.name in fi.params else "local"
        # Calls in this function that hand the pages to a function the closure search found releasing them.
        releasing = {r.function for r in releases if r.hops == 1 and r.function}
        wrappers: dict[str, int] = {}
        base = BASE_SPLIT.split(access_path(root_arg) or "")[0] if (root_arg := _root_text(c, form)) else ""
        for call in self.ix.calls_of((path, func)):
            if call.name in releasing:
                for i, a in enumerate(call.args):
                    # The pages, or (for pages kept in a struct field) the struct that holds them.
                    if holds(a) or (kind == "field" and base and access_path(a) == base):
                        wrappers.setdefault(call.name, -1 - i if not holds(a) else i)
        one = False
        if form.count is not None and form.count < len(c.args) and IDENT.fullmatch(c.args[form.count].strip()):
            vals = self.flag_values(path, c.func, c.args[form.count], c.span.line)
            one = vals == ["1"] or (bool(vals) and all(v.strip() == "1" for v in vals))
        api = self.cat.acquire.get(c.name)
        lhs = (c.lhs or "").strip()
        fails_by = "" if api is None or not api.errno_result else \
            lhs if IDENT.fullmatch(lhs) else TESTED_AT_CALL if not lhs else ""
        acq = Acquire(c.name, c.span.line, c.span.column, c.args, form.pages, form.count,
                      None if fails_by else c.lhs, kind, base if kind == "field" else "", one,
                      max_pages=form.max_pages, zero_one=api.zero_for_one if api is not None else False,
                      fails_by=fails_by)
        requested = c.args[form.count] if form.count is not None and form.count < len(c.args) else ""
        res = walk(fl, acq, holds, self.cat, path, wrappers,
                   self.effect_fn(path, func, holds, root if kind == "field" else None, acq.base),
                   self.helper_counts(wrappers, releases), self.teardowns(path, func, releases, requested),
                   self._promoted(path, fl, c, form), callers_test_sign=partial(self._callers_test_sign, path, func))
        if not res.complete:
            return releases, (), [], frozenset(), frozenset()
        self.exits[(path, c.span.line, c.span.column)] = (
            res.kept_on_error, res.count_out if res.short_success else "",
            res.released_on_error and not res.held_on_error, res.set_when_held or frozenset())
        rr = frozenset(res.r_returned)
        if res.acquire_repeats:
            # The call runs again around a loop: its own releases may drop an earlier round's pages.
            return releases, tuple(res.defects), [], frozenset(), rr
        own = [r for r in releases if r.file == path and r.function == c.func and r.hops == 0]
        short_only = frozenset((path, r.line, r.column) for r in own if (r.line, r.column) not in res.full_releases)
        kept, pruned = [], []
        for r in releases:
            if r in own and (r.line, r.column) not in res.reachable_releases:
                name = res.before_alias.get((r.line, r.column))
                pruned.append(Evidence(path, r.line, f"{r.api}() at line {r.line} releases `{name}` before this "
                                       f"function gives it the {c.name}() pages: another value" if name else
                                       f"{r.api}() at line {r.line} is on no feasible path from the "
                                       f"{c.name}() call (the conditions that lead to it rule the acquire out)"))
                continue
            kept.append(r)
        return kept, tuple(res.defects), pruned, short_only, rr

    def helper_counts(self, wrappers: dict[str, int], releases: list[Release]) -> dict[str, HelperCount]:
        """The count parameter of each release helper the walk meets (audit/counts.py)."""
        out: dict[str, HelperCount] = {}
        homes = {r.function: r.file for r in releases if r.function}
        for name, idx in wrappers.items():
            fi = self.look.func(homes[name], name) if name in homes else None
            fl = self.look.flow(homes[name], name, frozenset(self.cat.release)) if fi is not None else None
            if fi is None or fl is None:
                continue
            if idx < 0:  # handed the struct whose field holds the pages
                hc = helper_member_count(fl, fi.params, -1 - idx, self.cat.release)
                if hc is not None and self.store is not None:
                    # The member's declared type: unsigned, a negative count is a huge one.
                    types = self.store.member_types(homes[name], hc.member.lstrip("->."))
                    hc = replace(hc, unsigned=bool(types) and all(self.cat.is_unsigned(t) for t in types))
            else:
                uns = unsigned_names(fl, self.cat.is_unsigned)
                hc = helper_count(fl, fi.params, idx, self.cat.release, uns.__contains__)
            if hc is not None:
                out[name] = hc
        return out

    def effect_fn(self, path: str, func: str, holds, field: Root | None, base: str):  # type: ignore[no-untyped-def]
        """What a call in `func` does with the pages `holds` recognises (audit/callee.py); once per
        call of the flow graph (a walk meets the same call on many paths)."""
        memo: dict[int, tuple[object, str | None]] = {}

        def effect(call) -> str | None:  # type: ignore[no-untyped-def]
            got = memo.get(id(call))
            if got is None:
                got = memo[id(call)] = (call, self.callees.of_call(path, func, call, holds, field, base))
            return got[1]

        return effect

    def _feasible(self, releases: list[Release], path: str, func: str, chain: list[Evidence],
                  ref: RefKind) -> list[Release]:
        """Drop releases of the other kind in other functions that no path of their own function can
        reach (the conditions leading to them contradict each other): they would make a false
        mismatch. The acquiring function's own releases are judged by the path walk from the acquire."""
        kept = []
        for r in releases:
            if (r.file, r.function) == (path, func) or not r.function or r.kind in (ref, RefKind.NONE) or not r.guard:
                kept.append(r)  # judged by the walk, harmless, or under no condition of its function
                continue
            fl = self.look.flow(r.file, r.function, self._release_names)
            ok = feasible_calls(fl, self.cat, self._release_names) if fl is not None else None
            if ok is not None and (r.line, r.column) not in ok:
                chain.append(Evidence(r.file, r.line, f"{r.api}() in {r.function}() is on no feasible path of its "
                                      "function (the conditions that lead to it contradict each other)"))
                continue
            kept.append(r)
        return kept

    # ------------------------------------------------------------------ names that hold the pages

    def _points_into_struct(self, path: str, func: str, name: str) -> bool:
        """Whether local `name` is a cursor into a struct's array reached through a pointer, from
        its start or an offset (`pages = ttm->pages + pinned`; `flowfacts` cursors): what is stored
        through it is kept in that struct."""
        fl = self.ix.flows.get((path, func))
        return fl is not None and "->" in flow_facts(fl, self.cat.transparent_conditions, self.cat.zeroing_allocators).cursors.get(name, "")

    def aliases(self, path: str, func: str, root: Root) -> tuple[set[str], list[tuple[str, str, int]]]:
        """Names in `func` that hold the root's pages (`p = pages[i]`, `pages = x->page_list`), and
        the assignments that store them into struct fields."""
        key = (path, func, root)
        got = self._alias_cache.get(key)
        if got is None:
            got = self._alias_cache[key] = self._compute_aliases(path, func, root)
        return got

    def _compute_aliases(self, path: str, func: str, root: Root) -> tuple[set[str], list[tuple[str, str, int]]]:
        tags = self.ix.tags_for(path, func)
        names: set[str] = set()
        stores: list[tuple[str, str, int]] = []
        if root.kind == "local":
            names.add(root.name)
        assigns = self.ix.assigns_of((path, func))
        calls = self.ix.calls_of((path, func))
        holds = self.holds_fn(path, func, root, names)
        changed = True
        rounds = 0
        while changed and rounds < 4:
            changed = False
            rounds += 1
            for lhs, rhs, ln in assigns:
                if not holds(rhs) or (array_allocation().search(rhs) and not accessors().match(strip_expr(rhs))):
                    continue  # a fresh allocation sized by the pages is not the pages (an accessor is)
                lr = root_of(lhs, tags, path)
                if lr is None:
                    continue
                if lr.kind == "local" and lr.name not in names:
                    names.add(lr.name)
                    changed = True
                elif lr.kind == "field":
                    stores.append((lhs, rhs, ln))
            for c in calls:
                if iterator_macro(c.name) and any(holds(a) for a in c.args):
                    for a in c.args:
                        if IDENT.fullmatch(a) and a not in names and not holds(a):
                            names.add(a)
                            changed = True
        return names, stores

    def holds_fn(self, path: str, func: str, root: Root, names: set[str]):  # type: ignore[no-untyped-def]
        """A test: does an expression in `func` refer to the tracked pages? For a struct field, a
        call of one of its getters (`frame_vector_pages(vec)`, `sk_msg_elem(msg, i)`) does too."""
        tags = self.ix.tags_for(path, func)
        getters = self.look.getters(root)

        def holds(expr: str) -> bool:
            if refers_to(expr, tags, path, root, names):
                return True
            if getters:
                return called_name(expr) in getters
            return False

        return holds

    def uses_tag(self, path: str, func: str, root: Root) -> bool:
        """Whether `func` has a variable of the field root's struct type, or the file is the storing one."""
        return path == root.file or root.tag in self.ix.tags_for(path, func).values()

    def returns(self, path: str, func: str, names: set[str], root: Root) -> bool:
        """Whether `func` returns the tracked pages (`return pages;`, `return dio->pages[i];`)."""
        tags = self.ix.tags_for(path, func)
        return any(
            matches(root_of(text, tags, path), root, names, path) for text in self.ix.returns_in.get((path, func), [])
        )

    # ------------------------------------------------------------------ after the sites

    def load_callers(self, func: str, path: str) -> None:
        """Parse the callers of `func` (in `path`'s view) into the index."""
        self.look.callers(func, path)

    def wrappers(self) -> list[Wrapper]:
        """The acquire and release wrappers the closure searches went through, with their callers."""
        out = []
        hits = self.store.hits
        for (path, func, kind), api in sorted(self.wrappers_seen.items()):
            if func in self.cat.acquire or func in self.cat.release:
                continue  # the catalogue's own implementations (mm/gup.c) are not wrappers
            fi = self.look.func(path, func)
            self.look.callers(func, path)  # all of them, not only those some search happened to parse
            callers = sorted({(p, c.span.line, c.func or "") for p, c in self.ix.callers_of(func)
                              if c.func is not None and (not fi or not fi.static or p == path)
                              and (p in hits or p == path)})
            out.append(Wrapper(func, path, fi.line if fi else 0, kind, api, tuple(callers)))
        return out

    # ------------------------------------------------------------------ verdict

    @staticmethod
    def conditional(releases: list[Release]) -> set[tuple[str, int]]:
        """Releases that are arms of a conditional pair: the same guard, GET on one side, PIN on the other.

        `if (x->is_pinned) unpin_user_page(p); else put_page(p);` and a `switch` over the operation
        (`case PIN_…: unpin_user_pages(); case GUP_…: put_page()`) release one kind per path.
        """
        by_guard: dict[str, set[RefKind]] = defaultdict(set)
        for r in releases:
            if r.guard:
                key = "switch" if r.guard.startswith("case ") else r.guard
                by_guard[key].add(r.kind)
        mixed = {g for g, ks in by_guard.items() if {RefKind.GET, RefKind.PIN} <= ks}
        return {
            (r.file, r.line) for r in releases
            if r.guard and ("switch" if r.guard.startswith("case ") else r.guard) in mixed
        }

    def status(self, ref: RefKind, releases: list[Release], passthrough: bool = False) -> Status:
        """converted / raw-closure / mismatch / no-closure-found from the releases found.

        `passthrough`: the call's flags are the enclosing function's parameter, so the reference
        kind is the caller's choice (mm/gup.c internals) and either release is expected.
        """
        if not releases:
            return Status.NO_CLOSURE_FOUND
        cond = self.conditional(releases)
        kinds = {r.kind for r in releases if (r.file, r.line) not in cond and not passthrough}
        definite = kinds - {RefKind.NONE}
        if definite and definite != {ref}:
            return Status.MISMATCH
        if ref is RefKind.PIN:
            return Status.CONVERTED
        return Status.RAW_CLOSURE


def _root_text(c: Call, form: Form) -> str:
    """The expression the acquire fills: its pages argument, or the variable it assigns."""
    if form.pages is not None and form.pages < len(c.args):
        return c.args[form.pages]
    return c.lhs or ""
