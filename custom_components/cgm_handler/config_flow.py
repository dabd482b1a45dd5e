"""Config flow of the CGM Handler integration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import ipaddress
from itertools import pairwise
from typing import Any, Final

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import section
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import voluptuous as vol
from yarl import URL

from .const import (
    CHART_HOURS,
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
    LOGGER,
    MGDL,
    MMOLL,
)
from .limits import SENSOR_MAX, SENSOR_MIN
from .scheduler import RATE_LIMIT_CAP, RATE_LIMIT_WAIT
from .share import (
    Region,
    ShareAccountLockedError,
    ShareAuthenticationError,
    ShareClient,
    ShareError,
    ShareInvalidResponseError,
    ShareRateLimitedError,
    ShareUnavailableError,
    ShareUnrecognizedServerError,
    service_url,
)
from .share_health import whole_minutes
from .sign_in_guard import async_clear_rejection
from .units import from_unit, rate_from_unit, rate_to_unit, to_unit

DEFAULT_UNITS: Final[dict[str, str]] = {
    Region.US: str(MGDL),
    Region.OUS: str(MMOLL),
    Region.JP: str(MGDL),
}
# Thresholds in the order they must rise.
THRESHOLDS: Final = (CONF_URGENT_LOW, CONF_LOW, CONF_HIGH, CONF_URGENT_HIGH)
# The glucose limits, in mg/dL whatever unit the entry shows.
GLUCOSE_LIMITS: Final = (*THRESHOLDS, CONF_URGENT_LOW_SOON_LEVEL)
# Limits outside the sensor's range make no sense.
THRESHOLD_RANGE_MGDL: Final = (SENSOR_MIN, SENSOR_MAX)
UNIT_STEPS: Final[dict[str, float]] = {MGDL: 1.0, MMOLL: 0.1}
STALE_RANGE: Final = (5, 120)
# The forecast reaches 30 minutes ahead, in 5-minute steps.
SOON_RANGE: Final = (5, 30, 5)
# Rising and falling fast, in mg/dL per minute.
FAST_RATE_RANGE_MGDL: Final = (0.5, 10.0)
# The collapsed form section that holds the server URL.
SECTION_ADVANCED: Final = "advanced"

USERNAME_SELECTOR: Final = TextSelector(
    TextSelectorConfig(type=TextSelectorType.TEXT, autocomplete="username")
)
PASSWORD_SELECTOR: Final = TextSelector(
    TextSelectorConfig(type=TextSelectorType.PASSWORD, autocomplete="current-password")
)
URL_SELECTOR: Final = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
REGION_SELECTOR: Final = SelectSelector(
    SelectSelectorConfig(
        options=[region.value for region in Region],
        translation_key=CONF_REGION,
        mode=SelectSelectorMode.DROPDOWN,
    )
)
UNIT_SELECTOR: Final = SelectSelector(
    SelectSelectorConfig(
        options=[MGDL, MMOLL],
        mode=SelectSelectorMode.DROPDOWN,
    )
)

CHART_HOURS_SELECTOR: Final = SelectSelector(
    SelectSelectorConfig(
        options=[str(hours) for hours in CHART_HOURS],
        translation_key=CONF_CHART_HOURS,
        mode=SelectSelectorMode.DROPDOWN,
    )
)


@dataclass(frozen=True, slots=True)
class SignIn:
    """What a successful sign-in to Dexcom Share found."""

    account_id: str
    has_readings: bool


async def async_sign_in(hass: HomeAssistant, data: Mapping[str, Any]) -> SignIn:
    """Log in once and read the last 24 hours; raise the Share errors."""
    client = ShareClient(
        async_get_clientsession(hass),
        data[CONF_USERNAME],
        data[CONF_PASSWORD],
        region=Region(data[CONF_REGION]),
        base_url=data.get(CONF_SERVER_URL),
    )
    account_id = await client.login()
    readings = await client.get_readings()
    return SignIn(account_id, bool(readings))


def server_url_error(url: str) -> str | None:
    """Return the form error of a typed server URL, or None when it is usable.

    The URL must use https, or http on a loopback address.
    """
    if "://" not in url:
        return "url_missing_scheme"
    try:
        parsed = URL(url)
    except ValueError:
        return "invalid_url"
    if not parsed.absolute or not parsed.host:
        return "invalid_url"
    if parsed.scheme == "https" or (parsed.scheme == "http" and _is_loopback(parsed.host)):
        return None
    return "invalid_url"


def _is_loopback(host: str) -> bool:
    """Return whether the host is localhost or a loopback IP address."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _connection_schema(region: str, *, unit: bool) -> vol.Schema:
    """Return the fields that say how to reach the account, the server URL collapsed."""
    schema: dict[vol.Marker, Any] = {
        vol.Required(CONF_USERNAME): USERNAME_SELECTOR,
        vol.Required(CONF_PASSWORD): PASSWORD_SELECTOR,
        vol.Required(CONF_REGION, default=region): REGION_SELECTOR,
    }
    if unit:
        schema[vol.Optional(CONF_UNIT)] = UNIT_SELECTOR
    schema[vol.Optional(SECTION_ADVANCED)] = section(
        vol.Schema({vol.Optional(CONF_SERVER_URL): URL_SELECTOR}), {"collapsed": True}
    )
    return vol.Schema(schema)


