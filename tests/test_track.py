"""`audit track`: exact per-tree counts, subsystems and the changes between consecutive trees."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from audit import cli
from audit.track import subsystem
from conftest import make_tree
from snippets import FAULT_IN
from snippets import PINNED
from snippets import RAW_GET as RAW


SVG_NS = "http://www.w3.org/2000/svg"
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
    start = lines.index("Conversion to the pin API by subsystem (converted / sites holding pages)")
    chart = [ln.rstrip() for ln in lines[start + 1 : start + 7]]
    assert chart == [
        "all           5.10.0  " + "░" * 30 + "    0%  0/1",
        "              5.11.0  " + "█" * 30 + "  100%  1/1",
        "",
        "drivers/misc  5.10.0  " + "░" * 30 + "    0%  0/1",
        "              5.11.0  " + "█" * 30 + "  100%  1/1",
        "",
    ]
    # fs/ holds no pages in any tree (fault-in only): no row, no 0/0.
    assert not any(ln.startswith("fs ") for ln in lines[start:])
    assert "0/0" not in "\n".join(lines)
    header = next(ln for ln in lines if "subsystem" in ln)
    heads = [h.strip() for h in header.strip("┃ ").split("┃")]
    assert heads == ["subsystem", "converted", "raw-closure", "mismatch", "no-closure-found", "no-pages", "total",
                     "share"]
    assert len(set(heads)) == len(heads)
    assert f"{trees[0]} -> {trees[1]}: 1 appeared, 0 disappeared, 1 changed (1 newly converted)" in lines
    assert ("  ~ drivers/misc/foo.c:9 in foo_get(): get_user_pages_fast raw-closure -> pin_user_pages_fast converted"
            in lines)
    chart_svg = svg_chart(svg)
    assert chart_svg.rows == [("all", ["0/1 0%", "1/1 100%"]), ("drivers/misc", ["0/1 0%", "1/1 100%"])]
    assert chart_svg.headings == ["subsystem", "5.10.0", "5.11.0"]
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html>\n")
    assert "<tr><th>subsystem</th><th>5.10.0</th><th>5.11.0</th></tr>" in page
    assert "<tr><th>drivers/misc</th><td>0/1 0%</td><td>1/1 100%</td></tr>" in page
    assert "<svg " in page


class SvgChart:
    """What a track SVG shows: its size, column headings and rows (subsystem, cell labels)."""

    def __init__(self, path: Path) -> None:
        root = ET.parse(path).getroot()
        assert root.tag == f"{{{SVG_NS}}}svg"
        self.width, self.height = int(root.get("width", "0")), int(root.get("height", "0"))
        assert root.get("viewBox") == f"0 0 {self.width} {self.height}"
        self.headings = [t.text or "" for t in root.iter(f"{{{SVG_NS}}}text") if t.get("class") == "heading"]
        self.rows: list[tuple[str, list[str]]] = []
        for g in root.iter(f"{{{SVG_NS}}}g"):
            if g.get("class") != "row":
                continue
            texts = [t.text or "" for t in g.iter(f"{{{SVG_NS}}}text")]
            assert texts[0] == g.get("data-subsystem")
            cells: list[str] = []
            for t in texts[1:]:
                if t.endswith("%"):
                    cells[-1] += " " + t
                else:
                    cells.append(t)
            self.rows.append((texts[0], cells))


def svg_chart(path: Path) -> SvgChart:
    """The parsed chart of an `audit track --svg` file."""
    return SvgChart(path)


def test_trees_are_sorted_by_kernel_version_whatever_the_order(trees: list[Path], tmp_path: Path) -> None:
    old, new = trees
    doc = track_json([new, old], tmp_path)
    assert [t["kernel_version"] for t in doc["trees"]] == ["5.10.0", "5.11.0"]
    assert [(c["from"], c["to"]) for c in doc["changes"]] == [(str(old), str(new))]
    assert set(doc) == {"schema", "trees", "changes"}
    assert all({"root", "kernel_version", "by_status", "by_class", "by_subsystem"} <= set(t) for t in doc["trees"])
    svg = tmp_path / "t.svg"
    assert cli.main(["track", str(new), str(old), "--format", "json", "-o", str(tmp_path / "j"), "--svg", str(svg)]) == 0
    assert svg_chart(svg).headings == ["subsystem", "5.10.0", "5.11.0"]


def test_svg_fits_a_screen_and_names_repeated_versions_by_tree(tmp_path: Path) -> None:
    files = {f"drivers/d{i:02d}/foo.c": RAW for i in range(40)}
    a = make_tree(tmp_path / "a", files, (6, 1, 0))
    b = make_tree(tmp_path / "b", files | {"drivers/d00/foo.c": PINNED}, (6, 1, 0))
    svg = tmp_path / "t.svg"
    assert cli.main(["track", str(a), str(b), "--format", "json", "-o", str(tmp_path / "j"), "--svg", str(svg)]) == 0
    chart = svg_chart(svg)
    assert chart.headings == ["subsystem", f"{a} (6.1.0)", f"{b} (6.1.0)"]
    assert [name for name, _ in chart.rows] == ["all"] + [f"drivers/d{i:02d}" for i in range(40)]
    assert chart.rows[0] == ("all", ["0/40 0%", "1/40 2%"])
    assert chart.rows[1] == ("drivers/d00", ["0/1 0%", "1/1 100%"])
    assert chart.width <= 1920 and chart.height <= 1200
    assert chart.height < 22 * (len(chart.rows) + 6)


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
