"""Walks a tree for *.c/*.h files, prefilters their bytes and parses the matches in worker processes.

Each file is read once: a worker reads it, runs the byte prefilter (the catalogue's acquire names
followed by `(`), and parses it with tree-sitter only when it matches. Files that cannot be read,
are binary, or too large become ParseProblems; nothing here raises on bad input, and nothing is
ever written under the tree.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any
from multiprocessing import get_context

from audit.model import ParseProblem

MAX_BYTES = 8 * 1024 * 1024
"""Files above this size are not parsed (generated register headers reach 10+ MB)."""

_SKIP_DIRS = frozenset({".git", ".hg", ".svn", ".pc"})


@dataclass(frozen=True)
class Walked:
    """The .c/.h files of a tree."""

    files: tuple[tuple[str, int], ...]
    """(relative path, 0) pairs, sorted by path (sizes are taken later, for parsed files only)."""
    problems: tuple[ParseProblem, ...]
    """Entries that could not be walked (dangling or looping symlinks, unreadable folders)."""
    dirs: tuple[str, ...] = ()
    """Every folder walked (relative), for the neighbourhood search."""


def walk(root: str) -> Walked:
    """List the .c/.h files under `root` without following symlinks."""
    out: list[tuple[str, int]] = []
    problems: list[ParseProblem] = []
    dirs: list[str] = []
    stack = [""]
    while stack:
        rel = stack.pop()
        dirs.append(rel)
        full = os.path.join(root, rel) if rel else root
        try:
            it = os.scandir(full)
        except OSError as err:
            problems.append(ParseProblem(rel or ".", 1, f"folder not readable: {err.strerror}"))
            continue
        with it:
            for e in it:
                name = e.name
                r = f"{rel}/{name}" if rel else name
                try:
                    if e.is_symlink():
                        if name.endswith((".c", ".h")) and not os.path.exists(e.path):
                            problems.append(ParseProblem(r, 1, "dangling or looping symlink, skipped"))
                        continue
                    if e.is_dir(follow_symlinks=False):
                        if name not in _SKIP_DIRS:
                            stack.append(r)
                    elif name.endswith((".c", ".h")):
                        out.append((r, 0))
                except OSError as err:
                    problems.append(ParseProblem(r, 1, f"not readable: {err.strerror}"))
    out.sort()
    return Walked(tuple(out), tuple(problems), tuple(dirs))


def walk_fingerprinted(root: str) -> tuple[Walked, str]:
    """`walk()` and `fingerprint()` in one pass (folder descriptors, no path joining): the start of
    a run that may be served by the result cache."""
    out: list[tuple[str, int]] = []
    lines: list[str] = []
    problems: list[ParseProblem] = []
    dirs: list[str] = []
    try:
        stack = [("", os.open(root, os.O_RDONLY | os.O_DIRECTORY))]
    except OSError:
        return walk(root), ""  # no fingerprint: the cache is not used
    st_of = os.stat
    while stack:
        rel, fd = stack.pop()
        dirs.append(rel)
        try:
            with os.scandir(fd) as it:
                for e in it:
                    name = e.name
                    r = f"{rel}/{name}" if rel else name
                    try:
                        if e.is_symlink():
                            if name.endswith((".c", ".h")) and not os.path.exists(os.path.join(root, r)):
                                problems.append(ParseProblem(r, 1, "dangling or looping symlink, skipped"))
                            continue
                        if e.is_dir(follow_symlinks=False):
                            if name not in _SKIP_DIRS:
                                stack.append((r, os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)))
                        elif name.endswith((".c", ".h")):
                            st = st_of(name, dir_fd=fd, follow_symlinks=False)
                            out.append((r, 0))
                            lines.append(f"{r}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\n")
                    except OSError as err:
                        problems.append(ParseProblem(r, 1, f"not readable: {err.strerror}"))
        except OSError as err:
            problems.append(ParseProblem(rel or ".", 1, f"folder not readable: {err.strerror}"))
        finally:
            os.close(fd)
    out.sort()
    lines.sort()
    problems.sort(key=lambda p: (p.file, p.message))
    h = hashlib.sha256("".join(lines).encode("utf-8", "surrogateescape"))
    for p in problems:
        h.update(f"!{p.file}\0{p.message}\n".encode("utf-8", "surrogateescape"))
    return Walked(tuple(out), tuple(problems), tuple(dirs)), h.hexdigest()


def usable(rel: str, src: bytes, problems: list[ParseProblem]) -> bool:
    """Whether a file can be parsed; records why not (or that its text is not UTF-8)."""
    if len(src) > MAX_BYTES:
        problems.append(ParseProblem(rel, 1, f"file of {len(src) // (1024 * 1024)} MB is over the {MAX_BYTES // (1024 * 1024)} MB parse limit, skipped"))
        return False
    if b"\0" in src:
        problems.append(ParseProblem(rel, 1, "binary content (NUL bytes), not parsed"))
        return False
    try:
        src.decode("utf-8")
    except UnicodeDecodeError as e:
        line = src.count(b"\n", 0, e.start) + 1
        problems.append(ParseProblem(rel, line, "invalid UTF-8; parsed as bytes, text shown with replacements"))
    return True


def prefilter_chunk(root: Any, files: list[str], pattern: bytes) -> list[str]:
    """The files among `files` whose bytes match `pattern`: the prefilter without grep (a worker)."""
    rx = re.compile(pattern)
    hits = []
    for rel in files:
        data = root.read(rel)
        if data is not None and rx.search(data):
            hits.append(rel)
    return hits


class Pool:
    """Worker processes for one run; inline when the job is small or one core is all there is."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._ex: ProcessPoolExecutor | None = None

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._ex is not None:
            self._ex.shutdown(cancel_futures=True)

    def map(self, fn: Callable[..., object], chunks: Iterable[tuple[object, ...]], small: bool) -> list[object]:
        """Run `fn(*args)` for each chunk's args, in order."""
        jobs = list(chunks)
        if small or self.workers < 2 or len(jobs) < 2:
            return [fn(*a) for a in jobs]
        if self._ex is None:
            self._ex = ProcessPoolExecutor(self.workers, mp_context=get_context("fork"))
        futs = [self._ex.submit(fn, *a) for a in jobs]
        return [f.result() for f in futs]


