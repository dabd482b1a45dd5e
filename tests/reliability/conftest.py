"""Fixtures of the reliability scenarios, and their summary table."""

from __future__ import annotations

from dataclasses import fields
import os
from typing import Any

import pytest

from tests.database import (
    database_fault,
    database_proxy,
    persistent_database,
    recorder_db_url,
)

from .harness import Row

__all__ = ["database_fault", "database_proxy", "persistent_database", "recorder_db_url"]

ROWS: list[Row] = []
"""One row per scenario that passed, in the order they ran."""

COLUMNS = {
    "scenario": "scenario",
    "days": "days",
    "published": "published",
    "imported": "imported",
    "lost": "lost at source",
    "duplicates": "duplicates",
    "logins": "logins",
    "login_bound": "bound",
    "failed_logins": "failed",
    "login_requests": "login calls",
    "requests": "requests",
    "errors": "errors logged",
    "complete_hours": "hours = truth",
    "hours": "hours",
}
assert set(COLUMNS) == {field.name for field in fields(Row)}


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add --reliability-table (known when tests/reliability is named on the command line).

    Whatever the command line, CGM_RELIABILITY_TABLE=1 asks for the table too.
    """
    parser.addoption(
        "--reliability-table",
        action="store_true",
        default=False,
        help="print a summary table of the reliability scenarios",
    )


@pytest.fixture
def recorder_config() -> dict[str, Any]:
    """Record no entity states: only the imported statistics matter, and it is faster.

    The recorder retries a failing database twice, a second apart (10 times, 3 s apart by
    default), so that a lock can outlast its retries in seconds.
    """
    return {
        "exclude": {"domains": ["sensor", "binary_sensor"]},
        "db_max_retries": 2,
        "db_retry_wait": 1,
    }


@pytest.fixture
def reliability_rows() -> list[Row]:
    """Return the table the scenarios add their row to."""
    return ROWS


def format_table(rows: list[Row]) -> list[str]:
    """Return the table as aligned lines of text."""
    header = list(COLUMNS.values())
    cells = [[str(getattr(row, name)) for name in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]

    def line(values: list[str]) -> str:
        return " | ".join(
            value.ljust(width) if index == 0 else value.rjust(width)
            for index, (value, width) in enumerate(zip(values, widths, strict=True))
        )

    total = Row(
        scenario="total",
        days=sum(row.days for row in rows),
        **{name: sum(getattr(row, name) for row in rows) for name in list(COLUMNS)[2:]},
    )
    rule = "-+-".join("-" * width for width in widths)
    totals = [str(getattr(total, name)) for name in COLUMNS]
    return [line(header), rule, *map(line, cells), rule, line(totals)]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print the table after the run, when asked to."""
    asked = config.getoption("--reliability-table", default=False)
    if not ROWS or not (asked or os.environ.get("CGM_RELIABILITY_TABLE")):
        return
    terminalreporter.section("reliability scenarios")
    for text in format_table(ROWS):
        terminalreporter.write_line(text)
