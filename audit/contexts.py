"""Checks of one acquire site that look past the acquiring function's own code: the callers.

- `kernel_iterator`: an extraction call (`iov_iter_extract_pages`) that only ever sees kernel
  iterators takes nothing (the iterator is made kernel-backed here, or every caller passes one or
  calls under a kernel-only flag such as MSG_SPLICE_PAGES);
- `pin_choice_names`: the names the acquiring code records its pin/get choice in;
- `flag_kinds` / `pinned_by_callers`: where the reference kind is the caller's choice (a
  `gup_flags` parameter), which kinds the callers ask for, and a FOLL_GET release that a
  FOLL_PIN caller's pages reach (gup-pin-put-page);
- `dirty_lost`: pages taken for writing and released without being marked dirty.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from audit.conditions import parse as parse_condition
from audit.grep import call_starts
from audit.model import Call, Defect, Evidence, RefKind, Release
from audit.cexpr import IDENT, constant_truth
from audit.roots import FIELD_NAMES, PATH_EXPR
from audit.search import MISMATCH_HOPS, SiteContext

if TYPE_CHECKING:
    from audit.analyze import Analyzer


def _kernel_guard(an: Analyzer, guard: str | None, guard_else: bool) -> bool:
    """A branch that tests a kernel-only flag (`flags & MSG_SPLICE_PAGES`) positively: an atom
    of the condition's top-level conjunction that names the flag and compares nothing."""
    if not guard or guard_else:
        return False
    f = parse_condition(guard, an.cat.transparent_conditions)
    conjuncts = f[1] if f[0] == "and" else (f,)
    return any(g[0] == "atom" and "==" not in g[1].replace("!=", "")
               and set(IDENT.findall(g[1])) & an.cat.kernel_only_flags for g in conjuncts)


def _kernel_iter_expr(an: Analyzer, path: str, func: str, expr: str, depth: int = 1) -> str | None:
    """Why the iterator `expr` is kernel-backed in `func`, or None."""
    e = expr.strip().lstrip("&").strip()
    fields = set(FIELD_NAMES.findall(e))
    if fields & an.cat.kernel_iterator_fields:
        return f"`{expr}` is a kernel iterator field ({', '.join(sorted(fields & an.cat.kernel_iterator_fields))})"
    for call in an.ix.calls_of((path, func)):
        if not call.args:
            continue
        if call.name in an.cat.kernel_iterators and call.args[0].strip().lstrip("&").strip() == e:
            return f"{func}() makes `{e}` a kernel iterator with {call.name}() (line {call.span.line})"
        if depth > 0 and call.name not in an.cat.acquire:
            for i, a in enumerate(call.args):
                if a.strip().lstrip("&").strip() != e or not a.strip().startswith("&"):
                    continue
                for dpath, fi in an.look.definitions(call.name, path):
                    if i < len(fi.params) and fi.params[i] and dpath == path:
                        why = _kernel_iter_expr(an, dpath, fi.name, fi.params[i], depth - 1)
                        if why:
                            return f"{call.name}() (line {call.span.line}) loads `{e}`: {why}"
    return None


def kernel_iterator(an: Analyzer, path: str, c: Call) -> str | None:
    """Why an extraction call only ever sees kernel iterators (so it takes nothing), or None:
    the iterator is made kernel-backed in the function, or is a kernel iterator field, the call
    sits in a branch that tests a kernel-only flag, or every caller calls under such a branch
    or passes a kernel iterator (through callers that pass their own parameter on, too)."""
    i = an.cat.extraction[c.name]
    func = c.func or ""
    if i < len(c.args):
        why = _kernel_iter_expr(an, path, func, c.args[i])
        if why:
            return why
    if _kernel_guard(an, c.guard, c.guard_else):
        return f"the call is in a branch that tests a kernel-only flag (`{c.guard}`)"
    if i >= len(c.args):
        return None
    return _kernel_callers(an, path, func, c.args[i], KERNEL_CALLER_DEPTH)


