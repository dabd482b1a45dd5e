"""Every translation covers strings.json exactly, with the same placeholders."""

from __future__ import annotations

from collections.abc import Iterator
import json
from pathlib import Path
from string import Formatter
from typing import Any

from homeassistant.const import ATTR_FRIENDLY_NAME
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
import voluptuous as vol

from custom_components.cgm_handler.const import DOMAIN
from scripts.share_simulator import ShareSimulator
from scripts.translation_schema import SCHEMA
from tests.helpers import make_entry, setup_entry

INTEGRATION = Path(__file__).parent.parent / "custom_components" / DOMAIN
STRINGS = INTEGRATION / "strings.json"
TRANSLATIONS = sorted((INTEGRATION / "translations").glob("*.json"))
LANGUAGES = {"da", "de", "en", "es", "fi", "fr", "it", "ja", "nb", "nl", "pl", "pt", "sv"}


def load(path: Path) -> dict[str, Any]:
    """Return one JSON file."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def texts(node: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield each leaf of a translation tree with its dotted key."""
    for key, value in node.items():
        if isinstance(value, dict):
            yield from texts(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def placeholders(text: str) -> set[str]:
    """Return the names of the {placeholders} of a text."""
    return {name for _, name, _, _ in Formatter().parse(text) if name is not None}


ENGLISH = dict(texts(load(STRINGS)))


def test_every_language_is_shipped() -> None:
    """The languages the README lists each have a file."""
    assert {path.stem for path in TRANSLATIONS} >= LANGUAGES


@pytest.mark.parametrize("path", TRANSLATIONS, ids=lambda path: path.stem)
def test_same_keys_as_strings(path: Path) -> None:
    """A translation has every key of strings.json and no other."""
    translated = dict(texts(load(path)))
    missing = sorted(ENGLISH.keys() - translated.keys())
    unknown = sorted(translated.keys() - ENGLISH.keys())
    assert {"missing": missing, "not in strings.json": unknown} == {
        "missing": [],
        "not in strings.json": [],
    }


@pytest.mark.parametrize("path", TRANSLATIONS, ids=lambda path: path.stem)
def test_same_placeholders_as_english(path: Path) -> None:
    """Each text is a non-empty string with exactly the placeholders of the English one."""
    differing = {}
    for key, text in texts(load(path)):
        assert isinstance(text, str), key
        assert text.strip(), key
        if key in ENGLISH and placeholders(text) != placeholders(ENGLISH[key]):
            differing[key] = sorted(placeholders(text))
    assert differing == {}


async def test_language_change_keeps_entity_ids(
    hass: HomeAssistant, simulator: ShareSimulator, entity_registry: er.EntityRegistry
) -> None:
    """Switched to German, the entities show German names under their first entity ids."""
    entry = await setup_entry(hass, make_entry(simulator))
    ids = {
        e.unique_id: e.entity_id
        for e in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    }
    assert ids[f"{entry.entry_id}_urgent_low_soon"] == "binary_sensor.jane_urgent_low_soon"

    hass.config.language = "de"
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)

    entries = er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    assert {e.unique_id: e.entity_id for e in entries} == ids
    german = dict(texts(load(INTEGRATION / "translations" / "de.json")))
    state = hass.states.get("binary_sensor.jane_urgent_low_soon")
    assert state is not None
    name = german["entity.binary_sensor.urgent_low_soon.name"]
    assert state.attributes[ATTR_FRIENDLY_NAME] == f"jane {name}"


@pytest.mark.parametrize("path", [STRINGS, *TRANSLATIONS], ids=lambda path: path.stem)
def test_home_assistant_schema(path: Path) -> None:
    """Each file passes Home Assistant's translation schema, which scripts/validate applies."""
    SCHEMA(load(path))


@pytest.mark.parametrize(
    ("section", "bad"),
    [
        ({"issues": {"x": {"title": "T"}}}, "an issue without a description"),
        ({"exceptions": {"x": {"message": "Siehe <b>hier</b>"}}}, "HTML"),
        ({"exceptions": {"x": {"message": "Siehe https://www.dexcom.com"}}}, "a URL"),
        ({"exceptions": {"x": {"message": "Konto '{title}'"}}}, "a quoted placeholder"),
        ({"exceptions": {"x": {"message": "Konto {0}"}}}, "a numbered placeholder"),
        ({"exceptions": {"x": {"message": "Fehler "}}}, "a trailing space"),
        ({"entity": {"sensor": {"trend": {"state": {"flat": "{x}"}}}}}, "a placeholder in a state"),
        ({"selector": {"unit": {"options": {"mg/dL": "mg/dL"}}}}, "an option key with /"),
        ({"services": {"get": {"name": "Get"}}}, "an action without a description"),
        ({"entitty": {}}, "an unknown section"),
    ],
)
def test_schema_rejects(section: dict[str, Any], bad: str) -> None:
    """The schema rejects what hassfest rejects."""
    with pytest.raises(vol.Invalid):
        SCHEMA(section)
