"""The HTTP side of the simulator: routes, faults and the three Share endpoints."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from functools import partial
from http import HTTPStatus
import json
import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .faults import Fault, FaultKind, html_page, server_error, spoil
from .wire import (
    AUTHENTICATE_ENDPOINT,
    BASE_PATH,
    LOGIN_ENDPOINT,
    MAX_COUNT,
    MAX_MINUTES,
    NULL_UUID,
    READINGS_ENDPOINT,
    TREND_NAMES,
    DexcomError,
    invalid_argument,
    to_ms,
    wire_date,
)

if TYPE_CHECKING:
    from datetime import datetime

    from .accounts import Account
    from .app import ShareSimulator
    from .sensor import Reading

Answer = Callable[[dict[str, Any], web.Request, "datetime"], Any]


class Endpoints:
    """Answers Share requests from a simulator's state."""

    def __init__(self, simulator: ShareSimulator) -> None:
        """Serve this simulator."""
        self.simulator = simulator

    def make_app(self) -> web.Application:
        """Return an aiohttp application with the three POST routes."""
        app = web.Application()
        answers: dict[str, Answer] = {
            AUTHENTICATE_ENDPOINT: self.authenticate,
            LOGIN_ENDPOINT: self.login,
            READINGS_ENDPOINT: self.readings,
        }
        for endpoint, answer in answers.items():
            route = partial(self.serve, endpoint, answer)
            app.router.add_post(BASE_PATH + endpoint, route)
        return app

    async def serve(
        self, endpoint: str, answer: Answer, request: web.Request
    ) -> web.StreamResponse:
        """Count the call, apply faults and answer it."""
        simulator = self.simulator
        simulator.requests[endpoint] += 1
        raw = await request.text()  # read before any delay, as a real server does
        now = simulator.now()
        if (limited := self.limited(endpoint, raw, request, now)) is not None:
            return limited
        fault = simulator.faults.take(endpoint, now, lists=False)
        kind = fault.kind if fault else None
        if fault and kind is FaultKind.TIMEOUT:
            simulator.held += 1
            try:
                with contextlib.suppress(TimeoutError):  # stop() cuts the wait short
                    await asyncio.wait_for(simulator.stopping.wait(), fault.delay)
            finally:
                simulator.held -= 1
            now = simulator.now()
        elif fault and kind is FaultKind.SERVER_ERROR:
            status = fault.status or HTTPStatus.INTERNAL_SERVER_ERROR
            body = json.dumps(
                server_error(status, request.path, now), separators=(",", ":")
            ).encode()
            return web.Response(status=status, body=body, content_type="application/json")
        elif fault and kind in {FaultKind.HTML_ERROR, FaultKind.RATE_LIMITED}:
            return page_answer(fault)
        elif kind is FaultKind.DISCONNECT:
            if request.transport is not None:
                request.transport.close()
            return web.Response()
        elif kind is FaultKind.NULL_SESSION:
            answer = self.null_login
        try:
            result = answer(parse_body(raw), request, now)
            status = HTTPStatus.OK
        except DexcomError as error:
            result, status = error.body(now), HTTPStatus.INTERNAL_SERVER_ERROR
        spoiler = None
        if endpoint == READINGS_ENDPOINT and status == HTTPStatus.OK:
            spoiler = simulator.faults.take(endpoint, now, lists=True)
        if spoiler is not None:
            result = spoil(spoiler.kind, result)
        text = json.dumps(result, separators=(",", ":"))
        if kind is FaultKind.MALFORMED:
            text = text[: max(1, len(text) // 2)]
        body = text.encode()
        simulator.bytes_sent[endpoint] += len(body)
        # Bytes, so the content type has no charset, as Dexcom sends it.
        return web.Response(status=status, body=body, content_type="application/json")

    def limited(
        self, endpoint: str, raw: str, request: web.Request, now: datetime
    ) -> web.Response | None:
        """Return the 429 of a request past the account's rate limit, if there is one."""
        limit = self.simulator.rate_limit
        if limit is None:
            return None
        wait = limit.refuses(self.requester(endpoint, raw, request), now)
        if wait is None:
            return None
        return page_answer(Fault(FaultKind.RATE_LIMITED, retry_after=wait))

    def requester(self, endpoint: str, raw: str, request: web.Request) -> str:
        """Return the account a request is for (its id), or what it names instead."""
        accounts = self.simulator.accounts
        if endpoint == READINGS_ENDPOINT:
            named = request.query.get("sessionId", "").lower()
            session = accounts.sessions.get(named)
            return session.account.account_id if session else named
        with contextlib.suppress(DexcomError):
            body = parse_body(raw)
            named = str(body.get("accountName") or body.get("accountId") or "")
            account = accounts.find(named)
            return account.account_id if account else named.lower()
        return ""

    def check_application(self, body: dict[str, Any]) -> None:
        """Accept only the region's application id."""
        application_id = text_field(body, "applicationId")
        if application_id.lower() != self.simulator.application_id:
            raise invalid_argument(
                f"Application id is not valid. [ApplicationId = {application_id}]"
            )

    def authenticate(self, body: dict[str, Any], _: web.Request, now: datetime) -> str:
        """AuthenticatePublisherAccount: return the account id."""
        name, password = text_field(body, "accountName"), text_field(body, "password")
        self.check_application(body)
        return self.simulator.accounts.authenticate(name, password, now)

    def login(self, body: dict[str, Any], _: web.Request, now: datetime) -> str:
        """LoginPublisherAccountById: return a new session id."""
        account_id = text_field(body, "accountId")
        password = text_field(body, "password")
        self.check_application(body)
        return self.simulator.accounts.login(account_id, password, now)

    def null_login(self, body: dict[str, Any], _: web.Request, now: datetime) -> str:
        """LoginPublisherAccountById, failing: the null session id."""
        account_id = text_field(body, "accountId")
        text_field(body, "password")
        self.check_application(body)
        self.simulator.accounts.refuse_login(account_id, now)
        return NULL_UUID

    def readings(
        self, _: dict[str, Any], request: web.Request, now: datetime
    ) -> list[dict[str, Any]]:
        """ReadPublisherLatestGlucoseValues: the latest readings, newest first."""
        query = request.query
        session_id = query.get("sessionId", query.get("sessionID"))
        if not session_id:
            raise invalid_argument("Missing required field(s): sessionId")
        minutes = count_param(query.get("minutes"), "minutes", MAX_MINUTES)
        max_count = count_param(query.get("maxCount"), "maxCount", MAX_COUNT)
        account = self.simulator.accounts.session(session_id, now)
        if not account.sharing:
            return []
        readings = account.trace.visible(now, minutes, max_count)
        return [entry(reading, account) for reading in readings]


def page_answer(fault: Fault) -> web.Response:
    """Return the HTML page of a firewall, a gateway or a rate limit, with its Retry-After."""
    if fault.kind is FaultKind.RATE_LIMITED:
        status = HTTPStatus.TOO_MANY_REQUESTS
    else:
        status = HTTPStatus(fault.status or HTTPStatus.SERVICE_UNAVAILABLE)
    headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
    return web.Response(
        status=status, text=html_page(status), content_type="text/html", headers=headers
    )


def parse_body(text: str) -> dict[str, Any]:
    """Return the JSON object of a request body; an empty body counts as {}."""
    try:
        body = json.loads(text) if text.strip() else {}
    except ValueError as error:
        raise invalid_argument(f"JSON parse error: {error}") from None
    if not isinstance(body, dict):
        raise invalid_argument("JSON parse error: expected an object")
    return body


def text_field(body: dict[str, Any], name: str) -> str:
    """Return a required, non-empty string field of a request body."""
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise invalid_argument(f"Missing required field(s): {name}")
    return value


def count_param(value: str | None, name: str, limit: int) -> int:
    """Parse minutes or maxCount strictly: digits only, 0 to limit."""
    if value is None or not re.fullmatch(r"[0-9]+", value) or int(value) > limit:
        message = f"Invalid argument. [{name} = {value}], must be 0-{limit}"
        raise invalid_argument(message)
    return int(value)


def entry(reading: Reading, account: Account) -> dict[str, Any]:
    """Return a reading as a Share JSON entry, in the account's format."""
    ms = to_ms(reading.time)
    offset = reading.time.astimezone(account.time_zone).utcoffset()
    wt = wire_date(ms, legacy=account.legacy)
    dt = wire_date(ms, offset, legacy=account.legacy)
    value = reading.value
    if account.legacy:
        trend = TREND_NAMES.index(reading.trend)
        return {"DT": dt, "ST": wt, "Trend": trend, "Value": value, "WT": wt}
    return {"WT": wt, "ST": wt, "DT": dt, "Value": value, "Trend": reading.trend}