KERNEL_CALLER_DEPTH = 3
"""How many levels of callers passing the iterator on are read for a kernel-only iterator."""


def _kernel_callers(an: Analyzer, path: str, func: str, expr: str, depth: int) -> str | None:
    """Why every caller of `func` gives it a kernel iterator as the parameter `expr`, or None."""
    fi = an.look.func(path, func)
    if fi is None or depth <= 0:
        return None
    idx = next((k for k, p in enumerate(fi.params) if p and p == expr.strip().lstrip("&").strip()), None)
    callers = an.look.callers(func, path, near=True)
    if not callers:
        return None
    for cp, cc in callers:
        if _kernel_guard(an, cc.guard, cc.guard_else):
            continue
        if idx is None or idx >= len(cc.args):
            return None
        arg = cc.args[idx]
        if _kernel_iter_expr(an, cp, cc.func or "", arg):
            continue
        if _kernel_callers(an, cp, cc.func or "", arg, depth - 1) is None:
            return None
    return (f"every caller of {func}() ({len(callers)}) calls it in a branch that tests a kernel-only flag "
            "or passes a kernel iterator")


def pin_choice_names(an: Analyzer, path: str, c: Call, guards: bool = True) -> frozenset[str]:
    """Names the acquiring function records its pin choice in: the target of an assignment from
    a catalogue pin flag or predicate, and (with `guards`) the fields tested by a condition that
    chooses between this acquire and one of the other kind."""
    func = c.func or ""
    out: set[str] = set()
    preds = frozenset(an.cat.pin_predicates)
    flags = frozenset(an.cat.pin_flags)
    for lhs, rhs, _ in an.ix.assigns_of((path, func)):
        words = set(IDENT.findall(rhs))
        if words & set(an.cat.acquire):
            continue  # the acquire itself (its flags argument names FOLL_GET/FOLL_PIN)
        tested = {w for w in words & flags if re.search(rf"&\s*\(?\s*{w}\b", rhs)}
        if words & preds or tested:
            tail = IDENT.findall(lhs)
            if tail:
                out.add(tail[-1])
    # `if (iov_iter_extract_will_pin(iter)) bio_set_flag(bio, BIO_PAGE_PINNED);`: a catalogue pin flag
    # set by a call under a test of a pin predicate records the choice in the object the call names.
    for other in an.ix.calls_of((path, func)):
        if other.guard and not other.guard_else and set(IDENT.findall(other.guard)) & preds:
            out.update(w for a in other.args for w in IDENT.findall(a) if w in flags)
    if c.guard and guards:
        mine = an.cat.acquire[c.name].ref
        for other in an.ix.calls_of((path, func)):
            oa = an.cat.acquire.get(other.name)
            if oa is not None and other is not c and other.guard == c.guard and other.guard_else != c.guard_else \
                    and oa.ref is not mine:
                # The last name of each access path tested (`kfp->pin` -> `pin`) is the flag.
                out.update(IDENT.findall(m)[-1] for m in PATH_EXPR.findall(c.guard) if not m.isupper())
    return frozenset(out)


