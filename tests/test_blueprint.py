"""The glucose alert blueprint, run by Home Assistant's automation integration.

An alert that repeats keeps its automation run waiting, so hass.async_block_till_done()
would wait for good: the tests let the event loop run a few rounds instead, as core's
own blueprint tests do.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import timedelta
from pathlib import Path
import shutil
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.automation import DOMAIN as AUTOMATION_DOMAIN
from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT, STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    async_mock_service,
)

BLUEPRINT = (
    Path(__file__).parent.parent
    / "blueprints"
    / "automation"
    / "cgm_handler"
    / "glucose_alert.yaml"
)
GLUCOSE = "sensor.jane_glucose"
SENSORS = {
    "urgent_low_sensor": "binary_sensor.jane_urgent_low",
    "low_sensor": "binary_sensor.jane_low",
    "high_sensor": "binary_sensor.jane_high",
    "urgent_high_sensor": "binary_sensor.jane_urgent_high",
    "stale_sensor": "binary_sensor.jane_stale",
    "urgent_low_soon_sensor": "binary_sensor.jane_urgent_low_soon",
    "falling_fast_sensor": "binary_sensor.jane_falling_fast",
    "rising_fast_sensor": "binary_sensor.jane_rising_fast",
}
URGENT_LOW, LOW, HIGH, URGENT_HIGH, STALE, URGENT_LOW_SOON, FALLING, RISING = SENSORS.values()


@pytest.fixture(autouse=True)
async def stop_automation(hass: HomeAssistant) -> AsyncGenerator[None]:
    """Turn the automation off after each test, so no trigger's `for` timer outlives it."""
    yield
    if hass.states.get("automation.glucose_alerts") is not None:
        await hass.services.async_call(
            AUTOMATION_DOMAIN,
            "turn_off",
            {"entity_id": "automation.glucose_alerts"},
            blocking=True,
        )


@pytest.fixture
def notifications(hass: HomeAssistant) -> list[ServiceCall]:
    """Record the calls of notify.phone."""
    return async_mock_service(hass, "notify", "phone")


def set_glucose(
    hass: HomeAssistant, value: float | str, flag: str | None = None, unit: str = "mg/dL"
) -> None:
    """Set the glucose sensor, with its out_of_range flag as CGM Handler sets it."""
    hass.states.async_set(
        GLUCOSE, str(value), {ATTR_UNIT_OF_MEASUREMENT: unit, "out_of_range": flag}
    )


async def settle() -> None:
    """Let the automation runs go on until they wait again."""
    for _ in range(20):
        await asyncio.sleep(0)


async def set_state(hass: HomeAssistant, entity_id: str, state: str) -> None:
    """Set a binary sensor and let the automation run."""
    hass.states.async_set(entity_id, state)
    await settle()


async def pass_minutes(hass: HomeAssistant, freezer: FrozenDateTimeFactory, minutes: int) -> None:
    """Move the clock on and fire what was due."""
    freezer.tick(timedelta(minutes=minutes))
    async_fire_time_changed(hass)
    await settle()


async def setup_blueprint(hass: HomeAssistant, tmp_path: Path, **inputs: Any) -> None:
    """Install the blueprint in a config folder and create one automation from it."""
    hass.config.config_dir = str(tmp_path)
    folder = tmp_path / "blueprints" / "automation" / "cgm_handler"
    folder.mkdir(parents=True)
    shutil.copy(BLUEPRINT, folder)
    set_glucose(hass, 120)
    for entity_id in SENSORS.values():
        hass.states.async_set(entity_id, STATE_OFF)
    config = {
        "alias": "Glucose alerts",
        "use_blueprint": {
            "path": "cgm_handler/glucose_alert.yaml",
            "input": {
                "glucose_sensor": GLUCOSE,
                **SENSORS,
                "notify_action": "notify.phone",
                **inputs,
            },
        },
    }
    assert await async_setup_component(hass, AUTOMATION_DOMAIN, {AUTOMATION_DOMAIN: config})
    await hass.async_block_till_done()
    automation = hass.states.get("automation.glucose_alerts")
    assert automation is not None
    assert automation.state == STATE_ON


def sent(calls: list[ServiceCall]) -> list[tuple[str, str]]:
    """Return the title and message of each notification, and forget them."""
    messages = [(call.data["title"], call.data["message"]) for call in calls]
    calls.clear()
    return messages


