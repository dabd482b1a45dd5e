"""The example dashboard: its entities exist, and LOW and HIGH replace the number."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
import re
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.template import Template
from homeassistant.util import dt as dt_util
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


def listed(value: str | list[str]) -> list[str]:
    """Return a condition's state or states as a list."""
    return value if isinstance(value, list) else [value]


def visible(hass: HomeAssistant, card: dict[str, Any]) -> bool:
    """Tell whether the frontend shows a card: its state conditions all hold."""
    for condition in card.get("visibility", []):
        assert condition["condition"] == "state"
        state = hass.states.get(condition["entity"])
        assert state is not None, condition["entity"]
        if "state" in condition and state.state not in listed(condition["state"]):
            return False
        if "state_not" in condition and state.state in listed(condition["state_not"]):
            return False
    return True


@pytest.mark.parametrize(("level", "shown"), [(None, None), (25.0, "LOW"), (450.0, "HIGH")])
async def test_glucose_card(
    hass: HomeAssistant, simulator: ShareSimulator, level: float | None, shown: str | None
) -> None:
    """Within the sensor's range the value shows; beyond it, LOW or HIGH does."""
    now = dt_util.utcnow()
    excursions = [] if level is None else [(now - timedelta(hours=1), now, level)]
    simulator.add_account("demo", "demo-password", excursions=excursions)
    await setup_entry(hass, make_entry(simulator, username="demo"))
    dashboard = yaml.safe_load(DASHBOARD.read_text(encoding="utf-8"))

    named = {match for card in cards(dashboard) for match in ENTITY_ID.findall(str(card))}
    assert {entity_id for entity_id in named if hass.states.get(entity_id) is None} == set()

    glucose = [card for card in cards(dashboard) if "visibility" in card]
    assert [card["type"] for card in glucose] == ["sensor", "markdown", "history-graph"]
    assert glucose[0]["entity"] == "sensor.demo_glucose"
    shown_cards = [card["type"] for card in glucose if visible(hass, card)]
    if shown is None:
        assert shown_cards == ["sensor"]
        return
    assert shown_cards == ["markdown", "history-graph"]
    text = Template(glucose[1]["content"], hass).async_render()
    assert text.splitlines()[0] == f"# {shown}"


def test_agp_card() -> None:
    """The AGP image is shown as a picture, with nothing over it: no name, no state."""
    dashboard = yaml.safe_load(DASHBOARD.read_text(encoding="utf-8"))
    [card] = [card for card in cards(dashboard) if card["type"] == "picture-entity"]
    assert card["entity"] == "image.demo_ambulatory_glucose_profile"
    assert card["show_name"] is False
    assert card["show_state"] is False
