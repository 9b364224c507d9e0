"""The byte prefilter: which strings to look for, and the grep processes that look for them.

It selects *candidate* files only: those holding a piece of an acquire API's name (ripgrep with a
small cover of the names, all of them in one pass; without it `git grep`, one fast literal search
per string; without git, GNU grep with several fixed strings in one pass). Whether a candidate
calls an API is decided afterwards, at token level (`catalogue.CallFinder`). Only regular files are
opened. This module imports nothing of the tool at load time, so that `python -m audit TREE` can
start grep before the rest of the tool is loaded (`start_early`).
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from audit.model import ParseProblem

SKIP_DIRS = frozenset({".git", ".hg", ".svn", ".pc"})
"""Folders a walk never enters."""


# NOTE: percent of the bytes of kernel .c/.h files (linux 6.12, every 7th file) that are this
# character. GNU grep's several-fixed-strings matcher jumps with memchr()/memchr2() to the next
# possible first byte when the strings start with at most two distinct bytes: the rarer those
# bytes, the faster the scan (6.12: 1.1 user CPU-s for strings starting with `u`/`o`, 2.2 for the
# names themselves, whose first bytes are g, p, i, f, m, e).
_BYTE_PERCENT = {
    "_": 6.84, "a": 1.82, "b": 0.54, "c": 1.62, "d": 1.89, "e": 4.13, "f": 1.38, "g": 0.6, "h": 0.6, "i": 2.51,
    "j": 0.03, "k": 0.34, "l": 1.18, "m": 0.92, "n": 2.18, "o": 1.54, "p": 1.05, "q": 0.14, "r": 2.24, "s": 2.01,
    "t": 2.82, "u": 1.13, "v": 0.57, "w": 0.29, "x": 0.87, "y": 0.25, "z": 0.08, "0": 2.4, "1": 0.73, "2": 0.57,
    "3": 0.35, "4": 0.31, "5": 0.2, "6": 0.21, "7": 0.14, "8": 0.24, "9": 0.11,
}
_MIN_FIXED = 4
"""Shortest fixed string taken from a name."""
_STRAY_MAX = 50.0
"""Most occurrences per 100 KB of sample text, outside the names themselves, that a fixed string
may have: `page` (800 in 6.1's mm.h and friends) would make every file a candidate; `o_sg` (0)
and `user_page` (23: unpin_user_page, put_user_page) do not."""
_COMMON_MIN = 5
"""Shortest substring common to every name worth letting grep's regex matcher filter on."""


class Prefilter:
    """What the byte prefilter looks for: it selects candidate files, never decides a call.

    For GNU grep, either fixed strings (each a piece of an acquire API's name; every name contains
    one), or, when every name shares a long enough substring, the names as whole words in one
    extended regex (grep then scans for the shared substring alone, and runs the regex only on
    the lines that contain it). For git grep, a small cover of the names by fixed strings. Each is
    worked out when first asked for: a run with git never needs GNU grep's.
    """

    def __init__(self, names: tuple[str, ...] = (), masked: bytes = b"", *, fixed: tuple[str, ...] = (),
                 regex: str = "") -> None:
        self.names = names
        """The names, sorted."""
        self.masked = masked
        """Sample kernel text with the names blanked (empty: no sample), to tell a rare piece."""
        self._given = (tuple(fixed), regex)
        if fixed or regex:
            # Given outright (`audit fix` greps for a regex of its own): no names to choose from.
            self.__dict__["_for_grep"] = self._given
            self.__dict__["cover"] = ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Prefilter) and (self.names, self.masked, self._given) == (
            other.names, other.masked, other._given)

    def __hash__(self) -> int:
        return hash((self.names, self.masked))

    def __repr__(self) -> str:
        return f"Prefilter(names={self.names!r})"

    @cached_property
    def _for_grep(self) -> tuple[tuple[str, ...], str]:
        return _grep_pieces(list(self.names), self.masked)

    @property
    def fixed(self) -> tuple[str, ...]:
        """Fixed strings (`grep -F`)."""
        return self._for_grep[0]

    @property
    def regex(self) -> str:
        """An extended regex (`grep -E`), when `fixed` is empty."""
        return self._for_grep[1]

    @cached_property
    def cover(self) -> tuple[str, ...]:
        """The fewest rare pieces of the names that every name contains one of: for a matcher
        that scans for each fixed string in turn (`git grep -F`, one fast literal search per
        string), where the cost grows with their number, not with their first bytes."""
        return _cover(list(self.names), self.masked) if self.names else ()

    def grep_args(self) -> list[str]:
        """The pattern arguments for GNU grep."""
        if self.fixed:
            return ["-F", *(a for f in self.fixed for a in ("-e", f))]
        return ["-E", "-e", self.regex]

    def git_args(self) -> list[str]:
        """The pattern arguments for git grep (fixed strings where there are: its regex engines
        are slower)."""
        strings = self.cover or self.fixed
        return ["-F", *(a for f in strings for a in ("-e", f))] if strings else ["-E", "-e", self.regex]

    def matches(self, data: bytes) -> bool:
        """The same test in Python (without grep)."""
        if self.fixed:
            return any(f.encode() in data for f in self.fixed)
        return re.search(self.regex.encode(), data) is not None


