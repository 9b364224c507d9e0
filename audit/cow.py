"""The tree's COW safety profile (interface.md `Cow`), read from a handful of mm/ files.

Reads only the files named in `rules/catalogue/cow.toml` (mm/memory.c, mm/hugetlb.c, … whichever
exist), parses them with parse.py, and decides each verdict from the source idioms the catalogue
lists, never from the version number: stable trees carry backports (domain.md §6, §9.3).

- `reuse_check` and `mapcount_only_sites`: in each write-fault/swap-in/collapse function, every
  test that decides reuse is classified by kind (mapcount, refcount, anon-exclusive bit). A
  mapcount test is *mapcount-only* when it decides reuse and no refcount or exclusive test guards
  that path: not conjoined with it, not in an enclosing `if`, not in an earlier bail-out
  (`if (page_count(page) != 1) goto copy;`).
- `fork_copies_pinned`: a fork page-table copier calls a pin test (directly or through a
  `*_try_dup_anon_rmap*()` wrapper whose definition is checked).
- `gup_unshares`: the gup core forces a COW break or unshares for read requests.

This module walks tree-sitter Nodes; none leave it. It never writes anything and never raises on
a missing or unreadable file: the verdict falls back and the evidence says why.
"""

from __future__ import annotations

import re
import time
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from tree_sitter import Node, Tree

from audit import parse
from audit.model import CowProfile, CowSite, Evidence
from audit.resources import rules_dir
from audit.source import read_regular

MAPCOUNT = "mapcount"
REFCOUNT = "refcount"
EXCLUSIVE = "exclusive"
KINDS = (MAPCOUNT, REFCOUNT, EXCLUSIVE)
GUARDS = frozenset({REFCOUNT, EXCLUSIVE})
"""Kinds of test that make a mapcount test safe when they guard the same path."""

_CMP = frozenset({"==", "!=", "<", "<=", ">", ">="})
_ARITH = frozenset({"+", "-", "*", "/", "%", "<<", ">>", "&", "|", "^"})
_CONTAINERS = frozenset(
    {"compound_statement", "preproc_if", "preproc_ifdef", "preproc_else", "preproc_elif", "preproc_elifdef"}
)
_JUMPS = frozenset({"goto_statement", "return_statement", "break_statement", "continue_statement"})


# ---------------------------------------------------------------------------------------------
# Catalogue


@dataclass(frozen=True)
class IdiomKind:
    """The calls that make a test of one kind (mapcount, refcount, exclusive)."""

    predicates: frozenset[str]
    """Calls that are the test themselves; true means the page may be reused."""
    counters: frozenset[str]
    """Calls that are a test when compared with something."""


@dataclass(frozen=True)
class GupIdiom:
    """A gup idiom that breaks COW or unshares for read requests."""

    name: str
    """The callee or identifier."""
    is_call: bool
    """A call (`gup_must_unshare(...)`) rather than a bare identifier (`FAULT_FLAG_UNSHARE`)."""
    note: str
    """What it means, for the evidence."""


@dataclass(frozen=True)
class CowCatalogue:
    """`rules/catalogue/cow.toml` as typed values."""

    files: tuple[str, ...]
    """The only files read."""
    assertions: re.Pattern[str]
    """Callees whose arguments are assertions."""
    transparent: frozenset[str]
    """Condition pass-through wrappers (`likely`)."""
    reuse_label: re.Pattern[str]
    """Goto labels that lead to the reuse path."""
    cleanup: re.Pattern[str]
    """Calls allowed before the jump of a bail-out branch."""
    reuse_functions: dict[str, str]
    """Reuse-deciding function -> what it reuses, in report order."""
    main: tuple[str, ...]
    """do_wp_page and its helpers: their verdict is `reuse_check`."""
    kinds: dict[str, IdiomKind]
    """mapcount / refcount / exclusive idioms."""
    reuse_helper_files: tuple[str, ...]
    """Where the reuse predicates are defined."""
    fork_functions: tuple[str, ...]
    """Fork page-table copiers."""
    fork_checks: frozenset[str]
    """Direct pin tests."""
    fork_wrappers: frozenset[str]
    """Wrappers expected to reach a pin test."""
    fork_helper_files: tuple[str, ...]
    """Where the wrappers are defined."""
    fork_shares: tuple[str, ...]
    """Calls that share a page at fork (cited when nothing copies)."""
    gup_files: tuple[str, ...]
    """Files examined whole for gup idioms."""
    gup_functions: tuple[str, ...]
    """gup functions examined wherever they are defined."""
    gup_anchors: tuple[str, ...]
    """Cited when nothing unshares."""
    gup_idioms: tuple[GupIdiom, ...]
    """COW-break / unshare idioms."""

    def kind_of(self, callee: str) -> tuple[str, bool] | None:
        """(kind, is_predicate) of a reuse idiom call, None if it is not one."""
        for k in KINDS:
            ik = self.kinds[k]
            if callee in ik.predicates:
                return k, True
            if callee in ik.counters:
                return k, False
        return None

    @property
    def reuse_names(self) -> frozenset[str]:
        """Every reuse idiom callee."""
        out: set[str] = set()
        for ik in self.kinds.values():
            out |= ik.predicates | ik.counters
        return frozenset(out)


