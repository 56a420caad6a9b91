"""Interlock store package."""