def _shown_connection(data: Mapping[str, Any]) -> dict[str, Any]:
    """Return the stored connection data as the form shows it, without the password."""
    shown = {key: value for key, value in data.items() if key != CONF_PASSWORD}
    shown[SECTION_ADVANCED] = {CONF_SERVER_URL: shown.pop(CONF_SERVER_URL, "")}
    return shown


class CgmConfigFlow(ConfigFlow, domain=DOMAIN):
    """Sign in to a Dexcom Share publisher account."""

    VERSION = 1
    # 1.2: a custom server URL is stored as Share's full service URL, ending with a slash.
    # 1.3: the options hold every option, the defaults included.
    # 1.4: the options of the forecast sensors join them.
    # 1.5: the glucose chart's hours join them.
    MINOR_VERSION = 6

    def __init__(self) -> None:
        """Start with no data."""
        self._data: dict[str, Any] = {}
        # The words of the last sign-in error: the minutes to wait for a rate limit.
        self._error_placeholders: dict[str, str] = {}

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> CgmOptionsFlow:
        """Return the options flow."""
        return CgmOptionsFlow()

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the account and check that it signs in."""
        errors: dict[str, str] = {}
        if user_input is not None:
            data = self._connection_data({}, user_input)
            data[CONF_UNIT] = user_input.get(CONF_UNIT) or DEFAULT_UNITS[data[CONF_REGION]]
            if (sign_in := await self._async_check(data, errors)) is not None:
                await self.async_set_unique_id(sign_in.account_id)
                self._abort_if_unique_id_configured()
                self._data = data
                if not sign_in.has_readings:
                    return await self.async_step_no_readings()
                return self._async_create_entry()
        schema = _connection_schema(Region.US.value, unit=True)
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
            description_placeholders=self._error_placeholders,
        )

    async def async_step_no_readings(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Explain that Share has no readings, then add the account anyway."""
        if user_input is None:
            return self.async_show_form(
                step_id="no_readings",
                description_placeholders={"username": self._data[CONF_USERNAME]},
            )
        return self._async_create_entry()

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """Start signing in again after Dexcom rejected the password."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the new password of the same account."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            password = user_input[CONF_PASSWORD]
            data = {**entry.data, CONF_PASSWORD: password}
            if (sign_in := await self._async_check(data, errors)) is not None:
                await self.async_set_unique_id(sign_in.account_id)
                self._abort_if_unique_id_mismatch()
                async_clear_rejection(self.hass, entry.entry_id)
                return self.async_update_reload_and_abort(
                    entry, data_updates={CONF_PASSWORD: password}
                )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema({vol.Required(CONF_PASSWORD): PASSWORD_SELECTOR}),
            errors=errors,
            description_placeholders={
                "username": entry.data[CONF_USERNAME],
                **self._error_placeholders,
            },
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the sign-in details or the region of the same account."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = self._connection_data(entry.data, user_input)
            if (sign_in := await self._async_check(data, errors)) is not None:
                await self.async_set_unique_id(sign_in.account_id)
                self._abort_if_unique_id_mismatch(reason="unique_id_mismatch")
                async_clear_rejection(self.hass, entry.entry_id)
                return self.async_update_reload_and_abort(entry, data=data)
        shown = user_input or _shown_connection(entry.data)
        schema = _connection_schema(entry.data[CONF_REGION], unit=False)
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(schema, shown),
            errors=errors,
            description_placeholders=self._error_placeholders,
        )

    def _connection_data(
        self, base: Mapping[str, Any], user_input: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Merge the submitted connection fields into the base data."""
        data = {
            **base,
            CONF_USERNAME: user_input[CONF_USERNAME].strip(),
            CONF_PASSWORD: user_input[CONF_PASSWORD],
            CONF_REGION: user_input[CONF_REGION],
        }
        data.pop(CONF_SERVER_URL, None)
        if url := user_input.get(SECTION_ADVANCED, {}).get(CONF_SERVER_URL, "").strip():
            data[CONF_SERVER_URL] = url
        return data

    async def _async_check(self, data: dict[str, Any], errors: dict[str, str]) -> SignIn | None:
        """Sign in once; on failure, fill in errors and return None.

        A usable server URL is stored as Share's full service URL.
        """
        custom = CONF_SERVER_URL in data
        if custom:
            if error := server_url_error(data[CONF_SERVER_URL]):
                errors["base"] = error
                return None
            data[CONF_SERVER_URL] = service_url(data[CONF_SERVER_URL])
        try:
            return await async_sign_in(self.hass, data)
        except ShareRateLimitedError as err:
            LOGGER.debug("Signing in to Dexcom Share failed: %s", err)
            errors["base"] = "rate_limited"
            self._error_placeholders = {"minutes": _retry_minutes(err)}
        except ShareError as err:
            LOGGER.debug("Signing in to Dexcom Share failed: %s", err)
            errors["base"] = _sign_in_error(err, custom=custom)
        except Exception:  # noqa: BLE001 - the flow must show an error, not crash
            LOGGER.exception("Unexpected error signing in to Dexcom Share")
            errors["base"] = "unknown"
        return None

    @callback
    def _async_create_entry(self) -> ConfigFlowResult:
        """Add the account, named after its username."""
        return self.async_create_entry(
            title=self._data[CONF_USERNAME], data=self._data, options=DEFAULT_OPTIONS
        )


