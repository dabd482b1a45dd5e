"""Tests of the CGM Handler config and options flows."""

from __future__ import annotations

from collections.abc import Generator
from datetime import UTC, datetime, timedelta
import logging
from typing import Any
from unittest.mock import AsyncMock, MagicMock, patch

from homeassistant.config_entries import SOURCE_USER, ConfigFlowResult
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, section
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.translation import async_get_translations
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import voluptuous as vol
from yarl import URL

from custom_components.cgm_handler.config_flow import (
    SECTION_ADVANCED,
    CgmConfigFlow,
    server_url_error,
)
from custom_components.cgm_handler.const import (
    CONF_CHART_HOURS,
    CONF_FAST_RATE,
    CONF_HIGH,
    CONF_LOW,
    CONF_REGION,
    CONF_SERVER_URL,
    CONF_STALE_MINUTES,
    CONF_STEADY_FALLS,
    CONF_UNIT,
    CONF_URGENT_HIGH,
    CONF_URGENT_LOW,
    CONF_URGENT_LOW_SOON_LEVEL,
    CONF_URGENT_LOW_SOON_MINUTES,
    DEFAULT_OPTIONS,
    DOMAIN,
)
from custom_components.cgm_handler.share import (
    GlucoseReading,
    Region,
    ShareAccountLockedError,
    ShareAuthenticationError,
    ShareError,
    ShareInvalidResponseError,
    ShareNullSessionError,
    ShareRateLimitedError,
    ShareUnavailableError,
    ShareUnrecognizedServerError,
    Trend,
)
from custom_components.cgm_handler.share.const import BASE_URLS
from custom_components.cgm_handler.share.exceptions import ShareConnectionError, ShareServerError
from scripts.share_simulator import BASE_PATH, FaultKind, ShareSimulator
from scripts.share_simulator.wire import AUTHENTICATE_ENDPOINT, LOGIN_ENDPOINT
from tests.conftest import PASSWORD as SIM_PASSWORD, USERNAME as SIM_USERNAME

ACCOUNT_ID = "2f8f6f4e-0b8a-4d7b-9a43-1c6f0b1e4b11"
OTHER_ACCOUNT_ID = "7d1e3b52-9a0f-4c11-8e0b-5a2c9d4e6f22"
USERNAME = "alice@example.com"
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "new-secret-42"
READING = GlucoseReading(
    value=112,
    trend=Trend.FLAT,
    time=datetime(2026, 2, 1, 12, 0, tzinfo=UTC),
    display_time=datetime(2026, 2, 1, 12, 0, tzinfo=UTC),
)
USER_INPUT = {
    CONF_USERNAME: USERNAME,
    CONF_PASSWORD: PASSWORD,
    CONF_REGION: "us",
}
ENTRY_DATA = {
    CONF_USERNAME: USERNAME,
    CONF_PASSWORD: PASSWORD,
    CONF_REGION: "ous",
    CONF_UNIT: "mmol/L",
}

ERRORS = [
    (ShareAuthenticationError("rejected"), "invalid_auth"),
    (ShareNullSessionError("null session id"), "invalid_auth"),
    (ShareAccountLockedError("locked"), "account_locked"),
    (ShareConnectionError("timeout"), "cannot_connect"),
    (ShareServerError("HTTP 500"), "cannot_connect"),
    (ShareInvalidResponseError("garbage"), "cannot_connect"),
    (ShareError("other"), "cannot_connect"),
    (ShareRateLimitedError("HTTP 429", timedelta(minutes=12)), "rate_limited"),
    (ShareUnavailableError("HTTP 403 page"), "share_unavailable"),
    (RuntimeError("boom"), "unknown"),
]
ERROR_IDS = [type(error).__name__ for error, _ in ERRORS]


@pytest.fixture
def mock_client() -> Generator[MagicMock]:
    """Replace the Share client of the flow; every login works and finds readings."""
    with patch(
        "custom_components.cgm_handler.config_flow.ShareClient", autospec=True
    ) as client_class:
        client = client_class.return_value
        client.login = AsyncMock(return_value=ACCOUNT_ID)
        client.get_readings = AsyncMock(return_value=[READING])
        yield client_class


@pytest.fixture(autouse=True)
def mock_setup_entry() -> Generator[AsyncMock]:
    """Keep created and reloaded entries from really setting up."""
    with patch("custom_components.cgm_handler.async_setup_entry", return_value=True) as setup_entry:
        yield setup_entry


@pytest.fixture
def entry(hass: HomeAssistant) -> MockConfigEntry:
    """Return a mmol/L entry of the account, added to hass."""
    config_entry = MockConfigEntry(
        domain=DOMAIN,
        minor_version=CgmConfigFlow.MINOR_VERSION,
        title=USERNAME,
        unique_id=ACCOUNT_ID,
        data=dict(ENTRY_DATA),
        options=DEFAULT_OPTIONS,
    )
    config_entry.add_to_hass(hass)
    return config_entry


async def _start_user_flow(hass: HomeAssistant) -> ConfigFlowResult:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}
    return result