def _strs(raw: dict[str, Any], key: str) -> tuple[str, ...]:
    return tuple(str(x) for x in raw.get(key, []))


@cache
def catalogue() -> CowCatalogue:
    """Load `rules/catalogue/cow.toml` once per process."""
    raw = tomllib.loads((rules_dir() / "catalogue" / "cow.toml").read_text())
    reuse, fork, gup = raw["reuse"], raw["fork"], raw["gup"]
    kinds = {
        k: IdiomKind(frozenset(_strs(reuse[k], "predicates")), frozenset(_strs(reuse[k], "counters")))
        for k in KINDS
    }
    idioms = tuple(
        GupIdiom(str(d.get("call") or d["identifier"]), "call" in d, str(d["note"])) for d in gup.get("idioms", [])
    )
    return CowCatalogue(
        files=_strs(raw, "files"),
        assertions=re.compile(raw["assertions"]),
        transparent=frozenset(_strs(raw, "transparent")),
        reuse_label=re.compile(raw["reuse_label"]),
        cleanup=re.compile(raw["cleanup"]),
        reuse_functions={str(k): str(v) for k, v in reuse["functions"].items()},
        main=_strs(reuse, "main"),
        kinds=kinds,
        reuse_helper_files=_strs(reuse, "helper_files"),
        fork_functions=_strs(fork, "functions"),
        fork_checks=frozenset(_strs(fork, "checks")),
        fork_wrappers=frozenset(_strs(fork, "wrappers")),
        fork_helper_files=_strs(fork, "helper_files"),
        fork_shares=_strs(fork, "shares"),
        gup_files=_strs(gup, "files"),
        gup_functions=_strs(gup, "functions"),
        gup_anchors=_strs(gup, "anchors"),
        gup_idioms=idioms,
    )


# ---------------------------------------------------------------------------------------------
# Files and functions


def _text(src: bytes, n: Node) -> str:
    """Source text of `n`, whitespace-normalised (idioms span lines)."""
    return " ".join(src[n.start_byte : n.end_byte].decode("utf-8", "replace").split())


@cache
def _names_regex(names: frozenset[str], call: bool) -> re.Pattern[bytes]:
    alt = b"|".join(re.escape(n.encode()) for n in sorted(names, key=len, reverse=True))
    return re.compile(rb"\b(" + alt + rb")\b" + (rb"\s*\(" if call else b""))


@dataclass(frozen=True)
class Func:
    """A function body in a source file (tree-sitter's, or the kernel-layout fallback's)."""

    name: str
    """The function's name."""
    path: str
    """File relative to the tree root."""
    line: int
    """1-based line of the name."""
    start: int
    """Byte offset of the body's `{`."""
    end: int
    """Byte offset just past the body's `}`."""
    body: Node | None
    """The compound statement (None for a text-fallback function)."""
    degraded: bool
    """tree-sitter built no function_definition; found by kernel layout."""


