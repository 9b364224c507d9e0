"""The closure search of one acquire site: from the acquiring function, hop by hop, to the releases.

A search state is a root (audit/roots.py) inside one function. Each kind of hop is one method that
takes a state and returns the next states; releases met on the way are recorded with the branch
condition that guards them:

- `into_storage`  a local that points into other storage (`pages = ttm->pages + n`);
- `through_call`  a release of the tracked value, a hand-off to a carrier (bio, sg table, skb frag,
                  with the carrier's destructor), or a call into a callee's parameter;
- `into_callbacks` a completion callback stored next to the value (`bio->bi_end_io = fn`);
- `into_fields`   a store into a struct field, tracked in this function and then tree-wide;
- `through_pointer_field` a store through a pointer field lands where a set-up points it
                  (`.refcounted_page = &map->pinned_page`, or the `&x` callers pass);
- `field_users`   every function of the subsystem that uses that field;
- `up_to_callers` the value is a parameter of, or returned by, this function.

Every function, caller and field user is asked for through `index.Lookup`, which parses on demand
and applies this search's visibility. The search is per site: its context (`SiteContext`) holds
what the acquire told about itself, so nothing leaks from one site's search into the next.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from audit.catalogue import Handoff, ReleaseApi
from audit.conditions import parse as parse_condition
from audit.facts import split_args
from audit.model import Call, Evidence, RefKind, Release
from audit.cexpr import IDENT, iterator_macro
from audit.roots import FIELDS, Root, access_path, namespace, root_of, subsystem

if TYPE_CHECKING:
    from audit.analyze import Analyzer

MAX_HOPS = 5
"""How many function boundaries the search crosses before it gives up."""
MAX_STEPS = 400
"""How many (function, root) states one site may visit."""
SEARCH_BEYOND = 2
"""Once a release is found at some hop, the search goes at most this many hops further."""
MISMATCH_HOPS = 2
"""A release of the other kind decides `mismatch` only within this many hops."""
MAX_EVIDENCE = 40
"""How many evidence lines one site's closure keeps."""

_MEMBER_SPLIT = re.compile(r"->|\.")
_DESIGNATED = re.compile(r"\.\s*([A-Za-z_]\w*)\s*=\s*(.*)", re.S)
_TRUE = re.compile(r"^(true|[1-9]\d*)$")
_FALSE = re.compile(r"^(false|0|NULL)$")


def designated(init: str) -> dict[str, str]:
    """The top-level entries of a designated initializer: `{ .a = x, .b = &y->z, }` -> {a: x, b: &y->z}."""
    body = init.strip()
    if not (body.startswith("{") and body.endswith("}")):
        return {}
    out = {}
    for entry in split_args("(" + body[1:-1] + ")"):
        m = _DESIGNATED.match(entry)
        if m:
            out[m.group(1)] = " ".join(m.group(2).split())
    return out


@dataclass(frozen=True)
class SiteContext:
    """What one acquire site's search knows about the acquire."""

    path: str
    call: Call
    root_text: str
    """The expression the acquire fills (its pages argument, or the variable it assigns)."""
    flags: frozenset[str]
    """Names this site's code records its pin choice in (`is_pinned`, `pin`)."""
    pin_choice: frozenset[str]
    """The catalogue's pin flags and predicates, and `flags`."""
    ref: RefKind | None = None
    """The reference the acquire takes (None: unknown)."""
    records: frozenset[str] = frozenset()
    """Of `flags`, those the code stores with the pages (`ap->args.is_pinned = …`, BIO_PAGE_PINNED),
    not the condition that chose between the acquires (`if (kfp->pin)`)."""

    polarity: tuple[tuple[str, bool], ...] = ()
    """Names a condition tests to tell pins from references, and whether a positive test means pinned."""
    transparent: frozenset[str] = frozenset()
    """Wrappers a condition is read through (`unlikely()`), from the catalogue."""

    def pin_arm(self, guard: str | None, guard_else: bool) -> bool | None:
        """Whether a release under `guard` (in its else-branch with `guard_else`) is on the side
        for pinned pages (True), for other pages (False), or cannot be told (None): the condition,
        after its negations, must be one test of one polarity name."""
        if not guard:
            return None
        f = parse_condition(guard, self.transparent)
        neg = guard_else
        while f[0] == "not":
            neg, f = not neg, f[1]
        if f[0] != "atom" or re.search(r"==|!=|<|>", f[1].replace("->", "")):
            return None
        pol = dict(self.polarity)
        seen = {pol[w] for w in IDENT.findall(f[1]) if w in pol}
        return None if len(seen) != 1 else seen.pop() != neg

    def tests_pin_choice(self, guard: str | None) -> bool:
        """Whether a condition tests how the pages were taken: a catalogue pin flag or predicate
        (FOLL_PIN, BIO_PAGE_PINNED, iov_iter_extract_will_pin()), or a variable or field this site's
        code set from one, or the condition that chose between a pin and a get acquire."""
        return bool(guard) and bool(set(IDENT.findall(guard or "")) & self.pin_choice)


