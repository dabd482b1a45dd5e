"""Tests of the Dexcom Share client against a local aresponses server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
import json
import logging
import math
import socket
import traceback
from typing import TYPE_CHECKING, Any

from aiohttp import web
import pytest

from custom_components.cgm_handler.share.client import (
    ShareClient,
    parse_readings,
    retry_after,
    service_url,
)
from custom_components.cgm_handler.share.const import APPLICATION_IDS, BASE_URLS, Region
from custom_components.cgm_handler.share.exceptions import (
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
from custom_components.cgm_handler.share.models import GlucoseReading, OutOfRange, Trend

if TYPE_CHECKING:
    import aiohttp
    from aresponses import ResponsesMockServer  # type: ignore[import-untyped]

USERNAME = "follower@example.com"
PASSWORD = "Sw0rdfish-Pa55!"
ACCOUNT_ID = "6b0e7c3a-2f4d-4e8b-9a1c-3d5e7f9a1b2c"
SESSION_ID = "0f1e2d3c-4b5a-4968-8776-655443322110"
SESSION_ID_2 = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
NULL_UUID = "00000000-0000-0000-0000-000000000000"
US_APP_ID = "d89443d2-327c-4a6f-89e5-496bbb0317db"
JP_APP_ID = "d8665ade-9673-4e27-9ff6-92db4ce13d13"

US_HOST = "share2.dexcom.com"
PREFIX = "/ShareWebServices/Services/"
AUTH_PATH = f"{PREFIX}General/AuthenticatePublisherAccount"
LOGIN_PATH = f"{PREFIX}General/LoginPublisherAccountById"
READ_PATH = f"{PREFIX}Publisher/ReadPublisherLatestGlucoseValues"

AUTH_BODY = {"accountName": USERNAME, "password": PASSWORD, "applicationId": US_APP_ID}
LOGIN_BODY = {"accountId": ACCOUNT_ID, "password": PASSWORD, "applicationId": US_APP_ID}

MS = 1750022969925
INSTANT = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=MS)
ENTRY = {
    "WT": f"Date({MS})",
    "ST": f"Date({MS})",
    "DT": f"Date({MS}-0400)",
    "Value": 175,
    "Trend": "Flat",
}
type Call = tuple[str, str, dict[str, Any]]

READING = GlucoseReading(
    value=175,
    trend=Trend.FLAT,
    time=INSTANT,
    display_time=INSTANT.astimezone(timezone(timedelta(hours=-4))),
)


def answer(data: object, status: int = 200) -> web.Response:
    """Return a JSON response."""
    return web.Response(text=json.dumps(data), status=status, content_type="application/json")


def fault(code: str, message: str = "Error in the application.") -> web.Response:
    """Return a Dexcom fault, as an HTTP 500."""
    body = {
        "Code": code,
        "Message": message,
        "SubCode": '<OnlineException DateThrownLocal="2025-06-15" />',
        "TypeName": "FaultException",
    }
    return answer(body, status=500)


def entry(ms: int = MS, value: object = 100, trend: object = "Flat") -> dict[str, Any]:
    """Return a current-format Share entry."""
    return {
        "WT": f"Date({ms})",
        "DT": f"Date({ms}+0000)",
        "Value": value,
        "Trend": trend,
    }


def add(server: ResponsesMockServer, path: str, response: object, host: str = US_HOST) -> None:
    """Expect one POST to path on host and answer it."""
    server.add(host, path, "POST", response)


def add_login(server: ResponsesMockServer, *, authenticate: bool = True) -> None:
    """Expect a full login."""
    if authenticate:
        add(server, AUTH_PATH, answer(ACCOUNT_ID))
    add(server, LOGIN_PATH, answer(SESSION_ID))


def read_query(session_id: str = SESSION_ID, minutes: int = 1440, count: int = 288) -> str:
    """Return the exact query string of a readings request."""
    return f"sessionId={session_id}&minutes={minutes}&maxCount={count}"


async def assert_requests(server: ResponsesMockServer, expected: list[Call]) -> None:
    """Assert the exact path, query, body and headers of every request."""
    assert len(server.history) == len(expected)
    for log, (path, query, body) in zip(server.history, expected, strict=True):
        request = log.request
        assert request.method == "POST"
        assert request.path == path
        assert request.query_string == query
        assert json.loads(await request.text()) == body
        assert request.headers["Accept"] == "application/json"
        assert request.headers["Content-Type"] == "application/json"
        assert "cgm_handler" in request.headers["User-Agent"]
    server.assert_plan_strictly_followed()


def client_for(session: aiohttp.ClientSession, **kwargs: Any) -> ShareClient:
    """Return a client of the US server."""
    return ShareClient(session, USERNAME, PASSWORD, **kwargs)


FULL_LOGIN: list[Call] = [(AUTH_PATH, "", AUTH_BODY), (LOGIN_PATH, "", LOGIN_BODY)]
RELOGIN: list[Call] = [(LOGIN_PATH, "", LOGIN_BODY)]
READ: list[Call] = [(READ_PATH, read_query(), {})]


# Login and session handling


async def test_login(aresponses: ResponsesMockServer, session: aiohttp.ClientSession) -> None:
    """Login authenticates, then opens a session, and returns the account id."""
    add_login(aresponses)
    client = client_for(session)
    assert await client.login() == ACCOUNT_ID
    await assert_requests(aresponses, FULL_LOGIN)


async def test_login_canonical_uuid(
    aresponses: ResponsesMockServer, session: aiohttp.ClientSession
) -> None:
    """The account id is kept in the canonical UUID form."""
    add(aresponses, AUTH_PATH, answer(ACCOUNT_ID.upper()))
    add(aresponses, LOGIN_PATH, answer(SESSION_ID.upper()))
    add(aresponses, READ_PATH, answer([]))
    client = client_for(session)
    assert await client.login() == ACCOUNT_ID
    assert await client.get_readings() == []
    await assert_requests(aresponses, [*FULL_LOGIN, *READ])


async def test_given_account_id_skips_authenticate(
    aresponses: ResponsesMockServer, session: aiohttp.ClientSession
) -> None:
    """A given account id goes straight to LoginPublisherAccountById."""
    add_login(aresponses, authenticate=False)
    add(aresponses, READ_PATH, answer([ENTRY]))
    client = client_for(session, account_id=ACCOUNT_ID)
    assert await client.get_readings() == [READING]
    await assert_requests(aresponses, [*RELOGIN, *READ])


async def test_second_login_reuses_account_id(
    aresponses: ResponsesMockServer, session: aiohttp.ClientSession
) -> None:
    """A second login only calls LoginPublisherAccountById."""
    add_login(aresponses)
    add_login(aresponses, authenticate=False)
    client = client_for(session)
    await client.login()
    assert await client.login() == ACCOUNT_ID
    await assert_requests(aresponses, [*FULL_LOGIN, *RELOGIN])


async def test_get_readings_logs_in_first(
    aresponses: ResponsesMockServer, session: aiohttp.ClientSession
) -> None:
    """The first get_readings logs in, then posts {} with the session in the query."""
    add_login(aresponses)
    add(aresponses, READ_PATH, answer([ENTRY]))
    client = client_for(session)
    assert await client.get_readings(minutes=30, max_count=7) == [READING]
    read: list[Call] = [(READ_PATH, read_query(minutes=30, count=7), {})]
    await assert_requests(aresponses, [*FULL_LOGIN, *read])


async def test_session_reused(
    aresponses: ResponsesMockServer, session: aiohttp.ClientSession
) -> None:
    """A second get_readings makes no login."""
    add_login(aresponses)
    add(aresponses, READ_PATH, answer([ENTRY]))
    add(aresponses, READ_PATH, answer([]))
    client = client_for(session)
    assert await client.get_readings() == [READING]
    assert await client.get_readings() == []
    await assert_requests(aresponses, [*FULL_LOGIN, *READ, *READ])


async def test_concurrent_reads_log_in_once(
    aresponses: ResponsesMockServer, session: aiohttp.ClientSession
) -> None:
    """Two concurrent reads share a single login."""
    add_login(aresponses)
    add(aresponses, READ_PATH, answer([ENTRY]))
    add(aresponses, READ_PATH, answer([ENTRY]))
    client = client_for(session)
    first, second = await asyncio.gather(client.get_readings(), client.get_readings())
    assert first == second == [READING]
    await assert_requests(aresponses, [*FULL_LOGIN, *READ, *READ])


@pytest.mark.parametrize("code", ["SessionNotValid", "SessionIdNotFound"])
async def test_session_error_relogs_once(
    aresponses: ResponsesMockServer, session: aiohttp.ClientSession, code: str
) -> None:
    """A session error costs one LoginById and one retry."""
    add_login(aresponses)
    add(aresponses, READ_PATH, fault(code))
    add(aresponses, LOGIN_PATH, answer(SESSION_ID_2))
    add(aresponses, READ_PATH, answer([ENTRY]))
    client = client_for(session)
    assert await client.get_readings() == [READING]
    retry: list[Call] = [(READ_PATH, read_query(SESSION_ID_2), {})]
    await assert_requests(aresponses, [*FULL_LOGIN, *READ, *RELOGIN, *retry])


@pytest.mark.parametrize("code", ["SessionNotValid", "SessionIdNotFound"])
async def test_session_error_never_loops(
    aresponses: ResponsesMockServer, session: aiohttp.ClientSession, code: str
) -> None:
    """A second session error raises ShareSessionError; the next call logs in."""
    add_login(aresponses, authenticate=False)
    add(aresponses, READ_PATH, fault(code))
    add_login(aresponses, authenticate=False)
    add(aresponses, READ_PATH, fault("SessionNotValid"))
    client = client_for(session, account_id=ACCOUNT_ID)
    with pytest.raises(ShareSessionError, match="stayed invalid"):
        await client.get_readings()
    await assert_requests(aresponses, [*RELOGIN, *READ, *RELOGIN, *READ])
    add_login(aresponses, authenticate=False)
    add(aresponses, READ_PATH, answer([]))
    assert await client.get_readings() == []
    assert len(aresponses.history) == 6


async def test_session_error_then_bad_password(
    aresponses: ResponsesMockServer, session: aiohttp.ClientSession
) -> None:
    """A re-login refused for the password raises at once, with no retry."""
    add_login(aresponses, authenticate=False)
    add(aresponses, READ_PATH, answer([]))
    add(aresponses, READ_PATH, fault("SessionNotValid"))
    add(aresponses, LOGIN_PATH, fault("AccountPasswordInvalid"))
    client = client_for(session, account_id=ACCOUNT_ID)
    await client.get_readings()
    with pytest.raises(ShareAuthenticationError):
        await client.get_readings()
    await assert_requests(aresponses, [*RELOGIN, *READ, *READ, *RELOGIN])


async def test_null_session_is_never_used(
    aresponses: ResponsesMockServer, session: aiohttp.ClientSession
) -> None:
    """A null session id raises at once, even on a re-login; the next call logs in again."""
    add_login(aresponses, authenticate=False)
    add(aresponses, READ_PATH, fault("SessionNotValid"))
    add(aresponses, LOGIN_PATH, answer(NULL_UUID))
    add(aresponses, LOGIN_PATH, answer(SESSION_ID_2))
    add(aresponses, READ_PATH, answer([ENTRY]))
    client = client_for(session, account_id=ACCOUNT_ID)
    with pytest.raises(ShareNullSessionError, match="null session id"):
        await client.get_readings()
    assert await client.get_readings() == [READING]
    retry: list[Call] = [(READ_PATH, read_query(SESSION_ID_2), {})]
    await assert_requests(aresponses, [*RELOGIN, *READ, *RELOGIN, *RELOGIN, *retry])


async def test_invalid_readings_drop_session(
    aresponses: ResponsesMockServer, session: aiohttp.ClientSession
) -> None:
    """A garbage readings answer is not retried, but the next call logs in again."""
    add_login(aresponses, authenticate=False)
    add(aresponses, READ_PATH, web.Response(text=""))
    add_login(aresponses, authenticate=False)
    add(aresponses, READ_PATH, answer([ENTRY]))
    client = client_for(session, account_id=ACCOUNT_ID)
    with pytest.raises(ShareInvalidResponseError):
        await client.get_readings()
    assert await client.get_readings() == [READING]
    await assert_requests(aresponses, [*RELOGIN, *READ, *RELOGIN, *READ])


# Error mapping


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("AccountPasswordInvalid", "Publisher account password failed"),
        ("SSO_AuthenticatePasswordInvalid", "Password invalid"),
        ("SSO_AuthenticateAccountNotFound", "Account not found"),
        ("SSO_InternalError", "Cannot Authenticate by AccountName"),
        ("SSO_InternalError", "cannot authenticate by AccountId"),
    ],
)
@pytest.mark.parametrize("account_id", [None, ACCOUNT_ID])
async def test_bad_password_costs_one_request(
    aresponses: ResponsesMockServer,
    session: aiohttp.ClientSession,
    code: str,
    message: str,
    account_id: str | None,
) -> None:
    """A refused login raises ShareAuthenticationError after one request."""
    path = AUTH_PATH if account_id is None else LOGIN_PATH
    add(aresponses, path, fault(code, message))
    client = client_for(session, account_id=account_id)
    with pytest.raises(ShareAuthenticationError, match=code):
        await client.get_readings()
    assert len(aresponses.history) == 1
    # The refusal neither learns nor forgets the account id: the next try starts alike.
    add(aresponses, path, fault(code, message))
    with pytest.raises(ShareAuthenticationError, match=code):
        await client.get_readings()
    assert [log.request.path for log in aresponses.history] == [path, path]
    aresponses.assert_plan_strictly_followed()


@pytest.mark.parametrize(
    "code",
    ["SSO_AuthenticateMaxAttemptsExceeded", "SSO_AuthenticateMaxAttemptsExceeed"],
)
@pytest.mark.parametrize("account_id", [None, ACCOUNT_ID])
async def test_lockout_costs_one_request(
    aresponses: ResponsesMockServer,
    session: aiohttp.ClientSession,
    code: str,
    account_id: str | None,
) -> None:
    """A lockout raises ShareAccountLockedError after one request."""
    path = AUTH_PATH if account_id is None else LOGIN_PATH
    add(aresponses, path, fault(code, "Maximum attempts exceeded"))
    client = client_for(session, account_id=account_id)
    with pytest.raises(ShareAccountLockedError, match=code):
        await client.login()
    assert len(aresponses.history) == 1
    aresponses.assert_plan_strictly_followed()


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (fault("InvalidArgument", "accountName"), ShareInvalidArgumentError),
        (fault("SSO_InternalError", "Something else broke"), ShareServerError),
        (fault("SomethingNew"), ShareServerError),
        (fault("Weird code with spaces"), ShareServerError),
        (answer({"Message": "no code"}, status=500), ShareServerError),
        (answer({"Code": None}, status=500), ShareServerError),
        (answer(["Code"], status=500), ShareServerError),
        (web.Response(text="<html>Bad gateway</html>", status=502), ShareUnavailableError),
        (web.Response(text="", status=503), ShareUnavailableError),
        (answer({"Message": "no code"}, status=503), ShareServerError),
        (web.Response(text="Not found", status=404), ShareUnrecognizedServerError),
        (web.Response(text="Method not allowed", status=405), ShareUnrecognizedServerError),
        (web.Response(text="not json"), ShareInvalidResponseError),
        (web.Response(text=""), ShareInvalidResponseError),
        (web.Response(text="<html>Maintenance</html>"), ShareInvalidResponseError),
        (answer(12345), ShareInvalidResponseError),
        (answer({"accountId": ACCOUNT_ID}), ShareInvalidResponseError),
        (answer([ACCOUNT_ID]), ShareInvalidResponseError),
        (answer(None), ShareInvalidResponseError),
        (answer("not-a-uuid"), ShareInvalidResponseError),
        (answer(""), ShareInvalidResponseError),
        (answer(NULL_UUID), ShareAuthenticationError),
    ],
)
async def test_authenticate_errors(
    aresponses: ResponsesMockServer,
    session: aiohttp.ClientSession,
    response: web.Response,
    error: type[ShareError],
) -> None:
    """Authenticate answers map to the right exception, after one request."""
    add(aresponses, AUTH_PATH, response)
    client = client_for(session)
    with pytest.raises(error) as info:
        await client.login()
    assert type(info.value) is error
    assert len(aresponses.history) == 1
    # No account id was learnt: the next login authenticates again.
    add_login(aresponses)
    assert await client.login() == ACCOUNT_ID
    assert [log.request.path for log in aresponses.history] == [AUTH_PATH, AUTH_PATH, LOGIN_PATH]
    aresponses.assert_plan_strictly_followed()


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (fault("InvalidArgument", "UUID"), ShareInvalidArgumentError),
        (fault("SessionNotValid"), ShareSessionError),
        (answer(NULL_UUID), ShareNullSessionError),
        (answer("12345"), ShareInvalidResponseError),
        (answer({"sessionId": SESSION_ID}), ShareInvalidResponseError),
        (web.Response(text="<html></html>", status=500), ShareServerError),
    ],
)
async def test_login_by_id_errors(
    aresponses: ResponsesMockServer,
    session: aiohttp.ClientSession,
    response: web.Response,
    error: type[ShareError],
) -> None:
    """LoginPublisherAccountById answers map to the right exception."""
    add(aresponses, LOGIN_PATH, response)
    client = client_for(session, account_id=ACCOUNT_ID)
    with pytest.raises(error) as info:
        await client.get_readings()
    assert type(info.value) is error
    assert len(aresponses.history) == 1
    aresponses.assert_plan_strictly_followed()


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (fault("InvalidArgument", "maxCount"), ShareInvalidArgumentError),
        (fault("AccountPasswordInvalid"), ShareAuthenticationError),
        (fault("SomethingNew"), ShareServerError),
        (web.Response(text="<html>Error</html>", status=500), ShareServerError),
        (web.Response(text="<html>OK</html>"), ShareInvalidResponseError),
        (answer({"Code": "SessionNotValid"}), ShareInvalidResponseError),
        (answer("[]"), ShareInvalidResponseError),
        (answer([ENTRY, "not an object"]), ShareInvalidResponseError),
        (answer([[ENTRY]]), ShareInvalidResponseError),
    ],
)
async def test_readings_errors(
    aresponses: ResponsesMockServer,
    session: aiohttp.ClientSession,
    response: web.Response,
    error: type[ShareError],
) -> None:
    """Readings answers map to the right exception, without a retry."""
    add_login(aresponses, authenticate=False)
    add(aresponses, READ_PATH, response)
    client = client_for(session, account_id=ACCOUNT_ID)
    with pytest.raises(error) as info:
        await client.get_readings()
    assert type(info.value) is error
    await assert_requests(aresponses, [*RELOGIN, *READ])


# Rate limits and unavailable pages

CUSTOM_HOST = "127.0.0.1:8090"
CUSTOM_URL = f"http://{CUSTOM_HOST}{PREFIX}"
FIREWALL_PAGE = "<!DOCTYPE html><html><title>Attention Required! | Cloudflare</title></html>"


def page(status: int, text: str = FIREWALL_PAGE, **headers: str) -> web.Response:
    """Return an HTML page, as a web firewall or a maintenance server answers."""
    return web.Response(text=text, status=status, content_type="text/html", headers=headers)


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"Retry-After": "120"}, timedelta(minutes=2)),
        ({"Retry-After": " 0 "}, timedelta(0)),
        (
            {
                "Retry-After": "Mon, 07 Dec 2026 13:30:00 GMT",
                "Date": "Mon, 07 Dec 2026 13:00:00 GMT",
            },
            timedelta(minutes=30),
        ),
        (
            {
                "Retry-After": "Mon, 07 Dec 2026 12:59:00 GMT",
                "Date": "Mon, 07 Dec 2026 13:00:00 GMT",
            },
            timedelta(0),
        ),
        ({}, None),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "-5"}, None),
        ({"Retry-After": "99999999999999999999"}, None),
    ],
)
@pytest.mark.parametrize(
    "body",
    [
        FIREWALL_PAGE,
        "",
        json.dumps({"Code": "AccountPasswordInvalid", "Message": "Too many requests"}),
    ],
)
@pytest.mark.parametrize("host", [US_HOST, CUSTOM_HOST])
async def test_rate_limited(
    aresponses: ResponsesMockServer,
    session: aiohttp.ClientSession,
    *,
    headers: dict[str, str],
    wait: timedelta | None,
    body: str,
    host: str,
) -> None:
    """A 429 is the rate limit with its Retry-After, whatever its body and server.

    It keeps the session: the next read asks with it, without signing in.
    """
    base_url = None if host == US_HOST else CUSTOM_URL
    add(aresponses, LOGIN_PATH, answer(SESSION_ID), host)
    add(aresponses, READ_PATH, web.Response(text=body, status=429, headers=headers), host)
    add(aresponses, READ_PATH, answer([ENTRY]), host)
    client = client_for(session, account_id=ACCOUNT_ID, base_url=base_url)
    with pytest.raises(ShareRateLimitedError) as info:
        await client.get_readings()
    assert info.value.retry_after == wait
    assert await client.get_readings() == [READING]
    assert [log.request.path for log in aresponses.history] == [LOGIN_PATH, READ_PATH, READ_PATH]
    aresponses.assert_plan_strictly_followed()


def test_retry_after_date_without_date_header() -> None:
    """A Retry-After date is counted from now when the answer has no Date header."""
    assert retry_after("Thu, 01 Jan 1970 00:00:00 GMT") == timedelta(0)
    wait = retry_after("Fri, 31 Dec 9999 23:59:59 GMT")
    assert wait is not None
    assert wait > timedelta(days=365 * 7000)


@pytest.mark.parametrize("status", [403, 502, 503, 504])
@pytest.mark.parametrize("text", [FIREWALL_PAGE, "", "Service Unavailable"])
async def test_unavailable_page_keeps_session(
    aresponses: ResponsesMockServer, session: aiohttp.ClientSession, status: int, text: str
) -> None:
    """Dexcom's server answering a page is Share unavailable, never a reason to sign in."""
    add_login(aresponses, authenticate=False)
    add(aresponses, READ_PATH, page(status, text))
    add(aresponses, READ_PATH, answer([ENTRY]))
    client = client_for(session, account_id=ACCOUNT_ID)
    with pytest.raises(ShareUnavailableError):
        await client.get_readings()
    assert await client.get_readings() == [READING]
    await assert_requests(aresponses, [*RELOGIN, *READ, *READ])