@dataclass
class SourceFile:
    """One file of the tree, parsed on first use."""

    path: str
    """Relative to the tree root."""
    src: bytes
    """Raw bytes."""

    @cached_property
    def tree(self) -> Tree:
        """The tree-sitter tree of the masked source (offsets are those of `src`)."""
        return parse.parse(self.src)

    @cached_property
    def lines(self) -> parse.Lines:
        """Line numbering."""
        return parse.Lines(self.src)

    @cached_property
    def functions(self) -> dict[str, list[Func]]:
        """Function definitions by name, in file order, skipping `#if 0` regions."""
        out: dict[str, list[Func]] = {}
        stack = [self.tree.root_node]
        found: list[Func] = []
        while stack:
            node = stack.pop()
            for child in reversed(node.children):
                t = child.type
                if t == "function_definition":
                    fn = self._func(child)
                    if fn is not None:
                        found.append(fn)
                elif t == "preproc_if" and _is_if0(self.src, child):
                    alt = child.child_by_field_name("alternative")
                    if alt is not None:
                        stack.append(alt)
                elif t in _CONTAINERS or t in ("ERROR", "translation_unit", "linkage_specification", "declaration_list"):
                    stack.append(child)
        found.sort(key=lambda f: f.start)
        for fn in found:
            out.setdefault(fn.name, []).append(fn)
        return out

    def _func(self, node: Node) -> Func | None:
        decl = node.child_by_field_name("declarator")
        while decl is not None and decl.type != "function_declarator":
            decl = decl.child_by_field_name("declarator")
        if decl is None:
            return None
        ident = decl.child_by_field_name("declarator")
        while ident is not None and ident.type not in ("identifier", "field_identifier"):
            ident = ident.child_by_field_name("declarator")
        body = node.child_by_field_name("body")
        if ident is None or body is None:
            return None
        name = self.src[ident.start_byte : ident.end_byte].decode()
        return Func(name, self.path, self.lines.line_of(ident.start_byte), body.start_byte, body.end_byte, body, False)

    def find(self, names: Iterable[str]) -> list[Func]:
        """Definitions of `names` in this file; the kernel-layout fallback fills in the ones
        tree-sitter could not build (unbalanced `#ifdef` braces inside the function)."""
        wanted = [n for n in names if n in self.text_names]
        if not wanted:
            return []
        out: list[Func] = []
        missing = set()
        for n in wanted:
            if n in self.functions:
                out.extend(self.functions[n])
            else:
                missing.add(n)
        if missing:
            for name, name_byte, start, end in parse.text_functions(self.src):
                if name in missing:
                    out.append(Func(name, self.path, self.lines.line_of(name_byte), start, end, None, True))
        out.sort(key=lambda f: f.start)
        return out

    @cached_property
    def text_names(self) -> frozenset[str]:
        """Every identifier-like word in the file (a cheap test before parsing)."""
        return frozenset(w.decode() for w in set(re.findall(rb"[A-Za-z_]\w*", self.src)))

    def mentions(self, names: Iterable[str]) -> bool:
        """Whether any of `names` occurs in the text at all."""
        tn = self.text_names
        return any(n in tn for n in names)

    def calls(self, fn: Func, names: frozenset[str]) -> Iterator[tuple[str, Node]]:
        """(callee, call_expression) for every real call of `names` inside `fn`, in order.

        A regex finds candidate offsets; the node there must be the callee identifier of a
        call_expression, so comments, strings and declarations never count.
        """
        if not names:
            return
        root = self.tree.root_node
        for m in _names_regex(names, True).finditer(self.src, fn.start, fn.end):
            ident = root.descendant_for_byte_range(m.start(1), m.end(1))
            if ident is None or ident.type != "identifier":
                continue
            call = ident.parent
            if call is None or call.type != "call_expression":
                continue
            callee = call.child_by_field_name("function")
            if callee is None or callee.start_byte != ident.start_byte:
                continue
            yield m.group(1).decode(), call

    def identifiers(self, fn: Func, names: frozenset[str]) -> Iterator[tuple[str, Node]]:
        """(name, identifier node) for every identifier of `names` used as code inside `fn`."""
        root = self.tree.root_node
        for m in _names_regex(names, False).finditer(self.src, fn.start, fn.end):
            ident = root.descendant_for_byte_range(m.start(1), m.end(1))
            if ident is not None and ident.type == "identifier":
                yield m.group(1).decode(), ident

    def macros(self, names: frozenset[str]) -> Iterator[tuple[str, Node]]:
        """(name, preproc_function_def) for every function-like macro defining one of `names`."""
        root = self.tree.root_node
        for m in re.finditer(rb"^[ \t]*#[ \t]*define[ \t]+(\w+)\(", self.src, re.MULTILINE):
            name = m.group(1).decode()
            if name not in names:
                continue
            node = root.descendant_for_byte_range(m.start(1), m.end(1))
            while node is not None and node.type != "preproc_function_def":
                node = node.parent
            if node is not None:
                yield name, node


def _is_if0(src: bytes, node: Node) -> bool:
    cond = node.child_by_field_name("condition")
    return cond is not None and src[cond.start_byte : cond.end_byte].strip() == b"0"


def _dead(src: bytes, node: Node) -> bool:
    """The node sits in the `#if 0` branch of a preprocessor conditional (dead code)."""
    child, p = node, node.parent
    while p is not None:
        if p.type == "preproc_if" and _is_if0(src, p):
            alt = p.child_by_field_name("alternative")
            if alt is None or not (alt.start_byte <= child.start_byte < alt.end_byte):
                return True
        child, p = p, p.parent
    return False


def _asserted(cat: CowCatalogue, fn: Func, node: Node) -> bool:
    """The node is an argument of an assertion (`VM_BUG_ON_PAGE(PageAnonExclusive(p), p)`)."""
    p = node.parent
    while p is not None and p.start_byte >= fn.start:
        if p.type == "call_expression":
            name = _callee(p)
            if name is not None and cat.assertions.search(name):
                return True
        p = p.parent
    return False


def _callee(call: Node) -> str | None:
    fn = call.child_by_field_name("function")
    if fn is None or fn.type != "identifier":
        return None
    return fn.text.decode() if fn.text is not None else None


def _op(node: Node) -> str | None:
    op = node.child_by_field_name("operator")
    return op.type if op is not None else None


class TreeFiles:
    """The files of one tree, loaded on demand and read only once."""

    def __init__(self, root: Path | Any, cat: CowCatalogue) -> None:
        self.root = root
        self.cat = cat
        self._files: dict[str, SourceFile | None] = {}
        self.unreadable: list[Evidence] = []

    def file(self, rel: str) -> SourceFile | None:
        """The file at `rel`, None when absent or unreadable."""
        if rel not in self._files:
            sf: SourceFile | None = None
            try:
                data = read_regular(str(self.root / rel)) if isinstance(self.root, Path) else self.root.read_or_raise(rel)
                sf = SourceFile(rel, data)
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                pass  # older and newer trees lack some of the files: normal
            except OSError as e:
                self.unreadable.append(Evidence(rel, 1, f"cannot read: {e.strerror or e}"))
            self._files[rel] = sf
        return self._files[rel]

    def files(self, rels: Iterable[str] | None = None) -> Iterator[SourceFile]:
        """The catalogue files (or `rels`) that exist, in catalogue order."""
        for rel in rels if rels is not None else self.cat.files:
            sf = self.file(rel)
            if sf is not None:
                yield sf

    def find(self, names: Iterable[str], rels: Iterable[str] | None = None) -> list[tuple[SourceFile, Func]]:
        """Definitions of `names` across the catalogue files (or `rels`)."""
        names = tuple(names)
        out = []
        for sf in self.files(rels):
            for fn in sf.find(names):
                out.append((sf, fn))
        return out