async def test_low_repeats_and_clears(
    hass: HomeAssistant,
    tmp_path: Path,
    freezer: FrozenDateTimeFactory,
    notifications: list[ServiceCall],
) -> None:
    """A low alert repeats every 15 minutes while low, then an all clear follows once."""
    await setup_blueprint(hass, tmp_path)

    set_glucose(hass, 65)
    await set_state(hass, LOW, STATE_ON)
    assert sent(notifications) == [("Low glucose", "Glucose is 65 mg/dL.")]

    await pass_minutes(hass, freezer, 14)
    assert sent(notifications) == []
    set_glucose(hass, 62)
    await pass_minutes(hass, freezer, 1)
    assert sent(notifications) == [
        ("Low glucose", "Still low after 15 minutes: glucose is 62 mg/dL.")
    ]
    await pass_minutes(hass, freezer, 15)
    assert sent(notifications) == [
        ("Low glucose", "Still low after 30 minutes: glucose is 62 mg/dL.")
    ]

    set_glucose(hass, 75)
    await set_state(hass, LOW, STATE_OFF)
    assert sent(notifications) == [("Low glucose is over", "Glucose is 75 mg/dL.")]
    await pass_minutes(hass, freezer, 60)
    assert sent(notifications) == []
    assert notifications == []


async def test_high_and_urgent_high(
    hass: HomeAssistant,
    tmp_path: Path,
    freezer: FrozenDateTimeFactory,
    notifications: list[ServiceCall],
) -> None:
    """While urgent high is on only it repeats; its all clear says high goes on."""
    await setup_blueprint(hass, tmp_path, repeat_minutes=10)

    set_glucose(hass, 190)
    await set_state(hass, HIGH, STATE_ON)
    assert sent(notifications) == [("High glucose", "Glucose is 190 mg/dL.")]

    set_glucose(hass, 260)
    await set_state(hass, URGENT_HIGH, STATE_ON)
    assert sent(notifications) == [("Urgent high glucose", "Glucose is 260 mg/dL.")]

    await pass_minutes(hass, freezer, 10)
    assert sent(notifications) == [
        ("Urgent high glucose", "Still urgent high after 10 minutes: glucose is 260 mg/dL.")
    ]

    set_glucose(hass, 230)
    await set_state(hass, URGENT_HIGH, STATE_OFF)
    assert sent(notifications) == [
        ("Urgent high glucose is over", "Glucose is 230 mg/dL, still high.")
    ]

    # The high alert started 10 minutes before urgent high ended: it repeats again now.
    await pass_minutes(hass, freezer, 10)
    assert sent(notifications) == [
        ("High glucose", "Still high after 20 minutes: glucose is 230 mg/dL.")
    ]


async def test_urgent_low_first_silences_low(
    hass: HomeAssistant,
    tmp_path: Path,
    freezer: FrozenDateTimeFactory,
    notifications: list[ServiceCall],
) -> None:
    """When urgent low and low turn on together, only the urgent low alert is sent."""
    await setup_blueprint(hass, tmp_path)

    set_glucose(hass, 50)
    hass.states.async_set(URGENT_LOW, STATE_ON)
    hass.states.async_set(LOW, STATE_ON)
    await settle()
    assert sent(notifications) == [("Urgent low glucose", "Glucose is 50 mg/dL.")]

    await pass_minutes(hass, freezer, 15)
    assert sent(notifications) == [
        ("Urgent low glucose", "Still urgent low after 15 minutes: glucose is 50 mg/dL.")
    ]

    set_glucose(hass, 80)
    hass.states.async_set(URGENT_LOW, STATE_OFF)
    hass.states.async_set(LOW, STATE_OFF)
    await settle()
    assert sorted(sent(notifications)) == [
        ("Low glucose is over", "Glucose is 80 mg/dL."),
        ("Urgent low glucose is over", "Glucose is 80 mg/dL."),
    ]


async def test_stale_readings(
    hass: HomeAssistant,
    tmp_path: Path,
    freezer: FrozenDateTimeFactory,
    notifications: list[ServiceCall],
) -> None:
    """Stale data alerts and repeats; unavailable limits end without an all clear."""
    await setup_blueprint(hass, tmp_path, repeat_minutes=30, stale_urgent_minutes=60)

    set_glucose(hass, 190)
    await set_state(hass, HIGH, STATE_ON)
    assert sent(notifications) == [("High glucose", "Glucose is 190 mg/dL.")]

    # Readings stop: glucose and the limits become unavailable, stale turns on.
    set_glucose(hass, STATE_UNAVAILABLE)
    await set_state(hass, HIGH, STATE_UNAVAILABLE)
    await set_state(hass, STALE, STATE_ON)
    assert sent(notifications) == [
        ("No CGM readings", "No new glucose reading has arrived from Dexcom Share.")
    ]
    await pass_minutes(hass, freezer, 30)
    assert sent(notifications) == [
        ("No CGM readings", "Still no new glucose reading, for 30 minutes now.")
    ]

    set_glucose(hass, 170)
    await set_state(hass, STALE, STATE_OFF)
    await set_state(hass, HIGH, STATE_OFF)
    assert sent(notifications) == [("CGM readings are back", "Glucose is 170 mg/dL.")]


