"""Asynchronous client of the Dexcom Share service."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
import json
import logging
import math
import re
from typing import TYPE_CHECKING, Any, Final
import uuid

import aiohttp

from .const import (
    APPLICATION_IDS,
    AUTH_ERROR_CODES,
    AUTHENTICATE_ENDPOINT,
    BASE_URLS,
    LOCKED_ERROR_CODES,
    LOGIN_ENDPOINT,
    MAX_COUNT,
    MAX_MINUTES,
    NULL_UUID,
    RATE_LIMITED_STATUS,
    READINGS_ENDPOINT,
    SERVICE_PATH,
    SESSION_ERROR_CODES,
    UNAVAILABLE_STATUSES,
    USER_AGENT,
    Region,
)
from .exceptions import (
    ShareAccountLockedError,
    ShareAuthenticationError,
    ShareConnectionError,
    ShareError,
    ShareInvalidArgumentError,
    ShareInvalidResponseError,
    ShareNullSessionError,
    ShareRateLimitedError,
    ShareServerError,
    ShareSessionError,
    ShareUnavailableError,
    ShareUnrecognizedServerError,
)
from .models import LEGACY_TRENDS, OUT_OF_RANGE_HIGH, OUT_OF_RANGE_LOW, GlucoseReading, Trend

if TYPE_CHECKING:
    from collections.abc import Mapping

    from multidict import CIMultiDictProxy

_LOGGER = logging.getLogger(__name__)

_HEADERS: Final = {
    "Accept": "application/json",
    "Content-Type": "application/json",
    "User-Agent": USER_AGENT,
}
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_DATE_RE: Final = re.compile(r"/?Date\((?P<ms>\d+)(?P<offset>[+-]\d{4})?\)/?")
_CODE_RE: Final = re.compile(r"\w{1,64}")
_TREND_SEPARATORS_RE: Final = re.compile(r"[\s_]+")
_TRENDS_BY_KEY: Final = {trend.value.replace("_", ""): trend for trend in Trend}
_ERRORS_BY_CODE: Final[dict[str, type[ShareError]]] = {
    **dict.fromkeys(AUTH_ERROR_CODES, ShareAuthenticationError),
    **dict.fromkeys(LOCKED_ERROR_CODES, ShareAccountLockedError),
    **dict.fromkeys(SESSION_ERROR_CODES, ShareSessionError),
    "InvalidArgument": ShareInvalidArgumentError,
}


class ShareClient:
    """Client of the Dexcom Share service for one publisher account."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        username: str,
        password: str,
        *,
        region: Region = Region.US,
        base_url: str | None = None,
        account_id: str | None = None,
        request_timeout: float = 10.0,
    ) -> None:
        """Set up the client; no request is made until login or get_readings."""
        self._session = session
        self._username = username
        self._password = password
        self._region = Region(region)
        base = base_url or BASE_URLS[self._region]
        self._base_url = base if base.endswith("/") else f"{base}/"
        self._application_id = APPLICATION_IDS[self._region]
        self._account_id = account_id or None
        self._session_id: str | None = None
        self._request_timeout = request_timeout
        self._lock = asyncio.Lock()
        # Dexcom's servers are Share; another server only once it has answered like Share.
        self._answered_like_share = self._base_url in BASE_URLS.values()

    def __repr__(self) -> str:
        """Show the server only, never a secret."""
        return f"ShareClient(region={self._region.value!r}, base_url={self._base_url!r})"

    async def login(self) -> str:
        """Open a new session and return the account id."""
        async with self._lock:
            account_id, _ = await self._login()
        return account_id

    async def get_readings(
        self, minutes: int = MAX_MINUTES, max_count: int = MAX_COUNT
    ) -> list[GlucoseReading]:
        """Return the readings of the last minutes, oldest first."""
        _check_bounds(minutes, max_count)
        async with self._lock:
            return await self._fetch(minutes, max_count)

    async def _login(self) -> tuple[str, str]:
        """Authenticate when the account id is unknown, then open a session."""
        self._session_id = None
        account_id = self._account_id or await self._authenticate()
        self._account_id = account_id
        answer = await self._post(
            LOGIN_ENDPOINT,
            {
                "accountId": account_id,
                "password": self._password,
                "applicationId": self._application_id,
            },
        )
        session_id = _parse_uuid(answer, "session id")
        if session_id == NULL_UUID:
            # Share answered wrong passwords with it (pydexcom issues #2 and #18).
            msg = "Dexcom Share answered the login with the null session id"
            raise ShareNullSessionError(msg)
        self._session_id = session_id
        _LOGGER.debug("Opened a Dexcom Share session")
        return account_id, session_id

    async def _authenticate(self) -> str:
        """Look up the account id of the account name."""
        answer = await self._post(
            AUTHENTICATE_ENDPOINT,
            {
                "accountName": self._username,
                "password": self._password,
                "applicationId": self._application_id,
            },
        )
        account_id = _parse_uuid(answer, "account id")
        if account_id == NULL_UUID:
            # pydexcom rejects the null account id as a failed login; so do we,
            # which sends the user to re-authentication instead of a retry.
            msg = "Dexcom Share returned no account for these credentials"
            raise ShareAuthenticationError(msg)
        return account_id

    async def _fetch(self, minutes: int, max_count: int) -> list[GlucoseReading]:
        """Read with the current session, logging in again once if it expired."""
        session_id = self._session_id or (await self._login())[1]
        try:
            return await self._read(session_id, minutes, max_count)
        except ShareSessionError:
            _LOGGER.debug("Dexcom Share session expired; logging in again")
        _, session_id = await self._login()
        try:
            return await self._read(session_id, minutes, max_count)
        except ShareSessionError as err:
            msg = "Dexcom Share session stayed invalid after logging in again"
            raise ShareSessionError(msg) from err

    async def _read(self, session_id: str, minutes: int, max_count: int) -> list[GlucoseReading]:
        """Read the readings once with the given session."""
        params = {
            "sessionId": session_id,
            "minutes": str(minutes),
            "maxCount": str(max_count),
        }
        try:
            return parse_readings(await self._post(READINGS_ENDPOINT, {}, params))
        except (ShareSessionError, ShareInvalidResponseError):
            # A dead session can also answer with garbage; start afresh next time.
            self._session_id = None
            raise

    async def _post(
        self,
        endpoint: str,
        body: Mapping[str, str],
        params: Mapping[str, str] | None = None,
    ) -> object:
        """Post a JSON body and return the decoded JSON answer."""
        _LOGGER.debug("Calling Dexcom Share %s", endpoint)
        try:
            async with (
                asyncio.timeout(self._request_timeout),
                self._session.post(
                    f"{self._base_url}{endpoint}",
                    params=params,
                    data=json.dumps(body),
                    headers=_HEADERS,
                ) as response,
            ):
                status = response.status
                headers = response.headers
                raw = await response.read()
        # Errors are raised from None: aiohttp may name the URL with the session id.
        except TimeoutError:
            msg = f"Timed out talking to Dexcom Share after {self._request_timeout:g} s"
            raise ShareConnectionError(msg) from None
        except (aiohttp.ClientError, OSError) as err:
            msg = f"Cannot talk to Dexcom Share ({_describe(err)})"
            raise ShareConnectionError(msg) from None
        if not 200 <= status < 300:  # noqa: PLR2004
            raise self._error(status, headers, raw)
        try:
            answer = json.loads(raw)
        except ValueError:
            msg = f"Dexcom Share {endpoint} answered with a body that is not JSON"
            raise ShareInvalidResponseError(msg) from None
        self._answered_like_share = True
        return answer

    def _error(self, status: int, headers: CIMultiDictProxy[str], raw: bytes) -> ShareError:
        """Map an HTTP error answer to an exception.

        A 429 is the rate limit whatever its body; a Dexcom fault is mapped by its Code;
        a page instead of JSON is Share being unavailable, from a server that is Share.
        """
        if status == RATE_LIMITED_STATUS:
            return _rate_limited(headers)
        code, message = _fault_fields(raw)
        if code is not None:
            self._answered_like_share = True
            return _fault_error(status, code, message)
        if self._answered_like_share and status in UNAVAILABLE_STATUSES and _is_page(raw):
            return ShareUnavailableError(
                f"Dexcom Share is unavailable: HTTP {status} with a page instead of JSON"
            )
        if 400 <= status < 500:  # noqa: PLR2004
            return ShareUnrecognizedServerError(
                f"The server answered HTTP {status} with no Dexcom fault"
            )
        return ShareServerError(f"Dexcom Share answered HTTP {status}")


