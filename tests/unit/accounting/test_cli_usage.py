"""``interlock usage``: the --since forms and a report read from a real ledger."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from interlock.accounting.cli_usage import parse_since
from interlock.cli import app
from interlock.store.db import init_db, make_engine
from interlock.store.ledger import insert_usage

NOW = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", NOW - timedelta(days=7)),
        ("24h", NOW - timedelta(hours=24)),
        ("30m", NOW - timedelta(minutes=30)),
        ("2w", NOW - timedelta(weeks=2)),
        ("2026-05-01", datetime(2026, 5, 1, tzinfo=UTC)),
        ("2026-05-01T10:00:00+02:00", datetime(2026, 5, 1, 8, tzinfo=UTC)),
        ("2026-05-01T10:00:00Z", datetime(2026, 5, 1, 10, tzinfo=UTC)),
    ],
)
def test_parse_since(text: str, expected: datetime) -> None:
    assert parse_since(text, NOW) == expected


def test_parse_since_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="yesterday"):
        parse_since("yesterday", NOW)


def _row(i: int, model: str, cost: float, status: str = "ok") -> dict[str, object]:
    return {
        "request_id": f"req_{i}",
        "created_at": datetime.now(UTC) - timedelta(minutes=i),
        "key_id": "key_a" if i % 2 else "key_b",
        "workspace_id": "ws_default",
        "endpoint": "chat",
        "model": model,
        "provider": "p",
        "provider_model_id": "pm",
        "input_tokens": 10,
        "cached_tokens": 0,
        "cache_write_tokens": 0,
        "output_tokens": 5,
        "reasoning_tokens": None,
        "usage_estimated": False,
        "cost_usd": cost,
        "reserved_usd": None,
        "ttft_ms": None,
        "latency_ms": 12.0,
        "status": status,
        "http_status": 200,
        "error_code": None,
        "stream": False,
        "attempts": 1,
    }


def test_usage_command_prints_a_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"

    async def seed() -> None:
        engine = make_engine(url)
        await init_db(engine)
        rows = [_row(1, "gpt", 0.25), _row(2, "gpt", 0.5), _row(3, "claude", 1.0, status="error")]
        await insert_usage(engine, rows)
        await insert_usage(engine, rows[:1])  # a retried batch is not counted twice
        await engine.dispose()

    asyncio.run(seed())
    config = tmp_path / "interlock.yaml"
    config.write_text(f"database_url: {url}\ncatalog: none\n")
    result = CliRunner().invoke(app, ["usage", "--by", "model", "--since", "1d", "--config", str(config)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    claude = next(line for line in lines if "claude" in line)
    gpt = next(line for line in lines if "gpt" in line)
    assert "1.000000" in claude and "0.750000" in gpt
    assert "1.750000" in next(line for line in lines if "total" in line)
    bad = CliRunner().invoke(app, ["usage", "--by", "colour", "--config", str(config)])
    assert bad.exit_code == 2
