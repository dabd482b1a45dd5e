"""Which logins to Dexcom Share an entry may try, so that none brings a lockout closer.

Dexcom locks an account for a while after too many failed logins. The guard stops
logging in while the account is locked, after Dexcom rejected the password (until the
password changes) and, after a null session id, until one more try is due. What it knows
is kept in hass.data, so that it outlives a reload or a setup retry.
"""

from __future__ import annotations

from datetime import datetime, timedelta
import hashlib
from typing import Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed, HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.update_coordinator import UpdateFailed
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN, LOCKOUT_WAIT
from .entry_issues import async_clear_issue, async_raise_issue
from .share import (
    ShareAccountLockedError,
    ShareAuthenticationError,
    ShareError,
    ShareNullSessionError,
)

# When each entry's lockout ends.
LOCKOUTS: HassKey[dict[str, datetime]] = HassKey(f"{DOMAIN}_lockouts")
# The digest of each entry's rejected password: it is not tried again until it changes,
# since each failed login brings Dexcom's lockout closer.
REJECTED: HassKey[dict[str, str]] = HassKey(f"{DOMAIN}_rejected")
# Share has answered wrong passwords with a null session id, so one may count toward the
# lockout. After the first, one more login comes after the lockout wait (a passing server
# fault is over by then); a second in a row counts as a rejected password. So at most two
# such logins per password.
NULL_SESSION_RETRIES: HassKey[dict[str, datetime]] = HassKey(f"{DOMAIN}_null_session_retries")
LOCK_ISSUE: Final = "account_locked"


def password_digest(password: str) -> str:
    """Return a digest that tells whether a password is the one Dexcom rejected."""
    return hashlib.sha256(password.encode()).hexdigest()


@callback
def async_clear_rejection(hass: HomeAssistant, entry_id: str) -> None:
    """Let the entry log in again: its password was just accepted by a sign-in."""
    hass.data.get(REJECTED, {}).pop(entry_id, None)
    hass.data.get(NULL_SESSION_RETRIES, {}).pop(entry_id, None)


@callback
def async_clear_lockout(hass: HomeAssistant, entry_id: str) -> None:
    """Forget an entry's lockout and remove its repair issue."""
    if hass.data.get(LOCKOUTS, {}).pop(entry_id, None) is not None:
        async_clear_issue(hass, entry_id, LOCK_ISSUE)


class SignInGuard:
    """Tell one entry's polls whether they may log in, and learn from refused logins."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry) -> None:
        """Use the registries that outlive the entry's reloads."""
        self._hass = hass
        self._entry = entry
        self._lockouts = hass.data.setdefault(LOCKOUTS, {})
        self._rejected = hass.data.setdefault(REJECTED, {})
        self._null_retries = hass.data.setdefault(NULL_SESSION_RETRIES, {})

    def resume_at(self, now: datetime) -> datetime | None:
        """Return when a login may come, while the guard holds it back for a while."""
        entry_id = self._entry.entry_id
        waits = (self._lockouts.get(entry_id), self._null_retries.get(entry_id))
        return max((wait for wait in waits if wait is not None and wait > now), default=None)

    def check(self, now: datetime, password: str) -> None:
        """Raise, without a login, while the account is locked or the password is refused.

        A password stays refused after Dexcom rejected it, and for a while after a null
        session id.
        """
        entry_id = self._entry.entry_id
        locked_until = self._lockouts.get(entry_id)
        if locked_until is not None and now < locked_until:
            raise UpdateFailed(translation_domain=DOMAIN, translation_key="account_locked")
        if self._rejected.get(entry_id) == password_digest(password):
            raise ConfigEntryAuthFailed(translation_domain=DOMAIN, translation_key="invalid_auth")
        retry_at = self._null_retries.get(entry_id)
        if retry_at is not None and now < retry_at:
            raise _null_session_wait()

    def refused(self, err: ShareError, now: datetime, password: str) -> HomeAssistantError | None:
        """Learn from a login Share refused; return the error of the poll, or None.

        None means the error says nothing about the login (a connection error, a server
        fault).
        """
        if isinstance(err, ShareNullSessionError):
            return self._null_session(now, password)
        if isinstance(err, ShareAuthenticationError):
            self._rejected[self._entry.entry_id] = password_digest(password)
            return ConfigEntryAuthFailed(translation_domain=DOMAIN, translation_key="invalid_auth")
        if isinstance(err, ShareAccountLockedError):
            self._lock(now)
            return UpdateFailed(translation_domain=DOMAIN, translation_key="account_locked")
        return None

    @callback
    def async_signed_in(self) -> None:
        """Forget the lockout and the null session id once a poll succeeded."""
        async_clear_lockout(self._hass, self._entry.entry_id)
        self._null_retries.pop(self._entry.entry_id, None)

    def _lock(self, now: datetime) -> None:
        """Stop logging in while Dexcom keeps the account locked, and say so in a repair."""
        self._lockouts[self._entry.entry_id] = now + LOCKOUT_WAIT
        async_raise_issue(
            self._hass,
            self._entry,
            LOCK_ISSUE,
            ir.IssueSeverity.ERROR,
            minutes=_minutes(LOCKOUT_WAIT),
        )

    def _null_session(self, now: datetime, password: str) -> HomeAssistantError:
        """Return the error of a null session id, planning the one retry after the first."""
        entry_id = self._entry.entry_id
        if self._null_retries.pop(entry_id, None) is not None:
            self._rejected[entry_id] = password_digest(password)
            return ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="null_session_again"
            )
        self._null_retries[entry_id] = now + LOCKOUT_WAIT
        return _null_session_wait()


def _minutes(delta: timedelta) -> str:
    """Return a duration in whole minutes, for a message."""
    return str(int(delta.total_seconds() // 60))


def _null_session_wait() -> UpdateFailed:
    """Return the error of a poll that waits to log in again after a null session id."""
    return UpdateFailed(
        translation_domain=DOMAIN,
        translation_key="null_session",
        translation_placeholders={"minutes": _minutes(LOCKOUT_WAIT)},
    )