# ---------------------------------------------------------------------------------------------
# Reuse decisions


@dataclass
class Atom:
    """One test in a function: a predicate call or a comparison of a counter."""

    node: Node
    """The call (predicate) or the comparison (counter)."""
    kinds: set[str]
    """mapcount / refcount / exclusive; a comparison of mapcount with refcount has both."""
    positive: bool
    """True when the test being true means the page may be reused (`== 1`, `reuse_swap_page()`)."""
    text: str
    """The test's source text."""
    line: int
    """1-based line of the idiom's callee."""
    callees: list[str] = field(default_factory=list)
    """The idiom calls inside it."""


@dataclass(frozen=True)
class Decision:
    """Where a test is used as a decision: an `if` condition, an assignment or a return."""

    kind: str
    """"if", "assign", "return" or "ternary"."""
    stmt: Node
    """The statement holding the decision."""
    root: Node
    """The top of the boolean expression (inside the `if` parentheses)."""
    negated: bool
    """An odd number of `!` between the test and `root`."""
    chain: tuple[tuple[Node, str, bool], ...]
    """Each `&&`/`||` between the test and `root`: (node, operator, negated below it)."""


@dataclass(frozen=True)
class Verdict:
    """How one test decides reuse in its function."""

    atom: Atom
    """The test."""
    decisive: bool
    """The test decides whether the page is reused (not a side check)."""
    guard: Atom | None
    """A refcount/exclusive test that guards the same path, if any."""
    conjoined: bool = False
    """The guard is part of the same condition (`a || b`), not an enclosing or earlier test."""


