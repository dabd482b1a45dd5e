"""Smoke test: a real Home Assistant process with CGM Handler, against the Share simulator.

    python -m scripts.smoke [--keep] [--timeout S] [--start-timeout S] [--integration DIR]

`scripts/smoke --ha oldest|newest` prepares the runtime environment of a supported release
and runs this in it. scripts/live_ha.py starts the Share simulator's demo account (in this
process) and `python -m homeassistant` with this interpreter, on a throwaway configuration
in a temporary folder and free loopback ports: no default_config, only what onboarding, the
REST and websocket APIs, config entries, the recorder (SQLite in that folder) and the
frontend need. The first start may install requirements of Home Assistant's own
integrations. Then the steps (Smoke.steps):

1. onboarding: the owner created over the onboarding API, an access token taken, as the
   frontend does;
2. running: Home Assistant's core state is RUNNING;
3. config flow: the demo account added over REST, as the UI does, checking the form
   (username, password, region, unit and a collapsed section "advanced" with server_url);
4. glucose state: a numeric sensor.demo_glucose, one of the newest readings;
5. statistics: at least 20 hours of the imported glucose statistics
   (recorder/statistics_during_period over the websocket API);
6. with CGM_TEST_POSTGRES set (a PostgreSQL URL), the recorder runs on a database of its own
   on that server, reached through a proxy, and a last step stops the database: the proxy
   refuses connections, as a stopped server does, while the entry is reloaded (it fetches
   Share's 24 hours again) and for 40 s after; then every complete hour of the statistics
   must equal the simulator's readings, without a restart. The recorder's errors and the
   integration's warning about unwritten statistics are expected meanwhile.

Then live_ha stops Home Assistant (SIGTERM, then SIGKILL) and the simulator, a slow stop of
either being a failure, and fails on any warning, error or critical record in
home-assistant.log of cgm_handler's loggers or mentioning cgm_handler (one notice of Home
Assistant's loader exempted), on a log it cannot read, and on the Share password or a
session id in it. Prints a short report and exits 0 (PASS) or 1 (FAIL).
"""

from __future__ import annotations

import argparse
import asyncio
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
import json
import math
import os
import platform
import secrets
import statistics
import sys
from typing import Any, Final

from scripts.database_faults import DatabaseProxy, ScratchDatabase
from scripts.live_ha import (
    DEMO_PASSWORD,
    DEMO_USERNAME,
    DOMAIN,
    GLUCOSE_ENTITY,
    INTEGRATION_LOGGER,
    LiveTest,
    LiveTestError,
    as_dict,
    numeric_state,
    parser,
    run_and_report,
)

FORM_FIELDS: Final = ("username", "password", "region", "unit")
SECTION: Final = "advanced"
SECTION_FIELD: Final = "server_url"
MIN_STATISTICS_ROWS: Final = 20
# What Share reports, mg/dL: sensors read 40-400, and Share sends 39 (LOW) and 401 (HIGH).
GLUCOSE_RANGE: Final = (39.0, 401.0)
RECENT_READINGS: Final = 3  # the sensor shows one of the newest published readings
DEFAULT_TIMEOUT: Final = 360.0
RUNNING_TIMEOUT: Final = 120.0
STATISTICS_TIMEOUT: Final = 90.0
POSTGRES_ENV: Final = "CGM_TEST_POSTGRES"
DATABASE_DOWN: Final = 40.0
"""Seconds the database refuses connections: the read-back 30 s after the first fails too."""
RECOVERY_TIMEOUT: Final = 240.0
# The polling entities (diagnostic), and whether each is enabled by default. Home Assistant
# reloads the entry 30 s after an entity is enabled.
POLLING_ENTITIES: Final = {
    f"binary_sensor.{DEMO_USERNAME}_dexcom_share_reachable": True,
    f"sensor.{DEMO_USERNAME}_upload_delay": True,
    f"sensor.{DEMO_USERNAME}_upload_delay_90th_percentile": False,
    f"sensor.{DEMO_USERNAME}_next_planned_poll": False,
    f"sensor.{DEMO_USERNAME}_share_requests_24_h": False,
}
POLLING_TIMEOUT: Final = 100.0
# What the recorder and the integration log, on purpose, while the database is down.
DATABASE_DOWN_RECORDS: Final = (
    ("homeassistant.components.recorder", ""),
    ("homeassistant.helpers.recorder", ""),
    (INTEGRATION_LOGGER, "The statistics are not written yet"),
)


# --- Pure helpers (tests/test_smoke_helpers.py) ----------------------------------------------


def flow_input(simulator_origin: str) -> dict[str, Any]:
    """Return what the user types into the config flow's form for the demo account."""
    return {
        "username": DEMO_USERNAME,
        "password": DEMO_PASSWORD,
        "region": "us",
        "unit": "mg/dL",
        SECTION: {SECTION_FIELD: simulator_origin},
    }


