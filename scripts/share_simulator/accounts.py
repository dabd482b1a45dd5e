"""Publisher accounts, logins, lockout and sessions."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
import uuid

from .wire import (
    AUTHENTICATE_ENDPOINT,
    LOGIN_ENDPOINT,
    READINGS_ENDPOINT,
    DexcomError,
    max_attempts,
    not_a_uuid,
    password_failed,
    session_not_found,
    session_not_valid,
)

if TYPE_CHECKING:
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from .sensor import SensorTrace


@dataclass(eq=False)
class Account:
    """A Dexcom publisher account with its sensor and counters."""

    username: str
    password: str
    account_id: str
    trace: SensorTrace
    time_zone: ZoneInfo
    email: str | None = None
    phone: str | None = None
    legacy: bool = False
    """Answer in the pre-2022 format: /Date(...)/ and integer trends."""
    sharing: bool = True
    """Sharing is on in the Dexcom app; while it is off, Share answers no readings at all."""
    logins: int = 0
    """Every authenticate and login call that named this account."""
    failed_logins: int = 0
    """Those calls that failed: a wrong password, or the account was locked."""
    requests: Counter[str] = field(default_factory=Counter)
    """Calls per endpoint that named this account or one of its sessions."""
    failures_in_row: int = 0
    locked_until: datetime | None = None

    def matches(self, name: str) -> bool:
        """Tell whether an accountName means this account."""
        folded = name.casefold()
        if folded == self.username.casefold() or name == self.phone:
            return True
        return self.email is not None and folded == self.email.casefold()


@dataclass(eq=False)
class Session:
    """A session of one account."""

    account: Account
    created: datetime
    valid: bool = True


class Accounts:
    """The accounts and sessions of a simulated Share server."""

    def __init__(
        self,
        *,
        session_ttl: timedelta,
        lockout_threshold: int,
        lockout_duration: timedelta,
    ) -> None:
        """Set the session lifetime and the lockout rule (threshold 0: none)."""
        self.session_ttl = session_ttl
        self.lockout_threshold = lockout_threshold
        self.lockout_duration = lockout_duration
        self.by_id: dict[str, Account] = {}
        self.sessions: dict[str, Session] = {}

    def add(self, account: Account) -> None:
        """Add an account; its names and id must be new."""
        for name in (account.username, account.email, account.phone):
            if name and self.find(name) is not None:
                raise ValueError(f"an account already uses {name!r}")
        if account.account_id in self.by_id:
            raise ValueError(f"an account already has id {account.account_id}")
        self.by_id[account.account_id] = account

    def find(self, name: str) -> Account | None:
        """Return the account with this username, email, phone or id."""
        if (account := self.by_id.get(name.lower())) is not None:
            return account
        return next((each for each in self.by_id.values() if each.matches(name)), None)

    def authenticate(self, name: str, password: str, now: datetime) -> str:
        """Check an account name and password; return the account id."""
        account = next((each for each in self.by_id.values() if each.matches(name)), None)
        if account is None:
            raise password_failed()  # Dexcom does not say the name is unknown
        account.requests[AUTHENTICATE_ENDPOINT] += 1
        self._check_password(account, password, now)
        return account.account_id

    def login(self, account_id: str, password: str, now: datetime) -> str:
        """Check an account id and password; return a new session id."""
        account = self.by_id.get(parse_uuid(account_id))
        if account is None:
            raise password_failed()
        account.requests[LOGIN_ENDPOINT] += 1
        self._check_password(account, password, now)
        session_id = str(uuid.uuid4())
        self.sessions[session_id] = Session(account, now)
        return session_id

    def refuse_login(self, account_id: str, now: datetime) -> None:
        """Count a login by id that fails whatever the password, as a wrong one does."""
        account = self.by_id.get(parse_uuid(account_id))
        if account is None:
            raise password_failed()
        account.requests[LOGIN_ENDPOINT] += 1
        self._count_login(account, now)
        self._count_failure(account, now)

    def session(self, session_id: str, now: datetime) -> Account:
        """Return the account of a live session (counts a readings call)."""
        session = self.sessions.get(parse_uuid(session_id))
        if session is None:
            raise session_not_found(session_id)
        session.account.requests[READINGS_ENDPOINT] += 1
        if not session.valid or now >= session.created + self.session_ttl:
            raise session_not_valid()
        return session.account

    def invalidate_sessions(self) -> None:
        """Make every existing session invalid (SessionNotValid)."""
        for session in self.sessions.values():
            session.valid = False

    def _check_password(self, account: Account, password: str, now: datetime) -> None:
        """Count the login and apply the lockout rule."""
        self._count_login(account, now)
        if password != account.password:
            self._count_failure(account, now)
            raise password_failed()
        account.failures_in_row = 0

    def _count_login(self, account: Account, now: datetime) -> None:
        """Count a login; refuse it while the account is locked."""
        account.logins += 1
        if account.locked_until is not None:
            if now < account.locked_until:
                account.failed_logins += 1
                raise max_attempts()
            account.locked_until = None
            account.failures_in_row = 0

    def _count_failure(self, account: Account, now: datetime) -> None:
        """Count a failed login; lock the account after too many in a row."""
        account.failed_logins += 1
        account.failures_in_row += 1
        if 0 < self.lockout_threshold <= account.failures_in_row:
            account.locked_until = now + self.lockout_duration


UUID_LENGTH = 36


def parse_uuid(value: str) -> str:
    """Return a UUID in canonical lower case, or raise InvalidArgument."""
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise not_a_uuid(value) from None
    if len(value) != UUID_LENGTH:
        raise not_a_uuid(value)  # Dexcom wants the 36-char form
    return str(parsed)


__all__ = ["Account", "Accounts", "DexcomError", "Session"]
