"""An entry's repair issues: at most one of each kind, named with the entry's title.

The kind is the issue's translation key; the issue's id is the kind and the entry's id.
"""

from __future__ import annotations

from datetime import datetime

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from .const import DOMAIN


def issue_id(kind: str, entry_id: str) -> str:
    """Return the id of an entry's repair issue of a kind."""
    return f"{kind}_{entry_id}"


@callback
def async_raise_issue(
    hass: HomeAssistant,
    entry: ConfigEntry,
    kind: str,
    severity: ir.IssueSeverity = ir.IssueSeverity.WARNING,
    **placeholders: str,
) -> None:
    """Raise (or update) an entry's repair issue of a kind; the user cannot fix it here."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id(kind, entry.entry_id),
        is_fixable=False,
        severity=severity,
        translation_key=kind,
        translation_placeholders={"title": entry.title, **placeholders},
    )


@callback
def async_clear_issue(hass: HomeAssistant, entry_id: str, kind: str) -> None:
    """Remove an entry's repair issue of a kind, if it is raised."""
    ir.async_delete_issue(hass, DOMAIN, issue_id(kind, entry_id))


def clock_time(moment: datetime) -> str:
    """Return a moment as the local time of day (HH:MM) a repair issue shows."""
    return dt_util.as_local(moment).strftime("%H:%M")
