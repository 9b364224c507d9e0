"""Where a tree's files come from: a folder on disk, or a git revision read from the object store.

Every layer that reads the audited tree goes through a Source, so `audit track --git REPO REV..`
audits revisions without checking them out: file lists come from `git ls-tree`, the prefilter from
`git grep` (multi-threaded, and it reads packed objects directly), and contents from one long-lived
`git cat-file --batch` per process. Plain git plumbing rather than pygit2: it is on every kernel
developer's machine, needs no compiled dependency, and `git grep` is faster than any per-blob loop
we would write in Python.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
from dataclasses import dataclass, field
from typing import Any, Protocol

from audit import grep, walk
from audit.grep import GrepJob, Prefilter
from audit.walk import Walked
from audit.model import ParseProblem
from audit.sourcefile import SourceFile


class NotRegularError(OSError):
    """A path that is not a regular file (a FIFO, socket or device): never read."""


def read_regular(path: str) -> bytes:
    """The bytes of the regular file at `path` (symlinks followed).

    Opened without blocking, so that a FIFO does not wait for a writer; anything but a regular
    file raises NotRegularError before a byte is read.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularError(errno.EINVAL, walk.not_regular(mode), path)
        # NOTE: O_NONBLOCK has no effect on a regular file's reads.
        with os.fdopen(fd, "rb", closefd=True) as fh:
            fd = -1
            return fh.read()
    finally:
        if fd >= 0:
            os.close(fd)


class _FileCache:
    """`Source.file` for the sources below: each file read once and kept (not across processes)."""

    def file(self, rel: str) -> SourceFile:
        files: dict[str, SourceFile] = self.__dict__.setdefault("_sourcefiles", {})
        sf = files.get(rel)
        if sf is None:
            sf = files[rel] = SourceFile(rel, self.read_or_raise(rel))
        return sf

    def read_or_raise(self, rel: str) -> bytes:
        raise NotImplementedError

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_sourcefiles", None)  # trees do not pickle; a worker reads again
        return state


class SourceError(Exception):
    """The source cannot be read at all (not a repository, unknown revision): exit 2."""


class Source(Protocol):
    """Read access to one kernel tree."""

    label: str
    """How the tree is named in reports (a path, or `REPO@REV`)."""

    def read(self, rel: str) -> bytes | None:
        """A file's bytes, None when absent or unreadable."""

    def read_or_raise(self, rel: str) -> bytes:
        """A file's bytes; OSError (with the reason) when it cannot be read."""

    def file(self, rel: str) -> SourceFile:
        """The file as the parsing layer models it, read once and kept; OSError (FileNotFoundError
        when absent) when it cannot be read."""

    def problem(self) -> str | None:
        """Why the tree cannot be read at all (a folder that is missing), None when it can."""

    def exists(self, rel: str) -> bool:
        """Whether a file or folder exists."""

    def listdir(self, rel: str) -> list[str]:
        """Names of the .c/.h files directly in a folder (not symlinks)."""

    def walk(self) -> Walked:
        """Every .c/.h file."""

    def start_grep(self, pf: Prefilter, n: int) -> Any:
        """Start the prefilter (candidate files); the object returned has `result()` and `kill()`."""

    def walk_fingerprinted(self) -> tuple[Walked, str]:
        """`walk()`, and a value that changes whenever any .c/.h file changes ("" when unknown)."""

    def identity(self) -> str:
        """What the cache key uses for the tree's place (real path, or repository and commit)."""


@dataclass
class FsSource(_FileCache):
    """A kernel tree in a folder."""

    root: str
    label: str = ""

    def __post_init__(self) -> None:
        self.label = self.label or self.root

    def read(self, rel: str) -> bytes | None:
        try:
            return self.read_or_raise(rel)
        except OSError:
            return None

    def read_or_raise(self, rel: str) -> bytes:
        return read_regular(os.path.join(self.root, rel))

    def problem(self) -> str | None:
        if not os.path.exists(self.root):
            return "no such file or directory"
        if not os.path.isdir(self.root):
            return "not a directory"
        return None

    def exists(self, rel: str) -> bool:
        return os.path.exists(os.path.join(self.root, rel))

    def listdir(self, rel: str) -> list[str]:
        full = os.path.join(self.root, rel)
        try:
            return sorted(n for n in os.listdir(full) if n.endswith((".c", ".h"))
                          and not os.path.islink(os.path.join(full, n)))
        except OSError:
            return []

    def walk(self) -> Walked:
        return walk.walk(self.root)

    def start_grep(self, pf: Prefilter, n: int) -> GrepJob:
        return grep.claim_early(self.root, pf, n) or grep.grep_job(self.root, pf, n)

    def walk_fingerprinted(self) -> tuple[Walked, str]:
        return walk.walk_fingerprinted(self.root)

    def identity(self) -> str:
        return os.path.realpath(self.root)


