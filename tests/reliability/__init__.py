"""Fault and restart scenarios in simulated time: nothing lost, nothing duplicated."""
