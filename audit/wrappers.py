"""The path walk in the callers of acquire wrappers, level by level.

A driver's own function that takes pages and gives them to its caller — through an array the
caller passes (`hfi1_acquire_user_pages(mm, va, n, w, pages)`), through a field of a struct the
caller passes (`pin_rcv_pages(fd, tidbuf)` fills `tidbuf->pages`), or as its return value
(`pages = io_pin_pages(...)`) — is an acquire for its callers: their exits are walked like an
acquiring function's, with the wrapper's call as the acquire. A caller that passes the pages on
in turn is a wrapper of its own, up to MAX_DEPTH levels.

What the callers get: all or nothing when the wrapper never returns its acquire's result on a short
count (it releases a short pin itself), a count that may be short when it returns that result, and
the wrapper's parameter that carries the requested count when its acquire's count is one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from audit.cexpr import IDENT, errno_value
from audit.model import Call, Defect, FuncInfo, Release
from audit.paths import NEG, PART, Acquire, steps_forward, walk
from audit.roots import BASE_SPLIT, MEMBER_PATH, Root, access_path, root_of

if TYPE_CHECKING:
    from audit.analyze import Analyzer

MAX_DEPTH = 3
"""Wrapper levels followed above the acquire API's own call."""

_FIELD_OF = re.compile(r"^([A-Za-z_]\w*)\s*(->|\.)\s*([A-Za-z_]\w*)$")


@dataclass(frozen=True)
class Out:
    """How an acquire wrapper's callers receive its pages."""

    kind: str
    """"arg" (the caller's argument `index` is the array), "field" (the field `field` of the struct
    the caller passes as argument `index`) or "ret" (the return value)."""
    index: int | None
    field: str = ""
    count: int | None = None
    """The wrapper's parameter holding the requested count (None: not a parameter)."""
    partial: bool = False
    """The wrapper returns its acquire's result on a short count: its callers can get fewer pages."""
    zero_ok: bool = False
    """The wrapper returns 0 when it took every page and an errno when it took none (`return 0;`
    after the acquire, the acquire's result returned only when it is an errno): a nonzero result
    says the caller got nothing, a zero one that it holds them all."""
    kept_on_error: bool = False
    """Some errno exit of the wrapper leaves a short pin in the caller's struct (its count recorded
    there): a nonzero result does not say the struct holds nothing."""
    count_out: int | None = None
    """The wrapper's pointer parameter it reports the pinned count through, when it may return 0
    after a short pin (`lock_pages(…, &pinned)`): its callers hold that many, not every page."""
    released_on_error: bool = False
    """The wrapper's errno exits after its acquire release what it took, and none leaves pages
    held: a nonzero result says they are gone."""
    held: tuple[int, ...] = ()
    """The wrapper's pointer parameters it sets, not to 0, on every way out that returns the pages or
    their count (`*npages = nr_pages;` before `return pages;`, `*need_drop = 1;` before `return n;`):
    when its caller holds pages, what they point to is not 0."""


def wrapper_out(an: Analyzer, path: str, fi: FuncInfo, root: Root, returned: bool, r_returned: set[str],
                count_arg: str | None, inner: str) -> Out | None:
    """How the pages `root` (a local of `fi`) leave `fi` for its callers, or None when they do not,
    or when `fi` also hands them to a callee that keeps them (a list, another struct: then which
    holder owns them is not the caller's to know). `inner` is the call that took them."""
    if root.kind != "local":
        return None
    names, stores = an.aliases(path, fi.name, root)
    holds = an.holds_fn(path, fi.name, root, names)
    cat = an.cat
    carrier: set[int] = set()
    for c in an.ix.calls_of((path, fi.name)):
        if c.name == inner or c.name in cat.acquire or c.name in cat.release or c.name in cat.array_freers \
                or not any(holds(a) for a in c.args):
            continue
        h = cat.handoffs.get(c.name)
        if h is not None and h.dst < len(c.args) and h.src < len(c.args) and holds(c.args[h.src]):
            k = _carrier_param(an, path, fi, c.args[h.dst])
            if k is None:
                return None
            carrier.add(k)  # put into the entries of a carrier the caller passes (`sg_set_page(sg, …)`)
            continue
        if an.callees.of_call(path, fi.name, c, holds, None, "") not in ("read", "release", "always-release"):
            return None
    cnt = (count_arg or "").strip()
    count = fi.params.index(cnt) if cnt and cnt in fi.params else None
    partial = PART in r_returned
    if root.name in fi.params:
        return Out("arg", fi.params.index(root.name), "", count, partial, _zero_ok(an, path, fi, r_returned))
    if len(carrier) == 1 and not returned and not an.returns(path, fi.name, names, root):
        # The caller's carrier holds them: its argument is where they are (one entry per page).
        return Out("arg", carrier.pop(), "", count, partial, _zero_ok(an, path, fi, r_returned))
    if carrier:
        return None
    if returned or an.returns(path, fi.name, names, root):
        return Out("ret", None, "", count, partial)
    for lhs, _rhs, _ln in stores:
        m = _FIELD_OF.match(access_path(lhs) or "")
        if m is not None and m.group(1) in fi.params:
            return Out("field", fi.params.index(m.group(1)), m.group(3), count, partial,
                       _zero_ok(an, path, fi, r_returned))
    return None


