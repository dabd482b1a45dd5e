"""Tests of the Dexcom Share simulator, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta
import itertools
import json
from pathlib import Path
import re
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any
import urllib.request
import uuid

import aiohttp
import pytest

from custom_components.cgm_handler.share import (
    OUT_OF_RANGE_HIGH,
    OUT_OF_RANGE_LOW,
    OutOfRange,
    ShareClient,
    Trend,
)
from custom_components.cgm_handler.share.exceptions import ShareSessionError
from scripts.share_simulator import (
    TREND_NAMES,
    Backlog,
    ChangingDelay,
    FaultKind,
    LogNormalDelay,
    ManualClock,
    ScaledClock,
    ShareSimulator,
    UploadDelay,
    trend_for_rate,
)
from scripts.share_simulator.__main__ import offline_spec, parse_args
from scripts.share_simulator.wire import (
    APPLICATION_IDS,
    AUTHENTICATE_ENDPOINT,
    LOGIN_ENDPOINT,
    NULL_UUID,
    READINGS_ENDPOINT,
    Region,
)

from .conftest import (
    EMAIL,
    LOCKOUT_DURATION,
    LOCKOUT_THRESHOLD,
    PASSWORD,
    PHONE,
    SESSION_TTL,
    START,
    USERNAME,
    ShareHttp,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from scripts.share_simulator import Reading

    Serve = Callable[[ShareSimulator], Awaitable[ShareSimulator]]

SLOT = timedelta(minutes=5)
DATE = re.compile(r"^Date\((\d+)\)$")
DATE_WITH_OFFSET = re.compile(r"^Date\((\d+)([+-]\d{4})\)$")
LEGACY_DATE = re.compile(r"^/Date\((\d+)\)/$")
LEGACY_DATE_WITH_OFFSET = re.compile(r"^/Date\((\d+)([+-]\d{4})\)/$")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def wt(entry: dict[str, Any]) -> int:
    """Return the WT of a current-format entry in epoch milliseconds."""
    match = DATE.match(entry["WT"])
    assert match, entry
    return int(match[1])


def ms(moment: datetime) -> int:
    """Return epoch milliseconds."""
    return (moment - EPOCH) // timedelta(milliseconds=1)


def snake(trend: str) -> str:
    """Turn a Dexcom trend name into the client's Trend value, e.g. forty_five_up."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", trend).lower()


def assert_fault(status: int, body: Any, code: str) -> None:
    """Check Dexcom's error shape: HTTP 500 with Code, Message, SubCode, TypeName."""
    assert status == 500
    assert set(body) == {"Code", "Message", "SubCode", "TypeName"}
    assert body["Code"] == code
    assert body["TypeName"] == "FaultException"
    assert body["SubCode"].startswith("<OnlineException ")
    assert f'ErrorCode="{code}"' in body["SubCode"]


# Accounts and sessions


@pytest.mark.parametrize("name", [USERNAME, "JANE", EMAIL, EMAIL.lower(), PHONE])
async def test_authenticate_by_username_email_or_phone(
    simulator: ShareSimulator, share: ShareHttp, name: str
) -> None:
    status, account_id = await share.authenticate(name)
    assert status == 200
    assert account_id == simulator.account(USERNAME).account_id
    assert str(uuid.UUID(account_id)) == account_id


async def test_answers_are_bare_json_strings(share: ShareHttp) -> None:
    async with share.http.post(
        share.base_url + AUTHENTICATE_ENDPOINT,
        json={"accountName": USERNAME, "password": PASSWORD, "applicationId": share.application_id},
    ) as response:
        assert response.headers["Content-Type"] == "application/json"
        text = await response.text()
    assert re.fullmatch(r'"[0-9a-f-]{36}"', text)


async def test_login_opens_a_new_session_each_time(share: ShareHttp) -> None:
    first, second = await share.session(), await share.session(EMAIL)
    assert first != second
    for session_id in (first, second):
        status, readings = await share.readings(session_id)
        assert status == 200
        assert readings


async def test_account_ids_are_stable_uuids(clock: ManualClock) -> None:
    ids = []
    for _ in range(2):
        simulator = ShareSimulator(now=clock.now, seed=3)
        ids.append(simulator.add_account("a", "pw").account_id)
        ids.append(simulator.add_account("b", "pw").account_id)
    assert ids[:2] == ids[2:]
    assert ids[0] != ids[1]
    with pytest.raises(ValueError, match="already"):
        simulator.add_account("A", "pw")


async def test_wrong_application_id(
    clock: ManualClock, serve: Serve, http: aiohttp.ClientSession
) -> None:
    simulator = ShareSimulator(now=clock.now, region=Region.JP)
    simulator.add_account(USERNAME, PASSWORD)
    share = ShareHttp(http, await serve(simulator))
    status, body = await share.authenticate(USERNAME, application_id=APPLICATION_IDS[Region.US])
    assert_fault(status, body, "InvalidArgument")
    assert "ApplicationId" in body["Message"]
    status, _ = await share.authenticate(USERNAME, application_id=APPLICATION_IDS[Region.JP])
    assert status == 200
    assert simulator.account(USERNAME).failed_logins == 0


@pytest.mark.parametrize(("name", "password"), [(USERNAME, "wrong"), ("nobody", PASSWORD)])
async def test_wrong_password_or_name(share: ShareHttp, name: str, password: str) -> None:
    status, body = await share.authenticate(name, password)
    assert_fault(status, body, "AccountPasswordInvalid")
    assert body["Message"] == "Publisher account password failed"


