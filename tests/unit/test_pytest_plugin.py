"""The testintel pytest plugin, run inside real pytest sessions through pytester."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from testintel_assets.parsers.testmeta import read_testmeta

pytest_plugins = ["pytester"]

TESTS = """
import pytest

@pytest.mark.flow("checkout")
@pytest.mark.risk("high")
def test_tagged():
    pass

@pytest.mark.mixpanel("Checkout Completed")
def test_half_tagged():
    pass

def test_untagged():
    pass
"""


def test_required_tags_fail_collection_with_one_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_shop=TESTS)
    result = pytester.runpytest("-p", "testintel", "--testintel-require", "flow,risk")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*2 test(s) lack required tags (flow, risk)*",
            "*test_shop.py::test_half_tagged: missing flow, risk",
            "*test_shop.py::test_untagged: missing flow, risk",
        ]
    )
    assert "test_tagged:" not in result.stderr.str()


def test_required_tags_from_the_ini_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_shop=TESTS)
    pytester.makeini("[pytest]\ntestintel_require = event\n")
    result = pytester.runpytest("-p", "testintel")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_tagged: missing event", "*test_untagged: missing event"])
    assert pytester.runpytest("-p", "testintel", "--strict-markers", "-k", "half").ret == 0


def test_export_has_tags_and_every_rerun(pytester: pytest.Pytester) -> None:
    pytest.importorskip("pytest_rerunfailures")
    pytester.makepyfile(
        test_cart="""
import pytest
RUNS = []

@pytest.mark.flow("cart")
@pytest.mark.owner("commerce")
def test_flaky():
    RUNS.append(1)
    assert len(RUNS) > 1, "first try fails"
"""
    )
    export = pytester.path / "out" / "export.json"
    result = pytester.runpytest("-p", "testintel", "--reruns", "2", f"--testintel-export={export}")
    assert result.parseoutcomes() == {"passed": 1, "rerun": 1}
    document = json.loads(export.read_text())
    (test,) = document["tests"]
    assert test["test_id"] == "test_cart::test_flaky"
    assert test["tags"] == {"flow": "cart", "owner": "commerce"}
    assert [(a["attempt"], a["status"]) for a in test["attempts"]] == [(0, "failed"), (1, "passed")]
    assert "first try fails" in test["attempts"][0]["message"]
    parsed = read_testmeta(export)
    assert parsed.results.select("status", "attempt").rows() == [("failed", 0), ("passed", 1)]


QUARANTINE_TESTS = """
def test_flaky():
    assert False, "flaky network"

def test_stable():
    pass

def test_broken():
    assert False
"""


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_quarantined_failures_do_not_fail_the_session(pytester: pytest.Pytester, suffix: str) -> None:
    pytester.makepyfile(test_q=QUARANTINE_TESTS)
    entries = [
        {
            "test_id": "test_q::test_flaky",
            "reason": "flaky: fails 30%",
            "owner": "commerce",
            "expires": "2999-01-01",
        },
        {"test_id": "test_q::test_broken", "reason": "old", "expires": "2000-01-01"},
    ]
    document = {"testintel_quarantine": 1, "generated_at": "2026-11-24T10:00:00Z", "tests": entries}
    path = pytester.path / f"quarantine{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(document))
    else:
        import yaml

        path.write_text(yaml.safe_dump(document))
    export = pytester.path / "export.json"
    result = pytester.runpytest(
        "-p", "testintel", f"--testintel-quarantine={path}", f"--testintel-export={export}"
    )
    result.assert_outcomes(passed=1, failed=1, xfailed=1)  # the expired entry fails again
    result.stdout.fnmatch_lines(
        [
            "*testintel quarantine*",
            "QUARANTINED FAILURE (does not fail the session) test_q.py::test_flaky - quarantined: flaky*30%",
            "EXPIRED quarantine (failures count again) test_q::test_broken, expired 2000-01-01",
        ]
    )
    statuses = {t["test_id"]: t["attempts"][0]["status"] for t in json.loads(export.read_text())["tests"]}
    assert statuses["test_q::test_flaky"] == "failed"  # the export keeps the real outcome

    only_quarantined = pytester.runpytest(
        "-p", "testintel", f"--testintel-quarantine={path}", "--testintel-lane=quarantine"
    )
    only_quarantined.assert_outcomes(xfailed=1, deselected=2)
    assert only_quarantined.ret == 0
    main = pytester.runpytest("-p", "testintel", f"--testintel-quarantine={path}", "--testintel-lane=main")
    main.assert_outcomes(passed=1, failed=1, deselected=1)


def test_the_plugin_imports_neither_polars_nor_dagster() -> None:
    code = (
        "import sys, testintel_assets.pytest_plugin; print(sorted({'polars', 'dagster'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