def is_collapsed(item: Mapping[str, Any]) -> bool:
    """Tell whether a serialized form section starts collapsed.

    Home Assistant serializes section(schema, {"collapsed": True}) as "expanded": false
    (helpers/config_validation.py, custom_serializer); an "options" mapping is accepted too.
    """
    if item.get("expanded") is False:
        return True
    options = item.get("options")
    return isinstance(options, Mapping) and options.get("collapsed") is True


def form_problems(result: Mapping[str, Any]) -> list[str]:
    """Return what is wrong with the first form of the config flow (empty: nothing)."""
    if result.get("type") != "form":
        return [f"the flow answered {result.get('type')!r} instead of a form"]
    items = [item for item in result.get("data_schema") or [] if isinstance(item, Mapping)]
    fields = {item.get("name"): item for item in items}
    problems = [f"the form has no field {name!r}" for name in FORM_FIELDS if name not in fields]
    section = fields.get(SECTION)
    if section is None:
        if SECTION_FIELD in fields:
            problems.append(
                f"{SECTION_FIELD} is a top-level field, not in a section {SECTION!r}: "
                "this is the old config flow"
            )
        else:
            problems.append(f"the form has no section {SECTION!r}")
        return problems
    if section.get("type") != "expandable":
        problems.append(f"{SECTION!r} is of type {section.get('type')!r}, not a section")
    if not is_collapsed(section):
        problems.append(f"the section {SECTION!r} is not collapsed")
    inner = {item.get("name") for item in section.get("schema") or [] if isinstance(item, Mapping)}
    if SECTION_FIELD not in inner:
        problems.append(f"the section {SECTION!r} has no field {SECTION_FIELD!r}")
    return problems


def glucose_problems(value: float, recent: Sequence[float]) -> list[str]:
    """Return what is wrong with the glucose sensor's value, given the newest readings."""
    low, high = GLUCOSE_RANGE
    problems = []
    if not low <= value <= high:
        problems.append(f"{GLUCOSE_ENTITY} is {value:g}, outside {low:g}-{high:g} mg/dL")
    if recent and value not in recent:
        shown = ", ".join(f"{each:g}" for each in recent)
        problems.append(f"{GLUCOSE_ENTITY} is {value:g}, not a newest reading ({shown})")
    return problems


def polling_problems(states: Mapping[str, str | None]) -> list[str]:
    """Return what is wrong with the polling entities' states, by POLLING_ENTITIES' order."""
    reachable, median, p90, next_poll, requests = (states.get(e) for e in POLLING_ENTITIES)
    problems = [] if reachable == "on" else [f"Share reachable is {reachable}"]
    delays = [numeric_state(median), numeric_state(p90)]
    if None in delays or delays != sorted(delays):
        problems.append(f"upload delays (median, 90th percentile) are {median}, {p90}")
    try:
        datetime.fromisoformat(str(next_poll))
    except ValueError:
        problems.append(f"next planned poll is {next_poll}")
    if (count := numeric_state(requests)) is None or count < 1:
        problems.append(f"Share requests (24 h) are {requests}")
    return problems