def _suggested(result: ConfigFlowResult) -> dict[str, Any]:
    """Return the suggested values of a form, those of the Advanced section included."""
    assert result["data_schema"] is not None
    suggested: dict[str, Any] = {}
    for key, value in result["data_schema"].schema.items():
        if isinstance(value, section):
            for inner in value.schema.schema:
                if inner.description and "suggested_value" in inner.description:
                    suggested[str(inner)] = inner.description["suggested_value"]
        elif key.description and "suggested_value" in key.description:
            suggested[str(key)] = key.description["suggested_value"]
    return suggested


def _advanced(result: ConfigFlowResult) -> section:
    """Return the Advanced section of a form, checking that it starts collapsed."""
    assert result["data_schema"] is not None
    advanced = result["data_schema"].schema[SECTION_ADVANCED]
    assert isinstance(advanced, section)
    assert advanced.options["collapsed"] is True
    assert [str(key) for key in advanced.schema.schema] == [CONF_SERVER_URL]
    return advanced


def _with_url(url: str, **fields: str) -> dict[str, Any]:
    """Return the user form's input with a server URL typed into the Advanced section."""
    return {**USER_INPUT, **fields, SECTION_ADVANCED: {CONF_SERVER_URL: url}}


def _defaults(result: ConfigFlowResult) -> dict[str, Any]:
    """Return the default values of a form."""
    assert result["data_schema"] is not None
    return {
        str(key): key.default()
        for key in result["data_schema"].schema
        if key.default is not vol.UNDEFINED
    }


def _fields(result: ConfigFlowResult) -> list[str]:
    assert result["data_schema"] is not None
    return [str(key) for key in result["data_schema"].schema]


@pytest.mark.parametrize("step", ["user", "reconfigure"])
async def test_region_help_names_each_server(hass: HomeAssistant, step: str) -> None:
    """The region's help names every choice with the Share server it uses."""
    config = await async_get_translations(hass, "en", "config", {DOMAIN})
    selector = await async_get_translations(hass, "en", "selector", {DOMAIN})
    help_text = config[f"component.{DOMAIN}.config.step.{step}.data_description.{CONF_REGION}"]
    for region in Region:
        label = selector[f"component.{DOMAIN}.selector.{CONF_REGION}.options.{region}"]
        host = URL(BASE_URLS[region]).host
        assert f"{label}: {host}" in help_text


@pytest.mark.parametrize(
    ("region", "unit"),
    [("us", "mg/dL"), ("ous", "mmol/L"), ("jp", "mg/dL")],
)
async def test_user_flow_default_unit(
    hass: HomeAssistant,
    mock_client: MagicMock,
    mock_setup_entry: AsyncMock,
    region: str,
    unit: str,
) -> None:
    """Each region signs in on its own server and gets its usual unit."""
    result = await _start_user_flow(hass)
    assert _fields(result) == [
        CONF_USERNAME,
        CONF_PASSWORD,
        CONF_REGION,
        CONF_UNIT,
        SECTION_ADVANCED,
    ]
    _advanced(result)
    assert _defaults(result)[CONF_REGION] == "us"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**USER_INPUT, CONF_REGION: region}
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == USERNAME
    assert result["data"] == {
        CONF_USERNAME: USERNAME,
        CONF_PASSWORD: PASSWORD,
        CONF_REGION: region,
        CONF_UNIT: unit,
    }
    assert result["options"] == {
        CONF_URGENT_LOW: 54,
        CONF_LOW: 70,
        CONF_HIGH: 180,
        CONF_URGENT_HIGH: 250,
        CONF_STALE_MINUTES: 15,
        CONF_URGENT_LOW_SOON_LEVEL: 55,
        CONF_URGENT_LOW_SOON_MINUTES: 20,
        CONF_FAST_RATE: 2.0,
        CONF_STEADY_FALLS: False,
        CONF_CHART_HOURS: 3,
    }
    assert result["result"].unique_id == ACCOUNT_ID
    mock_client.assert_called_once_with(
        async_get_clientsession(hass),
        USERNAME,
        PASSWORD,
        region=Region(region),
        base_url=None,
    )
    mock_client.return_value.login.assert_awaited_once_with()
    mock_client.return_value.get_readings.assert_awaited_once_with()
    assert len(mock_setup_entry.mock_calls) == 1


@pytest.mark.parametrize(
    ("region", "unit"),
    [("us", "mmol/L"), ("ous", "mg/dL"), ("jp", "mmol/L")],
)
async def test_user_flow_explicit_unit(
    hass: HomeAssistant, mock_client: MagicMock, region: str, unit: str
) -> None:
    """A chosen unit wins over the region's usual one."""
    result = await _start_user_flow(hass)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**USER_INPUT, CONF_REGION: region, CONF_UNIT: unit}
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_UNIT] == unit
    assert result["data"][CONF_REGION] == region