class _GitGrep:
    """`git grep` run in the background (its own threads do the parallel work)."""

    def __init__(self, proc: subprocess.Popen[bytes] | None, rev: str) -> None:
        self.proc = proc
        self.rev = rev

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.communicate()

    def result(self) -> tuple[set[str], list[ParseProblem]] | None:
        if self.proc is None:
            return None
        out, _ = self.proc.communicate()
        if self.proc.returncode not in (0, 1):
            return None
        prefix = f"{self.rev}:".encode()
        hits = {
            (name[len(prefix):] if name.startswith(prefix) else name).decode("utf-8", "surrogateescape")
            for name in out.split(b"\0") if name
        }
        return hits, []


@dataclass
class GitSource(_FileCache):
    """A revision of a git repository, read from the object store (no checkout)."""

    repo: str
    rev: str
    label: str = ""
    commit: str = ""
    blobs: dict[str, str] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=set)
    _batch: Any = None
    _batch_pid: int = 0

    def __post_init__(self) -> None:
        if shutil.which("git") is None:
            raise SourceError("git is not installed")
        res = subprocess.run(["git", "-C", self.repo, "rev-parse", "--verify", "--quiet", f"{self.rev}^{{commit}}"],
                             capture_output=True, check=False)
        if res.returncode != 0:
            raise SourceError(f"{self.repo}: no revision {self.rev!r} (or not a git repository)")
        self.commit = res.stdout.decode().strip()
        self.label = self.label or f"{self.repo}@{self.rev}"
        ls = subprocess.run(["git", "-C", self.repo, "ls-tree", "-r", "-z", "--full-tree", self.commit],
                            capture_output=True, check=False)
        if ls.returncode != 0:
            raise SourceError(f"{self.repo}: cannot list {self.rev}")
        for entry in ls.stdout.split(b"\0"):
            if not entry:
                continue
            meta, _, path_b = entry.partition(b"\t")
            mode, kind, sha = meta.split(b" ")
            if kind != b"blob" or mode == b"120000":
                continue  # submodules, symlinks
            path = path_b.decode("utf-8", "surrogateescape")
            self.blobs[path] = sha.decode()
            d = os.path.dirname(path)
            while d and d not in self.dirs:
                self.dirs.add(d)
                d = os.path.dirname(d)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_batch"] = None  # each process opens its own cat-file pipe
        state["_batch_pid"] = 0
        return state

    def read_or_raise(self, rel: str) -> bytes:
        data = self.read(rel)
        if data is None:
            raise FileNotFoundError(2, "not in this revision", rel)
        return data

    def read(self, rel: str) -> bytes | None:
        sha = self.blobs.get(rel)
        if sha is None:
            return None
        if self._batch is None or self._batch_pid != os.getpid():
            self._batch = subprocess.Popen(["git", "-C", self.repo, "cat-file", "--batch"],
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            self._batch_pid = os.getpid()
        assert self._batch.stdin is not None and self._batch.stdout is not None
        self._batch.stdin.write(sha.encode() + b"\n")
        self._batch.stdin.flush()
        header = self._batch.stdout.readline().split()
        if len(header) != 3:
            return None
        size = int(header[2])
        data = self._batch.stdout.read(size)
        self._batch.stdout.read(1)  # the newline after the object
        return data

    def problem(self) -> str | None:
        return None  # a missing repository or revision fails in the constructor (SourceError)

    def exists(self, rel: str) -> bool:
        rel = rel.rstrip("/")
        return rel in self.blobs or rel in self.dirs

    def listdir(self, rel: str) -> list[str]:
        prefix = rel.rstrip("/") + "/"
        return sorted(p[len(prefix):] for p in self.blobs
                      if p.startswith(prefix) and "/" not in p[len(prefix):] and p.endswith((".c", ".h")))

    def walk(self) -> Walked:
        files = sorted((p, 0) for p in self.blobs if p.endswith((".c", ".h")))
        return Walked(tuple(files), (), tuple(sorted(self.dirs)))

    def start_grep(self, pf: Prefilter, n: int) -> _GitGrep:
        cmd = ["git", "-C", self.repo, "grep", "-lz", "--threads", str(max(1, n)), *pf.git_args(), self.commit,
               "--", "*.c", "*.h"]
        try:
            return _GitGrep(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL), self.commit)
        except OSError:
            return _GitGrep(None, self.commit)

    def walk_fingerprinted(self) -> tuple[Walked, str]:
        import hashlib

        return self.walk(), hashlib.sha256(self.commit.encode()).hexdigest()

    def identity(self) -> str:
        return f"git:{os.path.realpath(self.repo)}"
