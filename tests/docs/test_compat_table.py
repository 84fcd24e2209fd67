"""docs/hatchet-compatibility.md's table names, for every Hatchet feature, the tests that
prove its row. A row whose test was renamed or deleted would be a claim without proof, so
this fails when a named test file or test function does not exist."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "hatchet-compatibility.md"
STATUSES = {"supported", "partly", "not"}
#: a test under tests/, or one of the contract suite shipped in flowsim/testing/
NODE_ID = re.compile(r"`((?:tests|flowsim/testing)/[^`\s]+\.py::[^`]+)`")
#: Features the table must keep a row for (matched inside the feature column).
REQUIRED = [
    "`hatchet_sdk` imports", "Workflows", "Tasks", "Durable tasks", "`Context`", "`slots`",
    "`durable_slots`", "`run`", "`aio_run`", "`run_no_wait`", "`run_many`", "`aio_run_many`",
    "`create_bulk_run_item`", "Retries and backoff", "Execution and schedule timeouts",
    "`parents=`", "`child_key`", "Priority", "Concurrency", "Rate limits", "Worker labels",
    "Sticky", "Events", "Cron and scheduled", "`on_failure_task`", "`on_success_task`",
    "Conditions", "Cancellation", "Durable sleep, eviction, replay", "`slot_cost`",
    "`ctx.release_slot()`", "`ctx.refresh_timeout()`",
]  # fmt: skip


def table_rows(markdown: str) -> list[list[str]]:
    """The cells of each body row of the table under '## Compatibility table'."""
    section = markdown.split("## Compatibility table", 1)[1]
    lines = [line.strip() for line in section.splitlines() if line.strip().startswith("|")]
    header, separator, *body = lines
    assert header.lower().startswith("| feature | status |")
    assert set(separator) <= {"|", "-", " ", ":"}
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in body]


def missing_tests(node_ids: list[str]) -> list[str]:
    """Node ids whose file does not exist or does not define the test function."""
    missing = []
    for node_id in node_ids:
        path, *names = re.sub(r"\[.*\]$", "", node_id).split("::")
        file = ROOT / path
        if not file.is_file() or not names:
            missing.append(node_id)
            continue
        source = file.read_text()
        *classes, function = names
        found = re.search(rf"^\s*(?:async\s+)?def {re.escape(function)}\(", source, re.MULTILINE)
        found_classes = all(
            re.search(rf"^class {re.escape(name)}\b", source, re.MULTILINE) for name in classes
        )
        if found is None or not found_classes:
            missing.append(node_id)
    return missing


ROWS = table_rows(DOC.read_text())


def test_the_table_has_a_row_for_every_required_feature() -> None:
    features = " ".join(row[0] for row in ROWS)
    assert [name for name in REQUIRED if name not in features] == []


@pytest.mark.parametrize("row", ROWS, ids=[row[0] for row in ROWS])
def test_each_row_has_a_status_and_tests_that_exist(row: list[str]) -> None:
    assert len(row) == 4, f"expected feature | status | difference | test, got {row}"
    feature, status, _difference, tests = row
    assert status in STATUSES, f"{feature}: status {status!r}"
    node_ids = NODE_ID.findall(tests)
    assert node_ids, f"{feature}: no test named"
    assert missing_tests(node_ids) == []
    if status == "not":
        # a "not" row is proven by a test of the refusal, named as such
        assert any(re.search(r"refused|not_defined", node) for node in node_ids), feature


def test_the_checker_catches_missing_files_and_functions() -> None:
    real = "tests/docs/test_compat_table.py::test_the_checker_catches_missing_files_and_functions"
    bogus = [
        "tests/docs/no_such_file.py::test_x",
        "tests/docs/test_compat_table.py::test_no_such_function",
        "tests/docs/test_compat_table.py::NoSuchClass::test_the_checker_catches_missing_files_and_functions",
    ]
    assert missing_tests([real, f"{real}[param-id]", *bogus]) == bogus


def test_the_served_table_is_what_the_alias_serves() -> None:
    """The "What is served" table is made from the alias's own table, and the count of
    refused top-level names is the alias's."""
    from flowsim.compat.table import MODULES, served_markdown

    text = DOC.read_text()
    assert served_markdown() in text, (
        "paste flowsim.compat.table.served_markdown() over the table under '## What is served'"
    )
    assert f"({len(MODULES['hatchet_sdk'].refused)} of its 140 names" in text
    assert f"{len(MODULES['hatchet_sdk'].served)} of the 140 top-level names are served" in text


def test_the_backend_guide_counts_the_contracts_behaviours_right() -> None:
    """docs/writing-a-backend.md says how many behaviours the shipped contract checks: the
    number is the suite's, not one that went stale."""

    from flowsim.testing.contract import RunStoreContract

    text = (Path(__file__).parents[2] / "docs" / "writing-a-backend.md").read_text()
    (said,) = re.findall(r"It checks (\d+) behaviours", text)
    assert int(said) == len([name for name in dir(RunStoreContract) if name.startswith("test_")])
