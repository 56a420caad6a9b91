"""Interlock routing package."""
