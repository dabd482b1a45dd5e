"""Dexcom Share wire format: constants, dates, reading entries and error bodies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
import uuid
from xml.sax.saxutils import quoteattr


# The simulator's own copy of Dexcom's constants, written from Dexcom's apps rather than
# imported from the client, so that a wrong constant in the client fails against it.
class Region(StrEnum):
    """A Dexcom Share region."""

    US = "us"
    OUS = "ous"
    JP = "jp"


APPLICATION_IDS = {
    Region.US: "d89443d2-327c-4a6f-89e5-496bbb0317db",
    Region.OUS: "d89443d2-327c-4a6f-89e5-496bbb0317db",
    Region.JP: "d8665ade-9673-4e27-9ff6-92db4ce13d13",
}
AUTHENTICATE_ENDPOINT = "General/AuthenticatePublisherAccount"
LOGIN_ENDPOINT = "General/LoginPublisherAccountById"
READINGS_ENDPOINT = "Publisher/ReadPublisherLatestGlucoseValues"
MAX_MINUTES = 1440
MAX_COUNT = 288
NULL_UUID = "00000000-0000-0000-0000-000000000000"

BASE_PATH = "/ShareWebServices/Services/"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)

# Dexcom's trend names; the legacy format sends their index instead.
TREND_NAMES = (
    "None",
    "DoubleUp",
    "SingleUp",
    "FortyFiveUp",
    "Flat",
    "FortyFiveDown",
    "SingleDown",
    "DoubleDown",
    "NotComputable",
    "RateOutOfRange",
)


def to_ms(moment: datetime) -> int:
    """Return epoch milliseconds of an aware datetime, exactly."""
    return (moment - EPOCH) // MS


def from_ms(ms: int) -> datetime:
    """Return the UTC datetime of epoch milliseconds."""
    return EPOCH + ms * MS


def wire_date(ms: int, offset: timedelta | None = None, *, legacy: bool = False) -> str:
    """Format Date(ms), Date(ms-0500), or the legacy /Date(...)/ form."""
    text = str(ms)
    if offset is not None:
        minutes = int(offset.total_seconds()) // 60
        hours, rest = divmod(abs(minutes), 60)
        text += f"{'-' if minutes < 0 else '+'}{hours:02d}{rest:02d}"
    return f"/Date({text})/" if legacy else f"Date({text})"


class DexcomError(Exception):
    """An error Share answers with HTTP 500 and a FaultException body."""

    def __init__(self, code: str, message: str, type_string: str) -> None:
        """Keep the code, message and the SubCode's type."""
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.type_string = type_string

    def body(self, now: datetime) -> dict[str, str]:
        """Return the JSON body, with an XML SubCode as Dexcom sends it."""
        stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
        attributes = {
            "DateThrownLocal": stamp,
            "DateThrown": stamp + "Z",
            "ErrorCode": self.code,
            "TypeString": self.type_string,
            "Id": "{" + str(uuid.uuid4()) + "}",
            "Message": self.message,
            "FullText": "com.dexcom.udp.common.data.exception.OnlineException: " + self.message,
        }
        text = " ".join(f"{key}={quoteattr(value)}" for key, value in attributes.items())
        return {
            "Code": self.code,
            "Message": self.message,
            "SubCode": f"<OnlineException {text} />",
            "TypeName": "FaultException",
        }


def password_failed() -> DexcomError:
    """Return the error for a wrong password, account name or account id."""
    return DexcomError(
        "AccountPasswordInvalid", "Publisher account password failed", "InvalidPassword"
    )


def max_attempts() -> DexcomError:
    """Return the error for a login while the account is locked."""
    return DexcomError(
        "SSO_AuthenticateMaxAttemptsExceeded",
        "Maximum authentication attempts exceeded",
        "InvalidState",
    )


def session_not_found(session_id: str) -> DexcomError:
    """Return the error for an unknown session id."""
    return DexcomError(
        "SessionIdNotFound",
        f"Failed to find session object. [SessionId = {session_id}]",
        "ObjectNotFound",
    )


def session_not_valid() -> DexcomError:
    """Return the error for an expired or invalidated session."""
    return DexcomError("SessionNotValid", "Error in the application.", "SessionNotValid")


def invalid_argument(message: str) -> DexcomError:
    """Return the error for a missing or malformed argument."""
    return DexcomError("InvalidArgument", message, "InvalidArgument")


def not_a_uuid(value: object) -> DexcomError:
    """Return the error for an id that is not a UUID, worded as Dexcom does."""
    return invalid_argument(
        "Missing required field(s): JSON parse error: Cannot deserialize value of type"
        f' `java.util.UUID` from String "{value}": UUID has to be represented by'
        " standard 36-char representation"
    )
