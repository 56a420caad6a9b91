"""Tests for interlock.config: file and environment loading, catalog merging, the simulator fallback, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlock.config import ConfigError, Settings, load_catalog, load_settings
from interlock.routing.catalog import ModelEntry, ProviderConfig

OPENAI_ONLY = {"OPENAI_API_KEY": "sk-test"}


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "interlock.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def provider(settings: Settings, pid: str) -> ProviderConfig:
    return next(p for p in settings.providers if p.id == pid)


def model(settings: Settings, mid: str) -> ModelEntry:
    return next(m for m in settings.models if m.id == mid)


# ---------------------------------------------------------------------------------------------- defaults, paths


def test_defaults_without_file() -> None:
    settings = load_settings(env=OPENAI_ONLY)
    assert settings.config_path is None
    assert settings.database_url == "sqlite:///./interlock.db"
    assert settings.state_url == "memory://"
    assert settings.catalog == "bundled"
    assert settings.server.host == "127.0.0.1"
    assert settings.server.port == 8080
    assert settings.server.workers == 1
    assert settings.server.max_body_bytes == 10 * 1024 * 1024
    assert settings.admin_key is None
    assert settings.store_responses is True
    assert settings.simulated is False
    assert settings.prices_as_of is not None


def test_path_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "state_url: redis://127.0.0.1:6379/0\n")
    settings = load_settings(env={**OPENAI_ONLY, "INTERLOCK_CONFIG": path})
    assert settings.config_path == path
    assert settings.state_url == "redis://127.0.0.1:6379/0"


def test_path_argument_wins_over_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "log_level: DEBUG\n")
    settings = load_settings(path, env={**OPENAI_ONLY, "INTERLOCK_CONFIG": str(tmp_path / "missing.yaml")})
    assert settings.log_level == "debug"


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "# nothing\n"), env=OPENAI_ONLY)
    assert settings.database_url == "sqlite:///./interlock.db"


def test_file_options(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
database_url: postgresql://db/interlock
server: {host: 0.0.0.0, port: 9000, workers: 4, max_body_bytes: 1024}
store_responses: false
response_retention_seconds: 60
default_timeout_ms: 1000
log_format: json
admin_key: adm-secret
""",
    )
    settings = load_settings(path, env=OPENAI_ONLY)
    assert settings.database_url == "postgresql://db/interlock"
    assert (settings.server.host, settings.server.port, settings.server.workers) == ("0.0.0.0", 9000, 4)
    assert settings.server.max_body_bytes == 1024
    assert settings.store_responses is False
    assert settings.response_retention_seconds == 60
    assert settings.default_timeout_ms == 1000
    assert settings.log_format == "json"
    assert settings.admin_key == "adm-secret"
    assert "adm-secret" not in repr(settings)


# ---------------------------------------------------------------------------------------------- ${VAR} expansion