@pytest.mark.parametrize("status", [403, 502, 503, 504])
async def test_unavailable_page_on_authenticate(
    aresponses: ResponsesMockServer, session: aiohttp.ClientSession, status: int
) -> None:
    """A page at sign-in on Dexcom's server is Share unavailable, not a wrong password."""
    add(aresponses, AUTH_PATH, page(status))
    with pytest.raises(ShareUnavailableError) as info:
        await client_for(session).login()
    assert not isinstance(info.value, ShareAuthenticationError)
    aresponses.assert_plan_strictly_followed()


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (403, ShareUnrecognizedServerError),
        (502, ShareServerError),
        (503, ShareServerError),
        (504, ShareServerError),
    ],
)
async def test_page_from_a_server_never_like_share(
    aresponses: ResponsesMockServer,
    session: aiohttp.ClientSession,
    status: int,
    error: type[ShareError],
) -> None:
    """A custom server that never answered like Share is not taken for Share by a page."""
    add(aresponses, AUTH_PATH, page(status), CUSTOM_HOST)
    with pytest.raises(ShareError) as info:
        await client_for(session, base_url=CUSTOM_URL).login()
    assert type(info.value) is error
    aresponses.assert_plan_strictly_followed()


async def test_page_after_a_share_answer(
    aresponses: ResponsesMockServer, session: aiohttp.ClientSession
) -> None:
    """Once a custom server answered like Share, a page from it is Share unavailable."""
    add(aresponses, LOGIN_PATH, answer(SESSION_ID), CUSTOM_HOST)
    add(aresponses, READ_PATH, page(403), CUSTOM_HOST)
    client = client_for(session, account_id=ACCOUNT_ID, base_url=CUSTOM_URL)
    with pytest.raises(ShareUnavailableError):
        await client.get_readings()
    aresponses.assert_plan_strictly_followed()


