"""A live Home Assistant under test, shared by the smoke test, the browser test and the demo.

- configuration.yaml: what every configuration here starts with (configuration,
  throwaway_configuration, configuration_yaml) and the example dashboard (GLUCOSE_DASHBOARD);
- the Share simulator's demo account (demo_simulator);
- a Home Assistant process (HomeAssistant: start, stop), its REST and websocket APIs with
  onboarding (Api), bounded waits (poll);
- the scan of home-assistant.log (parse_log, scan_log) and the secrets in a text (leaked,
  redact);
- LiveTest, one run: the simulator and Home Assistant started on a throwaway configuration,
  timed steps, everything stopped, the log scanned, a report printed (run_and_report).

Only the standard library, aiohttp and PyYAML (which Home Assistant brings) are imported, so
any environment holding Home Assistant runs it. Every wait is bounded; neither passwords nor
tokens nor session ids are printed.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
import contextlib
from dataclasses import dataclass, field
from datetime import timedelta
import json
import math
import os
from pathlib import Path
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
from typing import Any, ClassVar, Final, Self

import aiohttp
import yaml

from scripts.share_simulator import BASE_PATH, ShareSimulator

ROOT: Final = Path(__file__).resolve().parent.parent
DOMAIN: Final = "cgm_handler"
INTEGRATION: Final = ROOT / "custom_components" / DOMAIN
INTEGRATION_LOGGER: Final = f"custom_components.{DOMAIN}"
HOST: Final = "127.0.0.1"
RESERVED_PORTS: Final = frozenset({8090, 8123})  # scripts/develop's simulator and HA

# The account `python -m scripts.share_simulator` serves.
DEMO_USERNAME: Final = "demo"
DEMO_PASSWORD: Final = "demo-password"  # noqa: S105 - the simulator's public demo password
DEMO_SEED: Final = "0"
GLUCOSE_ENTITY: Final = f"sensor.{DEMO_USERNAME}_glucose"

# The example dashboard (docs/dashboard.yaml), as a configuration names it.
DASHBOARD_URL_PATH: Final = "dashboard-glucose"
DASHBOARD_FILE: Final = "glucose-dashboard.yaml"
GLUCOSE_DASHBOARD: Final = {
    "dashboards": {
        DASHBOARD_URL_PATH: {
            "mode": "yaml",
            "filename": DASHBOARD_FILE,
            "title": "Glucose",
            "icon": "mdi:water",
            "show_in_sidebar": True,
        }
    }
}

STEP_TIMEOUT: Final = 120.0
WAIT_TIMEOUT: Final = 60.0
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


class LiveTestError(Exception):
    """A step against the live Home Assistant failed; the message says which and why."""


# --- configuration.yaml ----------------------------------------------------------------------


class Include(str):
    """A value written as `!include file` in configuration.yaml."""

    __slots__ = ()


class ConfigDumper(yaml.SafeDumper):
    """Writes configuration.yaml: an empty value as `key:`, Include as `!include file`."""

    def choose_scalar_style(self) -> str:
        """Leave the file name of !include unquoted."""
        if self.event.tag == "!include":
            return ""
        return str(super().choose_scalar_style())


ConfigDumper.add_representer(
    type(None), lambda dumper, _: dumper.represent_scalar("tag:yaml.org,2002:null", "")
)
ConfigDumper.add_representer(
    Include, lambda dumper, value: dumper.represent_scalar("!include", str(value))
)


def configuration(name: str, **core: object) -> dict[str, Any]:
    """Return what every configuration here starts with: its name and the integration's log.

    core holds further settings of the homeassistant section.
    """
    return {
        "homeassistant": {"name": name, **core},
        "logger": {"default": "info", "logs": {INTEGRATION_LOGGER: "debug"}},
    }


def throwaway_configuration(name: str, config_dir: Path, http_port: int) -> dict[str, Any]:
    """Return the configuration of a throwaway Home Assistant under test.

    No default_config: it would set up integrations that go out to the internet (go2rtc,
    cloud, radio browser...). frontend (which Home Assistant sets up by default anyway)
    depends on api, auth, config, onboarding and websocket_api; the four the tests use are
    named all the same. The location is fixed, so nothing is detected. The recorder is
    SQLite in the folder, committing every second.
    """
    location = {"latitude": 40.7128, "longitude": -74.0060, "elevation": 10}
    units = {"unit_system": "metric", "time_zone": "UTC", "country": "US", "currency": "USD"}
    config = configuration(name, **location, **units, language="en")
    config["http"] = {"server_host": HOST, "server_port": http_port}
    config.update(dict.fromkeys(("frontend", "api", "config", "onboarding")))
    config["recorder"] = {
        "db_url": f"sqlite:///{config_dir / 'home-assistant_v2.db'}",
        "commit_interval": 1,
    }
    return config


def configuration_yaml(written_by: str, config: Mapping[str, Any]) -> str:
    """Return configuration.yaml's text: a comment naming what wrote it, then the config."""
    text = yaml.dump(dict(config), Dumper=ConfigDumper, sort_keys=False)
    return f"# Written by {written_by}.\n{text}"