def _carrier_param(an: Analyzer, path: str, fi: FuncInfo, dst: str) -> int | None:
    """The parameter of `fi` whose entries the carrier expression `dst` steps over (a cursor only
    ever set from it and stepped: `sg = sgl; … sg++`: an array of entries the caller passed), else
    None (a carrier object handed whole, `bio`, has its own owner's release)."""
    name = dst.strip().lstrip("&").strip()
    m = IDENT.match(name)
    if m is None or m.group(0) in fi.params:
        return None
    var = m.group(0)
    fl = an.ix.flows.get((path, fi.name))
    if fl is None:
        return None
    stepped = False
    sources: set[str] = set()
    for lhs, rhs in (a for n in fl.nodes for a in n.assigns):  # (the flow has `sg++` too)
        if lhs.strip() != var:
            continue
        if steps_forward(var, rhs):
            stepped = True
            continue
        r = "".join(rhs.split())
        head = IDENT.match(r)
        if head is None or head.group(0) not in fi.params or r[len(head.group(0)):][:1] not in ("", "+"):
            return None
        sources.add(head.group(0))
    return fi.params.index(sources.pop()) if stepped and len(sources) == 1 else None


def field_out(an: Analyzer, path: str, fi: FuncInfo, pages_arg: str, r_returned: set[str],
              count_arg: str | None) -> Out | None:
    """How the pages an acquire puts straight into a field of a struct its function `fi` was handed
    (`&umem->pgs[0]`, `umem` a parameter) reach `fi`'s callers: in that field of the struct they
    pass. None when the array is not a parameter's field."""
    m = _FIELD_OF.match(access_path(pages_arg) or "")
    if m is None or m.group(1) not in fi.params:
        return None
    cnt = (count_arg or "").strip()
    count = fi.params.index(cnt) if cnt and cnt in fi.params else None
    return Out("field", fi.params.index(m.group(1)), m.group(3), count, PART in r_returned,
               _zero_ok(an, path, fi, r_returned))


def _zero_ok(an: Analyzer, path: str, fi: FuncInfo, r_returned: set[str]) -> bool:
    """`fi` returns 0 for success and an errno (a constant, or a variable) otherwise, and its
    acquire's result, if at all, only when that is an errno."""
    rets = ["".join(t.split()) for t in an.ix.returns_in.get((path, fi.name), [])]
    # Any variable may hold the errno (`return err;`), and so may a choice between two.
    return "0" in rets and r_returned <= {NEG} and all(t == "0" or errno_value(t, lambda _: True) for t in rets)


def drops_on_error(an: Analyzer, path: str, func: str, index: int) -> bool:
    """Whether every caller of `func` (at least one) frees the struct it passes as argument `index`
    on the branch where `func` returned an error, handing it to nothing else on the way out: what
    `func` left in that struct's fields on an error exit is then lost."""
    # Its callers, in the files next to it too (a driver's set-up is called from a sibling file).
    callers = [(cp, cc) for cp, cc in an.look.callers(func, path, near=True) if cc.func is not None]
    if not callers:
        return False
    for cp, cc in callers:
        lhs = (cc.lhs or "").strip()
        if index >= len(cc.args) or not lhs or not IDENT.fullmatch(lhs):
            return False
        var = cc.args[index].strip().lstrip("&").strip()
        if MEMBER_PATH.fullmatch("".join(var.split())):
            # A struct inside the caller's own (`entry->dma`): freeing `entry` drops it too.
            var = IDENT.match(var).group(0)  # type: ignore[union-attr]
        fl = an.look.flow(cp, cc.func, frozenset({func}))
        if fl is None or not IDENT.fullmatch(var):
            return False
        at = next((i for i, n in enumerate(fl.nodes) if any(
            c.name == func and c.line == cc.span.line for c in n.calls)), None)
        test = at
        while test is not None and fl.nodes[test].kind != "cond":
            nxt = fl.nodes[test].succ
            test = nxt[0] if len(nxt) == 1 else None  # the first test after the call, on its only way on
        if test is None or not re.fullmatch(rf"!*\s*\(?\s*{lhs}\s*(?:<\s*0|!=\s*0)?\s*\)?", fl.nodes[test].text.strip()) \
                or fl.nodes[test].text.strip().startswith("!"):
            return False
        freed, todo, seen = False, [fl.nodes[test].succ[0]], set()
        while todo:
            i = todo.pop()
            if i in seen or i >= len(fl.nodes):
                continue
            seen.add(i)
            node = fl.nodes[i]
            for c in node.calls:
                # The struct itself, or a member's address, is handed on (`umem->id`, a member's
                # value, is not).
                named = [a for a in c.args if re.fullmatch(rf"&?\s*{var}(?:\s*(?:->|\.)\s*\w+)*", a.strip())
                         and (a.strip().startswith("&") or a.strip() == var)]
                if not named:
                    continue
                if c.name in an.cat.array_freers and any(a.strip() == var for a in named):
                    freed = True
                else:
                    return False  # handed to something that may tear it down
            if re.search(rf"\b{var}\b", node.text) and node.kind == "return":
                return False  # the struct goes back up
            todo.extend(node.succ)
        if not freed:
            return False
    return True