async def test_login_by_id_errors(simulator: ShareSimulator, share: ShareHttp) -> None:
    account_id = simulator.account(USERNAME).account_id
    assert_fault(*await share.login(account_id, "wrong"), "AccountPasswordInvalid")
    assert_fault(*await share.login(str(uuid.uuid4())), "AccountPasswordInvalid")
    status, body = await share.login("1")
    assert_fault(status, body, "InvalidArgument")
    assert "UUID" in body["Message"]
    status, session_id = await share.login(account_id.upper())
    assert status == 200
    assert uuid.UUID(session_id)


@pytest.mark.parametrize(
    ("body", "word"),
    [
        ({"password": PASSWORD}, "accountName"),
        ({"accountName": USERNAME}, "password"),
        ({"accountName": USERNAME, "password": PASSWORD}, "applicationId"),
        ([1, 2], "JSON"),
    ],
)
async def test_authenticate_argument_errors(share: ShareHttp, body: object, word: str) -> None:
    status, answer = await share.call(AUTHENTICATE_ENDPOINT, body)
    assert_fault(status, answer, "InvalidArgument")
    assert word in answer["Message"]


async def test_session_expires_after_ttl(
    clock: ManualClock, simulator: ShareSimulator, share: ShareHttp
) -> None:
    session_id = await share.session()
    clock.advance(SESSION_TTL - timedelta(seconds=1))
    status, _ = await share.readings(session_id)
    assert status == 200
    clock.advance(timedelta(seconds=1))
    status, body = await share.readings(session_id)
    assert_fault(status, body, "SessionNotValid")
    assert (await share.readings(await share.session()))[0] == 200


async def test_unknown_and_malformed_sessions(share: ShareHttp) -> None:
    unknown = str(uuid.uuid4())
    status, body = await share.readings(unknown)
    assert_fault(status, body, "SessionIdNotFound")
    assert unknown in body["Message"]
    status, body = await share.readings("not-a-uuid")
    assert_fault(status, body, "InvalidArgument")
    status, body = await share.call(READINGS_ENDPOINT, {}, {"minutes": "5", "maxCount": "1"})
    assert_fault(status, body, "InvalidArgument")


async def test_session_id_spelled_session_id_capital_d(share: ShareHttp) -> None:
    session_id = await share.session()
    params = {"sessionID": session_id, "minutes": "60", "maxCount": "12"}
    status, readings = await share.call(READINGS_ENDPOINT, {}, params)
    assert status == 200
    assert len(readings) >= 10


async def test_invalidate_sessions(simulator: ShareSimulator, share: ShareHttp) -> None:
    session_id = await share.session()
    simulator.invalidate_sessions()
    assert_fault(*await share.readings(session_id), "SessionNotValid")
    assert (await share.readings(await share.session()))[0] == 200


# Lockout


async def test_lockout_after_failures_and_unlock(
    clock: ManualClock, simulator: ShareSimulator, share: ShareHttp
) -> None:
    account = simulator.account(USERNAME)
    for _ in range(LOCKOUT_THRESHOLD):
        assert_fault(*await share.authenticate(USERNAME, "wrong"), "AccountPasswordInvalid")
    # Locked: even the right password fails, on both login calls.
    assert_fault(*await share.authenticate(EMAIL), "SSO_AuthenticateMaxAttemptsExceeded")
    assert_fault(*await share.login(account.account_id), "SSO_AuthenticateMaxAttemptsExceeded")
    clock.advance(LOCKOUT_DURATION - timedelta(seconds=1))
    assert_fault(*await share.authenticate(USERNAME), "SSO_AuthenticateMaxAttemptsExceeded")
    clock.advance(timedelta(seconds=1))
    assert (await share.authenticate(USERNAME))[0] == 200
    assert account.logins == LOCKOUT_THRESHOLD + 4
    assert account.failed_logins == LOCKOUT_THRESHOLD + 3


async def test_success_resets_the_failure_count(
    simulator: ShareSimulator, share: ShareHttp
) -> None:
    for _ in range(3):
        for _ in range(LOCKOUT_THRESHOLD - 1):
            await share.authenticate(USERNAME, "wrong")
        assert (await share.authenticate(USERNAME))[0] == 200
    assert simulator.account(USERNAME).locked_until is None


async def test_sessions_survive_a_lockout(share: ShareHttp) -> None:
    session_id = await share.session()
    for _ in range(LOCKOUT_THRESHOLD + 1):
        await share.authenticate(USERNAME, "wrong")
    assert (await share.readings(session_id))[0] == 200


async def test_null_session_is_a_failed_login(simulator: ShareSimulator, share: ShareHttp) -> None:
    account = simulator.account(USERNAME)
    simulator.inject(FaultKind.NULL_SESSION, count=LOCKOUT_THRESHOLD)
    # Only logins by id get it: the account id is looked up as usual.
    status, account_id = await share.authenticate(USERNAME)
    assert (status, account_id) == (200, account.account_id)
    for _ in range(LOCKOUT_THRESHOLD):
        assert await share.login(account_id) == (200, NULL_UUID)
    assert (account.logins, account.failed_logins) == (LOCKOUT_THRESHOLD + 1, LOCKOUT_THRESHOLD)
    assert simulator.requests[LOGIN_ENDPOINT] == LOCKOUT_THRESHOLD
    # They count toward the lockout like wrong passwords.
    assert_fault(*await share.login(account_id), "SSO_AuthenticateMaxAttemptsExceeded")


