"""Prepare a configuration folder of scripts/develop: the demo, or --empty without it.

scripts/develop runs this before it starts Home Assistant:

    python -m scripts.demo_entry --config config --port 8090
    python -m scripts.demo_entry --config config-empty --empty

When the folder has no configuration.yaml, it writes one (develop_configuration; its start
is scripts/live_ha.py's, as the tests' is): default_config, the automations made in the UI
(e.g. from the alert blueprint) and, for the demo, the example dashboard, linked to
docs/dashboard.yaml since Home Assistant only reads dashboards inside its folder. Delete it
to get the current one.

For the demo it writes one CGM Handler entry into <config>/.storage/core.config_entries, as
the config flow would have created it, unless a CGM Handler entry is already there.
Home Assistant must not be running, since it rewrites that file from memory.
The entry dict comes from Home Assistant's own ConfigEntry.as_dict() and the file
header from its storage constants, so the format is the one this version writes.

With a new entry it also stores the demo account's readings of the last 90 days (or
--days) as the entry's reading history (history.py), so the metrics of every period and
the 14-day statistics are complete from the start: Dexcom Share, and so the simulator,
only ever answers the last 24 hours.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
import os
from pathlib import Path
import sys
from types import MappingProxyType
from typing import Any

from homeassistant.config_entries import (
    SOURCE_USER,
    STORAGE_KEY,
    STORAGE_VERSION,
    STORAGE_VERSION_MINOR,
    ConfigEntry,
)
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.helpers.json import save_json
from homeassistant.util.json import load_json

from custom_components.cgm_handler.config_flow import CgmConfigFlow
from custom_components.cgm_handler.const import (
    CONF_REGION,
    CONF_SERVER_URL,
    CONF_UNIT,
    DEFAULT_OPTIONS,
    DOMAIN,
    MGDL,
)
from custom_components.cgm_handler.history import (
    STORAGE_VERSION as HISTORY_VERSION,
    storage_key,
    stored_form,
    to_ms,
)
from scripts.live_ha import (
    DASHBOARD_FILE,
    DEMO_PASSWORD,
    DEMO_SEED,
    DEMO_USERNAME,
    GLUCOSE_DASHBOARD,
    ROOT,
    Include,
    configuration,
    configuration_yaml,
    demo_simulator,
)
from scripts.share_simulator import BASE_PATH, Reading

# A fixed id, so the example dashboard (docs/dashboard.yaml) can name the entry's
# external statistics, cgm_handler:glucose_<entry id in lower case>.
DEMO_ENTRY_ID = "01JCGMDEM0000000000000000D"
HISTORY_DAYS = 90


def demo_readings(seed: str = DEMO_SEED, days: float = HISTORY_DAYS) -> tuple[str, list[Reading]]:
    """Return the demo account's id and its readings of the last days, oldest first.

    The account is the one `python -m scripts.share_simulator` serves: the same seed and
    username give the same id (uuid5 of seed:username) and the same readings.
    """
    simulator = demo_simulator(timedelta(days=days), seed)
    account = simulator.account(DEMO_USERNAME)
    return account.account_id, simulator.published_readings(account)


def demo_entry(port: int, account_id: str) -> dict[str, Any]:
    """Return the stored form of the entry the config flow creates for the demo account."""
    entry = ConfigEntry(
        entry_id=DEMO_ENTRY_ID,
        domain=DOMAIN,
        title=DEMO_USERNAME,
        data={
            CONF_USERNAME: DEMO_USERNAME,
            CONF_PASSWORD: DEMO_PASSWORD,
            CONF_REGION: "us",
            CONF_UNIT: MGDL,
            CONF_SERVER_URL: f"http://127.0.0.1:{port}{BASE_PATH}",
        },
        options=DEFAULT_OPTIONS,
        source=SOURCE_USER,
        unique_id=account_id,
        version=CgmConfigFlow.VERSION,
        minor_version=CgmConfigFlow.MINOR_VERSION,
        discovery_keys=MappingProxyType({}),
        subentries_data=None,
    )
    return entry.as_dict()


def storage_file(key: str, version: int, data: dict[str, Any]) -> dict[str, Any]:
    """Return the content of a Home Assistant storage file (helpers/storage.py)."""
    return {"version": version, "minor_version": 1, "key": key, "data": data}


def ensure_demo_entry(
    config_dir: Path, port: int, seed: str = DEMO_SEED, days: float = HISTORY_DAYS
) -> bool:
    """Add the demo entry unless a CGM Handler entry exists; return whether it was added."""
    storage = config_dir / ".storage"
    path = storage / STORAGE_KEY
    stored = storage_file(STORAGE_KEY, STORAGE_VERSION, {"entries": []})
    stored["minor_version"] = STORAGE_VERSION_MINOR
    if path.exists():
        loaded = load_json(path)
        if not isinstance(loaded, dict):
            raise SystemExit(f"{path} does not hold a storage object")
        stored = loaded
    entries: list[dict[str, Any]] = stored["data"]["entries"]
    if any(entry["domain"] == DOMAIN for entry in entries):
        return False
    account_id, readings = demo_readings(seed, days)
    history = storage / storage_key(DEMO_ENTRY_ID)
    storage.mkdir(parents=True, exist_ok=True)
    if not history.exists():
        data = stored_form({to_ms(reading.time): reading.value for reading in readings})
        save_json(str(history), storage_file(history.name, HISTORY_VERSION, data))
    entries.append(demo_entry(port, account_id))
    save_json(str(path), stored, private=True, atomic_writes=True)
    return True


def develop_configuration(*, empty: bool) -> dict[str, Any]:
    """Return the configuration of scripts/develop, for the demo or without it (empty)."""
    name = "CGM Handler" if empty else "CGM Handler development"
    config = {"default_config": None, **configuration(name, debug=True)}
    config["automation"] = Include("automations.yaml")
    if not empty:
        config["lovelace"] = GLUCOSE_DASHBOARD
    return config


def ensure_configuration(config_dir: Path, *, empty: bool) -> bool:
    """Write configuration.yaml unless there is one, and link the demo's dashboard.

    Return whether it was written.
    """
    config_dir.mkdir(parents=True, exist_ok=True)
    if not empty:
        dashboard = config_dir / DASHBOARD_FILE
        dashboard.unlink(missing_ok=True)
        dashboard.symlink_to(
            os.path.relpath(ROOT / "docs" / "dashboard.yaml", config_dir.resolve())
        )
    path = config_dir / "configuration.yaml"
    if path.exists():
        return False
    written_by = "scripts/develop, as it was missing; delete it to get the current one"
    text = configuration_yaml(written_by, develop_configuration(empty=empty))
    path.write_text(text, encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    """Prepare the configuration folder named on the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m scripts.demo_entry",
        description="Prepare a configuration folder of scripts/develop.",
    )
    parser.add_argument("--config", type=Path, default=Path("config"))
    parser.add_argument("--empty", action="store_true", help="no demo entry, no dashboard")
    parser.add_argument("--port", type=int, default=8090, help="the simulator's port")
    parser.add_argument("--seed", default=DEMO_SEED, help="the simulator's seed")
    parser.add_argument(
        "--days",
        type=float,
        default=HISTORY_DAYS,
        help="days of readings to store as the history (at most 90 are kept)",
    )
    args = parser.parse_args(argv)
    if ensure_configuration(args.config, empty=args.empty):
        print(f"demo_entry: wrote {args.config}/configuration.yaml")
    if args.empty:
        return 0
    if ensure_demo_entry(args.config, args.port, args.seed, args.days):
        print(
            f"demo_entry: added the demo account and {args.days:g} days of its readings "
            f"to {args.config}/.storage"
        )
    else:
        print("demo_entry: a CGM Handler entry exists already; left it as it is")
    return 0


if __name__ == "__main__":
    sys.exit(main())