def service_url(url: str) -> str:
    """Return the Share service URL of a server address, ending with a slash.

    A bare origin (https://share2.dexcom.com) gets Share's service path; a URL
    with a path is taken as the service URL itself.
    """
    url = url.strip()
    _, separator, rest = url.partition("://")
    if not separator or "/" not in rest.rstrip("/"):
        return f"{url.rstrip('/')}{SERVICE_PATH}"
    return url if url.endswith("/") else f"{url}/"


def _describe(err: BaseException) -> str:
    """Name a connection error and its OS-level cause, never the URL or its query."""
    cause = err.os_error if isinstance(err, aiohttp.ClientConnectorError) else err
    if isinstance(cause, OSError) and cause.strerror:
        return f"{type(err).__name__}: {cause.strerror}"
    return type(err).__name__


def parse_readings(payload: object) -> list[GlucoseReading]:
    """Turn a ReadPublisherLatestGlucoseValues answer into readings, oldest first."""
    if not isinstance(payload, list) or not all(isinstance(e, dict) for e in payload):
        msg = "Dexcom Share readings are not a list of objects"
        raise ShareInvalidResponseError(msg)
    readings: dict[datetime, GlucoseReading] = {}
    for entry in payload:
        reading = _parse_entry(entry)
        if reading is not None:
            readings.setdefault(reading.time, reading)
    return sorted(readings.values(), key=lambda reading: reading.time)