def hour_label(start: object) -> str:
    """Return the start of a statistics row, which is epoch milliseconds or ISO text."""
    if isinstance(start, int | float):
        return datetime.fromtimestamp(start / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return str(start)


def statistics_problems(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Return what is wrong with hourly glucose statistics rows (mg/dL)."""
    low, high = GLUCOSE_RANGE
    problems = []
    for row in rows:
        hour = hour_label(row.get("start"))
        raw = [row.get(key) for key in ("min", "mean", "max")]
        values = [float(each) for each in raw if isinstance(each, int | float)]
        if len(values) != len(raw):
            problems.append(f"hour {hour}: min, mean or max missing ({raw})")
            continue
        minimum, mean, maximum = values
        if not minimum <= mean <= maximum:
            problems.append(f"hour {hour}: not min <= mean <= max ({minimum}, {mean}, {maximum})")
        if not (low <= minimum and maximum <= high):
            problems.append(f"hour {hour}: outside {low:g}-{high:g} ({minimum}, {maximum})")
    return problems


def hourly_truth(readings: Sequence[tuple[datetime, int]]) -> dict[int, list[int]]:
    """Return the readings' values by the epoch milliseconds of their UTC hour."""
    hours: dict[int, list[int]] = defaultdict(list)
    for time, value in readings:
        start = time.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        hours[int(start.timestamp() * 1000)].append(value)
    return hours


def hour_problems(
    glucose: Mapping[int, Mapping[str, Any]],
    counts: Mapping[int, Mapping[str, Any]],
    truth: Mapping[int, list[int]],
) -> list[str]:
    """Return the hours whose statistics differ from their readings (empty: all exact)."""
    problems = []
    for hour, values in sorted(truth.items()):
        row, count = glucose.get(hour), counts.get(hour)
        want = (statistics.fmean(values), min(values), max(values), len(values))
        got = (
            (row or {}).get("mean"),
            (row or {}).get("min"),
            (row or {}).get("max"),
            (count or {}).get("mean"),
        )
        if None in got or not all(
            math.isclose(float(a), float(b), rel_tol=1e-9) for a, b in zip(got, want, strict=True)
        ):
            problems.append(f"{hour_label(hour)}: {got} instead of {want}")
    return problems


# --- The run --------------------------------------------------------------------------------


class Smoke(LiveTest):
    """One smoke test run: its steps over Home Assistant's APIs."""

    name = "smoke"

    def __init__(self, args: argparse.Namespace) -> None:
        """Prepare the run; on PostgreSQL, a database of its own behind a proxy."""
        super().__init__(args)
        self.database: ScratchDatabase | None = None
        self.proxy: DatabaseProxy | None = None
        if server := os.environ.get(POSTGRES_ENV):
            self.database = ScratchDatabase(server, "cgm_smoke")
            self.proxy = DatabaseProxy.for_url(server)

    def configuration(self) -> dict[str, Any]:
        """Return the configuration; on PostgreSQL, the recorder goes through the proxy."""
        config = super().configuration()
        if self.database is not None and self.proxy is not None:
            config["recorder"]["db_url"] = self.proxy.url(self.database.url)
        return config

    async def start(self) -> str:
        """Create the database and start its proxy first, on PostgreSQL."""
        if self.database is not None and self.proxy is not None:
            await asyncio.to_thread(self.database.create)
            self.proxy.start()
            self.say(f"recorder on PostgreSQL database {self.database.name}, through a proxy")
        return await super().start()

    async def steps(self) -> None:
        """Run the steps after the start, in order; a new step is one more line here."""
        await self.step("onboarding", self.onboard())
        await self.step("running", self.wait_until_running())
        await self.step("config flow", self.add_entry())
        await self.step("glucose state", self.wait_for_state())
        await self.step("statistics", self.wait_for_statistics())
        await self.step("polling entities", self.polling_entities())
        if self.proxy is not None:
            down_and_back = self.database_down_and_back(self.proxy)
            await self.step("database down and back", down_and_back, limit=None)

    async def onboard(self) -> str:
        """Create the owner over the onboarding API and take an access token."""
        steps = await self.api.request("GET", "/api/onboarding")
        if not isinstance(steps, list) or {"step": "user", "done": False} not in steps:
            raise LiveTestError(f"onboarding has no open user step: {steps}")
        password = secrets.token_urlsafe(24)
        self.secrets.add(password)
        self.secrets |= await self.api.onboard("Smoke Test", "smoke", password)
        return "owner created, access token received"

    async def wait_until_running(self) -> str:
        """Wait until Home Assistant's core state is RUNNING; note its version."""

        async def probe() -> dict[str, Any] | None:
            config = as_dict(await self.api.request("GET", "/api/config"), "config")
            return config if config.get("state") == "RUNNING" else None

        config = await self.wait_for("Home Assistant running", probe, RUNNING_TIMEOUT)
        version = config.get("version")
        self.report.title = f"Home Assistant {version}, Python {platform.python_version()}"
        return f"Home Assistant {version} running"

    async def add_entry(self) -> str:
        """Add the demo account through the config flow as the UI does, checking its form."""
        start = {"handler": DOMAIN}
        answer = await self.api.request("POST", "/api/config/config_entries/flow", json_body=start)
        form = as_dict(answer, "config flow")
        if problems := form_problems(form):
            shown = json.dumps(form)[:1500]
            raise LiveTestError("the config flow's form: " + "; ".join(problems) + f"\n{shown}")
        self.say("config flow form: " + ", ".join(item["name"] for item in form["data_schema"]))
        path = f"/api/config/config_entries/flow/{form['flow_id']}"
        typed = flow_input(self.simulator_origin)
        result = as_dict(await self.api.request("POST", path, json_body=typed), "config flow")
        if result.get("type") != "create_entry":
            answered = {key: result.get(key) for key in ("type", "step_id", "errors", "reason")}
            raise LiveTestError(f"the config flow did not create the entry: {answered}")
        self.entry_id = str(as_dict(result.get("result"), "created entry").get("entry_id"))
        return f"created entry {self.entry_id} ({result.get('title')})"

    async def wait_for_state(self) -> str:
        """Wait for a numeric glucose state; check it against the newest readings."""

        async def probe() -> float | None:
            return numeric_state((await self.api.state(GLUCOSE_ENTITY)).get("state"))

        value = await self.wait_for(f"a number in {GLUCOSE_ENTITY}", probe)
        readings = self.simulator.published_readings(DEMO_USERNAME)
        recent = [float(reading.value) for reading in readings[-RECENT_READINGS:]]
        if problems := glucose_problems(value, recent):
            raise LiveTestError("; ".join(problems))
        return f"{GLUCOSE_ENTITY} = {value:g} mg/dL, a newest reading"

    async def wait_for_statistics(self) -> str:
        """Wait for the hourly glucose statistics imported from the last 24 hours."""
        statistic_id = f"{DOMAIN}:glucose_{self.entry_id.lower()}"
        start = datetime.now(UTC) - timedelta(hours=25)
        command = {
            "type": "recorder/statistics_during_period",
            "start_time": start.isoformat(),
            "statistic_ids": [statistic_id],
            "period": "hour",
            "types": ["mean", "min", "max"],
        }

        async def probe() -> list[dict[str, Any]] | None:
            result = as_dict(await self.api.ws_command(command), "statistics")
            rows = result.get(statistic_id) or []
            return rows if len(rows) >= MIN_STATISTICS_ROWS else None

        wanted = f"{MIN_STATISTICS_ROWS} hourly rows of {statistic_id}"
        rows = await self.wait_for(wanted, probe, STATISTICS_TIMEOUT)
        if problems := statistics_problems(rows):
            raise LiveTestError("statistics: " + "; ".join(problems[:5]))
        return f"{len(rows)} hourly rows of {statistic_id} (at least {MIN_STATISTICS_ROWS})"

    async def polling_entities(self) -> str:
        """Enable the polling entities disabled by default; wait for live values in all."""
        for entity_id, enabled in POLLING_ENTITIES.items():
            if not enabled:
                update = {"entity_id": entity_id, "disabled_by": None}
                await self.api.ws_command({"type": "config/entity_registry/update", **update})

        async def probe() -> dict[str, str | None] | None:
            states = {e: (await self.api.state(e)).get("state") for e in POLLING_ENTITIES}
            return None if polling_problems(states) else states

        states = await self.wait_for("live polling entities", probe, POLLING_TIMEOUT)
        return ", ".join(f"{entity_id} = {state}" for entity_id, state in states.items())

    async def database_down_and_back(self, proxy: DatabaseProxy) -> str:
        """Refuse the database's connections during a reload; then every hour must be exact."""
        self.tolerated.extend(DATABASE_DOWN_RECORDS)
        proxy.down()
        try:
            path = f"/api/config/config_entries/entry/{self.entry_id}/reload"
            await self.api.request("POST", path)
            await asyncio.sleep(DATABASE_DOWN)
        finally:
            proxy.up()
        hours = await self.wait_for("every complete hour exact", self.exact_hours, RECOVERY_TIMEOUT)
        return f"database down {DATABASE_DOWN:.0f} s during a reload; then {hours} hours exact"

    async def exact_hours(self) -> int | None:
        """Return how many complete hours equal the readings, or None while one differs."""
        ids = {key: f"{DOMAIN}:{key}_{self.entry_id.lower()}" for key in ("glucose", "readings")}
        now = datetime.now(UTC)
        command = {
            "type": "recorder/statistics_during_period",
            "start_time": (now - timedelta(hours=25)).isoformat(),
            "statistic_ids": list(ids.values()),
            "period": "hour",
            "types": ["mean", "min", "max"],
        }
        result = as_dict(await self.api.ws_command(command), "statistics")
        rows = {
            key: {int(row["start"]): row for row in result.get(sid) or []}
            for key, sid in ids.items()
        }
        # The hours wholly inside Share's 24 hours, up to the last whole one.
        first, last = now - timedelta(hours=23), now - timedelta(hours=1)
        readings = self.simulator.published_readings(DEMO_USERNAME)
        truth = hourly_truth([(r.time, r.value) for r in readings if first <= r.time])
        whole = {
            hour: values
            for hour, values in truth.items()
            if first.timestamp() * 1000 <= hour <= last.timestamp() * 1000
        }
        if hour_problems(rows["glucose"], rows["readings"], whole):
            return None
        return len(whole)

    def clean_up(self) -> None:
        """Drop the database too, on PostgreSQL."""
        if self.proxy is not None:
            self.proxy.down()
        if self.database is not None:
            self.database.drop()
        super().clean_up()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the smoke test and print its report; return the exit code."""
    description = "Smoke test of a real Home Assistant process with CGM Handler."
    args = parser("python -m scripts.smoke", description, DEFAULT_TIMEOUT).parse_args(argv)
    return run_and_report(Smoke(args))


if __name__ == "__main__":
    sys.exit(main())