class ReuseAnalyzer:
    """Classifies every reuse test in one function."""

    def __init__(self, cat: CowCatalogue, sf: SourceFile, fn: Func, demoted: dict[str, str]) -> None:
        self.cat = cat
        self.sf = sf
        self.fn = fn
        self.demoted = demoted
        self.atoms = self._atoms()

    def _atoms(self) -> list[Atom]:
        """Every live, non-assertion test in the function, in source order."""
        by_range: dict[tuple[int, int], Atom] = {}
        src = self.sf.src
        for callee, call in self.sf.calls(self.fn, self.cat.reuse_names):
            kp = self.cat.kind_of(callee)
            if kp is None:
                continue
            kind, is_pred = kp
            # NOTE: a predicate whose definition in this tree counts something else (a 2.6.11
            # can_share_swap_page() counting page_count()) is classified by what it counts.
            kind = self.demoted.get(callee, kind)
            if is_pred:
                node, positive = call, True
            else:
                cmp = _comparison(call)
                if cmp is None:
                    continue
                node, positive = cmp
            if _dead(src, node) or _asserted(self.cat, self.fn, node):
                continue
            key = (node.start_byte, node.end_byte)
            atom = by_range.get(key)
            if atom is None:
                atom = Atom(node, set(), positive, _text(src, node), self.sf.lines.line_of(call.start_byte))
                by_range[key] = atom
            atom.kinds.add(kind)
            atom.callees.append(callee)
        return sorted(by_range.values(), key=lambda a: a.node.start_byte)

    def _inside_fn(self, node: Node) -> bool:
        return node.start_byte >= self.fn.start and node.end_byte <= self.fn.end

    def decision(self, node: Node) -> Decision | None:
        """Climb from a test to the decision that uses it, through `!`, `&&`, `||`, parentheses
        and `likely()`; None when the test feeds something else (a call argument, a loop)."""
        n, neg = node, False
        chain: list[tuple[Node, str, bool]] = []
        while True:
            p = n.parent
            if p is None or not self._inside_fn(p):
                return None
            t = p.type
            if t == "parenthesized_expression":
                gp = p.parent
                if gp is not None and gp.type == "if_statement" and gp.child_by_field_name("condition") == p:
                    return Decision("if", gp, n, neg, tuple(chain))
                n = p
            elif t == "unary_expression" and _op(p) == "!":
                neg, n = not neg, p
            elif t == "binary_expression" and _op(p) in ("&&", "||"):
                chain.append((p, str(_op(p)), neg))
                n = p
            elif t == "argument_list" and p.named_child_count == 1 and p.parent is not None and (
                _callee(p.parent) in self.cat.transparent
            ):
                n = p.parent
            elif t == "conditional_expression" and p.child_by_field_name("condition") == n:
                return Decision("ternary", _statement(p), n, neg, tuple(chain))
            elif (t == "assignment_expression" and p.child_by_field_name("right") == n) or (
                t == "init_declarator" and p.child_by_field_name("value") == n
            ):
                return Decision("assign", _statement(p), n, neg, tuple(chain))
            elif t == "return_statement":
                return Decision("return", p, n, neg, tuple(chain))
            else:
                return None

    def _path(self, node: Node, top: Node) -> tuple[bool, bool, set[str]]:
        """(boolean-only path, `!` parity, `&&`/`||` operators) from `node` up to `top`."""
        n, neg = node, False
        ops: set[str] = set()
        while n != top:
            p = n.parent
            if p is None:
                return False, neg, ops
            t = p.type
            if t == "unary_expression" and _op(p) == "!":
                neg = not neg
            elif t == "binary_expression" and _op(p) in ("&&", "||"):
                ops.add(str(_op(p)))
            elif t == "argument_list" and p.parent is not None and _callee(p.parent) in self.cat.transparent:
                pass  # likely(...): the call itself is checked on the next step
            elif not (t == "parenthesized_expression" or (t == "call_expression" and _callee(p) in self.cat.transparent)):
                return False, neg, ops
            n = p
        return True, neg, ops

    def _guards_in(self, top: Node) -> Iterator[Atom]:
        for a in self.atoms:
            if a.kinds & GUARDS and top.start_byte <= a.node.start_byte and a.node.end_byte <= top.end_byte:
                yield a

    def _gate(self, cond: Node, via: str, positive: bool) -> Atom | None:
        """A guard in `cond` that must hold (via only `via` operators, with `positive` polarity)
        for control to pass the way it does."""
        root = cond.named_children[0] if cond.type == "parenthesized_expression" and cond.named_child_count else cond
        for g in self._guards_in(root):
            ok, neg, ops = self._path(g.node, root)
            if ok and ops <= {via} and (g.positive != neg) == positive:
                return g
        return None

    def branch(self, ifs: Node) -> str:
        """What the `then` branch of `ifs` does: "reuse" (jumps to the reuse path), "bail"
        (cleanup then a jump away) or "body" (does the work itself)."""
        c = ifs.child_by_field_name("consequence")
        if c is None:
            return "body"
        stmts = [x for x in c.named_children if x.type != "comment"] if c.type == "compound_statement" else [c]
        if not stmts:
            return "body"
        last = stmts[-1]
        if last.type == "goto_statement":
            label = last.child_by_field_name("label")
            if label is not None and self.cat.reuse_label.search(_text(self.sf.src, label)):
                return "reuse"
        elif last.type == "return_statement":
            value = last.named_children[0] if last.named_child_count else None
            if value is not None:
                vtext = _text(self.sf.src, value)
                if vtext == "true":
                    return "reuse"
                if any(c2 in self.cat.reuse_functions for c2 in _call_names(value)):
                    return "reuse"
        elif last.type not in _JUMPS:
            return "body"
        for s in stmts[:-1]:
            if s.type != "expression_statement":
                return "body"
            if any(not self.cat.cleanup.search(name) for name in _call_names(s)):
                return "body"
        return "bail"

    def verdict(self, atom: Atom) -> Verdict:
        """Whether `atom` decides reuse, and what guards it."""
        d = self.decision(atom.node)
        if d is None:
            return Verdict(atom, False, None)
        effective = atom.positive != d.negated
        if d.kind == "if":
            br = self.branch(d.stmt)
            if br == "bail":
                decisive = not effective
            else:
                # NOTE: `if (shared) copy(); else reuse();` puts the reuse in the else branch.
                decisive = effective or d.stmt.child_by_field_name("alternative") is not None
        else:
            decisive = True
        if not decisive:
            return Verdict(atom, False, None)
        if atom.kinds & GUARDS and MAPCOUNT in atom.kinds:
            return Verdict(atom, True, atom, True)  # `folio_large_mapcount(f) != folio_ref_count(f)`
        g = self._conjoined(atom, d)
        if g is not None:
            return Verdict(atom, True, g, True)
        return Verdict(atom, True, self._enclosing(d.stmt))

    def _conjoined(self, atom: Atom, d: Decision) -> Atom | None:
        """A guard combined with `atom` so that both must agree before reuse: `a && g` with
        both true-means-reuse, or `a || g` with both true-means-shared."""
        for node, op, neg_below in d.chain:
            left = node.child_by_field_name("left")
            right = node.child_by_field_name("right")
            sib = right if left is not None and left.start_byte <= atom.node.start_byte < left.end_byte else left
            if sib is None:
                continue
            pa = atom.positive != neg_below
            for g in self._guards_in(sib):
                # `a && (x || g)` does not need g: x alone lets the page through.
                ok, neg, ops = self._path(g.node, node)
                if not ok or not ops <= {op}:
                    continue
                pg = g.positive != neg
                if (op == "&&" and pa and pg) or (op == "||" and not pa and not pg):
                    return g
        return None

    def _enclosing(self, stmt: Node) -> Atom | None:
        """A guard on the way to `stmt`: an enclosing `if` it depends on, or an earlier bail-out
        in an enclosing block (`if (folio_ref_count(folio) > 3) goto copy;`)."""
        node = stmt
        body = self.fn.body
        while node.parent is not None and self._inside_fn(node.parent) and node != body:
            parent = node.parent
            if parent.type == "if_statement" and parent.child_by_field_name("consequence") == node:
                cond = parent.child_by_field_name("condition")
                g = self._gate(cond, "&&", True) if cond is not None else None
                if g is not None:
                    return g
            elif parent.type == "else_clause" and parent.parent is not None and parent.parent.type == "if_statement":
                cond = parent.parent.child_by_field_name("condition")
                g = self._gate(cond, "||", False) if cond is not None else None
                if g is not None:
                    return g
            if parent.type in _CONTAINERS:
                for sib in parent.named_children:
                    if sib.start_byte >= node.start_byte:
                        break
                    while sib.type == "labeled_statement" and sib.named_child_count:
                        sib = sib.named_children[-1]
                    if sib.type == "if_statement" and self.branch(sib) == "bail":
                        cond = sib.child_by_field_name("condition")
                        g = self._gate(cond, "||", False) if cond is not None else None
                        if g is not None:
                            return g
            node = parent
        return None


