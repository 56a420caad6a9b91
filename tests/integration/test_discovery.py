"""Discovery: /v1/models, /v1/models/{id}, /v1/me, the public registry and directory, and /openapi.json.

A gateway of its own adds what the shared one lacks: a Response-API-only model and a disabled provider (whose
models must not be listed). It also checks that chat-format requests to a Response-only model get
``response_api_only`` on both chat completions and messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import anthropic
import auriko
import httpx
import openai
import pytest
from auriko.models.common import ApiKeyIdentity
from auriko.models.providers import DirectoryResponse, Model, ModelList, ModelsListResponse, ProviderList

from tests.integration.conftest import gateway_config, offering
from tests.support.servers import GatewayServer, LoopThread, SimHandle


@pytest.fixture(scope="module")
def discovery_gateway(
    loop_thread: LoopThread, sim: SimHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    tmp = tmp_path_factory.mktemp("discovery")
    config = gateway_config(sim, str(tmp / "gw.db"))
    config["providers"].append(
        {
            "id": "sim-off",
            "protocol": "openai-chat",
            "base_url": sim.base_url("sim-off", "openai-chat"),
            "enabled": False,
        }
    )
    config["models"] += [
        {
            "id": "test-pro",
            "endpoints": ["responses"],
            "released": "2025-03-01",
            "offerings": [offering("sim-oai", "sim-pro-2025", 15.0, 60.0)],
        },
        {"id": "test-off", "offerings": [offering("sim-off", "off-model", 1.0, 1.0)]},
        {
            "id": "test-free",
            "family": "free",
            "display_name": "Free model",
            "author": "interlock",
            "offerings": [offering("sim-chat-b", "free-model", 0.0, 0.0)],
        },
    ]
    server = GatewayServer(loop_thread, config, tmp).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def key(discovery_gateway: GatewayServer) -> str:
    return discovery_gateway.create_key(name="discovery", rpm=120)


@pytest.fixture
def client(discovery_gateway: GatewayServer, key: str) -> auriko.Client:
    return auriko.Client(base_url=discovery_gateway.base_url, api_key=key, max_retries=0)


def test_models_list(client: auriko.Client, discovery_gateway: GatewayServer) -> None:
    listing = client.models.list()
    assert isinstance(listing, ModelList)
    ids = [m.id for m in listing.data]
    assert "test-gpt" in ids and "test-claude" in ids
    assert "test-pro" not in ids  # Response-API-only: only with endpoint=responses
    assert "test-off" not in ids  # its only provider is disabled
    assert listing.catalog_version and len(listing.catalog_version) == 16
    assert listing.catalog_age_seconds is not None and listing.catalog_age_seconds >= 0
    gpt = next(m for m in listing.data if m.id == "test-gpt")
    assert gpt.object == "model" and gpt.owned_by == "auriko" and gpt.context_window == 128000
    assert gpt.supported_endpoints == ["chat_completions", "responses"]
    assert gpt.providers is not None
    assert [(p.name, p.input_price, p.output_price) for p in gpt.providers] == [
        ("sim-oai", 2.5, 10.0),
        ("sim-chat-a", 3.0, 12.0),
    ]


def test_models_list_responses_endpoint(client: auriko.Client) -> None:
    listing = client.models.list(endpoint="responses")
    pro = next(m for m in listing.data if m.id == "test-pro")
    assert pro.supported_endpoints == ["responses"]
    assert pro.created == 1740787200  # 2025-03-01 00:00 UTC
    assert "test-off" not in [m.id for m in listing.data]


def test_models_list_bad_endpoint(discovery_gateway: GatewayServer, key: str) -> None:
    r = httpx.get(discovery_gateway.base_url + "/v1/models?endpoint=batch", headers={"authorization": f"Bearer {key}"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "endpoint"


def test_retrieve_by_alias(client: auriko.Client) -> None:
    model = client.models.retrieve("test-gpt-alias")
    assert isinstance(model, Model) and model.id == "test-gpt"
    assert client.models.retrieve("test-pro").id == "test-pro"


def test_retrieve_unknown_or_disabled_is_404(client: auriko.Client) -> None:
    for name in ("no-such-model", "test-off"):
        with pytest.raises(auriko.NotFoundError) as info:
            client.models.retrieve(name)
        assert info.value.code == "model_not_found"


def test_models_need_a_key(discovery_gateway: GatewayServer) -> None:
    bad = auriko.Client(base_url=discovery_gateway.base_url, api_key="ak_live_" + "1" * 40, max_retries=0)
    with pytest.raises(auriko.AuthenticationError):
        bad.models.list()
    with pytest.raises(auriko.AuthenticationError):
        bad.me.get()


def test_openai_sdk_models(discovery_gateway: GatewayServer, key: str) -> None:
    client = openai.OpenAI(base_url=discovery_gateway.base_url + "/v1", api_key=key, max_retries=0)
    assert "test-chat" in [m.id for m in client.models.list()]
    assert client.models.retrieve("test-gpt-alias").id == "test-gpt"


def test_me(client: auriko.Client) -> None:
    me = client.me.get()
    assert isinstance(me, ApiKeyIdentity)
    assert me.credential_type == "api_key" and me.status == "active" and me.profile == "inference"
    assert me.key_id.startswith("key_") and me.key_prefix.startswith("ak_live_") and me.key_name == "discovery"
    assert me.workspace.id and me.workspace.name
    assert me.scopes == ["inference"]
    assert me.rate_limits.inference_rpm == 120
    assert me.expires_at is None and me.created_at.endswith("Z")


def test_registry_providers_is_public(discovery_gateway: GatewayServer) -> None:
    client = auriko.Client(base_url=discovery_gateway.base_url, api_key="ak_live_unused", max_retries=0)
    providers = client.models.list_providers()
    assert isinstance(providers, ProviderList)
    ids = [p.id for p in providers.providers]
    assert providers.count == len(ids)
    assert "sim-anthropic" in ids and "sim-off" not in ids
    r = httpx.get(discovery_gateway.base_url + "/v1/registry/providers")
    assert r.status_code == 200


def test_registry_models(discovery_gateway: GatewayServer) -> None:
    client = auriko.Client(base_url=discovery_gateway.base_url, api_key="ak_live_unused", max_retries=0)
    registry = client.models.list_registry()
    assert isinstance(registry, ModelsListResponse)
    by_id = {m.id: m for m in registry.models}
    assert registry.count == len(by_id) and "test-off" not in by_id
    gpt = by_id["test-gpt"]
    assert gpt.providers == ["sim-chat-a", "sim-oai"]
    assert gpt.capabilities["tools"] is True and gpt.capabilities["reasoning"] is False
    assert "image" in gpt.input_modalities and gpt.output_modalities == ["text"]
    assert gpt.has_free_provider is False
    free = by_id["test-free"]
    assert free.has_free_provider is True and free.family == "free" and free.display_name == "Free model"
    assert free.author == "interlock"


def test_directory(discovery_gateway: GatewayServer) -> None:
    client = auriko.Client(base_url=discovery_gateway.base_url, api_key="ak_live_unused", max_retries=0)
    directory = client.models.list_directory()
    assert isinstance(directory, DirectoryResponse)
    assert directory.generated_at.endswith("Z")
    assert "test-off" not in directory.models and "test-pro" in directory.models
    gpt = directory.models["test-gpt"]
    assert gpt.aliases == ["test-gpt-alias"]
    entry = next(p for p in gpt.providers if p.provider == "sim-oai")
    assert entry.provider_model_id == "sim-gpt-2025-01-01"
    assert entry.context_window == 128000 and entry.max_output_tokens == 8192
    assert entry.tiers is not None and entry.tiers[0].name == "standard"
    assert (entry.tiers[0].input_price, entry.tiers[0].output_price, entry.tiers[0].cache_read_price) == (
        2.5,
        10.0,
        0.25,
    )
    assert entry.capabilities is not None and entry.capabilities["json_schema"] is True
    assert entry.tools == ["function"]
    assert entry.accepted_params is not None and "temperature" in entry.accepted_params
    assert gpt.supported_parameters is not None and "tools" in gpt.supported_parameters


def test_openapi_document(discovery_gateway: GatewayServer) -> None:
    r = httpx.get(discovery_gateway.base_url + "/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert doc["openapi"].startswith("3.1")
    for path in (
        "/v1/chat/completions",
        "/v1/responses",
        "/v1/responses/{response_id}",
        "/v1/messages",
        "/v1/messages/count_tokens",
        "/v1/models",
        "/v1/models/{model_id}",
        "/v1/me",
        "/v1/registry/providers",
        "/v1/registry/models",
        "/v1/directory/models",
    ):
        assert path in doc["paths"], path
    chat = doc["paths"]["/v1/chat/completions"]["post"]
    assert chat["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ChatRequest"}
    assert chat["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorEnvelope")


def test_openapi_documents_every_route(discovery_gateway: GatewayServer) -> None:
    """A route added to ``api.server.routes()`` must be documented in ``api.openapi`` too.

    The dashboard is HTML for people, not API: its pages are left out of the document.
    """
    from interlock.api.server import routes

    doc = httpx.get(discovery_gateway.base_url + "/openapi.json").json()
    for r in routes():
        if r.path.startswith("/dashboard"):
            continue
        path = re.sub(r"\{(\w+):path\}", r"{\1}", r.path)
        assert path in doc["paths"], f"{path} is not in the OpenAPI document"
        for method in r.methods:
            assert method.lower() in doc["paths"][path], f"{method} {path} is not in the OpenAPI document"


def response_only_cases() -> list[tuple[str, dict[str, Any]]]:
    return [
        ("/v1/chat/completions", {"model": "test-pro", "messages": [{"role": "user", "content": "hi"}]}),
        ("/v1/chat/completions", {"gateway": {"models": ["test-pro"]}, "messages": [{"role": "user", "content": "x"}]}),
        ("/v1/messages", {"model": "test-pro", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}),
    ]


@pytest.mark.parametrize(("path", "body"), response_only_cases())
def test_response_only_model_on_chat_formats(
    discovery_gateway: GatewayServer, key: str, path: str, body: dict[str, Any]
) -> None:
    r = httpx.post(
        discovery_gateway.base_url + path, json=body, headers={"x-api-key": key, "authorization": f"Bearer {key}"}
    )
    assert r.status_code == 400, r.text
    data = r.json()
    if path == "/v1/messages":
        assert data["type"] == "error" and data["error"]["type"] == "invalid_request_error"
        assert "Responses API" in data["error"]["message"] and data["error"]["suggestion"]
    else:
        assert data["error"]["code"] == "response_api_only"


def test_response_only_model_skipped_in_a_pool(discovery_gateway: GatewayServer, key: str) -> None:
    client = openai.OpenAI(base_url=discovery_gateway.base_url + "/v1", api_key=key, max_retries=0)
    resp = client.chat.completions.create(
        model=None,  # type: ignore[arg-type]
        messages=[{"role": "user", "content": "hi"}],
        extra_body={"gateway": {"models": ["test-pro", "test-chat"]}},
    )
    meta = resp.model_extra["routing_metadata"]  # type: ignore[index]
    assert meta["model_canonical"] == "test-chat"
    assert [w["code"] for w in meta["warnings"]] == ["response_api_only_model_skipped"]


def test_response_only_model_via_anthropic_sdk(discovery_gateway: GatewayServer, key: str) -> None:
    client = anthropic.Anthropic(base_url=discovery_gateway.base_url, api_key=key, max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(model="test-pro", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert info.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
