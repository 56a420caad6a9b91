"""Tests of the ``interlock keys`` commands, run through typer's CliRunner on a temporary SQLite file."""

from __future__ import annotations

import asyncio
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
from typer.testing import CliRunner, Result

from interlock.store import KeyRecord, KeyStore, init_db, make_engine
from interlock.store.cli_keys import keys_app
from tests.unit.store.keystore_contract import KEY_RE

# Hermetic: nothing from the caller's environment may pick another database or config file.
_ENV: dict[str, str | None] = {"INTERLOCK_CONFIG": None, "INTERLOCK_DATABASE_URL": None, "COLUMNS": "200"}


@pytest.fixture
def config_file(tmp_path: Path, sqlite_url: str) -> Path:
    path = tmp_path / "interlock.yaml"
    path.write_text(f"database_url: {sqlite_url}\n")
    return path


@pytest.fixture
def keys(config_file: Path) -> CliRunnerFor:
    return CliRunnerFor(config_file)


class CliRunnerFor:
    """Runs ``interlock keys ...`` against one config file."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(keys_app, [*args, "--config", str(self.config)], env=_ENV)

    def create(self, *args: str) -> tuple[str, Result]:
        result = self("create", *args)
        assert result.exit_code == 0, result.output
        return result.stdout.splitlines()[-1], result


def _records(sqlite_url: str) -> list[KeyRecord]:
    async def main() -> list[KeyRecord]:
        engine = make_engine(sqlite_url)
        try:
            await init_db(engine)
            return await KeyStore(engine).list()
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _authenticate(sqlite_url: str, raw: str) -> KeyRecord | None:
    async def main() -> KeyRecord | None:
        engine = make_engine(sqlite_url)
        try:
            return await KeyStore(engine).authenticate(raw)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def test_create_prints_the_key_alone_on_the_last_stdout_line(keys: CliRunnerFor, sqlite_url: str) -> None:
    raw, result = keys.create("--name", "ci", "--rpm", "60", "--tpm", "5000", "--budget-usd", "5")
    assert KEY_RE.match(raw)
    assert result.stdout.endswith(raw + "\n")
    assert raw not in result.stderr  # the summary shows the prefix, not the key
    [record] = _records(sqlite_url)
    assert record.id in result.stderr
    assert record.key_prefix in result.stderr
    assert (record.name, record.rpm_limit, record.tpm_limit, record.budget_usd) == ("ci", 60, 5000, 5.0)
    assert record.budget_period == "monthly"
    assert record.expires_at is None
    assert _authenticate(sqlite_url, raw) == record


def test_create_with_expiry_and_period(keys: CliRunnerFor, sqlite_url: str) -> None:
    keys.create("--name", "a", "--expires-at", "2999-01-01T00:00:00+02:00", "--budget-period", "weekly")
    keys.create("--name", "b", "--expires-at", "2999-01-01")  # no offset: UTC
    keys.create("--name", "c", "--expires-at", "2999-01-01T10:00:00Z")
    a, b, c = _records(sqlite_url)
    assert a.expires_at == datetime(2998, 12, 31, 22, tzinfo=UTC)
    assert a.budget_period == "weekly"
    assert b.expires_at == datetime(2999, 1, 1, tzinfo=UTC)
    assert c.expires_at == datetime(2999, 1, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    "args",
    [
        ["--name", "x", "--expires-at", "yesterday"],
        ["--name", "x", "--expires-at", "2001-01-01"],
        ["--name", "x", "--budget-period", "yearly"],
        ["--name", "x", "--rpm", "0"],
        ["--name", "x", "--budget-usd", "-1"],
        ["--name", "   "],
        [],
    ],
    ids=["bad-date", "past", "period", "rpm", "budget", "blank-name", "no-name"],
)
def test_create_rejects_bad_options(keys: CliRunnerFor, sqlite_url: str, args: list[str]) -> None:
    result = keys("create", *args)
    assert result.exit_code == 2, result.output
    assert not KEY_RE.match((result.stdout.splitlines() or [""])[-1])
    assert _records(sqlite_url) == []


def test_list(keys: CliRunnerFor) -> None:
    empty = keys("list")
    assert empty.exit_code == 0
    assert "No API keys" in empty.stdout
    first, _ = keys.create("--name", "first key", "--rpm", "60", "--budget-usd", "12.5")
    second, _ = keys.create("--name", "second", "--expires-at", "2999-01-01")
    result = keys("list")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for header in ("id", "name", "prefix", "status", "rpm", "budget", "created", "expires"):
        assert header in out
    assert "first key" in out and "second" in out
    assert first[:16] in out and second[:16] in out
    assert first not in out and second not in out
    assert "$12.50/monthly" in out
    assert "2999-01-01 00:00" in out
    assert len(re.findall(r"key_[A-Za-z0-9]{16}", out)) == 2
    assert out.count("active") == 2


def test_revoke(keys: CliRunnerFor, sqlite_url: str) -> None:
    raw, _ = keys.create("--name", "doomed")
    [record] = _records(sqlite_url)
    result = keys("revoke", record.id)
    assert result.exit_code == 0, result.output
    assert f"Revoked {record.id}" in result.stdout
    assert _authenticate(sqlite_url, raw) is None
    listed = keys("list")
    assert "revoked" in listed.stdout
    again = keys("revoke", record.id)
    assert again.exit_code == 0
    assert "already revoked" in again.stdout


def test_revoke_unknown_key_exits_1(keys: CliRunnerFor) -> None:
    result = keys("revoke", "key_doesnotexist00")
    assert result.exit_code == 1
    assert "no API key with id 'key_doesnotexist00'" in result.stderr


def test_bad_config_is_reported_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("no_such_setting: 1\n")
    result = CliRunnerFor(config)("list")
    assert result.exit_code == 1
    assert "no_such_setting" in result.stderr
    assert "Traceback" not in result.output


def test_unusable_database_is_reported(tmp_path: Path) -> None:
    config = tmp_path / "interlock.yaml"
    config.write_text(f"database_url: sqlite:///{tmp_path}/missing-dir/x.db\n")
    result = CliRunnerFor(config)("list")
    assert result.exit_code == 1
    assert "missing-dir does not exist" in result.stderr


def test_database_url_comes_from_load_settings(monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> None:
    seen: list[str | None] = []
    stub = ModuleType("interlock.config")

    def load_settings(path: str | None = None) -> SimpleNamespace:
        seen.append(path)
        return SimpleNamespace(database_url=sqlite_url)

    stub.load_settings = load_settings  # type: ignore[attr-defined]
    stub.ConfigError = type("ConfigError", (Exception,), {})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "interlock.config", stub)
    runner = CliRunner()
    result = runner.invoke(keys_app, ["create", "--name", "x", "--config", "some.yaml"], env=_ENV)
    assert result.exit_code == 0, result.output
    assert runner.invoke(keys_app, ["list"], env=_ENV).exit_code == 0
    assert seen == ["some.yaml", None]
    assert [r.name for r in _records(sqlite_url)] == ["x"]
