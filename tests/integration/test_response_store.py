"""The response store: ``previous_response_id`` across Anthropic, Gemini and OpenAI-compatible upstreams,
``store: false``, ``GET /v1/responses/{id}``, expiry, workspace isolation, and storing turned off.

Runs on both backends (``tests.support.cluster``). The simulator counts input tokens from the text it is
sent (characters / 4), so a turn that continues a chain must report more input tokens than the same turn sent
alone: that shows the gateway expanded the chain before calling an upstream that keeps no state.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import openai
import pytest

from tests.support import cluster as fixtures
from tests.support.cluster import Cluster, backend_resources, cluster_config
from tests.support.servers import SimHandle

accounting_sim = fixtures.accounting_sim
cluster = fixtures.cluster


def client_for(cluster: Cluster, key: str, replica: int = 0) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=cluster.urls[replica % len(cluster.urls)] + "/v1", api_key=key, max_retries=0)


async def test_chain_continues_across_three_upstream_protocols(cluster: Cluster) -> None:
    key, _ = cluster.create_key(name="chain")
    first = client_for(cluster, key, 0)
    second = client_for(cluster, key, 1)
    r1 = await first.responses.create(model="test-claude", input="My name is Ada. Remember it.")
    r2 = await second.responses.create(model="test-gemini", input="What is my name?", previous_response_id=r1.id)
    r3 = await first.responses.create(
        model="test-chat", input=[{"role": "user", "content": "And once more?"}], previous_response_id=r2.id
    )
    alone = await first.responses.create(model="test-chat", input=[{"role": "user", "content": "And once more?"}])
    assert r1.usage and r2.usage and r3.usage and alone.usage
    assert r2.previous_response_id == r1.id and r3.previous_response_id == r2.id
    assert r3.usage.input_tokens > r2.usage.input_tokens > r1.usage.input_tokens
    assert r3.usage.input_tokens > alone.usage.input_tokens
    assert r2.routing_metadata["provider"] == "sim-gemini"  # type: ignore[attr-defined]
    assert r3.routing_metadata["provider"] == "sim-chat-a"  # type: ignore[attr-defined]

    fetched = await second.responses.retrieve(r2.id)
    assert fetched.id == r2.id and fetched.output_text == r2.output_text
    assert fetched.previous_response_id == r1.id


async def test_streamed_response_can_be_continued_at_once(cluster: Cluster) -> None:
    key, _ = cluster.create_key(name="stream chain")
    client = client_for(cluster, key)
    async with client.responses.stream(model="test-claude", input="Stream me a story") as stream:
        final = await stream.get_final_response()
    follow = await client_for(cluster, key, 1).responses.create(
        model="test-chat", input="Shorter please", previous_response_id=final.id
    )
    assert follow.previous_response_id == final.id
    assert follow.usage and final.usage and follow.usage.input_tokens > final.usage.input_tokens


async def test_instructions_are_not_inherited(cluster: Cluster) -> None:
    key, _ = cluster.create_key(name="instructions")
    client = client_for(cluster, key)
    long_rules = "Always answer like a pirate. " * 120  # ~900 tokens of instructions
    r1 = await client.responses.create(model="test-gemini", instructions=long_rules, input="Hello")
    r2 = await client.responses.create(model="test-gemini", input="Again", previous_response_id=r1.id)
    assert r1.usage and r2.usage
    assert r1.usage.input_tokens > 800
    assert r2.usage.input_tokens < 200


async def test_store_false_keeps_nothing(cluster: Cluster) -> None:
    key, _ = cluster.create_key(name="ephemeral")
    client = client_for(cluster, key)
    before = await cluster.stored_responses()
    r1 = await client.responses.create(model="test-chat", input="Forget me", store=False)
    async with client.responses.stream(model="test-claude", input="Me too", store=False) as stream:
        r2 = await stream.get_final_response()
    assert r1.store is False and r2.store is False
    assert await cluster.stored_responses() == before
    with pytest.raises(openai.NotFoundError) as caught:
        await client.responses.create(model="test-chat", input="Hi", previous_response_id=r1.id)
    assert caught.value.body["param"] == "previous_response_id"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(r2.id)
    # store: false on a continuation still reads the chain; only the new turn is not kept.
    r3 = await client.responses.create(model="test-chat", input="Keep this one")
    r4 = await client.responses.create(model="test-chat", input="Not this", previous_response_id=r3.id, store=False)
    assert r4.usage and r3.usage and r4.usage.input_tokens > r3.usage.input_tokens
    assert await cluster.stored_responses() == before + 1


async def test_unknown_expired_and_foreign_ids_are_not_found(cluster: Cluster) -> None:
    key, _ = cluster.create_key(name="owner")
    client = client_for(cluster, key)
    with pytest.raises(openai.NotFoundError) as caught:
        await client.responses.create(model="test-chat", input="Hi", previous_response_id="resp_does_not_exist")
    assert caught.value.body["param"] == "previous_response_id"  # type: ignore[index]
    assert caught.value.body["code"] == "resource_not_found"  # type: ignore[index]

    r1 = await client.responses.create(model="test-chat", input="Mine only")
    workspace = cluster.admin("POST", "/admin/v1/workspaces", {"name": "other team"}).json()
    stranger, _ = cluster.create_key(name="stranger", workspace_id=workspace["id"])
    other = client_for(cluster, stranger)
    with pytest.raises(openai.NotFoundError):
        await other.responses.retrieve(r1.id)
    with pytest.raises(openai.NotFoundError):
        await other.responses.create(model="test-chat", input="Hi", previous_response_id=r1.id)

    await cluster.execute(
        f"UPDATE stored_responses SET expires_at = '2000-01-01 00:00:00.000000+00:00' WHERE id = '{r1.id}'"
    )
    with pytest.raises(openai.NotFoundError):
        await client.responses.create(model="test-chat", input="Hi", previous_response_id=r1.id)
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(r1.id)


@pytest.fixture(scope="module")
async def stateless(accounting_sim: SimHandle, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    """One gateway with ``store_responses: false``."""
    tmp = tmp_path_factory.mktemp("stateless")
    async with backend_resources("sqlite-memory", tmp) as (database_url, state_url, prefix):
        config = cluster_config(accounting_sim, database_url, state_url, prefix, store_responses=False)
        gateway = Cluster("sqlite-memory", database_url, config, tmp)
        await asyncio.to_thread(gateway.start)
        try:
            yield gateway
        finally:
            await asyncio.to_thread(gateway.stop)


async def test_operator_can_turn_storing_off(stateless: Cluster) -> None:
    key, _ = stateless.create_key(name="stateless")
    client = client_for(stateless, key)
    plain = await client.responses.create(model="test-chat", input="Hi")
    assert plain.store is False  # nothing is kept, and the response says so
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(model="test-chat", input="Hi", store=True)
    assert caught.value.body["param"] == "store"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(model="test-chat", input="Hi", previous_response_id=plain.id)
    assert caught.value.body["param"] == "previous_response_id"  # type: ignore[index]
    assert await stateless.stored_responses() == 0
    async with httpx.AsyncClient() as http:
        got = await http.get(f"{stateless.urls[0]}/v1/responses/{plain.id}", headers={"Authorization": f"Bearer {key}"})
    assert got.status_code == 404