def test_env_expansion_and_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
database_url: postgresql://${DB_USER}@${DB_HOST:-localhost}/app
state_url: ${STATE:-memory://}
server: {port: "${PORT}"}
""",
    )
    settings = load_settings(path, env={**OPENAI_ONLY, "DB_USER": "me", "PORT": "9100"})
    assert settings.database_url == "postgresql://me@localhost/app"
    assert settings.state_url == "memory://"
    assert settings.server.port == 9100


def test_default_applies_to_empty_variable(tmp_path: Path) -> None:
    path = write(tmp_path, "state_url: ${STATE:-memory://}\n")
    assert load_settings(path, env={**OPENAI_ONLY, "STATE": ""}).state_url == "memory://"


def test_unset_variable_is_absent_and_default_applies(tmp_path: Path) -> None:
    path = write(tmp_path, "database_url: ${NOT_SET}\nadmin_key: ${ALSO_NOT_SET}\n")
    settings = load_settings(path, env=OPENAI_ONLY)
    assert settings.database_url == "sqlite:///./interlock.db"
    assert settings.admin_key is None


def test_escaped_reference_is_literal(tmp_path: Path) -> None:
    path = write(tmp_path, "database_url: sqlite:///$${HOME}/x.db\n")
    assert load_settings(path, env={**OPENAI_ONLY, "HOME": "/h"}).database_url == "sqlite:///${HOME}/x.db"


def test_bare_dollar_is_left_alone(tmp_path: Path) -> None:
    path = write(tmp_path, "admin_key: pa$$word$X\n")
    assert load_settings(path, env=OPENAI_ONLY).admin_key == "pa$$word$X"


@pytest.mark.parametrize("value", ["${1BAD}", "${A-b}", "${}"])
def test_malformed_reference(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, f'database_url: "{value}"\n')
    with pytest.raises(ConfigError, match=r"database_url: malformed variable reference"):
        load_settings(path, env=OPENAI_ONLY)


def test_unclosed_reference(tmp_path: Path) -> None:
    path = write(tmp_path, 'state_url: "${STATE"\n')
    with pytest.raises(ConfigError, match=r"state_url: unclosed"):
        load_settings(path, env=OPENAI_ONLY)


# ---------------------------------------------------------------------------------------------- env overrides


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, "database_url: sqlite:///file.db\nstate_url: memory://\nadmin_key: from-file\n")
    env = {
        **OPENAI_ONLY,
        "INTERLOCK_DATABASE_URL": "postgresql://env/db",
        "INTERLOCK_STATE_URL": "redis://127.0.0.1:6379/1",
        "INTERLOCK_ADMIN_KEY": "from-env",
    }
    settings = load_settings(path, env=env)
    assert settings.database_url == "postgresql://env/db"
    assert settings.state_url == "redis://127.0.0.1:6379/1"
    assert settings.admin_key == "from-env"


def test_empty_environment_override_is_ignored(tmp_path: Path) -> None:
    path = write(tmp_path, "database_url: sqlite:///file.db\n")
    assert load_settings(path, env={**OPENAI_ONLY, "INTERLOCK_DATABASE_URL": ""}).database_url == "sqlite:///file.db"


# ---------------------------------------------------------------------------------------------- providers


def test_bundled_provider_without_key_is_disabled() -> None:
    settings = load_settings(env=OPENAI_ONLY)
    assert provider(settings, "openai").enabled
    assert provider(settings, "openai").api_key == "sk-test"
    anthropic = provider(settings, "anthropic")
    assert not anthropic.enabled
    assert anthropic.api_key is None
    assert "ANTHROPIC_API_KEY" in anthropic.disabled_reason
    catalog = load_catalog(settings)
    assert catalog.offerings_for("claude-haiku-4-5") == []
    assert catalog.resolve("claude-haiku-4-5") is not None
    assert [o.provider for o in catalog.offerings_for("gpt-4o")] == ["openai"]


def test_empty_key_counts_as_absent() -> None:
    settings = load_settings(env={**OPENAI_ONLY, "ANTHROPIC_API_KEY": ""})
    assert not provider(settings, "anthropic").enabled


def test_user_provider_overrides_bundled_field_by_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
providers:
  - id: openai
    base_url: http://127.0.0.1:9999/v1
    headers: {X-Team: infra}
    data_policy: zdr
""",
    )
    settings = load_settings(path, env=OPENAI_ONLY)
    openai = provider(settings, "openai")
    assert openai.base_url == "http://127.0.0.1:9999/v1"
    assert openai.protocol == "openai-responses"  # kept from the bundled entry
    assert openai.api_key == "sk-test"  # still ${OPENAI_API_KEY}
    assert openai.headers == {"X-Team": "infra"}
    assert openai.data_policy == "zdr"
    assert load_catalog(settings).offerings_for("gpt-4o")[0].data_policy == "zdr"


def test_user_key_override_that_is_unset_disables(tmp_path: Path) -> None:
    path = write(tmp_path, "providers:\n  - {id: openai, api_key: '${MY_OPENAI_KEY}'}\n")
    settings = load_settings(path, env=OPENAI_ONLY)
    assert not provider(settings, "openai").enabled
    assert "MY_OPENAI_KEY" in provider(settings, "openai").disabled_reason
    assert not settings.simulated  # the config defines providers: no silent switch to the simulator
    assert any("no provider is enabled" in w for w in settings.warnings)


