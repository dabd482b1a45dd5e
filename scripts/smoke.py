"""Smoke test: a real Home Assistant process with CGM Handler, against the Share simulator.

    python -m scripts.smoke [--keep] [--timeout SECONDS] [--start-timeout SECONDS]

`scripts/smoke --ha oldest|newest` prepares the runtime environment of a supported release
and runs this in it. Steps:

1. serve the Share simulator's demo account (in this process) on a free loopback port;
2. write a throwaway Home Assistant configuration in a temporary folder: no default_config,
   only what onboarding, the REST and websocket APIs, config entries, the recorder (SQLite in
   that folder) and the frontend need, listening on another free loopback port;
3. start `python -m homeassistant` with this interpreter and wait until its API answers
   (the first start may install requirements of Home Assistant's own integrations);
4. create the owner over the onboarding API and get an access token, as the frontend does;
5. add the demo account through the config flow over REST, as the UI does, checking the form
   (username, password, region, unit and a collapsed section "advanced" with server_url);
6. wait for a numeric sensor.demo_glucose and for at least 20 hours of the imported glucose
   statistics (recorder/statistics_during_period over the websocket API);
7. stop Home Assistant (SIGTERM, then SIGKILL) and the simulator;
8. fail on any warning, error or critical record in home-assistant.log of cgm_handler's
   loggers or mentioning cgm_handler (one known notice of Home Assistant's loader exempted,
   see CUSTOM_INTEGRATION_NOTICE), and on the Share password or a session id in that log.

Prints a short report and exits 0 (PASS) or 1 (FAIL). Every wait is bounded: the whole run
by --timeout, plus at most STOP_TIMEOUT + SIMULATOR_STOP_TIMEOUT to stop. Only the standard
library and aiohttp (which Home Assistant brings) are used, so any environment holding Home
Assistant runs it; neither passwords nor tokens nor session ids are printed.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import json
import math
import os
from pathlib import Path
import platform
import re
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
from typing import Any, Final, Protocol

import aiohttp

from scripts.share_simulator import BASE_PATH, ShareSimulator

ROOT: Final = Path(__file__).resolve().parent.parent
DOMAIN: Final = "cgm_handler"
INTEGRATION_LOGGER: Final = f"custom_components.{DOMAIN}"
HOST: Final = "127.0.0.1"
RESERVED_PORTS: Final = frozenset({8090, 8123})  # scripts/develop's simulator and HA

DEMO_USERNAME: Final = "demo"
DEMO_PASSWORD: Final = "demo-password"  # noqa: S105 - the simulator's public demo password
GLUCOSE_ENTITY: Final = f"sensor.{DEMO_USERNAME}_glucose"
FORM_FIELDS: Final = ("username", "password", "region", "unit")
SECTION: Final = "advanced"
SECTION_FIELD: Final = "server_url"
MIN_STATISTICS_ROWS: Final = 20
# What Share reports, mg/dL: sensors read 40-400, and Share sends 39 (LOW) and 401 (HIGH).
GLUCOSE_RANGE: Final = (39.0, 401.0)
RECENT_READINGS: Final = 3  # the sensor shows one of the newest published readings

DEFAULT_TIMEOUT: Final = 360.0
DEFAULT_START_TIMEOUT: Final = 240.0
RUNNING_TIMEOUT: Final = 120.0
STATE_TIMEOUT: Final = 60.0
STATISTICS_TIMEOUT: Final = 90.0
STOP_TIMEOUT: Final = 60.0
SIMULATOR_STOP_TIMEOUT: Final = 10.0
REQUEST_TIMEOUT: Final = 30.0
POLL_INTERVAL: Final = 0.5
LOG_TAIL: Final = 40

LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
FAILING_LEVELS: Final = frozenset({"WARNING", "ERROR", "CRITICAL"})
# Home Assistant's log format (homeassistant/bootstrap.py, FORMAT_DATETIME and the file
# handler): "2026-03-01 12:00:00.123 WARNING (MainThread) [logger.name] message"; 2026.11
# adds the UTC offset to the time ("12:00:00.123+00:00"). Thread names may hold parentheses
# ("Thread-3 (run)"), so the thread ends at ") [".
LOG_RECORD: Final = re.compile(
    r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)? "
    r"(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL) "
    r"\((?P<thread>.*?)\) \[(?P<logger>[^\]]*)\] ?(?P<message>.*)$"
)
# The one exempted record. Home Assistant's loader logs CUSTOM_WARNING (homeassistant/
# loader.py) at WARNING, at every start, for every integration found in custom_components,
# whatever its code: no custom integration can avoid it, so it says nothing about CGM Handler.
# Only this exact record is exempt: that logger, that level, a single line starting so.
CUSTOM_INTEGRATION_NOTICE: Final = (
    "homeassistant.loader",
    "WARNING",
    f"We found a custom integration {DOMAIN} which has not been tested by Home Assistant.",
)


class SmokeError(Exception):
    """A step of the smoke test failed; the message says which and why."""


# --- Pure helpers (tests/test_smoke_helpers.py) ----------------------------------------------


def configuration_yaml(config_dir: Path, http_port: int) -> str:
    """Return the configuration.yaml of the throwaway Home Assistant.

    No default_config: it would set up integrations that go out to the internet (go2rtc,
    cloud, radio browser...). frontend (which Home Assistant sets up by default anyway)
    depends on api, auth, config, onboarding and websocket_api; the four the smoke test
    uses are named all the same. The location is fixed, so nothing is detected.
    """
    return f"""\