async def test_page_after_a_share_fault(
    aresponses: ResponsesMockServer, session: aiohttp.ClientSession
) -> None:
    """A Dexcom fault is an answer like Share's too."""
    add(aresponses, AUTH_PATH, fault("SSO_AuthenticateAccountNotFound"), CUSTOM_HOST)
    add(aresponses, AUTH_PATH, page(503), CUSTOM_HOST)
    client = client_for(session, base_url=CUSTOM_URL)
    with pytest.raises(ShareAuthenticationError):
        await client.login()
    with pytest.raises(ShareUnavailableError):
        await client.login()
    aresponses.assert_plan_strictly_followed()


@pytest.mark.parametrize(
    ("minutes", "max_count"), [(0, 288), (1441, 288), (1440, 0), (1440, 289), (-5, 1)]
)
async def test_bounds(
    aresponses: ResponsesMockServer,
    session: aiohttp.ClientSession,
    minutes: int,
    max_count: int,
) -> None:
    """Out-of-range arguments raise ValueError before any request."""
    client = client_for(session)
    with pytest.raises(ValueError, match="between 1 and"):
        await client.get_readings(minutes, max_count)
    assert aresponses.history == []


async def test_bounds_inclusive(
    aresponses: ResponsesMockServer, session: aiohttp.ClientSession
) -> None:
    """The limits 1 and 1440 / 288 are allowed."""
    add_login(aresponses, authenticate=False)
    add(aresponses, READ_PATH, answer([]))
    add(aresponses, READ_PATH, answer([]))
    client = client_for(session, account_id=ACCOUNT_ID)
    await client.get_readings(1, 1)
    await client.get_readings(1440, 288)
    reads = [(READ_PATH, read_query(minutes=1, count=1), {}), *READ]
    await assert_requests(aresponses, [*RELOGIN, *reads])


