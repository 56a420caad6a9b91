"""Interlock providers package."""
