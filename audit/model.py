"""Domain types shared by every layer: spans, facts, sites, the COW profile and the report.

Frozen dataclasses and Enums only; no I/O, no tree-sitter objects. Facts hold plain values so
that they can cross process boundaries (pickle) and be compared in tests.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from enum import Enum
from typing import Any, NewType

RuleId = NewType("RuleId", str)


def fast_init(cls: type) -> type:
    """Give a frozen dataclass an `__init__` that fills the instance's `__dict__` directly.

    The generated one sets each field through `object.__setattr__` (the frozen guard), about 0.25 µs
    a field; the fact types below are made in the hundreds of thousands per run. The values, the
    defaults, equality, hashing and pickling are the dataclass's own. Only for classes without
    `__post_init__`, `default_factory` or keyword-only fields.
    """
    params, body, ns = [], [], {}
    for f in fields(cls):
        assert f.init and f.default_factory is MISSING and not f.kw_only, (cls, f.name)
        if f.default is MISSING:
            params.append(f.name)
        else:
            ns[f"_{f.name}"] = f.default
            params.append(f"{f.name}=_{f.name}")
        body.append(f"    d[{f.name!r}] = {f.name}\n")
    assert not hasattr(cls, "__post_init__"), cls
    exec(f"def __init__(self, {', '.join(params)}):\n    d = self.__dict__\n{''.join(body)}", ns)  # noqa: S102
    init = ns["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[misc]
    return cls


class RefKind(str, Enum):
    """Which reference a gup-family call takes on the pages it returns."""

    GET = "get"
    PIN = "pin"
    NONE = "none"


class Status(str, Enum):
    """The verdict on one acquire site's closure (interface.md, `status`)."""

    CONVERTED = "converted"
    RAW_CLOSURE = "raw-closure"
    MISMATCH = "mismatch"
    NO_CLOSURE_FOUND = "no-closure-found"
    NO_PAGES = "no-pages"


@fast_init
@dataclass(frozen=True)
class Span:
    """A source position, converted once from tree-sitter coordinates by parse.py."""

    line: int
    """1-based line of the first character."""
    column: int
    """1-based character column (a tab counts as one)."""
    end_line: int
    """1-based line of the last character."""
    end_column: int
    """1-based character column just past the last character."""
    start_byte: int
    """Byte offset of the first character in the file."""
    end_byte: int
    """Byte offset just past the last character."""


@fast_init
@dataclass(frozen=True)
class FuncInfo:
    """A function body found in a file (by tree-sitter, or by the kernel-style text fallback)."""

    name: str
    """The function's name (`sys_vmsplice` for `SYSCALL_DEFINE3(vmsplice, …)`)."""
    line: int
    """1-based line of the name."""
    start_byte: int
    """Byte offset of the body's opening brace."""
    end_byte: int
    """Byte offset just past the body's closing brace."""
    params: tuple[str, ...]
    """Parameter names in order ('' where a parameter has no name)."""
    param_types: tuple[str, ...]
    """The struct tag of each parameter (`bio` for `struct bio *b`), '' when not a struct."""
    static: bool
    """Declared `static` (file-local)."""
    degraded: bool
    """Found by the text fallback because tree-sitter could not build a function_definition."""


@fast_init
@dataclass(frozen=True)
class Call:
    """One call expression with a plain identifier callee."""

    name: str
    """The callee."""
    span: Span
    """Span of the callee's name token."""
    call_end_byte: int
    """Byte offset just past the closing parenthesis."""
    args: tuple[str, ...]
    """Source text of each argument."""
    func: str | None
    """Enclosing function, None at file scope."""
    lhs: str | None
    """What the result is assigned to (`x = f()`, `T *x = f()`), else None."""
    returned: bool
    """The call is the operand of a `return` statement."""
    in_loop: bool
    """The call is inside a for/while/do body or a *for_each* iterator macro body."""
    dead: bool
    """The call sits under `#if 0`."""
    guard: str | None
    """Text of the nearest enclosing `if` condition within the function, if any."""
    guard_else: bool
    """The call is in the else branch of `guard`."""
    stmt_line: int
    """1-based line of the enclosing statement."""


@fast_init
@dataclass(frozen=True)
class Assign:
    """An assignment or initialised declaration inside a function: `lhs = rhs`."""

    lhs: str
    """Left-hand side text (declared name for a declaration)."""
    rhs: str
    """Right-hand side text."""
    func: str | None
    """Enclosing function."""
    line: int
    """1-based line."""


@fast_init
@dataclass(frozen=True)
class Decl:
    """A variable of struct type declared in a function: `struct bio *bio`."""

    name: str
    """The variable's name."""
    struct: str
    """The struct tag."""
    func: str | None
    """Enclosing function (None at file scope)."""


