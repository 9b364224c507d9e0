"""Parse on demand: the facts of the prefiltered files, one function at a time.

Most of a file that calls a gup API is irrelevant to its closures. The first round (in worker
processes) parses only the functions that mention an acquire API; the closure search then asks for
what it needs — a function's body, a function's definition, its callers, the users of a struct
field — and the store parses just those functions (found by kernel layout: header, `{` … `}` at
column 0) and hands their facts to the index. Offsets stay the file's, so spans do not change.
"""

from __future__ import annotations

import os
import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any

from audit import facts, parse
from audit.catalogue import CallFinder
from audit.grep import has_call, has_member, has_word, word_starts
from audit.model import FileFacts, ParseProblem
from audit.sourcefile import SourceFile


# Possessive quantifiers: an identifier not followed by `(` fails at once instead of being retried
# one character shorter at a time.
# A callee and its `(` may be split by line breaks or comments, as the acquire calls may
# (catalogue.CallFinder).
_CALLED_REVERSED = re.compile(rb"\((?:\s++|/\*(?s:.*?)\*/)*+(\w++)")
"""A called name in text read backwards: `(`, blanks or comments, then the name's letters last to
first. Starting at a fixed byte, the regex engine skips to each `(` at memchr speed; forwards, a
name-then-`(` pattern is tried at every byte (twice the time over 6.12's prefiltered files)."""
_FIELD = re.compile(rb"(?:->|\.)\s*+([A-Za-z_]\w*+)")
_INCLUDE = re.compile(rb'#[ \t]*include[ \t]*([<"])([^>"\n]+)[>"]')
"""An include directive; `_includes` keeps those with nothing but blanks before the `#` on their line
(a `(?m)^` regex would try every byte of the file)."""


def _includes(src: bytes) -> list[tuple[bytes, bytes]]:
    out = []
    for m in _INCLUDE.finditer(src):
        start = src.rfind(b"\n", 0, m.start()) + 1
        if not src[start:m.start()].strip(b" \t"):
            out.append((m.group(1), m.group(2)))
    return out
_GETTER_BYTES = 600
"""A getter is a short function: its whole text (header and body) fits in this many bytes."""


def _text_index(src: bytes, chunks: list[parse.Chunk], rx: re.Pattern[bytes],
                backwards: bool = False) -> dict[str, tuple[int, ...]]:
    """Name -> indices (ascending) of the chunks whose text matches `rx` with that name (`rx` read
    over each chunk's text reversed when `backwards`; names starting with a digit are dropped)."""
    out: dict[bytes, list[int]] = {}
    findall = rx.findall
    for i, c in enumerate(chunks):
        names = set(findall(src[c.start:c.end][::-1])) if backwards else set(findall(src, c.start, c.end))
        for name in names:
            got = out.get(name)
            if got is None:
                out[name] = [i]
            else:
                got.append(i)
    if backwards:
        return {k[::-1].decode("ascii", "replace"): tuple(v) for k, v in out.items() if not k[-1:].isdigit()}
    return {k.decode("ascii", "replace"): tuple(v) for k, v in out.items()}


def text_indexes(src: bytes, chunks: list[parse.Chunk]) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
    """(callee name -> chunks calling it, field name -> chunks using it) for one file."""
    return _text_index(src, chunks, _CALLED_REVERSED, True), _text_index(src, chunks, _FIELD)


@dataclass(frozen=True)
class Prepared:
    """A prefiltered file before any parsing: its layout chunks, text indexes and acquire chunks."""

    src: bytes
    """The file's bytes."""
    chunks: tuple[parse.Chunk, ...]
    """Its column-0 functions."""
    called: dict[str, tuple[int, ...]]
    """Callee name -> chunks calling it."""
    fields: dict[str, tuple[int, ...]]
    """Field name -> chunks using it."""
    acquire: tuple[int, ...]
    """Chunks that call an acquire API."""
    whole: bool
    """An acquire call sits outside every column-0 function: parse the whole file."""
    big: bool = False
    """The file is over the parse limit: it is never parsed whole, only function by function."""
    uncut: tuple[int, ...] = ()
    """Byte offsets of acquire calls that no column-0 function holds, in a big file (not parsed)."""


