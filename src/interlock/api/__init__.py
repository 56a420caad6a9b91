"""Interlock api package."""