def chunked(items: list[tuple[str, int]], n: int) -> list[list[tuple[str, int]]]:
    """Split into `n` chunks of about equal total size (largest files first, greedy)."""
    n = max(1, min(n, len(items)))
    buckets: list[list[tuple[str, int]]] = [[] for _ in range(n)]
    loads = [0] * n
    for it in sorted(items, key=lambda x: -x[1]):
        i = loads.index(min(loads))
        buckets[i].append(it)
        loads[i] += it[1] + 4096
    return buckets


def _partitions(root: str, n: int) -> list[list[str]]:
    """Split the tree into `n` groups of top-level (and, for big ones, second-level) folders."""
    entries: list[str] = []
    loose: list[str] = []
    try:
        top = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return []
    for e in top:
        if e.is_symlink() or e.name in _SKIP_DIRS:
            continue
        if e.is_dir():
            try:
                subs = sorted(x.name for x in os.scandir(e.path) if not x.is_symlink())
            except OSError:
                subs = []
            if len(subs) > 8:
                entries.extend(os.path.join(e.name, x) for x in subs)
            else:
                entries.append(e.name)
        elif e.name.endswith((".c", ".h")):
            loose.append(e.name)
    groups: list[list[str]] = [[] for _ in range(max(1, n))]
    for i, x in enumerate(entries + loose):
        groups[i % len(groups)].append(x)
    return [g for g in groups if g]


class GrepJob:
    """GNU grep over the tree in `n` parallel processes, started now, collected later.

    grep's multi-pattern matcher reads a kernel tree several times faster than Python's `re` can,
    so it is the byte prefilter when it is installed (it always is on a kernel developer's box).
    """

    def __init__(self, root: str, regex: str, n: int) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.ok = True
        exe = shutil.which("grep")
        if exe is None:
            self.ok = False
            return
        self._bufs: list[bytes] = []
        self._seen: set[str] = set()
        for group in _partitions(root, n):
            cmd = [exe, "-rlZE", "--line-buffered", "--include=*.c", "--include=*.h", "-e", regex, "--", *group]
            try:
                p = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            except OSError:
                self.ok = False
                continue
            assert p.stdout is not None
            os.set_blocking(p.stdout.fileno(), False)
            self.procs.append(p)
            self._bufs.append(b"")

    def _drain(self, i: int) -> None:
        out = self.procs[i].stdout
        assert out is not None
        while True:
            try:
                chunk = os.read(out.fileno(), 65536)
            except BlockingIOError:
                return
            if not chunk:
                return
            self._bufs[i] += chunk

    def early(self) -> list[str]:
        """Files reported so far (each once): work on them can start before grep is done."""
        new: list[str] = []
        for i in range(len(self.procs)):
            self._drain(i)
            *done, self._bufs[i] = self._bufs[i].split(b"\0")
            for name in done:
                if name:
                    rel = os.path.normpath(name.decode("utf-8", "surrogateescape")).replace(os.sep, "/")
                    if rel not in self._seen:
                        self._seen.add(rel)
                        new.append(rel)
        return new

    def running(self) -> bool:
        """Whether a grep process is still reading."""
        return any(p.poll() is None for p in self.procs)

    def kill(self) -> None:
        """Stop the grep processes (the result is not needed)."""
        for p in self.procs:
            p.kill()
            p.wait()

    def result(self) -> tuple[set[str], list[ParseProblem]] | None:
        """The files that matched, and read errors; None when grep could not run."""
        if not self.ok:
            self.kill()
            return None
        problems: list[ParseProblem] = []
        for i, p in enumerate(self.procs):
            assert p.stdout is not None and p.stderr is not None
            os.set_blocking(p.stdout.fileno(), True)
            rest = p.stdout.read()
            self._bufs[i] += rest
            err = p.stderr.read()
            p.wait()
            if p.returncode not in (0, 1) and not self._seen and not self._bufs[i] and not err:
                return None
            for line in err.decode("utf-8", "replace").splitlines():
                m = re.match(r"grep: (.*?): (.*)$", line)
                if m and "recursive directory loop" not in m.group(2):
                    problems.append(ParseProblem(m.group(1), 1, f"cannot read: {m.group(2)}"))
                elif m:
                    problems.append(ParseProblem(m.group(1), 1, "symlink loop, not followed"))
        self.early()
        return set(self._seen), problems
