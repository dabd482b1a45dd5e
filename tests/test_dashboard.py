"""The example dashboard: its entities exist, and the glucose chart is its "Now" card."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
import re
from typing import Any

from homeassistant.core import HomeAssistant
import pytest
import yaml

from scripts.share_simulator import ShareSimulator
from tests.helpers import FROZEN_AT, make_entry, setup_entry

pytestmark = pytest.mark.freeze_time(FROZEN_AT)

DASHBOARD = Path(__file__).parent.parent / "docs" / "dashboard.yaml"
ENTITY_ID = re.compile(r"\b(?:sensor|binary_sensor|image)\.demo_\w+")


def cards(node: Any) -> Iterator[dict[str, Any]]:
    """Yield every card of the dashboard, nested ones included."""
    if isinstance(node, dict):
        if "type" in node:
            yield node
        for value in node.values():
            yield from cards(value)
    elif isinstance(node, list):
        for item in node:
            yield from cards(item)


async def test_now_card_is_the_chart(hass: HomeAssistant, simulator: ShareSimulator) -> None:
    """Every entity named exists; "Now" opens on the glucose chart, above trend and metrics."""
    simulator.add_account("demo", "demo-password")
    await setup_entry(hass, make_entry(simulator, username="demo"))
    dashboard = yaml.safe_load(DASHBOARD.read_text(encoding="utf-8"))

    named = {match for card in cards(dashboard) for match in ENTITY_ID.findall(str(card))}
    assert {entity_id for entity_id in named if hass.states.get(entity_id) is None} == set()

    now = dashboard["views"][0]["sections"][0]["cards"]
    assert now[0] == {"type": "heading", "heading": "Now"}
    chart = now[1]
    assert chart["type"] == "picture-entity"
    assert chart["entity"] == "image.demo_glucose_chart"
    assert (chart["show_name"], chart["show_state"]) == (False, False)
    assert now[2]["type"] == "entities"
    assert now[2]["entities"][0]["entity"] == "sensor.demo_trend"


def test_agp_card() -> None:
    """The AGP image is shown as a picture, with nothing over it: no name, no state."""
    dashboard = yaml.safe_load(DASHBOARD.read_text(encoding="utf-8"))
    [card] = [
        card
        for card in cards(dashboard)
        if card.get("entity") == "image.demo_ambulatory_glucose_profile"
    ]
    assert card["type"] == "picture-entity"
    assert card["show_name"] is False
    assert card["show_state"] is False
