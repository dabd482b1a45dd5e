"""A simulated Dexcom Share server for tests, benchmarks and demos."""

from .accounts import Account
from .app import ShareSimulator
from .clock import ManualClock, ScaledClock, utc_now
from .faults import Fault, FaultKind
from .glucose import trend_for_rate
from .sensor import Backlog, ChangingDelay, DelayModel, LogNormalDelay, Reading, UploadDelay
from .wire import BASE_PATH, TREND_NAMES, DexcomError

__all__ = [
    "BASE_PATH",
    "TREND_NAMES",
    "Account",
    "Backlog",
    "ChangingDelay",
    "DelayModel",
    "DexcomError",
    "Fault",
    "FaultKind",
    "LogNormalDelay",
    "ManualClock",
    "Reading",
    "ScaledClock",
    "ShareSimulator",
    "UploadDelay",
    "trend_for_rate",
    "utc_now",
]