def _sign_in_error(err: ShareError, *, custom: bool) -> str:
    """Return the form error of a failed sign-in."""
    if isinstance(err, ShareAuthenticationError):
        return "invalid_auth"
    if isinstance(err, ShareAccountLockedError):
        return "account_locked"
    if isinstance(err, ShareUnavailableError):
        return "share_unavailable"
    if custom and isinstance(err, ShareUnrecognizedServerError | ShareInvalidResponseError):
        return "not_share_server"
    return "cannot_connect"


def _retry_minutes(err: ShareRateLimitedError) -> str:
    """Return the minutes to wait after a rate limit: what the server asked, or our wait."""
    wait = RATE_LIMIT_WAIT if err.retry_after is None else err.retry_after
    return whole_minutes(min(wait, RATE_LIMIT_CAP))


class CgmOptionsFlow(OptionsFlowWithReload):
    """Change the glucose limits, shown in the entry's unit, and the chart's hours."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show the limits in the entry's unit and store them in mg/dL."""
        unit: str = self.config_entry.data[CONF_UNIT]
        errors: dict[str, str] = {}
        if user_input is not None:
            options = _stored_options(user_input, unit, self.config_entry.options)
            if _thresholds_rise(options):
                return self.async_create_entry(data={**self.config_entry.options, **options})
            errors["base"] = "thresholds_order"
        schema = _options_schema(unit, _shown_options(self.config_entry.options, unit))
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
            description_placeholders={"unit": unit},
        )


