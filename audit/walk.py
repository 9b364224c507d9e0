"""Walks a tree for its *.c/*.h regular files, and prefilters their bytes without grep.

The prefilter (audit/grep.py) only selects *candidate* files: those that contain a fixed string
taken from an acquire API's name. Whether a candidate calls the API is decided afterwards, on the
file's bytes, at token level (`catalogue.CallFinder`): the name as a whole word, then whitespace,
line breaks or comments, then `(` — so a call split across lines is never lost to a line-based
pattern. Only regular files are ever opened (a FIFO or a device would block a reader or never
end); other entries, unreadable files and symlink loops become ParseProblems. Nothing here raises
on bad input, and nothing is ever written under the tree.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

# The prefilter and the grep jobs live in audit.grep (loaded before the rest of the tool); they are
# named here too, where they used to live.
from audit.grep import SKIP_DIRS as _SKIP_DIRS
from audit.grep import GitGrepJob, GrepJob, Prefilter, prefilter
from audit.model import ParseProblem

__all__ = ["MAX_BYTES", "GitGrepJob", "GrepJob", "Pool", "Prefilter", "Walked", "chunked", "not_regular",
           "prefilter", "prefilter_chunk", "shutil", "usable", "walk", "walk_fingerprinted"]

MAX_BYTES = 8 * 1024 * 1024
"""Files above this size are not parsed (generated register headers reach 10+ MB)."""



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
        prefix = f"{rel}/" if rel else ""
        with it:
            # NOTE: the commonest entries (a .c/.h regular file, a folder) are decided first, from
            # the folder entry's type alone (no stat).
            for e in it:
                name = e.name
                try:
                    if name.endswith((".c", ".h")):
                        if e.is_file(follow_symlinks=False):
                            out.append((prefix + name, 0))
                        elif e.is_symlink():
                            if not os.path.exists(e.path):
                                problems.append(ParseProblem(prefix + name, 1, "dangling or looping symlink, skipped"))
                        elif e.is_dir(follow_symlinks=False):
                            if name not in _SKIP_DIRS:
                                stack.append(prefix + name)
                        else:
                            problems.append(ParseProblem(prefix + name, 1,
                                                         not_regular(e.stat(follow_symlinks=False).st_mode) + ": skipped"))
                    elif e.is_dir(follow_symlinks=False) and name not in _SKIP_DIRS:
                        stack.append(prefix + name)
                except OSError as err:
                    problems.append(ParseProblem(prefix + name, 1, f"not readable: {err.strerror}"))
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
                            if stat.S_ISREG(st.st_mode):
                                out.append((r, 0))
                                lines.append(f"{r}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\n")
                            else:
                                problems.append(ParseProblem(r, 1, not_regular(st.st_mode) + ": skipped"))
                    except OSError as err:
                        problems.append(ParseProblem(r, 1, f"not readable: {err.strerror}"))
        except OSError as err:
            problems.append(ParseProblem(rel or ".", 1, f"folder not readable: {err.strerror}"))
        finally:
            os.close(fd)
    out.sort()
    lines.sort()
    problems.sort(key=lambda p: (p.file, p.message))
    import hashlib

    h = hashlib.sha256("".join(lines).encode("utf-8", "surrogateescape"))
    for p in problems:
        h.update(f"!{p.file}\0{p.message}\n".encode("utf-8", "surrogateescape"))
    return Walked(tuple(out), tuple(problems), tuple(dirs)), h.hexdigest()


_SPECIAL = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
            (stat.S_ISBLK, "a block device"))


def not_regular(mode: int) -> str:
    """What a .c/.h entry is when it is not a regular file (it is never opened)."""
    kind = next((k for test, k in _SPECIAL if test(mode)), "a special file")
    return f"{kind}, not a regular file"


def usable(rel: str, src: bytes, problems: list[ParseProblem]) -> bool:
    """Whether a file can be parsed; records why not (or that its text is not UTF-8).

    Size is not checked here: a file over MAX_BYTES is parsed only around its acquire calls
    (`store.prepare`), and the engine notes it.
    """
    if b"\0" in src:
        problems.append(ParseProblem(rel, 1, "binary content (NUL bytes), not parsed"))
        return False
    try:
        src.decode("utf-8")
    except UnicodeDecodeError as e:
        line = src.count(b"\n", 0, e.start) + 1
        problems.append(ParseProblem(rel, line, "invalid UTF-8; parsed as bytes, text shown with replacements"))
    return True


def prefilter_chunk(root: Any, files: list[str], pf: Prefilter) -> tuple[list[str], list[ParseProblem]]:
    """The files among `files` that `pf` selects, and the files that cannot be read: the
    prefilter without grep (a worker)."""
    hits = []
    problems = []
    for rel in files:
        try:
            data = root.read_or_raise(rel)
        except OSError as e:
            problems.append(ParseProblem(rel, 1, f"cannot read: {e.strerror or e}"))
            continue
        if pf.matches(data):
            hits.append(rel)
    return hits, problems


class Pool:
    """Worker processes for one run; inline when the job is small or one core is all there is."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._ex: Any = None

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
            from concurrent.futures import ProcessPoolExecutor
            from multiprocessing import get_context

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