async def test_no_repeat_no_all_clear_and_extra_data(
    hass: HomeAssistant,
    tmp_path: Path,
    freezer: FrozenDateTimeFactory,
    notifications: list[ServiceCall],
) -> None:
    """Repeat 0 sends one alert; all clear can be turned off; extra data goes along."""
    data = {"push": {"interruption-level": "critical"}}
    await setup_blueprint(hass, tmp_path, repeat_minutes=0, all_clear=False, notify_data=data)

    set_glucose(hass, 52)
    await set_state(hass, URGENT_LOW, STATE_ON)
    assert [call.data for call in notifications] == [
        {"title": "Urgent low glucose", "message": "Glucose is 52 mg/dL.", "data": data}
    ]
    notifications.clear()

    await pass_minutes(hass, freezer, 24 * 60 + 1)
    await set_state(hass, URGENT_LOW, STATE_OFF)
    assert notifications == []


CHART = "image.jane_glucose_chart_png"
CHART_URL = f"/api/image_proxy/{CHART}"


async def test_companion_app_gets_the_chart(
    hass: HomeAssistant, tmp_path: Path, freezer: FrozenDateTimeFactory
) -> None:
    """A companion app's alerts and all clear carry the chart's URL, with the extra data."""
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    data = {"priority": "high", "channel": "alarm_stream"}
    await setup_blueprint(
        hass, tmp_path, notify_action="notify.mobile_app_pixel", notify_data=data, chart_image=CHART
    )

    set_glucose(hass, 52)
    await set_state(hass, URGENT_LOW, STATE_ON)
    await pass_minutes(hass, freezer, 15)
    set_glucose(hass, 80)
    await set_state(hass, URGENT_LOW, STATE_OFF)
    assert [call.data["data"] for call in phone] == [{**data, "image": CHART_URL}] * 3
    assert [call.data["title"] for call in phone] == [
        "Urgent low glucose",
        "Urgent low glucose",
        "Urgent low glucose is over",
    ]


async def test_chart_found_on_the_glucose_sensors_device(
    hass: HomeAssistant,
    tmp_path: Path,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    """Without a chart chosen, the PNG chart of the glucose sensor's device goes along."""
    entry = MockConfigEntry(domain="cgm_handler")
    entry.add_to_hass(hass)
    device = device_registry.async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={("cgm_handler", "jane")}
    )
    for domain, key, object_id in (
        ("sensor", "glucose", "jane_glucose"),
        ("image", "glucose_chart", "jane_glucose_chart"),
        ("image", "glucose_chart_png", "jane_glucose_chart_png"),
    ):
        entity_registry.async_get_or_create(
            domain,
            "cgm_handler",
            key,
            config_entry=entry,
            device_id=device.id,
            suggested_object_id=object_id,
        )
    phone = async_mock_service(hass, "notify", "mobile_app_pixel")
    await setup_blueprint(hass, tmp_path, notify_action="notify.mobile_app_pixel")

    set_glucose(hass, 62)
    await set_state(hass, LOW, STATE_ON)
    assert [call.data["data"] for call in phone] == [{"image": CHART_URL}]


@pytest.mark.parametrize(
    ("action", "inputs"),
    [
        ("notify.mobile_app_pixel", {"attach_chart": False, "chart_image": CHART}),
        ("notify.phone", {"chart_image": CHART}),
        ("notify.mobile_app_pixel", {}),  # no chart on the sensor's device
    ],
)
async def test_no_chart_when_off_elsewhere_or_missing(
    hass: HomeAssistant, tmp_path: Path, action: str, inputs: dict[str, Any]
) -> None:
    """Turned off, another notify action or no chart: the message alone."""
    calls = async_mock_service(hass, *action.split("."))
    await setup_blueprint(hass, tmp_path, notify_action=action, **inputs)

    set_glucose(hass, 62)
    await set_state(hass, LOW, STATE_ON)
    assert [call.data for call in calls] == [
        {"title": "Low glucose", "message": "Glucose is 62 mg/dL."}
    ]


