"""The integration as Home Assistant's loader sees it."""

from __future__ import annotations

from datetime import timedelta

from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.models import StatisticMeanType
from homeassistant.components.recorder.statistics import (
    async_add_external_statistics,
    statistics_during_period,
)
from homeassistant.core import HomeAssistant
from homeassistant.loader import async_get_integration
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import BloodGlucoseConcentrationConverter
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.cgm_handler.const import DOMAIN


async def test_loader_finds_integration(hass: HomeAssistant) -> None:
    """The loader reads the manifest and imports both platforms."""
    integration = await async_get_integration(hass, DOMAIN)

    assert integration.name == "CGM Handler"
    assert integration.config_flow is True
    assert integration.dependencies == ["recorder"]
    assert integration.iot_class == "cloud_polling"
    assert integration.integration_type == "service"
    assert str(integration.version) == integration.manifest["version"]
    for platform in ("sensor", "binary_sensor", "config_flow", "diagnostics"):
        assert await integration.async_get_platform(platform)


async def test_external_statistic_round_trip(recorder_mock: Recorder, hass: HomeAssistant) -> None:
    """An hourly glucose statistic imported by the recorder reads back unchanged."""
    start = dt_util.utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    statistic_id = f"{DOMAIN}:round_trip"
    metadata = {
        "has_sum": False,
        "mean_type": StatisticMeanType.ARITHMETIC,
        "name": "Round trip",
        "source": DOMAIN,
        "statistic_id": statistic_id,
        "unit_class": BloodGlucoseConcentrationConverter.UNIT_CLASS,
        "unit_of_measurement": "mg/dL",
    }
    rows = [
        {"start": start + timedelta(hours=h), "mean": 100.0 + h, "min": 80.0, "max": 150.0 + h}
        for h in range(2)
    ]

    async_add_external_statistics(hass, metadata, rows)
    await async_wait_recording_done(hass)
    stats = await recorder_mock.async_add_executor_job(
        statistics_during_period,
        hass,
        start,
        None,
        {statistic_id},
        "hour",
        None,
        {"mean", "min", "max"},
    )

    assert [(row["mean"], row["min"], row["max"]) for row in stats[statistic_id]] == [
        (row["mean"], row["min"], row["max"]) for row in rows
    ]
    assert [row["start"] for row in stats[statistic_id]] == [
        row["start"].timestamp() for row in rows
    ]