def _comparison(call: Node) -> tuple[Node, bool] | None:
    """The comparison a counter call takes part in, and whether it reads "not shared"
    (`page_count(p) == 1`, `1 >= page_mapcount(p)`) rather than "shared" (`!= 1`, `> 1 + …`)."""
    n = call
    while n.parent is not None:
        p = n.parent
        if p.type == "parenthesized_expression" or (p.type == "binary_expression" and _op(p) in _ARITH):
            n = p
            continue
        if p.type == "binary_expression" and _op(p) in _CMP:
            op = str(_op(p))
            left = p.child_by_field_name("left")
            on_left = left is not None and left.start_byte <= call.start_byte < left.end_byte
            if op == "==":
                return p, True
            if op == "!=":
                return p, False
            small = {"<", "<="} if on_left else {">", ">="}
            return p, op in small
        return None
    return None


def _statement(node: Node) -> Node:
    n = node
    while n.parent is not None and n.type not in ("expression_statement", "declaration", "return_statement"):
        n = n.parent
    return n


def _call_names(node: Node) -> list[str]:
    """Callees of every direct call inside `node`."""
    out: list[str] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if n.type == "call_expression":
            name = _callee(n)
            if name is not None:
                out.append(name)
        stack.extend(n.named_children)
    return out


# ---------------------------------------------------------------------------------------------
# The three verdicts


@dataclass(frozen=True)
class HelperFact:
    """What one definition of a reuse predicate counts."""

    name: str
    """The predicate (`reuse_swap_page`)."""
    kind: str | None
    """refcount when it counts the refcount, mapcount when only the mapcount, None when neither."""
    evidence: Evidence
    """The line that shows it."""


