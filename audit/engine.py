"""One audit run over one tree: prefilter (grep) + walk + intake -> analyse (this process and
forked ones) -> findings -> Report.

The driver between the layers. It reads the tree (never writes it) and returns plain values; the
CLI decides what to print. It keeps both cores busy: while grep reads the tree, this process walks
it, imports the analysis and prepares and parses the hits as they come, and a child at the lowest
priority works out the COW profile; then this process and a forked child share the analysis.
"""

from __future__ import annotations

import os
import pickle
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from typing import TYPE_CHECKING

from audit import catalogue, grep, walk
from audit.model import CowProfile, Evidence, ParseProblem, RefKind, Report, Site, TreeInfo, Wrapper
from audit.source import Source
from audit.version import format_version, tree_version

if TYPE_CHECKING:
    from audit.analyze import Analyzer
    from audit.store import FactStore

# NOTE: the parsing and analysis layers (tree-sitter among them), the result cache and
# multiprocessing are imported inside the functions that use them: a run served by the result
# cache starts in a fraction of the time, and a cold run starts grep sooner.


_T0 = time.perf_counter()


PROGRESS: list[Any] = []
"""Callbacks told each finished phase (the CLI's spinner on a terminal)."""


def _lap(what: str) -> None:
    """Report a finished phase: to the progress callbacks, and with its time to stderr when
    AUDIT_TIMINGS is set (for bench/ and profiling)."""
    for cb in PROGRESS:
        cb(what)
    if os.environ.get("AUDIT_TIMINGS"):
        # Wall time since start, and this process's CPU time: on a shared machine the second tells
        # what a phase costs, the first how long it waited.
        sys.stderr.write(f"[{time.perf_counter() - _T0:6.3f}s cpu {time.process_time():6.3f}s] {what}\n")


class InputError(Exception):
    """The path given is not something we can audit (exit 2)."""


