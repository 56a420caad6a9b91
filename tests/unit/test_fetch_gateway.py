"""providers.fetch wired into the gateway: an http image URL for a Gemini offering is fetched under the guard and
sent as inlineData; a refused URL is a 400 naming the image, and the upstream is never called."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from interlock.sim.config import SimConfig, SimProvider
from tests.support.servers import GatewayServer, LoopThread, SimHandle

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


class Images:
    """A loopback image host on the test loop."""

    def __init__(self, loop: LoopThread) -> None:
        self.loop = loop
        self.paths: list[str] = []

        async def handle(request: web.Request) -> web.Response:
            self.paths.append(request.path)
            return web.Response(body=PNG, content_type="image/png")

        async def start() -> tuple[web.AppRunner, int]:
            app = web.Application()
            app.router.add_get("/{name}", handle)
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            return runner, int(runner.addresses[0][1])

        self.runner, self.port = loop.run(start())

    def stop(self) -> None:
        self.loop.run(self.runner.cleanup())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LoopThread, SimHandle, Images, Path]]:
    loop = LoopThread()
    sim = SimHandle(loop, SimConfig(providers={"sim-gemini": SimProvider(protocol="gemini")}))
    images = Images(loop)
    yield loop, sim, images, tmp_path_factory.mktemp("fetchgw")
    images.stop()
    sim.stop()
    loop.stop()


def start_gateway(world: tuple[LoopThread, SimHandle, Images, Path], name: str, fetch: dict[str, Any]) -> GatewayServer:
    loop, sim, _, tmp = world
    (tmp / name).mkdir()
    config = {
        "database_url": f"sqlite:///{tmp / name / 'gw.db'}",
        "catalog": "none",
        "providers": [
            {"id": "sim-gemini", "protocol": "gemini", "base_url": sim.base_url("sim-gemini", "gemini"), "api_key": "k"}
        ],
        "models": [
            {
                "id": "g",
                "offerings": [
                    {
                        "provider": "sim-gemini",
                        "provider_model_id": "gemini-sim",
                        "input_price": 1,
                        "output_price": 1,
                        "capabilities": ["vision", "streaming"],
                    }
                ],
            }
        ],
        "fetch": fetch,
    }
    return GatewayServer(loop, config, tmp / name).start()


def ask(server: GatewayServer, key: str, url: str, stream: bool = False) -> httpx.Response:
    body = {
        "model": "g",
        "stream": stream,
        "input": [
            {
                "role": "user",
                "content": [{"type": "input_text", "text": "what is it?"}, {"type": "input_image", "image_url": url}],
            }
        ],
    }
    return httpx.post(server.base_url + "/v1/responses", json=body, headers={"authorization": f"Bearer {key}"})


def test_refused_image_url_is_a_400_naming_the_image(world: tuple[LoopThread, SimHandle, Images, Path]) -> None:
    _, sim, images, _ = world
    server = start_gateway(world, "default", {})
    try:
        key = server.create_key()
        before = len(sim.server.requests())
        for stream in (False, True):
            r = ask(server, key, f"http://127.0.0.1:{images.port}/cat.png", stream)
            assert r.status_code == 400, r.text
            err = r.json()["error"]
            assert (err["code"], err["param"]) == ("invalid_parameter_value", "input[0].content[1].image_url")
            assert "not a public address" in err["message"]
        r = ask(server, key, "http://169.254.169.254/latest/meta-data/")
        assert r.status_code == 400 and r.json()["error"]["param"] == "input[0].content[1].image_url"
        assert len(sim.server.requests()) == before
        assert images.paths == []
    finally:
        server.stop()


def test_allowed_image_url_is_inlined(world: tuple[LoopThread, SimHandle, Images, Path]) -> None:
    _, sim, images, _ = world
    server = start_gateway(world, "allowed", {"allowed_hosts": ["127.0.0.1"]})
    try:
        key = server.create_key()
        sim.server.clear_requests()
        r = ask(server, key, f"http://127.0.0.1:{images.port}/cat.png")
        assert r.status_code == 200, r.text
        parts = sim.server.requests("sim-gemini")[-1].body["contents"][0]["parts"]
        assert {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}} in parts
        assert images.paths == ["/cat.png"]
    finally:
        server.stop()