@dataclass(frozen=True)
class MacroDef:
    """A function-like `#define` whose body calls a catalogue API."""

    name: str
    """The macro's name."""
    params: tuple[str, ...]
    """The macro's parameter names."""
    body: str
    """The macro's replacement text."""
    line: int
    """1-based line of the `#define`."""


@dataclass(frozen=True)
class ParseProblem:
    """A file that could not be read or parsed, or parsed with damage (interface.md)."""

    file: str
    """Path relative to the tree root."""
    line: int
    """1-based line (1 when the whole file is concerned)."""
    message: str
    """What went wrong."""


@dataclass(frozen=True)
class FileFacts:
    """Everything the analysis needs from one parsed file; produced in a worker process."""

    path: str
    """Path relative to the tree root, `/`-separated."""
    functions: tuple[FuncInfo, ...]
    """Function bodies in file order."""
    calls: tuple[Call, ...]
    """Calls of interest, in file order."""
    assigns: tuple[Assign, ...]
    """Assignments inside functions."""
    decls: tuple[Decl, ...]
    """Struct-typed variables."""
    macros: tuple[MacroDef, ...]
    """Function-like macros that call catalogue APIs."""
    returns: tuple[tuple[str, str], ...]
    """(function, returned expression text) for every `return expr;`."""
    lines: tuple[int, ...]
    """Byte offset of the start of each line (for snippets)."""
    problems: tuple[ParseProblem, ...]
    """Degradations worth reporting."""
    flows: tuple[Any, ...] = ()
    """Control-flow graphs (`flow.Flow`) of the functions that call an acquire API."""


@dataclass(frozen=True)
class Evidence:
    """One step of the reasoning behind a site's status."""

    file: str
    """Path relative to the tree root."""
    line: int
    """1-based line."""
    message: str
    """What this step found."""


class Severity(str, Enum):
    """How urgent a finding is (interface.md `findings[].severity`)."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"

    @property
    def rank(self) -> int:
        """0 for the most severe."""
        return ("error", "warning", "note").index(self.value)


@dataclass(frozen=True)
class Defect:
    """A fault the analysis found on one path of a site: its faulty line and the path to it."""

    rule: str
    """The rule id (`gup-leak`, `gup-release-count`, `gup-double-release`, `gup-dirty-lost`, …)."""
    file: str
    """Where the faulty line is."""
    line: int
    """1-based faulty line: the exit that leaks, the over-counting or second release, …"""
    column: int
    """1-based column on that line (1 when the whole line is meant)."""
    function: str | None
    """The function holding the faulty line."""
    message: str
    """One sentence a maintainer can check against the code."""
    path: tuple[Evidence, ...] = ()
    """The steps from the acquire to the faulty line (branches taken, hand-offs)."""
    confidence: str = "high"
    """high / medium / low; low findings are reported as notes."""


@dataclass(frozen=True)
class Finding:
    """One reported finding: made by the findings stage from a site or the COW profile."""

    rule: str
    """Rule id."""
    severity: Severity
    """Severity in this tree (by version, user class and confidence, as the rule says)."""
    message: str
    """The rendered message."""
    help: str
    """The rendered help line ('' when the rule has none)."""
    file: str
    """Path of the faulty line, relative to the tree root."""
    line: int
    """1-based faulty line."""
    column: int
    """1-based column."""
    path: tuple[Evidence, ...]
    """Steps from the acquire to the faulty line."""
    key: str
    """Stable identity across line shifts and versions: rule|file|function|API family."""
    function: str | None = None
    """The function the finding is about (the acquiring function for site findings)."""
    confidence: str = "high"
    """high / medium / low."""


@dataclass(frozen=True)
class Release:
    """One release call on a site's closure."""

    file: str
    """Path relative to the tree root."""
    line: int
    """1-based line of the release API's name token."""
    column: int
    """1-based column of the name token."""
    function: str | None
    """Enclosing function."""
    api: str
    """The release API or releasing wrapper called."""
    kind: RefKind
    """What this release drops: GET or PIN (NONE for a guarded either-kind release)."""
    width: int = 0
    """Length of the callee name, for carets."""
    guard: str | None = None
    """The `if` condition (or `case` label) the release sits under, in its function or its caller's."""
    guard_else: bool = False
    """The release is in the else branch of `guard`."""
    hops: int = 0
    """Function boundaries between the acquire and this release."""