def has_version_makefile(root: Path) -> bool:
    """Whether `root/Makefile` is a kernel top Makefile (sets VERSION and PATCHLEVEL)."""
    mk = root / "Makefile"
    if not mk.is_file():
        return False
    try:
        with mk.open("rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return b"VERSION" in head and b"PATCHLEVEL" in head


def is_tree(root: Path) -> bool:
    """Whether `root` looks like a kernel source tree: a versioned Makefile, or mm/ and include/."""
    return has_version_makefile(root) or ((root / "mm").is_dir() and (root / "include").is_dir())


def check_tree(root: Path) -> None:
    """Raise InputError unless `root` looks like a kernel source tree (interface.md)."""
    if not root.exists():
        raise InputError(f"{root}: no such file or directory")
    if not root.is_dir():
        raise InputError(f"{root}: not a directory")
    if not is_tree(root):
        raise InputError(f"{root}: not a kernel source tree (no Makefile with VERSION/PATCHLEVEL, no mm/ and include/)")


def find_root(path: Path) -> tuple[Path, str]:
    """The kernel tree holding `path` (a tree, or a folder inside one) and the folder relative to it.

    A versioned top Makefile marks the root; without one anywhere above, the nearest folder with
    `mm/` and `include/` (arch/x86 has both, so the Makefile is looked for first).
    """
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if not path.is_dir():
        raise InputError(f"{path}: not a directory")
    here = path.resolve()
    ups = (here, *here.parents)
    root = next((u for u in ups if has_version_makefile(u)), None) or next((u for u in ups if is_tree(u)), None)
    if root is None:
        check_tree(path)  # raises with the reason
    assert root is not None
    depth = len(here.relative_to(root).parts)
    if depth == 0:
        return path, ""
    return Path(os.path.normpath(os.path.join(path, *([".."] * depth)))), here.relative_to(root).as_posix()


@dataclass(frozen=True)
class Scan:
    """One tree, prefiltered and prepared for parsing on demand."""

    store: FactStore
    """The prefiltered files, parsed on demand."""
    files_scanned: int
    """.c/.h files considered."""
    files_parsed: int
    """Files parsed with tree-sitter."""
    problems: tuple[ParseProblem, ...]
    """Unreadable/unparseable files."""
    cow_job: Any
    """The tree's COW profile, being worked out in a child (`_Forked`)."""
    fingerprint: str
    """The walk's fingerprint of the tree state (cache key)."""

    @property
    def cow(self) -> CowProfile:
        """The tree's COW profile (waits for the child that works it out)."""
        return self.cow_job.result()  # type: ignore[no-any-return]


def _index_files(src: Source, files: list[str], out: dict[str, Any], calls: catalogue.CallFinder,
                 acquire: catalogue.CallFinder, problems: list[ParseProblem]) -> None:
    """Read the prefilter's candidate files and prepare the ones that call an acquire API.

    A candidate only contains a piece of an API's name; it is a hit when `calls` (the declared
    APIs, at token level) finds a call in its bytes. Hits are prepared (`store.prepare`: layout
    chunks, text indexes, which chunks call an acquire API); binary ones become problems, and so
    do files that cannot be read. A file over the parse limit is prepared all the same, and only
    the functions around its calls will be parsed.
    """
    from audit import store as store_mod

    for rel in files:
        if rel in out:
            continue
        out[rel] = None
        try:
            data = src.read_or_raise(rel)
        except OSError as e:
            problems.append(ParseProblem(rel, 1, f"cannot read: {e.strerror or e}"))
            continue
        if not calls.search(data) or not walk.usable(rel, data, problems):
            continue
        prep = store_mod.prepare(rel, data, acquire, big=len(data) > walk.MAX_BYTES)
        if prep.big:
            problems.append(ParseProblem(rel, 1, _big_note(data, prep)))
        out[rel] = prep


def _cow_profile(src: Source) -> CowProfile:
    from audit import cow

    return cow.profile(src)


class _Forked:
    """`fn(*args)` worked out in a forked child while this process goes on (a second core is idle
    until grep has read the tree), and in this process when there is no child to ask."""

    def __init__(self, fn: Callable[..., Any], *args: Any, nice: int = 0) -> None:
        self.fn = fn
        self.args = args
        self.pid = 0
        self.fd = -1
        self.done = False
        self.value: Any = None
        try:
            r, w = os.pipe()
            pid = os.fork()
        except (OSError, AttributeError):
            return
        if pid == 0:  # the child: the result, pickled, down the pipe; never back into the caller
            code = 1
            try:
                os.close(r)
                if nice:
                    os.nice(nice)
                data = pickle.dumps(fn(*args))
                with os.fdopen(w, "wb") as out:
                    out.write(data)
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        self.pid, self.fd = pid, r

    def ready(self) -> bool:
        """Whether the child has produced the value (without waiting for it)."""
        if self.pid:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == 0:
                return False
            self._take(self._read(), status)
        return self.done

    def promote(self) -> bool:
        """Give a child started at a low priority the normal one, so that it goes on sharing the
        cores with the analysis instead of being stopped and its work done again (False: there is
        no child, or this process may not raise a priority: RLIMIT_NICE)."""
        if not self.pid:
            return False
        try:
            os.setpriority(os.PRIO_PROCESS, self.pid, os.getpriority(os.PRIO_PROCESS, 0))
        except OSError:
            return False
        return True

    def cancel(self) -> None:
        """Stop the child (the value will be computed here, if asked for)."""
        if self.pid:
            os.kill(self.pid, 9)
            os.waitpid(self.pid, 0)
            os.close(self.fd)
            self.pid = 0

    def collect(self) -> bool:
        """Wait for the child and take its value; False when there is none (no child, or it failed)."""
        if not self.done and self.pid:
            data = self._read()  # before waiting: a child blocks on a full pipe until it is read
            _, status = os.waitpid(self.pid, 0)
            self._take(data, status)
        return self.done

    def _read(self) -> bytes:
        with os.fdopen(self.fd, "rb") as f:
            return f.read()

    def _take(self, data: bytes, status: int) -> None:
        self.pid = 0
        if status == 0 and data:
            self.value = pickle.loads(data)
            self.done = True

    def result(self) -> Any:
        """The value (from the child if it produced one, else computed here), once."""
        if not self.collect():
            self.value = self.fn(*self.args)
            self.done = True
        return self.value


class _Intake:
    """The candidate files grep reports, read as they come: each hit is prepared and registered
    in the fact store, and, while grep still reads the tree (this process has time to spare then),
    its acquire functions are parsed for the analysis."""

    def __init__(self, src: Source, cat: catalogue.Catalogue, calls: catalogue.CallFinder, job: Any,
                 dirs: tuple[str, ...], focus: frozenset[str], kernel_names: frozenset[str]) -> None:
        from audit.store import FactStore

        self.src = src
        self.calls = calls
        self.acquire = cat.acquire_calls()
        self.job = job
        self.store = FactStore(src, focus, dirs, kernel_names, cat.shared_dirs)
        self.store.flow_names = frozenset(cat.acquire)
        self.prepared: dict[str, Any] = {}
        self.problems: list[ParseProblem] = []

    def take(self, rels: list[str], early: bool) -> None:
        """Prepare and register `rels` (and parse their acquire functions, if `early`)."""
        _index_files(self.src, rels, self.prepared, self.calls, self.acquire, self.problems)
        for rel in rels:
            prep = self.prepared.get(rel)
            if prep is not None and rel not in self.store.hits:
                self.store.add_prepared(rel, prep)
                if early and self.job.running():
                    self.store.preparse(rel)

    def drain(self) -> None:
        """Take what grep has reported so far."""
        if hasattr(self.job, "early") and self.job.running():
            self.take(self.job.early(), True)

    def until_done(self, first: _Forked | None = None) -> None:
        """Take each file as grep reports it, until grep ends. In between, once `first` (the COW
        profile's child, which only gets the time this process leaves) is done: parse the callers
        of the hits' acquire functions, and read the folders the closure searches will look in
        for releases next to the hits (`store.search_near`)."""
        if not hasattr(self.job, "early"):
            return
        near = sorted(self.store.hits)
        callers = sorted(self.store.hits)
        while self.job.running():
            new = self.job.early()
            if new:
                self.take(new, True)
                hits = [r for r in new if r in self.store.hits]
                near.extend(hits)
                callers.extend(hits)
            elif first is not None and not first.ready():
                time.sleep(0.002)
            elif callers:
                self.store.preparse_callers(callers.pop(0))
            elif near:
                if not self.store.prefetch(near[0]):
                    near.pop(0)
            else:
                time.sleep(0.002)


def _big_note(data: bytes, prep: Any) -> str:
    """The parse problem of a file over the parse limit: what of it is parsed."""
    mb, limit = len(data) // (1024 * 1024), walk.MAX_BYTES // (1024 * 1024)
    note = f"file of {mb} MB is over the {limit} MB parse limit: only the {len(prep.acquire)} function(s) around its acquire calls are parsed"
    if prep.uncut:
        lines = ", ".join(str(data.count(b"\n", 0, b) + 1) for b in prep.uncut)
        note += f"; the call(s) at line(s) {lines} are outside any column-0 function and are not analysed"
    return note


def check_source(src: Source) -> None:
    """Raise InputError unless the source can be read and looks like a kernel tree (interface.md)."""
    why = src.problem()
    if why is not None:
        raise InputError(f"{src.label}: {why}")
    head = src.read("Makefile") or b""
    if not (b"VERSION" in head[:4096] and b"PATCHLEVEL" in head[:4096]) and not (
            src.exists("mm") and src.exists("include")):
        raise InputError(f"{src.label}: not a kernel source tree (no Makefile with VERSION/PATCHLEVEL, no mm/ and include/)")


def _declaring_text(src: Source, cat: catalogue.Catalogue) -> bytes:
    """The text of the catalogue's `declared_in` headers that exist in the tree."""
    return b"\n".join(filter(None, (src.read(h) for h in cat.declared_in)))


def declared_apis(src: Source, cat: catalogue.Catalogue, text: bytes | None = None) -> set[str]:
    """The acquire APIs the tree's headers declare: the ones worth prefiltering for.

    An API that none of the catalogue's `declared_in` headers names (memfd_pin_folios before 6.11, a
    driver-private static) cannot be called from another file; files defining or calling it
    privately still mention other catalogue names. Without those headers, all names.
    """
    names = set(cat.acquire)
    if text is None:
        text = _declaring_text(src, cat)
    if not text:
        return names
    found = {n for n in names if grep.has_word(text, n.encode())}
    return found or names


def _prefilter(src: Source, cat: catalogue.Catalogue) -> tuple[walk.Prefilter, catalogue.CallFinder]:
    """The byte prefilter of the tree's declared APIs (candidate files), and the token-level test
    that tells which candidates call one."""
    text = _declaring_text(src, cat)
    names = declared_apis(src, cat, text)
    pf = walk.prefilter(names, text)
    _lap("declared APIs")
    return pf, catalogue.CallFinder(tuple(sorted(names)))


def _preload() -> None:
    """Import the analysis and load the rule and class tables now, while grep reads the tree,
    rather than after it, when nothing else runs."""
    import importlib

    from audit import classify, rules

    for name in ("audit.analyze", "audit.findings"):
        importlib.import_module(name)
    rules.rule_by_id()
    # Loaded once here rather than once in each analysis process (or after the analysis).
    classify.load_entries()
    classify.load_classes()
    classify.load_exposure()


class CacheHit(Exception):
    """The tree is unchanged since a cached run: here is its report."""

    def __init__(self, report: Report) -> None:
        super().__init__("cached")
        self.report = report


def scan(src: Source, cat: catalogue.Catalogue, workers: int | None = None, use_cache: bool = False) -> Scan:
    """Walk and prefilter the tree `src` reads and prepare its files for parsing.

    With `use_cache`, a cached report of the same tree state raises CacheHit before any parsing.
    """
    pool_size = workers or os.cpu_count() or 1
    focus = cat.focus()
    fp_box: list[str] = []
    if use_cache:
        from audit import cache
    if use_cache and cache.seen(src.identity()):
        # A report of this tree is cached: its fingerprint decides before anything else runs.
        w, fp = src.walk_fingerprinted()
        fp_box.append(fp)
        _lap("walk and fingerprint done")
        hit = cache.load(cache.report_key(src, fp_box[0]))
        if hit is not None:
            raise CacheHit(hit)
        pf, calls = _prefilter(src, cat)
        job = src.start_grep(pf, pool_size)
    else:
        pf, calls = _prefilter(src, cat)
        job = src.start_grep(pf, pool_size)
        # The walk runs here while grep reads the tree; on a first run with the cache on, it also
        # fingerprints the tree (one stat per file).
        if use_cache:
            w, fp = src.walk_fingerprinted()
            fp_box.append(fp)
        else:
            w = src.walk()
        _lap("walk done")
    from audit import queries

    kernel_names = frozenset(cat.acquire) | frozenset(cat.release) | frozenset(cat.handoffs) | cat.dirtying | cat.allocators
    intake = _Intake(src, cat, calls, job, w.dirs, focus, kernel_names)
    # The query is compiled now so that the forked workers inherit it instead of compiling it each.
    queries.warm()
    intake.drain()
    _preload()
    _lap("analysis imported")
    # The COW profile is worked out in a child forked now, when the parser, the query and the
    # catalogue it needs are loaded, at the lowest priority: it only takes time that grep and this
    # process leave over (they keep both cores busy on a small tree; see audit_tree).
    cow_job = _Forked(_cow_profile, src, nice=19)
    intake.until_done(cow_job)
    pre = job.result()
    _lap("grep done")
    problems = list(w.problems)
    small = len(w.files) < 2000
    if pre is not None:
        candidates, gp = pre
        # A folder the walk could not read is reported once, by the walk.
        known = {p.file for p in problems}
        problems.extend(p for p in gp if p.file not in known)
    else:
        # No grep: the same prefilter in Python, in workers.
        chunks = walk.chunked(list(w.files), 1 if small else pool_size * 6)
        with walk.Pool(pool_size) as pool:
            found = pool.map(walk.prefilter_chunk, [(src, [r for r, _ in ch], pf) for ch in chunks], small)
        candidates = {rel for part, _ in found for rel in part}  # type: ignore[misc]
        problems.extend(p for _, part in found for p in part)  # type: ignore[misc]
    intake.take(sorted(candidates), False)
    problems.extend(intake.problems)
    _lap("files prepared")
    store = intake.store
    parsed = len(store.hits)
    problems.sort(key=lambda p: (p.file, p.line))
    return Scan(store, len(w.files), parsed, tuple(problems), cow_job, fp_box[0] if fp_box else "")


def load_catalogues() -> None:
    """Build every typed view of rules/catalogue/*.toml now, so that a malformed file stops the run
    (CatalogueError) before any work starts; each view is cached, so this costs nothing later."""
    from audit import classify, cow, parse

    parse.mask_spec()
    cow.catalogue()
    classify.load_classes()
    classify.load_entries()
    classify.load_exposure()
    classify.load_legitimate()


def audit_tree(src: Source, shown_root: str | None = None, workers: int | None = None,
               use_cache: bool = False) -> Report:
    """Audit the tree `src` reads (a folder, a git revision) and return its Report, from the result
    cache when the tree is unchanged."""
    check_source(src)
    version = tree_version(src)
    cat = catalogue.load(version)
    load_catalogues()
    shown = shown_root if shown_root is not None else src.label
    try:
        sc = scan(src, cat, workers, use_cache)
    except CacheHit as hit:
        _lap("cache hit")
        return replace(hit.report, tree=replace(hit.report.tree, root=shown))
    from audit import classify, rules
    from audit.analyze import Analyzer

    an = Analyzer((), cat, version, sc.store)
    # The acquire functions parsed while grep ran, indexed in path order (as one worker analysing
    # every file starts), before the workers fork: a worker's lookups must not find a function
    # marked parsed whose facts only another process has.
    for rel in sc.store.preparsed():
        an.look.take(sc.store.acquire_facts(rel))
    an.look.take(sc.store.preparsed_callers())
    _lap("index built")
    # The COW profile's child runs at the lowest priority, on time grep and the main process leave
    # over. If it has not finished by now (both cores were busy), it gets the normal priority and
    # shares the cores with the analysis, its work so far kept; where a priority cannot be raised
    # (RLIMIT_NICE), it is stopped and the analysis does the profile as one of its tasks (the first
    # handed out).
    late = not sc.cow_job.ready() and not sc.cow_job.promote()
    if late:
        sc.cow_job.cancel()
    (raw, reach, wrappers, more_problems), late_prof = analyse(
        an, workers or os.cpu_count() or 1, classify.present_classes(src), partial(_cow_profile, src) if late else None)
    prof = late_prof if late else sc.cow
    _lap("COW profile done" + (" (by the analysis)" if late else ""))
    decorated = []
    for s in raw:
        klass, why = classify.classify(s.file, s.function)
        exp, ewhy = classify.exposure(s.ref_kind, s.write, s.status, prof)
        if prof.reuse_check == "unknown" and s.ref_kind is RefKind.PIN and exp:
            # NOTE: without a recognisable mm/memory.c nothing is known about fork copying pins.
            exp, ewhy = (), "no exposure claimed: the tree's fork/COW code was not recognised"
        extra = (Evidence(s.file, s.line, why),) + ((Evidence(s.file, s.line, ewhy),) if ewhy else ())
        decorated.append(replace(s, klass=klass, reached_from=reach.get((s.file, s.line), ()), exposure=exp,
                                 evidence=s.evidence + extra))
    from audit import findings

    sites, cow_found = findings.attach(decorated, prof, rules.rule_by_id(), version, cat)
    _lap("sites analysed")
    info = TreeInfo(
        root=shown,
        kernel_version=format_version(version),
        files_scanned=sc.files_scanned,
        files_parsed=sc.files_parsed,
        parse_problems=tuple(sorted(sc.problems + tuple(more_problems), key=lambda p: (p.file, p.line))),
    )
    report = Report(tree=info, sites=sites, cow=prof, wrappers=tuple(wrappers), cow_findings=cow_found)
    if use_cache and sc.fingerprint:
        from audit import cache

        cache.store(cache.report_key(src, sc.fingerprint), report)
        cache.mark(src.identity())
    return report


_FORKED: Analyzer | None = None
"""The analyzer the forked analysis workers inherit (set just before the fork)."""

Analysed = tuple[list[Site], dict[tuple[str, int], tuple[str, ...]], list[Wrapper], list[ParseProblem]]


_PRESENT: frozenset[str] = frozenset()
"""Entry classes whose code exists in the audited tree (set with _FORKED)."""


def _analyse_files(files: list[str]) -> Analysed:
    from audit import classify

    an = _FORKED
    assert an is not None
    sites = an.sites(files)
    reach = classify.reached_from(sites, an.ix, an.load_callers, _PRESENT, an.store.hits if an.store else None)
    return sites, reach, an.wrappers(), list(an.store.problems if an.store else [])


_MAX_TASKS = 1000
"""Most tasks handed out one by one (larger trees get several files per task)."""


_EXTRA: Callable[[], Any] | None = None
"""An extra task that is not a file's analysis (the COW profile, when its child did not finish)."""


def _run_task(i: int, tasks: list[list[str]]) -> Any:
    return _analyse_files(tasks[i]) if i < len(tasks) else _EXTRA() if _EXTRA is not None else None


def _take_tasks(tokens: int, tasks: list[list[str]]) -> list[tuple[int, Any]]:
    """Do the tasks whose numbers this process reads from the shared pipe, until it is empty."""
    out = []
    while True:
        got = os.read(tokens, 4)
        if len(got) < 4:
            return out
        i = int.from_bytes(got, "little")
        out.append((i, _run_task(i, tasks)))


def _shared_out(tasks: list[list[str]], workers: int) -> tuple[list[Analysed], Any]:
    """The results of `tasks`, in order, analysed by this process and `workers - 1` forked ones,
    and the value of the extra task (`_EXTRA`), if any.

    Every process takes the next task number from one pipe (a read of 4 bytes is atomic), so the
    tasks go, largest first, to whichever process is free; a child sends its results, pickled,
    down its own pipe when the tasks run out. This process works too, instead of waiting on a
    pool: one fork fewer, and its own results are never pickled. Tasks of a child that fails are
    done here.
    """
    if len(tasks) > _MAX_TASKS:
        # The task numbers must fit in a pipe's buffer before anyone reads them (4 KB at least).
        step = -(-len(tasks) // _MAX_TASKS)
        tasks = [[f for t in tasks[k : k + step] for f in t] for k in range(0, len(tasks), step)]
    count = len(tasks) + (_EXTRA is not None)
    tokens, feed = os.pipe()
    # The extra task (the COW profile) is handed out first: it costs more than most files, and
    # whichever process gets it last would leave the other core idle while it runs.
    order = [len(tasks), *range(len(tasks))] if _EXTRA is not None else range(count)
    os.write(feed, b"".join(i.to_bytes(4, "little") for i in order))
    os.close(feed)
    # The children send their results down their own pipes, never back into the caller.
    children = [_Forked(_take_tasks, tokens, tasks) for _ in range(workers - 1)]
    try:
        done = dict(_take_tasks(tokens, tasks))
    except BaseException:
        for child in children:  # this process failed: its children's work is not wanted
            child.cancel()
        raise
    finally:
        os.close(tokens)
    for child in children:
        if child.collect():
            done.update(child.value)
    results = [done[i] if i in done else _run_task(i, tasks) for i in range(count)]
    return results[: len(tasks)], results[len(tasks)] if count > len(tasks) else None


def analyse(an: Analyzer, workers: int, present: frozenset[str] = frozenset(),
            extra: Callable[[], Any] | None = None) -> tuple[Analysed, Any]:
    """Run the closure search of every site, spread over forked processes on a large tree, and
    `extra()` as one more task (handed out first).

    Each worker inherits the first-round index and parses on demand what its sites need; files are
    handed out one at a time (largest acquire functions first), so one expensive file does not hold
    up the rest. The results (plain values) are merged here.
    """
    global _FORKED, _PRESENT, _EXTRA
    _PRESENT = present
    files = sorted(an.store.hits) if an.store is not None else sorted(an.ix.files)
    _FORKED = an
    _EXTRA = extra
    value = None
    try:
        if workers < 2 or len(files) < 40:
            parts = [_analyse_files(files)]
            value = extra() if extra is not None else None
        else:
            # Largest first by the size of the functions that call an acquire API: what each file's
            # sites parse and walk every path of (2.6.32's cryptocop.c: 49 functions, one of them
            # 17 KB, a third of that tree's analysis).
            store = an.store
            weight = {f: store.acquire_bytes(f) if store is not None else 0 for f in files}
            order = sorted(files, key=lambda f: (-weight[f], f))
            parts, value = _shared_out([[f] for f in order], workers)
    finally:
        _FORKED = None
        _EXTRA = None
    sites: list[Site] = []
    reach: dict[tuple[str, int], tuple[str, ...]] = {}
    wrappers: dict[tuple[str, str, str], Wrapper] = {}
    problems: dict[tuple[str, int, str], ParseProblem] = {}
    for s_part, r_part, w_part, p_part in parts:
        sites.extend(s_part)
        reach.update(r_part)
        for w in w_part:
            old = wrappers.get((w.file, w.name, w.kind))
            if old is None or len(w.callers) > len(old.callers):
                wrappers[(w.file, w.name, w.kind)] = w
        for p in p_part:
            problems[(p.file, p.line, p.message)] = p
    sites.sort(key=lambda s: (s.file, s.line, s.column))
    return (sites, reach, sorted(wrappers.values(), key=lambda w: (w.file, w.name, w.kind)),
            list(problems.values())), value