async def test_user_flow_strips_username(hass: HomeAssistant, mock_client: MagicMock) -> None:
    """Spaces around the username are dropped; the password is kept as typed."""
    result = await _start_user_flow(hass)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {**USER_INPUT, CONF_USERNAME: f"  {USERNAME} ", CONF_PASSWORD: " pw "},
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == USERNAME
    assert result["data"][CONF_USERNAME] == USERNAME
    assert result["data"][CONF_PASSWORD] == " pw "


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("https://share.example.com/ShareWebServices/Services/", None),
        ("https://share.example.com/ShareWebServices/Services", None),
        ("https://share2.dexcom.com", "https://share2.dexcom.com/ShareWebServices/Services/"),
        ("https://share2.dexcom.com/", "https://share2.dexcom.com/ShareWebServices/Services/"),
        ("http://127.0.0.1:8090", "http://127.0.0.1:8090/ShareWebServices/Services/"),
        ("http://127.8.9.10:8090/", "http://127.8.9.10:8090/ShareWebServices/Services/"),
        ("http://localhost", "http://localhost/ShareWebServices/Services/"),
        ("http://LocalHost:8090/share/", None),
        ("http://[::1]:8090/ShareWebServices/Services/", None),
    ],
)
async def test_user_flow_server_url(
    hass: HomeAssistant, mock_client: MagicMock, url: str, stored: str | None
) -> None:
    """A https URL, or http on this machine, is stored as Share's service URL.

    A bare origin gets Share's service path; a URL with a path is used as it is,
    with a trailing slash.
    """
    stored = stored or url.rstrip("/") + "/"
    result = await _start_user_flow(hass)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _with_url(f" {url} ")
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {
        CONF_USERNAME: USERNAME,
        CONF_PASSWORD: PASSWORD,
        CONF_REGION: "us",
        CONF_UNIT: "mg/dL",
        CONF_SERVER_URL: stored,
    }
    assert mock_client.call_args.kwargs["base_url"] == stored


@pytest.mark.parametrize(
    "advanced",
    [None, {}, {CONF_SERVER_URL: ""}, {CONF_SERVER_URL: "  "}],
    ids=["no section", "empty section", "empty", "blank"],
)
async def test_user_flow_empty_server_url(
    hass: HomeAssistant, mock_client: MagicMock, advanced: dict[str, str] | None
) -> None:
    """An empty server URL means Dexcom's own server and is not stored."""
    result = await _start_user_flow(hass)
    submitted = dict(USER_INPUT) if advanced is None else {**USER_INPUT, SECTION_ADVANCED: advanced}

    result = await hass.config_entries.flow.async_configure(result["flow_id"], submitted)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert CONF_SERVER_URL not in result["data"]
    assert mock_client.call_args.kwargs["base_url"] is None


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("http://example.com", "invalid_url"),
        ("http://example.com/ShareWebServices/Services/", "invalid_url"),
        ("http://127.0.0.1.example.com", "invalid_url"),
        ("http://192.168.1.2:8090", "invalid_url"),
        ("ftp://localhost", "invalid_url"),
        ("https://", "invalid_url"),
        ("http://[bad", "invalid_url"),
        ("127.0.0.1:8090", "url_missing_scheme"),
        ("share2.dexcom.com", "url_missing_scheme"),
        ("not a url", "url_missing_scheme"),
    ],
)
async def test_user_flow_invalid_server_url(
    hass: HomeAssistant, mock_client: MagicMock, url: str, error: str
) -> None:
    """A URL that is not https, nor http on this machine, is refused unsent."""
    result = await _start_user_flow(hass)

    result = await hass.config_entries.flow.async_configure(result["flow_id"], _with_url(url))

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {"base": error}
    assert _suggested(result)[CONF_SERVER_URL] == url
    _advanced(result)
    mock_client.assert_not_called()

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _with_url("https://share.example")
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_SERVER_URL] == "https://share.example/ShareWebServices/Services/"
    mock_client.return_value.login.assert_awaited_once_with()


def test_server_url_error() -> None:
    """The URL check alone, without a flow."""
    assert server_url_error("https://share2.dexcom.com/ShareWebServices/Services/") is None
    assert server_url_error("http://127.0.0.1:8090") is None
    assert server_url_error("http://[::1]") is None
    assert server_url_error("http://[::2]") == "invalid_url"
    assert server_url_error("http://10.0.0.1") == "invalid_url"
    assert server_url_error("//localhost/path") == "url_missing_scheme"
    assert server_url_error("localhost:8090") == "url_missing_scheme"


@pytest.mark.parametrize(
    ("error", "custom", "reason"),
    [
        (ShareUnrecognizedServerError("HTTP 404"), True, "not_share_server"),
        (ShareInvalidResponseError("garbage"), True, "not_share_server"),
        (ShareUnrecognizedServerError("HTTP 404"), False, "cannot_connect"),
        (ShareServerError("HTTP 500"), True, "cannot_connect"),
        (ShareConnectionError("refused"), True, "cannot_connect"),
        (ShareUnavailableError("HTTP 503 page"), True, "share_unavailable"),
        (ShareRateLimitedError("HTTP 429"), True, "rate_limited"),
    ],
)
async def test_user_flow_not_share_server(
    hass: HomeAssistant,
    mock_client: MagicMock,
    error: Exception,
    custom: bool,
    reason: str,
) -> None:
    """A custom server that answers, but not like Share, gets its own error."""
    mock_client.return_value.login.side_effect = error
    result = await _start_user_flow(hass)
    submitted = _with_url("http://127.0.0.1:8123") if custom else USER_INPUT

    result = await hass.config_entries.flow.async_configure(result["flow_id"], submitted)

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": reason}


