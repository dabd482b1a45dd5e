"""The recorder's database fails while readings arrive: every hour is still written, once.

On PostgreSQL (--dburl) the database refuses connections for 11 minutes, as when its
server stops: the recorder drops the imports made meanwhile. On SQLite another program
holds the write lock for longer than the recorder's retries. No Home Assistant restart.
"""

from __future__ import annotations

from datetime import timedelta
import threading
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.cgm_handler import statistics as cgm_statistics
from custom_components.cgm_handler.const import DOMAIN
from custom_components.cgm_handler.entry_issues import issue_id
from custom_components.cgm_handler.history import hour_start
from custom_components.cgm_handler.statistics import IMPORT_ISSUE
from tests.database import (
    DatabaseFault,
    database_fault,
    database_proxy,
    persistent_database,
    recorder_db_url,
)
from tests.test_statistics import Run, check_hours, run

__all__ = ["database_fault", "database_proxy", "persistent_database", "recorder_db_url", "run"]

pytestmark = pytest.mark.freeze_time("2026-03-10T12:43:00+00:00")

# The recorder's own retries, shortened from 10 times 3 s so that the lock outlasts them
# in seconds; the mechanism is the same.
RECORDER_RETRIES = {"db_max_retries": 2, "db_retry_wait": 1}
LOCKED_FOR = 20.0
"""Real seconds the SQLite write lock is held: longer than the recorder's retries."""


@pytest.fixture
def recorder_config() -> dict[str, Any]:
    """Record no entity states, and retry a failing database briefly."""
    return {"exclude": {"domains": ["sensor", "binary_sensor"]}, **RECORDER_RETRIES}


def issue(hass: HomeAssistant, run: Run) -> ir.IssueEntry | None:
    """Return the repair issue about unwritten statistics, if it is up."""
    return ir.async_get(hass).async_get_issue(DOMAIN, issue_id(IMPORT_ISSUE, run.entry.entry_id))


async def fail_for(run: Run, fault: DatabaseFault, length: timedelta) -> None:
    """Fail the database for a while of simulated time (SQLite: real seconds) with polls."""
    fault.start()
    if fault.kind == "locked":
        # The lock is another program's: it lets go in real time, whatever Home Assistant does.
        release = threading.Timer(LOCKED_FOR, fault.stop)
        release.start()
        await run.wait(length, timedelta(minutes=1))
        release.join()
    else:
        await run.wait(length, timedelta(minutes=1))
        # The recorder has tried the imports of the outage before the server is back.
        await async_wait_recording_done(run.hass)
        assert run.entry.runtime_data.statistics.waiting, "no import was dropped"
        fault.stop()


async def test_database_down_for_11_minutes_loses_no_hour(
    hass: HomeAssistant, run: Run, database_fault: DatabaseFault
) -> None:
    """Readings arrive while the database fails across an hour; every hour ends exact."""
    await run.setup()
    await run.wait(timedelta(hours=1, minutes=12), timedelta(minutes=5))
    before = await run.rows()
    check_hours(before, run.obtainable())

    # 13:55 to 14:06: the last readings of one hour, fetched during the outage, and the
    # first of the next.
    start = dt_util.utcnow()
    await fail_for(run, database_fault, timedelta(minutes=11))
    assert hour_start(start) != hour_start(dt_util.utcnow())
    assert run.entry.runtime_data.history.count(hour_start(start)) == 12
    # Back: the waiting hours are read and imported again within one backoff step.
    await run.wait(timedelta(minutes=6), timedelta(seconds=30))

    importer = run.entry.runtime_data.statistics
    assert not importer.waiting
    assert not importer.sent
    assert importer.failing_since is None
    rows = await run.rows()
    hours, _ = check_hours(rows, run.obtainable())
    assert {hour_start(start), hour_start(dt_util.utcnow())} <= set(rows["readings"])
    counts = await run.row_counts()
    assert counts == dict.fromkeys(run.ids.values(), (hours, hours))
    assert issue(hass, run) is None


async def test_a_repair_issue_tells_after_30_minutes_of_failures(
    hass: HomeAssistant,
    run: Run,
    database_fault: DatabaseFault,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After 30 minutes of failed imports a repair issue says since when; it goes by itself."""
    if database_fault.kind == "locked":
        pytest.skip("a lock of 30 minutes takes 30 real minutes; the server case covers it")
    # Each read-back waits for the stuck recorder in real time; shorter, the same mechanism.
    monkeypatch.setattr(cgm_statistics, "RECORDER_WAIT", timedelta(seconds=1))
    await run.setup()
    await run.wait(timedelta(minutes=20), timedelta(minutes=5))
    database_fault.start()
    failed_at = dt_util.utcnow()
    await run.wait(timedelta(minutes=25), timedelta(minutes=1))
    assert issue(hass, run) is None
    await run.wait(timedelta(minutes=15), timedelta(minutes=1))
    found = issue(hass, run)
    assert found is not None
    assert found.translation_key == "statistics_not_written"
    since = found.translation_placeholders["since"]
    assert since in {
        dt_util.as_local(failed_at + timedelta(minutes=minutes)).strftime("%H:%M")
        for minutes in range(6)
    }
    database_fault.stop()
    await run.wait(timedelta(minutes=6), timedelta(seconds=30))
    assert issue(hass, run) is None
    check_hours(await run.rows(), run.obtainable())