async def test_default_action_is_a_persistent_notification(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    """Without a notify action, the alert becomes a notification in Home Assistant."""
    created = async_mock_service(hass, "persistent_notification", "create")
    await setup_blueprint(hass, tmp_path, notify_action="persistent_notification.create")

    set_glucose(hass, 255)
    await set_state(hass, URGENT_HIGH, STATE_ON)
    assert [call.data for call in created] == [
        {"title": "Urgent high glucose", "message": "Glucose is 255 mg/dL."}
    ]


async def test_low_and_high_as_in_the_dexcom_app(
    hass: HomeAssistant,
    tmp_path: Path,
    freezer: FrozenDateTimeFactory,
    notifications: list[ServiceCall],
) -> None:
    """Beyond the sensor's range the messages say LOW or HIGH, not 2.2 or 401."""
    await setup_blueprint(hass, tmp_path)

    set_glucose(hass, 2.2, "low", "mmol/L")
    hass.states.async_set(URGENT_LOW, STATE_ON)
    hass.states.async_set(LOW, STATE_ON)
    await settle()
    assert sent(notifications) == [("Urgent low glucose", "Glucose is LOW.")]
    await pass_minutes(hass, freezer, 15)
    assert sent(notifications) == [
        ("Urgent low glucose", "Still urgent low after 15 minutes: glucose is LOW.")
    ]
    set_glucose(hass, 3.3, unit="mmol/L")
    await set_state(hass, URGENT_LOW, STATE_OFF)
    assert sent(notifications) == [
        ("Urgent low glucose is over", "Glucose is 3.3 mmol/L, still low.")
    ]
    await set_state(hass, LOW, STATE_OFF)
    notifications.clear()

    set_glucose(hass, 401, "high")
    await set_state(hass, URGENT_HIGH, STATE_ON)
    assert sent(notifications) == [("Urgent high glucose", "Glucose is HIGH.")]
    await set_state(hass, STALE, STATE_ON)
    notifications.clear()
    await set_state(hass, STALE, STATE_OFF)
    assert sent(notifications) == [("CGM readings are back", "Glucose is HIGH.")]


async def test_urgent_low_soon(
    hass: HomeAssistant,
    tmp_path: Path,
    freezer: FrozenDateTimeFactory,
    notifications: list[ServiceCall],
) -> None:
    """Urgent low soon alerts and repeats, and gives way to urgent low once that is on."""
    await setup_blueprint(hass, tmp_path)

    set_glucose(hass, 90)
    await set_state(hass, URGENT_LOW_SOON, STATE_ON)
    assert sent(notifications) == [("Urgent low soon", "Glucose is 90 mg/dL.")]
    set_glucose(hass, 70)
    await pass_minutes(hass, freezer, 15)
    assert sent(notifications) == [
        ("Urgent low soon", "Still urgent low soon after 15 minutes: glucose is 70 mg/dL.")
    ]

    set_glucose(hass, 53)
    await set_state(hass, URGENT_LOW, STATE_ON)
    assert sent(notifications) == [("Urgent low glucose", "Glucose is 53 mg/dL.")]
    await pass_minutes(hass, freezer, 15)
    assert sent(notifications) == [
        ("Urgent low glucose", "Still urgent low after 15 minutes: glucose is 53 mg/dL.")
    ]

    set_glucose(hass, 60)
    await set_state(hass, URGENT_LOW_SOON, STATE_OFF)
    assert sent(notifications) == [("Urgent low soon is over", "Glucose is 60 mg/dL.")]


async def test_falling_fast_within_its_band(
    hass: HomeAssistant,
    tmp_path: Path,
    freezer: FrozenDateTimeFactory,
    notifications: list[ServiceCall],
) -> None:
    """Falling fast alerts only below its limit, here given in mmol/L (6.7, 120.6 mg/dL)."""
    await setup_blueprint(hass, tmp_path, falling_fast_below=6.7)

    set_glucose(hass, 150)
    await set_state(hass, FALLING, STATE_ON)
    set_glucose(hass, 121)
    await settle()
    assert sent(notifications) == []

    set_glucose(hass, 119)
    await settle()
    assert sent(notifications) == [("Glucose falling fast", "Glucose is 119 mg/dL.")]
    set_glucose(hass, 105)
    await pass_minutes(hass, freezer, 15)
    assert sent(notifications) == [
        ("Glucose falling fast", "Still falling fast after 15 minutes: glucose is 105 mg/dL.")
    ]

    set_glucose(hass, 98)
    await set_state(hass, FALLING, STATE_OFF)
    assert sent(notifications) == [("Glucose falling fast is over", "Glucose is 98 mg/dL.")]

    # Unavailable, as when readings stop: no all clear.
    await set_state(hass, FALLING, STATE_ON)
    assert sent(notifications) == [("Glucose falling fast", "Glucose is 98 mg/dL.")]
    set_glucose(hass, STATE_UNAVAILABLE)
    await set_state(hass, FALLING, STATE_UNAVAILABLE)
    assert sent(notifications) == []


async def test_rising_fast_within_its_band(
    hass: HomeAssistant,
    tmp_path: Path,
    freezer: FrozenDateTimeFactory,
    notifications: list[ServiceCall],
) -> None:
    """Rising fast alerts only above its limit (150 mg/dL), on a glucose sensor in mmol/L."""
    await setup_blueprint(hass, tmp_path, all_clear=True)

    set_glucose(hass, 8.0, unit="mmol/L")
    await set_state(hass, RISING, STATE_ON)
    assert sent(notifications) == []

    set_glucose(hass, 8.5, unit="mmol/L")
    await settle()
    assert sent(notifications) == [("Glucose rising fast", "Glucose is 8.5 mmol/L.")]

    # Back below the limit while still rising fast: over, with an all clear.
    set_glucose(hass, 8.2, unit="mmol/L")
    await settle()
    assert sent(notifications) == [("Glucose rising fast is over", "Glucose is 8.2 mmol/L.")]
    await pass_minutes(hass, freezer, 30)
    assert sent(notifications) == []


async def test_persistent_high(
    hass: HomeAssistant,
    tmp_path: Path,
    freezer: FrozenDateTimeFactory,
    notifications: list[ServiceCall],
) -> None:
    """Above the limit for the hours given alerts; a break in the readings starts over."""
    await setup_blueprint(hass, tmp_path, persistent_high_above=250, persistent_high_hours=1.5)

    set_glucose(hass, 260)
    await settle()
    await pass_minutes(hass, freezer, 60)
    set_glucose(hass, STATE_UNAVAILABLE)
    await settle()
    set_glucose(hass, 262)
    await settle()
    await pass_minutes(hass, freezer, 89)
    assert sent(notifications) == []

    await pass_minutes(hass, freezer, 1)
    assert sent(notifications) == [
        (
            "Persistent high glucose",
            "Glucose has been above 250 mg/dL for 1.5 hours: it is 262 mg/dL.",
        )
    ]
    set_glucose(hass, 270)
    await pass_minutes(hass, freezer, 15)
    assert sent(notifications) == [
        ("Persistent high glucose", "Still high after 105 minutes: glucose is 270 mg/dL.")
    ]

    set_glucose(hass, 240)
    await settle()
    assert sent(notifications) == [("Persistent high glucose is over", "Glucose is 240 mg/dL.")]


async def test_two_stale_levels(
    hass: HomeAssistant,
    tmp_path: Path,
    freezer: FrozenDateTimeFactory,
    notifications: list[ServiceCall],
) -> None:
    """A stale warning, then an urgent alert 15 minutes on that alone repeats and clears."""
    await setup_blueprint(hass, tmp_path)

    set_glucose(hass, STATE_UNAVAILABLE)
    await set_state(hass, STALE, STATE_ON)
    assert sent(notifications) == [
        ("No CGM readings", "No new glucose reading has arrived from Dexcom Share.")
    ]
    await pass_minutes(hass, freezer, 14)
    assert sent(notifications) == []
    await pass_minutes(hass, freezer, 1)
    assert sent(notifications) == [
        (
            "Urgent: no CGM readings",
            "Still no new glucose reading, 15 minutes after the first alert.",
        )
    ]
    await pass_minutes(hass, freezer, 15)
    assert sent(notifications) == [
        (
            "Urgent: no CGM readings",
            "Still no new glucose reading, 30 minutes after the first alert.",
        )
    ]

    set_glucose(hass, 120)
    await set_state(hass, STALE, STATE_OFF)
    assert sent(notifications) == [("CGM readings are back", "Glucose is 120 mg/dL.")]

    # A short outage stays a warning, cleared once.
    set_glucose(hass, STATE_UNAVAILABLE)
    await set_state(hass, STALE, STATE_ON)
    await pass_minutes(hass, freezer, 5)
    set_glucose(hass, 118)
    await set_state(hass, STALE, STATE_OFF)
    assert sent(notifications) == [
        ("No CGM readings", "No new glucose reading has arrived from Dexcom Share."),
        ("CGM readings are back", "Glucose is 118 mg/dL."),
    ]
    await pass_minutes(hass, freezer, 30)
    assert sent(notifications) == []
