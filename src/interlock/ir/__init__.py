"""Interlock ir package."""
