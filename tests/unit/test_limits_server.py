"""api.limits in the server: what ``interlock serve`` runs (uvicorn + GuardedHttpToolsProtocol) drops slow-loris
clients within the configured timeouts and answers oversized heads with the documented envelope.

Raw sockets on 127.0.0.1. The client paces its own bytes (that is the attack); every wait for the server is
bounded by a socket timeout, and the only timed assertions are the timeouts that must fire.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
import yaml

from interlock.api.limits import GuardedHttpToolsProtocol, configure_server, uvicorn_options
from interlock.api.server import create_app
from interlock.config import LimitsSettings, ServerSettings, load_settings
from tests.support.servers import LoopThread, free_socket

HEAD_TIMEOUT = 0.5
BODY_TIMEOUT = 0.5
GRACE = 3.0  # on top of a timeout: how long the test waits for the server to act before failing


class Server:
    """The gateway (simulated catalog) under uvicorn with the options ``serve`` uses."""

    def __init__(self, tmp: Path) -> None:
        config = {
            "database_url": f"sqlite:///{tmp / 'gw.db'}",
            "catalog": "sim",
            "server": {"max_header_bytes": 2048, "max_headers": 20},
            "limits": {"header_timeout_s": HEAD_TIMEOUT, "body_timeout_s": BODY_TIMEOUT, "keep_alive_timeout_s": 5},
        }
        path = tmp / "interlock.yaml"
        path.write_text(yaml.safe_dump(config))
        settings = load_settings(str(path), env={})
        configure_server(settings.server, settings.limits)
        options = uvicorn_options(settings.server, settings.limits)
        self.loop = LoopThread()
        self.sock = free_socket()
        self.port = self.sock.getsockname()[1]
        cfg = uvicorn.Config(create_app(settings), lifespan="on", log_level="critical", loop="asyncio", **options)
        self.server = uvicorn.Server(cfg)
        self.task = asyncio.run_coroutine_threadsafe(self.server.serve(sockets=[self.sock]), self.loop.loop)

        async def started() -> None:
            for _ in range(1000):
                if self.server.started:
                    return
                await asyncio.sleep(0.01)
            raise RuntimeError("server did not start")

        self.loop.run(started())

    def stop(self) -> None:
        self.server.should_exit = True
        self.task.result(15)
        self.loop.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("loris"))
    yield srv
    srv.stop()
    configure_server(*_defaults())


def _defaults() -> tuple[ServerSettings, LimitsSettings]:
    return ServerSettings(), LimitsSettings()


def connect(server: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=HEAD_TIMEOUT + GRACE)
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has closed (no data pending means a clean EOF or a reset)."""
    sock.setblocking(False)
    try:
        return sock.recv(65536) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True
    finally:
        sock.setblocking(True)


def drip(sock: socket.socket, data: bytes, every: float, deadline: float) -> tuple[int, float]:
    """Send one byte at a time until the server hangs up; returns (bytes sent, seconds until it did)."""
    started = time.monotonic()
    for sent, byte in enumerate(data):
        if closed_by_server(sock):
            return sent, time.monotonic() - started
        if time.monotonic() - started > deadline:
            break
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            return sent, time.monotonic() - started
        time.sleep(every)  # the client's pace is the attack itself, not a wait for the server
    raise AssertionError("the server did not drop the slow client")


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return int(lines[0].split()[1]), headers, body


HEAD = b"POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" + b"X-Pad: a\r\n" * 30


def test_the_serve_options_use_the_guarded_protocol() -> None:
    options = uvicorn_options(ServerSettings(), LimitsSettings(keep_alive_timeout_s=7))
    assert options["http"] == "interlock.api.limits:GuardedHttpToolsProtocol"
    assert options["timeout_keep_alive"] == 7


def test_slow_head_is_dropped_within_the_header_timeout(server: Server) -> None:
    with connect(server) as sock:
        sent, after = drip(sock, HEAD + b"\r\n", every=0.05, deadline=HEAD_TIMEOUT + GRACE)
    assert sent < len(HEAD)
    assert after <= HEAD_TIMEOUT + GRACE


def test_silent_connection_is_dropped_within_the_header_timeout(server: Server) -> None:
    with connect(server) as sock:
        started = time.monotonic()
        assert sock.recv(1) == b""  # blocks until the server closes (socket timeout bounds it)
        assert time.monotonic() - started <= HEAD_TIMEOUT + GRACE


def test_slow_body_is_dropped_within_the_body_timeout(server: Server) -> None:
    body = json.dumps({"model": "gpt-4o-mini", "input": "x" * 200}).encode()
    head = b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    with connect(server) as sock:
        sock.sendall(head)
        sent, after = drip(sock, body, every=0.05, deadline=BODY_TIMEOUT + GRACE)
    assert sent < len(body)
    assert after <= BODY_TIMEOUT + GRACE


def test_oversized_head_is_refused_with_the_envelope(server: Server) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 4096)  # never finished
        status, headers, body = read_response(sock)
    assert status == 413
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body)["error"]["code"] == "payload_too_large"


def test_too_many_headers_are_refused_with_the_anthropic_envelope(server: Server) -> None:
    head = b"POST /v1/messages HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(25)) + b"\r\n"
    with connect(server) as sock:
        sock.sendall(head)
        status, _, body = read_response(sock)
    assert status == 413
    error = json.loads(body)
    assert error["type"] == "error" and error["error"]["type"] == "request_too_large"


def test_prompt_clients_are_served_and_kept_alive(server: Server) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with connect(server) as sock:
        for _ in range(2):
            sock.sendall(request)
            status, _, _ = read_response(sock)
            assert status == 200
    assert GuardedHttpToolsProtocol.header_timeout_s == HEAD_TIMEOUT
