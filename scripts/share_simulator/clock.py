"""Clocks that drive the simulator's time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Now = Callable[[], datetime]


def utc_now() -> datetime:
    """Return the real time in UTC."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """Return an aware UTC datetime; naive ones are taken as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        """Start at the given time, or at the real time now."""
        self._now = as_utc(start) if start is not None else utc_now()

    def now(self) -> datetime:
        """Return the current simulated time."""
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward (or back) and return the new time."""
        self._now += delta
        return self._now

    def set(self, moment: datetime) -> None:
        """Jump to a given time."""
        self._now = as_utc(moment)


class ScaledClock:
    """Real time that runs `speed` times faster from the moment it is made."""

    def __init__(self, speed: float, now: Now = utc_now) -> None:
        """Start at the real time now."""
        self.speed = speed
        self._real = now
        self._origin = now()

    def now(self) -> datetime:
        """Return the current simulated time."""
        return self._origin + (self._real() - self._origin) * self.speed