def _parse_entry(entry: Mapping[str, Any]) -> GlucoseReading | None:
    """Turn one Share entry into a reading, or None when it is unusable."""
    value = _parse_value(entry.get("Value"))
    if value is None:
        _LOGGER.debug("Skipping a Dexcom Share entry without a usable Value")
        return None
    wall = _parse_date(entry.get("WT"))
    if wall is None:
        _LOGGER.debug("Skipping a Dexcom Share entry without a usable WT")
        return None
    display = _parse_date(entry.get("DT"))
    offset = UTC if display is None else display[1]
    return GlucoseReading(
        value=value,
        trend=_parse_trend(entry.get("Trend")),
        time=wall[0],
        display_time=wall[0].astimezone(offset),
    )


def _parse_value(raw: object) -> int | None:
    """Return a positive glucose value in mg/dL, or None.

    A value beyond Dexcom's LOW (39) or HIGH (401) is taken as that flag.
    """
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    if not math.isfinite(raw) or raw <= 0:
        return None
    return min(max(round(raw), OUT_OF_RANGE_LOW), OUT_OF_RANGE_HIGH)


def _parse_date(raw: object) -> tuple[datetime, timezone] | None:
    """Parse Date(ms[+-hhmm]) into the UTC instant and the UTC offset."""
    if not isinstance(raw, str):
        return None
    match = _DATE_RE.fullmatch(raw.strip())
    if match is None:
        return None
    try:
        instant = _EPOCH + timedelta(milliseconds=int(match["ms"]))
    except OverflowError:
        return None
    return instant, _parse_offset(match["offset"])