# --- the Share simulator ---------------------------------------------------------------------


def demo_simulator(history: timedelta = timedelta(days=2), seed: str = DEMO_SEED) -> ShareSimulator:
    """Return the simulator with the demo account of `python -m scripts.share_simulator`.

    Its readings go back the given history; the same seed gives the same account id and the
    same readings.
    """
    simulator = ShareSimulator(region="us", seed=seed)
    now = simulator.now()
    simulator.add_account(
        DEMO_USERNAME,
        DEMO_PASSWORD,
        history=history,
        sensor_start=now - timedelta(days=2),  # last warm-up is just out of the 24 h view
        signal_loss_chance=0.3,
    )
    return simulator


# --- home-assistant.log ----------------------------------------------------------------------


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

    def caused_by(self, tolerated: Iterable[tuple[str, str]]) -> bool:
        """Tell whether a test caused this on purpose: (logger prefix, message prefix) pairs."""
        return any(
            self.logger.startswith(logger) and self.message.startswith(message)
            for logger, message in tolerated
        )

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


def scan_log(records: Iterable[LogRecord], tolerated: Iterable[tuple[str, str]] = ()) -> LogScan:
    """Count the records of or about cgm_handler; collect those at WARNING or above.

    tolerated: (logger prefix, message prefix) of records a test caused on purpose.
    """
    scan = LogScan()
    tolerated = tuple(tolerated)
    for record in records:
        if not record.concerns_integration:
            continue
        scan.counts[record.level] += 1
        if record.level in FAILING_LEVELS:
            exempt = record.exempt or record.caused_by(tolerated)
            (scan.exempted if exempt else scan.failures).append(record)
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