@dataclass
class Profiler:
    """Builds a CowProfile for one tree; `evidence` collects the lines in verdict order."""

    tree: TreeFiles
    """The tree's files."""
    cat: CowCatalogue
    """The idioms."""
    evidence: list[Evidence] = field(default_factory=list)
    """Evidence so far."""

    # -- reuse ----------------------------------------------------------------------------------

    def helpers(self) -> list[HelperFact]:
        """What each reuse predicate's definitions in this tree count (function and macro)."""
        cat = self.cat
        preds = frozenset().union(*(cat.kinds[k].predicates for k in KINDS))
        counters = {name: k for k in KINDS for name in cat.kinds[k].counters}
        names = frozenset(counters)
        out: list[HelperFact] = []
        for sf in self.tree.files(cat.reuse_helper_files):
            if not sf.mentions(preds):
                continue
            defs: list[tuple[str, int, list[tuple[str, int]], str]] = []
            for fn in sf.find(preds):
                hits = [
                    (name, sf.lines.line_of(call.start_byte))
                    for name, call in sf.calls(fn, names)
                    if not _dead(sf.src, call) and not _asserted(cat, fn, call)
                ]
                defs.append((fn.name, fn.line, hits, "function"))
            for name, node in sf.macros(preds):
                if _dead(sf.src, node):
                    continue
                body = node.child_by_field_name("value")
                base = body.start_byte if body is not None else node.end_byte
                text = sf.src[base : body.end_byte] if body is not None else b""
                hits = [
                    (m.group(1).decode(), sf.lines.line_of(base + m.start(1)))
                    for m in _names_regex(names, True).finditer(text)
                ]
                defs.append((name, sf.lines.line_of(node.start_byte), hits, "macro"))
            for name, line, hits, what in sorted(defs, key=lambda d: d[1]):
                label = f"{name}() ({what})"
                ref = next(((h, ln) for h, ln in hits if counters[h] == REFCOUNT), None)
                mc = next(((h, ln) for h, ln in hits if counters[h] == MAPCOUNT), None)
                if ref is not None:
                    fact = HelperFact(name, REFCOUNT, Evidence(sf.path, ref[1], f"{label} counts {ref[0]}(): a refcount test"))
                elif mc is not None:
                    msg = f"{label} counts {mc[0]}() and never the refcount: a mapcount-only test"
                    fact = HelperFact(name, MAPCOUNT, Evidence(sf.path, mc[1], msg))
                else:
                    msg = f"{label} counts nothing the catalogue knows: kept as a mapcount test"
                    fact = HelperFact(name, None, Evidence(sf.path, line, msg))
                out.append(fact)
        return out

    def reuse(self) -> tuple[str, tuple[CowSite, ...]]:
        """`reuse_check` and `mapcount_only_sites`, one site per deciding function."""
        cat = self.cat
        facts = self.helpers()
        # NOTE: a predicate whose definition counts the refcount (2.6.11's can_share_swap_page()
        # used `switch (page_count(page))`) is no mapcount test in this tree.
        demoted = {f.name: REFCOUNT for f in facts if f.kind == REFCOUNT}
        sites: list[CowSite] = []
        main_kinds: dict[str, Atom] = {}
        relied_on: set[str] = set(demoted)
        ev: list[Evidence] = []
        for name, what in cat.reuse_functions.items():
            for sf, fn in self.tree.find([name]):
                if fn.degraded:
                    ev.append(Evidence(sf.path, fn.line, f"{name}() is not a clean function_definition: tests read from damaged nodes"))
                an = ReuseAnalyzer(cat, sf, fn, demoted)
                decisive = [v for v in map(an.verdict, an.atoms) if v.decisive]
                unsafe = next((v for v in decisive if MAPCOUNT in v.atom.kinds and v.guard is None), None)
                if unsafe is not None:
                    a = unsafe.atom
                    if not any(s.file == sf.path and s.function == name for s in sites):
                        sites.append(CowSite(sf.path, a.line, name, a.text))
                    relied_on.update(c for c in a.callees if c in cat.kinds[MAPCOUNT].predicates)
                    msg = (
                        f"{name}() reuses {what} on {a.text} alone: no page_count/folio_ref_count or "
                        "PageAnonExclusive test on that path (mapcount-only)"
                    )
                    ev.append(Evidence(sf.path, a.line, msg))
                    if name in cat.main:
                        main_kinds.setdefault(MAPCOUNT, a)
                    continue
                for kind, label in ((EXCLUSIVE, "the anon-exclusive bit"), (REFCOUNT, "a refcount test")):
                    v = next((v for v in decisive if kind in v.atom.kinds), None)
                    if v is None:
                        continue
                    ev.append(Evidence(sf.path, v.atom.line, f"{name}() decides reuse of {what} with {v.atom.text}: {label}"))
                    if name in cat.main:
                        main_kinds.setdefault(kind, v.atom)
                guarded = next((v for v in decisive if MAPCOUNT in v.atom.kinds and v.guard not in (None, v.atom)), None)
                if guarded is not None and guarded.guard is not None:
                    g, a = guarded.guard, guarded.atom
                    how = f"together with {g.text}" if guarded.conjoined else f"behind {g.text} (line {g.line})"
                    ev.append(Evidence(sf.path, a.line, f"{name}() tests {a.text} only {how}"))
        verdict = "unknown"
        for kind, label in ((MAPCOUNT, "mapcount-only"), (EXCLUSIVE, "anon-exclusive"), (REFCOUNT, "page-count")):
            if kind in main_kinds:
                verdict = label
                break
        if verdict == "unknown":
            main = cat.main[0] if cat.main else "do_wp_page"
            defs = self.tree.find([main])
            if defs:
                sf, fn = defs[0]
                self.evidence.append(Evidence(sf.path, fn.line, f"{main}() has no reuse test the catalogue knows: reuse check unknown"))
            else:
                self.evidence.append(Evidence(cat.files[0], 1, f"{main}() not found: reuse check unknown"))
        self.evidence.extend(ev)
        # Cite only the predicate definitions a verdict relies on.
        self.evidence.extend(f.evidence for f in facts if f.name in relied_on)
        return verdict, tuple(sites)

    # -- fork -----------------------------------------------------------------------------------

    def fork(self) -> bool:
        """`fork_copies_pinned`: a fork page-table copier tests for possibly pinned pages."""
        cat = self.cat
        names = cat.fork_checks | cat.fork_wrappers
        wrappers: dict[str, tuple[bool, Evidence]] = {}
        found = self.tree.find(cat.fork_functions)
        hits: dict[tuple[str, int], Node] = {}
        for sf, fn in found:
            for name, call in sf.calls(fn, names):
                if _dead(sf.src, call) or _asserted(cat, fn, call):
                    continue
                if name in cat.fork_wrappers:
                    if name not in wrappers:
                        wrappers[name] = self._wrapper(name)
                    if not wrappers[name][0]:
                        continue
                hits[(sf.path, fn.start)] = call
                break
        copiers = frozenset(fn.name for sf, fn in found if (sf.path, fn.start) in hits)
        shares = frozenset(cat.fork_shares)
        ev: list[Evidence] = []
        for sf, fn in found:
            hit = hits.get((sf.path, fn.start))
            if hit is not None:
                msg = f"{fn.name}() copies a possibly pinned anon page instead of sharing it ({_text(sf.src, hit)})"
                ev.append(Evidence(sf.path, sf.lines.line_of(hit.start_byte), msg))
                continue
            # A copier with neither a pin test nor a share (6.1's copy_present_page() is the
            # copy itself) says nothing about sharing; nor does one that shares only after a
            # copier it calls declined to copy (5.10's copy_present_pte()).
            if next(sf.calls(fn, copiers), None) is not None:
                continue
            share = next((c for _, c in sf.calls(fn, shares) if not _dead(sf.src, c)), None)
            if share is not None:
                msg = f"{fn.name}() shares anon pages with the child ({_text(sf.src, share)}) with no pin test"
                ev.append(Evidence(sf.path, sf.lines.line_of(share.start_byte), msg))
        if not found:
            ev.append(Evidence(cat.files[0], 1, "no fork page-table copier found: fork taken to share pinned pages"))
        ev.extend(e for _, e in wrappers.values())
        self.evidence.extend(ev)
        return bool(hits)

    def _wrapper(self, name: str) -> tuple[bool, Evidence]:
        """Whether wrapper `name` reaches a pin test in its definition (following the helpers it
        calls in the same files), with the line that shows it. A wrapper whose definition is not
        in the files read is trusted to the catalogue."""
        cat = self.cat
        todo, seen = [name], set[str]()
        first_def: tuple[str, int] | None = None
        while todo and len(seen) < 8:
            cur = todo.pop(0)
            if cur in seen:
                continue
            seen.add(cur)
            for sf, fn in self.tree.find([cur], cat.fork_helper_files):
                first_def = first_def or (sf.path, fn.line)
                local = frozenset(sf.functions) | cat.fork_checks
                for callee, call in sf.calls(fn, local):
                    if _dead(sf.src, call):
                        continue
                    if callee in cat.fork_checks:
                        via = "" if cur == name else f" (in {cur}())"
                        msg = f"{name}() refuses to share a page when {_text(sf.src, call)}{via}"
                        return True, Evidence(sf.path, sf.lines.line_of(call.start_byte), msg)
                    todo.append(callee)
        if first_def is not None:
            return False, Evidence(first_def[0], first_def[1], f"{name}() never tests for a pin: fork shares what it duplicates")
        where = cat.fork_helper_files[0] if cat.fork_helper_files else cat.files[0]
        return True, Evidence(where, 1, f"{name}() definition not read: taken to test for pins, as the catalogue says")

    # -- gup ------------------------------------------------------------------------------------

    def gup(self) -> bool:
        """`gup_unshares`: a gup function forces a COW break or unshares for read requests."""
        cat = self.cat
        calls = frozenset(i.name for i in cat.gup_idioms if i.is_call)
        idents = frozenset(i.name for i in cat.gup_idioms if not i.is_call)
        notes = {i.name: i.note for i in cat.gup_idioms}
        targets: list[tuple[SourceFile, Func]] = []
        for sf in self.tree.files(cat.gup_files):
            if sf.mentions(calls | idents):
                targets.extend((sf, fn) for fns in sf.functions.values() for fn in fns)
        others = [r for r in cat.files if r not in cat.gup_files]
        targets.extend(self.tree.find(cat.gup_functions, others))
        hits: list[Evidence] = []
        for sf, fn in targets:
            if fn.name in calls:
                continue  # the idiom's own definition (5.8's static should_force_cow_break())
            first: list[tuple[int, str, str]] = []
            call = next(((n, c) for n, c in sf.calls(fn, calls) if not _dead(sf.src, c)), None)
            if call is not None:
                first.append((call[1].start_byte, call[0], _text(sf.src, call[1])))
            ident = next(((n, i) for n, i in sf.identifiers(fn, idents) if not _dead(sf.src, i)), None)
            if ident is not None:
                first.append((ident[1].start_byte, ident[0], _text(sf.src, _statement(ident[1])).rstrip(";")))
            if first:
                off, name, text = min(first)
                hits.append(Evidence(sf.path, sf.lines.line_of(off), f"{fn.name}() {notes[name]}: {text}"))
        if hits:
            self.evidence.extend(sorted(set(hits), key=lambda e: (e.file, e.line)))
            return True
        words = ", ".join(f"{i.name}()" if i.is_call else i.name for i in cat.gup_idioms)
        anchor = next((d for a in cat.gup_anchors for d in self.tree.find([a])), None)
        if anchor is not None:
            sf, fn = anchor
            self.evidence.append(Evidence(sf.path, fn.line, f"{fn.name}() breaks COW only for write requests: no {words}"))
        else:
            self.evidence.append(Evidence(cat.gup_files[0] if cat.gup_files else cat.files[0], 1, f"no gup core found; no {words}"))
        return False


