"""`audit fix`: turn raw gup closures into a diff (or `git am` patches) converting them to the pin API.

The command's core, without I/O: audit the tree, plan the conversion (`audit.fixes.plan`), and hand
back the plan with the files it edits, from which the CLI writes the diff or the patches
(`audit.fixes.patch`) and the converted/declined lines. Which sites convert is
`audit.fixes.policy` (and `.lifetime` for FOLL_LONGTERM), how the text changes is
`audit.fixes.rewrite`, API knowledge is the `[fix]` tables of `rules/catalogue/apis.toml`
(`audit.fixes.knowledge`). The tree — a folder, or a git revision read from the object store — is
read through `audit.source`, never written.
"""

from __future__ import annotations

from dataclasses import dataclass

from audit import catalogue
from audit.classify import path_matches
from audit.engine import audit_tree
from audit.fixes.context import TreeContext
from audit.fixes.ctext import Edit, expr_key, expr_root, strip_expr
from audit.fixes.knowledge import FixRules, fix_rules
from audit.fixes.patch import Patch, apply_edits, series, unified_diff
from audit.fixes.plan import Conversion, Plan, Planner
from audit.model import Report
from audit.source import Source
from audit.version import tree_version

DEFAULT_AUTHOR = "gup-audit <gup-audit@localhost>"
"""Author of `--split` patches when neither `--author` nor GIT_AUTHOR_NAME/GIT_AUTHOR_EMAIL is set."""


@dataclass(frozen=True)
class FixResult:
    """A planned conversion and the current text of the files it edits."""

    plan: Plan
    """What converts, what declines and the edits."""
    sources: dict[str, bytes]
    """Tree-relative path -> bytes, for every file an edit touches."""

    def progress(self) -> list[str]:
        """One `declined …` line per declined site, then one `converted …` line per converted site."""
        out = [f"declined {s.file}:{s.line} {s.api}(): {why}" for s, why in self.plan.declined]
        out += [f"converted {c.site.file}:{c.site.line} {c.site.api}() {c.note}" for c in self.plan.converted]
        return out

    def check(self) -> list[str]:
        """`--check`: one line per site that would be converted."""
        return [f"{c.site.file}:{c.site.line}:{c.site.column}: {c.site.api}() can be converted to {c.new_api}()"
                for c in self.plan.converted]

    def diff(self) -> str:
        """The whole conversion as one unified diff."""
        return unified_diff(self.sources, self.plan.edits)

    def patches(self, author: str, signoff: bool = False) -> list[Patch]:
        """The conversion as one `git am` patch per subsystem."""
        return series(self.plan, self.sources, author, signoff=signoff)


def make_plan(src: Source, select: set[str] | None = None, workers: int | None = None,
              report: Report | None = None, scope: str = "") -> tuple[Plan, TreeContext]:
    """Audit the tree (unless `report` is given) and plan the conversion of its sites under `scope`."""
    version = tree_version(src)
    if report is None:
        report = audit_tree(src, workers=workers)
    ctx = TreeContext(src, version, catalogue.load(version), fix_rules(), workers)
    return Planner(ctx, report, select, scope).plan(), ctx


def fix(src: Source, select: set[str] | None = None, scope: str = "", workers: int | None = None,
        use_cache: bool = False) -> FixResult:
    """Audit the tree `src` reads and plan the conversion of its sites under `scope` (rule ids in
    `select` only, when given)."""
    report = audit_tree(src, shown_root=src.label, workers=workers, use_cache=use_cache)
    plan, ctx = make_plan(src, select, workers, report, scope)
    return FixResult(plan, {rel: ctx.file(rel).src for rel in {e.file for e in plan.edits}})


__all__ = ["Conversion", "DEFAULT_AUTHOR", "Edit", "FixResult", "FixRules", "Plan", "Planner", "apply_edits", "expr_key",
           "expr_root", "fix", "fix_rules", "make_plan", "path_matches", "strip_expr", "unified_diff"]
