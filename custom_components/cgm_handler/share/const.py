"""Constants of the Dexcom Share wire protocol."""

from enum import StrEnum
from typing import Final


class Region(StrEnum):
    """A Dexcom Share region."""

    US = "us"
    OUS = "ous"
    JP = "jp"


# Where a Share server answers; the endpoints below are relative to it.
SERVICE_PATH: Final = "/ShareWebServices/Services/"
BASE_URLS: Final = {
    Region.US: f"https://share2.dexcom.com{SERVICE_PATH}",
    Region.OUS: f"https://shareous1.dexcom.com{SERVICE_PATH}",
    Region.JP: f"https://share.dexcom.jp{SERVICE_PATH}",
}
APPLICATION_IDS: Final = {
    Region.US: "d89443d2-327c-4a6f-89e5-496bbb0317db",
    Region.OUS: "d89443d2-327c-4a6f-89e5-496bbb0317db",
    Region.JP: "d8665ade-9673-4e27-9ff6-92db4ce13d13",
}

AUTHENTICATE_ENDPOINT: Final = "General/AuthenticatePublisherAccount"
LOGIN_ENDPOINT: Final = "General/LoginPublisherAccountById"
READINGS_ENDPOINT: Final = "Publisher/ReadPublisherLatestGlucoseValues"

USER_AGENT: Final = "cgm_handler (Dexcom Share client; aiohttp)"

NULL_UUID: Final = "00000000-0000-0000-0000-000000000000"
MAX_MINUTES: Final = 1440
MAX_COUNT: Final = 288

SESSION_ERROR_CODES: Final = frozenset({"SessionIdNotFound", "SessionNotValid"})
LOCKED_ERROR_CODES: Final = frozenset(
    {"SSO_AuthenticateMaxAttemptsExceeded", "SSO_AuthenticateMaxAttemptsExceeed"}
)
AUTH_ERROR_CODES: Final = frozenset(
    {
        "AccountPasswordInvalid",
        "SSO_AuthenticatePasswordInvalid",
        "SSO_AuthenticateAccountNotFound",
    }
)

# Without a Dexcom fault, these answers of a Share server mean Share itself is unavailable:
# its web firewall (403), its gateway or its maintenance page (502, 503, 504).
UNAVAILABLE_STATUSES: Final = frozenset({403, 502, 503, 504})
RATE_LIMITED_STATUS: Final = 429