def profile(root: Path | Any) -> CowProfile:
    """The COW safety profile of the kernel tree at `root`, a folder or a Source (reads a few
    files, writes nothing)."""
    cat = catalogue()
    pr = Profiler(TreeFiles(root if not isinstance(root, str) else Path(root), cat), cat)
    reuse_check, sites = pr.reuse()
    fork = pr.fork()
    gup = pr.gup()
    pr.evidence.extend(pr.tree.unreadable)
    return CowProfile(
        reuse_check=reuse_check,
        mapcount_only_sites=sites,
        fork_copies_pinned=fork,
        gup_unshares=gup,
        evidence=tuple(pr.evidence),
    )


def _main() -> None:  # pragma: no cover - a developer aid: python -m audit.cow TREE...
    import sys

    for arg in sys.argv[1:]:
        t = time.perf_counter()
        p = profile(Path(arg))
        dt = time.perf_counter() - t
        print(f"{arg}: {p.reuse_check}, fork_copies_pinned={p.fork_copies_pinned}, gup_unshares={p.gup_unshares} ({dt:.3f}s)")
        for s in p.mapcount_only_sites:
            print(f"  site {s.file}:{s.line} {s.function}() {s.idiom}")
        for e in p.evidence:
            print(f"  {e.file}:{e.line}: {e.message}")


if __name__ == "__main__":  # pragma: no cover
    _main()