async def test_null_session_checks_the_request(simulator: ShareSimulator, share: ShareHttp) -> None:
    simulator.inject(FaultKind.NULL_SESSION, count=None)
    assert_fault(*await share.login(str(uuid.uuid4())), "AccountPasswordInvalid")
    status, body = await share.call(LOGIN_ENDPOINT, {"accountId": USERNAME})
    assert_fault(status, body, "InvalidArgument")
    assert simulator.account(USERNAME).logins == 0


# Readings


async def test_readings_on_grid_in_range_newest_first(
    clock: ManualClock, simulator: ShareSimulator, share: ShareHttp
) -> None:
    status, readings = await share.readings(await share.session())
    assert status == 200
    assert 280 <= len(readings) <= 288
    times = [wt(entry) for entry in readings]
    assert times == sorted(times, reverse=True)
    assert len(set(times)) == len(times)
    now = ms(clock.now())
    assert now - 1440 * 60_000 < times[-1] <= times[0] <= now
    phase = times[0] % 300_000
    assert phase == simulator.account(USERNAME).trace.phase_ms
    assert all(stamp % 300_000 == phase for stamp in times)
    for entry in readings:
        assert list(entry) == ["WT", "ST", "DT", "Value", "Trend"]
        assert entry["ST"] == entry["WT"]
        assert DATE_WITH_OFFSET.match(entry["DT"])
        assert isinstance(entry["Value"], int)
        assert 40 <= entry["Value"] <= 400
        assert entry["Trend"] in TREND_NAMES


async def test_phase_differs_between_accounts(clock: ManualClock) -> None:
    simulator = ShareSimulator(now=clock.now)
    phases = {simulator.add_account(f"user{n}", "pw").trace.phase_ms for n in range(5)}
    assert len(phases) == 5


async def test_minutes_and_max_count(clock: ManualClock, share: ShareHttp) -> None:
    session_id = await share.session()
    _, everything = await share.readings(session_id)
    now = ms(clock.now())
    _, recent = await share.readings(session_id, minutes=30)
    assert recent == [entry for entry in everything if wt(entry) > now - 30 * 60_000]
    assert 5 <= len(recent) <= 6
    _, newest = await share.readings(session_id, max_count=3)
    assert newest == everything[:3]
    _, one = await share.readings(session_id, minutes=1440, max_count=1)
    assert one == everything[:1]
    assert await share.readings(session_id, minutes=0) == (200, [])
    assert await share.readings(session_id, max_count=0) == (200, [])


@pytest.mark.parametrize(
    ("minutes", "max_count"),
    [(1441, 288), (1440, 289), ("1.5", 1), (60, "2.0"), ("-1", 1), (60, "x"), ("", 1)],
)
async def test_bad_minutes_or_max_count(
    share: ShareHttp, minutes: object, max_count: object
) -> None:
    status, body = await share.readings(await share.session(), minutes, max_count)
    assert_fault(status, body, "InvalidArgument")


async def test_readings_wait_for_their_upload_delay(
    clock: ManualClock, simulator: ShareSimulator, share: ShareHttp
) -> None:
    clock.advance(timedelta(hours=2))
    session_id = await share.session()
    pending = [
        reading
        for reading in simulator.published_readings(USERNAME, clock.now() + timedelta(minutes=20))
        if reading.published_at > clock.now()
    ]
    assert pending
    for reading in pending[:3]:
        clock.set(reading.published_at - timedelta(milliseconds=1))
        _, readings = await share.readings(session_id)
        assert ms(reading.time) not in {wt(entry) for entry in readings}
        clock.set(reading.published_at)
        _, readings = await share.readings(session_id)
        assert ms(reading.time) in {wt(entry) for entry in readings}


async def test_upload_delays_are_realistic(clock: ManualClock) -> None:
    simulator = ShareSimulator(now=clock.now, seed=11)
    account = simulator.add_account(USERNAME, PASSWORD, history=timedelta(days=7))
    delays = [
        (reading.published_at - reading.time).total_seconds()
        for reading in simulator.published_readings(account)
    ]
    usual = [delay for delay in delays if delay <= 90]
    assert all(10 <= delay <= 900 for delay in delays)
    assert 0.9 < len(usual) / len(delays) < 1
    assert min(usual) < 20
    assert max(usual) > 80


async def test_upload_delay_is_configurable(clock: ManualClock) -> None:
    delay = UploadDelay(usual=(1.0, 2.0), late_chance=0.0)
    simulator = ShareSimulator(now=clock.now, upload_delay=delay)
    account = simulator.add_account(USERNAME, PASSWORD)
    for reading in simulator.published_readings(account):
        assert timedelta(seconds=1) <= reading.published_at - reading.time <= timedelta(seconds=2)


def delays_of(simulator: ShareSimulator, account: str) -> list[float]:
    """Return the upload delay of every reading of an account, in seconds, oldest first."""
    return [
        (reading.published_at - reading.time).total_seconds()
        for reading in simulator.published_readings(account)
    ]


