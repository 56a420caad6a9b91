"""Simulator config: behaviour validation, patches, model lookup, YAML loading."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlock.sim import SimBehaviour, SimConfig, SimConfigError, SimProvider, default_sim_config, load_sim_config
from interlock.sim.config import PROTOCOLS, find_model_patch, merge_behaviour, validate_sim_config


def test_merge_behaviour_applies_and_validates() -> None:
    base = SimBehaviour(ttft_ms=10)
    merged = merge_behaviour(base, {"tps": 50, "outages": [[1, 2]]})
    assert (merged.ttft_ms, merged.tps, merged.outages) == (10, 50, ((1.0, 2.0),))
    assert merge_behaviour(base, {}) is base
    with pytest.raises(SimConfigError, match="error_rate"):
        merge_behaviour(base, {"error_rate": 2})
    with pytest.raises(SimConfigError, match="unknown"):
        merge_behaviour(base, {"ttft": 1})
    with pytest.raises(SimConfigError):
        merge_behaviour(base, {"error_status": 200})


def test_find_model_patch_prefers_exact_then_glob() -> None:
    models = {"gemini-3*": {"tps": 1}, "gemini-3-pro": {"tps": 2}}
    assert find_model_patch(models, "gemini-3-pro") == {"tps": 2}
    assert find_model_patch(models, "gemini-3-flash") == {"tps": 1}
    assert find_model_patch(models, "gpt") is None


def test_default_config_has_one_provider_per_protocol() -> None:
    config = default_sim_config()
    assert sorted(p.protocol for p in config.providers.values()) == sorted(PROTOCOLS)
    assert load_sim_config(None) == config


def test_load_yaml(tmp_path: Path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text(
        """
seed: 42
default: {ttft_ms: 5}
providers:
  fast:
    protocol: openai-chat
    behaviour: {tps: 500, error_status: 429}
    models:
      slow-model: {tps: 5}
"""
    )
    config = load_sim_config(str(path))
    assert config.seed == 42
    assert config.default.ttft_ms == 5
    assert config.providers["fast"] == SimProvider(
        protocol="openai-chat", behaviour={"tps": 500, "error_status": 429}, models={"slow-model": {"tps": 5}}
    )


def test_load_yaml_under_sim_key_and_empty(tmp_path: Path) -> None:
    nested = tmp_path / "gateway.yaml"
    nested.write_text("database_url: sqlite:///x.db\nsim:\n  providers:\n    a: {protocol: gemini}\n")
    assert load_sim_config(str(nested)).providers["a"].protocol == "gemini"
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_sim_config(str(empty)) == SimConfig()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("providers: {a: {protocol: smtp}}", "protocol"),
        ("providers: {a: {protocol: gemini, behaviour: {tps: -1}}}", "provider 'a'"),
        ("providers: {a: {protocol: gemini, models: {m: {bogus: 1}}}}", "provider 'a'"),
        ("seeds: 1", "seeds"),
        ("[unclosed", "cannot read"),
    ],
)
def test_load_yaml_rejects_bad_config(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SimConfigError, match=match):
        load_sim_config(str(path))


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(SimConfigError, match="cannot read"):
        load_sim_config(str(tmp_path / "absent.yaml"))


def test_validate_sim_config_checks_python_built_configs() -> None:
    config = SimConfig(providers={"a": SimProvider(protocol="anthropic", behaviour={"malformed_rate": 3})})
    with pytest.raises(SimConfigError):
        validate_sim_config(config)


def test_module_docstring_example_is_a_valid_config(tmp_path: Path) -> None:
    import interlock.sim.config as module

    assert module.__doc__ is not None
    path = tmp_path / "example.yaml"
    path.write_text(module.__doc__.split("```yaml")[1].split("```")[0])
    config = load_sim_config(str(path))
    assert config.providers["flaky-claude"].behaviour["error_status"] == 529