def _common_substring(names: list[str]) -> str:
    """The longest substring of the first name that every name contains."""
    first = min(names, key=len)
    for n in range(len(first), 0, -1):
        for i in range(len(first) - n + 1):
            sub = first[i : i + n]
            if all(sub in x for x in names):
                return sub
    return ""


def _stray_rate(piece: str, masked: bytes) -> float:
    """Occurrences of `piece` per 100 KB of `masked` (sample text with the names blanked)."""
    return masked.count(piece.encode()) * 100_000 / max(1, len(masked))


def prefilter(names: Iterable[str], sample: bytes = b"") -> Prefilter:
    """The cheapest prefilter that cannot miss a file naming any of `names` (ASCII identifiers),
    given `sample` kernel text (such as the headers declaring the names) to tell rare pieces."""
    ns = sorted(set(names))
    masked = re.sub(b"|".join(re.escape(n.encode()) for n in sorted(ns, key=len, reverse=True)), b" ", sample) \
        if sample and ns else b""
    return Prefilter(tuple(ns), masked)


def _grep_pieces(ns: list[str], masked: bytes) -> tuple[tuple[str, ...], str]:
    """GNU grep's prefilter: (fixed strings, or else a regex).

    Fixed strings: for each choice of one or two first bytes, each name contributes its longest
    suffix that starts with one of them; the choice with the rarest first bytes wins, among those
    whose strings are rare in the sample outside the names themselves. Without a sample, strings
    are at least six characters long. When the best choice still means frequent first bytes and
    every name shares a substring of five or more characters (`_page` in 6.1), the names as one
    regex cost less (measured on 6.1: 0.8 against 1.1 CPU-s; on 6.12, whose names share nothing,
    the strings starting with `u` and `o` take 1.1 CPU-s where the names as strings take 2.0).
    """
    if not ns:
        return (), r"(?!)"
    rate: dict[str, bool] = {}

    def rare(piece: str) -> bool:
        if piece not in rate:
            rate[piece] = (_stray_rate(piece, masked) <= _STRAY_MAX) if masked else len(piece) >= 6
        return rate[piece]

    best: tuple[float, int, tuple[str, ...]] | None = None
    chars = sorted({c for n in ns for c in n})
    for k in (1, 2):
        for first in itertools.combinations(chars, k):
            pieces = []
            for n in ns:
                starts = [i for i, c in enumerate(n) if c in first and len(n) - i >= _MIN_FIXED]
                if not starts or not rare(n[starts[0] :]):
                    break
                pieces.append(n[starts[0] :])
            else:
                cost = sum(_BYTE_PERCENT.get(c, 1.0) for c in first)
                key = (cost, -min(map(len, pieces)), tuple(sorted(set(pieces))))
                if best is None or key < best:
                    best = key
    common = _common_substring(ns)
    if best is None or (best[0] > 1.5 and len(common) >= _COMMON_MIN):
        return (), r"\b(" + "|".join(re.escape(n) for n in sorted(ns, key=len, reverse=True)) + r")\b"
    # A piece that contains another piece adds nothing.
    pieces_set = best[2]
    return tuple(p for p in pieces_set if not any(q != p and q in p for q in pieces_set)), ""


