"""The check that fails every test on a deprecated call from the integration."""

from __future__ import annotations

import logging
import warnings

import pytest

from tests.conftest import deprecation_reports


def _record(level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord("homeassistant.helpers.frame", level, __file__, 1, message, (), None)


def test_home_assistant_reports_are_caught() -> None:
    """Home Assistant's wording of a deprecated call by this integration is recognised."""
    shown = (
        "The deprecated function show_advanced_options was called from cgm_handler. "
        "It will be removed in HA Core 2027.6."
    )
    detected = (
        "Detected that custom integration 'cgm_handler' calls a deprecated helper at "
        "custom_components/cgm_handler/config_flow.py, line 1: ..."
    )
    records = [
        _record(logging.WARNING, shown),
        _record(logging.ERROR, detected),
        _record(logging.DEBUG, shown),
        _record(logging.WARNING, "The deprecated function x was called from other_integration"),
        _record(logging.WARNING, "cgm_handler could not reach Dexcom Share"),
    ]

    assert deprecation_reports(records) == [shown, detected]


def test_python_deprecation_warning_is_an_error() -> None:
    """A DeprecationWarning attributed to an integration module fails the test."""
    with pytest.raises(DeprecationWarning):
        warnings.warn_explicit(
            "old API",
            DeprecationWarning,
            "custom_components/cgm_handler/sensor.py",
            1,
            module="custom_components.cgm_handler.sensor",
        )