def _parse_offset(raw: str | None) -> timezone:
    """Parse +hhmm or -hhmm, falling back to UTC."""
    if raw is None:
        return UTC
    hours, minutes = int(raw[1:3]), int(raw[3:5])
    if hours > 23 or minutes > 59:  # noqa: PLR2004
        return UTC
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if raw.startswith("-") else delta)


def _parse_trend(raw: object) -> Trend:
    """Map a trend string or legacy integer to a Trend."""
    if isinstance(raw, str):
        trend = _TRENDS_BY_KEY.get(_TREND_SEPARATORS_RE.sub("", raw).lower())
        if trend is not None:
            return trend
    elif isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < len(LEGACY_TRENDS):
        return LEGACY_TRENDS[raw]
    _LOGGER.debug("Unknown Dexcom Share trend %.40r; using none", raw)
    return Trend.NONE


def _parse_uuid(answer: object, name: str) -> str:
    """Return the UUID string of a login answer in canonical form."""
    if not isinstance(answer, str):
        msg = f"Dexcom Share returned a {name} that is not a string"
        raise ShareInvalidResponseError(msg)
    try:
        return str(uuid.UUID(answer))
    except ValueError:
        msg = f"Dexcom Share returned a {name} that is not a UUID"
        raise ShareInvalidResponseError(msg) from None


def _rate_limited(headers: CIMultiDictProxy[str]) -> ShareRateLimitedError:
    """Return the error of a 429, with the wait its Retry-After asks for."""
    wait = retry_after(headers.get("Retry-After"), headers.get("Date"))
    asked = "no wait given" if wait is None else f"retry after {wait.total_seconds():g} s"
    return ShareRateLimitedError(f"Dexcom Share is limiting requests ({asked})", wait)


def retry_after(value: str | None, date: str | None = None) -> timedelta | None:
    """Return the wait of a Retry-After header: seconds, or an HTTP date.

    A date is counted from the answer's Date header when it has one (the server's own
    clock), else from now. None when the header is missing or unreadable.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        try:
            return timedelta(seconds=int(value))
        except OverflowError:
            return None
    until = _http_date(value)
    if until is None:
        return None
    sent = _http_date(date) if date is not None else None
    return max(until - (sent or datetime.now(UTC)), timedelta(0))


def _http_date(value: str) -> datetime | None:
    """Parse an HTTP date, taken as UTC; None when it is not one."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _is_page(raw: bytes) -> bool:
    """Return whether a body is a page or nothing rather than JSON."""
    try:
        json.loads(raw)
    except ValueError:
        return True
    return False


def _fault_error(status: int, code: str, message: str) -> ShareError:
    """Map a Dexcom fault to an exception, by its Code."""
    error = _ERRORS_BY_CODE.get(code, ShareServerError)
    if code == "SSO_InternalError" and "cannot authenticate" in message.lower():
        error = ShareAuthenticationError
    # Never copy Message into the error: it can hold the session id.
    shown = code if _CODE_RE.fullmatch(code) else "an unreadable code"
    return error(f"Dexcom Share answered HTTP {status} with {shown}")


def _fault_fields(raw: bytes) -> tuple[str | None, str]:
    """Return the Code and Message of a Dexcom fault body, if it is one."""
    try:
        body = json.loads(raw)
    except ValueError:
        return None, ""
    if not isinstance(body, dict):
        return None, ""
    code, message = body.get("Code"), body.get("Message")
    if not isinstance(code, str) or not code:
        return None, ""
    return code, message if isinstance(message, str) else ""


def _check_bounds(minutes: int, max_count: int) -> None:
    """Raise ValueError when minutes or max_count is out of range."""
    if not 1 <= minutes <= MAX_MINUTES:
        msg = f"minutes must be between 1 and {MAX_MINUTES}, not {minutes}"
        raise ValueError(msg)
    if not 1 <= max_count <= MAX_COUNT:
        msg = f"max_count must be between 1 and {MAX_COUNT}, not {max_count}"
        raise ValueError(msg)
