"""The canonical test_id rule, checked across sources on real and generated fixtures."""

from __future__ import annotations

import polars as pl
import pytest

from testintel_assets.parsers import test_ids
from testintel_assets.parsers.junit import read_junit
from testintel_assets.parsers.reportlog import read_reportlog
from testintel_assets.parsers.test_rows import clean_title_expr
from tests.conftest import REAL_FIXTURES, REPO_ROOT

RERUNS = REPO_ROOT / "tests" / "fixtures" / "generated" / "pytest-reruns"


def test_a_pytest_test_has_one_id_through_junit_reportlog_and_the_node_id() -> None:
    junit = set(read_junit(RERUNS / "junit-reruns.xml").results.get_column("test_id"))
    log = set(read_reportlog(RERUNS / "reportlog-reruns.jsonl").results.get_column("test_id"))
    assert junit == log
    assert test_ids.from_pytest_nodeid("tests/test_cart.py::TestCart::test_add[2]") in junit


@pytest.mark.parametrize(
    ("nodeid", "expected"),
    [
        ("tests/test_cart.py::TestCart::test_add[2]", "tests.test_cart.TestCart::test_add[2]"),
        ("tests/t.py::test_x[a::b]", "tests.t::test_x[a::b]"),
        ("t.py::Outer::Inner::test[x-y]", "t.Outer.Inner::test[x-y]"),
        ("tests/test_a.py::test_b[http:x]", "tests.test_a::test_b[http:x]"),
    ],
)
def test_pytest_node_ids_mangle_like_pytests_junit_writer(nodeid: str, expected: str) -> None:
    assert test_ids.from_pytest_nodeid(nodeid) == expected
    assert test_ids.from_junit(*test_ids.split_pytest_nodeid(nodeid)) == expected


def test_title_tags_are_not_part_of_the_id() -> None:
    plain = test_ids.from_playwright("cart.spec.ts", ["Checkout", "pays"])
    assert (
        test_ids.from_playwright("cart.spec.ts", ["Checkout [flow:checkout]", "pays @smoke @risk:high"])
        == plain
    )
    assert test_ids.from_junit("Cart [Flow: cart]", "adds  @smoke") == test_ids.from_junit("Cart", "adds")
    assert test_ids.title_tags("pays [flow:checkout] @smoke @mixpanel:Paid [jira:AB-1] a@b") == (
        "pays [jira:AB-1] a@b",
        {"flow": "checkout", "event": "Paid"},
        ["smoke"],
    )


def test_the_vectorised_rule_equals_the_python_rule_on_every_real_name() -> None:
    names = []
    for path in (REAL_FIXTURES / "junit").rglob("*"):
        if path.is_file() and "corrupt" not in path.name and "expectedRetries" not in path.name:
            names += read_junit(path).results.get_column("name").to_list()
    names += [
        "Checkout [flow:checkout] › pays @smoke",
        " \t@a  b\n[risk:high]c ",
        "x[FLOW:y]z",
        "日本語 @タグ",
    ]
    frame = pl.DataFrame({"name": names}).with_columns(clean=clean_title_expr(pl.col("name")))
    assert frame.get_column("clean").to_list() == [test_ids.clean_title(n) for n in names]