async def test_user_flow_simulator_by_origin(
    hass: HomeAssistant, simulator: ShareSimulator
) -> None:
    """Against a real Share-compatible server, typed as a person would type it."""
    assert simulator.base_url is not None
    origin = simulator.base_url.removesuffix(BASE_PATH)
    sign_in = {CONF_USERNAME: SIM_USERNAME, CONF_PASSWORD: SIM_PASSWORD, CONF_REGION: "us"}
    result = await _start_user_flow(hass)

    for typed in (f"{origin}/elsewhere/", f"{origin}/elsewhere"):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {**sign_in, SECTION_ADVANCED: {CONF_SERVER_URL: typed}}
        )
        assert result["errors"] == {"base": "not_share_server"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {**sign_in, CONF_PASSWORD: "wrong", SECTION_ADVANCED: {CONF_SERVER_URL: origin}},
    )
    assert result["errors"] == {"base": "invalid_auth"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**sign_in, SECTION_ADVANCED: {CONF_SERVER_URL: f"{origin}/"}}
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_SERVER_URL] == simulator.base_url
    assert result["result"].unique_id == simulator.account(SIM_USERNAME).account_id


async def error_text(hass: HomeAssistant, result: ConfigFlowResult) -> str:
    """Return the form's error as the frontend shows it, in English."""
    config = await async_get_translations(hass, "en", "config", {DOMAIN})
    text = config[f"component.{DOMAIN}.config.error.{result['errors']['base']}"]
    return text.format(**(result["description_placeholders"] or {}))


@pytest.mark.parametrize(
    ("retry_after", "minutes"),
    [
        (timedelta(seconds=90), "2"),
        (timedelta(seconds=1), "1"),
        (None, "5"),
        (timedelta(hours=3), "60"),
    ],
)
@pytest.mark.parametrize("step", ["user", "reauth_confirm", "reconfigure"])
async def test_rate_limit_says_when_to_try_again(
    hass: HomeAssistant,
    mock_client: MagicMock,
    entry: MockConfigEntry,
    *,
    retry_after: timedelta | None,
    minutes: str,
    step: str,
) -> None:
    """A 429 says Share is limiting requests, and in how many minutes to try again."""
    mock_client.return_value.login.side_effect = ShareRateLimitedError("HTTP 429", retry_after)
    if step == "user":
        result = await _start_user_flow(hass)
        submitted: dict[str, Any] = {**USER_INPUT, CONF_USERNAME: "bob@example.com"}
    elif step == "reauth_confirm":
        result = await _start_reauth(hass, entry)
        submitted = {CONF_PASSWORD: NEW_PASSWORD}
    else:
        result = await _start_reconfigure(hass, entry)
        submitted = USER_INPUT

    result = await hass.config_entries.flow.async_configure(result["flow_id"], submitted)

    assert result["step_id"] == step
    assert result["errors"] == {"base": "rate_limited"}
    assert await error_text(hass, result) == (
        f"Dexcom Share is limiting requests from this network. Try again in {minutes} minutes."
    )


async def test_share_pages_against_the_simulator(
    hass: HomeAssistant, simulator: ShareSimulator
) -> None:
    """A rate limit, a firewall page after Share answered, and one before it, each named."""
    assert simulator.base_url is not None
    sign_in = {
        CONF_USERNAME: SIM_USERNAME,
        CONF_PASSWORD: SIM_PASSWORD,
        CONF_REGION: "us",
        SECTION_ADVANCED: {CONF_SERVER_URL: simulator.base_url},
    }
    result = await _start_user_flow(hass)

    simulator.inject(FaultKind.RATE_LIMITED, retry_after=600)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], sign_in)
    assert result["errors"] == {"base": "rate_limited"}
    assert "Try again in 10 minutes" in await error_text(hass, result)

    simulator.inject(FaultKind.HTML_ERROR, status=403, endpoint=LOGIN_ENDPOINT)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], sign_in)
    assert result["errors"] == {"base": "share_unavailable"}
    assert "not a wrong password" in await error_text(hass, result)

    simulator.inject(FaultKind.HTML_ERROR, status=403, endpoint=AUTHENTICATE_ENDPOINT)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], sign_in)
    assert result["errors"] == {"base": "not_share_server"}

    result = await hass.config_entries.flow.async_configure(result["flow_id"], sign_in)
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize(("error", "reason"), ERRORS, ids=ERROR_IDS)
@pytest.mark.parametrize("failing", ["login", "get_readings"])
async def test_user_flow_errors(
    hass: HomeAssistant,
    mock_client: MagicMock,
    error: Exception,
    reason: str,
    failing: str,
) -> None:
    """Each failure shows its error, and the same flow can then succeed."""
    client = mock_client.return_value
    getattr(client, failing).side_effect = error
    result = await _start_user_flow(hass)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**USER_INPUT, CONF_UNIT: "mmol/L"}
    )

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {"base": reason}
    assert client.login.await_count == 1
    suggested = _suggested(result)
    assert suggested[CONF_USERNAME] == USERNAME
    assert suggested[CONF_UNIT] == "mmol/L"

    getattr(client, failing).side_effect = None
    result = await hass.config_entries.flow.async_configure(result["flow_id"], USER_INPUT)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == USERNAME
    assert result["result"].unique_id == ACCOUNT_ID
    assert client.login.await_count == 2