async def test_timeout(aresponses: ResponsesMockServer, session: aiohttp.ClientSession) -> None:
    """A server slower than request_timeout raises ShareConnectionError."""
    release = asyncio.Event()

    async def slow(_request: web.Request) -> web.Response:
        await release.wait()
        return answer(ACCOUNT_ID)

    add(aresponses, AUTH_PATH, slow)
    client = client_for(session, request_timeout=0.05)
    with pytest.raises(ShareConnectionError, match=r"Timed out .* after 0\.05 s"):
        await client.login()
    release.set()


async def test_connection_refused(session: aiohttp.ClientSession) -> None:
    """A closed port raises ShareConnectionError."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}/ShareWebServices/Services/"
    client = client_for(session, base_url=base_url)
    with pytest.raises(
        ShareConnectionError, match=r"Cannot talk .*\(ClientConnector\w*Error: .+\)"
    ):
        await client.login()


@pytest.mark.parametrize(
    ("typed", "url"),
    [
        ("https://share2.dexcom.com", "https://share2.dexcom.com/ShareWebServices/Services/"),
        ("https://share2.dexcom.com/", "https://share2.dexcom.com/ShareWebServices/Services/"),
        (" http://127.0.0.1:8090 ", "http://127.0.0.1:8090/ShareWebServices/Services/"),
        ("http://[::1]:8090/", "http://[::1]:8090/ShareWebServices/Services/"),
        ("https://example.com/share", "https://example.com/share/"),
        (
            "https://example.com/ShareWebServices/Services",
            "https://example.com/ShareWebServices/Services/",
        ),
        (
            "https://example.com/ShareWebServices/Services/",
            "https://example.com/ShareWebServices/Services/",
        ),
    ],
)
def test_service_url(typed: str, url: str) -> None:
    """A bare origin gets Share's service path; a URL with a path keeps it."""
    assert service_url(typed) == url