async def test_log_normal_delays_have_a_heavy_tail(clock: ManualClock) -> None:
    delay = LogNormalDelay(median=40.0, sigma=0.8, cap=1800.0)
    simulator = ShareSimulator(now=clock.now, seed=3, upload_delay=delay)
    account = simulator.add_account(USERNAME, PASSWORD, history=timedelta(days=7))
    delays = sorted(delays_of(simulator, account))

    assert 35 < delays[len(delays) // 2] < 45
    # exp(0.8 z): 1 in 20 over 40 s x 3.7, a few beyond a reading interval.
    assert 0.03 < sum(d > 148 for d in delays) / len(delays) < 0.07
    assert 0 < sum(d > 300 for d in delays) / len(delays) < 0.01
    assert delays[0] > 0
    assert delays[-1] <= 1800


async def test_delays_can_change_at_a_moment(clock: ManualClock) -> None:
    change = START - timedelta(hours=12)
    delay = ChangingDelay(
        UploadDelay(usual=(1.0, 2.0), late_chance=0.0),
        UploadDelay(usual=(100.0, 200.0), late_chance=0.0),
        change,
    )
    simulator = ShareSimulator(now=clock.now, upload_delay=delay)
    account = simulator.add_account(USERNAME, PASSWORD)
    readings = simulator.published_readings(account)

    assert readings[0].time < change < readings[-1].time
    for reading in readings:
        seconds = (reading.published_at - reading.time).total_seconds()
        assert 1 <= seconds <= 2 if reading.time < change else 100 <= seconds <= 200


async def test_gaps_have_no_readings(
    clock: ManualClock, serve: Serve, http: aiohttp.ClientSession
) -> None:
    gap = (START - timedelta(hours=6), START - timedelta(hours=5, minutes=30))
    sensor_start = START - timedelta(hours=12)
    simulator = ShareSimulator(now=clock.now, seed=5)
    account = simulator.add_account(
        USERNAME, PASSWORD, gaps=[gap], sensor_start=sensor_start, sensor_days=10
    )
    share = ShareHttp(http, await serve(simulator))
    _, readings = await share.readings(await share.session())
    times = sorted(wt(entry) for entry in readings)
    warmup = (ms(sensor_start), ms(sensor_start + timedelta(hours=2)))
    for begin, end in (warmup, (ms(gap[0]), ms(gap[1]))):
        assert not [stamp for stamp in times if begin <= stamp < end]
        after = [entry for entry in reversed(readings) if wt(entry) >= end]
        assert wt(after[0]) - end < 300_000
        assert [entry["Trend"] for entry in after[:3]] == ["NotComputable"] * 3
        assert after[3]["Trend"] != "NotComputable"
        assert [stamp for stamp in times if begin - 300_000 <= stamp < begin]
    truth = simulator.published_readings(account)
    assert [ms(reading.time) for reading in truth] == times


@pytest.mark.parametrize("keeps", [None, timedelta(hours=3)])
async def test_backlog_reaches_share_after_newer_readings(
    clock: ManualClock, keeps: timedelta | None
) -> None:
    """A phone back online: its backlog arrives together, after the first new readings."""
    start, end = START - timedelta(hours=8), START - timedelta(hours=3)
    upload_at = end + timedelta(minutes=12)
    simulator = ShareSimulator(now=clock.now, seed=3)
    account = simulator.add_account(
        USERNAME, PASSWORD, backlogs=[Backlog(start, end, upload_at, keeps)]
    )
    held = [r for r in simulator.published_readings(account) if start <= r.time < end]
    before = simulator.published_readings(account, until=upload_at - timedelta(seconds=1))

    assert {reading.published_at for reading in held} == {upload_at}
    assert not [reading for reading in before if start <= reading.time < end]
    assert [reading for reading in before if end <= reading.time < upload_at]
    kept = end - start if keeps is None else keeps
    assert len(held) == kept // timedelta(minutes=5)
    assert min(reading.time for reading in held) >= end - kept


async def test_answer_bytes_are_counted(simulator: ShareSimulator, share: ShareHttp) -> None:
    session_id = await share.session()
    _, readings = await share.readings(session_id)
    size = len(json.dumps(readings, separators=(",", ":")).encode())
    assert simulator.bytes_sent[READINGS_ENDPOINT] == size


def test_phone_offline_option() -> None:
    args = parse_args(["--phone-offline=-300:-60", "--phone-offline", "10:20:45"])
    minutes = [tuple(int(t / timedelta(minutes=1)) for t in spec) for spec in args.phone_offline]
    assert minutes == [(-300, -60, -48), (10, 20, 45)]
    for bad in ("20:10", "10:20:15", "x:10"):
        with pytest.raises(argparse.ArgumentTypeError):
            offline_spec(bad)


async def test_signal_loss_is_seeded(clock: ManualClock) -> None:
    counts = []
    for chance in (0.0, 1.0, 1.0):
        simulator = ShareSimulator(now=clock.now, seed=2)
        account = simulator.add_account(
            USERNAME, PASSWORD, history=timedelta(days=10), signal_loss_chance=chance
        )
        counts.append(len(simulator.published_readings(account)))
    steady, lossy, again = counts
    assert steady - 10 * 12 < lossy < steady - 10 * 2  # one 10-60 minute loss a day
    assert lossy == again


async def test_trends_follow_the_rate_of_change(share: ShareHttp) -> None:
    _, readings = await share.readings(await share.session())
    by_time = {wt(entry): entry for entry in readings}
    checked = 0
    for stamp, entry in by_time.items():
        earlier = [by_time.get(stamp - back * 300_000) for back in (1, 2, 3)]
        if None in earlier:
            continue
        rate = (entry["Value"] - earlier[2]["Value"]) / 15  # type: ignore[index]
        assert entry["Trend"] == trend_for_rate(rate)
        checked += 1
    assert checked > 250
    assert len({entry["Trend"] for entry in readings}) >= 3


@pytest.mark.parametrize(
    ("rate", "trend"),
    [
        (3.01, "DoubleUp"),
        (3.0, "SingleUp"),
        (2.01, "SingleUp"),
        (2.0, "FortyFiveUp"),
        (1.01, "FortyFiveUp"),
        (1.0, "Flat"),
        (0.0, "Flat"),
        (-1.0, "Flat"),
        (-1.01, "FortyFiveDown"),
        (-2.0, "FortyFiveDown"),
        (-2.01, "SingleDown"),
        (-3.0, "SingleDown"),
        (-3.01, "DoubleDown"),
    ],
)
def test_trend_thresholds(rate: float, trend: str) -> None:
    assert trend_for_rate(rate) == trend


async def test_legacy_format(clock: ManualClock, serve: Serve, http: aiohttp.ClientSession) -> None:
    simulator = ShareSimulator(now=clock.now)
    simulator.add_account(USERNAME, PASSWORD, legacy=True, time_zone="America/Denver")
    share = ShareHttp(http, await serve(simulator))
    _, readings = await share.readings(await share.session(), minutes=60)
    assert readings
    for entry in readings:
        assert list(entry) == ["DT", "ST", "Trend", "Value", "WT"]
        assert LEGACY_DATE.match(entry["WT"])
        assert entry["ST"] == entry["WT"]
        match = LEGACY_DATE_WITH_OFFSET.match(entry["DT"])
        assert match
        assert match[2] == "-0600"  # Mountain daylight time in June
        assert isinstance(entry["Trend"], int)
        assert 1 <= entry["Trend"] <= 8
    simulator.inject(FaultKind.UNKNOWN_TREND)
    _, spoiled = await share.readings(await share.session(), minutes=60)
    assert {entry["Trend"] for entry in spoiled} == {len(TREND_NAMES)}


async def test_display_time_follows_daylight_saving(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    # US clocks sprang forward at 2025-03-09 07:00 UTC.
    switch = datetime(2025, 3, 9, 7, 0, tzinfo=UTC)
    clock = ManualClock(switch + timedelta(hours=2))
    simulator = ShareSimulator(now=clock.now)
    simulator.add_account(USERNAME, PASSWORD, time_zone="America/New_York")
    share = ShareHttp(http, await serve(simulator))
    _, readings = await share.readings(await share.session(), minutes=240)
    offsets = {}
    for entry in readings:
        match = DATE_WITH_OFFSET.match(entry["DT"])
        assert match
        assert int(match[1]) == wt(entry)
        offsets[wt(entry)] = match[2]
    assert {offset for stamp, offset in offsets.items() if stamp < ms(switch)} == {"-0500"}
    assert {offset for stamp, offset in offsets.items() if stamp >= ms(switch)} == {"-0400"}


async def test_glucose_is_plausible(clock: ManualClock) -> None:
    lows = 0
    for seed in range(4):
        simulator = ShareSimulator(now=clock.now, seed=seed)
        account = simulator.add_account(USERNAME, PASSWORD, history=timedelta(days=7))
        readings = simulator.published_readings(account)
        values = [reading.value for reading in readings]
        assert min(values) >= OUT_OF_RANGE_LOW
        assert values.count(OUT_OF_RANGE_LOW) < len(values) / 100  # LOW is rare
        assert max(values) < OUT_OF_RANGE_HIGH  # and HIGH takes an excursion
        assert max(values) > 180  # meals
        lows += min(values) < 70
        steps = [abs(b - a) for a, b in itertools.pairwise(values)]
        assert max(steps) <= 30  # smooth
        assert sum(steps) / len(steps) < 5
    assert lows >= 2


async def test_excursions_beyond_the_sensor_range(
    clock: ManualClock, serve: Serve, http: aiohttp.ClientSession
) -> None:
    """Excursions send Dexcom's 39 (LOW) and 401 (HIGH); far from them nothing changes."""
    low = (START - timedelta(hours=12), START - timedelta(hours=11), 25.0)
    high = (START - timedelta(hours=5), START - timedelta(hours=3), 450.0)
    usual = ShareSimulator(now=clock.now, seed=5)
    usual.add_account(USERNAME, PASSWORD)
    simulator = ShareSimulator(now=clock.now, seed=5)
    simulator.add_account(USERNAME, PASSWORD, excursions=[low, high])
    share = ShareHttp(http, await serve(simulator))
    _, entries = await share.readings(await share.session())
    sent = {wt(entry): entry["Value"] for entry in entries}
    readings = await ShareClient(http, USERNAME, PASSWORD, base_url=share.base_url).get_readings()
    before = {reading.time: reading.value for reading in usual.published_readings(USERNAME)}
    ramp = timedelta(minutes=90)
    for reading in readings:
        assert sent[ms(reading.time)] == reading.value
        for (begin, end, _), flag, value in (
            (low, OutOfRange.LOW, OUT_OF_RANGE_LOW),
            (high, OutOfRange.HIGH, OUT_OF_RANGE_HIGH),
        ):
            if begin <= reading.time <= end:
                assert (reading.value, reading.out_of_range) == (value, flag)
        if all(not begin - ramp < reading.time < end + ramp for begin, end, _ in (low, high)):
            assert reading.value == before[reading.time]
            assert reading.out_of_range is None
    values = [reading.value for reading in readings]
    assert max(abs(b - a) for a, b in itertools.pairwise(values)) <= 30  # reached smoothly


async def test_same_seed_same_readings(clock: ManualClock) -> None:
    def readings(seed: int) -> list[Reading]:
        simulator = ShareSimulator(now=clock.now, seed=seed)
        simulator.add_account(USERNAME, PASSWORD, history=timedelta(days=2))
        return simulator.published_readings(USERNAME)

    assert readings(1) == readings(1)
    assert [r.value for r in readings(1)] != [r.value for r in readings(2)]


async def test_any_day_is_computed_without_state() -> None:
    day = datetime(2031, 1, 1, tzinfo=UTC)
    late = ShareSimulator(now=ManualClock(day).now, seed=4)
    late.add_account(USERNAME, PASSWORD, history=timedelta(days=400))
    early = ShareSimulator(now=ManualClock(day - timedelta(days=399)).now, seed=4)
    early.add_account(USERNAME, PASSWORD, history=timedelta(days=1))
    first_day = early.published_readings(USERNAME)
    assert late.published_readings(USERNAME, day - timedelta(days=399)) == first_day


# Faults


async def test_server_error_without_code(simulator: ShareSimulator, share: ShareHttp) -> None:
    simulator.inject(FaultKind.SERVER_ERROR)
    status, body = await share.authenticate(USERNAME)
    assert status == 500
    assert "Code" not in body
    assert body["status"] == 500
    assert (await share.authenticate(USERNAME))[0] == 200


async def test_html_error_page(simulator: ShareSimulator, share: ShareHttp) -> None:
    simulator.inject(FaultKind.HTML_ERROR, count=2)
    for _ in range(2):
        async with share.http.post(share.base_url + AUTHENTICATE_ENDPOINT, json={}) as response:
            assert response.status == 503
            assert response.content_type == "text/html"
            assert "<html>" in await response.text()
    assert (await share.authenticate(USERNAME))[0] == 200


@pytest.mark.parametrize(
    ("kind", "status", "retry_after", "answered"),
    [
        (FaultKind.RATE_LIMITED, None, 600, 429),
        (FaultKind.RATE_LIMITED, None, None, 429),
        (FaultKind.HTML_ERROR, 403, None, 403),
        (FaultKind.HTML_ERROR, 503, 900, 503),
    ],
)
async def test_pages_and_rate_limits(
    simulator: ShareSimulator,
    share: ShareHttp,
    *,
    kind: FaultKind,
    status: int | None,
    retry_after: int | None,
    answered: int,
) -> None:
    """A rate limit, a firewall and a maintenance page: HTML, with their Retry-After."""
    now = simulator.now()
    simulator.outage(now, now + timedelta(minutes=1), kind, status=status, retry_after=retry_after)
    async with share.http.post(share.base_url + AUTHENTICATE_ENDPOINT, json={}) as response:
        assert response.status == answered
        assert response.content_type == "text/html"
        assert "cloudflare" in await response.text()
        assert response.headers.get("Retry-After") == (
            None if retry_after is None else str(retry_after)
        )
    simulator.clear_faults()
    assert (await share.authenticate(USERNAME))[0] == 200


async def test_rate_limit_per_account(
    simulator: ShareSimulator, share: ShareHttp, clock: ManualClock
) -> None:
    """Past 4 requests of one account in 10 minutes: 429 with the wait, others unaffected."""
    simulator.add_account("other", "other-password")
    simulator.limit_requests(4, timedelta(minutes=10))
    session_id = await share.session()  # two requests
    assert (await share.readings(session_id))[0] == 200
    clock.advance(timedelta(minutes=4))
    assert (await share.readings(session_id))[0] == 200

    clock.advance(timedelta(minutes=1))
    async with share.http.post(
        share.base_url + READINGS_ENDPOINT,
        params={"sessionId": session_id, "minutes": "10", "maxCount": "2"},
        json={},
    ) as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == str(5 * 60)
    assert (await share.authenticate(USERNAME))[0] == 429  # the same account, by its name
    assert (await share.authenticate("other", "other-password"))[0] == 200

    clock.advance(timedelta(minutes=5))
    assert (await share.readings(session_id))[0] == 200


async def test_malformed_body(simulator: ShareSimulator, share: ShareHttp) -> None:
    session_id = await share.session()
    simulator.inject(FaultKind.MALFORMED, endpoint=READINGS_ENDPOINT)
    status, body = await share.readings(session_id)
    assert status == 200
    assert isinstance(body, str)
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    assert isinstance((await share.readings(session_id))[1], list)


async def test_timeout_delays_the_answer(simulator: ShareSimulator, share: ShareHttp) -> None:
    simulator.inject(FaultKind.TIMEOUT, delay=0.3)
    started = time.monotonic()
    status, _ = await share.authenticate(USERNAME)
    assert status == 200
    assert time.monotonic() - started >= 0.3
    simulator.inject(FaultKind.TIMEOUT, delay=5)
    with pytest.raises(TimeoutError):
        await share.call(AUTHENTICATE_ENDPOINT, {}, limit=0.2)
    assert simulator.held == 1  # the answer is still held back


async def test_disconnect(simulator: ShareSimulator, share: ShareHttp) -> None:
    simulator.inject(FaultKind.DISCONNECT)
    with pytest.raises(aiohttp.ClientConnectionError):
        await share.authenticate(USERNAME)
    assert (await share.authenticate(USERNAME))[0] == 200


@pytest.mark.parametrize(
    "kind",
    [FaultKind.EMPTY, FaultKind.DUPLICATES, FaultKind.OUT_OF_ORDER, FaultKind.UNKNOWN_TREND],
)
async def test_list_faults(simulator: ShareSimulator, share: ShareHttp, kind: FaultKind) -> None:
    session_id = await share.session()
    _, honest = await share.readings(session_id, minutes=60)
    simulator.inject(kind)
    status, spoiled = await share.readings(session_id, minutes=60)
    assert status == 200
    if kind is FaultKind.EMPTY:
        assert spoiled == []
    elif kind is FaultKind.DUPLICATES:
        assert len(spoiled) > len(honest)
        assert {json.dumps(entry) for entry in spoiled} == {json.dumps(entry) for entry in honest}
    elif kind is FaultKind.UNKNOWN_TREND:
        assert {entry["Trend"] for entry in spoiled} == {"SidewaysUp"}
        assert [{**entry, "Trend": None} for entry in spoiled] == [
            {**entry, "Trend": None} for entry in honest
        ]
    else:
        assert sorted(spoiled, key=wt) == sorted(honest, key=wt)
        assert spoiled != honest
    assert (await share.readings(session_id, minutes=60))[1] == honest


async def test_list_faults_wait_for_a_readings_answer(
    simulator: ShareSimulator, share: ShareHttp
) -> None:
    simulator.inject(FaultKind.EMPTY)
    session_id = await share.session()  # logins do not use up the fault
    assert await share.readings(session_id, minutes=10) == (200, [])


async def test_fault_until_cleared(simulator: ShareSimulator, share: ShareHttp) -> None:
    simulator.inject(FaultKind.SERVER_ERROR, count=None, endpoint=LOGIN_ENDPOINT, status=502)
    status, account_id = await share.authenticate(USERNAME)
    assert status == 200
    for _ in range(3):
        assert (await share.login(account_id))[0] == 502
    simulator.clear_faults()
    assert (await share.login(account_id))[0] == 200


async def test_outage_follows_the_simulated_clock(
    clock: ManualClock, simulator: ShareSimulator, share: ShareHttp
) -> None:
    session_id = await share.session()
    simulator.outage(START + timedelta(minutes=10), START + timedelta(minutes=40))
    assert (await share.readings(session_id))[0] == 200
    clock.advance(timedelta(minutes=10))
    assert (await share.readings(session_id))[0] == 503
    assert (await share.authenticate(USERNAME))[0] == 503
    clock.advance(timedelta(minutes=29))
    assert (await share.readings(session_id))[0] == 503
    clock.advance(timedelta(minutes=1))
    status, readings = await share.readings(session_id, minutes=40)
    assert status == 200
    assert len(readings) >= 7  # readings kept arriving during the outage


async def test_empty_outage(
    clock: ManualClock, simulator: ShareSimulator, share: ShareHttp
) -> None:
    session_id = await share.session()
    simulator.outage(START, START + timedelta(hours=1), FaultKind.EMPTY)
    assert await share.readings(session_id) == (200, [])
    assert (await share.authenticate(USERNAME))[0] == 200


async def test_sharing_off_answers_no_readings(simulator: ShareSimulator, share: ShareHttp) -> None:
    account = simulator.account(USERNAME)
    session_id = await share.session()
    status, honest = await share.readings(session_id)
    assert status == 200
    assert len(honest) > 250
    account.sharing = False
    # Not even the readings taken before it was turned off; logins still work.
    assert await share.readings(session_id) == (200, [])
    assert await share.readings(await share.session(), minutes=10) == (200, [])
    account.sharing = True
    assert await share.readings(session_id) == (200, honest)


# Ground truth and counters


async def test_ground_truth_is_everything_served_over_a_day(
    clock: ManualClock, simulator: ShareSimulator, share: ShareHttp
) -> None:
    session_id = await share.session()
    first_poll = clock.now()
    served: dict[int, tuple[int, str]] = {}
    first_seen: dict[int, datetime] = {}
    for step in range(289):  # every 5 minutes for a day
        if step:
            clock.advance(SLOT)
        status, readings = await share.readings(session_id)
        if status != 200:  # the session lasts an hour
            session_id = await share.session()
            status, readings = await share.readings(session_id)
        for entry in readings:
            served[wt(entry)] = (entry["Value"], entry["Trend"])
            first_seen.setdefault(wt(entry), clock.now())
    truth = [
        reading
        for reading in simulator.published_readings(USERNAME)
        if reading.time > first_poll - timedelta(days=1)
    ]
    assert served == {ms(reading.time): (reading.value, reading.trend) for reading in truth}
    for reading in truth:
        if reading.published_at > first_poll:
            assert reading.published_at <= first_seen[ms(reading.time)]
            assert first_seen[ms(reading.time)] < reading.published_at + SLOT
    assert all(reading.published_at <= clock.now() for reading in truth)


async def test_published_readings_until(clock: ManualClock, simulator: ShareSimulator) -> None:
    everything = simulator.published_readings(USERNAME)
    earlier = simulator.published_readings(USERNAME, until=START - timedelta(hours=1))
    assert earlier == [r for r in everything if r.published_at <= START - timedelta(hours=1)]
    clock.advance(timedelta(hours=1))
    later = simulator.published_readings(simulator.account(USERNAME))
    assert set(everything) < set(later)
    assert len(later) > len(everything)
    times = [reading.time for reading in later]
    assert times == sorted(times)
    assert times[0] >= START - timedelta(days=1)


async def test_request_and_login_counters(simulator: ShareSimulator, share: ShareHttp) -> None:
    session_id = await share.session()
    await share.authenticate(USERNAME, "wrong")
    await share.authenticate("nobody")
    for _ in range(3):
        await share.readings(session_id)
    await share.readings(str(uuid.uuid4()))
    assert simulator.requests == {
        AUTHENTICATE_ENDPOINT: 3,
        LOGIN_ENDPOINT: 1,
        READINGS_ENDPOINT: 4,
    }
    account = simulator.account(USERNAME)
    assert account.requests == {AUTHENTICATE_ENDPOINT: 2, LOGIN_ENDPOINT: 1, READINGS_ENDPOINT: 3}
    assert (account.logins, account.failed_logins) == (3, 1)


# Clocks


def test_manual_clock() -> None:
    clock = ManualClock(datetime(2025, 1, 1))  # noqa: DTZ001 (naive is taken as UTC)
    assert clock.now() == datetime(2025, 1, 1, tzinfo=UTC)
    assert clock.advance(timedelta(minutes=5)) == datetime(2025, 1, 1, 0, 5, tzinfo=UTC)
    clock.set(datetime(2025, 2, 1, 1, tzinfo=UTC))
    assert clock.now() == datetime(2025, 2, 1, 1, tzinfo=UTC)


def test_scaled_clock() -> None:
    real = ManualClock(START)
    clock = ScaledClock(60, now=real.now)
    real.advance(timedelta(seconds=10))
    assert clock.now() == START + timedelta(minutes=10)


# Through the integration's client


async def test_client_reads_the_simulator(
    clock: ManualClock, simulator: ShareSimulator, http: aiohttp.ClientSession
) -> None:
    client = ShareClient(http, EMAIL, PASSWORD, base_url=simulator.base_url)
    assert await client.login() == simulator.account(USERNAME).account_id
    readings = await client.get_readings()
    truth = simulator.published_readings(USERNAME)[-288:]
    assert [(r.time, r.value, r.trend) for r in readings] == [
        (r.time, r.value, Trend(snake(r.trend))) for r in truth
    ]
    assert readings[-1].display_time.utcoffset() == timedelta(hours=-4)
    clock.advance(SLOT * 3)
    newer = await client.get_readings(minutes=20, max_count=4)
    assert [r.time for r in newer] == sorted(r.time for r in newer)
    assert newer[-1].time > readings[-1].time


async def test_client_logs_in_again_once_after_expiry(
    clock: ManualClock, simulator: ShareSimulator, http: aiohttp.ClientSession
) -> None:
    client = ShareClient(http, USERNAME, PASSWORD, base_url=simulator.base_url)
    await client.get_readings(minutes=30, max_count=6)
    assert simulator.requests[LOGIN_ENDPOINT] == 1
    clock.advance(SESSION_TTL)
    assert await client.get_readings(minutes=30, max_count=6)
    assert simulator.requests[LOGIN_ENDPOINT] == 2
    assert simulator.requests[AUTHENTICATE_ENDPOINT] == 1
    simulator.invalidate_sessions()
    assert await client.get_readings(minutes=30, max_count=6)
    assert simulator.requests[LOGIN_ENDPOINT] == 3


async def test_client_gives_up_when_the_session_stays_invalid(
    simulator: ShareSimulator, http: aiohttp.ClientSession
) -> None:
    client = ShareClient(http, USERNAME, PASSWORD, base_url=simulator.base_url)
    await client.login()
    simulator.accounts.session_ttl = timedelta(0)
    with pytest.raises(ShareSessionError):
        await client.get_readings()
    assert simulator.requests[LOGIN_ENDPOINT] == 2


# The command line


def test_import_leaves_home_assistant_out() -> None:
    code = "import sys, scripts.share_simulator; assert 'homeassistant' not in sys.modules"
    subprocess.run(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-c", code], check=True, timeout=60, cwd=Path(__file__).parents[2]
    )


def test_command_line_serves_the_demo_account() -> None:
    command = [sys.executable, "-m", "scripts.share_simulator", "--port", "0", "--speed", "60"]
    command.append("--excursion=-240:-60:450")  # HIGH from 4 hours ago to 1 hour ago
    root = Path(__file__).parents[2]
    with subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        command, cwd=root, stdout=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout
            lines = [process.stdout.readline() for _ in range(7)]
            base_url = lines[0].split(" at ")[1].strip()
            password = lines[3].split(":", 1)[1].strip()

            def post(endpoint: str, body: dict[str, str]) -> Any:
                request = urllib.request.Request(  # noqa: S310 (a local http URL)
                    base_url + endpoint,
                    data=json.dumps(body).encode(),
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                    return json.load(response)

            app = APPLICATION_IDS[Region.US]
            account_id = post(
                AUTHENTICATE_ENDPOINT,
                {"accountName": "demo", "password": password, "applicationId": app},
            )
            session_id = post(
                LOGIN_ENDPOINT,
                {"accountId": account_id, "password": password, "applicationId": app},
            )
            readings = post(
                f"{READINGS_ENDPOINT}?sessionId={session_id}&minutes=1440&maxCount=288", {}
            )
            assert len(readings) >= 260  # 24 h of history, less at most an hour of loss
            assert OUT_OF_RANGE_HIGH in {reading["Value"] for reading in readings}
        finally:
            process.terminate()
            process.wait(timeout=10)
    assert process.returncode == 0


async def test_stop_releases_delayed_answers(
    clock: ManualClock, http: aiohttp.ClientSession
) -> None:
    simulator = ShareSimulator(now=clock.now)
    simulator.add_account(USERNAME, PASSWORD)
    await simulator.start()
    share = ShareHttp(http, simulator)
    simulator.inject(FaultKind.TIMEOUT, delay=30)
    call = asyncio.ensure_future(share.authenticate(USERNAME))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await simulator.stop()
    assert time.monotonic() - started < 5
    await asyncio.wait([call], timeout=5)
    assert call.done()
    call.exception()