async def test_user_flow_invalid_auth_logs_in_once(
    hass: HomeAssistant, mock_client: MagicMock
) -> None:
    """A rejected password costs exactly one login per submit, never a retry."""
    client = mock_client.return_value
    client.login.side_effect = ShareAuthenticationError("rejected")
    result = await _start_user_flow(hass)

    for submits in (1, 2):
        result = await hass.config_entries.flow.async_configure(result["flow_id"], USER_INPUT)
        assert result["errors"] == {"base": "invalid_auth"}
        assert client.login.await_count == submits
        assert mock_client.call_count == submits
    client.get_readings.assert_not_awaited()


async def test_user_flow_error_cause_logged(
    hass: HomeAssistant, mock_client: MagicMock, caplog: pytest.LogCaptureFixture
) -> None:
    """The cause behind a form error is logged at debug level, without the password."""
    mock_client.return_value.login.side_effect = ShareConnectionError(
        "Cannot talk to Dexcom Share (ClientConnectorDNSError: Name or service not known)"
    )
    result = await _start_user_flow(hass)

    with caplog.at_level(logging.DEBUG, logger="custom_components.cgm_handler"):
        result = await hass.config_entries.flow.async_configure(result["flow_id"], USER_INPUT)

    assert result["errors"] == {"base": "cannot_connect"}
    logged = [r for r in caplog.records if r.name == "custom_components.cgm_handler"]
    assert [r.levelno for r in logged] == [logging.DEBUG]
    assert "Name or service not known" in logged[0].getMessage()
    assert PASSWORD not in caplog.text


async def test_user_flow_unknown_error_hides_password(
    hass: HomeAssistant, mock_client: MagicMock, caplog: pytest.LogCaptureFixture
) -> None:
    """An unexpected error is logged with its traceback, but not the password."""
    mock_client.return_value.login.side_effect = RuntimeError("boom")
    result = await _start_user_flow(hass)

    with caplog.at_level(logging.DEBUG):
        result = await hass.config_entries.flow.async_configure(result["flow_id"], USER_INPUT)

    assert result["errors"] == {"base": "unknown"}
    assert "Unexpected error signing in to Dexcom Share" in caplog.text
    assert "RuntimeError: boom" in caplog.text
    assert PASSWORD not in caplog.text


async def test_user_flow_no_readings(
    hass: HomeAssistant, mock_client: MagicMock, mock_setup_entry: AsyncMock
) -> None:
    """Without readings the flow explains sharing, then adds the account."""
    mock_client.return_value.get_readings.return_value = []
    result = await _start_user_flow(hass)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**USER_INPUT, CONF_REGION: "ous"}
    )

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "no_readings"
    assert result["description_placeholders"] == {"username": USERNAME}
    assert result["data_schema"] is None
    assert hass.config_entries.async_entries(DOMAIN) == []

    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == USERNAME
    assert result["data"] == {
        CONF_USERNAME: USERNAME,
        CONF_PASSWORD: PASSWORD,
        CONF_REGION: "ous",
        CONF_UNIT: "mmol/L",
    }
    assert result["result"].unique_id == ACCOUNT_ID
    mock_client.return_value.login.assert_awaited_once_with()
    assert len(mock_setup_entry.mock_calls) == 1


@pytest.mark.parametrize("readings", [[READING], []])
async def test_user_flow_already_configured(
    hass: HomeAssistant,
    mock_client: MagicMock,
    entry: MockConfigEntry,
    readings: list[GlucoseReading],
) -> None:
    """The same account, under any username, cannot be added twice."""
    mock_client.return_value.get_readings.return_value = readings
    result = await _start_user_flow(hass)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**USER_INPUT, CONF_USERNAME: "alice"}
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


async def test_user_flow_other_account(
    hass: HomeAssistant, mock_client: MagicMock, entry: MockConfigEntry
) -> None:
    """A second Dexcom account is added next to the first."""
    mock_client.return_value.login.return_value = OTHER_ACCOUNT_ID
    result = await _start_user_flow(hass)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**USER_INPUT, CONF_USERNAME: "bob"}
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "bob"
    assert result["result"].unique_id == OTHER_ACCOUNT_ID
    assert len(hass.config_entries.async_entries(DOMAIN)) == 2


async def _start_reauth(hass: HomeAssistant, entry: MockConfigEntry) -> ConfigFlowResult:
    result: ConfigFlowResult = await entry.start_reauth_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    assert result["errors"] == {}
    assert result["description_placeholders"] == {"username": USERNAME, "name": USERNAME}
    assert _fields(result) == [CONF_PASSWORD]
    return result


