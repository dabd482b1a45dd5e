"""Tests of the Dexcom Share simulator."""
