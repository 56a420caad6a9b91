"""Interlock accounting package."""