_MIN_COVER = 9
"""Shortest piece shared by several names that `_cover` considers (a whole name always counts)."""
_COVER_STRAY = 10.0
"""Most occurrences per 100 KB of sample text, outside the names, of a piece `_cover` takes: a file
holding the piece but calling no name still costs a read (`user_page`: 2.1 in 6.12's headers, 233
files of its tree; `_iter_`: 46, 970 files)."""
_COVER_BLIND = 10
"""Shortest shared piece `_cover` takes without sample text to tell how rare it is."""


def _cover(ns: list[str], masked: bytes) -> tuple[str, ...]:
    """Few pieces of `ns` such that every name contains one, greedily: the rare piece that most
    names not yet covered contain, then the one with the rarer first byte, then the longer one.

    Only pieces shared by two or more names, and the names themselves, are candidates (a name has
    no occurrences outside itself, so it is always rare).
    """
    shared: dict[str, frozenset[str]] = {}
    for n in ns:
        for i in range(len(n)):
            for j in range(i + _MIN_COVER, len(n) + 1):
                piece = n[i:j]
                if piece not in shared:
                    holders = frozenset(m for m in ns if piece in m)
                    if len(holders) < 2:
                        break  # a longer piece from i is in fewer names still
                    shared[piece] = holders
    shared.update((n, frozenset(m for m in ns if n in m)) for n in ns)
    left = set(ns)
    chosen: list[str] = []
    order = sorted(shared, key=lambda p: (_BYTE_PERCENT.get(p[0], 1.0), -len(p), p))
    while left:
        piece = max((p for p in order if shared[p] & left), key=lambda p: len(shared[p] & left))
        order.remove(piece)
        if piece in ns or (_stray_rate(piece, masked) <= _COVER_STRAY if masked else len(piece) >= _COVER_BLIND):
            chosen.append(piece)
            left -= shared[piece]
    return tuple(sorted(chosen))


def _partitions(root: str, n: int) -> list[list[str]]:
    """Split the tree into `n` groups of top-level (and, for big ones, second-level) folders."""
    entries: list[str] = []
    loose: list[str] = []
    try:
        top = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return []
    for e in top:
        if e.is_symlink() or e.name in SKIP_DIRS:
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

    def __init__(self, root: str, pf: Prefilter, n: int) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.ok = True
        exe = shutil.which("grep")
        if exe is None:
            self.ok = False
            return
        self._bufs: list[bytes] = []
        self._seen: set[str] = set()
        # Bytes, not characters: the C locale spares grep multibyte decoding.
        env = dict(os.environ, LC_ALL="C")
        for group in _partitions(root, n):
            # -D skip: a FIFO, socket or device is never opened (recursion skips them already; the
            # loose top-level files are named on the command line, where grep would read them).
            cmd = [exe, "-rlZ", "-D", "skip", "--line-buffered", "--include=*.c", "--include=*.h",
                   *pf.grep_args(), "--", *group]
            if not self._spawn(cmd, root, env):
                self.ok = False

    def _start(self, root: str, pf: Prefilter, n: int) -> None:
        """No process yet, nothing read; what a fallback job is made from."""
        self.procs = []
        self.ok = True
        self._bufs = []
        self._seen = set()
        self._fallback = (root, pf, n)

    def _spawn(self, cmd: list[str], cwd: str, env: dict[str, str]) -> bool:
        """Start one search process whose output `early` reads as it comes (False: it would not start)."""
        try:
            p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        except OSError:
            return False
        assert p.stdout is not None
        os.set_blocking(p.stdout.fileno(), False)
        self.procs.append(p)
        self._bufs.append(b"")
        return True

    def _or_fallback(self, codes: tuple[int, ...], fallback: Callable[[], GrepJob]
                     ) -> tuple[set[str], list[ParseProblem]] | None:
        """This one-process job's answer (its exit status in `codes`), or else `fallback()`'s.
        NOTE: the files already reported stay reported (`early` keeps them); a fallback's answer is
        a superset of a partial one. A pathspec or glob `*.c` also matches the files of a folder
        named `x.c`: only .c and .h files count."""
        got = GrepJob.result(self) if self.ok else None
        if got is None or self.procs[0].returncode not in codes:
            self.kill()
            return fallback().result()
        hits, problems = got
        return {h for h in hits if h.endswith((".c", ".h"))}, problems

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
            problems.extend(self._problems(err.decode("utf-8", "replace")))
        self.early()
        return set(self._seen), problems

    def _problems(self, err: str) -> list[ParseProblem]:
        """The files grep's messages say it could not read."""
        out = []
        from audit.model import ParseProblem

        for line in err.splitlines():
            m = re.match(r"grep: (.*?): (.*)$", line)
            if m and "recursive directory loop" not in m.group(2):
                out.append(ParseProblem(m.group(1), 1, f"cannot read: {m.group(2)}"))
            elif m:
                out.append(ParseProblem(m.group(1), 1, "symlink loop, not followed"))
        return out


