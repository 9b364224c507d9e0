"""`audit --diff REV`: the functions a change touches, to review a patch series.

Reads `git diff --unified=0 REV` in the checkout that holds the audited tree and maps every changed
line (new side) to the column-0 function around it (the kernel layout `parse.text_functions`
reads). The triage filter then keeps the findings whose acquire, release or faulty line lies in a
changed function.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from audit import parse

_HUNK = re.compile(rb"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", re.M)
_FILE = re.compile(rb"^\+\+\+ b/(.*)$", re.M)


class ReviewError(Exception):
    """The tree is not a git checkout, or REV is unknown (exit 2)."""


@dataclass(frozen=True)
class Change:
    """What a change since REV touches."""

    functions: frozenset[tuple[str, str]]
    """(tree-relative file, function) of every function with a changed line."""
    lines: frozenset[tuple[str, int]]
    """(tree-relative file, line) of every changed line outside functions too."""

    def touches(self, file: str, function: str | None, line: int | None = None) -> bool:
        """Whether a place lies in the change."""
        return (function is not None and (file, function) in self.functions) or (
            line is not None and (file, line) in self.lines)


def changed(root: Path, rev: str) -> Change:
    """The functions and lines of `root` (a tree in a git checkout) changed since `rev`."""
    try:
        top = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel"], capture_output=True,
                             check=True).stdout.decode().strip()
        diff = subprocess.run(["git", "-C", str(root), "diff", "--unified=0", "--no-color", "--no-ext-diff",
                               rev, "--", "."], capture_output=True, check=True).stdout
    except FileNotFoundError:
        raise ReviewError("--diff needs git") from None
    except subprocess.CalledProcessError as e:
        msg = (e.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        raise ReviewError(f"--diff {rev}: {msg[0] if msg else 'git failed'}") from None
    prefix = Path(root).resolve().relative_to(Path(top).resolve()).as_posix()
    prefix = "" if prefix == "." else prefix + "/"
    by_file: dict[str, list[int]] = {}
    for block in re.split(rb"(?m)^diff --git ", diff)[1:]:
        m = _FILE.search(block)
        if m is None:
            continue  # a deleted file: nothing of it is in the tree any more
        rel = m.group(1).decode("utf-8", "replace")
        if not rel.startswith(prefix):
            continue
        rel = rel[len(prefix):]
        for h in _HUNK.finditer(block):
            start, count = int(h.group(1)), int(h.group(2) or b"1")
            by_file.setdefault(rel, []).extend(range(start, start + max(count, 1)))
    functions: set[tuple[str, str]] = set()
    lines: set[tuple[str, int]] = set()
    for rel, changed_lines in by_file.items():
        try:
            src = (Path(root) / rel).read_bytes()
        except OSError:
            continue
        text_lines = parse.Lines(src)
        spans = [(name, text_lines.line_of(nbyte), text_lines.line_of(end)) for name, nbyte, _, end in
                 parse.text_functions(src)]
        for ln in changed_lines:
            lines.add((rel, ln))
            for name, first, last in spans:
                if first <= ln <= last:
                    functions.add((rel, name))
    return Change(frozenset(functions), frozenset(lines))


__all__ = ["Change", "ReviewError", "changed"]
