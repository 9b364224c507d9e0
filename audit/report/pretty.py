"""`--format pretty`: ruff/rustc-style annotated findings, a COW panel and a summary, with rich.

Source text never goes through rich markup (style.md §6.2): every line is a `Text`. Carets and
dashes always show, so the output reads the same without colour.
"""

from __future__ import annotations

from collections import Counter
from typing import TextIO

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.theme import Theme

from audit.model import Finding, Report, Site, Status
from audit.report.interface import Context, ordered

THEME = Theme(
    {
        "audit.error": "bold red",
        "audit.warning": "bold yellow",
        "audit.note": "bold cyan",
        "audit.primary": "bold red",
        "audit.secondary": "bold blue",
        "audit.gutter": "bold blue",
        "audit.evidence": "dim",
        "audit.title": "bold",
    }
)

_STATUS_LABEL = {
    Status.CONVERTED: "converted (pin + unpin)",
    Status.RAW_CLOSURE: "raw closure (GET + put_page)",
    Status.MISMATCH: "get/pin mismatch",
    Status.NO_CLOSURE_FOUND: "no closure found",
    Status.NO_PAGES: "no pages (fault-in only)",
}


def _expand(line: str) -> str:
    return line.expandtabs(8)


def _col(line: str, column: int) -> int:
    """Display column (0-based) of 1-based character `column` after tab expansion."""
    return len(line[: column - 1].expandtabs(8))