def _shown_options(options: Mapping[str, Any], unit: str) -> dict[str, float | str]:
    """Return the current options, with the limits and the rate in the unit.

    The chart's hours show as the select's text.
    """
    shown: dict[str, float | str] = {key: to_unit(options[key], unit) for key in GLUCOSE_LIMITS}
    shown[CONF_FAST_RATE] = rate_to_unit(options[CONF_FAST_RATE], unit)
    for key in (CONF_STALE_MINUTES, CONF_URGENT_LOW_SOON_MINUTES):
        shown[key] = options[key]
    shown[CONF_CHART_HOURS] = str(options[CONF_CHART_HOURS])
    shown[CONF_STEADY_FALLS] = options[CONF_STEADY_FALLS]
    return shown


def _stored_options(
    user_input: Mapping[str, Any], unit: str, current: Mapping[str, Any]
) -> dict[str, float]:
    """Return the submitted options, with the limits in whole mg/dL, the rate in mg/dL/min.

    A value submitted as shown keeps what is stored: 55 mg/dL shows as 3.1 mmol/L, which
    is 56 mg/dL.
    """
    shown = _shown_options(current, unit)
    stored: dict[str, float] = {key: from_unit(user_input[key], unit) for key in GLUCOSE_LIMITS}
    stored[CONF_FAST_RATE] = rate_from_unit(user_input[CONF_FAST_RATE], unit)
    for key in (CONF_STALE_MINUTES, CONF_URGENT_LOW_SOON_MINUTES, CONF_CHART_HOURS):
        stored[key] = int(user_input[key])
    stored[CONF_STEADY_FALLS] = bool(user_input[CONF_STEADY_FALLS])
    return {
        key: current[key] if user_input[key] == shown[key] else value
        for key, value in stored.items()
    }


def _thresholds_rise(options: Mapping[str, float]) -> bool:
    """Return whether each limit is above the one before it."""
    values = [options[key] for key in THRESHOLDS]
    return all(lower < upper for lower, upper in pairwise(values))


def _options_schema(unit: str, defaults: Mapping[str, float | str]) -> vol.Schema:
    """Return the options form, with the limits and the rate in the unit."""
    low, high = (to_unit(limit, unit) for limit in THRESHOLD_RANGE_MGDL)
    threshold = NumberSelector(
        NumberSelectorConfig(
            min=low,
            max=high,
            step=UNIT_STEPS[unit],
            mode=NumberSelectorMode.BOX,
            unit_of_measurement=unit,
        )
    )
    slowest, fastest = (rate_to_unit(rate, unit) for rate in FAST_RATE_RANGE_MGDL)
    selectors: dict[str, NumberSelector | SelectSelector | BooleanSelector] = dict.fromkeys(
        THRESHOLDS, threshold
    )
    selectors[CONF_STALE_MINUTES] = _minutes_selector(*STALE_RANGE, 1)
    selectors[CONF_URGENT_LOW_SOON_LEVEL] = threshold
    selectors[CONF_URGENT_LOW_SOON_MINUTES] = _minutes_selector(*SOON_RANGE)
    selectors[CONF_STEADY_FALLS] = BooleanSelector()
    selectors[CONF_FAST_RATE] = NumberSelector(
        NumberSelectorConfig(
            min=slowest,
            max=fastest,
            step=UNIT_STEPS[unit] / 10,
            mode=NumberSelectorMode.BOX,
            unit_of_measurement=f"{unit}/min",
        )
    )
    selectors[CONF_CHART_HOURS] = CHART_HOURS_SELECTOR
    return vol.Schema(
        {vol.Required(key, default=defaults[key]): selector for key, selector in selectors.items()}
    )


def _minutes_selector(low: int, high: int, step: int) -> NumberSelector:
    """Return a box for a number of minutes."""
    return NumberSelector(
        NumberSelectorConfig(
            min=low, max=high, step=step, mode=NumberSelectorMode.BOX, unit_of_measurement="min"
        )
    )
