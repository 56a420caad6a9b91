"""Interlock engine package."""