def _count_out(args: tuple[str, ...], out: Out) -> str:
    """The caller's variable a wrapper reports its pinned count in (`pinned` of `&pinned`), or ''."""
    return next(iter(_out_var(args, out.count_out)), "")


def _out_var(args: tuple[str, ...], index: int | None) -> frozenset[str]:
    """The caller's variable whose address it passes as argument `index` (`pinned` of `&pinned`)."""
    if index is None or index >= len(args):
        return frozenset()
    a = args[index].strip()
    return frozenset({a[1:].strip()}) if a.startswith("&") and IDENT.fullmatch(a[1:].strip()) else frozenset()


def _caller_expr(out: Out, args: tuple[str, ...], lhs: str | None) -> str | None:
    if out.kind == "ret":
        return lhs
    if out.index is None or out.index >= len(args):
        return None
    arg = args[out.index].strip()
    if out.kind == "arg":
        return arg
    if arg.startswith("&"):
        return f"{arg[1:].strip()}.{out.field}"
    return f"{arg}->{out.field}"


def wrapper_callers(an: Analyzer, path: str, fi: FuncInfo, out: Out, releases: list[Release],
                    depth: int = 1) -> tuple[Defect, ...]:
    """The leak, release-count and double-release defects on the paths of the callers of acquire
    wrapper `fi`."""
    found: list[Defect] = []
    releasing = {r.function for r in releases if r.function}
    for cpath, cc in _callers(an, path, fi):
        assert cc.func is not None
        expr = _caller_expr(out, cc.args, cc.lhs)
        if not expr:
            continue
        croot = root_of(expr, an.ix.tags_for(cpath, cc.func), cpath)
        if croot is None:
            continue
        fl = an.look.flow(cpath, cc.func, frozenset({fi.name}))
        if fl is None:
            continue
        names, _ = an.aliases(cpath, cc.func, croot)
        holds = an.holds_fn(cpath, cc.func, croot, names)
        cfi = an.look.func(cpath, cc.func)
        kind = "field" if croot.kind == "field" else (
            "param" if cfi is not None and croot.name in cfi.params else "local")
        base = BASE_SPLIT.split(access_path(expr) or "")[0] if kind == "field" else ""
        wrappers = {call.name: i for call in an.ix.calls_of((cpath, cc.func)) if call.name in releasing
                    for i, a in enumerate(call.args) if holds(a)}
        lhs = (cc.lhs or "").strip()
        fails_by = lhs if out.zero_ok and IDENT.fullmatch(lhs) else ""
        acq = Acquire(fi.name, cc.span.line, cc.span.column, cc.args, out.index if out.kind == "arg" else None,
                      out.count, None if fails_by else cc.lhs, kind, base, not out.partial, out.partial,
                      fails_by=fails_by, kept_on_failure=bool(fails_by) and out.kept_on_error,
                      released_on_failure=bool(fails_by) and out.released_on_error and not out.kept_on_error,
                      count_out=_count_out(cc.args, out) if fails_by else "",
                      held_counts=frozenset().union(*(_out_var(cc.args, k) for k in out.held)))
        effect = an.effect_fn(cpath, cc.func, holds, croot if kind == "field" else None, base)
        dropped = kind == "field" and cfi is not None and base in cfi.params \
            and drops_on_error(an, cpath, cc.func, cfi.params.index(base))
        res = walk(fl, acq, holds, an.cat, cpath, wrappers, effect, an.helper_counts(wrappers, releases),
                   an.teardowns(cpath, cc.func, releases), dropped=dropped)
        found.extend(d for d in res.defects if d.rule in ("gup-leak", "gup-double-release", "gup-release-count"))
        if depth < MAX_DEPTH and cfi is not None and cc.func not in an.cat.acquire and res.complete:
            cnt = cc.args[out.count] if out.count is not None and out.count < len(cc.args) else None
            nout = wrapper_out(an, cpath, cfi, croot, cc.returned, res.r_returned, cnt, fi.name)
            if nout is not None:
                an.wrappers_seen.setdefault((cpath, cc.func, "acquire"), fi.name)
                found.extend(wrapper_callers(an, cpath, cfi, nout, releases, depth + 1))
    return tuple(found)


def _callers(an: Analyzer, path: str, fi: FuncInfo) -> list[tuple[str, Call]]:
    """The calls of wrapper `fi` from inside functions: in its file when it is static, else also in
    the files next to it that the prefilter did not select (they need not name a gup API)."""
    return list(an.look.callers(fi.name, path, near=True))