def read_text(path: Path) -> str:
    """Return a file's text, or nothing when it does not exist."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


# --- the process and its APIs ----------------------------------------------------------------


def numeric_state(state: str | None) -> float | None:
    """Return an entity state as a finite number, or None (unknown, unavailable...)."""
    try:
        value = float(state) if state is not None else math.nan
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def free_port() -> int:
    """Return a loopback TCP port that is free right now (not one of scripts/develop's)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((HOST, 0))
            port: int = probe.getsockname()[1]
        if port not in RESERVED_PORTS:
            return port


def elapsed(since: float) -> float:
    """Return the seconds since a time.monotonic() instant."""
    return time.monotonic() - since


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
        default, or e.g. scripts/in-env with another venv; extra_args go to Home Assistant.
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
        """Raise LiveTestError when the process has exited."""
        if self.process is not None and self.process.returncode is not None:
            raise LiveTestError(f"Home Assistant exited with code {self.process.returncode}")

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


def as_dict(value: object, what: str) -> dict[str, Any]:
    """Return a JSON object, or raise LiveTestError naming what it should have been."""
    if not isinstance(value, dict):
        raise LiveTestError(f"{what}: expected a JSON object, got {str(value)[:200]}")
    return value


class Api:
    """Home Assistant's REST and websocket APIs; `async with` opens and closes its session."""

    def __init__(self, base_url: str) -> None:
        """Talk to the server at base_url; token is set by onboard() or by hand."""
        self.base_url = base_url
        self.token: str | None = None
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        """Open the HTTP session."""
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT))
        return self

    async def __aexit__(self, *_: object) -> None:
        """Close the HTTP session."""
        if self.session is not None:
            await self.session.close()
            self.session = None

    def open_session(self) -> aiohttp.ClientSession:
        """Return the session, or raise LiveTestError outside `async with`."""
        if self.session is None:
            raise LiveTestError("the API client is not open")
        return self.session

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        form: Mapping[str, str] | None = None,
        expect: Iterable[int] = (200,),
    ) -> object:
        """Send a request; return the decoded JSON answer or raise LiveTestError."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            async with self.open_session().request(
                method, self.base_url + path, json=json_body, data=form, headers=headers
            ) as response:
                status, body = response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError) as err:
            raise LiveTestError(f"{method} {path} failed: {type(err).__name__} {err}") from err
        if status not in set(expect):
            raise LiveTestError(f"{method} {path} answered HTTP {status}: {body[:300]}")
        try:
            return json.loads(body) if body else None
        except ValueError as err:
            raise LiveTestError(f"{method} {path} answered no JSON: {body[:300]}") from err

    async def ws_command(self, command: Mapping[str, Any]) -> object:
        """Authenticate on the websocket API, send one command, return its result."""
        url = self.base_url.replace("http", "ws", 1) + "/api/websocket"
        ws_timeout = aiohttp.ClientWSTimeout(ws_receive=REQUEST_TIMEOUT)
        try:
            async with self.open_session().ws_connect(url, timeout=ws_timeout) as ws:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    await ws.receive_json()  # auth_required
                    await ws.send_json({"type": "auth", "access_token": self.token})
                    if (answer := await ws.receive_json()).get("type") != "auth_ok":
                        raise LiveTestError(f"websocket authentication: {answer.get('type')}")
                    await ws.send_json({"id": 1, **command})
                    answer = await ws.receive_json()
        except (aiohttp.ClientError, TimeoutError, TypeError, ValueError) as err:
            name = type(err).__name__
            raise LiveTestError(f"websocket {command.get('type')} failed: {name} {err}") from err
        if not answer.get("success"):
            raise LiveTestError(f"websocket {command.get('type')}: {answer.get('error')}")
        return answer.get("result")

    async def state(self, entity_id: str) -> dict[str, Any]:
        """Return an entity's state object; empty while the entity does not exist."""
        answer = await self.request("GET", f"/api/states/{entity_id}", expect=(200, 404))
        state = as_dict(answer, entity_id)
        return state if "entity_id" in state else {}

    async def onboard(self, name: str, username: str, password: str) -> set[str]:
        """Create the owner, as the frontend's onboarding does, and take its access token.

        Only the user step: the core_config step would set up met, radio_browser and
        google_translate, which go to the internet. The REST API needs no more. Returns the
        secrets it received (authorization code and tokens).
        """
        client_id = f"{self.base_url}/"
        owner = {"name": name, "username": username, "password": password, "language": "en"}
        answer = await self.request(
            "POST", "/api/onboarding/users", json_body={"client_id": client_id, **owner}
        )
        code = str(as_dict(answer, "onboarding").get("auth_code"))
        form = {"grant_type": "authorization_code", "code": code, "client_id": client_id}
        tokens = as_dict(await self.request("POST", "/auth/token", form=form), "token")
        self.token = str(tokens.get("access_token"))
        return {code, self.token, str(tokens.get("refresh_token"))}


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
                except LiveTestError as err:
                    last_error = f" (last: {err})"
                await asyncio.sleep(POLL_INTERVAL)
    except TimeoutError:
        raise LiveTestError(f"{what}: not within {limit:.0f} s{last_error}") from None


# --- one run ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Report:
    """What a run found; printed at the end."""

    title: str | None = None
    """The first line, e.g. the versions of Home Assistant and Python."""
    steps: list[tuple[str, float, str]] = field(default_factory=list)
    """Each step's name, seconds and what it did (FAILED when it failed)."""
    stopped: str = "not started"
    scan: LogScan = field(default_factory=LogScan)
    failures: list[str] = field(default_factory=list)
    total: float | None = None
    log_tail: str | None = None
    """The end of Home Assistant's log, when something failed."""

    def details(self) -> list[str]:
        """Return the lines a test adds after its steps."""
        return []

    def lines(self) -> list[str]:
        """Return the report's lines."""
        counts = ", ".join(f"{level} {self.scan.counts[level]}" for level in LEVELS)
        lines = [self.title] if self.title else []
        lines += [f"  {name:<22} {seconds:6.1f} s  {what}" for name, seconds, what in self.steps]
        lines += self.details()
        lines.append(f"  stopped                {self.stopped}")
        lines.append(f"  cgm_handler records    {counts}")
        lines += [
            f"  exempted: [{record.logger}] {record.message[:100]}" for record in self.scan.exempted
        ]
        lines.append(f"  whole run              {self.total or 0:.1f} s")
        if self.log_tail is not None:
            lines += ["--- end of the Home Assistant log ---", self.log_tail, "---"]
        lines += [f"  FAILED: {failure}" for failure in self.failures]
        lines.append("PASS" if not self.failures else "FAIL")
        return lines