async def test_broken_http(aresponses: ResponsesMockServer, session: aiohttp.ClientSession) -> None:
    """An answer that is not HTTP raises ShareConnectionError."""
    add(aresponses, AUTH_PATH, aresponses.RawResponse(b"garbage\r\n\r\n"))
    client = client_for(session)
    with pytest.raises(ShareConnectionError, match="Cannot talk"):
        await client.login()


# Regions and base URLs


@pytest.mark.parametrize(
    ("region", "host", "app_id"),
    [
        (Region.US, "share2.dexcom.com", US_APP_ID),
        (Region.OUS, "shareous1.dexcom.com", US_APP_ID),
        (Region.JP, "share.dexcom.jp", JP_APP_ID),
        ("jp", "share.dexcom.jp", JP_APP_ID),
    ],
)
async def test_regions(
    aresponses: ResponsesMockServer,
    session: aiohttp.ClientSession,
    region: Region,
    host: str,
    app_id: str,
) -> None:
    """Each region talks HTTPS to its own host with its application id."""
    add(aresponses, AUTH_PATH, answer(ACCOUNT_ID), host=host)
    add(aresponses, LOGIN_PATH, answer(SESSION_ID), host=host)
    add(aresponses, READ_PATH, answer([ENTRY]), host=host)
    client = client_for(session, region=region)
    assert await client.get_readings() == [READING]
    assert BASE_URLS[Region(region)] == f"https://{host}{PREFIX}"
    assert APPLICATION_IDS[Region(region)] == app_id
    auth = {**AUTH_BODY, "applicationId": app_id}
    login = {**LOGIN_BODY, "applicationId": app_id}
    expected = [(AUTH_PATH, "", auth), (LOGIN_PATH, "", login), *READ]
    await assert_requests(aresponses, expected)
    # aresponses marks requests that the client sent over TLS.
    assert all(log.request.headers["AResponsesIsSSL"] for log in aresponses.history)


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:8090/ShareWebServices/Services/",
        "http://127.0.0.1:8090/ShareWebServices/Services",
    ],
)
async def test_base_url(
    aresponses: ResponsesMockServer, session: aiohttp.ClientSession, base_url: str
) -> None:
    """An explicit base URL wins over the region host; the region picks the app id."""
    host = "127.0.0.1:8090"
    add(aresponses, AUTH_PATH, answer(ACCOUNT_ID), host=host)
    add(aresponses, LOGIN_PATH, answer(SESSION_ID), host=host)
    client = client_for(session, region=Region.JP, base_url=base_url)
    await client.login()
    auth = {**AUTH_BODY, "applicationId": JP_APP_ID}
    login = {**LOGIN_BODY, "applicationId": JP_APP_ID}
    await assert_requests(aresponses, [(AUTH_PATH, "", auth), (LOGIN_PATH, "", login)])
    assert not any(log.request.headers["AResponsesIsSSL"] for log in aresponses.history)