def prepare(rel: str, src: bytes, acquire: CallFinder, big: bool = False) -> Prepared:
    """Cut a file into its functions, index them by text and find the ones that call an acquire
    API; nothing is parsed yet. A `big` file (over the parse limit) is never parsed whole: a call
    outside its column-0 functions is listed in `uncut` instead."""
    chunks = parse.chunks(src)
    starts = [c.start for c in chunks]
    want: set[int] = set()
    outside: list[int] = []
    for pos in acquire.starts(src):
        i = bisect_right(starts, pos) - 1
        if i >= 0 and chunks[i].start <= pos < chunks[i].end:
            want.add(i)
        elif not parse.outside_code(src, pos):
            outside.append(pos)
    if big and outside:
        # Never parsed whole: a call in a function whose `{` is not at column 0 gets that function
        # cut out on its own; what still has no function is reported (`uncut`).
        uncut = []
        for pos in outside:
            i = bisect_right(starts, pos) - 1
            if i >= 0 and chunks[i].start <= pos < chunks[i].end:
                want.add(i)
                continue
            c = parse.chunk_around(src, pos)
            if c is None or (i >= 0 and c.start < chunks[i].end) or (i + 1 < len(chunks) and c.end > chunks[i + 1].start):
                uncut.append(pos)
                continue
            chunks.insert(i + 1, c)
            starts.insert(i + 1, c.start)
            want = {j + 1 if j > i else j for j in want} | {i + 1}
        outside = uncut
    called, fields = text_indexes(src, chunks)
    if big:
        return Prepared(src, tuple(chunks), called, fields, tuple(sorted(want)), False, True, tuple(outside))
    return Prepared(src, tuple(chunks), called, fields, tuple(sorted(want)), bool(outside) or not chunks)


def _member_uses(src: bytes, member: bytes) -> list[int]:
    """Offsets of `->member` / `.member` in `src` (found with bytes.find: faster than a regex that
    tries every `-` and `.` of a large header)."""
    out, i, n = [], src.find(member), len(member)
    while i >= 0:
        end = i + n
        if end >= len(src) or not (src[end:end + 1].isalnum() or src[end:end + 1] == b"_"):
            j = i - 1
            while j >= 0 and src[j:j + 1] in b" \t\n":
                j -= 1
            if j >= 0 and (src[j:j + 1] == b"." or src[j - 1:j + 1] == b"->"):
                out.append(i)
        i = src.find(member, i + 1)
    return out


def _returned(src: bytes, pos: int) -> bool:
    """Whether the statement around `pos` is a `return` statement."""
    start = max(src.rfind(b";", 0, pos), src.rfind(b"{", 0, pos), src.rfind(b"}", 0, pos)) + 1
    return src[start:pos].lstrip().startswith(b"return") and src.find(b";", pos) >= 0


def _defines(name: bytes, src: bytes) -> bool:
    """Whether `src` has a line that defines (or declares) function `name`: the name after a line's
    type words, or at the start of the next line, then `(` with no `;` before a line ends.

    Tried at each whole-word occurrence of the name only, from its line's start and the line's
    before (a regex anchored at every line of a large file costs more than the search)."""
    line = _definition_line(name)
    for i in word_starts(src, name):
        start = src.rfind(b"\n", 0, i) + 1
        if line.match(src, start) or (start > 0 and line.match(src, src.rfind(b"\n", 0, start - 1) + 1)):
            return True
    return False


@lru_cache(maxsize=512)
def _definition_line(name: bytes) -> re.Pattern[bytes]:
    return re.compile(rb"(?m)^(?:\w[\w \t\*]*\s)?\**" + re.escape(name) + rb"\s*\([^;]*$")