class PrettyReporter:
    """The default terminal report."""

    def __init__(self, width: int | None = None, verbose: bool = False) -> None:
        self.width = width
        self.verbose = verbose

    FOLDED = 3
    """Evidence steps shown per finding unless verbose (the decisive first hops)."""

    def console(self, out: TextIO, color: bool) -> Console:
        """A console writing to `out` (a terminal's width and colours when `color`)."""
        return Console(
            file=out, theme=THEME, width=self.width or 120, color_system="standard" if color else None,
            force_terminal=color, no_color=not color, highlight=False, soft_wrap=False, emoji=False,
        )

    def write(self, report: Report, ctx: Context, out: TextIO) -> None:
        """Write findings, the COW panel and the summary."""
        con = self.console(out, ctx.color)
        con.print(self.cow_panel(report))
        if self.verbose:
            con.print(self.cow_evidence(report), overflow="fold")
        shown: set[tuple[int, str, int]] = set()
        for f, s in ordered(report):
            # One block per site and faulty line: the most severe finding heads it, the others at the
            # same place are listed under it.
            where = (id(s), f.file, f.line)
            if where in shown:
                continue
            shown.add(where)
            also = [g for g in (s.findings if s is not None else ()) if g is not f and (g.file, g.line) == (f.file, f.line)]
            if self.verbose or f.severity.value == "error":
                con.print(self.finding(f, s, ctx, also), overflow="fold")
                con.print()
            else:
                con.print(self.brief(f, s, ctx, also), overflow="fold")
        if report.wrappers and self.verbose:
            con.print(self.wrappers(report), overflow="fold")
        con.print(self.summary(report))
        if report.tree.parse_problems:
            con.print(self.problems(report))

    # ------------------------------------------------------------------ one finding

    def finding(self, f: Finding, s: Site | None, ctx: Context, also: list[Finding] | None = None) -> Text:
        """One annotated finding: its faulty line underlined, with the call and the closure."""
        sev = f.severity.value
        spans: list[tuple[str, int, int, int, str, str]] = []  # file, line, col, width, char, label
        if s is None:
            spans.append((f.file, f.line, f.column, 1, "^", f.message))
        else:
            faulty_is_call = (f.file, f.line) == (s.file, s.line)
            spans.append((s.file, s.line, s.column, s.width or len(s.api), "^" if faulty_is_call else "-",
                          f"{s.ref_kind.value.upper()} references" + (f" on `{s.pages_arg}`" if s.pages_arg else "")))
            if not faulty_is_call:
                spans.append((f.file, f.line, f.column, 1, "^", f.rule))
            for r in s.closure[:6]:
                spans.append((r.file, r.line, r.column, r.width or len(r.api), "-",
                              f"{r.api}() in {r.function}()" + (f" [{r.kind.value}]" if r.kind.value != s.ref_kind.value else "")))
        gutter = max(len(str(x[1])) for x in spans) + 1
        t = Text(overflow="fold")
        t.append(f"{sev}[{f.rule}]", style=f"audit.{sev}")
        t.append(f": {f.message}\n", style="audit.title")
        t.append(" " * (gutter - 1) + "--> ", style="audit.gutter")
        t.append(f"{ctx.show(f.file)}:{f.line}:{f.column}\n")
        lines = ctx.source(f.file)
        by_file: dict[str, list[tuple[str, int, int, int, str, str]]] = {f.file: []}
        for sp in spans:
            by_file.setdefault(sp[0], []).append(sp)
        for fname, group in by_file.items():
            if not group:
                continue
            src = lines if fname == f.file else ctx.source(fname)
            if fname != f.file:
                t.append(" " * (gutter - 1) + "::: ", style="audit.gutter")
                t.append(f"{ctx.show(fname)}\n")
            t.append(" " * gutter + "|\n", style="audit.gutter")
            prev = None
            for _, ln, col, width, ch, label in sorted(group, key=lambda x: (x[1], x[4] != "^", x[2])):
                if prev is not None and ln > prev + 1:
                    t.append(" " * (gutter - 1) + ":\n", style="audit.gutter")
                if prev == ln:
                    continue
                prev = ln
                raw = src[ln - 1] if 0 < ln <= len(src) else ""
                t.append(f"{ln:<{gutter}}", style="audit.gutter")
                t.append("| ", style="audit.gutter")
                t.append(_expand(raw) + "\n")
                t.append(" " * gutter + "| ", style="audit.gutter")
                t.append(" " * _col(raw, col))
                style = "audit.primary" if ch == "^" else "audit.secondary"
                t.append(ch * max(1, width) + " " + label + "\n", style=style)
        t.append(" " * gutter + "|\n", style="audit.gutter")
        pad = " " * gutter
        if s is not None:
            write = {True: "yes", False: "no", None: "unknown"}[s.write]
            t.append(f"{pad}= status: {s.status.value}   class: {s.klass}   write: {write}")
            if s.reached_from:
                t.append(f"   reached from: {', '.join(s.reached_from)}")
            if s.exposure:
                t.append(f"   exposure: {', '.join(s.exposure)}")
            t.append(f"   confidence: {f.confidence}\n")
        steps = f.path or (s.evidence if s is not None else ())
        if steps:
            t.append(f"{pad}= {'path' if f.path else 'evidence'}:\n")
            shown = steps if self.verbose else steps[: self.FOLDED]
            for i, e in enumerate(shown, 1):
                t.append(f"{pad}    {i}. {e.file}:{e.line}  {e.message}\n", style="audit.evidence")
            if len(shown) < len(steps):
                t.append(f"{pad}    … {len(steps) - len(shown)} more step(s): -v shows them\n", style="audit.evidence")
        for g in also or ():
            t.append(f"{pad}= also ")
            t.append(f"{g.severity.value}[{g.rule}]", style=f"audit.{g.severity.value}")
            t.append(f": {g.message}\n")
        if f.help:
            t.append(f"{pad}= help: {f.help}\n")
        t.append(f"{pad}= rule: rules/{f.rule}.toml  (audit explain {f.rule})")
        return t

    def brief(self, f: Finding, s: Site | None, ctx: Context, also: list[Finding]) -> Text:
        """A warning or note in two lines: what, where, and the site's verdict (-v unfolds it)."""
        sev = f.severity.value
        t = Text(overflow="fold")
        t.append(f"{sev}[{f.rule}]", style=f"audit.{sev}")
        t.append(f": {f.message}\n")
        t.append("  --> ", style="audit.gutter")
        t.append(f"{ctx.show(f.file)}:{f.line}:{f.column}")
        if s is not None:
            rel = next((r for r in s.closure if (r.file, r.line) != (f.file, f.line)), None)
            extra = f"  {s.status.value}, {s.klass}" + (f", released by {rel.api}() {rel.file}:{rel.line}" if rel else "")
            if also:
                extra += ", also " + ", ".join(g.rule for g in also)
            t.append(extra, style="audit.evidence")
        return t

    # ------------------------------------------------------------------ panels

    def cow_panel(self, report: Report) -> Panel:
        """The tree's COW profile, with its evidence lines."""
        c = report.cow
        body = Text()
        verdict = {
            "mapcount-only": "write faults reuse anonymous pages on the mapcount alone: gup'd pages are exposed to both fork races",
            "page-count": "write faults reuse a page only when its refcount says nobody else holds it",
            "anon-exclusive": "write faults reuse only pages marked PageAnonExclusive (the 5.19+ design)",
            "unknown": "the reuse decision in do_wp_page() was not recognised",
        }.get(c.reuse_check, c.reuse_check)
        body.append(f"reuse check: {c.reuse_check} - {verdict}\n")
        body.append(f"fork copies pinned pages: {'yes' if c.fork_copies_pinned else 'no'}   "
                    f"gup unshares for reads: {'yes' if c.gup_unshares else 'no'}   "
                    f"mapcount-only reuse sites: {len(c.mapcount_only_sites)}\n")
        for x in c.mapcount_only_sites:
            body.append(f"  {x.file}:{x.line} {x.function}(): {x.idiom}\n", style="audit.warning")
        body.rstrip()
        v = report.tree.kernel_version or "unknown version"
        return Panel(body, title=f"COW profile · {report.tree.root} · {v}", title_align="left", expand=False)

    def cow_evidence(self, report: Report) -> Text:
        """The COW profile's evidence lines, one per line, never wrapped."""
        t = Text(no_wrap=True, overflow="ignore")
        for e in report.cow.evidence:
            t.append(f"  {e.file}:{e.line} {e.message}\n", style="audit.evidence")
        return t

    def summary(self, report: Report) -> Panel:
        """Counts by status, API and class."""
        st = Counter(s.status for s in report.sites)
        grid = Table.grid(padding=(0, 3))
        grid.add_column()
        grid.add_column(justify="right")
        grid.add_column()
        grid.add_column(justify="right")
        cells = [(_STATUS_LABEL[k], str(st.get(k, 0))) for k in Status]
        for i in range(0, len(cells), 2):
            a = cells[i]
            b = cells[i + 1] if i + 1 < len(cells) else ("", "")
            grid.add_row(a[0], a[1], b[0], b[1])
        apis = Table(title=None, show_edge=False, box=None, padding=(0, 2))
        apis.add_column("api")
        apis.add_column("sites", justify="right")
        apis.add_column("get", justify="right")
        apis.add_column("pin", justify="right")
        by_api: dict[str, Counter[str]] = {}
        for s in report.sites:
            by_api.setdefault(s.api, Counter())[s.ref_kind.value] += 1
        for api, cnt in sorted(by_api.items(), key=lambda x: -sum(x[1].values())):
            apis.add_row(api, str(sum(cnt.values())), str(cnt.get("get", 0)), str(cnt.get("pin", 0)))
        found = report.findings()
        sev = Counter(f.severity.value for f in found)
        rules_line = Text("findings: " + (", ".join(f"{k} {sev.get(k, 0)}" for k in ("error", "warning", "note"))) + "   by rule: "
                          + (", ".join(f"{k} {v}" for k, v in sorted(Counter(f.rule for f in found).items())) or "none"))
        errors = Text()
        for f in sorted((f for f in found if f.severity.value == "error"), key=lambda f: (f.file, f.line)):
            errors.append(f"  error[{f.rule}] {f.file}:{f.line} {f.function or ''}\n", style="audit.error")
        errors.rstrip()
        classes = Counter(s.klass for s in report.sites)
        cls = Text("by class: " + ", ".join(f"{k} {v}" for k, v in sorted(classes.items(), key=lambda x: (-x[1], x[0]))))
        exp = Counter(e for s in report.sites for e in s.exposure)
        extra = Text("exposure: " + (", ".join(f"{k} {v}" for k, v in sorted(exp.items())) or "none"))
        t = report.tree
        title = (f"audit {t.root} · v{t.kernel_version or '?'} · {len(report.sites)} gup call sites "
                 f"in {t.files_scanned:,} files ({t.files_parsed} parsed)")
        parts = [grid, Text(""), rules_line] + ([errors] if errors.plain else []) + [Text(""), cls, extra]
        if self.verbose:
            parts[3:3] = [Text(""), apis]
        return Panel(Group(*parts), title=title, title_align="left", expand=False)

    def wrappers(self, report: Report) -> Text:
        """The wrappers the closure search discovered, with their callers."""
        t = Text(f"{len(report.wrappers)} gup wrapper(s) discovered:\n", style="audit.title")
        for w in report.wrappers:
            t.append(f"  {w.kind:<8} {w.name}() {w.file}:{w.line} wraps {w.api}()")
            shown = ", ".join(f"{fn}() {f}:{ln}" for f, ln, fn in w.callers[:3])
            more = f" +{len(w.callers) - 3} more" if len(w.callers) > 3 else ""
            t.append(f"; callers: {shown}{more}\n" if w.callers else "\n", style="audit.evidence")
        return t

    def problems(self, report: Report) -> Text:
        """The footer listing files that could not be read or parsed."""
        t = Text(f"{len(report.tree.parse_problems)} file problem(s):\n", style="audit.note")
        for p in report.tree.parse_problems[:50]:
            t.append(f"  {p.file}:{p.line}: {p.message}\n")
        if len(report.tree.parse_problems) > 50:
            t.append(f"  … {len(report.tree.parse_problems) - 50} more (see --format json)\n")
        return t
