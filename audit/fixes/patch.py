"""The output of `audit fix`: one unified diff, or one `git am` patch per subsystem.

Hunk headers carry the function context the way `diff -p` and git show it (`@@ -a,b +c,d @@ static
int foo(...)`): the last line above the hunk that starts with a letter, `_` or `$` (git's default
funcname rule), trailing blanks dropped, at most 80 characters.

`--split` groups the conversions by subsystem (the rule of `audit track`'s `by_subsystem`); groups
that edit the same file are merged, so that every file belongs to one patch and each patch applies
on its own, in any order. Each patch is an mbox message as `git format-patch` writes it: a `From`
line, `From:`, `Subject: [PATCH] subsystem: convert … to pin_user_pages…()`, a body naming the
sites, the releases converted and why the conversion is safe, a `---` diffstat, then the diff.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from audit import __version__ as VERSION
from audit.fixes.ctext import Edit
from audit.fixes.plan import Conversion, Plan
from audit.track import subsystem

FUNCNAME = re.compile(r"[A-Za-z_$]")
"""A line that can name the hunk's function: git's default funcname rule (what `diff -p` looks for)."""
FUNCNAME_MAX = 80
"""git keeps at most this many characters of the function line."""
HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
MAGIC = "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001"
"""The first line of a `git format-patch` message (an mbox `From ` line)."""
WIDTH = 72
"""Width of the commit message body."""


def apply_edits(data: bytes, edits: list[Edit]) -> bytes:
    """`data` with non-overlapping `edits` applied."""
    out = bytearray()
    pos = 0
    for e in sorted(edits, key=lambda e: e.start):
        out += data[pos : e.start]
        out += e.text
        pos = e.end
    out += data[pos:]
    return bytes(out)


def _funcname(lines: list[str], before: int) -> str:
    """The function context of a hunk whose first old line is `before` (1-based): '' when none."""
    for i in range(min(before, len(lines) + 1) - 2, -1, -1):
        if FUNCNAME.match(lines[i]):
            return lines[i].rstrip()[:FUNCNAME_MAX].rstrip()
    return ""


def file_diff(rel: str, old: bytes, new: bytes) -> list[str]:
    """The unified diff lines of one file, with function context in the hunk headers."""
    a = old.decode("utf-8").splitlines(keepends=True)
    b = new.decode("utf-8").splitlines(keepends=True)
    out: list[str] = []
    for line in difflib.unified_diff(a, b, f"a/{rel}", f"b/{rel}", n=3):
        if line.startswith(("---", "+++")):
            line = line.rstrip("\n") + "\n"
        m = HUNK.match(line)
        if m:
            func = _funcname(a, int(m.group(1)))
            line = line.rstrip("\n") + (f" {func}" if func else "") + "\n"
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return out


def unified_diff(sources: dict[str, bytes], edits: list[Edit], git: bool = False) -> str:
    """One unified diff (`--- a/FILE` / `+++ b/FILE`, 3 lines of context) for all edits, files in order.

    `sources` holds the original bytes of every edited file; with `git`, each file starts with a
    `diff --git` line.
    """
    by_file: dict[str, list[Edit]] = {}
    for e in edits:
        by_file.setdefault(e.file, []).append(e)
    chunks: list[str] = []
    for rel in sorted(by_file):
        old = sources[rel]
        if git:
            chunks.append(f"diff --git a/{rel} b/{rel}\n")
        chunks.extend(file_diff(rel, old, apply_edits(old, by_file[rel])))
    return "".join(chunks)


def diffstat(diff: str) -> str:
    """`git diff --stat`'s summary of a diff: one line per file, then the totals."""
    counts: dict[str, list[int]] = {}
    cur = ""
    for line in diff.splitlines():
        if line.startswith("+++ b/"):
            cur = line[6:]
            counts.setdefault(cur, [0, 0])
        elif line.startswith("+") and not line.startswith("+++") and cur:
            counts[cur][0] += 1
        elif line.startswith("-") and not line.startswith("---") and cur:
            counts[cur][1] += 1
    if not counts:
        return ""
    name_w = max(len(n) for n in counts)
    most = max(a + d for a, d in counts.values())
    num_w = len(str(most))
    bar = max(1, 79 - name_w - num_w - 6)
    rows = []
    for name in sorted(counts):
        a, d = counts[name]
        if most > bar:
            a, d = -(-a * bar // most), -(-d * bar // most)
        rows.append(f" {name.ljust(name_w)} | {str(sum(counts[name])).rjust(num_w)} {'+' * a}{'-' * d}")
    ins = sum(a for a, _ in counts.values())
    dels = sum(d for _, d in counts.values())
    total = f" {len(counts)} file{'s' if len(counts) != 1 else ''} changed"
    if ins:
        total += f", {ins} insertion{'s' if ins != 1 else ''}(+)"
    if dels:
        total += f", {dels} deletion{'s' if dels != 1 else ''}(-)"
    return "\n".join(rows + [total]) + "\n"


@dataclass(frozen=True)
class Patch:
    """One `git am` message."""

    name: str
    """File name, `NNNN-subject-words.patch` as `git format-patch` names it."""
    subject: str
    """The subject, without `[PATCH]`."""
    text: str
    """The whole message."""


def groups(plan: Plan) -> list[list[Conversion]]:
    """The conversions by subsystem, merged where they edit the same file; sorted by subsystem."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        """Union-find root."""
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    touched: dict[str, str] = {}
    for c in plan.converted:
        sub = find(subsystem(c.site.file))
        for e in plan.edits_of(c):
            other = touched.setdefault(e.file, sub)
            ra, rb = find(other), find(sub)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    out: dict[str, list[Conversion]] = {}
    for c in plan.converted:
        out.setdefault(find(subsystem(c.site.file)), []).append(c)
    return [sorted(out[k], key=lambda c: (c.site.file, c.site.line)) for k in sorted(out)]


def _wrap(text: str, indent: str = "", first: str = "") -> list[str]:
    """`text` filled to WIDTH columns (the first line after `first`, the others after `indent`)."""
    lines: list[str] = []
    cur = first
    for word in text.split():
        if cur.strip() and len(cur) + 1 + len(word) > WIDTH:
            lines.append(cur)
            cur = indent + word
        else:
            cur = cur + word if not cur.strip() or cur.endswith(" ") else cur + " " + word
    if cur.strip():
        lines.append(cur)
    return lines


def _names(names: list[str], star: str) -> str:
    """`a()`, `a() and b()`, or `star*()` when there are more than two."""
    u = sorted(set(names))
    if len(u) == 1:
        return f"{u[0]}()"
    if len(u) == 2:
        return f"{u[0]}() and {u[1]}()"
    return f"{star}*()"


def subject(convs: list[Conversion]) -> str:
    """`subsystem: convert get_user_pages_fast() to pin_user_pages_fast()` (without `[PATCH]`)."""
    subs = sorted({subsystem(c.site.file) for c in convs})
    old = _names([c.site.api for c in convs], "get_user_pages")
    new = _names([c.new_api for c in convs], "pin_user_pages")
    text = f"{', '.join(subs)}: convert {old} to {new}"
    if len(text) > 75:
        text = f"{', '.join(subs)}: convert get_user_pages*() to pin_user_pages*()"
    return text


def body(convs: list[Conversion]) -> str:
    """The commit message body: what is converted, the releases, and why it is safe."""
    n = len(convs)
    gets = _names([r.api for c in convs for r, _ in c.releases], "put_page")
    olds = _names([c.site.api for c in convs], "get_user_pages")
    lines = _wrap(f"Convert {'the' if n == 1 else n} {olds} call site{'s' if n != 1 else ''} from FOLL_GET references "
                  f"released with {gets} to FOLL_PIN pins released with unpin_user_page*(), as "
                  "Documentation/core-api/pin_user_pages.rst asks of code that reads or writes the contents "
                  "of user pages: a pinned page is not shared with a child at fork and is not reused by "
                  "copy-on-write while the pin is held.")
    lines += ["", "Sites:"]
    for c in convs:
        lines += _wrap(f"{c.site.api}() -> {c.new_api}()", "      ",
                       f"  {c.site.file}:{c.site.line} {c.site.function or '<file scope>'}():")
    lines += ["", "Releases converted:"]
    seen: set[tuple[str, int, int]] = set()
    for c in convs:
        for r, new in c.releases:
            if (r.file, r.line, r.column) not in seen:
                seen.add((r.file, r.line, r.column))
                lines += _wrap(f"{r.api}() -> {new}()", "      ", f"  {r.file}:{r.line} {r.function or '<file scope>'}():")
    lines += ["", "Why this is safe:"]
    lines += _wrap("gup-audit found every release of these pages (status raw-closure: FOLL_GET references "
                   "released with put_page() and friends, closure complete) and this patch converts each of "
                   "them, so no pinned page reaches put_page() and no unpinned one reaches unpin_user_page*().",
                   "  ", "- ")
    lines += _wrap("No converted release is shared with pages that were not taken by gup (allocated pages, "
                   "extra get_page() references) or with a call site left unconverted; release helpers are "
                   "converted only when every caller hands them pages of a site converted here.", "  ", "- ")
    lines += _wrap("FOLL_GET is dropped from the gup flags: the pin API takes FOLL_PIN itself.", "  ", "- ")
    for c in convs:
        if c.write_back:
            lines += _wrap(f"{c.site.file}:{c.site.line}: the pages are written (FOLL_WRITE) and the old release "
                           f"did not dirty them, so the new release dirties them ({', '.join(c.write_back)}).",
                           "  ", "- ")
        if c.longterm:
            lines += _wrap(f"{c.site.file}:{c.site.line} pins with FOLL_LONGTERM: {c.longterm}.", "  ", "- ")
    lines += ["", f"Generated by gup-audit {VERSION} (audit fix --split)."]
    return "\n".join(lines) + "\n"


def _slug(text: str) -> str:
    """`git format-patch`'s file name words: runs of other characters become one `-`, at most 64."""
    s = re.sub(r"[^A-Za-z0-9._]+", "-", text).strip("-.")
    return s[:64].rstrip("-.")


def series(plan: Plan, sources: dict[str, bytes], author: str, signoff: bool = False) -> list[Patch]:
    """One `git am` patch per subsystem group of `plan`, numbered in subsystem order (with a
    `Signed-off-by: author` trailer when `signoff`)."""
    out: list[Patch] = []
    for i, convs in enumerate(groups(plan), 1):
        mine = sorted({e for c in convs for e in plan.edits_of(c)}, key=lambda e: (e.file, e.start, e.end))
        diff = unified_diff(sources, mine, git=True)
        subj = subject(convs)
        trailer = f"\nSigned-off-by: {author}\n" if signoff else ""
        text = (f"{MAGIC}\nFrom: {author}\nSubject: [PATCH] {subj}\n\n{body(convs)}{trailer}---\n{diffstat(diff)}\n"
                f"{diff}-- \ngup-audit {VERSION}\n\n")
        out.append(Patch(f"{i:04d}-{_slug(subj)}.patch", subj, text))
    return out