class FactStore:
    """The prefiltered files, parsed lazily function by function."""

    def __init__(self, root: Any, focus: frozenset[str], all_dirs: tuple[str, ...] = (),
                 skip_names: frozenset[str] = frozenset(), shared_dirs: frozenset[str] = frozenset()) -> None:
        self.root = root
        self.shared_dirs = shared_dirs
        """Top-level folders of shared code (mm/, lib/): nobody's neighbourhood."""
        self.focus = focus
        self.all_dirs = all_dirs
        self._dirs_by_base: dict[str, list[str]] | None = None
        self.skip_names = skip_names
        self.flow_names: frozenset[str] = frozenset()
        """Functions calling these names get a control-flow graph (the acquire APIs)."""
        self._searched: dict[tuple[str, str], list[str]] = {}
        self.hits: set[str] = set()
        """The prefiltered files: what every search sees; neighbour files only when its own query found them."""
        self._dirs: dict[str, list[tuple[str, bytes]]] = {}
        self.files: dict[str, SourceFile] = {}
        self._parsed: dict[str, set[int]] = {}
        """Per file, the indices of its parsed chunks."""
        self._whole: set[str] = set()
        """Files parsed whole (layout did not cover every acquire call)."""
        self.problems: list[ParseProblem] = []
        self._done: set[tuple[str, str]] = set()
        self._by_name: dict[str, list[tuple[str, int]]] = {}
        self._called: dict[str, dict[str, tuple[int, ...]] | None] = {}
        self._fields: dict[str, dict[str, tuple[int, ...]] | None] = {}
        """Per file, name -> chunks calling it / using the field; None until a query needs it
        (a neighbour file is indexed only once a name it contains is asked for)."""
        self._called_by: dict[str, list[tuple[str, tuple[int, ...]]]] = {}
        self._fields_by: dict[str, list[tuple[str, tuple[int, ...]]]] = {}
        """The same, inverted over the files indexed so far: name -> (file, chunks)."""
        self._lazy: dict[str, None] = {}
        """The registered files not indexed yet, in registration order."""
        self._acquire: dict[str, tuple[tuple[int, ...], bool]] = {}
        self._getters: dict[tuple[str, str], dict[str, str]] = {}
        self._getters_of: dict[tuple[str, str], tuple[str, ...]] = {}
        self._header_chunks: dict[str, list[parse.Chunk]] = {}
        self._headers: dict[str, bytes | None] = {}
        self._includes: dict[str, list[str]] = {}
        self._weight: dict[str, int] = {}
        self._pre: dict[str, list[FileFacts]] = {}
        self._pre_callers: list[FileFacts] = []
        self._acquire_chunks: dict[str, tuple[int, ...]] = {}

    def _register(self, path: str, chunks: tuple[parse.Chunk, ...], called: dict[str, tuple[int, ...]] | None,
                  fields: dict[str, tuple[int, ...]] | None, src: bytes, hit: bool) -> None:
        if hit:
            self.hits.add(path)
        self.files[path] = SourceFile(path, src, list(chunks))
        self._parsed[path] = set()
        for i, c in enumerate(chunks):
            self._by_name.setdefault(c.name, []).append((path, i))
        # Kept per file: a query looks a name up in each file's index (cheaper than merging them).
        self._called[path] = called
        self._fields[path] = fields
        if called is None or fields is None:
            self._lazy[path] = None
        else:
            self._invert(path, called, fields)

    def _invert(self, path: str, called: dict[str, tuple[int, ...]], fields: dict[str, tuple[int, ...]]) -> None:
        for name, ids in called.items():
            self._called_by.setdefault(name, []).append((path, ids))
        for name, ids in fields.items():
            self._fields_by.setdefault(name, []).append((path, ids))

    def _everywhere(self, name: str, table: dict[str, dict[str, tuple[int, ...]] | None],
                    by: dict[str, list[tuple[str, tuple[int, ...]]]]) -> list[tuple[str, int]]:
        """(file, chunk) of every registered file whose `table` (calls or field uses) lists `name`:
        the indexed files through the inverted index, the others one by one (`_index`)."""
        out = [(p, i) for p, ids in by.get(name, ()) for i in ids]
        for p in list(self._lazy):
            out.extend((p, i) for i in self._index(p, name, table))
        return out

    def add_prepared(self, path: str, prep: Prepared) -> None:
        """Register a prefiltered file (nothing parsed yet)."""
        self._register(path, prep.chunks, prep.called, prep.fields, prep.src, True)
        self._acquire[path] = (prep.acquire, prep.whole)
        self._acquire_chunks[path] = () if prep.whole else prep.acquire
        self._weight[path] = len(prep.src) if prep.whole else sum(prep.chunks[i].end - prep.chunks[i].start
                                                                   for i in prep.acquire)

    def acquire_bytes(self, path: str) -> int:
        """Size of what `acquire_facts` parses in a prefiltered file: its functions that call an
        acquire API (the whole file when a call sits outside them). The cost of a file's sites
        grows with it (parsing, then every path through those functions)."""
        return self._weight.get(path, 0)

    def preparse(self, path: str) -> None:
        """Parse now what `acquire_facts` will hand out (while grep still reads the tree)."""
        if path in self._acquire:
            self._pre[path] = self.acquire_facts(path)

    def preparsed(self) -> list[str]:
        """The files `preparse` parsed whose facts are not handed out yet, in path order."""
        return sorted(self._pre)

    def preparse_callers(self, path: str) -> None:
        """Parse now the functions of the files registered so far that call one of `path`'s
        acquire functions (every site's reach, and its search up to the callers, start there).
        Nothing is marked asked: the closure search still asks for them over every file."""
        got = self._acquire_chunks.get(path)
        if not got:
            return
        sf = self.files[path]
        names = {(sf.chunks[i].name, sf.chunks[i].static) for i in got}
        wanted = [(p, i) for name, static in sorted(names)
                  for p, ids in ([(path, self._called[path].get(name, ()))] if static else self._called_by.get(name, ()))  # type: ignore[union-attr]
                  for i in ids]
        self._pre_callers.extend(self._load(wanted))

    def preparsed_callers(self) -> list[FileFacts]:
        """What `preparse_callers` parsed, once, by file."""
        out = sorted(self._pre_callers, key=lambda ff: ff.path)
        self._pre_callers = []
        return out

    def acquire_facts(self, path: str) -> list[FileFacts]:
        """Parse the functions of a prefiltered file that call an acquire API (all of it when a
        call sits outside the column-0 functions); once."""
        done = self._pre.pop(path, None)
        if done is not None:
            return done
        got = self._acquire.pop(path, None)
        if got is None:
            return []
        ids, whole = got
        sf = self.files[path]
        if whole and path not in self._whole:
            self._whole.add(path)
            self._parsed[path].update(range(len(sf.chunks)))
            return self._extract(path, sf.src, None, None)
        return self._load([(path, i) for i in ids])

    def add_file(self, path: str) -> bool:
        """Bring a named file of the tree into the store (a destructor's header); False if absent."""
        if path in self.files:
            return True
        src = self.root.read(path)
        if src is None or b"\0" in src:
            return False
        self.add_source(path, src)
        return True

    def includes(self, path: str) -> list[str]:
        """The files `path` includes, as tree paths (`<media/frame_vector.h>` -> include/media/…,
        `"internal.h"` -> next to `path`); only those that exist."""
        got = self._includes.get(path)
        if got is not None:
            return got
        sf = self.files.get(path)
        if sf is None:
            return []
        out: list[str] = []
        self._includes[path] = out
        for kind, name in _includes(sf.src):
            rel = "include/" + name.decode() if kind == b"<" else os.path.normpath(
                os.path.join(os.path.dirname(path), name.decode()))
            if not rel.startswith("..") and rel not in out:
                out.append(rel)
        return out

    def getters(self, path: str, field: str) -> dict[str, str]:
        """Short functions of `path` and of the headers it includes whose return value is the field
        `field` of what they are given (`return (struct page **)(vec->ptrs);`, `return
        &msg->sg.data[which];`): name -> file. Their callers use the field without naming it.
        A header is only read (never registered or indexed): most name no such field at all."""
        key = (path, field)
        got = self._getters.get(key)
        if got is not None:
            return got
        got = self._getters[key] = {}
        for f in [path, *self.includes(path)]:
            for name in self._getters_in(f, field):
                got.setdefault(name, f)
        return got

    def _getters_in(self, f: str, field: str) -> tuple[str, ...]:
        """The getters of the field `field` that file `f` defines, in file order (once per file and
        field: a header is included by many files)."""
        key = (f, field)
        got = self._getters_of.get(key)
        if got is not None:
            return got
        got = ()
        needle = field.encode()
        src = self._header_source(f)
        if src and needle in src:
            hits = [pos for pos in _member_uses(src, needle) if _returned(src, pos)]
            if hits:
                chunks = self._header_chunks.get(f)
                if chunks is None:
                    chunks = self._header_chunks[f] = parse.chunks(src)
                got = tuple(c.name for c in chunks
                            if c.end - c.start <= _GETTER_BYTES and any(c.start <= h < c.end for h in hits))
        self._getters_of[key] = got
        return got

    def _header_source(self, path: str) -> bytes | None:
        sf = self.files.get(path)
        if sf is not None:
            return sf.src
        if path not in self._headers:
            src = self.root.read(path)
            self._headers[path] = src if src is not None and b"\0" not in src else None
        return self._headers[path]

    def member_types(self, path: str, member: str) -> frozenset[str]:
        """The types `member` is declared with in `path` and the files it includes (a struct member,
        or a local of the same name: a caller wants them all to agree on what it asks)."""
        rx = re.compile(rb"(?m)^[ \t]*((?:const\s+|volatile\s+)*(?:unsigned\s+|signed\s+)?(?:long\s+long|long|int|short"
                        rb"|char|[A-Za-z_]\w*)(?:\s+int)?)\s+" + re.escape(member.encode()) + rb"\s*(?::\s*\d+\s*)?;")
        found: set[str] = set()
        for p in [path, *self.includes(path)]:
            src = self._header_source(p)
            if src is not None and member.encode() in src:
                found.update(" ".join(m.decode("latin-1").split()) for m in rx.findall(src))
        return frozenset(found)

    def add_source(self, path: str, src: bytes) -> None:
        """Register a file found by a neighbourhood search (not prefiltered): chunked, not parsed,
        its text indexes made when a query first names something it contains."""
        if path in self.files:
            return
        self._register(path, tuple(parse.chunks(src)), None, None, src, False)

    def _index(self, path: str, name: str, table: dict[str, dict[str, tuple[int, ...]] | None]) -> tuple[int, ...]:
        """The chunks of `path` that `table` (calls or field uses) lists for `name`."""
        idx = table.get(path)
        if idx is None:
            sf = self.files[path]
            if name.encode() not in sf.src:
                return ()
            called, fields = text_indexes(sf.src, sf.chunks)
            self._called[path], self._fields[path] = called, fields
            self._lazy.pop(path, None)
            self._invert(path, called, fields)
            idx = table[path]
        return idx.get(name, ())  # type: ignore[union-attr]

    def neighbours(self, near: str) -> list[str]:
        """The folder of `near` and, for a subsystem's folder (`top/name`), the subsystem's other
        halves: the folders of the same name at the same level, under include/ or an architecture's
        (fs/ceph, net/ceph and include/linux/ceph; net/9p and fs/9p; virt/kvm and arch/x86/kvm). A
        folder deeper down shares its name with unrelated ones (net/core, drivers/cxl/core; fs/fuse,
        drivers/soc/tegra/fuse)."""
        d = os.path.dirname(near)
        if not d or (d.count("/") < 1 and d in self.shared_dirs):
            return []  # mm/, lib/, kernel/: shared code, not a subsystem's private helpers
        out = [d]
        if d.count("/") != 1:
            return out
        if self._dirs_by_base is None:
            # Folders by last name (fs/ceph and net/ceph), built on the first neighbourhood search.
            by: dict[str, list[str]] = {}
            for folder in sorted(self.all_dirs):
                by.setdefault(folder.rpartition("/")[2], []).append(folder)
            self._dirs_by_base = by
        for other in self._dirs_by_base.get(os.path.basename(d), []):
            if other not in out and (other.count("/") == 1 or other.startswith("include/")
                                     or (other.startswith("arch/") and other.count("/") == 2)):
                out.append(other)
        return out[:4]

    def search_near(self, word: str, near: str, must: Callable[[bytes], bool] | None = None) -> set[str]:
        """The files next to `near` that mention `word` as a whole word (and pass `must`, a test of
        a file's bytes), added to the store.

        Only subsystem-local names are searched (the caller passes a name that shares the calling
        function's namespace prefix, or a struct tag), never core kernel APIs.

        Releases often live in a sibling file that names no acquire API (net/9p/trans_common.c,
        net/ceph/pagevec.c, vmci_context.c), so the prefilter never saw them. Only the neighbouring
        folders are searched (each read once), to keep the search cheap. The answer depends only on
        the query: a search asked again returns what it found the first time.
        """
        if word in self.skip_names:
            return set()
        found: set[str] = set()
        needle = word.encode()
        for d in self.neighbours(near):
            got = self._searched.get((d, word))
            if got is None:
                got = []
                for rel, src in self._dir_sources(d):
                    if rel in self.hits or needle not in src or not (
                            must(src) if must is not None else has_word(src, needle)):
                        continue
                    self.add_source(rel, src)
                    got.append(rel)
                self._searched[(d, word)] = got
            found.update(got)
        return found

    def prefetch(self, near: str) -> bool:
        """Read the next not yet read folder a search near `near` would read, or else the headers
        `near` includes that a getter search would read (False: nothing left)."""
        for d in self.neighbours(near):
            if d not in self._dirs:
                self._dir_sources(d)
                return True
        for f in self.includes(near):
            if f not in self._headers and f not in self.files:
                self._header_source(f)
                return True
        return False

    def _dir_sources(self, d: str) -> list[tuple[str, bytes]]:
        """The .c/.h files of one folder (read once, kept for later searches in the same folder)."""
        got = self._dirs.get(d)
        if got is None:
            got = []
            for n in self.root.listdir(d):
                rel = f"{d}/{n}"
                src = self.root.read(rel)
                if src is not None and len(src) <= 8 * 1024 * 1024 and b"\0" not in src:
                    got.append((rel, src))
            self._dirs[d] = got
        return got

    def _load(self, wanted: list[tuple[str, int]]) -> list[FileFacts]:
        by_file: dict[str, list[int]] = {}
        for path, i in wanted:
            if path not in self._whole and i not in self._parsed[path]:
                by_file.setdefault(path, []).append(i)
        out = []
        for path, idxs in sorted(by_file.items()):
            sf = self.files[path]
            self._parsed[path].update(idxs)
            ranges = [(sf.chunks[i].start, sf.chunks[i].end) for i in sorted(set(idxs))]
            out.extend(self._extract(sf.path, sf.src, ranges, sf.lines))
        return out

    def _extract(self, path: str, src: bytes, ranges: list[tuple[int, int]] | None,
                 lines: parse.Lines | None) -> list[FileFacts]:
        try:
            return [facts.extract(path, src, self.focus, ranges, lines, flows_for=self.flow_names)]
        except (ValueError, RecursionError, MemoryError) as e:  # tree-sitter gives up on pathological input
            self.problems.append(ParseProblem(path, 1, f"tree-sitter could not parse the file: {e.__class__.__name__}"))
            return []

    def _once(self, kind: str, key: str) -> bool:
        if (kind, key) in self._done:
            return False
        self._done.add((kind, key))
        return True

    def flows_of(self, path: str, func: str, names: frozenset[str]) -> list[FileFacts]:
        """`func` in `path` parsed again for the control-flow graphs of its calls of `names` (the
        callers of a discovered acquire wrapper)."""
        sf = self.files.get(path)
        if sf is None or not self._once("flows", f"{path}:{func}:{','.join(sorted(names))}"):
            return []
        ids = [i for p, i in self._by_name.get(func, []) if p == path]
        if not ids:
            return []
        try:
            flows = facts.flows_only(sf.src, [(sf.chunks[i].start, sf.chunks[i].end) for i in ids], sf.lines, names)
        except (ValueError, RecursionError, MemoryError):
            return []
        return [FileFacts(path, (), (), (), (), (), (), tuple(sf.lines.starts), (), flows)] if flows else []

    def body(self, path: str, func: str) -> list[FileFacts]:
        """The facts of `func` in `path`."""
        if not self._once("body", f"{path}:{func}"):
            return []
        return self._load([(p, i) for p, i in self._by_name.get(func, []) if p == path])

    def definition(self, name: str, from_path: str, prefix: str | None = None,
                   visible: set[str] | None = None) -> list[FileFacts]:
        """The facts of every definition of `name` visible from `from_path` (searching nearby files
        when no prefiltered file defines it; the files found are added to `visible`)."""
        if prefix is not None and name.startswith(prefix + "_") and not any(
                p in self.hits for p, _ in self._by_name.get(name, [])):
            # A file defines it when a line at one of the name's whole-word occurrences is its
            # header (`_defines`: never a line-anchored regex over a whole large file).
            got = self.search_near(name, from_path, partial(_defines, name.encode()))
            if visible is not None:
                visible.update(got)
        if not self._once("def", f"{from_path}:{name}"):
            return []
        return self._load([
            (p, i) for p, i in self._by_name.get(name, []) if p == from_path or not self.files[p].chunks[i].static
        ])

    def callers(self, name: str, path: str, static: bool) -> list[FileFacts]:
        """The facts of every function that calls `name` (only in `path` when it is static)."""
        if not self._once("callers", f"{path if static else ''}:{name}"):
            return []
        if static:
            return self._load([(path, i) for i in self._index(path, name, self._called)])
        return self._load(self._everywhere(name, self._called, self._called_by))

    def callers_near(self, name: str, path: str) -> tuple[set[str], list[FileFacts]]:
        """The callers of `name` (defined in `path`) in the files next to `path` that the prefilter
        did not select (a driver's wrapper called from its sibling files): those files, and the
        facts of the calling functions."""
        nb = name.encode()
        found = self.search_near(name, path, lambda src: has_call(src, nb))
        if not self._once("callers-near", f"{path}:{name}"):
            return found, []
        return found, self._load([(p, i) for p in sorted(found) for i in self._index(p, name, self._called)])

    def field_users(self, name: str, only: str | None, near: str | None = None, search_tag: str = "",
                    within: Callable[[str], bool] | None = None, tag: str = "",
                    visible: set[str] | None = None, scope: str = "") -> list[FileFacts]:
        """The facts of every function that uses struct field `name`: only in file `only` if given,
        else in the files `within` accepts, and only functions whose text names `tag` if given.

        With `search_tag`, files next to `near` that name that struct tag are searched first."""
        if only is None and near is not None and search_tag:
            # Only files that use the field on this struct's pointers: `->name` must appear.
            nb = name.encode()
            got = self.search_near(search_tag, near, lambda src: has_member(src, nb))
            if visible is not None:
                visible.update(got)
        # `scope` names what `within` accepts: a query from another subsystem is another query.
        if not self._once("field", f"{only or ''}:{name}:{tag}:{scope}"):
            return []
        want = []
        tag_b = tag.encode()
        for p, i in self._everywhere(name, self._fields, self._fields_by):
            if (only is not None and p != only) or (only is None and within is not None and not within(p)):
                continue
            if tag_b and p != near:
                sf = self.files[p]
                c = sf.chunks[i]
                if sf.src.find(tag_b, c.start, c.end) < 0:  # (no copy of the chunk)
                    continue
            want.append((p, i))
        return self._load(want)
