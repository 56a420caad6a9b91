"""A loopback upstream that replays the recorded provider streams of ../shared/fixtures.

The provider model id names the fixture: ``<file stem>`` or ``<file stem>#<turn>`` for files that hold several
concatenated turns (split after each terminal event). OpenAI Responses and Anthropic are served as
``event:`` + ``data:`` frames, Gemini (``:streamGenerateContent?alt=sse``) as ``data:`` frames only, exactly as
the fixtures' README says.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp import web

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"

_TERMINAL = {"response.completed", "response.incomplete", "response.failed"}


def fixture_files(protocol_dir: str) -> list[Path]:
    return sorted((FIXTURES / protocol_dir).glob("*.chunks.txt"))


def load_turns(path: Path) -> list[list[dict[str, Any]]]:
    """The payloads of a fixture, split into turns at Responses terminal events."""
    turns: list[list[dict[str, Any]]] = [[]]
    for line in path.read_text().split("\n"):
        if not line.strip():
            continue
        payload = _loads_repaired(line)
        turns[-1].append(payload)
        if payload.get("type") in _TERMINAL:
            turns.append([])
    return [t for t in turns if t]


def _loads_repaired(line: str) -> dict[str, Any]:
    """``json.loads``; a few hand-built fixture lines lack their final closing braces, which are restored."""
    for extra in range(4):
        try:
            value: dict[str, Any] = json.loads(line + "}" * extra)
            return value
        except json.JSONDecodeError:
            continue
    raise ValueError(f"unparseable fixture line: {line[:80]}")


def fixture_ids(protocol_dir: str) -> list[str]:
    ids: list[str] = []
    for path in fixture_files(protocol_dir):
        stem = path.name.removesuffix(".chunks.txt")
        turns = load_turns(path)
        ids.extend([stem] if len(turns) == 1 else [f"{stem}#{i}" for i in range(len(turns))])
    return ids


def payloads_for(protocol_dir: str, model: str) -> list[dict[str, Any]]:
    stem, _, turn = model.partition("#")
    turns = load_turns(FIXTURES / protocol_dir / f"{stem}.chunks.txt")
    return turns[int(turn) if turn else 0]


class ReplayServer:
    """aiohttp server; ``requests`` keeps every request body it received."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.app = web.Application()
        self.app.router.add_post("/openai/v1/responses", self._openai)
        self.app.router.add_post("/anthropic/v1/messages", self._anthropic)
        self.app.router.add_post("/gemini/v1beta/models/{tail}", self._gemini)
        self.runner = web.AppRunner(self.app)
        self.port = 0

    async def start(self) -> int:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.port

    async def stop(self) -> None:
        await self.runner.cleanup()

    def base_url(self, protocol: str) -> str:
        return (
            f"http://127.0.0.1:{self.port}/"
            + {"openai-responses": "openai/v1", "anthropic": "anthropic/v1", "gemini": "gemini/v1beta"}[protocol]
        )

    async def _sse(self, request: web.Request, payloads: list[dict[str, Any]], with_event: bool) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for p in payloads:
            head = f"event: {p['type']}\n" if with_event and "type" in p else ""
            await resp.write((head + "data: " + json.dumps(p) + "\n\n").encode())
        await resp.write_eof()
        return resp

    async def _openai(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        return await self._sse(request, payloads_for("openai-responses", body["model"]), True)

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        return await self._sse(request, payloads_for("anthropic", body["model"]), True)

    async def _gemini(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        model = request.match_info["tail"].split(":")[0]
        return await self._sse(request, payloads_for("gemini", model), False)


__all__ = ["FIXTURES", "ReplayServer", "fixture_ids", "load_turns", "payloads_for"]
