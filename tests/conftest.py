"""Shared fixtures for the CGM Handler tests."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that run Home Assistant, and so its recorder database."""
    for item in items:
        if "hass" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.recorder)


@pytest.fixture(autouse=True)
def integration_environment(request: pytest.FixtureRequest) -> None:
    """Give each Home Assistant test a recorder and access to custom integrations.

    The integration depends on the recorder, whose database must exist before hass starts.
    """
    if "hass" not in request.fixturenames:
        return
    request.getfixturevalue("recorder_mock")
    request.getfixturevalue("enable_custom_integrations")