def pin_polarity(an: Analyzer, path: str, c: Call) -> tuple[tuple[str, bool], ...]:
    """For each name a condition may test to tell pins from references, whether its positive test
    means the pages are pinned: the catalogue's pin flags and predicates (FOLL_GET, BIO_PAGE_REFFED:
    not pinned), the names the acquiring code stores a pin predicate or flag test in
    (`ap->args.is_pinned = iov_iter_extract_will_pin(ii)`), and the names a condition choosing
    between this acquire and one of the other kind tests (`if (kfp->pin) pin_…; else get_…`)."""
    out: dict[str, bool] = {w: w not in an.cat.unpinned_flags for w in an.cat.pin_flags}
    out.update((w, True) for w in an.cat.pin_predicates)
    func = c.func or ""
    for lhs, rhs, _ in an.ix.assigns_of((path, func)):
        words = set(IDENT.findall(rhs))
        if words & set(an.cat.acquire) or not IDENT.findall(lhs):
            continue
        tested = {w for w in words & set(an.cat.pin_flags) if re.search(rf"&\s*\(?\s*{w}\b", rhs)}
        kinds = {out[w] for w in (words & set(an.cat.pin_predicates)) | tested}
        if len(kinds) == 1:
            out.setdefault(IDENT.findall(lhs)[-1], kinds.pop() != rhs.strip().startswith("!"))
    if c.guard:
        mine = an.cat.acquire[c.name].ref
        for other in an.ix.calls_of((path, func)):
            oa = an.cat.acquire.get(other.name)
            if oa is not None and other is not c and other.guard == c.guard and other.guard_else != c.guard_else \
                    and oa.ref is not mine:
                then_kind = oa.ref if c.guard_else else mine
                for m in PATH_EXPR.findall(c.guard):
                    if not m.isupper():
                        out.setdefault(IDENT.findall(m)[-1], then_kind is RefKind.PIN)
    return tuple(sorted(out.items()))


def flag_kinds(an: Analyzer, path: str, func: str, arg: str, depth: int = 3) -> dict[RefKind, tuple[str, int, str]]:
    """Which reference kinds the callers of `func` ask for through the flags `arg` (a parameter of
    `func`, possibly modified there): {kind: (file, line, caller)} of the first caller found."""
    out: dict[RefKind, tuple[str, int, str]] = {}
    fi = an.look.func(path, func)
    if fi is None or depth <= 0:
        return out
    idx = next((i for i, p in enumerate(fi.params) if p and re.search(rf"\b{re.escape(p)}\b", arg)), None)
    if idx is None:
        return out
    for cpath, cc in an.look.callers(func, path):
        if cc.func is None or idx >= len(cc.args):
            continue
        texts = an.flag_values(cpath, cc.func, cc.args[idx], cc.span.line) + [cc.args[idx]]
        words = {w for t in texts for w in IDENT.findall(t)}
        # `gup_flags |= FOLL_PIN;` in the caller before the call.
        words |= {w for lhs, rhs, ln in an.ix.assigns_of((cpath, cc.func)) if lhs.strip() in words
                  and ln <= cc.span.line for w in IDENT.findall(rhs)}
        if an.cat.pin_flag in words:
            out.setdefault(RefKind.PIN, (cpath, cc.span.line, cc.func))
        if an.cat.get_flag in words:
            out.setdefault(RefKind.GET, (cpath, cc.span.line, cc.func))
        if RefKind.PIN not in out:
            for k, v in flag_kinds(an, cpath, cc.func, cc.args[idx], depth - 1).items():
                out.setdefault(k, v)
    return out


def pinned_by_callers(an: Analyzer, ctx: SiteContext, flags_arg: str, releases: list[Release]) -> tuple[Defect, ...]:
    """gup-pin-put-page in code whose reference kind is its caller's choice (mm/gup.c internals,
    drivers' own wrappers): a FOLL_GET release that some FOLL_PIN caller's pages reach, not under
    a test of the pin choice, drops pins as references."""
    c = ctx.call
    pin = flag_kinds(an, ctx.path, c.func or "", flags_arg).get(RefKind.PIN)
    if pin is None:
        return ()
    out = []
    for r in releases:
        if r.kind is RefKind.GET and r.hops <= MISMATCH_HOPS and not ctx.tests_pin_choice(r.guard):
            out.append(Defect("gup-pin-put-page", r.file, r.line, r.column, r.function,
                              f"{r.api}() drops pages that {pin[2]}() ({pin[0]}:{pin[1]}) asks {c.name}() to take "
                              f"with FOLL_PIN: a pin released as a FOLL_GET reference",
                              (Evidence(ctx.path, c.span.line, f"{c.name}() takes the kind of reference its "
                                        f"gup_flags say; {pin[2]}() passes FOLL_PIN"),
                               Evidence(r.file, r.line, f"{r.function}() releases them with {r.api}()")),
                              "high"))
    return tuple(out)


