"""Interlock sim package."""
