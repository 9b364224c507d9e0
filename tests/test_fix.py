"""`audit fix`: the exact diff and declines on a fake 6.1 tree, and proof that the diff works.

The fixture tree (tests/fixtures/fix/*.c, laid out by LAYOUT) holds one case per rule of the
command: a same-function release loop (collapsed) and a per-page one (folded), a release helper
with write-back, FOLL_GET removal, a helper shared with alloc_page()'d pages, a helper shared with a
site that is declined, a no-closure site and a KVM site. The diff must apply with `patch -p1` and
`git apply`, and re-auditing the patched copy must show the converted sites as `converted`, nothing
as `mismatch`, every other site unchanged and no new tree-sitter errors. The real-tree tests do the
same on copies of files from linux-source-6.1 and v2.6.32 (skipped when the trees are absent).
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from audit import cli, parse
from audit.engine import audit_tree
from audit.cli import cmd_fix
from audit.fix import expr_key, path_matches, strip_expr
from audit.model import Report, Site, Status
from audit.source import FsSource
from conftest import REPO, make_tree

FIX = REPO / "tests" / "fixtures" / "fix"
LAYOUT = {
    "loop.c": "drivers/misc/fix_loop.c",
    "helper.c": "drivers/misc/fix_helper.c",
    "shared.c": "drivers/misc/fix_shared.c",
    "mixed.c": "drivers/misc/fix_mixed.c",
    "noclose.c": "drivers/misc/fix_noclose.c",
    "kvm.c": "arch/x86/kvm/fix_kvm.c",
}
EXPECTED_DECLINES = [
    "declined arch/x86/kvm/fix_kvm.c:11 get_user_pages_fast(): legitimate FOLL_GET user (class kvm)",
    ("declined drivers/misc/fix_mixed.c:19 get_user_pages_fast(): release put_page() at drivers/misc/fix_mixed.c:11 "
     "in mixed_put_pages() is shared with drivers/misc/fix_mixed.c:33 iov_iter_get_pages2() (raw-closure), "
     "which is not converted"),
    ("declined drivers/misc/fix_mixed.c:33 iov_iter_get_pages2(): iov_iter conversion needs iov_iter_extract_pages() "
     "and its cleanup mode"),
    "declined drivers/misc/fix_noclose.c:11 get_user_pages_fast(): closure incomplete (status no-closure-found)",
    ("declined drivers/misc/fix_shared.c:39 get_user_pages_fast(): release helper shared_put_pages() is shared with "
     "pages that were not gup'd: shared_alloc_scratch() (drivers/misc/fix_shared.c:27) passes `sd->scratch` from "
     "alloc_page() at line 25"),
]
EXPECTED_CONVERTED = [
    ("converted drivers/misc/fix_helper.c:27 get_user_pages_fast() -> pin_user_pages_fast(), 1 release converted; "
     "write-back: the pages are written (FOLL_WRITE) and the old release did not dirty them, so the new release "
     "dirties them (drivers/misc/fix_helper.c:16)"),
    "converted drivers/misc/fix_helper.c:44 get_user_pages() -> pin_user_pages(), 1 release converted",
    "converted drivers/misc/fix_loop.c:19 get_user_pages_fast() -> pin_user_pages_fast(), 1 release converted",
    "converted drivers/misc/fix_loop.c:39 get_user_pages_fast() -> pin_user_pages_fast(), 1 release converted",
]
# (file, function) of the sites the diff converts.
CONVERTED = {
    ("drivers/misc/fix_helper.c", "helper_map"),
    ("drivers/misc/fix_helper.c", "helper_peek"),
    ("drivers/misc/fix_loop.c", "loop_fill"),
    ("drivers/misc/fix_loop.c", "loop_peek"),
}


# ---------------------------------------------------------------------------------- helpers


def fixture_tree(root: Path, version: tuple[int, int, int] = (6, 1, 0)) -> Path:
    """The fake tree: a versioned Makefile, mm/, include/ and the fixture files."""
    tree = make_tree(root, {}, version)
    for name, rel in LAYOUT.items():
        dest = tree / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(FIX / name, dest)
    return tree


def run_fix(tree: Path, *extra: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `audit fix TREE ...` run in-process."""
    out, err = io.StringIO(), io.StringIO()
    rc = cmd_fix([str(tree), "--jobs", "1", "--no-cache", *extra], out, err)
    return rc, out.getvalue(), err.getvalue()


