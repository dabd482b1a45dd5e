"""The pure helpers of scripts/smoke.py, which runs a real Home Assistant (not here).

scripts/live_ha.py, which it runs on, is tested in tests/test_live_ha.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from http import HTTPStatus
import statistics
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.cgm_handler.const import DOMAIN
from scripts.live_ha import DEMO_PASSWORD
from scripts.smoke import (
    POLLING_ENTITIES,
    flow_input,
    form_problems,
    glucose_problems,
    hour_label,
    hour_problems,
    hourly_truth,
    polling_problems,
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


def test_glucose_problems() -> None:
    assert glucose_problems(120, [110, 115, 120]) == []
    assert glucose_problems(120, []) == []
    assert glucose_problems(120, [110, 115]) == [
        "sensor.demo_glucose is 120, not a newest reading (110, 115)"
    ]
    assert glucose_problems(39, [39]) == []
    assert glucose_problems(6.5, [6.5]) == ["sensor.demo_glucose is 6.5, outside 39-401 mg/dL"]


def test_polling_problems() -> None:
    """Live polling entities pass; each wrong or missing state is named."""
    live = ["on", "35", "120", "2026-03-10T12:05:40+00:00", "12"]
    assert polling_problems(dict(zip(POLLING_ENTITIES, live, strict=True))) == []
    wrong = ["off", "120", "35", "unknown", "0"]
    assert len(polling_problems(dict(zip(POLLING_ENTITIES, wrong, strict=True)))) == 4
    assert len(polling_problems({})) == 4


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


def test_hour_problems_finds_every_hour_that_differs() -> None:
    """An hour whose mean, bounds or count differ from its readings is named; exact ones not."""
    start = datetime(2026, 3, 1, 10, tzinfo=UTC)
    readings = [(start + timedelta(minutes=5 * i), 100 + i) for i in range(24)]
    truth = hourly_truth(readings)
    assert sorted(len(values) for values in truth.values()) == [12, 12]
    glucose = {
        hour: {"mean": statistics.fmean(v), "min": min(v), "max": max(v)}
        for hour, v in truth.items()
    }
    counts = {hour: {"mean": len(v)} for hour, v in truth.items()}
    assert hour_problems(glucose, counts, truth) == []

    first, second = sorted(truth)
    short = {**counts, second: {"mean": 11}}
    assert len(hour_problems(glucose, short, truth)) == 1
    assert hour_problems({second: glucose[second]}, counts, truth)[0].startswith(hour_label(first))
