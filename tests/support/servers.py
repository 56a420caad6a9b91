"""Real servers on loopback for integration tests: the gateway under uvicorn, the simulator, replay upstreams.

Everything runs on one background event loop thread, so tests can use the official *synchronous* SDK clients
(openai, auriko, anthropic) against real sockets, as a user would.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
import yaml

from interlock.api.server import create_app
from interlock.config import load_settings

T = TypeVar("T")


class LoopThread:
    """An asyncio loop on a daemon thread; ``run`` executes a coroutine there and returns its result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


class GatewayServer:
    """The real gateway (uvicorn + the ASGI app) listening on a loopback port."""

    def __init__(self, loop: LoopThread, config: dict[str, Any], tmp: Path, env: dict[str, str] | None = None):
        self.loop = loop
        self.config_path = tmp / "interlock.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.settings = load_settings(str(self.config_path), env=env or {})
        self.app = create_app(self.settings)
        self.sock = free_socket()
        self.port = self.sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        cfg = uvicorn.Config(
            self.app, lifespan="on", log_level="warning", access_log=False, loop="asyncio", timeout_keep_alive=65
        )
        self.server = uvicorn.Server(cfg)
        self._task: asyncio.Future[None] | None = None

    def start(self) -> GatewayServer:
        async def run() -> None:
            await self.server.serve(sockets=[self.sock])

        self._task = asyncio.run_coroutine_threadsafe(run(), self.loop.loop)  # type: ignore[assignment]

        async def wait_started() -> None:
            for _ in range(500):
                if self.server.started:
                    return
                await asyncio.sleep(0.01)
            raise RuntimeError("gateway did not start")

        self.loop.run(wait_started())
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._task is not None:
            self._task.result(15)  # type: ignore[union-attr]

    def create_key(self, **kwargs: Any) -> str:
        from interlock.store.db import init_db, make_engine
        from interlock.store.keys import KeyStore

        async def make() -> str:
            engine = make_engine(self.settings.database_url)
            await init_db(engine)
            raw, _ = await KeyStore(engine).create(name=kwargs.pop("name", "test"), **kwargs)
            await engine.dispose()
            return raw

        return self.loop.run(make())


class SimHandle:
    def __init__(self, loop: LoopThread, config: Any) -> None:
        from interlock.sim import SimServer

        self.loop = loop
        self.server = SimServer(config)
        self.port = loop.run(self.server.start("127.0.0.1", 0))

    def base_url(self, provider: str, protocol: str) -> str:
        return str(self.server.base_url(provider, protocol))

    def stop(self) -> None:
        self.loop.run(self.server.stop())


__all__ = ["GatewayServer", "LoopThread", "SimHandle", "free_socket"]