def _write_param(an: Analyzer, path: str, c: Call, flags_text: str) -> int | None:
    """The index of the parameter of `c`'s function that decides whether `c` writes (`write ?
    FOLL_WRITE : 0` in `sev_pin_memory(kvm, uaddr, len, &n, write)`), None when none does."""
    fi = an.look.func(path, c.func) if c.func else None
    if fi is None or an.cat.write_flag not in flags_text:
        return None
    words = set(IDENT.findall(flags_text))
    got = [i for i, p in enumerate(fi.params) if p and p in words]
    return got[0] if len(got) == 1 else None


def _writes(an: Analyzer, arg: str) -> bool | None:
    """What a caller's argument for that parameter says: True (a nonzero constant, FOLL_WRITE),
    False (0, false), None (anything else)."""
    return True if an.cat.write_flag in arg else constant_truth(arg)


def dirty_lost_by_caller(an: Analyzer, path: str, c: Call, releases: list[Release],
                         flags_text: str) -> tuple[Defect, ...] | None:
    """gup-dirty-lost for an acquire wrapper whose parameter says whether to write: each caller
    that asks it to write and releases the pages (a release, or a call of a releasing function)
    with no dirtying call of its own. None when no parameter decides, when some caller passes a
    value known only at run time, or when a writing caller keeps the pages for a release elsewhere
    (the site is then judged as a whole)."""
    k = _write_param(an, path, c, flags_text)
    if k is None or not c.func:
        return None
    for r in releases:
        rel = an.cat.release.get(r.api)
        if rel is not None and rel.dirty and not _says_clean(an, r, rel.dirty_arg):
            return ()
        if _dirties(an, r.file, r.function or ""):
            return ()
    releasing = {r.function for r in releases if r.function} | {r.api for r in releases}
    callers = [(cp, cc) for cp, cc in an.look.callers(c.func, path) if cc.func is not None]
    if not callers or any(k >= len(cc.args) or _writes(an, cc.args[k]) is None for _, cc in callers):
        return None  # a caller passes a value only known at run time: the site is judged as a whole
    out = []
    for cp, cc in callers:
        if not _writes(an, cc.args[k]):
            continue
        calls = an.ix.calls_of((cp, cc.func))
        if any(x.name in an.cat.dirtying for x in calls):
            continue
        drop = next((x for x in calls if x.name in releasing and x.span.start_byte > cc.span.start_byte), None)
        if drop is None:
            return None  # the pages go on to be released elsewhere: the site is judged as a whole
        out.append(Defect("gup-dirty-lost", cp, drop.span.line, drop.span.column, cc.func,
                          f"{cc.func}() asks {c.func}() to take the pages for writing ({fi_param(an, path, c, k)} = "
                          f"{cc.args[k].strip()}), but drops them with {drop.name}() without marking them dirty "
                          "(no set_page_dirty_lock() or dirtying release on its way)",
                          (Evidence(cp, cc.span.line, f"{c.func}() pins the pages with write access here"),),
                          "medium"))
    return tuple(out)


def _false_guard(an: Analyzer, path: str, func: str, call: Call) -> tuple[str, int] | None:
    """For a dirtying call of `func`: the parameter (and its index) it sits under, on the true side
    of the test, when every caller (at least one) passes 0 or false there; else None (it dirties)."""
    guard = (call.guard or "").strip()
    fi = an.look.func(path, func)
    if call.guard_else or fi is None or guard not in fi.params:
        return None
    k = fi.params.index(guard)
    callers = [cc for _, cc in an.look.callers(func, path) if cc.func is not None]
    if not callers or any(k >= len(cc.args) or _writes(an, cc.args[k]) is not False for cc in callers):
        return None
    return guard, k