@dataclass(frozen=True)
class State:
    """One step of the search: a root inside one function."""

    path: str
    func: str
    root: Root
    hops: int
    chain: tuple[Evidence, ...]
    up: bool = True
    """Whether the search may go up to this function's callers (not after descending into a callee)."""
    guard: tuple[str, bool] | None = None
    """The guard of the call that led into this function (inherited by its releases)."""
    via_field: bool = False
    """Reached through the users of a struct field (the field may hold pages of other origins)."""
    parent: State | None = None
    """The state whose call led down into this function: a value it returns goes back there only,
    not to the function's other callers."""
    upward: bool = False
    """Reached from the acquire only by going up (parameters, return values): a catalogue API met
    this way is the one the acquire implements."""


class Search:
    """One site's closure search (breadth first over states, bounded by hops and steps)."""

    def __init__(self, an: Analyzer, ctx: SiteContext) -> None:
        self.an = an
        self.ix = an.ix
        self.cat = an.cat
        self.look = an.look
        self.ctx = ctx
        self.found: dict[tuple[str, int, int], Release] = {}
        self.chain: list[Evidence] = []
        self.funcs_seen: set[tuple[str, str]] = set()
        self.fanned: set[Root] = set()
        self.via_field: set[tuple[str, int, int]] = set()
        self._hit = False
        self.implements: str | None = None
        """A catalogue acquire API the pages went up into: the call is part of its implementation."""
        # What this search may see: the prefiltered files, plus the neighbour files its own queries
        # find. Facts other sites' searches happened to load elsewhere are ignored, so a site's
        # verdict does not depend on which sites were analysed before it.
        self.visible: set[str] = set(an.store.hits)

    def run(self, root: Root) -> tuple[list[Release], list[Evidence], str]:
        """(releases, evidence chain, what was searched) for the pages in `root`."""
        acq = self.ctx.call
        todo: deque[State] = deque([State(self.ctx.path, acq.func or "", root, 0, (), upward=True)])
        seen: set[tuple[str, str, Root]] = set()
        steps = 0
        while todo and steps < MAX_STEPS:
            st = todo.popleft()
            near = [r.hops for r in self.found.values() if self.ctx.ref is None or r.kind in (self.ctx.ref, RefKind.NONE)]
            if near and st.hops > min(near) + SEARCH_BEYOND:
                continue  # releases found nearer: further hops only add other owners' pages
            key = (st.path, st.func, st.root)
            if key in seen:
                continue
            self.look.body(st.path, st.func)
            seen.add(key)
            steps += 1
            self.funcs_seen.add((st.path, st.func))
            todo.extend(self.expand(st))
        return self.finish(root)

    def expand(self, st: State) -> list[State]:
        """Every hop out of one state, in a fixed order (the breadth-first order depends on it)."""
        names, stores = self.an.aliases(st.path, st.func, st.root)
        # One state's test, asked of the same argument texts call after call.
        holds = lru_cache(maxsize=None)(self.an.holds_fn(st.path, st.func, st.root, names))
        nxt: list[State] = []
        if st.root.kind == "local" and st.hops < MAX_HOPS:
            nxt += self.into_storage(st, names)
        self._hit = False
        for c in self.ix.calls_of((st.path, st.func)):
            nxt += self.through_call(st, c, holds)
        if st.hops >= MAX_HOPS:
            return nxt
        nxt += self.into_callbacks(st, names)
        nxt += self.into_fields(st, stores, holds)
        nxt += self.through_pointer_field(st)
        nxt += self.field_users(st)
        nxt += self.up_to_callers(st, names)
        return nxt

    # ------------------------------------------------------------------ hop kinds

    def into_storage(self, st: State, names: set[str]) -> list[State]:
        """`struct page **pages = ttm->pages + pinned;` then gup into `pages`: the pages live in the
        storage `pages` points into, so track that too."""
        out = []
        stags = self.ix.tags_for(st.path, st.func)
        for lhs, rhs, ln in self.ix.assigns_of((st.path, st.func)):
            if lhs not in names or "(" in rhs:
                continue
            rr = root_of(rhs, stags, st.path)
            if rr is None or (rr.kind == "local" and rr.name in names) or rr == st.root:
                continue
            ev = Evidence(st.path, ln, f"`{lhs}` points into `{rhs}`")
            out.append(State(st.path, st.func, rr, st.hops, st.chain + (ev,), st.up, st.guard, st.via_field,
                             upward=st.upward))
        # `for_each_sg(chunk->page_list, sg, n, i)`: the cursor walks the first argument's storage.
        for c in self.ix.calls_of((st.path, st.func)):
            if not iterator_macro(c.name) or len(c.args) < 2 or not any(a.strip() in names for a in c.args[1:]):
                continue
            rr = root_of(c.args[0], stags, st.path)
            if rr is None or (rr.kind == "local" and rr.name in names) or rr == st.root:
                continue
            ev = Evidence(st.path, c.span.line, f"{c.name}() walks `{c.args[0]}` with the tracked cursor")
            out.append(State(st.path, st.func, rr, st.hops, st.chain + (ev,), st.up, st.guard, st.via_field,
                             upward=st.upward))
        return out

    def through_call(self, st: State, c: Call, holds) -> list[State]:  # type: ignore[no-untyped-def]
        """A call in the state's function: a release of the pages, a hand-off, or a callee."""
        acq = self.ctx.call
        at_acquire = st.path == self.ctx.path and st.func == acq.func
        if at_acquire and c.span.start_byte == acq.span.start_byte:
            return []
        rel = self.cat.release.get(c.name)
        if rel is not None and st.hops == 0 and at_acquire and c.span.start_byte < acq.span.start_byte \
                and not acq.in_loop:
            return []  # released before this acquire, outside a loop: an earlier call's pages
        if rel is not None and not c.dead:
            if rel.arg < len(c.args) and (holds(c.args[rel.arg]) or (
                    # `bio_release_pages(bio, …)` for pages extracted into `bio->bi_io_vec`: a release
                    # of the carrier drops every page it holds.
                    rel.shape == "bio" and self._holder(c.args[rel.arg], st))):
                self._record(st, c, rel)
            return []
        if st.hops >= MAX_HOPS:
            return []
        ho = self.cat.handoffs.get(c.name)
        if ho is not None:
            return self.handoff(st, c, ho, holds)
        if c.name in self.cat.acquire:
            return []
        return self.into_callee(st, c, holds)

    def _record(self, st: State, c: Call, rel: ReleaseApi) -> None:
        key = (st.path, c.span.line, c.span.column)
        if key in self.found:
            return
        g = (c.guard, c.guard_else) if c.guard else st.guard
        kind = rel.kind
        if kind is not RefKind.NONE and self.ctx.tests_pin_choice(c.guard):
            # One arm of a conditional pair: the arm for this site's kind of pages keeps its kind
            # (a wrong kind there is a mismatch); the other arm, or an arm that cannot be told,
            # releases other pages.
            arm = self.ctx.pin_arm(c.guard, c.guard_else)
            if arm is None or self.ctx.ref is None or arm != (self.ctx.ref is RefKind.PIN):
                kind = RefKind.NONE
        self.found[key] = Release(st.path, c.span.line, c.span.column, st.func, c.name, kind, len(c.name),
                                  g[0] if g else None, g[1] if g else False, st.hops)
        if st.via_field:
            self.via_field.add(key)
        if st.func != self.ctx.call.func and st.root.kind == "local":
            fi_w = self.look.func(st.path, st.func)
            if fi_w is not None and st.root.name in fi_w.params:
                self.an.wrappers_seen.setdefault((st.path, st.func, "release"), c.name)
        if not self._hit:
            self.chain.extend(st.chain)
            self._hit = True
        self.chain.append(Evidence(st.path, c.span.line,
                                   f"{st.func}() releases `{c.args[rel.arg]}` with {c.name}()"))

    def handoff(self, st: State, c: Call, ho: Handoff, holds) -> list[State]:  # type: ignore[no-untyped-def]
        """The pages handed to a carrier (`bio_add_page(bio, page, …)`): track the carrier, and
        the carrier's destructor that drops its pages when it is freed."""
        out = []
        if ho.src < len(c.args) and ho.dst < len(c.args) and holds(c.args[ho.src]):
            cr = root_of(c.args[ho.dst], self.ix.tags_for(st.path, st.func), st.path)
            if cr is not None and cr != st.root:
                ev = Evidence(st.path, c.span.line, f"{st.func}() hands `{c.args[ho.src]}` to the {ho.carrier} "
                              f"`{c.args[ho.dst]}` ({c.name})")
                out.append(State(st.path, st.func, cr, st.hops, st.chain + (ev,), via_field=st.via_field))
            if ho.destructor and ho.destructor_file and self.look.store.add_file(ho.destructor_file):
                self.visible.add(ho.destructor_file)
                for dpath, fi in self.look.definitions(ho.destructor, ho.destructor_file):
                    if dpath == ho.destructor_file and ho.destructor_arg < len(fi.params):
                        ev = Evidence(st.path, c.span.line, f"the {ho.carrier}'s pages are dropped by "
                                      f"{ho.destructor}() ({dpath}:{fi.line}) when it is freed")
                        out.append(State(dpath, fi.name, Root("local", fi.params[ho.destructor_arg]),
                                         st.hops + 1, st.chain + (ev,), False))
        return out

    def into_callee(self, st: State, c: Call, holds) -> list[State]:  # type: ignore[no-untyped-def]
        """Passed on to a function defined in the parsed files: follow into its parameter (or, for
        pages in a struct field, into the parameter that receives the struct)."""
        out = []
        for i, a in enumerate(c.args):
            held = holds(a)
            inner = None if held else self._container(a, st)
            if not held and inner is None:
                continue
            for dpath, fi in self.look.definitions(c.name, st.path, self.visible, namespace(st.func)):
                if i < len(fi.params) and fi.params[i]:
                    what = f"`{a}`" if inner is None else f"`{a}`, which holds `{st.root.show()}`,"
                    ev = Evidence(st.path, c.span.line, f"{st.func}() passes {what} to {c.name}() ({dpath}:{fi.line})")
                    g = (c.guard, c.guard_else) if c.guard else st.guard
                    nroot = Root("local", fi.params[i]) if inner is None else Root("field", inner, "", dpath)
                    out.append(State(dpath, fi.name, nroot, st.hops + 1, st.chain + (ev,), False, g, st.via_field, st))
        return out

    def _holder(self, arg: str, st: State) -> bool:
        """In the acquiring function, `arg` is the struct whose field the acquire filled (`bio` for
        `bio->bi_io_vec`)."""
        if st.root.kind != "field" or st.func != self.ctx.call.func or st.hops:
            return False
        full, part = access_path(self.ctx.root_text or ""), access_path(arg)
        return bool(full and part and full != part and full.startswith(part) and full[len(part):][:1] in ("-", "."))

    def _container(self, arg: str, st: State) -> str | None:
        """In the acquiring function, an argument that is the struct holding the tracked field
        (`af_alg_free_sg(&ctx->sgl)` for pages in `ctx->sgl.sgt`): the field's name, else None."""
        if st.root.kind != "field" or st.func != self.ctx.call.func or st.hops:
            return None
        full, part = access_path(self.ctx.root_text or ""), access_path(arg)
        if not full or not part or not FIELDS.findall(part) or full == part:
            return None
        return st.root.name if full.startswith(part) and full[len(part):][:1] in ("-", ".") else None

    def into_callbacks(self, st: State, names: set[str]) -> list[State]:
        """A completion callback stored next to the value: `bio->bi_end_io = fn`."""
        out = []
        tags = self.ix.tags_for(st.path, st.func)
        for lhs, rhs, ln in self.ix.assigns_of((st.path, st.func)):
            lr = root_of(lhs, tags, st.path)
            base = _MEMBER_SPLIT.split(lhs)[0].strip()
            if lr is None or lr.kind != "field" or base not in names or not IDENT.fullmatch(rhs):
                continue
            for dpath, fi in self.look.definitions(rhs, st.path, self.visible):
                if fi.params and fi.params[0]:
                    ev = Evidence(st.path, ln, f"{st.func}() sets `{lhs} = {rhs}`: completion callback")
                    out.append(State(dpath, fi.name, Root("local", fi.params[0]), st.hops + 1, st.chain + (ev,), False,
                                     via_field=st.via_field))
        return out

    def into_fields(self, st: State, stores: list[tuple[str, str, int]], holds) -> list[State]:  # type: ignore[no-untyped-def]
        """Stored into a struct field: track the field in this function (then tree-wide)."""
        out = []
        tags = self.ix.tags_for(st.path, st.func)
        extra = [c for c in self.ix.calls_of((st.path, st.func))
                 if c.name in self.cat.extra_refs and c.args and holds(c.args[0])]
        for lhs, _rhs, ln in stores:
            fr = root_of(lhs, tags, st.path)
            if extra and fr is not None and fr != st.root:
                self.chain.append(Evidence(st.path, extra[0].span.line, f"{st.func}() takes its own reference with "
                                           f"{extra[0].name}() before storing in `{lhs}`: that one is released on its own"))
                continue
            if fr is not None and fr.kind == "field" and fr != st.root:
                ev = Evidence(st.path, ln, f"{st.func}() stores the pages in `{lhs}`")
                out.append(State(st.path, st.func, fr, st.hops, st.chain + (ev,), st.up, via_field=st.via_field))
        return out

    def through_pointer_field(self, st: State) -> list[State]:
        """Pages stored through a pointer field (`*kfp->refcounted_page = page`): where this function
        points that field (`struct kvm_follow_pfn kfp = { .refcounted_page = &map->pinned_page }`,
        `x->f = &y`) is where they land; a pointer parameter stored there (`.f = out`) sends them up
        to the storage the callers pass (`&fault->refcounted_page`). A designated initializer that
        also sets the condition this acquire was chosen by (`.pin = true`) against its branch sets up
        a call that takes the other acquire: no hop."""
        if st.root.kind != "field":
            return []
        tags = self.ix.tags_for(st.path, st.func)
        out: list[State] = []
        for lhs, rhs, ln in self.ix.assigns_of((st.path, st.func)):
            lhs_s = lhs.strip()
            value: str | None = None
            if rhs.strip().startswith("{") and (not st.root.tag or tags.get(lhs_s) == st.root.tag):
                entries = designated(rhs)
                value = entries.get(st.root.name)
                if value is not None and not self._takes_this_branch(entries):
                    continue
            else:
                lr = root_of(lhs, tags, st.path)
                if lr is not None and lr.kind == "field" and lr.name == st.root.name and not lhs_s.startswith("*") \
                        and (not st.root.tag or not lr.tag or lr.tag == st.root.tag):
                    value = rhs.strip()
            if not value:
                continue
            if value.startswith("&"):
                nr = root_of(value[1:], tags, st.path)
                if nr is not None and nr != st.root:
                    ev = Evidence(st.path, ln, f"{st.func}() points `{st.root.show()}` at `{value[1:]}`: "
                                  "the pages stored through it land there")
                    out.append(State(st.path, st.func, nr, st.hops, st.chain + (ev,), st.up, st.guard))
                continue
            fi = self.look.func(st.path, st.func)
            if fi is None or value not in fi.params:
                continue
            idx = fi.params.index(value)
            for cpath, cc in self.look.callers(st.func, st.path, self.visible, near=True):
                if cc.func is None or idx >= len(cc.args) or not cc.args[idx].strip().startswith("&"):
                    continue
                nr = root_of(cc.args[idx].strip()[1:], self.ix.tags_for(cpath, cc.func), cpath)
                if nr is not None:
                    ev = Evidence(cpath, cc.span.line, f"{cc.func}() passes `{cc.args[idx]}` to {st.func}(), which "
                                  f"stores the pages through it (`{st.root.show()}`)")
                    out.append(State(cpath, cc.func, nr, st.hops + 1, st.chain + (ev,)))
        return out

    def _takes_this_branch(self, entries: dict[str, str]) -> bool:
        """Whether a designated initializer is consistent with the branch the acquire sits in: the
        acquire chosen by `if (kfp->pin)` is reached only through set-ups that make `pin` true (an
        entry left out of a designated initializer is zero)."""
        c = self.ctx.call
        if not c.guard or not self.ctx.flags:
            return True
        g = c.guard.strip()
        negated = g.startswith("!")
        path = access_path(g.lstrip("!").strip())
        if path is None or path != g.lstrip("!").strip().replace(" ", ""):
            return True  # not a plain flag test: nothing to compare
        name = IDENT.findall(path)[-1]
        if name not in self.ctx.flags:
            return True
        want = (not c.guard_else) != negated
        val = entries.get(name, "0").strip()
        if _TRUE.match(val):
            return want
        if _FALSE.match(val):
            return not want
        return True

    def field_users(self, st: State) -> list[State]:
        """Pages kept in a struct field: every function that uses the field (once per field)."""
        if st.root.kind != "field" or st.root in self.fanned:
            return []
        self.fanned.add(st.root)
        out = []
        users = self.look.field_users(st.root, st.func, self.cat.api_homes, self.visible)
        # Functions that reach the field through a getter (`pages = frame_vector_pages(vec)`).
        users += [u for u in self.look.getter_users(st.root, self.visible) if u not in users]
        for upath, ufunc in users:
            if (not st.root.tag and upath != st.root.file) or (upath, ufunc) == (st.path, st.func):
                continue  # an untyped field is only linked within the file that stored it
            if st.root.tag and not self.an.uses_tag(upath, ufunc, st.root):
                continue
            if subsystem(upath) != subsystem(st.root.file) and not upath.startswith(self.cat.api_homes):
                # A field of a shared struct leads only into mm/ (vm_fault->page goes back to the
                # fault path), not into unrelated subsystems that use the same struct.
                continue
            ev = Evidence(st.path, st.chain[-1].line if st.chain else self.ctx.call.span.line,
                          f"pages kept in `{st.root.show()}`; {ufunc}() ({upath}) uses that field")
            out.append(State(upath, ufunc, st.root, st.hops + 1, st.chain + (ev,), False, via_field=True))
        return out

    def up_to_callers(self, st: State, names: set[str]) -> list[State]:
        """The value is a parameter, or returned: go up to the callers."""
        acq = self.ctx.call
        fi_up = self.look.func(st.path, st.func)
        up_idx: int | None = None
        if fi_up is not None and st.root.kind == "local":
            up_idx = next((i for i, pn in enumerate(fi_up.params) if pn in names and pn), None)
        returned = any(
            c.returned and c.span.start_byte == acq.span.start_byte for c in self.ix.calls_of((st.path, st.func))
        ) if (st.path, st.func) == (self.ctx.path, acq.func) else False
        rets = returned or self.an.returns(st.path, st.func, names, st.root)
        if not st.up:
            up_idx = None  # went down into a callee: its parameters lead back where we came from
        # Callers of an acquire API are acquire sites of their own (mm/gup.c internals).
        if fi_up is None or st.func in self.cat.acquire or (up_idx is None and not rets):
            return []
        out = []
        # A driver's wrapper is called from sibling files that name no gup API themselves.
        back = not st.up and st.parent is not None
        callers = self.look.callers(st.func, st.path, self.visible, near=not back)
        if back:
            # Went down into this callee: what it returns goes back to the call that led here.
            assert st.parent is not None
            callers = [(cp, cc) for cp, cc in callers if (cp, cc.func) == (st.parent.path, st.parent.func)]
        for cpath, cc in callers:
            assert cc.func is not None
            nr: Root | None = None
            if up_idx is not None and up_idx < len(cc.args):
                nr = root_of(cc.args[up_idx], self.ix.tags_for(cpath, cc.func), cpath)
                why = f"{cc.func}() passes `{cc.args[up_idx]}` to {st.func}()"
            elif cc.lhs:
                nr = root_of(cc.lhs, self.ix.tags_for(cpath, cc.func), cpath)
                why = f"{cc.func}() takes the pages {st.func}() returns into `{cc.lhs}`"
            if nr is not None and st.upward and cc.func in self.cat.acquire and self.implements is None:
                # `iov_iter_get_pages2()` returns what its static helper took: the pages go on to
                # the API's callers, which are sites of their own.
                self.implements = cc.func
            if nr is not None:
                ev = Evidence(cpath, cc.span.line, why)
                p = st.parent
                if back and p is not None:
                    # Back in the caller that led down here: as far away, and as free to go up, as it was.
                    out.append(State(cpath, cc.func, nr, p.hops, st.chain + (ev,), p.up, p.guard, st.via_field, p.parent,
                                     p.upward))
                else:
                    out.append(State(cpath, cc.func, nr, st.hops + 1, st.chain + (ev,), via_field=st.via_field,
                                     upward=st.upward))
        return out

    # ------------------------------------------------------------------ result

    def finish(self, root: Root) -> tuple[list[Release], list[Evidence], str]:
        """The releases found, minus other owners' pages; the evidence chain, trimmed."""
        path, acq = self.ctx.path, self.ctx.call
        releases = sorted(self.found.values(), key=lambda r: (r.hops, r.file != path, r.file, r.line))
        chain = self.chain
        if self.ctx.records:
            # The struct records whether its pages are pinned (`ap->args.is_pinned = iov_iter_extract_will_pin()`):
            # a release reached through the field's other users that does not test that record
            # releases what other stores put there (page-cache folios, allocated pages), not these.
            kept_f = []
            for r in releases:
                if (r.file, r.line, r.column) in self.via_field and not self.ctx.tests_pin_choice(r.guard):
                    chain.append(Evidence(r.file, r.line, f"{r.api}() in {r.function}() releases pages another store "
                                          f"put in the field: unlike the pinned ones it does not test "
                                          f"`{'`/`'.join(sorted(self.ctx.records))}`"))
                    continue
                kept_f.append(r)
            releases = kept_f
        # A release of the other kind found only far away (through several hand-offs) is more likely
        # a different owner's pages than a mismatch: keep it out of the verdict, say so.
        kinds_near = {r.kind for r in releases if r.hops <= MISMATCH_HOPS}
        kept = []
        for r in releases:
            if r.hops > MISMATCH_HOPS and r.kind is not RefKind.NONE and r.kind not in kinds_near and kinds_near \
                    and r.kind is not self.ctx.ref:
                chain.append(Evidence(r.file, r.line, f"ignored {r.api}() in {r.function}(): {r.hops} hops away, "
                                      "the pages there are likely another owner's"))
                continue
            kept.append(r)
        chain = list(dict.fromkeys(chain))  # hops shared by several releases are told once
        if len(chain) > MAX_EVIDENCE:
            more = len(chain) - MAX_EVIDENCE
            chain = chain[:MAX_EVIDENCE] + [Evidence(path, acq.span.line, f"… {more} more steps not shown")]
        reach = (
            f"no release found: searched {len(self.funcs_seen)} function(s) across "
            f"{len({p for p, _ in self.funcs_seen})} file(s), up to {MAX_HOPS} hops from `{root.show()}`"
        )
        return kept, chain, reach
