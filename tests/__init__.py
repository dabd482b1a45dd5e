"""Tests of the CGM Handler integration."""