class GitGrepJob(GrepJob):
    """`git grep --no-index` over the folder, in one process of `n` threads; GNU grep (GrepJob)
    when git is missing or fails.

    It scans for each of the prefilter's `cover` strings in turn with a fast literal search, so
    its cost grows with the number of strings, not with how rare their first bytes are: on 6.12,
    whose names share no substring, 0.4 user CPU-s for six strings where GNU grep's multi-string
    matcher takes 1.2. Like `grep -r -D skip` it opens only regular files (it lstat()s each one:
    symlinks, FIFOs, sockets and devices are skipped), and it does not honour .gitignore files
    without --exclude-standard.
    """

    def __init__(self, root: str, pf: Prefilter, n: int) -> None:
        self._start(root, pf, n)
        exe = shutil.which("git")
        if exe is None or not pf.cover:
            self.ok = False
            return
        # Only this tree counts: no repository configuration above it, no user or system one
        # (colours, grep.fullName), none of the caller's GIT_DIR or GIT_WORK_TREE.
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update(LC_ALL="C", GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull,
                   GIT_CEILING_DIRECTORIES=os.path.dirname(os.path.abspath(root)))
        # NOTE: one thread: git's threads hand each file over under a lock (40,000 context switches
        # on 6.12, a third more CPU). Unthreaded, git buffers its output until it exits; unbuffered
        # (stdbuf), each hit arrives as it is found and is prepared while git reads on. Without
        # stdbuf, git's threads it is: they write each file's result as it is done.
        unbuffered = shutil.which("stdbuf")
        threads = 1 if unbuffered is not None else max(1, n)
        cmd = [exe, "-c", "grep.fullName=false", "grep", "--no-index", "--no-color", "-lz", "--threads",
               str(threads), *pf.git_args(), "--", "*.c", "*.h"]
        if unbuffered is not None:
            cmd = [unbuffered, "-o0", *cmd]
        self.ok = self._spawn(cmd, root, env)

    def result(self) -> tuple[set[str], list[ParseProblem]] | None:
        return self._or_fallback((0, 1), lambda: GrepJob(*self._fallback))

    def _problems(self, err: str) -> list[ParseProblem]:
        from audit.model import ParseProblem

        out = []
        for line in err.splitlines():
            m = re.match(r"error: failed to stat '(.*)': (.*)$", line) or re.match(r"error: '(.*)': (short read)", line)
            if m:
                out.append(ParseProblem(m.group(1), 1, f"cannot read: {m.group(2)}"))
        return out