async def test_reauth(
    hass: HomeAssistant,
    mock_client: MagicMock,
    mock_setup_entry: AsyncMock,
    entry: MockConfigEntry,
) -> None:
    """A new password for the same account is stored and the entry reloaded."""
    hass.config_entries.async_update_entry(
        entry,
        data={**entry.data, CONF_SERVER_URL: "http://127.0.0.1:8090/ShareWebServices/Services/"},
    )
    result = await _start_reauth(hass, entry)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: NEW_PASSWORD}
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data == {
        **ENTRY_DATA,
        CONF_SERVER_URL: "http://127.0.0.1:8090/ShareWebServices/Services/",
        CONF_PASSWORD: NEW_PASSWORD,
    }
    assert entry.title == USERNAME
    mock_client.assert_called_once_with(
        async_get_clientsession(hass),
        USERNAME,
        NEW_PASSWORD,
        region=Region.OUS,
        base_url="http://127.0.0.1:8090/ShareWebServices/Services/",
    )
    mock_client.return_value.login.assert_awaited_once_with()
    assert len(mock_setup_entry.mock_calls) == 1


@pytest.mark.parametrize(("error", "reason"), ERRORS, ids=ERROR_IDS)
async def test_reauth_errors(
    hass: HomeAssistant,
    mock_client: MagicMock,
    entry: MockConfigEntry,
    error: Exception,
    reason: str,
) -> None:
    """Each failure keeps the old password and the flow can then succeed."""
    client = mock_client.return_value
    client.login.side_effect = error
    result = await _start_reauth(hass, entry)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: NEW_PASSWORD}
    )

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    assert result["errors"] == {"base": reason}
    assert entry.data[CONF_PASSWORD] == PASSWORD
    assert client.login.await_count == 1

    client.login.side_effect = None
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: NEW_PASSWORD}
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data[CONF_PASSWORD] == NEW_PASSWORD
    assert client.login.await_count == 2


async def test_reauth_other_account(
    hass: HomeAssistant, mock_client: MagicMock, entry: MockConfigEntry
) -> None:
    """A password that signs in to a different account is refused."""
    mock_client.return_value.login.return_value = OTHER_ACCOUNT_ID
    result = await _start_reauth(hass, entry)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: NEW_PASSWORD}
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "unique_id_mismatch"
    assert entry.data == ENTRY_DATA


async def _start_reconfigure(hass: HomeAssistant, entry: MockConfigEntry) -> ConfigFlowResult:
    result: ConfigFlowResult = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert result["errors"] == {}
    return result


async def test_reconfigure(
    hass: HomeAssistant,
    mock_client: MagicMock,
    mock_setup_entry: AsyncMock,
    entry: MockConfigEntry,
) -> None:
    """The form shows the stored details but the password; changes are stored."""
    result = await _start_reconfigure(hass, entry)
    assert _fields(result) == [CONF_USERNAME, CONF_PASSWORD, CONF_REGION, SECTION_ADVANCED]
    _advanced(result)
    assert _suggested(result) == {CONF_USERNAME: USERNAME, CONF_REGION: "ous", CONF_SERVER_URL: ""}
    assert _defaults(result)[CONF_REGION] == "ous"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_USERNAME: "alice", CONF_PASSWORD: NEW_PASSWORD, CONF_REGION: "us"},
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data == {
        CONF_USERNAME: "alice",
        CONF_PASSWORD: NEW_PASSWORD,
        CONF_REGION: "us",
        CONF_UNIT: "mmol/L",
    }
    assert entry.unique_id == ACCOUNT_ID
    mock_client.assert_called_once_with(
        async_get_clientsession(hass),
        "alice",
        NEW_PASSWORD,
        region=Region.US,
        base_url=None,
    )
    mock_client.return_value.login.assert_awaited_once_with()
    assert len(mock_setup_entry.mock_calls) == 1


async def test_reconfigure_keeps_server_url(
    hass: HomeAssistant, mock_client: MagicMock, entry: MockConfigEntry
) -> None:
    """The stored server URL is suggested in the collapsed section, so it is kept."""
    url = "https://share.example/ShareWebServices/Services/"
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_SERVER_URL: url})
    result = await _start_reconfigure(hass, entry)
    _advanced(result)
    assert _suggested(result)[CONF_SERVER_URL] == url

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _with_url(url, **{CONF_REGION: "ous"})
    )

    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_SERVER_URL] == url
    assert mock_client.call_args.kwargs["base_url"] == url


async def test_reconfigure_server_url(
    hass: HomeAssistant, mock_client: MagicMock, entry: MockConfigEntry
) -> None:
    """The server URL is checked, changed and cleared."""
    url = "https://share.example/ShareWebServices/Services/"
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_SERVER_URL: url})
    result = await _start_reconfigure(hass, entry)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _with_url("http://example.com")
    )

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_url"}
    assert _suggested(result)[CONF_SERVER_URL] == "http://example.com"
    mock_client.assert_not_called()

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _with_url("http://localhost:8090")
    )

    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_SERVER_URL] == "http://localhost:8090/ShareWebServices/Services/"

    result = await _start_reconfigure(hass, entry)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], _with_url(""))

    assert result["reason"] == "reconfigure_successful"
    assert CONF_SERVER_URL not in entry.data
    assert mock_client.call_args.kwargs["base_url"] is None


