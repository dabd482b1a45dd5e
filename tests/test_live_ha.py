"""scripts/live_ha.py: the configuration, the process, the log scan and the run's checks.

The smoke and browser tests run on it against a real Home Assistant (not here); here its
parts run on their own, the process part with a stand-in process.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterator
from pathlib import Path
import shutil
import sys

import pytest
import yaml

from scripts import live_ha
from scripts.live_ha import (
    DEMO_PASSWORD,
    HomeAssistant,
    LiveTest,
    LogScan,
    Report,
    configuration_yaml,
    leaked,
    numeric_state,
    parse_log,
    redact,
    scan_log,
    throwaway_configuration,
)

LOADER_NOTICE = (
    "2026-03-01 12:00:00.123 WARNING (SyncWorker_0) [homeassistant.loader] We found a custom "
    "integration cgm_handler which has not been tested by Home Assistant. This component "
    "might cause stability problems, be sure to disable it if you experience issues with "
    "Home Assistant"
)
# A stand-in for `python -m homeassistant`: says it is ready, then waits for SIGTERM, which
# it obeys (exit 0) or ignores.
STAND_IN = """
import pathlib, signal, sys, time
signal.signal(signal.SIGTERM, {handler})
pathlib.Path("ready").write_text("ready")
time.sleep(30)
"""
OBEYS = STAND_IN.format(handler="lambda *_: sys.exit(0)")
IGNORES = STAND_IN.format(handler="signal.SIG_IGN")


def line(level: str, logger: str, message: str, thread: str = "MainThread") -> str:
    """Return one line of home-assistant.log."""
    return f"2026-03-01 12:00:00.001 {level} ({thread}) [{logger}] {message}"


class Run(LiveTest):
    """A run without steps, on a fixed port (no socket is opened here)."""

    name = "unit"

    async def steps(self) -> None:
        """No steps."""


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch) -> Iterator[Run]:
    """Return a run whose configuration folder goes away afterwards."""
    monkeypatch.setattr(live_ha, "free_port", lambda: 41234)
    args = argparse.Namespace(keep=False, timeout=10, start_timeout=5, integration=Path())
    test = Run(args)
    yield test
    shutil.rmtree(test.config_dir, ignore_errors=True)


def test_the_throwaway_configuration_has_no_default_config(tmp_path: Path) -> None:
    text = configuration_yaml("a test", throwaway_configuration("T", tmp_path, 41234))
    assert text.startswith("# Written by a test.\n")
    config = yaml.safe_load(text)
    assert "default_config" not in config
    assert {"frontend", "api", "config", "onboarding", "recorder", "logger"} <= config.keys()
    assert config["frontend"] is None
    assert config["homeassistant"]["name"] == "T"
    assert config["http"] == {"server_host": "127.0.0.1", "server_port": 41234}
    assert config["recorder"]["db_url"] == f"sqlite:///{tmp_path}/home-assistant_v2.db"
    assert config["logger"]["logs"] == {"custom_components.cgm_handler": "debug"}


def test_an_include_is_written_as_home_assistant_reads_it() -> None:
    config = {"default_config": None, "automation": live_ha.Include("automations.yaml")}
    text = configuration_yaml("a test", config)
    assert text.splitlines()[1:] == ["default_config:", "automation: !include automations.yaml"]


@pytest.mark.parametrize(
    ("state", "expected"),
    [("123", 123.0), ("5.6", 5.6), ("unknown", None), ("unavailable", None), (None, None)],
)
def test_numeric_state(state: str | None, expected: float | None) -> None:
    assert numeric_state(state) == expected
    assert numeric_state("nan") is None
    assert numeric_state("inf") is None


def test_parse_log_keeps_tracebacks_with_their_record() -> None:
    lines = [
        "stray line before the first record",
        line("INFO", "homeassistant.setup", "Setting up http"),
        line("ERROR", "homeassistant.helpers.entity", "Boom", thread="Thread-3 (run)"),
        "Traceback (most recent call last):",
        '  File "/config/custom_components/cgm_handler/sensor.py", line 1, in x',
        "ValueError: x",
    ]
    first, second = parse_log("\n".join(lines))
    assert (first.level, first.logger, first.message) == (
        "INFO",
        "homeassistant.setup",
        "Setting up http",
    )
    assert (second.level, second.logger, second.message) == (
        "ERROR",
        "homeassistant.helpers.entity",
        "Boom",
    )
    assert second.lines == tuple(lines[2:])
    assert second.concerns_integration
    assert not first.concerns_integration


@pytest.mark.parametrize(
    "stamp",
    ["2026-03-01 12:00:00.001", "2026-03-01 12:00:00.001+00:00", "2026-03-01 12:00:00,001-0500"],
)
def test_parse_log_reads_the_time_formats(stamp: str) -> None:
    """2026.11 writes the UTC offset after the time."""
    [record] = parse_log(f"{stamp} WARNING (MainThread) [custom_components.cgm_handler] Slow")
    assert (record.level, record.logger, record.message) == (
        "WARNING",
        "custom_components.cgm_handler",
        "Slow",
    )


def test_scan_log_exempts_only_the_loader_notice() -> None:
    untested = "We found a custom integration {} which has not been tested by Home Assistant."
    lines = [
        LOADER_NOTICE,
        line("DEBUG", "custom_components.cgm_handler", "Fetched"),
        line("INFO", "homeassistant.setup", "Setting up cgm_handler"),
        line("WARNING", "custom_components.cgm_handler.share.client", "Slow"),
        line("WARNING", "homeassistant.helpers.frame", "cgm_handler calls a deprecated function"),
        line("ERROR", "homeassistant.loader", untested.format("cgm_handler")),
        line("WARNING", "homeassistant.loader", untested.format("cgm_handler_x")),
        line("WARNING", "homeassistant.components.http", "Unrelated"),
        line("CRITICAL", "custom_components.cgm_handler", "Bad"),
    ]
    scan = scan_log(parse_log("\n".join(lines)))
    assert [record.message[:40] for record in scan.exempted] == [
        "We found a custom integration cgm_handle"
    ]
    assert [record.logger for record in scan.failures] == [
        "custom_components.cgm_handler.share.client",
        "homeassistant.helpers.frame",
        "homeassistant.loader",
        "homeassistant.loader",
        "custom_components.cgm_handler",
    ]
    assert scan.counts == {"DEBUG": 1, "INFO": 1, "WARNING": 4, "ERROR": 1, "CRITICAL": 1}


def test_scan_log_tolerates_only_what_a_step_caused() -> None:
    """Records matching a (logger, message) prefix pair are exempt; the rest still fail."""
    lines = [
        line("ERROR", "homeassistant.components.recorder.core", "Unhandled error, cgm_handler"),
        line("WARNING", "custom_components.cgm_handler", "The statistics are not written yet"),
        line("WARNING", "custom_components.cgm_handler", "Something else"),
    ]
    tolerated = [
        ("homeassistant.components.recorder", ""),
        ("custom_components.cgm_handler", "The statistics are not written yet"),
    ]
    scan = scan_log(parse_log("\n".join(lines)), tolerated)
    assert [record.message for record in scan.failures] == ["Something else"]
    assert len(scan.exempted) == 2
    assert len(scan_log(parse_log("\n".join(lines))).failures) == 3


def test_the_notice_with_a_traceback_is_not_exempt() -> None:
    scan = scan_log(parse_log(f"{LOADER_NOTICE}\nTraceback (most recent call last):"))
    assert not scan.exempted
    assert len(scan.failures) == 1


def test_secrets_are_redacted_and_counted() -> None:
    session = "0d7e8f43-5a9b-4e1c-8f3d-2b6a7c9e1f04"
    text = f"password demo-password, session {session}, again {session}"
    assert redact(text, {DEMO_PASSWORD, session, ""}) == "password ***, session ***, again ***"
    assert leaked(text, [DEMO_PASSWORD, session, session, "other"]) == 2
    assert leaked("clean", [DEMO_PASSWORD]) == 0


def test_report_lines() -> None:
    report = Report(title="Home Assistant 2026.2.3, Python 3.13.5")
    report.steps += [("start", 4.5, "the API answers"), ("statistics", 12.25, "25 hourly rows")]
    report.stopped = "in 0.8 s, exit code 0"
    report.scan = scan_log(parse_log(LOADER_NOTICE))
    lines = report.lines()
    assert lines[:3] == [
        "Home Assistant 2026.2.3, Python 3.13.5",
        "  start                     4.5 s  the API answers",
        "  statistics               12.2 s  25 hourly rows",
    ]
    assert "  stopped                in 0.8 s, exit code 0" in lines
    assert "  cgm_handler records    DEBUG 0, INFO 0, WARNING 1, ERROR 0, CRITICAL 0" in lines
    assert lines[-1] == "PASS"
    report.failures.append("something")
    report.scan = LogScan()
    assert report.lines()[-2:] == ["  FAILED: something", "FAIL"]


async def started(stand_in: str, folder: Path) -> HomeAssistant:
    """Start the stand-in as Home Assistant would be started; return once it is ready."""
    hass = HomeAssistant(folder, 41234, (sys.executable, "-c", stand_in))
    await hass.start()
    for _ in range(200):  # up to 10 s
        if (folder / "ready").exists():
            return hass
        await asyncio.sleep(0.05)
    raise AssertionError("the stand-in did not start")


async def test_a_process_that_obeys_sigterm_stops_cleanly(tmp_path: Path) -> None:
    hass = await started(OBEYS, tmp_path)
    stopped, clean = await hass.stop()
    assert clean
    assert stopped.endswith("exit code 0")
    assert not hass.killed


async def test_a_process_that_ignores_sigterm_is_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_ha, "STOP_TIMEOUT", 0.5)
    hass = await started(IGNORES, tmp_path)
    stopped, clean = await hass.stop()
    assert (stopped, clean) == ("did not stop within 0 s; killed", False)
    assert hass.killed
    with pytest.raises(live_ha.LiveTestError, match="exited with code -9"):
        hass.check_alive()


async def test_a_slow_simulator_is_a_failure(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both tests once differed here: the browser test ignored a simulator that hung."""
    monkeypatch.setattr(live_ha, "SIMULATOR_STOP_TIMEOUT", 0.05)

    async def hangs() -> None:
        await asyncio.sleep(5)

    monkeypatch.setattr(run.simulator, "stop", hangs)
    await run.shut_down()
    assert run.report.stopped == "not started"
    assert run.report.failures == ["the Share simulator did not stop within 0 s"]


def test_a_log_in_another_format_is_a_failure(run: Run) -> None:
    """Both tests once differed here: the browser test passed a log it could not read."""
    run.hass.log_path.write_text('{"level": "info", "msg": "cgm_handler set up"}\n')
    run.check_log()
    assert len(run.report.failures) == 1
    assert run.report.failures[0].endswith("(1 lines, 0 records): has the format changed?")


def test_the_log_check(run: Run) -> None:
    run.check_log()
    assert run.report.failures == [f"no log at {run.hass.log_path}"]
    run.report.failures.clear()
    run.hass.log_path.write_text(LOADER_NOTICE + "\n")
    run.check_log()
    assert run.report.failures == []
    assert run.report.scan.counts == {"WARNING": 1}
    run.hass.log_path.write_text(
        "\n".join(
            [
                LOADER_NOTICE,
                line("ERROR", "custom_components.cgm_handler", f"Bad {DEMO_PASSWORD}"),
            ]
        )
    )
    run.check_log()
    error = "2026-03-01 12:00:00.001 ERROR (MainThread) [custom_components.cgm_handler] Bad ***"
    assert run.report.failures == [
        f"ERROR in the log: {error}",
        "the log holds the Share password or session ids (1 of them)",
    ]