def test_explicit_enabled_wins_over_missing_key(tmp_path: Path) -> None:
    path = write(tmp_path, "providers:\n  - {id: anthropic, enabled: true}\n")
    settings = load_settings(path, env=OPENAI_ONLY)
    assert provider(settings, "anthropic").enabled
    assert provider(settings, "anthropic").api_key is None


def test_explicitly_disabled_bundled_provider(tmp_path: Path) -> None:
    path = write(tmp_path, "providers:\n  - {id: openai, enabled: false}\n")
    settings = load_settings(path, env={**OPENAI_ONLY, "GROQ_API_KEY": "g"})
    assert not provider(settings, "openai").enabled
    assert provider(settings, "groq").enabled


def test_user_provider_without_api_key_is_enabled(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
catalog: none
providers:
  - {id: local-vllm, protocol: openai-chat, base_url: "http://127.0.0.1:8000/v1"}
models:
  - id: my-model
    offerings:
      - {provider: local-vllm, provider_model_id: org/model, input_price: 0, output_price: 0}
""",
    )
    settings = load_settings(path, env={})
    assert not settings.simulated
    assert [p.id for p in settings.providers] == ["local-vllm"]
    catalog = load_catalog(settings)
    offering = catalog.offerings_for("my-model")[0]
    assert offering.blended_price == 0
    assert offering.data_policy == "none"
    assert "seed" in (offering.accepted_params or ())  # openai-chat protocol default


def test_design_doc_example(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
database_url: sqlite:///./interlock.db
state_url: memory://
catalog: bundled
providers:
  - id: together
    protocol: openai-chat
    base_url: https://api.together.xyz/v1
    api_key: ${TOGETHER_API_KEY}
    data_policy: no_training
models:
  - id: llama-3.3-70b
    aliases: [llama-3.3-70b-instruct]
    offerings:
      - provider: together
        provider_model_id: meta-llama/Llama-3.3-70B-Instruct-Turbo
        input_price: 0.88
        output_price: 0.88
        cache_read_price: 0.44
        context_window: 131072
        capabilities: [tools, json_schema]
""",
    )
    settings = load_settings(path, env={"TOGETHER_API_KEY": "tg"})
    catalog = load_catalog(settings)
    offerings = catalog.offerings_for("llama-3.3-70b-instruct")
    # The bundled together_ai provider reads the same key variable, so its offering is live as well.
    assert [(o.provider, o.cache_read_price) for o in offerings] == [("together_ai", None), ("together", 0.44)]


# ---------------------------------------------------------------------------------------------- models


def test_user_model_overrides_and_adds_offerings(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
providers:
  - {id: my-proxy, protocol: openai-chat, base_url: "http://127.0.0.1:7000/v1", api_key: k}
models:
  - id: llama-3.3-70b
    aliases: [llama-70b]
    display_name: Llama 70B
    offerings:
      - {provider: groq, input_price: 0.5}
      - {provider: my-proxy, provider_model_id: llama-70b, input_price: 0.1, output_price: 0.2}
""",
    )
    settings = load_settings(path, env={"GROQ_API_KEY": "g"})
    entry = model(settings, "llama-3.3-70b")
    assert entry.display_name == "Llama 70B"
    assert entry.aliases[-1] == "llama-70b"
    assert "llama-3.3-70b-instruct" in entry.aliases  # bundled aliases kept
    groq = next(o for o in entry.offerings if o.provider == "groq")
    assert groq.input_price == 0.5
    assert groq.output_price == 0.79  # untouched field kept
    assert groq.provider_model_id == "llama-3.3-70b-versatile"
    catalog = load_catalog(settings)
    assert [o.provider for o in catalog.offerings_for("llama-70b")] == ["groq", "my-proxy"]


def test_new_user_model_on_bundled_provider(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
models:
  - id: gpt-4o-custom
    aliases: [custom]
    endpoints: [responses]
    offerings:
      - provider: openai
        provider_model_id: ft:gpt-4o:org:custom
        input_price: 3.75
        output_price: 15
        capabilities: [tools, streaming]
""",
    )
    catalog = load_catalog(load_settings(path, env=OPENAI_ONLY))
    entry = catalog.resolve("custom")
    assert entry is not None and entry.id == "gpt-4o-custom"
    assert entry.responses_only
    assert catalog.offerings_for("custom")[0].provider_model_id == "ft:gpt-4o:org:custom"


