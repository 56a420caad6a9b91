"""Tests of interlock.store."""
