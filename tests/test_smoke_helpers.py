"""The pure helpers of scripts/smoke.py, which runs a real Home Assistant (not here)."""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
import yaml

from custom_components.cgm_handler.const import DOMAIN
from scripts.smoke import (
    DEMO_PASSWORD,
    LogScan,
    Report,
    configuration_yaml,
    flow_input,
    form_problems,
    glucose_problems,
    leaked,
    numeric_state,
    parse_log,
    redact,
    scan_log,
    statistics_problems,
)

NEW_FORM: dict[str, Any] = {
    "type": "form",
    "flow_id": "abc",
    "step_id": "user",
    "data_schema": [
        {"name": "username", "required": True, "selector": {"text": {}}},
        {"name": "password", "required": True, "selector": {"text": {"type": "password"}}},
        {"name": "region", "required": True, "default": "us", "selector": {"select": {}}},
        {"name": "unit", "optional": True, "selector": {"select": {}}},
        {
            "name": "advanced",
            "optional": True,
            "type": "expandable",
            "schema": [{"name": "server_url", "optional": True, "selector": {"text": {}}}],
            "expanded": False,
        },
    ],
}
LOADER_NOTICE = (
    "2026-03-01 12:00:00.123 WARNING (SyncWorker_0) [homeassistant.loader] We found a custom "
    "integration cgm_handler which has not been tested by Home Assistant. This component "
    "might cause stability problems, be sure to disable it if you experience issues with "
    "Home Assistant"
)


def test_configuration_is_yaml_without_default_config(tmp_path: Path) -> None:
    config = yaml.safe_load(configuration_yaml(tmp_path, 41234))
    assert "default_config" not in config
    assert {"frontend", "api", "config", "onboarding", "recorder", "logger"} <= config.keys()
    assert config["http"] == {"server_host": "127.0.0.1", "server_port": 41234}
    assert config["recorder"]["db_url"] == f"sqlite:///{tmp_path}/home-assistant_v2.db"
    assert config["logger"]["logs"] == {"custom_components.cgm_handler": "debug"}


def test_flow_input_puts_the_server_in_the_section() -> None:
    assert flow_input("http://127.0.0.1:5000") == {
        "username": "demo",
        "password": DEMO_PASSWORD,
        "region": "us",
        "unit": "mg/dL",
        "advanced": {"server_url": "http://127.0.0.1:5000"},
    }


def test_the_new_form_passes() -> None:
    assert form_problems(NEW_FORM) == []
    options_form = {
        **NEW_FORM,
        "data_schema": [
            *NEW_FORM["data_schema"][:4],
            {**NEW_FORM["data_schema"][4], "expanded": None, "options": {"collapsed": True}},
        ],
    }
    assert form_problems(options_form) == []


def test_the_old_form_is_named() -> None:
    old = {
        **NEW_FORM,
        "data_schema": [
            *NEW_FORM["data_schema"][:4],
            {"name": "server_url", "optional": True, "selector": {"text": {}}},
        ],
    }
    assert form_problems(old) == [
        "server_url is a top-level field, not in a section 'advanced': this is the old config flow"
    ]
    basic = {**NEW_FORM, "data_schema": NEW_FORM["data_schema"][:4]}
    assert form_problems(basic) == ["the form has no section 'advanced'"]


def test_form_problems_are_listed() -> None:
    section = {**NEW_FORM["data_schema"][4], "expanded": True, "schema": []}
    form = {**NEW_FORM, "data_schema": [NEW_FORM["data_schema"][0], section]}
    assert form_problems(form) == [
        "the form has no field 'password'",
        "the form has no field 'region'",
        "the form has no field 'unit'",
        "the section 'advanced' is not collapsed",
        "the section 'advanced' has no field 'server_url'",
    ]
    assert form_problems({"type": "abort", "reason": "x"}) == [
        "the flow answered 'abort' instead of a form"
    ]


async def test_the_integrations_form_passes(
    hass: HomeAssistant, hass_client: ClientSessionGenerator
) -> None:
    """The form as the smoke test gets it: over the REST API of the config component."""
    assert await async_setup_component(hass, "config", {})
    client = await hass_client()
    response = await client.post("/api/config/config_entries/flow", json={"handler": DOMAIN})
    assert response.status == HTTPStatus.OK
    assert form_problems(await response.json()) == []


@pytest.mark.parametrize(
    ("state", "expected"),
    [("123", 123.0), ("5.6", 5.6), ("unknown", None), ("unavailable", None), (None, None)],
)
def test_numeric_state(state: str | None, expected: float | None) -> None:
    assert numeric_state(state) == expected
    assert numeric_state("nan") is None
    assert numeric_state("inf") is None


def test_glucose_problems() -> None:
    assert glucose_problems(120, [110, 115, 120]) == []
    assert glucose_problems(120, []) == []
    assert glucose_problems(120, [110, 115]) == [
        "sensor.demo_glucose is 120, not a newest reading (110, 115)"
    ]
    assert glucose_problems(39, [39]) == []
    assert glucose_problems(6.5, [6.5]) == ["sensor.demo_glucose is 6.5, outside 39-401 mg/dL"]


def test_statistics_problems() -> None:
    good = {"start": 1772366400000, "mean": 120.5, "min": 90, "max": 150}
    assert statistics_problems([good, {**good, "min": 39, "max": 401}]) == []
    assert statistics_problems(
        [
            {**good, "mean": 80},
            {**good, "max": 402},
            {**good, "min": None},
        ]
    ) == [
        "hour 2026-03-01 12:00 UTC: not min <= mean <= max (90.0, 80.0, 150.0)",
        "hour 2026-03-01 12:00 UTC: outside 39-401 (90.0, 402.0)",
        "hour 2026-03-01 12:00 UTC: min, mean or max missing ([None, 120.5, 150])",
    ]


def line(level: str, logger: str, message: str, thread: str = "MainThread") -> str:
    """Return one line of home-assistant.log."""
    return f"2026-03-01 12:00:00.001 {level} ({thread}) [{logger}] {message}"


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
    report = Report(python_version="3.13.5", ha_version="2026.2.3", started=4.5, running=4.9)
    report.first_state, report.glucose, report.statistics_rows = 0.1, 135, 25
    report.stopped = "in 0.8 s, exit code 0"
    report.scan = scan_log(parse_log(LOADER_NOTICE))
    lines = report.lines()
    assert lines[0] == "Home Assistant 2026.2.3, Python 3.13.5"
    assert "  statistics rows       25 hourly (at least 20 wanted)" in lines
    assert "  cgm_handler records   DEBUG 0, INFO 0, WARNING 1, ERROR 0, CRITICAL 0" in lines
    assert lines[-1] == "PASS"
    report.failures.append("something")
    report.scan = LogScan()
    assert report.lines()[-2:] == ["  FAILED: something", "FAIL"]