# Written by scripts/smoke for one run; deleted afterwards unless --keep.
homeassistant:
  name: CGM Handler smoke test
  latitude: 40.7128
  longitude: -74.0060
  elevation: 10
  unit_system: metric
  time_zone: UTC
  country: US
  currency: USD
  language: en

http:
  server_host: {HOST}
  server_port: {http_port}

frontend:
api:
config:
onboarding:

recorder:
  db_url: sqlite:///{config_dir / "home-assistant_v2.db"}
  commit_interval: 1

logger:
  default: info
  logs:
    {INTEGRATION_LOGGER}: debug
"""


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


def numeric_state(state: str | None) -> float | None:
    """Return an entity state as a finite number, or None (unknown, unavailable...)."""
    try:
        value = float(state) if state is not None else math.nan
    except ValueError:
        return None
    return value if math.isfinite(value) else None


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


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One record of home-assistant.log: its first line and continuation lines."""

    level: str
    logger: str
    message: str
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        """Return the whole record, traceback included."""
        return "\n".join(self.lines)

    @property
    def concerns_integration(self) -> bool:
        """Tell whether the integration logged this or it mentions the integration."""
        own = self.logger == INTEGRATION_LOGGER or self.logger.startswith(f"{INTEGRATION_LOGGER}.")
        return own or DOMAIN in self.text

    @property
    def exempt(self) -> bool:
        """Tell whether this is the loader's notice about every custom integration."""
        logger, level, prefix = CUSTOM_INTEGRATION_NOTICE
        return (
            (self.logger, self.level) == (logger, level)
            and self.message.startswith(prefix)
            and len(self.lines) == 1
        )


def parse_log(text: str) -> list[LogRecord]:
    """Split home-assistant.log into records; lines before the first record are dropped."""
    records: list[LogRecord] = []
    for line in text.splitlines():
        if match := LOG_RECORD.match(line):
            records.append(LogRecord(match["level"], match["logger"], match["message"], (line,)))
        elif records:
            last = records[-1]
            records[-1] = LogRecord(last.level, last.logger, last.message, (*last.lines, line))
    return records


@dataclass(slots=True)
class LogScan:
    """The integration's records in home-assistant.log."""

    counts: Counter[str] = field(default_factory=Counter)
    """Records of or about cgm_handler, per level."""
    failures: list[LogRecord] = field(default_factory=list)
    exempted: list[LogRecord] = field(default_factory=list)


def scan_log(records: Iterable[LogRecord]) -> LogScan:
    """Count the records of or about cgm_handler; collect those at WARNING or above."""
    scan = LogScan()
    for record in records:
        if not record.concerns_integration:
            continue
        scan.counts[record.level] += 1
        if record.level in FAILING_LEVELS:
            (scan.exempted if record.exempt else scan.failures).append(record)
    return scan


