"""Fixtures for the store tests: isolated SQLite databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from interlock.store import make_engine


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "interlock.db"


@pytest.fixture
def sqlite_url(sqlite_path: Path) -> str:
    return f"sqlite:///{sqlite_path}"


@pytest.fixture
async def memory_engine() -> AsyncIterator[AsyncEngine]:
    engine = make_engine("sqlite:///:memory:")
    yield engine
    await engine.dispose()