def parser(prog: str, description: str, timeout: float) -> argparse.ArgumentParser:
    """Return a command line parser with the options every LiveTest takes."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--keep", action="store_true", help="keep the configuration folder")
    parser.add_argument(
        "--timeout",
        type=float,
        default=timeout,
        help=f"seconds for the whole run before stopping (default {timeout:.0f})",
    )
    parser.add_argument(
        "--start-timeout",
        type=float,
        default=240.0,
        help="seconds for Home Assistant's API to answer, which on a first start may include "
        "installing requirements (default 240)",
    )
    parser.add_argument(
        "--integration",
        type=Path,
        default=INTEGRATION,
        help="the integration's folder to test (default: this repository's), e.g. a copy "
        "with a deliberate fault, to see the test catch it",
    )
    return parser


class LiveTest:
    """One run against a live Home Assistant and the Share simulator.

    run() starts both on a throwaway configuration (the step "start"), runs the subclass's
    steps(), stops both, scans home-assistant.log and returns the report. A subclass names
    itself and writes steps() as a list of self.step(name, coroutine) calls.
    """

    name: ClassVar[str] = "live"
    """The prefix of progress lines and of the configuration folder."""
    errors: ClassVar[tuple[type[Exception], ...]] = (LiveTestError,)
    """What a failing step raises."""
    ha_args: ClassVar[tuple[str, ...]] = ()
    """Arguments for Home Assistant."""

    def __init__(self, args: argparse.Namespace) -> None:
        """Prepare the run from the command line's options (see parser)."""
        self.args = args
        self.report = self.new_report()
        self.simulator = demo_simulator()
        self.config_dir = Path(tempfile.mkdtemp(prefix=f"ha-{self.name}-"))
        self.hass = HomeAssistant(self.config_dir, free_port(), self.python(), self.ha_args)
        self.api = Api(self.hass.base_url)
        self.simulator_origin = ""
        """The simulator's address, as typed into the config flow; set by start()."""
        self.entry_id = ""
        """CGM Handler's entry, once a step added it."""
        self.secrets: set[str] = {DEMO_PASSWORD}
        self.tolerated: list[tuple[str, str]] = []
        """Records a step causes on purpose (see scan_log)."""

    def new_report(self) -> Report:
        """Return the run's empty report."""
        return Report()

    def python(self) -> Sequence[str]:
        """Return the command that runs the Python holding Home Assistant: this one."""
        return (sys.executable,)

    def say(self, message: str) -> None:
        """Print progress."""
        print(f"{self.name}: {message}", flush=True)

    def all_secrets(self) -> set[str]:
        """Return every secret known so far, with the simulator's session ids."""
        return self.secrets | set(self.simulator.accounts.sessions)

    def fail(self, message: str) -> None:
        """Record a failure, secrets redacted."""
        self.report.failures.append(redact(message, self.all_secrets()))

    async def run(self) -> Report:
        """Start, run the steps, stop everything, scan the log; return the report."""
        begin = time.monotonic()
        try:
            async with asyncio.timeout(self.args.timeout), self.api:
                await self.step("start", self.start(), limit=None)
                await self.steps()
        except TimeoutError:
            self.fail(f"gave up after {self.args.timeout:.0f} s in all")
        except self.errors as err:
            self.fail(str(err).strip())
        finally:
            await self.shut_down()
        if self.report.failures:
            self.report.log_tail = redact(self.hass.log_tail(), self.all_secrets())
        self.check_log()
        self.report.total = elapsed(begin)
        return self.report

    async def steps(self) -> None:
        """Run the test's steps, each as self.step(name, coroutine)."""
        raise NotImplementedError

    async def step(
        self, name: str, work: Awaitable[str], limit: float | None = STEP_TIMEOUT
    ) -> None:
        """Run one step, timed and bounded by limit seconds (None: by its own waits).

        The step returns what it did, for the report.
        """
        begin = time.monotonic()
        self.say(f"step {name}")
        try:
            async with asyncio.timeout(limit):
                what = await work
        except TimeoutError:
            reason = f"not done within {limit:.0f} s" if limit else "timed out"
            raise self.step_failed(name, begin, reason) from None
        except self.errors as err:
            raise self.step_failed(name, begin, str(err).strip()[:1500]) from err
        self.report.steps.append((name, elapsed(begin), what))
        self.say(f"step {name} passed: {what}")

    def step_failed(self, name: str, begin: float, reason: str) -> LiveTestError:
        """Note the step as failed in the report; return the error to raise."""
        self.report.steps.append((name, elapsed(begin), "FAILED"))
        return LiveTestError(f"step {name}: {reason}")

    async def start(self) -> str:
        """Start the simulator and Home Assistant on a new configuration; wait for the API."""
        simulator_url = await self.simulator.start(HOST, 0)
        self.simulator_origin = simulator_url.removesuffix(BASE_PATH)  # the integration adds it
        await asyncio.to_thread(self.prepare_config)
        self.say(f"Share simulator at {self.simulator_origin}; config in {self.config_dir}")
        await self.hass.start()
        self.say(f"started Home Assistant at {self.hass.base_url} ({' '.join(self.python())})")

        async def probe() -> list[Any] | None:
            steps = await self.api.request("GET", "/api/onboarding")
            return steps if isinstance(steps, list) else None

        limit = self.args.start_timeout
        await poll(self.hass, "the API of Home Assistant", limit, probe)
        return f"the API answers at {self.hass.base_url}"

    def configuration(self) -> dict[str, Any]:
        """Return the configuration to run Home Assistant with."""
        name = f"CGM Handler {self.name} test"
        return throwaway_configuration(name, self.config_dir, self.hass.http_port)

    def prepare_config(self) -> None:
        """Write configuration.yaml and link the integration into custom_components."""
        written_by = f"scripts/{self.name} for one run; deleted afterwards unless --keep"
        text = configuration_yaml(written_by, self.configuration())
        (self.config_dir / "configuration.yaml").write_text(text, encoding="utf-8")
        custom = self.config_dir / "custom_components"
        custom.mkdir()
        (custom / DOMAIN).symlink_to(Path(self.args.integration).resolve())

    async def wait_for[T](
        self, what: str, probe: Callable[[], Awaitable[T | None]], limit: float = WAIT_TIMEOUT
    ) -> T:
        """Call probe until it returns something; fail when HA exits or after limit seconds."""
        return await poll(self.hass, what, limit, probe)

    async def shut_down(self) -> None:
        """Stop Home Assistant and the simulator, whatever happened before."""
        failed_before = bool(self.report.failures)
        stopped, clean = await self.hass.stop()
        self.report.stopped = stopped
        # After a failed step, an exit code is noise (SIGTERM before HA's signal handlers are
        # in place ends it with -15); a stop that needs SIGKILL is a failure in any case.
        if not clean and (not failed_before or self.hass.killed):
            self.fail(f"Home Assistant {stopped}")
        self.say(f"Home Assistant stopped: {stopped}")
        try:
            async with asyncio.timeout(SIMULATOR_STOP_TIMEOUT):
                await self.simulator.stop()
        except TimeoutError:
            self.fail(f"the Share simulator did not stop within {SIMULATOR_STOP_TIMEOUT:.0f} s")

    def check_log(self) -> None:
        """Fail on warnings and errors of or about cgm_handler, and secrets, in the log."""
        log = read_text(self.hass.log_path)
        if not log and not self.report.failures:
            self.fail(f"no log at {self.hass.log_path}")
        records = parse_log(log)
        self.report.scan = scan_log(records, self.tolerated)
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
            self.say(f"kept {self.config_dir}")
            return
        if self.report.failures:
            self.say("removing the configuration and its log; --keep keeps them")
        shutil.rmtree(self.config_dir, ignore_errors=True)


async def run_until_done(test: LiveTest) -> Report:
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


def run_and_report(test: LiveTest) -> int:
    """Run a test, print its report and return the exit code."""
    try:
        report = asyncio.run(run_until_done(test))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print(f"{test.name}: interrupted", file=sys.stderr)
        return 1
    print("\n".join(report.lines()), flush=True)
    return 0 if not report.failures else 1