def leaked(text: str, secret_values: Iterable[str]) -> int:
    """Return how many of the secrets appear in the text."""
    return sum(1 for secret in set(secret_values) if secret and secret in text)


def redact(text: str, secret_values: Iterable[str]) -> str:
    """Replace every secret in the text with ***, longest first."""
    for secret in sorted(set(secret_values), key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    return text


def tail(text: str, lines: int = LOG_TAIL) -> str:
    """Return the last lines of a text."""
    return "\n".join(text.splitlines()[-lines:])


# --- The run --------------------------------------------------------------------------------


def free_port() -> int:
    """Return a loopback TCP port that is free right now (not one of scripts/develop's)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((HOST, 0))
            port: int = probe.getsockname()[1]
        if port not in RESERVED_PORTS:
            return port


def read_text(path: Path) -> str:
    """Return a file's text, or nothing when it does not exist."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def make_simulator() -> ShareSimulator:
    """Return the simulator with the demo account as `python -m scripts.share_simulator`."""
    simulator = ShareSimulator(region="us", seed="0")
    now = simulator.now()
    simulator.add_account(
        DEMO_USERNAME,
        DEMO_PASSWORD,
        history=timedelta(days=2),
        sensor_start=now - timedelta(days=2),  # last warm-up is just out of the 24 h view
        signal_loss_chance=0.3,
    )
    return simulator


def prepare_config(config_dir: Path, http_port: int) -> None:
    """Write configuration.yaml and link the repository's custom_components."""
    (config_dir / "configuration.yaml").write_text(
        configuration_yaml(config_dir, http_port), encoding="utf-8"
    )
    (config_dir / "custom_components").symlink_to(ROOT / "custom_components")


def elapsed(since: float) -> float:
    """Return the seconds since a time.monotonic() instant."""
    return time.monotonic() - since


@dataclass(slots=True)
class Report:
    """What the run found; printed at the end."""

    python_version: str = field(default_factory=platform.python_version)
    ha_version: str = "unknown"
    started: float | None = None
    running: float | None = None
    first_state: float | None = None
    """Seconds from the start of Home Assistant to a numeric glucose state."""
    after_entry: float | None = None
    """Seconds from the config flow's create_entry to a numeric glucose state."""
    glucose: float | None = None
    statistics_rows: int | None = None
    stopped: str = "not started"
    scan: LogScan = field(default_factory=LogScan)
    failures: list[str] = field(default_factory=list)
    total: float | None = None
    log_tail: str | None = None
    """The end of Home Assistant's log, when a step failed."""

    def lines(self) -> list[str]:
        """Return the report's lines."""

        def seconds(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f} s"

        rows = "-" if self.statistics_rows is None else str(self.statistics_rows)
        counts = ", ".join(f"{level} {self.scan.counts[level]}" for level in LEVELS)
        lines = [
            f"Home Assistant {self.ha_version}, Python {self.python_version}",
            f"  API answering after   {seconds(self.started)}",
            f"  running after         {seconds(self.running)}",
            f"  first glucose state   {seconds(self.first_state)}"
            + (
                f" ({self.glucose:g} mg/dL, {seconds(self.after_entry)} after create_entry)"
                if self.glucose is not None
                else ""
            ),
            f"  statistics rows       {rows} hourly (at least {MIN_STATISTICS_ROWS} wanted)",
            f"  stopped               {self.stopped}",
            f"  whole run             {seconds(self.total)}",
            f"  cgm_handler records   {counts}",
        ]
        lines += [
            f"  exempted: [{record.logger}] {record.message[:100]}" for record in self.scan.exempted
        ]
        if self.log_tail is not None:
            lines += ["--- end of the Home Assistant log ---", self.log_tail, "---"]
        lines += [f"  FAILED: {failure}" for failure in self.failures]
        lines.append("PASS" if not self.failures else "FAIL")
        return lines


class HomeAssistant:
    """A Home Assistant process on a configuration folder."""

    def __init__(
        self,
        config_dir: Path,
        http_port: int,
        python: Sequence[str] = (sys.executable,),
        extra_args: Sequence[str] = (),
    ) -> None:
        """Prepare to run Home Assistant on the folder; start() starts it.

        python is the command that runs the interpreter holding Home Assistant: this one by
        default, or e.g. scripts/in-env with another venv (scripts/browser.py); extra_args
        go to Home Assistant after smoke's own.
        """
        self.python = tuple(python)
        self.extra_args = tuple(extra_args)
        self.config_dir = config_dir
        self.http_port = http_port
        self.base_url = f"http://{HOST}:{http_port}"
        self.log_path = config_dir / "home-assistant.log"
        self.output_path = config_dir / "console.log"
        self.process: asyncio.subprocess.Process | None = None
        self.started_at = 0.0
        self.killed = False
        """Whether stopping it took SIGKILL."""

    async def start(self) -> None:
        """Start `python -m homeassistant` in its own process group, output to console.log."""
        with self.output_path.open("wb") as output:
            self.process = await asyncio.create_subprocess_exec(
                *self.python,
                "-m",
                "homeassistant",
                "--config",
                str(self.config_dir),
                "--log-no-color",
                *self.extra_args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=asyncio.subprocess.STDOUT,
                cwd=self.config_dir,
                start_new_session=True,
            )
        self.started_at = time.monotonic()

    def check_alive(self) -> None:
        """Raise SmokeError when the process has exited."""
        if self.process is not None and self.process.returncode is not None:
            raise SmokeError(f"Home Assistant exited with code {self.process.returncode}")

    async def stop(self) -> tuple[str, bool]:
        """Stop it: SIGTERM, then SIGKILL to its group; return how, and whether cleanly."""
        process = self.process
        if process is None:
            return "not started", True
        if process.returncode is not None:
            return f"had exited with code {process.returncode}", False
        begin = time.monotonic()
        process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(STOP_TIMEOUT):
                code = await process.wait()
        except TimeoutError:
            self.killed = True
            self.kill_group()
            await process.wait()
            return f"did not stop within {STOP_TIMEOUT:.0f} s; killed", False
        finally:
            # Whatever it started and left behind (a requirement install, say) goes too.
            self.kill_group()
        return f"in {elapsed(begin):.1f} s, exit code {code}", code == 0

    def kill_group(self) -> None:
        """Send SIGKILL to the process group it leads, if anything is left in it."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def log_tail(self) -> str:
        """Return the end of home-assistant.log, or of the console output without it."""
        return tail(read_text(self.log_path) or read_text(self.output_path)) or "(empty)"


class Api:
    """Home Assistant's REST and websocket APIs."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        """Talk to the server at base_url; set token once there is one."""
        self.session = session
        self.base_url = base_url
        self.token: str | None = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        form: Mapping[str, str] | None = None,
        expect: Iterable[int] = (200,),
    ) -> object:
        """Send a request; return the decoded JSON answer or raise SmokeError."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            async with self.session.request(
                method, self.base_url + path, json=json_body, data=form, headers=headers
            ) as response:
                status, body = response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError) as err:
            raise SmokeError(f"{method} {path} failed: {type(err).__name__} {err}") from err
        if status not in set(expect):
            raise SmokeError(f"{method} {path} answered HTTP {status}: {body[:300]}")
        try:
            return json.loads(body) if body else None
        except ValueError as err:
            raise SmokeError(f"{method} {path} answered no JSON: {body[:300]}") from err

    async def ws_command(self, command: Mapping[str, Any]) -> object:
        """Authenticate on the websocket API, send one command, return its result."""
        url = self.base_url.replace("http", "ws", 1) + "/api/websocket"
        try:
            async with self.session.ws_connect(url, timeout=aiohttp.ClientWSTimeout(30)) as ws:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    await ws.receive_json()  # auth_required
                    await ws.send_json({"type": "auth", "access_token": self.token})
                    if (answer := await ws.receive_json()).get("type") != "auth_ok":
                        raise SmokeError(f"websocket authentication: {answer.get('type')}")
                    await ws.send_json({"id": 1, **command})
                    answer = await ws.receive_json()
        except (aiohttp.ClientError, TimeoutError, TypeError, ValueError) as err:
            name = type(err).__name__
            raise SmokeError(f"websocket {command.get('type')} failed: {name} {err}") from err
        if not answer.get("success"):
            raise SmokeError(f"websocket {command.get('type')}: {answer.get('error')}")
        return answer.get("result")


def as_dict(value: object, what: str) -> dict[str, Any]:
    """Return a JSON object, or raise SmokeError naming what it should have been."""
    if not isinstance(value, dict):
        raise SmokeError(f"{what}: expected a JSON object, got {str(value)[:200]}")
    return value


async def poll[T](
    hass: HomeAssistant,
    what: str,
    limit: float,
    probe: Callable[[], Awaitable[T | None]],
) -> T:
    """Call probe until it returns something; fail when HA exits or after limit seconds."""
    last_error = ""
    try:
        async with asyncio.timeout(limit):
            while True:
                hass.check_alive()
                try:
                    if (result := await probe()) is not None:
                        return result
                except SmokeError as err:
                    last_error = f" (last: {err})"
                await asyncio.sleep(POLL_INTERVAL)
    except TimeoutError:
        raise SmokeError(f"{what}: not within {limit:.0f} s{last_error}") from None


def say(message: str) -> None:
    """Print progress."""
    print(f"smoke: {message}", flush=True)


class Smoke:
    """One smoke test run."""

    def __init__(self, args: argparse.Namespace) -> None:
        """Prepare the run from the command line's options."""
        self.args = args
        self.report = Report()
        self.simulator = make_simulator()
        self.config_dir = Path(tempfile.mkdtemp(prefix="ha-smoke-"))
        self.hass = HomeAssistant(self.config_dir, free_port())
        self.owner_password = secrets.token_urlsafe(24)
        self.secrets: set[str] = {DEMO_PASSWORD, self.owner_password}
        self.entry_created = 0.0

    def all_secrets(self) -> set[str]:
        """Return every secret known so far, with the simulator's session ids."""
        return self.secrets | set(self.simulator.accounts.sessions)

    async def run(self) -> Report:
        """Run every step, stop everything, scan the log; return the report."""
        begin = time.monotonic()
        try:
            async with asyncio.timeout(self.args.timeout):
                await self.steps()
        except TimeoutError:
            self.fail(f"gave up after {self.args.timeout:.0f} s in all")
        except SmokeError as err:
            self.fail(str(err))
        finally:
            await self.shut_down()
        if self.report.failures:
            self.report.log_tail = redact(self.hass.log_tail(), self.all_secrets())
        self.check_log()
        self.report.total = elapsed(begin)
        return self.report

    def fail(self, message: str) -> None:
        """Record a failure."""
        self.report.failures.append(redact(message, self.all_secrets()))

    async def steps(self) -> None:
        """Run steps 1 to 6."""
        simulator_url = await self.simulator.start(HOST, 0)
        origin = simulator_url.removesuffix(BASE_PATH)  # the integration adds the path
        say(f"Share simulator at {origin}; Home Assistant config in {self.config_dir}")
        await asyncio.to_thread(prepare_config, self.config_dir, self.hass.http_port)
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            api = Api(session, self.hass.base_url)
            await self.hass.start()
            say(f"started Home Assistant at {self.hass.base_url} ({sys.executable})")
            await self.wait_until_up(api)
            await self.onboard(api)
            await self.wait_until_running(api)
            entry_id = await self.add_entry(api, origin)
            await self.wait_for_state(api)
            await self.wait_for_statistics(api, entry_id)

    async def wait_until_up(self, api: Api) -> None:
        """Wait until the onboarding API answers, which needs the http server and onboarding."""

        async def probe() -> list[Any] | None:
            steps = await api.request("GET", "/api/onboarding")
            return steps if isinstance(steps, list) else None

        steps = await poll(self.hass, "the API of Home Assistant", self.args.start_timeout, probe)
        self.report.started = elapsed(self.hass.started_at)
        say(f"API answering after {self.report.started:.1f} s; onboarding {steps}")
        if {"step": "user", "done": False} not in steps:
            raise SmokeError(f"onboarding has no open user step: {steps}")

    async def onboard(self, api: Api) -> None:
        """Create the owner, as the frontend's onboarding does, and get an access token.

        Only the user step: the core_config step would set up met, radio_browser and
        google_translate, which go to the internet. The REST API needs no more.
        """
        client_id = f"{api.base_url}/"
        answer = as_dict(
            await api.request(
                "POST",
                "/api/onboarding/users",
                json_body={
                    "client_id": client_id,
                    "name": "Smoke Test",
                    "username": "smoke",
                    "password": self.owner_password,
                    "language": "en",
                },
            ),
            "onboarding",
        )
        code = str(answer.get("auth_code"))
        self.secrets.add(code)
        tokens = as_dict(
            await api.request(
                "POST",
                "/auth/token",
                form={"grant_type": "authorization_code", "code": code, "client_id": client_id},
            ),
            "token",
        )
        api.token = str(tokens.get("access_token"))
        self.secrets.update({api.token, str(tokens.get("refresh_token"))})
        say("onboarded: owner created, access token received")

    async def wait_until_running(self, api: Api) -> None:
        """Wait until Home Assistant's core state is RUNNING; note its version."""

        async def probe() -> dict[str, Any] | None:
            config = as_dict(await api.request("GET", "/api/config"), "config")
            return config if config.get("state") == "RUNNING" else None

        config = await poll(self.hass, "Home Assistant running", RUNNING_TIMEOUT, probe)
        self.report.running = elapsed(self.hass.started_at)
        self.report.ha_version = str(config.get("version"))
        say(f"Home Assistant {self.report.ha_version} running after {self.report.running:.1f} s")

    async def add_entry(self, api: Api, origin: str) -> str:
        """Add the demo account through the config flow as the UI does; return the entry id."""
        form = as_dict(
            await api.request(
                "POST", "/api/config/config_entries/flow", json_body={"handler": DOMAIN}
            ),
            "config flow",
        )
        if problems := form_problems(form):
            raise SmokeError(
                "the config flow's form: " + "; ".join(problems) + f"\n{json.dumps(form)[:1500]}"
            )
        say("config flow form: " + ", ".join(item["name"] for item in form["data_schema"]))
        result = as_dict(
            await api.request(
                "POST",
                f"/api/config/config_entries/flow/{form['flow_id']}",
                json_body=flow_input(origin),
            ),
            "config flow",
        )
        if result.get("type") != "create_entry":
            shown = {key: result.get(key) for key in ("type", "step_id", "errors", "reason")}
            raise SmokeError(f"the config flow did not create the entry: {shown}")
        self.entry_created = time.monotonic()
        entry_id = str(as_dict(result.get("result"), "created entry").get("entry_id"))
        say(f"config flow created entry {entry_id} ({result.get('title')})")
        return entry_id

    async def wait_for_state(self, api: Api) -> None:
        """Wait for a numeric glucose state; check it against the newest readings."""

        async def probe() -> float | None:
            state = as_dict(
                await api.request("GET", f"/api/states/{GLUCOSE_ENTITY}", expect=(200, 404)),
                GLUCOSE_ENTITY,
            )
            return numeric_state(state.get("state"))

        value = await poll(self.hass, f"a number in {GLUCOSE_ENTITY}", STATE_TIMEOUT, probe)
        self.report.first_state = elapsed(self.hass.started_at)
        self.report.after_entry = elapsed(self.entry_created)
        self.report.glucose = value
        readings = self.simulator.published_readings(DEMO_USERNAME)
        recent = [float(reading.value) for reading in readings[-RECENT_READINGS:]]
        say(f"{GLUCOSE_ENTITY} = {value:g} after {self.report.after_entry:.1f} s")
        if problems := glucose_problems(value, recent):
            raise SmokeError("; ".join(problems))

    async def wait_for_statistics(self, api: Api, entry_id: str) -> None:
        """Wait for the hourly glucose statistics imported from the last 24 hours."""
        statistic_id = f"{DOMAIN}:glucose_{entry_id.lower()}"
        start = datetime.now(UTC) - timedelta(hours=25)
        command = {
            "type": "recorder/statistics_during_period",
            "start_time": start.isoformat(),
            "statistic_ids": [statistic_id],
            "period": "hour",
            "types": ["mean", "min", "max"],
        }

        async def probe() -> list[dict[str, Any]] | None:
            result = as_dict(await api.ws_command(command), "statistics")
            rows = result.get(statistic_id) or []
            self.report.statistics_rows = len(rows)
            return rows if len(rows) >= MIN_STATISTICS_ROWS else None

        rows = await poll(
            self.hass,
            f"{MIN_STATISTICS_ROWS} hourly rows of {statistic_id}",
            STATISTICS_TIMEOUT,
            probe,
        )
        say(f"{len(rows)} hourly rows of {statistic_id}")
        if problems := statistics_problems(rows):
            raise SmokeError("statistics: " + "; ".join(problems[:5]))

    async def shut_down(self) -> None:
        """Step 7: stop Home Assistant and the simulator, whatever happened before."""
        failed_before = bool(self.report.failures)
        stopped, clean = await self.hass.stop()
        self.report.stopped = stopped
        # After a failed step, an exit code is noise (SIGTERM before HA's signal handlers are
        # in place ends it with -15); a stop that needs SIGKILL is a failure in any case.
        if not clean and (not failed_before or self.hass.killed):
            self.fail(f"Home Assistant {stopped}")
        say(f"Home Assistant stopped: {stopped}")
        try:
            async with asyncio.timeout(SIMULATOR_STOP_TIMEOUT):
                await self.simulator.stop()
        except TimeoutError:
            self.fail(f"the Share simulator did not stop within {SIMULATOR_STOP_TIMEOUT:.0f} s")

    def check_log(self) -> None:
        """Step 8: the integration's warnings and errors, and secrets, in the log."""
        log = read_text(self.hass.log_path)
        if not log and not self.report.failures:
            self.fail(f"no log at {self.hass.log_path}")
        records = parse_log(log)
        self.report.scan = scan_log(records)
        if log and not self.report.scan.counts:
            # The integration logs at DEBUG during setup and the loader names it at every
            # start: finding none of that means the log was not understood, not that it is clean.
            self.fail(
                f"no record of {DOMAIN} recognised in {self.hass.log_path} "
                f"({len(log.splitlines())} lines, {len(records)} records): has the format changed?"
            )
        for record in self.report.scan.failures:
            self.fail(f"{record.level} in the log: {tail(record.text, 15)}")
        share_secrets = {DEMO_PASSWORD, *self.simulator.accounts.sessions}
        if count := leaked(log, share_secrets):
            self.fail(f"the log holds the Share password or session ids ({count} of them)")

    def clean_up(self) -> None:
        """Remove the configuration folder unless --keep."""
        if self.args.keep:
            say(f"kept {self.config_dir}")
        else:
            if self.report.failures:
                say("removing the configuration and its log; --keep keeps them")
            shutil.rmtree(self.config_dir, ignore_errors=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m scripts.smoke",
        description="Smoke test of a real Home Assistant process with CGM Handler.",
    )
    parser.add_argument("--keep", action="store_true", help="keep the configuration folder")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds for the whole run before stopping (default {DEFAULT_TIMEOUT:.0f})",
    )
    parser.add_argument(
        "--start-timeout",
        type=float,
        default=DEFAULT_START_TIMEOUT,
        help="seconds for Home Assistant's API to answer, which on a first start includes "
        f"installing requirements (default {DEFAULT_START_TIMEOUT:.0f})",
    )
    return parser.parse_args(argv)


class Outcome(Protocol):
    """What a run reports: its lines and its failures."""

    failures: list[str]

    def lines(self) -> list[str]:
        """Return the report's lines."""
        ...


class Run(Protocol):
    """A test run against a real Home Assistant that cleans up after itself."""

    async def run(self) -> Outcome:
        """Run every step and return the report."""
        ...

    def clean_up(self) -> None:
        """Stop what the run started and remove what it wrote."""
        ...


async def run_until_done(test: Run) -> Outcome:
    """Run a test; SIGTERM stops it as Ctrl-C does, cleaning up first."""
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if task is not None:
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await test.run()
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        test.clean_up()


def run_and_report(name: str, test: Run) -> int:
    """Run a test, print its report and return the exit code."""
    try:
        report = asyncio.run(run_until_done(test))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print(f"{name}: interrupted", file=sys.stderr)
        return 1
    print("\n".join(report.lines()), flush=True)
    return 0 if not report.failures else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the smoke test and print its report; return the exit code."""
    return run_and_report("smoke", Smoke(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
