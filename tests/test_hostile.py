"""A hostile tree: binary, Latin-1, broken and oversized files, an unreadable file, symlink loops,
FIFOs and a socket. The run finishes, reports every good site (the one in the 12 MB file too),
lists each bad entry once as a parse problem, and leaves the tree as it found it — with grep as
the prefilter and without it."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

import pytest

from audit import cow, engine, grep, walk
from audit.engine import audit_tree
from audit.model import ParseProblem
from audit.source import FsSource, NotRegularError, read_regular
from conftest import make_tree
from snippets import HOSTILE_DRIVER as DRIVER

BROKEN = "static int broken(unsigned long u, struct page **p)\n{\n\tif (u {\n\t\treturn get_user_pages_fast(u, 1, 0, p);\n}\n}}}\n#endif\n"
# 150,000 register definitions (about 6 MB) on each side of a function: a 12 MB generated file.
PAD = "".join(f"#define ACME_REG_{i:07d}_MASK 0x{i:08x}UL\n" for i in range(150_000))
SECRET = "drivers/misc/secret.c"


def line_of(text: str, snippet: str) -> int:
    """1-based line of the one line of `text` containing `snippet`."""
    hits = [i for i, t in enumerate(text.splitlines(), 1) if snippet in t]
    assert len(hits) == 1
    return hits[0]


def hostile_tree(root: Path) -> dict[str, int]:
    """Build the tree; return the line of the acquire call of each file that holds a good site."""
    latin1 = "/* (c) Fran\xe7ois */\n" + DRIVER.replace("acme_pin", "latin_pin")
    regs = PAD + DRIVER.replace("acme_pin", "regs_pin") + PAD
    make_tree(root, {"drivers/misc/acme.c": DRIVER, "drivers/misc/broken.c": BROKEN,
                     SECRET: DRIVER.replace("acme_pin", "secret_pin")})
    misc = root / "drivers" / "misc"
    (misc / "junk.c").write_bytes(b"\x00\x01get_user_pages_fast(\x00\xff" * 50)
    (misc / "latin1.c").write_bytes(latin1.encode("latin-1"))
    (misc / "acme_regs.c").write_text(regs)
    os.chmod(misc / "secret.c", 0)
    os.symlink("loop.c", misc / "loop.c")
    os.symlink(".", misc / "again")  # a folder loop
    os.mkfifo(root / "mm" / "fifo.c")
    os.mkfifo(root / "mm" / "gup.c")  # a file the COW profile reads
    os.mkfifo(misc / "pipe.c")
    os.mkfifo(root / "top.h")  # named to grep on its command line, where only -D skip keeps it shut
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(misc / "sock.h"))
    finally:
        sock.close()
    call = "get_user_pages_fast("
    return {"drivers/misc/acme.c": line_of(DRIVER, call), "drivers/misc/acme_regs.c": line_of(regs, call),
            "drivers/misc/broken.c": line_of(BROKEN, call), "drivers/misc/latin1.c": line_of(latin1, call)}


def use_prefilter(prefilter: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `prefilter` the one the run picks: ripgrep, git grep, GNU grep or Python."""
    if prefilter == "rg":
        if grep._rg() is None:
            pytest.skip("ripgrep is not installed")
        return
    monkeypatch.setattr(grep, "_rg", lambda: None)
    which = walk.shutil.which
    if prefilter == "python":
        monkeypatch.setattr(walk.shutil, "which", lambda exe: None)
    elif prefilter == "grep":
        monkeypatch.setattr(walk.shutil, "which", lambda exe: None if exe == "git" else which(exe))


