"""Faults and restarts over days of simulated time: nothing lost, nothing duplicated.

Each scenario of scenarios.py runs against the Share simulator and the recorder (SQLite,
or PostgreSQL with --dburl), and harness.py checks the same invariants after each.
"""

from __future__ import annotations

import random
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest

from tests.database import DatabaseFault

from .harness import Row, Runner
from .scenarios import SCENARIOS, Scenario


@pytest.mark.usefixtures("socket_enabled")
@pytest.mark.parametrize(
    "scenario",
    [
        pytest.param(scenario, id=scenario.name, marks=pytest.mark.freeze_time(scenario.start))
        for scenario in SCENARIOS
    ],
)
async def test_scenario(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
    *,
    hass_storage: dict[str, Any],
    reliability_rows: list[Row],
    scenario: Scenario,
    database_fault: DatabaseFault,
) -> None:
    """Run one scenario and check every invariant of harness.py."""
    if scenario.database not in {None, database_fault.kind}:
        pytest.skip(f"needs a database that can be {scenario.database} (see tests/database.py)")
    # Home Assistant staggers polls and setup retries by a random fraction of a second.
    random.seed(scenario.name)
    runner = Runner(hass, freezer, monkeypatch, hass_storage, scenario, database=database_fault)
    try:
        await runner.start()
        await runner.run()
        row = await runner.finish()
    finally:
        await runner.close()
    reliability_rows.append(row)
