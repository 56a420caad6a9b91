"""Interlock: a self-hosted LLM routing gateway that speaks the Auriko API."""

__all__ = ["__version__"]

__version__ = "0.1.0"
