"""Shared fixtures for the CGM Handler tests."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator, Iterable
from datetime import timedelta
import logging

from homeassistant.components.recorder import Recorder
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

from custom_components.cgm_handler.config_flow import CgmConfigFlow
from custom_components.cgm_handler.const import (
    CONF_REGION,
    CONF_SERVER_URL,
    CONF_UNIT,
    DEFAULT_OPTIONS,
    DOMAIN,
    MGDL,
)
from scripts.share_simulator import ShareSimulator

# pytest-homeassistant-custom-component's plugin calls logging.basicConfig(level=INFO), which
# puts a handler on the root logger writing to the real stderr, and turns on SQLAlchemy's
# statement logging (INFO): hundreds of SQL statements and recorder pool records in the
# middle of the test output, outside pytest's capture. Drop that handler and SQLAlchemy's
# statements; a failing test still shows its own records under "Captured log", which
# pytest's handlers collect.
logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
for _handler in list(logging.getLogger().handlers):
    if type(_handler) is logging.StreamHandler:
        logging.getLogger().removeHandler(_handler)

USERNAME = "jane"
PASSWORD = "correct-horse-battery"
EMAIL = "jane@example.com"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that run Home Assistant, and so its recorder database."""
    for item in items:
        if "hass" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.recorder)


class SnapshotExtension(HomeAssistantSnapshotExtension):
    """Home Assistant's snapshot format, in tests/snapshots on every release.

    Home Assistant moves snapshots to `snapshots/` by overriding a method that syrupy 6
    no longer asks, so the newest release would look in `__snapshots__/` instead.
    """

    snapshot_dirname = "snapshots"


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Return the snapshot assertion with the same folder on every release."""
    return snapshot.use_extension(SnapshotExtension)


@pytest.fixture(autouse=True)
def integration_environment(request: pytest.FixtureRequest) -> None:
    """Give each Home Assistant test a recorder and access to custom integrations.

    The integration depends on the recorder, whose database must exist before hass starts.
    """
    if "hass" not in request.fixturenames:
        return
    request.getfixturevalue("recorder_mock")
    request.getfixturevalue("background_work_done")
    request.getfixturevalue("enable_custom_integrations")


@pytest.fixture
async def background_work_done(
    hass: HomeAssistant, recorder_mock: Recorder
) -> AsyncGenerator[None]:
    """Let the integration's background work end before the recorder stops.

    The statistics are read back in the recorder's executor after each import; a read still
    running when the test's recorder closes its in-memory SQLite database would crash the
    interpreter.
    """
    yield
    await hass.async_block_till_done(wait_background_tasks=True)


def deprecation_reports(records: Iterable[logging.LogRecord]) -> list[str]:
    """Return Home Assistant's reports of deprecated calls made by this integration.

    Home Assistant logs them as warnings or errors: "The deprecated function X was called
    from cgm_handler", "Detected that custom integration 'cgm_handler' ...".
    """
    reports = []
    for record in records:
        message = record.getMessage()
        deprecated = (
            "deprecated" in message.lower() or "Detected that custom integration" in message
        )
        if record.levelno >= logging.WARNING and DOMAIN in message and deprecated:
            reports.append(message)
    return reports


@pytest.fixture(autouse=True)
def no_deprecated_calls(caplog: pytest.LogCaptureFixture) -> Generator[None]:
    """Fail every test in which Home Assistant reports a deprecated call from cgm_handler.

    Python DeprecationWarnings raised from the integration's modules are errors too
    (filterwarnings in setup.cfg).
    """
    yield
    records = [*caplog.get_records("setup"), *caplog.get_records("call")]
    assert deprecation_reports(records) == []


@pytest.fixture
async def simulator(hass: HomeAssistant, socket_enabled: None) -> AsyncGenerator[ShareSimulator]:
    """Serve a simulated Dexcom Share on 127.0.0.1, on Home Assistant's (frozen) clock."""
    sim = ShareSimulator(now=lambda: dt_util.utcnow())  # noqa: PLW0108 (patched per test)
    sim.add_account(USERNAME, PASSWORD, email=EMAIL, history=timedelta(days=1))
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
def mock_config_entry(simulator: ShareSimulator) -> MockConfigEntry:
    """Return an entry for the simulator's account, in mg/dL."""
    return MockConfigEntry(
        domain=DOMAIN,
        minor_version=CgmConfigFlow.MINOR_VERSION,
        title=USERNAME,
        unique_id=simulator.account(USERNAME).account_id,
        data={
            CONF_USERNAME: USERNAME,
            CONF_PASSWORD: PASSWORD,
            CONF_REGION: "us",
            CONF_UNIT: MGDL,
            CONF_SERVER_URL: simulator.base_url,
        },
        options=DEFAULT_OPTIONS,
    )


@pytest.fixture
async def init_integration(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> MockConfigEntry:
    """Set up the integration against the simulator."""
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    return mock_config_entry