def _dirties(an: Analyzer, path: str, func: str) -> bool:
    """Whether `func` marks pages dirty: a dirtying call, unless the only test it sits under is one of
    `func`'s parameters (`if (dirtied) SetPageDirty(page);`) and every caller passes 0 or false
    there (st.c's `sgl_unmap_user_pages(..., 0)` after a read into the pages: `_false_guard`)."""
    return any(call.name in an.cat.dirtying and _false_guard(an, path, func, call) is None
               for call in an.ix.calls_of((path, func)))


def _dirties_somewhere(an: Analyzer, paths: set[str], releases: list[Release]) -> bool:
    """Whether any of `paths` calls a dirtying API or a dirtying release anywhere in its text (True
    when a file's text is not at hand): where none does, no path of those files can hand the pages
    to a dirtier. A releasing function's dirtying call under a parameter every caller passes 0 or
    false (`_false_guard`: st.c's `if (dirtied)`) does not count."""
    store = an.store
    names = sorted(an.cat.dirtying | {n for n, r in an.cat.release.items() if r.dirty})
    dead = {(x.file, call.span.start_byte) for x in releases if x.function
            for call in an.ix.calls_of((x.file, x.function))
            if call.name in an.cat.dirtying and _false_guard(an, x.file, x.function, call) is not None}
    for p in paths:
        sf = store.files.get(p) if store is not None else None
        if sf is None or any((p, at) not in dead for n in names for at in call_starts(sf.src, n.encode())):
            return True
    return False


def _says_clean(an: Analyzer, r: Release, dirty_arg: int | None) -> bool:
    """Release `r` of a dirtying API is told not to dirty: a constant false or 0 in its `make_dirty`
    argument (`unpin_user_pages_dirty_lock(pages, n, false)`)."""
    if dirty_arg is None:
        return False
    call = next((x for x in an.ix.calls_of((r.file, r.function or "")) if x.name == r.api
                 and x.span.line == r.line and x.span.column == r.column), None)
    return call is not None and dirty_arg < len(call.args) and _writes(an, call.args[dirty_arg]) is False


def fi_param(an: Analyzer, path: str, c: Call, k: int) -> str:
    fi = an.look.func(path, c.func) if c.func else None
    return fi.params[k] if fi is not None and k < len(fi.params) else f"argument {k + 1}"