# ---------------------------------------------------------------------------------------------- simulator fallback


def test_simulator_when_no_key_and_no_providers() -> None:
    settings = load_settings(env={})
    assert settings.simulated
    assert settings.warnings and "simulated" in settings.warnings[0]
    ids = {p.id for p in settings.providers}
    assert {"sim-openai", "sim-fast", "sim-cheap", "sim-steady", "sim-anthropic", "sim-gemini"} <= ids
    assert all(p.enabled and p.base_url == "sim://" for p in settings.providers)
    assert "openai" not in ids


def test_simulator_when_catalog_none_and_no_providers(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "catalog: none\n"), env=OPENAI_ONLY)
    assert settings.simulated


def test_no_simulator_when_a_key_is_set() -> None:
    settings = load_settings(env={"GROQ_API_KEY": "g"})
    assert not settings.simulated
    assert not settings.warnings


def test_user_models_ignored_in_fallback(tmp_path: Path) -> None:
    path = write(tmp_path, "models:\n  - {id: gpt-4o, aliases: [four-o]}\n")
    settings = load_settings(path, env={})
    assert settings.simulated
    assert any("ignored" in w for w in settings.warnings)


def test_catalog_sim_forces_simulator_and_accepts_overrides(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
catalog: sim
providers:
  - {id: sim-cheap, sim: {error_rate: 1.0}}
""",
    )
    settings = load_settings(path, env=OPENAI_ONLY)
    assert settings.simulated
    cheap = provider(settings, "sim-cheap")
    assert cheap.sim is not None and cheap.sim["error_rate"] == 1.0
    assert cheap.sim["tps"] == 35  # merged key by key with the bundled sim block
    assert "openai" not in {p.id for p in settings.providers}


# ---------------------------------------------------------------------------------------------- errors


def test_missing_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="config file not found") as info:
        load_settings(missing, env={})
    assert missing in str(info.value)


def test_bad_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  port: 1\n bad: [\n")
    with pytest.raises(ConfigError, match=r"invalid YAML \(line \d+, column \d+\)") as info:
        load_settings(path, env={})
    assert path in str(info.value)


def test_top_level_must_be_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_settings(write(tmp_path, "- a\n- b\n"), env={})


def test_unknown_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown setting 'databse_url'"):
        load_settings(write(tmp_path, "databse_url: x\n"), env={})


def test_loader_fields_are_not_settable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown setting 'simulated'"):
        load_settings(write(tmp_path, "simulated: true\n"), env={})


def test_wrong_type_names_key(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  port: eighty\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env=OPENAI_ONLY)
    assert str(info.value).startswith(f"{path}: server.port: ")


def test_out_of_range_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"server\.workers: Expected `int` >= 1"):
        load_settings(write(tmp_path, "server: {workers: 0}\n"), env=OPENAI_ONLY)


def test_bad_catalog_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"catalog: Invalid enum value 'all'"):
        load_settings(write(tmp_path, "catalog: all\n"), env=OPENAI_ONLY)


def test_unknown_protocol(tmp_path: Path) -> None:
    path = write(tmp_path, "providers:\n  - {id: x, protocol: openai, base_url: 'http://h/v1'}\n")
    with pytest.raises(ConfigError, match=r"providers\[0\] \(x\)\.protocol: unknown protocol 'openai'") as info:
        load_settings(path, env={})
    assert path in str(info.value)
    assert "openai-chat" in str(info.value)


def test_new_provider_missing_base_url(tmp_path: Path) -> None:
    path = write(tmp_path, "providers:\n  - {id: x, protocol: openai-chat}\n")
    with pytest.raises(ConfigError, match=r"providers\[0\] \(x\): Object missing required field `base_url`"):
        load_settings(path, env={})


def test_provider_without_id(tmp_path: Path) -> None:
    path = write(tmp_path, "providers:\n  - {protocol: openai-chat, base_url: 'http://h'}\n")
    with pytest.raises(ConfigError, match=r"providers\[0\]\.id: required"):
        load_settings(path, env={})


def test_duplicate_provider_id(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "providers:\n  - {id: x, protocol: openai-chat, base_url: 'http://h'}\n"
        "  - {id: x, protocol: openai-chat, base_url: 'http://h'}\n",
    )
    with pytest.raises(ConfigError, match=r"providers\[1\] \(x\): provider id 'x' is defined twice"):
        load_settings(path, env={})


def test_offering_with_unknown_provider(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
models:
  - id: llama-3.3-70b
    offerings:
      - {provider: togther, provider_model_id: m, input_price: 1, output_price: 1}
""",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path, env=OPENAI_ONLY)
    message = str(info.value)
    assert message.startswith(f"{path}: models[0] (llama-3.3-70b).offerings[0] (togther).provider:")
    assert "unknown provider 'togther'" in message and "together_ai" in message