@pytest.mark.parametrize(("error", "reason"), ERRORS, ids=ERROR_IDS)
async def test_reconfigure_errors(
    hass: HomeAssistant,
    mock_client: MagicMock,
    entry: MockConfigEntry,
    error: Exception,
    reason: str,
) -> None:
    """Each failure keeps the entry unchanged and the flow can then succeed."""
    client = mock_client.return_value
    client.login.side_effect = error
    result = await _start_reconfigure(hass, entry)

    result = await hass.config_entries.flow.async_configure(result["flow_id"], USER_INPUT)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert result["errors"] == {"base": reason}
    assert _suggested(result)[CONF_REGION] == "us"
    assert entry.data == ENTRY_DATA
    assert client.login.await_count == 1

    client.login.side_effect = None
    result = await hass.config_entries.flow.async_configure(result["flow_id"], USER_INPUT)

    assert result["reason"] == "reconfigure_successful"
    assert entry.data == {**USER_INPUT, CONF_UNIT: "mmol/L"}


async def test_reconfigure_other_account(
    hass: HomeAssistant, mock_client: MagicMock, entry: MockConfigEntry
) -> None:
    """Details that sign in to a different account are refused."""
    mock_client.return_value.login.return_value = OTHER_ACCOUNT_ID
    result = await _start_reconfigure(hass, entry)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**USER_INPUT, CONF_USERNAME: "bob"}
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "unique_id_mismatch"
    assert entry.data == ENTRY_DATA


def _selector_config(result: ConfigFlowResult, field: str) -> dict[str, Any]:
    assert result["data_schema"] is not None
    for key, selector in result["data_schema"].schema.items():
        if str(key) == field:
            return dict(selector.config)
    raise KeyError(field)


async def test_options_mg_dl(
    hass: HomeAssistant, mock_setup_entry: AsyncMock, entry: MockConfigEntry
) -> None:
    """A mg/dL entry shows and stores whole mg/dL, and reloads on a change."""
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_UNIT: "mg/dL"})
    result = await hass.config_entries.options.async_init(entry.entry_id)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    assert result["description_placeholders"] == {"unit": "mg/dL"}
    assert _defaults(result) == {
        CONF_URGENT_LOW: 54,
        CONF_LOW: 70,
        CONF_HIGH: 180,
        CONF_URGENT_HIGH: 250,
        CONF_STALE_MINUTES: 15,
        CONF_URGENT_LOW_SOON_LEVEL: 55,
        CONF_URGENT_LOW_SOON_MINUTES: 20,
        CONF_FAST_RATE: 2.0,
        CONF_STEADY_FALLS: False,
        CONF_CHART_HOURS: "3",
    }
    for key in (CONF_LOW, CONF_URGENT_LOW_SOON_LEVEL):
        config = _selector_config(result, key)
        assert config["unit_of_measurement"] == "mg/dL"
        assert config["step"] == 1
        assert (config["min"], config["max"]) == (40, 400)
        assert config["mode"] == "box"
    stale = _selector_config(result, CONF_STALE_MINUTES)
    assert (stale["min"], stale["max"], stale["step"]) == (5, 120, 1)
    soon = _selector_config(result, CONF_URGENT_LOW_SOON_MINUTES)
    assert (soon["min"], soon["max"], soon["step"]) == (5, 30, 5)
    rate = _selector_config(result, CONF_FAST_RATE)
    assert (rate["min"], rate["max"], rate["step"]) == (0.5, 10.0, 0.1)
    assert rate["unit_of_measurement"] == "mg/dL/min"
    chart = _selector_config(result, CONF_CHART_HOURS)
    assert chart["options"] == ["3", "6", "12", "24"]
    assert chart["translation_key"] == CONF_CHART_HOURS

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_URGENT_LOW: 55.0,
            CONF_LOW: 75.0,
            CONF_HIGH: 200.0,
            CONF_URGENT_HIGH: 300.0,
            CONF_STALE_MINUTES: 20.0,
            CONF_URGENT_LOW_SOON_LEVEL: 60.0,
            CONF_URGENT_LOW_SOON_MINUTES: 30.0,
            CONF_FAST_RATE: 3.0,
            CONF_STEADY_FALLS: True,
            CONF_CHART_HOURS: "6",
        },
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    expected = {
        CONF_URGENT_LOW: 55,
        CONF_LOW: 75,
        CONF_HIGH: 200,
        CONF_URGENT_HIGH: 300,
        CONF_STALE_MINUTES: 20,
        CONF_URGENT_LOW_SOON_LEVEL: 60,
        CONF_URGENT_LOW_SOON_MINUTES: 30,
        CONF_FAST_RATE: 3.0,
        CONF_STEADY_FALLS: True,
        CONF_CHART_HOURS: 6,
    }
    assert entry.options == expected
    assert {key: type(value) for key, value in entry.options.items()} == {
        **dict.fromkeys(expected, int),
        CONF_FAST_RATE: float,
        CONF_STEADY_FALLS: bool,
    }
    assert len(mock_setup_entry.mock_calls) == 1

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert _defaults(result) == {**expected, CONF_CHART_HOURS: "6"}