def dirty_lost(an: Analyzer, path: str, c: Call, releases: list[Release],
               short_only: frozenset[tuple[str, int, int]], kept: bool = False,
               by_arg: bool = False) -> tuple[Defect, ...]:
    """gup-dirty-lost: pages taken for writing, and no release or releasing function dirties them.
    Releases only on short-count error paths (`short_only`: nothing was written) do not count.
    When the acquiring function keeps the pages in a struct (`kept`) and every release found is
    its own, those are its failure clean-ups before any I/O: the main release, not found, is
    where the dirtying belongs, so the finding is unsure.

    `by_arg`: the write argument is an expression (`rw == READ`, a direction), so only some calls
    write. Then only a release in another function (the buffer's teardown, where the pages of a
    finished transfer go) is judged, and the finding is unsure (the calls that write may be ones
    whose pages go elsewhere first: 2.6.32's direct-io hands them to bios that dirty them) unless
    the release is a teardown and neither the acquiring file nor a releasing one marks any page
    dirty anywhere."""
    releases = [r for r in releases if (r.file, r.line, r.column) not in short_only]
    if not releases:
        return ()
    for r in releases:
        rel = an.cat.release.get(r.api)
        # A dirtying release told not to dirty counts only away from the acquiring function: in it,
        # `false` is a clean-up's "nothing was written yet" (ib_umem_get()'s failed sg table).
        if rel is None or (rel.dirty and not (_says_clean(an, r, rel.dirty_arg)
                                              and (r.file, r.function) != (path, c.func))):
            return ()
        if _dirties(an, r.file, r.function or ""):
            return ()
    if _dirties(an, path, c.func or ""):
        return ()
    # The finding sits on the main release: one past the acquiring function when there is one
    # (its own are failure clean-ups more often than not), and past the functions that call it
    # (a wrapper's caller that unpins when its next step fails) when there is one of those.
    mine = an.cat.acquire[c.name].ref
    past = [x for x in releases if (x.file, x.function) != (path, c.func) and x.kind in (mine, RefKind.NONE)
            and (an.cat.release.get(x.api) is None or an.cat.release[x.api].kind in (mine, RefKind.NONE))]
    teardown = [x for x in past if not any(call.name == c.func for call in an.ix.calls_of((x.file, x.function or "")))]
    r = (teardown or past or releases)[0]
    # A release that rebuilds its page from a pfn or address (`pfn_to_page(hpa >> PAGE_SHIFT)`) got
    # the pages as numbers, which code the search did not read (an arch IOMMU helper) may have used
    # to dirty them: keep such a finding unsure.
    by_address = any(set(IDENT.findall(rhs)) & an.cat.from_address
                     for x in releases for _, rhs, _ in an.ix.assigns_of((x.file, x.function or "")))
    own = all((x.file, x.function) == (path, c.func) for x in releases)
    if by_arg and own:
        return ()
    # A releasing helper whose callers dirty the pages before calling it (i915's put_pages() marks
    # them dirty, then drop_ref() unpins): dirtied on the way, as far as one can tell.
    dirtied_by_callers = any(
        call.name in an.cat.dirtying
        for x in releases if (x.file, x.function) != (path, c.func) and x.function
        for cp, cc in an.look.callers(x.function, x.file) for call in an.ix.calls_of((cp, cc.func or "")))
    # Judged only on a teardown (a release past the functions that call the acquire: those are
    # failure clean-ups before any I/O more often than not).
    unsure_arg = by_arg and (not teardown or _dirties_somewhere(an, {path} | {x.file for x in releases}, releases))
    confidence = "low" if by_address or (kept and own) or dirtied_by_callers or unsure_arg else "medium"
    told = _told_clean(an, r.file, r.function or "")
    if told is not None:
        # The helper dirties only when told to, and its callers never tell it: the finding sits on
        # the call that says not to.
        cp, cc, param, k = told
        return (Defect("gup-dirty-lost", cp, cc.span.line, cc.span.column, cc.func,
                       f"{c.name}() takes the pages for writing, but {cc.func}() has {r.function}() drop them "
                       f"with `{param}` = {cc.args[k].strip()}: they are never marked dirty",
                       (Evidence(path, c.span.line, f"{c.name}() requests write access"),
                        Evidence(r.file, r.line, f"{r.function}() marks them dirty only when `{param}` is set")),
                       confidence),)
    return (Defect("gup-dirty-lost", r.file, r.line, r.column, r.function,
                   f"{c.name}() takes the pages for writing, but {r.api}() in {r.function}() drops them "
                   "without marking them dirty (no set_page_dirty_lock() or dirtying release on the closure)",
                   (Evidence(path, c.span.line, f"{c.name}() requests write access"),),
                   confidence),)


def _told_clean(an: Analyzer, path: str, func: str) -> tuple[str, Call, str, int] | None:
    """For a function whose dirtying calls all sit under one parameter that every caller passes as
    0 or false (`_false_guard`): the first such caller's call, the parameter and its index; else None."""
    guards = {_false_guard(an, path, func, x) for x in an.ix.calls_of((path, func)) if x.name in an.cat.dirtying}
    if len(guards) != 1 or None in guards:
        return None
    param, k = next(iter(guards))  # type: ignore[misc]
    callers = sorted(((cp, cc) for cp, cc in an.look.callers(func, path) if cc.func is not None),
                     key=lambda x: (x[0], x[1].span.line))
    return callers[0][0], callers[0][1], param, k
