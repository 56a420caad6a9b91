"""Interlock's benchmark harness: `python -m bench run --lanes ...` (see bench/README.md)."""
