"""`--format sarif`: a valid SARIF 2.1.0 log (checked against the OASIS schema) with exact results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from audit import cli, rules
from conftest import make_tree
from snippets import MEMORY_MAPCOUNT_REUSE as MEMORY
from snippets import RAW_GET_DIRTY as RAW

SCHEMA = Path(__file__).parent / "data" / "sarif-2.1.0.json"
V510 = (5, 10, 0)


def sarif(tree: Path, out: Path, *extra: str) -> dict[str, Any]:
    """Run `audit TREE --format sarif -o OUT`, check exit 1 and the schema, return the log."""
    assert cli.main([str(tree), "--format", "sarif", "-o", str(out), *extra]) == 1
    log = json.loads(out.read_text())
    jsonschema.Draft4Validator(json.loads(SCHEMA.read_text())).validate(log)
    return log


def test_schema_file_is_the_official_sarif_2_1_0_schema() -> None:
    schema = json.loads(SCHEMA.read_text())
    assert schema["id"] == "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
    assert schema["properties"]["version"]["enum"] == ["2.1.0"]
    jsonschema.Draft4Validator.check_schema(schema)


def test_raw_closure_result_is_exact(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "linux", {"drivers/misc/foo.c": RAW}, V510)
    log = sarif(tree, tmp_path / "r.sarif")
    assert log["version"] == "2.1.0"
    assert log["$schema"] == "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("gup-audit", "0.1.0")
    assert [r["id"] for r in driver["rules"]] == sorted(rules.rule_by_id())
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"] == tree.resolve().as_uri() + "/"
    # One result per finding: the raw closure, and its exposure to the first fork race.
    res, race = run["results"]
    assert (race["ruleId"], race["level"]) == ("fork-read-lost", "warning")
    assert res["ruleId"] == "gup-raw-put-page"
    assert driver["rules"][res["ruleIndex"]]["id"] == "gup-raw-put-page"
    assert res["level"] == "warning"
    assert res["message"] == {
        "text": "get_user_pages_fast() takes FOLL_GET references released by put_page(): an unconverted gup closure"
    }
    (loc,) = res["locations"]
    assert loc["physicalLocation"] == {
        "artifactLocation": {"uri": "drivers/misc/foo.c", "uriBaseId": "SRCROOT"},
        "region": {"startLine": 7, "startColumn": 8, "endColumn": 27,
                   "snippet": {"text": "\tgot = get_user_pages_fast(uaddr, n, FOLL_WRITE, pages);"}},
    }
    assert loc["logicalLocations"] == [{"name": "foo_get", "kind": "function"}]
    release = res["relatedLocations"][0]
    assert release == {
        "id": 1,
        "physicalLocation": {
            "artifactLocation": {"uri": "drivers/misc/foo.c", "uriBaseId": "SRCROOT"},
            "region": {"startLine": 9, "startColumn": 34, "endColumn": 42},
        },
        "message": {"text": "release: put_page() in foo_get()"},
    }
    # Then one related location per evidence line, in the report's order.
    assert [(r["id"], r["physicalLocation"]["region"]["startLine"], r["message"]["text"]) for r in res["relatedLocations"][1:3]] == [
        (2, 7, "get_user_pages_fast() fills `pages` with GET references"),
        (3, 9, "foo_get() releases `pages[i]` with put_page()"),
    ]
    assert len(res["relatedLocations"]) == 5
    assert res["properties"]["status"] == "raw-closure"
    assert res["properties"]["help"] == "pin with pin_user_pages_fast() and release with unpin_user_pages_dirty_lock(..., true)"
    assert run["invocations"] == [{"executionSuccessful": True}]


def test_rule_descriptors_carry_the_rule_files() -> None:
    from audit.report.sarif import rule_descriptor

    r = rules.rule_by_id()["gup-raw-put-page"]
    d = rule_descriptor(r)
    assert d["id"] == "gup-raw-put-page"
    assert d["name"] == "GupRawPutPage"
    assert d["shortDescription"] == {"text": "A gup closure still drops FOLL_GET references with put_page()"}
    assert d["fullDescription"]["text"].startswith('This is the "raw put_page" Andrea Arcangeli asked to identify in 2009:')
    assert d["help"]["text"].startswith("Pin with its pin counterpart and release with the pin-aware release")
    assert d["defaultConfiguration"] == {"level": "warning"}
    assert (d["properties"]["confidence"], d["properties"]["classification"]) == ("high", "unconverted")
    assert d["properties"]["severity_by_version"] == [{"versions": "<5.2", "severity": "note"}]


def test_level_follows_the_tree_version(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "linux", {"drivers/misc/foo.c": RAW}, (4, 14, 0))
    # Before 5.2 the unconverted closure is a note (no pin API yet); the fork race is still a warning.
    race, res = sarif(tree, tmp_path / "r.sarif")["runs"][0]["results"]
    assert (race["ruleId"], race["level"]) == ("fork-read-lost", "warning")
    assert (res["ruleId"], res["level"]) == ("gup-raw-put-page", "note")


def test_fingerprint_survives_line_shifts(tmp_path: Path) -> None:
    a = make_tree(tmp_path / "a", {"drivers/misc/foo.c": RAW}, V510)
    b = make_tree(tmp_path / "b", {"drivers/misc/foo.c": "\n\n\n" + RAW.replace("(uaddr, n,", "(uaddr,  n,")}, V510)
    ra, _ = sarif(a, tmp_path / "a.sarif")["runs"][0]["results"]
    rb, _ = sarif(b, tmp_path / "b.sarif")["runs"][0]["results"]
    assert ra["locations"][0]["physicalLocation"]["region"]["startLine"] == 7
    assert rb["locations"][0]["physicalLocation"]["region"]["startLine"] == 10
    assert ra["partialFingerprints"] == rb["partialFingerprints"]
    assert list(ra["partialFingerprints"]) == ["gupAuditFinding/v2"]
    assert ra["partialFingerprints"]["gupAuditFinding/v2"].endswith(":1")


def test_cow_mapcount_sites_are_results(tmp_path: Path) -> None:
    if "cow-mapcount-reuse" not in rules.rule_by_id():
        pytest.skip("rules/cow-mapcount-reuse.toml is not there")
    tree = make_tree(tmp_path / "linux", {"drivers/misc/foo.c": RAW, "mm/memory.c": MEMORY}, (5, 4, 0))
    results = sarif(tree, tmp_path / "r.sarif")["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["gup-raw-put-page", "fork-read-lost", "cow-mapcount-reuse"]
    cow = results[2]
    assert cow["message"] == {"text": "do_wp_page() reuses a page on reuse_swap_page(vmf->page, NULL) alone"}
    assert cow["locations"][0]["physicalLocation"]["artifactLocation"] == {"uri": "mm/memory.c", "uriBaseId": "SRCROOT"}
    assert cow["locations"][0]["physicalLocation"]["region"]["startLine"] == 6
    assert cow["level"] == "warning"


def test_filtered_findings_are_not_results(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "linux", {"drivers/misc/foo.c": RAW}, V510)
    out = tmp_path / "r.sarif"
    assert cli.main([str(tree), "--format", "sarif", "-o", str(out), "--ignore", "gup-raw-put-page,fork-read-lost"]) == 0
    log = json.loads(out.read_text())
    jsonschema.Draft4Validator(json.loads(SCHEMA.read_text())).validate(log)
    assert log["runs"][0]["results"] == []