def test_repr(session: aiohttp.ClientSession) -> None:
    """The repr names the server only."""
    client = client_for(session, region=Region.OUS, account_id=ACCOUNT_ID)
    assert repr(client) == (
        "ShareClient(region='ous', "
        "base_url='https://shareous1.dexcom.com/ShareWebServices/Services/')"
    )


def test_invalid_region(session: aiohttp.ClientSession) -> None:
    """An unknown region raises ValueError."""
    with pytest.raises(ValueError, match="eu"):
        ShareClient(session, USERNAME, PASSWORD, region="eu")  # type: ignore[arg-type]


# Parsing


def utc(ms: int) -> datetime:
    """Return the UTC instant of epoch milliseconds."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def test_parse_current_format() -> None:
    """A current pydexcom-style entry parses."""
    (reading,) = parse_readings([ENTRY])
    assert reading == READING
    assert reading.time.tzinfo is UTC
    assert reading.time == datetime(2025, 6, 15, 21, 29, 29, 925000, tzinfo=UTC)
    assert reading.display_time.utcoffset() == timedelta(hours=-4)
    assert reading.display_time.hour == 17


@pytest.mark.parametrize(
    ("wt", "dt", "ms", "offset"),
    [
        ("Date(1426292039000)", "Date(1426292016000-0700)", 1426292039000, -420),
        ("/Date(1426292039000)/", "/Date(1426292016000-0700)/", 1426292039000, -420),
        ("Date(1426292039000)", "Date(1426292016000+0530)", 1426292039000, 330),
        ("Date(1426292039000)", "Date(1426292016000)", 1426292039000, 0),
        ("Date(1426292039000+0200)", "Date(1426292016000+0200)", 1426292039000, 120),
        ("/Date(1426292039000-0100)/", None, 1426292039000, 0),
        (" Date(1587179623000) ", "Date(1587165223000+0000)", 1587179623000, 0),
        ("Date(0)", "garbage", 0, 0),
        ("Date(1426292039000)", "Date(1426292016000+2500)", 1426292039000, 0),
        ("Date(1426292039000)", "Date(1426292016000-0popo)", 1426292039000, 0),
        ("Date(1426292039000)", 1426292016000, 1426292039000, 0),
    ],
)
def test_parse_dates(wt: str, dt: object, ms: int, offset: int) -> None:
    """WT is the UTC instant; only DT's offset is used, for display_time."""
    raw: dict[str, object] = {"WT": wt, "Value": 100, "Trend": "Flat"}
    if dt is not None:
        raw["DT"] = dt
    (reading,) = parse_readings([raw])
    assert reading.time == utc(ms)
    assert reading.time.utcoffset() == timedelta(0)
    assert reading.display_time == reading.time
    assert reading.display_time.utcoffset() == timedelta(minutes=offset)