def test_offering_wrong_type(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
models:
  - id: m
    offerings:
      - {provider: openai, provider_model_id: m, input_price: cheap, output_price: 1}
""",
    )
    with pytest.raises(ConfigError, match=r"models\[0\] \(m\)\.offerings\[0\] \(openai\)\.input_price: Expected"):
        load_settings(path, env=OPENAI_ONLY)


def test_negative_price_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "models:\n  - id: m\n    offerings:\n      - {provider: openai, provider_model_id: m,"
        " input_price: -1, output_price: 1}\n",
    )
    with pytest.raises(ConfigError, match=r"input_price: Expected `float` >= 0"):
        load_settings(path, env=OPENAI_ONLY)


def test_unknown_capability(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "models:\n  - id: m\n    offerings:\n      - {provider: openai, provider_model_id: m,"
        " input_price: 1, output_price: 1, capabilities: [telepathy]}\n",
    )
    with pytest.raises(ConfigError, match=r"capabilities\[0\]: Invalid enum value 'telepathy'"):
        load_settings(path, env=OPENAI_ONLY)


def test_typo_in_offering_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "models:\n  - id: m\n    offerings:\n      - {provider: openai, provider_model_id: m,"
        " input_price: 1, output_price: 1, contxt_window: 5}\n",
    )
    with pytest.raises(ConfigError, match=r"unknown field `contxt_window`"):
        load_settings(path, env=OPENAI_ONLY)


def test_bad_reasoning_profile(tmp_path: Path) -> None:
    path = write(tmp_path, "models:\n  - id: m\n    reasoning: {style: budget, efforts: [low]}\n")
    with pytest.raises(ConfigError, match=r"models\[0\] \(m\)\.reasoning: style 'budget' needs `budgets`"):
        load_settings(path, env=OPENAI_ONLY)


def test_alias_collision(tmp_path: Path) -> None:
    path = write(tmp_path, "models:\n  - id: my-model\n    aliases: [gpt-4o]\n")
    with pytest.raises(ConfigError, match=r"model name 'gpt-4o' is used by both 'gpt-4o' and 'my-model'") as info:
        load_settings(path, env=OPENAI_ONLY)
    assert path in str(info.value)


def test_duplicate_model_id_in_one_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"models\[1\] \(m\): model id 'm' is defined twice"):
        load_settings(write(tmp_path, "models:\n  - id: m\n  - id: m\n"), env=OPENAI_ONLY)


def test_models_must_be_a_list(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"models: expected a list of mappings"):
        load_settings(write(tmp_path, "models: {id: m}\n"), env=OPENAI_ONLY)