def _rg() -> str | None:
    """The ripgrep executable: the one installed with this Python (the `ripgrep` wheel puts it
    beside the interpreter), else one on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "rg")
    return here if os.access(here, os.X_OK) else shutil.which("rg")


class RgJob(GrepJob):
    """ripgrep over the folder, one thread; git grep (GitGrepJob) when ripgrep is missing or fails.

    ripgrep looks for all the prefilter's strings in one pass (a SIMD multi-literal matcher), where
    git grep makes one pass per string: on 6.12, 0.25 user CPU-s for the six strings of its cover
    against git's 0.6 (the kernel's copying of 1.3 GB, 0.55 s, is the same for both). It opens only
    regular files while it recurses (symlinks are not followed; FIFOs, sockets and devices are
    skipped), and every ignore file, configuration file, binary-file and encoding heuristic is
    turned off: it reads bytes, like `grep -r`.
    """

    def __init__(self, root: str, pf: Prefilter, n: int) -> None:
        self._start(root, pf, n)
        exe = _rg()
        strings = pf.cover or pf.fixed
        if exe is None or not strings:
            self.ok = False
            return
        env = {k: v for k, v in os.environ.items() if not k.startswith("RIPGREP_")}
        env["LC_ALL"] = "C"
        cmd = [exe, "--no-config", "-l", "--null", "--line-buffered", "-j1", "--no-ignore", "--hidden", "-a",
               "--encoding", "none", "--case-sensitive", "--no-follow", "-g", "*.c", "-g", "*.h", "-F",
               *(a for f in strings for a in ("-e", f))]
        self.ok = self._spawn(cmd, root, env)

    def result(self) -> tuple[set[str], list[ParseProblem]] | None:
        # 0: hits, 1: none, 2: some file could not be read (the others were searched).
        return self._or_fallback((0, 1, 2), lambda: GitGrepJob(*self._fallback))

    def _problems(self, err: str) -> list[ParseProblem]:
        from audit.model import ParseProblem

        out = []
        for line in err.splitlines():
            m = re.match(r"rg: (.*?): (.*?)(?: \(os error \d+\))?$", line)
            if m:
                out.append(ParseProblem(os.path.normpath(m.group(1)), 1, f"cannot read: {m.group(2)}"))
        return out


def grep_job(root: str, pf: Prefilter, n: int) -> GrepJob:
    """The fastest prefilter job this machine has: ripgrep, else git grep, else GNU grep (each
    falls back to the next when it cannot run)."""
    return RgJob(root, pf, n) if _rg() is not None else GitGrepJob(root, pf, n)


_WORD = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def word_starts(text: bytes, word: bytes, start: int = 0, end: int | None = None) -> Iterator[int]:
    """The offsets where `word` (an identifier) occurs in `text[start:end]` as a whole word, as
    `\\bword\\b` would find them (with `bytes.find`: compiling a regex per name costs more than the
    search)."""
    end = len(text) if end is None else end
    i = text.find(word, start, end)
    while i >= 0:
        j = i + len(word)
        if (i == 0 or text[i - 1] not in _WORD) and (j == len(text) or text[j] not in _WORD):
            yield i
        i = text.find(word, i + 1, end)


def has_word(text: bytes, word: bytes) -> bool:
    """Whether `word` (an identifier) occurs in `text` as a whole word."""
    return next(word_starts(text, word), None) is not None


_BLANK = b" \t\r\n\f\v"


def call_starts(text: bytes, word: bytes) -> Iterator[int]:
    """The offsets where `text` has `word` as a whole word followed by `(` (blanks between), as
    `\\bword\\s*\\(` would find: a regex starting with `\\b` gets no literal prefix scan."""
    for i in word_starts(text, word):
        j = i + len(word)
        while j < len(text) and text[j] in _BLANK:
            j += 1
        if text.startswith(b"(", j):
            yield i


def has_call(text: bytes, word: bytes) -> bool:
    """Whether `text` has `word` as a whole word followed by `(` (`call_starts`)."""
    return next(call_starts(text, word), None) is not None


def has_member(text: bytes, word: bytes) -> bool:
    """Whether `text` uses `word` as a member through a pointer (`->word`, blanks allowed), as
    `->\\s*word\\b` would find."""
    for i in word_starts(text, word):
        j = i
        while j > 0 and text[j - 1] in _BLANK:
            j -= 1
        if j >= 2 and text[j - 2:j] == b"->":
            return True
    return False


# ---------------------------------------------------------------------------------- early start

_EARLY: list[tuple[str, Prefilter, int, GrepJob]] = []
"""The prefilter job `start_early` started: (real path of the tree, prefilter, jobs, the job)."""

_SCAN_VALUES = frozenset({"--format", "-o", "--output", "--select", "--ignore", "--diff", "--baseline", "--jobs"})
"""Options of `audit PATH` that take a value (cli._scan_parser)."""


def start_early(argv: list[str]) -> None:
    """For `audit TREE ...`, start the prefilter (`grep_job`) now, before the rest of the tool is
    imported, the way the engine will ask for it; `claim_early` hands it over when the engine asks
    for exactly that.
    Anything unusual (another command, a folder inside a tree) starts nothing, nor does a run with
    the result cache on over a tree the cache has a report of (the report may serve the run).
    """
    root = _scan_root(argv)
    if root is None or (_rg() is None and shutil.which("git") is None):
        return
    if "--no-cache" not in argv:
        from audit import cache_root_marker

        # NOTE: a folder's cache identity is its real path (FsSource.identity).
        if cache_root_marker(os.path.realpath(root)).exists():
            return
    import tomllib

    from audit.resources import rules_dir

    raw = tomllib.loads((rules_dir() / "catalogue" / "apis.toml").read_text())
    names = {e["name"] for e in raw.get("acquire", [])}
    text = b"\n".join(filter(None, (_read_regular(os.path.join(root, h))
                                    for h in raw.get("settings", {}).get("declared_in", []))))
    declared = {n for n in names if has_word(text, n.encode())} if text else set()
    pf = prefilter(declared or names, text)
    n = _jobs(argv) or os.cpu_count() or 1
    _EARLY.append((os.path.realpath(root), pf, n, grep_job(root, pf, n)))


def _scan_root(argv: list[str]) -> str | None:
    """The tree of a plain `audit TREE [options]` (a folder with a versioned Makefile)."""
    if any(a in ("-h", "--help", "--version") for a in argv):
        return None
    paths = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in _SCAN_VALUES:
            i += 2
            continue
        if not a.startswith("-"):
            paths.append(a)
        i += 1
    if len(paths) != 1 or paths[0] in ("rules", "explain", "track", "fix"):
        return None
    head = _read_regular(os.path.join(paths[0], "Makefile"))
    if head is None or b"VERSION" not in head[:4096] or b"PATCHLEVEL" not in head[:4096]:
        return None
    return paths[0]


def _jobs(argv: list[str]) -> int | None:
    """The `--jobs N` of the command line (None when not given or not a number)."""
    for i, a in enumerate(argv):
        v = argv[i + 1] if a == "--jobs" and i + 1 < len(argv) else a[7:] if a.startswith("--jobs=") else None
        if v is not None:
            return int(v) if v.isdigit() and int(v) > 0 else None
    return None


def _read_regular(path: str) -> bytes | None:
    """A regular file's bytes (None for anything else, or when it cannot be read)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            return fh.read()
    except OSError:
        return None
    finally:
        if fd >= 0:
            os.close(fd)


def claim_early(root: str, pf: Prefilter, n: int) -> GrepJob | None:
    """The job `start_early` started for exactly this tree, prefilter and job count, if any."""
    for k, (r, p, jobs, job) in enumerate(_EARLY):
        if r == os.path.realpath(root) and p == pf and jobs == n:
            del _EARLY[k]
            return job
    return None


def drop_early() -> None:
    """Stop the early grep nobody claimed (the run ended another way)."""
    while _EARLY:
        _EARLY.pop()[3].kill()
