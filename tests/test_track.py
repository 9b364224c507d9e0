"""`audit track`: exact per-tree counts, subsystems and the changes between consecutive trees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit import cli
from audit.track import subsystem
from conftest import make_tree

RAW = """\
#include <linux/mm.h>

static int foo_get(unsigned long uaddr, struct page **pages, int n)
{
\tint i, got;

\tgot = get_user_pages_fast(uaddr, n, FOLL_WRITE, pages);
\tfor (i = 0; i < got; i++)
\t\tput_page(pages[i]);
\treturn 0;
}
"""

PINNED = """\
#include <linux/mm.h>

static int foo_get(unsigned long uaddr, struct page **pages, int n)
{
\tint got;

\tgot = pin_user_pages_fast(uaddr, n, FOLL_WRITE, pages);
\tunpin_user_pages(pages, got);
\treturn 0;
}
"""

FAULT_IN = """\
#include <linux/mm.h>

int bar_fault_in(unsigned long uaddr, int n)
{
\treturn get_user_pages_fast(uaddr, n, 0, NULL);
}
"""

ZERO = {"converted": 0, "raw-closure": 0, "mismatch": 0, "no-closure-found": 0, "no-pages": 0}


def counts(**kw: int) -> dict[str, int]:
    """A status-count dict with every status (zeros included)."""
    return ZERO | {k.replace("_", "-"): v for k, v in kw.items()}


@pytest.fixture
def trees(tmp_path: Path) -> list[Path]:
    """5.10 with a raw closure; 5.11 with it converted (lines shifted) and a fault-in-only call in fs/."""
    old = make_tree(tmp_path / "linux-5.10", {"drivers/misc/foo.c": RAW}, (5, 10, 0))
    new = make_tree(tmp_path / "linux-5.11", {"drivers/misc/foo.c": "\n\n" + PINNED, "fs/bar.c": FAULT_IN}, (5, 11, 0))
    return [old, new]


def track_json(paths: list[Path], tmp_path: Path) -> dict:
    out = tmp_path / "track.json"
    assert cli.main(["track", *map(str, paths), "--format", "json", "-o", str(out)]) == 0
    return json.loads(out.read_text())


def test_track_json_is_exact(trees: list[Path], tmp_path: Path) -> None:
    old, new = trees
    assert track_json(trees, tmp_path) == {
        "schema": "gup-audit-track/1",
        "trees": [
            {
                "root": str(old),
                "kernel_version": "5.10.0",
                "sites": 1,
                "by_status": counts(raw_closure=1),
                "by_class": {"misc-driver": 1},
                "by_subsystem": {"drivers/misc": counts(raw_closure=1)},
                "converted_share": 0.0,
            },
            {
                "root": str(new),
                "kernel_version": "5.11.0",
                "sites": 2,
                "by_status": counts(converted=1, no_pages=1),
                "by_class": {"misc-driver": 1, "unknown": 1},
                "by_subsystem": {"drivers/misc": counts(converted=1), "fs": counts(no_pages=1)},
                "converted_share": 1.0,
            },
        ],
        "changes": [
            {
                "from": str(old),
                "to": str(new),
                "appeared": [
                    {"file": "fs/bar.c", "function": "bar_fault_in", "family": "get_user_pages_fast", "ordinal": 1,
                     "api": "get_user_pages_fast", "line": 5, "status": "no-pages"},
                ],
                "disappeared": [],
                "changed": [
                    {"file": "drivers/misc/foo.c", "function": "foo_get", "family": "get_user_pages_fast", "ordinal": 1,
                     "line": 9,
                     "from": {"api": "get_user_pages_fast", "status": "raw-closure"},
                     "to": {"api": "pin_user_pages_fast", "status": "converted"}},
                ],
            }
        ],
    }


def test_line_shifts_are_not_changes(tmp_path: Path) -> None:
    a = make_tree(tmp_path / "a", {"drivers/misc/foo.c": RAW}, (5, 10, 0))
    b = make_tree(tmp_path / "b", {"drivers/misc/foo.c": "\n\n\n\n" + RAW}, (5, 10, 1))
    (ch,) = track_json([a, b], tmp_path)["changes"]
    assert (ch["appeared"], ch["disappeared"], ch["changed"]) == ([], [], [])


def test_removed_and_second_call_in_one_function(tmp_path: Path) -> None:
    two = RAW.replace("\treturn 0;\n", "\tgot = get_user_pages_fast(uaddr, 1, 0, pages);\n\tput_page(pages[0]);\n\treturn 0;\n")
    a = make_tree(tmp_path / "a", {"drivers/misc/foo.c": RAW}, (5, 10, 0))
    b = make_tree(tmp_path / "b", {"drivers/misc/foo.c": two}, (5, 10, 0))
    c = make_tree(tmp_path / "c", {"drivers/misc/other.c": "\n"}, (5, 10, 0))
    doc = track_json([a, b, c], tmp_path)
    assert [t["by_subsystem"] for t in doc["trees"]] == [
        {"drivers/misc": counts(raw_closure=1)}, {"drivers/misc": counts(raw_closure=2)}, {},
    ]
    assert [t["converted_share"] for t in doc["trees"]] == [0.0, 0.0, None]
    first, second = doc["changes"]
    assert first["appeared"] == [
        {"file": "drivers/misc/foo.c", "function": "foo_get", "family": "get_user_pages_fast", "ordinal": 2,
         "api": "get_user_pages_fast", "line": 10, "status": "raw-closure"},
    ]
    assert (first["disappeared"], first["changed"]) == ([], [])
    assert [(d["ordinal"], d["line"], d["status"]) for d in second["disappeared"]] == [(1, 7, "raw-closure"), (2, 10, "raw-closure")]
    assert (second["appeared"], second["changed"]) == ([], [])


def test_pretty_output_and_svg_html(trees: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    svg, html = tmp_path / "t.svg", tmp_path / "t.html"
    assert cli.main(["track", *map(str, trees), "--svg", str(svg), "--html", str(html)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "Conversion to the pin API by subsystem (converted / sites holding pages)" in lines
    chart = [ln.rstrip() for ln in lines if ln.startswith(("drivers/misc  ", "              5.1", "fs  "))]
    assert chart[:2] == [
        "drivers/misc  5.10.0  " + "░" * 30 + "    0%  0/1",
        "              5.11.0  " + "█" * 30 + "  100%  1/1",
    ]
    assert f"{trees[0]} -> {trees[1]}: 1 appeared, 0 disappeared, 1 changed (1 newly converted)" in lines
    assert ("  ~ drivers/misc/foo.c:9 in foo_get(): get_user_pages_fast raw-closure -> pin_user_pages_fast converted"
            in lines)
    assert svg.read_text().startswith('<svg class="rich-terminal"')
    assert "drivers/misc" in svg.read_text()
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html>\n")
    assert "pin_user_pages_fast converted" in page


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("drivers/infiniband/core/umem.c", "drivers/infiniband"),
        ("drivers/misc/foo.c", "drivers/misc"),
        ("drivers/foo.c", "drivers"),
        ("arch/x86/kvm/mmu.c", "arch/x86"),
        ("net/core/datagram.c", "net/core"),
        ("sound/core/pcm.c", "sound/core"),
        ("fs/nfs/direct.c", "fs"),
        ("fs/direct-io.c", "fs"),
        ("mm/gup.c", "mm"),
        ("lib/iov_iter.c", "lib"),
        ("init.c", "."),
    ],
)
def test_subsystem_rule(path: str, expected: str) -> None:
    assert subsystem(path) == expected


def test_usage_and_input_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["track"]) == 2
    assert cli.main(["track", str(tmp_path / "missing")]) == 2
    assert cli.main(["track", str(tmp_path), "--format", "xml"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(e.startswith("audit: error: ") for e in err)
