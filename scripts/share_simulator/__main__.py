r"""Run the Dexcom Share simulator with a demo account.

Start it from the repository root:

    python -m scripts.share_simulator --port 8090

Then log in and read glucose with curl (US application id; with --region jp
use d8665ade-9673-4e27-9ff6-92db4ce13d13):

    BASE=http://127.0.0.1:8090/ShareWebServices/Services
    APP=d89443d2-327c-4a6f-89e5-496bbb0317db
    CREDS='"password":"demo-password","applicationId":"'$APP'"'
    JSON='Content-Type: application/json'
    ACCOUNT=$(curl -s -H "$JSON" -d '{"accountName":"demo",'"$CREDS"'}' \
      "$BASE/General/AuthenticatePublisherAccount")
    SESSION=$(curl -s -H "$JSON" -d '{"accountId":'"$ACCOUNT"','"$CREDS"'}' \
      "$BASE/General/LoginPublisherAccountById")
    echo "account $ACCOUNT, session $SESSION"
    QUERY="sessionId=$(echo $SESSION | tr -d '"')&minutes=60&maxCount=12"
    curl -s -H "$JSON" -d '{}' \
      "$BASE/Publisher/ReadPublisherLatestGlucoseValues?$QUERY"

The first two calls answer JSON strings (the account id and a session id), the
last a JSON list of readings, newest first. curl -d sends a POST.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from datetime import timedelta
import signal

from .app import ShareSimulator
from .clock import ScaledClock, utc_now
from .faults import FaultKind
from .sensor import Backlog, UploadDelay
from .wire import Region

DEMO_EMAIL = "demo@example.com"
DEMO_PHONE = "+15555550100"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m scripts.share_simulator", description="Simulated Dexcom Share."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--region", choices=[region.value for region in Region], default="us")
    parser.add_argument("--seed", default="0", help="glucose seed (default 0)")
    parser.add_argument("--password", default="demo-password", help="demo password")
    parser.add_argument("--time-zone", default="America/New_York")
    parser.add_argument("--legacy", action="store_true", help="pre-2022 reading format")
    parser.add_argument(
        "--upload-delay",
        nargs=2,
        type=float,
        default=(10.0, 90.0),
        metavar=("MIN", "MAX"),
        help="usual upload delay range in seconds (default 10 90)",
    )
    parser.add_argument(
        "--late-upload-chance",
        type=float,
        default=0.03,
        help="share of readings uploaded 90-900 s late (default 0.03)",
    )
    parser.add_argument("--session-ttl", type=float, default=86400, help="seconds (default 86400)")
    parser.add_argument(
        "--lockout-threshold",
        type=int,
        default=5,
        help="failed logins before lockout, 0 for none (default 5)",
    )
    parser.add_argument(
        "--lockout-duration", type=float, default=1800, help="seconds (default 1800)"
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per real second"
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        type=fault_spec,
        metavar="KIND[=COUNT]",
        help=f"hit the next COUNT requests (default 1, 0 for all); KIND: {', '.join(FaultKind)}",
    )
    parser.add_argument(
        "--outage",
        action="append",
        default=[],
        type=outage_spec,
        metavar="FROM:TO[:KIND]",
        help="a Share outage from FROM to TO simulated minutes after start (default html_error)",
    )
    parser.add_argument(
        "--phone-offline",
        action="append",
        default=[],
        type=offline_spec,
        metavar="FROM:TO[:UPLOAD]",
        help="the phone is offline from FROM to TO simulated minutes after start; its backlog"
        " reaches Share at UPLOAD (default TO + 12), after the newer readings",
    )
    parser.add_argument(
        "--excursion",
        action="append",
        default=[],
        type=excursion_spec,
        metavar="FROM:TO:LEVEL",
        help="hold glucose at LEVEL mg/dL from FROM to TO simulated minutes after start "
        "(below 40 reads LOW, above 400 HIGH; --excursion=-30:60:25 started before)",
    )
    return parser.parse_args(argv)


def fault_spec(text: str) -> tuple[FaultKind, int | None]:
    """Parse KIND[=COUNT] of --fault."""
    kind, _, count = text.partition("=")
    try:
        return FaultKind(kind), int(count or 1) or None
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def outage_spec(text: str) -> tuple[timedelta, timedelta, FaultKind]:
    """Parse FROM:TO[:KIND] of --outage, in minutes."""
    begin, _, rest = text.partition(":")
    end, _, kind = rest.partition(":")
    try:
        minutes = timedelta(minutes=float(begin)), timedelta(minutes=float(end))
        return *minutes, FaultKind(kind or FaultKind.HTML_ERROR)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def offline_spec(text: str) -> tuple[timedelta, timedelta, timedelta]:
    """Parse FROM:TO[:UPLOAD] of --phone-offline, in minutes."""
    begin, _, rest = text.partition(":")
    end, _, upload = rest.partition(":")
    try:
        start, stop = timedelta(minutes=float(begin)), timedelta(minutes=float(end))
        at = timedelta(minutes=float(upload)) if upload else stop + timedelta(minutes=12)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if not start < stop <= at:
        msg = f"{text}: FROM must be before TO, and UPLOAD not before TO"
        raise argparse.ArgumentTypeError(msg)
    return start, stop, at


def excursion_spec(text: str) -> tuple[timedelta, timedelta, float]:
    """Parse FROM:TO:LEVEL of --excursion, in minutes and mg/dL."""
    try:
        begin, end, level = text.split(":")
        return timedelta(minutes=float(begin)), timedelta(minutes=float(end)), float(level)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


async def serve(args: argparse.Namespace) -> None:
    """Serve until interrupted."""
    clock = ScaledClock(args.speed) if args.speed != 1 else None
    simulator = ShareSimulator(
        region=args.region,
        seed=args.seed,
        now=clock.now if clock else utc_now,
        session_ttl=timedelta(seconds=args.session_ttl),
        lockout_threshold=args.lockout_threshold,
        lockout_duration=timedelta(seconds=args.lockout_duration),
        upload_delay=UploadDelay(
            usual=(args.upload_delay[0], args.upload_delay[1]),
            late_chance=args.late_upload_chance,
        ),
    )
    now = simulator.now()
    account = simulator.add_account(
        "demo",
        args.password,
        email=DEMO_EMAIL,
        phone=DEMO_PHONE,
        time_zone=args.time_zone,
        legacy=args.legacy,
        history=timedelta(days=2),
        sensor_start=now - timedelta(days=2),  # last warm-up is just out of the 24 h view
        signal_loss_chance=0.3,
        backlogs=[
            Backlog(now + begin, now + end, now + at) for begin, end, at in args.phone_offline
        ],
        excursions=[(now + begin, now + end, level) for begin, end, level in args.excursion],
    )
    for kind, count in args.fault:
        simulator.inject(kind, count=count)
    for begin, end, kind in args.outage:
        simulator.outage(now + begin, now + end, kind)
    base_url = await simulator.start(args.host, args.port)
    print(f"Dexcom Share simulator ({simulator.region.value}) at {base_url}")
    print(f"  application id: {simulator.application_id}")
    print(f"  account name:   demo, {DEMO_EMAIL} or {DEMO_PHONE}")
    print(f"  password:       {args.password}")
    print(f"  account id:     {account.account_id}")
    print(f"  readings:       {len(simulator.published_readings(account))} published")
    if clock:
        print(f"  time runs {args.speed:g}x fast")
    print("Press Ctrl+C to stop.", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await simulator.stop()


def main(argv: list[str] | None = None) -> None:
    """Run the simulator from the command line."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