@dataclass(frozen=True)
class Site:
    """One call of an acquire API, with its closure and verdict (interface.md `Site`)."""

    file: str
    """Path relative to the tree root, `/`-separated."""
    line: int
    """1-based line of the callee's name token."""
    column: int
    """1-based column of the callee's name token."""
    function: str | None
    """Enclosing C function."""
    api: str
    """The callee."""
    ref_kind: RefKind
    """GET or PIN, as this API takes it in this tree's version."""
    pages_arg: str | None
    """Source text of the pages argument, None when NULL/absent."""
    write: bool | None
    """Whether the pages are written; None if unknown."""
    status: Status
    """The closure verdict."""
    closure: tuple[Release, ...]
    """The release calls found for these pages."""
    evidence: tuple[Evidence, ...]
    """The chain that links acquire to release or explains the status."""
    klass: str = "unknown"
    """The user class (`class` in JSON)."""
    reached_from: tuple[str, ...] = ()
    """User classes whose entry points reach this site."""
    exposure: tuple[str, ...] = ()
    """The seed's races this site is exposed to."""
    rule: str | None = None
    """Id of the rule that produced the finding; None for clean sites."""
    call_text: str = ""
    """Normalised text of the call, for stable identity across line shifts."""
    width: int = 0
    """Length of the callee name, for carets."""
    wrapper: bool = False
    """The API is an acquire wrapper discovered in the tree, not a catalogue API."""
    catalogue_gap: bool = False
    """The call has an arity no form of the catalogue knows: its pages were not followed."""
    implementation: bool = False
    """The call sits in the implementation of a catalogue acquire API (its callers get the pages)."""
    defects: tuple[Defect, ...] = ()
    """Faults found on individual paths (leaks, counts, double releases, lost dirty bits)."""
    findings: tuple[Finding, ...] = ()
    """Every finding at this site, most severe first (set by the findings stage)."""


@dataclass(frozen=True)
class CowSite:
    """A place that decides COW reuse from the mapcount alone."""

    file: str
    """Path relative to the tree root."""
    line: int
    """1-based line of the decisive expression."""
    function: str
    """The deciding function."""
    idiom: str
    """The decisive expression, e.g. `reuse_swap_page(old_page)`."""


@dataclass(frozen=True)
class CowProfile:
    """The tree's COW safety profile with respect to the seed's races (interface.md `Cow`)."""

    reuse_check: str = "unknown"
    """`mapcount-only`, `page-count`, `anon-exclusive` or `unknown`: how do_wp_page reuses."""
    mapcount_only_sites: tuple[CowSite, ...] = ()
    """Every reuse decision taken from mapcount alone, one per deciding function."""
    fork_copies_pinned: bool = False
    """Fork copies possibly-pinned anon pages instead of sharing them."""
    gup_unshares: bool = False
    """gup breaks COW / unshares shared anon pages for read requests."""
    evidence: tuple[Evidence, ...] = ()
    """One or more lines per verdict."""


@dataclass(frozen=True)
class Wrapper:
    """A function discovered to acquire or release gup pages on behalf of its callers."""

    name: str
    """The wrapper function."""
    file: str
    """Where it is defined."""
    line: int
    """1-based line of its name."""
    kind: str
    """"acquire" (fills a parameter or returns the pages) or "release" (drops a parameter's pages)."""
    api: str
    """The gup or release API it wraps."""
    callers: tuple[tuple[str, int, str], ...]
    """(file, line, function) of the calls the audit parsed."""


@dataclass(frozen=True)
class TreeInfo:
    """What was scanned (interface.md `tree`)."""

    root: str
    """The tree as given on the command line."""
    kernel_version: str | None
    """`VERSION.PATCHLEVEL.SUBLEVEL` from the top Makefile."""
    files_scanned: int
    """.c/.h files considered."""
    files_parsed: int
    """Files parsed with tree-sitter."""
    parse_problems: tuple[ParseProblem, ...]
    """Files that could not be read or parsed."""
    scope: str = ""
    """The folder reported on, relative to the root ('' for the whole tree)."""


@dataclass(frozen=True)
class Report:
    """The result of one audit run over one tree."""

    tree: TreeInfo
    """What was scanned."""
    sites: tuple[Site, ...]
    """All acquire sites, sorted by file, line, column."""
    cow: CowProfile = field(default_factory=CowProfile)
    """The tree's COW profile."""
    wrappers: tuple[Wrapper, ...] = ()
    """Acquire and release wrappers discovered by the closure search."""
    cow_findings: tuple[Finding, ...] = ()
    """Tree-level findings of the COW profile (one per mapcount-only deciding function)."""

    def findings(self) -> list[Finding]:
        """Every finding of the report: the sites' and the COW profile's."""
        return [f for s in self.sites for f in s.findings] + list(self.cow_findings)
