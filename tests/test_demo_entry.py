"""The configuration and the demo entry that scripts/develop writes before Home Assistant starts."""

from __future__ import annotations

import json
from pathlib import Path

from homeassistant.config_entries import STORAGE_KEY, STORAGE_VERSION, STORAGE_VERSION_MINOR
from homeassistant.util.yaml import load_yaml_dict

from custom_components.cgm_handler.const import DOMAIN
from custom_components.cgm_handler.history import storage_key
from scripts.demo_entry import DEMO_ENTRY_ID, ensure_configuration, ensure_demo_entry, main
from scripts.live_ha import ROOT
from scripts.share_simulator import ShareSimulator


def test_writes_the_entry_once(tmp_path: Path) -> None:
    """A new config gets one entry for the simulator's demo account, and 90 days of it."""
    assert ensure_demo_entry(tmp_path, 8090)
    stored = json.loads((tmp_path / ".storage" / STORAGE_KEY).read_text())
    assert (stored["key"], stored["version"], stored["minor_version"]) == (
        STORAGE_KEY,
        STORAGE_VERSION,
        STORAGE_VERSION_MINOR,
    )
    [entry] = stored["data"]["entries"]
    account = ShareSimulator().add_account("demo", "demo-password")
    assert entry["domain"] == DOMAIN
    assert entry["entry_id"] == DEMO_ENTRY_ID
    assert entry["unique_id"] == account.account_id
    assert entry["data"] == {
        "username": "demo",
        "password": "demo-password",
        "region": "us",
        "unit": "mg/dL",
        "server_url": "http://127.0.0.1:8090/ShareWebServices/Services/",
    }
    history = json.loads((tmp_path / ".storage" / storage_key(DEMO_ENTRY_ID)).read_text())
    readings = history["data"]["readings"]
    days = (readings[-1][0] - readings[0][0]) / 86_400_000
    assert 89.9 < days < 90
    assert len(readings) > 0.7 * 90 * 288  # complete enough for the 90-day metrics

    assert not ensure_demo_entry(tmp_path, 8091)
    stored_again = json.loads((tmp_path / ".storage" / STORAGE_KEY).read_text())
    assert stored_again == stored


def test_keeps_other_entries(tmp_path: Path) -> None:
    """Entries of other integrations stay as they are."""
    storage = tmp_path / ".storage"
    storage.mkdir()
    other = {"domain": "sun", "entry_id": "sun1"}
    content = {
        "version": 1,
        "minor_version": 5,
        "key": STORAGE_KEY,
        "data": {"entries": [other]},
    }
    (storage / STORAGE_KEY).write_text(json.dumps(content))

    assert main(["--config", str(tmp_path), "--port", "8099", "--days", "14"]) == 0

    entries = json.loads((storage / STORAGE_KEY).read_text())["data"]["entries"]
    assert entries[0] == other
    assert entries[1]["data"]["server_url"] == "http://127.0.0.1:8099/ShareWebServices/Services/"
    history = json.loads((storage / storage_key(DEMO_ENTRY_ID)).read_text())
    readings = history["data"]["readings"]
    assert 13.9 < (readings[-1][0] - readings[0][0]) / 86_400_000 < 14


def test_writes_the_configuration_once(tmp_path: Path) -> None:
    """scripts/develop's configuration: written when missing, the dashboard linked."""
    demo, empty = tmp_path / "config", tmp_path / "config-empty"
    assert ensure_configuration(demo, empty=False)
    assert ensure_configuration(empty, empty=True)
    (demo / "automations.yaml").write_text("[]\n")
    config = load_yaml_dict(demo / "configuration.yaml")
    assert config["automation"] == []  # !include automations.yaml
    assert "default_config" in config
    assert config["homeassistant"] == {"name": "CGM Handler development", "debug": True}
    assert config["logger"]["logs"] == {"custom_components.cgm_handler": "debug"}
    dashboard = config["lovelace"]["dashboards"]["dashboard-glucose"]["filename"]
    assert (demo / dashboard).resolve() == (ROOT / "docs" / "dashboard.yaml").resolve()
    assert "lovelace" not in (empty / "configuration.yaml").read_text()

    (demo / "configuration.yaml").write_text("homeassistant:\n")
    assert not ensure_configuration(demo, empty=False)
    assert (demo / "configuration.yaml").read_text() == "homeassistant:\n"
