"""Faults the simulator can inject into its answers."""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from http import HTTPStatus
import math
from typing import TYPE_CHECKING, Any

from .wire import LOGIN_ENDPOINT

if TYPE_CHECKING:
    from datetime import datetime


class FaultKind(StrEnum):
    """A way for Share to misbehave."""

    SERVER_ERROR = "server_error"
    """HTTP 500 (or `status`) with a JSON body that has no Dexcom Code."""
    HTML_ERROR = "html_error"
    """HTTP 503 (or `status`, e.g. 403 for a web firewall) with an HTML page, as a proxy
    sends it; with `retry_after`, a Retry-After header too (a maintenance window)."""
    RATE_LIMITED = "rate_limited"
    """HTTP 429 with a firewall's HTML page, and Retry-After of `retry_after` seconds if set."""
    TIMEOUT = "timeout"
    """Answer normally, but only after `delay` seconds (of the event loop's clock)."""
    MALFORMED = "malformed"
    """Answer normally, but cut the body in half so it is not valid JSON."""
    DISCONNECT = "disconnect"
    """Close the connection without answering."""
    EMPTY = "empty"
    """Readings only: answer an empty list."""
    DUPLICATES = "duplicates"
    """Readings only: repeat every other entry."""
    OUT_OF_ORDER = "out_of_order"
    """Readings only: swap neighbouring entries."""
    UNKNOWN_TREND = "unknown_trend"
    """Readings only: a trend Share might add one day (a name, or an index past the end)."""
    NULL_SESSION = "null_session"
    """Logins by id only: answer the null session id, and count a failed login.

    Share answered wrong passwords this way (pydexcom issues #2 and #18), so the
    simulator takes it as a failed login that brings the lockout closer.
    """


# Kinds that change a successful readings list rather than the whole answer.
LIST_KINDS = frozenset(
    {FaultKind.EMPTY, FaultKind.DUPLICATES, FaultKind.OUT_OF_ORDER, FaultKind.UNKNOWN_TREND}
)
# Kinds that only ever hit one endpoint.
ONLY_ENDPOINT = {FaultKind.NULL_SESSION: LOGIN_ENDPOINT}
UNKNOWN_TREND_NAME = "SidewaysUp"
UNKNOWN_TREND_INDEX = 10  # one past RateOutOfRange, for the legacy integer trends


@dataclass(eq=False)
class Fault:
    """A fault that hits matching requests, a number of times or until cleared."""

    kind: FaultKind
    remaining: int | None = 1
    """Requests left to hit; None means until cleared."""
    endpoint: str | None = None
    """Only hit this endpoint, e.g. READINGS_ENDPOINT; None means all."""
    delay: float = 30.0
    """Seconds to wait, for TIMEOUT: real ones, or simulated where the loop's clock is frozen."""
    status: int | None = None
    """HTTP status for SERVER_ERROR and HTML_ERROR."""
    retry_after: int | None = None
    """Seconds of the Retry-After header, for RATE_LIMITED and HTML_ERROR; None: no header."""
    start: datetime | None = None
    """With `end`: only hit while the simulated time is in [start, end)."""
    end: datetime | None = None

    def hits(self, endpoint: str, now: datetime) -> bool:
        """Tell whether the fault applies to a request."""
        if self.remaining is not None and self.remaining <= 0:
            return False
        wanted = self.endpoint or ONLY_ENDPOINT.get(self.kind)
        if wanted is not None and wanted != endpoint:
            return False
        if self.start is not None and now < self.start:
            return False
        return self.end is None or now < self.end


class Faults:
    """The injected faults, in the order they were added."""

    def __init__(self) -> None:
        """Start with no faults."""
        self.active: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        """Add a fault and return it."""
        self.active.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every fault, outages included."""
        self.active.clear()

    def take(self, endpoint: str, now: datetime, *, lists: bool) -> Fault | None:
        """Return the first fault that hits a request, and count it."""
        for fault in self.active:
            if (fault.kind in LIST_KINDS) == lists and fault.hits(endpoint, now):
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self.active.remove(fault)
                return fault
        return None


def spoil(kind: FaultKind, entries: list[Any]) -> list[Any]:
    """Apply a list fault to a readings answer."""
    if kind is FaultKind.EMPTY:
        return []
    if kind is FaultKind.DUPLICATES:
        return [copy for index, entry in enumerate(entries) for copy in [entry] * (2 - index % 2)]
    if kind is FaultKind.UNKNOWN_TREND:
        return [
            entry
            | {
                "Trend": UNKNOWN_TREND_INDEX
                if isinstance(entry["Trend"], int)
                else UNKNOWN_TREND_NAME
            }
            for entry in entries
        ]
    swapped = list(entries)
    swapped[0:-1:2], swapped[1::2] = entries[1::2], entries[0:-1:2]
    return swapped


def html_page(status: int) -> str:
    """Return an error page like the one Cloudflare serves."""
    title = f"{status} {HTTPStatus(status).phrase}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
        "</body>\r\n</html>\r\n"
    )


def server_error(status: int, path: str, now: datetime) -> dict[str, Any]:
    """Return a Spring-style error body, which has no Dexcom Code."""
    return {
        "timestamp": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "status": status,
        "error": HTTPStatus(status).phrase,
        "path": path,
    }


@dataclass
class RateLimit:
    """At most `requests` requests of one account in any `window`; more answer 429.

    Each refused request gets the Retry-After that lets the oldest counted one leave the
    window. Requests that cannot be told to an account (unknown name, session) count for
    the key they name.
    """

    requests: int
    window: timedelta
    seen: defaultdict[str, deque[datetime]] = field(default_factory=lambda: defaultdict(deque))

    def refuses(self, key: str, now: datetime) -> int | None:
        """Count a request; return the seconds to wait if it is one too many."""
        times = self.seen[key]
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= self.requests:
            return max(1, math.ceil((times[0] + self.window - now).total_seconds()))
        times.append(now)
        return None