def apply_diff(tree: Path, diff: str) -> None:
    """Apply `diff` to `tree` with `patch -p1` (or `git apply` when patch is missing)."""
    if shutil.which("patch"):
        subprocess.run(["patch", "-p1", "--quiet", "--forward", "--no-backup-if-mismatch"], cwd=tree,
                       input=diff.encode(), check=True)
    elif shutil.which("git"):
        subprocess.run(["git", "apply", "-p1", "-"], cwd=tree, input=diff.encode(), check=True)
    else:  # pragma: no cover - one of them is on every development machine
        pytest.skip("neither patch nor git is installed")


def tree_hash(tree: Path) -> str:
    """A hash of every file under `tree` (to prove the command never writes into it)."""
    h = hashlib.sha256()
    for p in sorted(tree.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(tree)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def error_nodes(path: Path) -> int:
    """ERROR and MISSING nodes tree-sitter finds in a file."""
    tree = parse.parse(path.read_bytes())
    n, stack = 0, [tree.root_node]
    while stack:
        node = stack.pop()
        n += node.type == "ERROR" or node.is_missing
        stack.extend(node.children)
    return n


def keyed(report: Report) -> dict[tuple[str, str | None, int], Site]:
    """Sites keyed by (file, function, ordinal in that function): stable across line shifts."""
    out: dict[tuple[str, str | None, int], Site] = {}
    for s in report.sites:
        i = 0
        while (s.file, s.function, i) in out:
            i += 1
        out[(s.file, s.function, i)] = s
    return out


def check_reaudit(before: Report, after: Report, converted: set[tuple[str, str]]) -> None:
    """Converted sites come out `converted` with a pin API, nothing is `mismatch`, the rest is unchanged."""
    assert not [s for s in after.sites if s.status is Status.MISMATCH], "a mismatch after the conversion"
    old, new = keyed(before), keyed(after)
    assert old.keys() == new.keys()
    for k, s in old.items():
        t = new[k]
        if (s.file, s.function) in converted and s.status is Status.RAW_CLOSURE:
            assert t.status is Status.CONVERTED, f"{k}: {t.status.value}"
            assert t.api.startswith("pin_") and t.api == "pin_" + s.api.removeprefix("get_")
        else:
            assert (t.status, t.api) == (s.status, s.api), f"{k} changed: {s.status.value} -> {t.status.value}"


# ---------------------------------------------------------------------------------- the fixture tree


def test_fixture_diff_is_exact_and_declines_are_listed(tmp_path: Path) -> None:
    tree = fixture_tree(tmp_path / "t")
    before = tree_hash(tree)
    rc, out, err = run_fix(tree)
    assert rc == 0
    assert out == (FIX / "expected.diff").read_text()
    lines = err.splitlines()
    assert [x for x in lines if x.startswith("declined ")] == EXPECTED_DECLINES
    assert [x for x in lines if x.startswith("converted ")] == EXPECTED_CONVERTED
    assert tree_hash(tree) == before, "audit fix wrote into the tree"


def test_diff_applies_and_reaudit_shows_converted(tmp_path: Path) -> None:
    tree = fixture_tree(tmp_path / "t")
    _, diff, _ = run_fix(tree)
    copy = tmp_path / "copy"
    shutil.copytree(tree, copy)
    errors_before = {rel: error_nodes(copy / rel) for rel in LAYOUT.values()}
    apply_diff(copy, diff)
    assert (copy / "drivers/misc/fix_loop.c").read_text() != (tree / "drivers/misc/fix_loop.c").read_text()
    check_reaudit(audit_tree(FsSource(str(tree)), workers=1), audit_tree(FsSource(str(copy)), workers=1), CONVERTED)
    assert {rel: error_nodes(copy / rel) for rel in LAYOUT.values()} == errors_before
    # Converted again, the patched tree has nothing left to convert; the declines stay.
    rc, out, err = run_fix(copy)
    assert (rc, out) == (0, "")
    assert [x for x in err.splitlines() if x.startswith("declined ")] == EXPECTED_DECLINES


def test_diff_passes_git_apply_check(tmp_path: Path) -> None:
    if not shutil.which("git"):
        pytest.skip("git is not installed")
    tree = fixture_tree(tmp_path / "t")
    _, diff, _ = run_fix(tree)
    subprocess.run(["git", "apply", "--check", "-p1", "-"], cwd=tree, input=diff.encode(), check=True)


def test_kernel_style_is_kept(tmp_path: Path) -> None:
    tree = fixture_tree(tmp_path / "t")
    _, diff, _ = run_fix(tree)
    added = [x[1:] for x in diff.splitlines() if x.startswith("+") and not x.startswith("+++")]
    assert added and all(x.startswith("\t") and not x.startswith(" ") for x in added)
    assert all(len(x.expandtabs(8)) <= 80 for x in added)
    assert all(x.split()[1].startswith(("a/drivers/", "b/drivers/")) for x in diff.splitlines() if x.startswith(("---", "+++")))


def test_check_mode_exits_1_when_something_converts(tmp_path: Path) -> None:
    tree = fixture_tree(tmp_path / "t")
    rc, out, _ = run_fix(tree, "--check")
    assert rc == 1
    assert out.splitlines() == [
        "drivers/misc/fix_helper.c:27:8: get_user_pages_fast() can be converted to pin_user_pages_fast()",
        "drivers/misc/fix_helper.c:44:8: get_user_pages() can be converted to pin_user_pages()",
        "drivers/misc/fix_loop.c:19:8: get_user_pages_fast() can be converted to pin_user_pages_fast()",
        "drivers/misc/fix_loop.c:39:6: get_user_pages_fast() can be converted to pin_user_pages_fast()",
    ]


def test_select_limits_the_sites(tmp_path: Path) -> None:
    tree = fixture_tree(tmp_path / "t")
    rc, out, err = run_fix(tree, "--select", "gup-no-release")
    assert (rc, out) == (0, "")
    assert err.splitlines() == [
        "declined drivers/misc/fix_noclose.c:11 get_user_pages_fast(): closure incomplete (status no-closure-found)"
    ]
    rc, _, _ = run_fix(tree, "--select", "gup-no-release", "--check")
    assert rc == 0


def test_tree_without_pin_api_declines_everything(tmp_path: Path) -> None:
    tree = fixture_tree(tmp_path / "t", version=(5, 4, 0))
    rc, out, err = run_fix(tree)
    assert (rc, out) == (0, "")
    lines = err.splitlines()
    assert len(lines) == 9
    assert all(x.startswith("declined ") and x.endswith("(): no pin API before v5.6") for x in lines)
    assert run_fix(tree, "--check")[0] == 0


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = fixture_tree(tmp_path / "t")
    assert cli.main(["fix"]) == 2
    assert cli.main(["fix", str(tmp_path / "missing")]) == 2
    assert cli.main(["fix", str(tree), "--select", "no-such-rule"]) == 2
    assert cli.main(["fix", str(tree), "--bogus"]) == 2
    err = capsys.readouterr().err
    assert err.count("audit: error:") == 4 and "Traceback" not in err


def test_cli_dispatch_runs_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = fixture_tree(tmp_path / "t")
    assert cli.main(["fix", str(tree), "--jobs", "1"]) == 0
    got = capsys.readouterr()
    assert got.out == (FIX / "expected.diff").read_text()
    assert EXPECTED_DECLINES[0] in got.err.splitlines()


# ---------------------------------------------------------------------------------- pieces


@pytest.mark.parametrize(("expr", "stripped", "key"), [
    ("&page", "page", "page"),
    ("&ap->pages[ap->num_pages]", "ap->pages", "pages"),
    ("ne_mem_region->pages + i", "ne_mem_region->pages", "pages"),
    ("produce_q->kernel_if->u.h.header_page", "produce_q->kernel_if->u.h.header_page", "header_page"),
    ("(struct page **)&p->b[3]", "p->b", "b"),
    ("iter.pages", "iter.pages", "pages"),
])
def test_expression_keys(expr: str, stripped: str, key: str) -> None:
    assert strip_expr(expr) == stripped
    assert expr_key(expr) == key


@pytest.mark.parametrize(("path", "pattern", "hit"), [
    ("arch/x86/kvm/mmu.c", "arch/*/kvm/", True),
    ("arch/x86/kernel/kvm.c", "arch/*/kvm/", False),
    ("virt/kvm/kvm_main.c", "virt/kvm/", True),
    ("fs/exec.c", "fs/exec.c", True),
    ("fs/exec2.c", "fs/exec.c", False),
    ("mm/gup.c", "mm/", True),
    ("drivers/mm/x.c", "mm/", False),
])
def test_legit_path_patterns(path: str, pattern: str, hit: bool) -> None:
    assert path_matches(path, pattern) is hit


# ---------------------------------------------------------------------------------- real trees


REAL_61 = [
    # (files to copy, sites expected to convert as (file, function))
    (["drivers/misc/vmw_vmci/vmci_queue_pair.c"],
     {("drivers/misc/vmw_vmci/vmci_queue_pair.c", "qp_host_get_user_memory")}),
    (["drivers/misc/bcm-vk/bcm_vk_sg.c", "drivers/misc/bcm-vk/bcm_vk_sg.h"],
     {("drivers/misc/bcm-vk/bcm_vk_sg.c", "bcm_vk_dma_alloc")}),
    (["drivers/virt/nitro_enclaves/ne_misc_dev.c", "drivers/virt/nitro_enclaves/ne_misc_dev.h"],
     {("drivers/virt/nitro_enclaves/ne_misc_dev.c", "ne_set_user_memory_region_ioctl")}),
    (["drivers/block/ublk_drv.c"], {("drivers/block/ublk_drv.c", "ublk_copy_user_pages")}),
]


@pytest.mark.kernel
@pytest.mark.parametrize(("files", "converted"), REAL_61, ids=lambda v: v[0].split("/")[-1] if isinstance(v, list) else "")
def test_real_61_files_convert_apply_and_reaudit(tree_61: Path, tmp_path: Path, files: list[str],
                                                  converted: set[tuple[str, str]]) -> None:
    tree = make_tree(tmp_path / "t", {rel: (tree_61 / rel).read_text("utf-8") for rel in files})
    rc, diff, err = run_fix(tree)
    assert rc == 0 and diff, err
    done = {line.split()[1].rsplit(":", 1)[0] for line in err.splitlines() if line.startswith("converted ")}
    assert {f for f, _ in converted} <= done
    before = audit_tree(FsSource(str(tree)), workers=1)
    got = {(s.file, s.function) for s in before.sites if s.status is Status.RAW_CLOSURE} & converted
    assert got == converted
    copy = tmp_path / "copy"
    shutil.copytree(tree, copy)
    apply_diff(copy, diff)
    after = audit_tree(FsSource(str(copy)), workers=1)
    check_reaudit(before, after, converted)
    for rel in files:
        assert error_nodes(copy / rel) <= error_nodes(tree / rel), f"new parse errors in {rel}"
    assert run_fix(copy)[1] == ""


@pytest.mark.kernel
def test_real_61_vmci_hunks(tree_61: Path, tmp_path: Path) -> None:
    rel = "drivers/misc/vmw_vmci/vmci_queue_pair.c"
    tree = make_tree(tmp_path / "t", {rel: (tree_61 / rel).read_text("utf-8")})
    _, diff, _ = run_fix(tree)
    assert "\n-\t\tif (dirty)\n-\t\t\tset_page_dirty_lock(pages[i]);\n-\n-\t\tput_page(pages[i]);\n" \
           "+\t\tunpin_user_pages_dirty_lock(&pages[i], 1, dirty);\n \t\tpages[i] = NULL;\n" in diff
    assert diff.count("+\tretval = pin_user_pages_fast((uintptr_t) ") == 2


@pytest.mark.kernel
def test_real_2632_declines_without_pin_api(tree_2632: Path, tmp_path: Path) -> None:
    rel = "drivers/video/pvr2fb.c"
    tree = make_tree(tmp_path / "t", {rel: (tree_2632 / rel).read_text("latin-1")}, version=(2, 6, 32))
    rc, out, err = run_fix(tree)
    assert (rc, out) == (0, "")
    assert err.splitlines() == ["declined drivers/video/pvr2fb.c:690 get_user_pages(): no pin API before v5.6"]


# ---------------------------------------------------------------------------------- --split (git am)


SPLIT = FIX / "split"
SPLIT_LAYOUT = {
    "region.c": "drivers/virt/region/region.c",
    "xfer.c": "drivers/misc/xfer.c",
    "refs.c": "drivers/misc/refs.c",
}
SPLIT_STDERR = [
    ("declined drivers/misc/refs.c:10 get_user_pages_fast(): refs_check() reads the pages' reference count "
     "(page_ref_count() at line 13): it measures FOLL_GET references, and a pin would change what it measures "
     "(a test)"),
    "converted drivers/misc/refs.c:26 get_user_pages_fast() -> pin_user_pages_fast(), 1 release converted",
    "converted drivers/misc/xfer.c:24 get_user_pages_fast() -> pin_user_pages_fast(), 1 release converted",
    ("converted drivers/virt/region/region.c:43 get_user_pages_unlocked() -> pin_user_pages_unlocked(), 1 release "
     "converted; FOLL_LONGTERM: the pages are kept in `r->pages` past the call: put_page() in region_free_all() "
     "(drivers/virt/region/region.c:24) releases them from a teardown (region_free_all() <- region_release(); "
     ".release at drivers/virt/region/region.c:67)"),
]
SPLIT_CONVERTED = {
    ("drivers/misc/refs.c", "refs_touch"),
    ("drivers/misc/xfer.c", "xfer_map"),
    ("drivers/virt/region/region.c", "region_add"),
}


def split_tree(root: Path) -> Path:
    """A 6.12 tree holding the --split fixtures, committed as a git repository."""
    tree = make_tree(root, {rel: (SPLIT / name).read_text() for name, rel in SPLIT_LAYOUT.items()}, (6, 12, 0))
    git(tree, "init", "-q")
    git(tree, "add", "-A")
    git(tree, "commit", "-qm", "base")
    return tree


def git(cwd: Path, *args: str) -> str:
    """Run git with a fixed identity; its stdout."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@localhost", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@localhost"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def no_git_author(monkeypatch: pytest.MonkeyPatch) -> None:
    """The patches' author is the default one."""
    monkeypatch.delenv("GIT_AUTHOR_NAME", raising=False)
    monkeypatch.delenv("GIT_AUTHOR_EMAIL", raising=False)


@pytest.mark.usefixtures("no_git_author")
def test_split_writes_exact_patches_that_git_am_applies_and_reaudit_converted(tmp_path: Path) -> None:
    if not shutil.which("git"):
        pytest.skip("git is not installed")
    tree = split_tree(tmp_path / "t")
    before_hash = tree_hash(tree)
    out_dir = tmp_path / "patches"
    rc, out, err = run_fix(tree, "--split", str(out_dir))
    assert rc == 0
    expected = sorted(p.name for p in (SPLIT / "expected").iterdir())
    assert expected == [
        "0001-drivers-misc-convert-get_user_pages_fast-to-pin_user_pages_fast.patch",
        "0002-drivers-virt-convert-get_user_pages-to-pin_user_pages.patch",
    ]
    assert out.splitlines() == [str(out_dir / n) for n in expected]
    assert sorted(p.name for p in out_dir.iterdir()) == expected
    for n in expected:
        assert (out_dir / n).read_text() == (SPLIT / "expected" / n).read_text(), n
    assert err.splitlines() == SPLIT_STDERR
    assert tree_hash(tree) == before_hash, "audit fix wrote into the tree"
    before = audit_tree(FsSource(str(tree)), workers=1)
    git(tree, "am", *(str(out_dir / n) for n in expected))
    assert git(tree, "log", "--format=%s").splitlines() == [
        "drivers/virt: convert get_user_pages*() to pin_user_pages*()",
        "drivers/misc: convert get_user_pages_fast() to pin_user_pages_fast()",
        "base",
    ]
    after = audit_tree(FsSource(str(tree)), workers=1)
    check_reaudit(before, after, SPLIT_CONVERTED)
    got = sorted((s.file, s.function, s.api, s.status.value, s.rule) for s in after.sites)
    assert got == [
        ("drivers/misc/refs.c", "refs_check", "get_user_pages_fast", "raw-closure", "gup-raw-put-page"),
        ("drivers/misc/refs.c", "refs_touch", "pin_user_pages_fast", "converted", None),
        ("drivers/misc/xfer.c", "xfer_map", "pin_user_pages_fast", "converted", None),
        ("drivers/virt/region/region.c", "region_add", "pin_user_pages_unlocked", "converted", None),
    ]
    assert "FOLL_LONGTERM" in (tree / "drivers/virt/region/region.c").read_text()
    assert "FOLL_LONGTERM" not in (tree / "drivers/misc/xfer.c").read_text()
    rc, out, _ = run_fix(tree)
    assert (rc, out) == (0, "")


@pytest.mark.usefixtures("no_git_author")
def test_split_from_a_git_revision_is_the_same(tmp_path: Path) -> None:
    if not shutil.which("git"):
        pytest.skip("git is not installed")
    tree = split_tree(tmp_path / "t")
    rc, _, err = run_fix(tree, "--split", str(tmp_path / "a"))
    # The working tree changes after the commit: --git reads the revision, not the files.
    (tree / "drivers/misc/xfer.c").write_text("/* gone */\n")
    out, err2 = io.StringIO(), io.StringIO()
    rc2 = cmd_fix(["HEAD", "--git", str(tree), "--jobs", "1", "--no-cache", "--split", str(tmp_path / "b")], out, err2)
    assert (rc, rc2) == (0, 0)
    assert err2.getvalue() == err
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for n in names:
        assert (tmp_path / "a" / n).read_text() == (tmp_path / "b" / n).read_text()


def test_split_refuses_a_folder_inside_the_tree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = fixture_tree(tmp_path / "t")
    assert cli.main(["fix", str(tree), "--split", str(tree / "patches")]) == 2
    assert cli.main(["fix", "--git", str(tmp_path / "nope"), "HEAD"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(x.startswith("audit: error: ") for x in err)
    assert "inside the audited tree" in err[0]
    assert not (tree / "patches").exists()


def test_split_author_from_option_and_signoff(tmp_path: Path) -> None:
    tree = fixture_tree(tmp_path / "t")
    run_fix(tree, "--split", str(tmp_path / "p"), "--author", "A U Thor <a@example.org>")
    texts = [p.read_text() for p in sorted((tmp_path / "p").iterdir())]
    assert len(texts) == 1 and texts[0].splitlines()[1] == "From: A U Thor <a@example.org>"
    assert "Signed-off-by:" not in texts[0]
    run_fix(tree, "--split", str(tmp_path / "s"), "--author", "A U Thor <a@example.org>", "--signoff")
    (signed,) = [p.read_text() for p in sorted((tmp_path / "s").iterdir())]
    assert signed == texts[0].replace("(audit fix --split).\n---\n",
                                      "(audit fix --split).\n\nSigned-off-by: A U Thor <a@example.org>\n---\n")


def test_longterm_flag_keeps_the_flags_expression_intact(tmp_path: Path) -> None:
    text = (SPLIT / "region.c").read_text()
    text = text.replace("static long region_add(struct region_ctx *ctx, unsigned long uaddr, unsigned long nr)",
                        "static long region_add(struct region_ctx *ctx, unsigned long uaddr, unsigned long nr, int w)")
    text = text.replace("r->pages, FOLL_GET);", "r->pages, w ? FOLL_WRITE : 0);")
    text = text.replace("region_add(file->private_data, arg, 1)", "region_add(file->private_data, arg, 1, 0)")
    tree = make_tree(tmp_path / "t", {"drivers/virt/region/region.c": text}, (6, 12, 0))
    rc, diff, _ = run_fix(tree)
    assert rc == 0
    added = [x for x in diff.splitlines() if x.startswith("+") and not x.startswith("+++")]
    assert added[1:] == [
        "+\tgot = pin_user_pages_unlocked(uaddr, nr, r->pages,",
        "+\t\t\t\t      (w ? FOLL_WRITE : 0) | FOLL_LONGTERM);",
    ]


def test_a_folder_of_the_tree_scopes_the_conversion(tmp_path: Path) -> None:
    tree = fixture_tree(tmp_path / "t")
    rc, out, err = run_fix(tree / "drivers" / "misc")
    assert rc == 0
    full = (FIX / "expected.diff").read_text()
    assert out == full
    assert [x for x in err.splitlines() if x.startswith("declined ")] == EXPECTED_DECLINES[1:]
    rc, out, err = run_fix(tree / "arch")
    assert (rc, out) == (0, "")
    assert err.splitlines() == [EXPECTED_DECLINES[0]]
    # A site outside the scope still declines the one inside that shares its release.
    other = make_tree(tmp_path / "o", {"drivers/misc/a.c": SHARED_A, "fs/b.c": SHARED_B})
    assert run_fix(other / "drivers" / "misc") == (0, "", (
        "declined drivers/misc/a.c:15 get_user_pages_fast(): release put_page() at drivers/misc/a.c:8 in "
        "shared_release() is shared with fs/b.c:9 iov_iter_get_pages2() (raw-closure), which is not converted\n"))


SHARED_A = """#include <linux/mm.h>

void shared_release(struct page **pages, unsigned int n)
{
\tunsigned int i;

\tfor (i = 0; i < n; i++)
\t\tput_page(pages[i]);
}

static int a_map(unsigned long uaddr, struct page **pages, unsigned int n)
{
\tint got;

\tgot = get_user_pages_fast(uaddr, n, 0, pages);
\tif (got < 0)
\t\treturn got;
\ta_use(pages, got);
\tshared_release(pages, got);
\treturn 0;
}
"""
SHARED_B = """#include <linux/mm.h>
#include <linux/uio.h>

static ssize_t b_read(struct iov_iter *iter, struct page **pages)
{
\tsize_t off;
\tssize_t got;

\tgot = iov_iter_get_pages2(iter, pages, 4096, 1, &off);
\tif (got <= 0)
\t\treturn got;
\tb_use(pages[0], off);
\tshared_release(pages, 1);
\treturn got;
}
"""


def test_split_groups_merge_subsystems_that_edit_one_file() -> None:
    from audit.fixes.ctext import Edit
    from audit.fixes.patch import groups, subject
    from audit.fixes.plan import Conversion, Plan
    from audit.model import RefKind, Release

    def conv(file: str, helper: str) -> tuple[Conversion, set[Edit]]:
        rel = Release(helper, 5, 3, "h_release", "put_page", RefKind.GET)
        site = Site(file, 9, 8, "f", "get_user_pages_fast", RefKind.GET, "pages", False, Status.RAW_CLOSURE,
                    (rel,), ())
        edits = {Edit(file, 100, 119, b"pin_user_pages_fast"), Edit(helper, 50, 58, b"unpin_user_page")}
        return Conversion(site, "pin_user_pages_fast", ((rel, "unpin_user_page"),), (), None), edits

    a, ea = conv("drivers/misc/a.c", "include/linux/h.h")
    b, eb = conv("fs/b.c", "include/linux/h.h")
    c, ec = conv("mm/c.c", "mm/h.c")
    plan = Plan(edits=sorted(ea | eb | ec, key=lambda e: (e.file, e.start)), converted=[a, b, c])
    plan._owned = {(x.site.file, x.site.line, x.site.column): e for x, e in ((a, ea), (b, eb), (c, ec))}
    got = groups(plan)
    assert [[x.site.file for x in g] for g in got] == [["drivers/misc/a.c", "fs/b.c"], ["mm/c.c"]]
    assert subject(got[0]) == "drivers/misc, fs: convert get_user_pages_fast() to pin_user_pages_fast()"


def test_a_release_helper_other_files_may_call_is_searched_for_with_the_tree_grep(tmp_path: Path) -> None:
    """A non-static helper sends the planner to the tree's prefilter for its references (this
    crashed with an AttributeError when the regex was passed to Source.start_grep bare)."""
    tree = make_tree(tmp_path, {"drivers/misc/a.c": SHARED_A.replace("\ta_use(pages, got);\n", "")})
    rc, diff, err = run_fix(tree)
    assert (rc, err) == (0, "converted drivers/misc/a.c:15 get_user_pages_fast() -> pin_user_pages_fast(), "
                            "1 release converted\n")
    assert "+\t\tunpin_user_page(pages[i]);\n" in diff and "+\tgot = pin_user_pages_fast(uaddr, n, 0, pages);\n" in diff