async def test_options_mmol_l(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """A mmol/L entry never sees mg/dL, but the limits are stored in mg/dL."""
    result = await hass.config_entries.options.async_init(entry.entry_id)

    assert result["description_placeholders"] == {"unit": "mmol/L"}
    assert _defaults(result) == {
        CONF_URGENT_LOW: 3.0,
        CONF_LOW: 3.9,
        CONF_HIGH: 10.0,
        CONF_URGENT_HIGH: 13.9,
        CONF_STALE_MINUTES: 15,
        CONF_URGENT_LOW_SOON_LEVEL: 3.1,
        CONF_URGENT_LOW_SOON_MINUTES: 20,
        CONF_FAST_RATE: 0.11,
        CONF_STEADY_FALLS: False,
        CONF_CHART_HOURS: "3",
    }
    for key in (CONF_HIGH, CONF_URGENT_LOW_SOON_LEVEL):
        config = _selector_config(result, key)
        assert config["unit_of_measurement"] == "mmol/L"
        assert config["step"] == 0.1
        assert (config["min"], config["max"]) == (2.2, 22.2)
    rate = _selector_config(result, CONF_FAST_RATE)
    assert (rate["min"], rate["max"], rate["step"]) == (0.03, 0.56, 0.01)
    assert rate["unit_of_measurement"] == "mmol/L/min"

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_URGENT_LOW: 3.5,
            CONF_LOW: 4.0,
            CONF_HIGH: 9.0,
            CONF_URGENT_HIGH: 12.0,
            CONF_STALE_MINUTES: 30,
            CONF_URGENT_LOW_SOON_LEVEL: 3.5,
            CONF_URGENT_LOW_SOON_MINUTES: 15,
            CONF_FAST_RATE: 0.17,
            CONF_CHART_HOURS: "24",
        },
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        CONF_URGENT_LOW: 63,
        CONF_LOW: 72,
        CONF_HIGH: 162,
        CONF_URGENT_HIGH: 216,
        CONF_STALE_MINUTES: 30,
        CONF_URGENT_LOW_SOON_LEVEL: 63,
        CONF_URGENT_LOW_SOON_MINUTES: 15,
        CONF_FAST_RATE: 3.1,
        CONF_STEADY_FALLS: False,
        CONF_CHART_HOURS: 24,
    }

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert _defaults(result) == {
        CONF_URGENT_LOW: 3.5,
        CONF_LOW: 4.0,
        CONF_HIGH: 9.0,
        CONF_URGENT_HIGH: 12.0,
        CONF_STALE_MINUTES: 30,
        CONF_URGENT_LOW_SOON_LEVEL: 3.5,
        CONF_URGENT_LOW_SOON_MINUTES: 15,
        CONF_FAST_RATE: 0.17,
        CONF_STEADY_FALLS: False,
        CONF_CHART_HOURS: "24",
    }


async def test_options_shown_unchanged_keep_their_mg_dl(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """In mmol/L, 55 mg/dL shows as 3.1, which is 56 mg/dL: submitted unchanged, it stays 55.

    The same holds for the rate, 2 mg/dL/min shown as 0.11 mmol/L/min; a changed value is
    converted.
    """
    result = await hass.config_entries.options.async_init(entry.entry_id)
    shown = _defaults(result)

    result = await hass.config_entries.options.async_configure(result["flow_id"], shown)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == DEFAULT_OPTIONS

    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**shown, CONF_URGENT_LOW_SOON_LEVEL: 3.2, CONF_FAST_RATE: 0.12}
    )

    assert entry.options == {
        **DEFAULT_OPTIONS,
        CONF_URGENT_LOW_SOON_LEVEL: 58,
        CONF_FAST_RATE: 2.2,
    }


@pytest.mark.parametrize(
    ("unit", "thresholds"),
    [
        ("mg/dL", (54, 70, 70, 250)),
        ("mg/dL", (54, 180, 70, 250)),
        ("mg/dL", (70, 54, 180, 250)),
        ("mg/dL", (54, 70, 250, 180)),
        # Different in mmol/L, but the same whole mg/dL once stored.
        ("mmol/L", (3.0, 3.9, 3.91, 13.9)),
        ("mmol/L", (3.0, 3.9, 10.0, 3.0)),
    ],
)
async def test_options_thresholds_order(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    unit: str,
    thresholds: tuple[float, float, float, float],
) -> None:
    """The limits must rise strictly; the form keeps what was typed."""
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_UNIT: unit})
    result = await hass.config_entries.options.async_init(entry.entry_id)
    submitted = dict(
        zip((CONF_URGENT_LOW, CONF_LOW, CONF_HIGH, CONF_URGENT_HIGH), thresholds, strict=True)
    )
    submitted[CONF_STALE_MINUTES] = 15
    submitted[CONF_URGENT_LOW_SOON_MINUTES] = 20
    submitted[CONF_URGENT_LOW_SOON_LEVEL] = 55 if unit == "mg/dL" else 3.1
    submitted[CONF_FAST_RATE] = 2.0 if unit == "mg/dL" else 0.11
    submitted[CONF_STEADY_FALLS] = False
    submitted[CONF_CHART_HOURS] = "12"

    result = await hass.config_entries.options.async_configure(result["flow_id"], submitted)

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "thresholds_order"}
    assert _suggested(result) == submitted
    assert entry.options == DEFAULT_OPTIONS

    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**submitted, **_defaults(result)}
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == DEFAULT_OPTIONS