@pytest.mark.parametrize(
    ("trend", "expected"),
    [
        ("None", Trend.NONE),
        ("DoubleUp", Trend.DOUBLE_UP),
        ("SingleUp", Trend.SINGLE_UP),
        ("FortyFiveUp", Trend.FORTY_FIVE_UP),
        ("Flat", Trend.FLAT),
        ("FortyFiveDown", Trend.FORTY_FIVE_DOWN),
        ("SingleDown", Trend.SINGLE_DOWN),
        ("DoubleDown", Trend.DOUBLE_DOWN),
        ("NotComputable", Trend.NOT_COMPUTABLE),
        ("RateOutOfRange", Trend.RATE_OUT_OF_RANGE),
        ("NONE", Trend.NONE),
        ("NOT COMPUTABLE", Trend.NOT_COMPUTABLE),
        ("RATE OUT OF RANGE", Trend.RATE_OUT_OF_RANGE),
        ("rate_out_of_range", Trend.RATE_OUT_OF_RANGE),
        ("Forty Five Down", Trend.FORTY_FIVE_DOWN),
        ("doubleup", Trend.DOUBLE_UP),
        (" Flat ", Trend.FLAT),
        (0, Trend.NONE),
        (1, Trend.DOUBLE_UP),
        (2, Trend.SINGLE_UP),
        (3, Trend.FORTY_FIVE_UP),
        (4, Trend.FLAT),
        (5, Trend.FORTY_FIVE_DOWN),
        (6, Trend.SINGLE_DOWN),
        (7, Trend.DOUBLE_DOWN),
        (8, Trend.NOT_COMPUTABLE),
        (9, Trend.RATE_OUT_OF_RANGE),
    ],
)
def test_parse_trends(trend: object, expected: Trend) -> None:
    """Trend strings match loosely; legacy integers index the trend list."""
    (reading,) = parse_readings([entry(trend=trend)])
    assert reading.trend is expected


@pytest.mark.parametrize("trend", ["Sideways", "", "Flat!", 10, -1, 4.0, True, None])
def test_parse_unknown_trend(trend: object, caplog: pytest.LogCaptureFixture) -> None:
    """An unknown trend becomes none, with a debug log."""
    caplog.set_level(logging.DEBUG)
    (reading,) = parse_readings([entry(trend=trend)])
    assert reading.trend is Trend.NONE
    assert "Unknown Dexcom Share trend" in caplog.text


def test_parse_missing_trend() -> None:
    """A missing trend becomes none."""
    raw = entry()
    del raw["Trend"]
    (reading,) = parse_readings([raw])
    assert reading.trend is Trend.NONE


@pytest.mark.parametrize("value", [None, "175", True, [], 0, -3, math.nan, math.inf])
def test_parse_skips_bad_values(value: object, caplog: pytest.LogCaptureFixture) -> None:
    """An entry without a usable Value is skipped with a debug log."""
    caplog.set_level(logging.DEBUG)
    assert parse_readings([entry(value=value), entry(ms=MS + 300000)]) == [
        *parse_readings([entry(ms=MS + 300000)])
    ]
    assert "without a usable Value" in caplog.text


def test_parse_value_forms() -> None:
    """A float Value is rounded; a missing Value skips the entry."""
    raw = entry()
    del raw["Value"]
    readings = parse_readings([raw, entry(MS + 1, 120.4), entry(MS + 2, 40)])
    assert [reading.value for reading in readings] == [120, 40]


