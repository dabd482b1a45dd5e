"""Tests of the Dexcom Share client."""