def snapshot(root: Path) -> list[tuple[str, int, int, int]]:
    """Every entry under `root` (symlinks not followed, nothing opened): path, mode, size, mtime."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            out.append((os.path.relpath(os.path.join(dirpath, name), root), st.st_mode, st.st_size, st.st_mtime_ns))
    return sorted(out)


@pytest.mark.parametrize("prefilter", ["rg", "git", "grep", "python"])
def test_a_hostile_tree_is_audited_and_left_untouched(prefilter: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "t"
    calls = hostile_tree(root)
    if os.geteuid() == 0:
        # root reads a mode-000 file: make its reads fail the way they do for everyone else.
        real = FsSource.read_or_raise

        def denied(self: FsSource, rel: str) -> bytes:
            if rel == SECRET:
                raise PermissionError(errno.EACCES, "Permission denied", rel)
            return real(self, rel)

        monkeypatch.setattr(FsSource, "read_or_raise", denied)
    use_prefilter(prefilter, monkeypatch)
    before = snapshot(root)
    report = audit_tree(FsSource(str(root)))
    assert snapshot(root) == before
    assert sorted((s.file, s.line, s.status.value) for s in report.sites) == [
        ("drivers/misc/acme.c", calls["drivers/misc/acme.c"], "raw-closure"),
        ("drivers/misc/acme_regs.c", calls["drivers/misc/acme_regs.c"], "raw-closure"),
        ("drivers/misc/broken.c", calls["drivers/misc/broken.c"], "no-closure-found"),
        ("drivers/misc/latin1.c", calls["drivers/misc/latin1.c"], "raw-closure"),
    ]
    assert list(report.tree.parse_problems) == [
        ParseProblem("drivers/misc/acme_regs.c", 1, "file of 12 MB is over the 8 MB parse limit: "
                     "only the 1 function(s) around its acquire calls are parsed"),
        ParseProblem("drivers/misc/junk.c", 1, "binary content (NUL bytes), not parsed"),
        ParseProblem("drivers/misc/latin1.c", 1, "invalid UTF-8; parsed as bytes, text shown with replacements"),
        ParseProblem("drivers/misc/loop.c", 1, "dangling or looping symlink, skipped"),
        ParseProblem("drivers/misc/pipe.c", 1, "a FIFO, not a regular file: skipped"),
        ParseProblem(SECRET, 1, "cannot read: Permission denied"),
        ParseProblem("drivers/misc/sock.h", 1, "a socket, not a regular file: skipped"),
        ParseProblem("mm/fifo.c", 1, "a FIFO, not a regular file: skipped"),
        ParseProblem("mm/gup.c", 1, "a FIFO, not a regular file: skipped"),
        ParseProblem("top.h", 1, "a FIFO, not a regular file: skipped"),
    ]
    # Regular files only: 6 of the 11 .c/.h entries; the FIFO the COW profile wanted is in its evidence.
    assert (report.tree.files_scanned, report.tree.files_parsed) == (6, 4)
    assert ("mm/gup.c", "cannot read: a FIFO, not a regular file") in {(e.file, e.message) for e in report.cow.evidence}


def test_a_big_file_is_cut_around_its_calls_and_a_call_outside_functions_is_named(tmp_path: Path) -> None:
    stray = "\t{\n\t\tn = get_user_pages_fast(u, 1, 0, p);\n\t}\n"  # no function around it
    knr = DRIVER.replace("acme_pin", "knr_pin").replace(")\n{", ") {")  # `{` not at column 0
    text = stray + PAD + DRIVER + PAD + knr
    root = make_tree(tmp_path / "t", {"drivers/misc/regs.c": text})
    report = audit_tree(FsSource(str(root)))
    lines = [i for i, t in enumerate(text.splitlines(), 1) if "n = get_user_pages_fast(uaddr" in t]
    assert [(s.file, s.line, s.function, s.status.value) for s in report.sites] == [
        ("drivers/misc/regs.c", lines[0], "acme_pin", "raw-closure"),
        ("drivers/misc/regs.c", lines[1], "knr_pin", "raw-closure")]
    assert list(report.tree.parse_problems) == [ParseProblem(
        "drivers/misc/regs.c", 1, "file of 12 MB is over the 8 MB parse limit: only the 2 function(s) around its "
        "acquire calls are parsed; the call(s) at line(s) 2 are outside any column-0 function and are not analysed")]


def test_special_files_are_never_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.c")
    with pytest.raises(NotRegularError) as info:
        read_regular(str(tmp_path / "fifo.c"))
    assert info.value.strerror == "a FIFO, not a regular file"
    # The COW profile reads through the same layer (a folder is always wrapped in its Source).
    make_tree(tmp_path / "t", {})
    os.mkfifo(tmp_path / "t" / "mm" / "memory.c")
    for root in (FsSource(str(tmp_path / "t")),):
        evidence = {(e.file, e.message) for e in cow.profile(root).evidence}
        assert ("mm/memory.c", "cannot read: a FIFO, not a regular file") in evidence


def test_grep_candidates_that_only_name_an_api_are_not_hits(tmp_path: Path) -> None:
    files = {
        "drivers/misc/mention.c": "/* pages come from get_user_pages_fast() elsewhere */\nint y;\n",
        "drivers/misc/pointer.c": "static void *fp = get_user_pages_fast;\n",
        "drivers/misc/split.c": "static int s(unsigned long u, struct page **p)\n{\n\treturn get_user_pages_fast\n\t\t/* one page */ (u, 1, 0, p);\n}\n",
    }
    root = make_tree(tmp_path / "t", files)
    report = audit_tree(FsSource(str(root)))
    assert [(s.file, s.line, s.api) for s in report.sites] == [("drivers/misc/split.c", 3, "get_user_pages_fast")]
    # A mention with parentheses in a comment is a hit (as the line-based prefilter had it), but no site.
    assert report.tree.files_parsed == 2
    assert engine.declared_apis(FsSource(str(root)), engine.catalogue.load(None)) >= {"get_user_pages_fast"}


@pytest.mark.parametrize("prefilter", ["rg", "git", "grep", "python"])
def test_fix_and_track_on_a_hostile_tree_finish_and_write_nothing(prefilter: str, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from audit import cli

    root = tmp_path / "t"
    hostile_tree(root)
    use_prefilter(prefilter, monkeypatch)
    before = snapshot(root)
    # `fix` reads the tree through the same source layer: the FIFOs are never opened.
    assert cli.main(["fix", str(root)]) == 0
    assert cli.main(["track", str(root), "--format", "json"]) == 0
    capsys.readouterr()
    assert snapshot(root) == before