@pytest.mark.parametrize(
    ("value", "shown", "flag"),
    [
        (0.4, 39, OutOfRange.LOW),
        (12, 39, OutOfRange.LOW),
        (39, 39, OutOfRange.LOW),
        (39.4, 39, OutOfRange.LOW),
        (39.5, 40, None),
        (40, 40, None),
        (400, 400, None),
        (400.5, 400, None),
        (401, 401, OutOfRange.HIGH),
        (450, 401, OutOfRange.HIGH),
    ],
)
def test_parse_low_and_high(value: float, shown: int, flag: OutOfRange | None) -> None:
    """Dexcom's 39 is LOW and 401 is HIGH; a value beyond them is taken as the flag."""
    (reading,) = parse_readings([entry(value=value)])
    assert reading.value == shown
    assert reading.out_of_range is flag


@pytest.mark.parametrize(
    "wt",
    [
        None,
        1750022969925,
        "",
        "Date()",
        "Date(abc)",
        "1750022969925",
        "Date(-5)",
        "Date(99999999999999999999)",
    ],
)
def test_parse_skips_bad_wt(wt: object, caplog: pytest.LogCaptureFixture) -> None:
    """An entry without a parseable WT is skipped with a debug log."""
    caplog.set_level(logging.DEBUG)
    raw = entry()
    raw["WT"] = wt
    assert parse_readings([raw]) == []
    assert "without a usable WT" in caplog.text


def test_parse_missing_wt() -> None:
    """An entry without WT is skipped."""
    raw = entry()
    del raw["WT"]
    assert parse_readings([raw]) == []


def test_parse_dedupes_and_orders() -> None:
    """Readings are oldest first with one entry per WT instant."""
    five = 300000
    payload = [
        entry(MS + 2 * five, 120),
        entry(MS, 100),
        entry(MS + five, 110),
        entry(MS + 2 * five, 120),
        {**entry(MS, 100), "WT": f"/Date({MS})/", "DT": f"/Date({MS}-0500)/"},
        entry(MS + five, 110),
    ]
    readings = parse_readings(payload)
    assert [reading.time for reading in readings] == [
        utc(MS),
        utc(MS + five),
        utc(MS + 2 * five),
    ]
    assert [reading.value for reading in readings] == [100, 110, 120]


@pytest.mark.parametrize("payload", [None, {}, "[]", [1], [ENTRY, None], [[]]])
def test_parse_rejects_wrong_shape(payload: object) -> None:
    """Anything but a list of objects is an invalid response."""
    with pytest.raises(ShareInvalidResponseError):
        parse_readings(payload)


def test_parse_empty() -> None:
    """An empty list is no readings."""
    assert parse_readings([]) == []


# Secrets


async def test_secrets_never_leak(
    aresponses: ResponsesMockServer,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Password, account id and session id stay out of logs, errors and reprs."""
    caplog.set_level(logging.DEBUG)
    leaky = f"Failed to find session object. [SessionId = {SESSION_ID}] {PASSWORD}"
    add_login(aresponses)
    add(aresponses, READ_PATH, fault("SessionIdNotFound", leaky))
    add(aresponses, LOGIN_PATH, answer(SESSION_ID))
    add(aresponses, READ_PATH, answer([ENTRY, {**ENTRY, "Trend": "Sideways"}, {}]))
    add(aresponses, READ_PATH, fault("SessionNotValid", leaky))
    add(aresponses, LOGIN_PATH, answer(SESSION_ID))
    add(aresponses, READ_PATH, fault("SessionIdNotFound", leaky))
    add(aresponses, LOGIN_PATH, answer(SESSION_ID))
    add(aresponses, READ_PATH, aresponses.RawResponse(b"garbage\r\n\r\n"))
    add(aresponses, READ_PATH, fault("InvalidArgument", leaky))
    add(aresponses, READ_PATH, fault("SomethingNew", f"{leaky} {ACCOUNT_ID}"))
    add(aresponses, LOGIN_PATH, fault("AccountPasswordInvalid", leaky))
    add(aresponses, AUTH_PATH, fault("SSO_AuthenticateMaxAttemptsExceeded", leaky))
    add(aresponses, AUTH_PATH, answer(NULL_UUID))

    client = client_for(session)
    readings = await client.get_readings()
    assert len(readings) == 1
    errors: list[BaseException] = []
    for call in [client.get_readings] * 4 + [
        client.login,
        client_for(session).login,
        client_for(session).login,
    ]:
        with pytest.raises(ShareError) as info:
            await call()
        errors.append(info.value)
    assert [type(err) for err in errors] == [
        ShareSessionError,
        ShareConnectionError,
        ShareInvalidArgumentError,
        ShareServerError,
        ShareAuthenticationError,
        ShareAccountLockedError,
        ShareAuthenticationError,
    ]
    aresponses.assert_plan_strictly_followed()

    # aiohttp.access is the fake server logging the request it received.
    records = [r for r in caplog.records if r.name != "aiohttp.access"]
    assert any(r.name.startswith("custom_components.cgm_handler") for r in records)
    texts = [repr(client), repr(readings)]
    texts += [logging.Formatter().format(record) for record in records]
    for err in errors:
        texts += [str(err), repr(err), "".join(traceback.format_exception(err))]
    for secret in (PASSWORD, ACCOUNT_ID, SESSION_ID):
        for text in texts:
            assert secret not in text
            assert secret.upper() not in text
