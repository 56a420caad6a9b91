"""providers.fetch: the outbound fetch guard refuses internal addresses, redirects to them, oversize bodies, wrong
content types and slow answers with a 400 naming the part; it fetches when allowed.

Only 127.0.0.1 is ever contacted: refused literal addresses are refused before any connection, and names
resolve through a fake resolver (no DNS), which records every lookup.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from interlock.ir.errors import GatewayError
from interlock.ir.events import Event, TextDelta
from interlock.ir.parse import parse_response_request
from interlock.providers import gemini
from interlock.providers.base import Adapter, NativeRequest, Target
from interlock.providers.fetch import (
    Fetched,
    Fetcher,
    FetchPolicy,
    RemoteMedia,
    guarded_call,
    inline_remote_media,
    is_public_address,
)

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PARAM = "input[0].content[1].image_url"


@dataclass
class Origin:
    """A loopback web server playing an image host; ``paths`` lists every request it received."""

    port: int = 0
    paths: list[str] = field(default_factory=list)
    hold: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture
async def origin() -> AsyncIterator[Origin]:
    state = Origin()

    async def handle(request: web.Request) -> web.StreamResponse:
        state.paths.append(request.path_qs)
        name = request.match_info["name"]
        if name == "cat.png":
            return web.Response(body=PNG, content_type="image/png")
        if name == "doc.pdf":
            return web.Response(body=b"%PDF-1.4", content_type="application/pdf")
        if name == "page.html":
            return web.Response(text="<html></html>", content_type="text/html")
        if name == "big.png":
            return web.Response(body=PNG * 64, content_type="image/png")
        if name == "chunked.png":
            resp = web.StreamResponse(headers={"Content-Type": "image/png"})
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            for _ in range(64):
                await resp.write(PNG)
            await resp.write_eof()
            return resp
        if name == "slow.png":
            await state.hold.wait()  # released at teardown; the fetch times out first
            return web.Response(body=PNG, content_type="image/png")
        if name == "redirect":
            raise web.HTTPFound(request.query["to"])
        if name == "loop":
            raise web.HTTPFound("/loop")
        return web.Response(status=404, text="nope")

    app = web.Application()
    app.router.add_get("/{name}", handle)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.port = int(runner.addresses[0][1])
    yield state
    state.hold.set()
    await runner.cleanup()


class FakeDNS:
    """Maps host names to addresses without DNS; records lookups; unknown names do not resolve."""

    def __init__(self, table: dict[str, list[str]] | None = None) -> None:
        self.table = table or {}
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        if host not in self.table:
            raise OSError(f"unknown host {host}")
        return self.table[host]


async def fetch(
    url: str, policy: FetchPolicy | None = None, dns: FakeDNS | None = None, kind: str = "image"
) -> Fetched:
    fetcher = Fetcher(policy or FetchPolicy(), resolve=dns or FakeDNS())
    try:
        return await fetcher.fetch(url, PARAM, kind)  # type: ignore[arg-type]
    finally:
        await fetcher.close()


async def refused(url: str, policy: FetchPolicy | None = None, dns: FakeDNS | None = None, kind: str = "image") -> str:
    with pytest.raises(GatewayError) as info:
        await fetch(url, policy, dns, kind)
    err = info.value
    assert (err.status, err.code, err.param) == (400, "invalid_parameter_value", PARAM)
    assert PARAM in err.message
    return err.message


# --- refusals ------------------------------------------------------------------------------------------------

INTERNAL = [
    "http://127.0.0.1/cat.png",
    "http://127.1.2.3:8080/cat.png",
    "http://10.0.0.1/cat.png",
    "http://10.255.1.2/cat.png",
    "http://172.16.5.4/cat.png",
    "http://192.168.1.1/cat.png",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://100.100.100.200/latest/meta-data",  # Alibaba metadata (shared address space)
    "http://0.0.0.0/cat.png",
    "http://224.0.0.1/cat.png",
    "http://[::1]/cat.png",
    "http://[::]/cat.png",
    "http://[::ffff:127.0.0.1]/cat.png",
    "http://[::ffff:169.254.169.254]/",
    "http://[fd00:ec2::254]/latest/meta-data",  # AWS IMDS over IPv6
    "http://[fe80::1]/cat.png",
    "http://[2002:7f00:1::]/cat.png",  # 6to4 wrapping 127.0.0.1
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 wrapping 169.254.169.254
]


@pytest.mark.parametrize("url", INTERNAL)
async def test_internal_literal_addresses_are_refused_before_connecting(url: str) -> None:
    dns = FakeDNS()
    message = await refused(url, dns=dns)
    assert "not a public address" in message
    assert dns.lookups == []


async def test_name_resolving_to_loopback_is_refused(origin: Origin) -> None:
    dns = FakeDNS({"images.example.com": ["127.0.0.1"]})
    message = await refused(origin.url("/cat.png", "images.example.com"), dns=dns)
    assert "127.0.0.1" in message and "images.example.com" in message
    assert dns.lookups == ["images.example.com"]
    assert origin.paths == []


async def test_name_with_one_private_address_among_public_ones_is_refused(origin: Origin) -> None:
    dns = FakeDNS({"mixed.example.com": ["93.184.216.34", "10.0.0.7"]})
    await refused(origin.url("/cat.png", "mixed.example.com"), dns=dns)
    assert origin.paths == []


async def test_unresolvable_name_is_refused() -> None:
    message = await refused("http://no-such-host.invalid/cat.png")
    assert "could not be resolved" in message


async def test_redirect_to_loopback_is_refused(origin: Origin) -> None:
    # Only the first hop's host is allow-listed (it resolves to 127.0.0.1 here); the redirect target is not.
    dns = FakeDNS({"media.test": ["127.0.0.1"], "internal.test": ["127.0.0.1"]})
    policy = FetchPolicy(allowed_hosts=frozenset({"media.test"}))
    to_ip = origin.url("/cat.png")
    await refused(origin.url(f"/redirect?to={to_ip}", "media.test"), policy, dns)
    to_name = origin.url("/cat.png", "internal.test")
    await refused(origin.url(f"/redirect?to={to_name}", "media.test"), policy, dns)
    assert origin.paths == [f"/redirect?to={to_ip}", f"/redirect?to={to_name}"]  # the targets were never fetched


async def test_redirects_are_capped(origin: Origin) -> None:
    message = await refused(origin.url("/loop"), FetchPolicy(allow_private=True, max_redirects=2))
    assert "redirects" in message
    assert origin.paths == ["/loop"] * 3


async def test_oversize_bodies_are_refused(origin: Origin) -> None:
    policy = FetchPolicy(allow_private=True, max_bytes=len(PNG) * 8)
    assert "larger than" in await refused(origin.url("/big.png"), policy)  # declared Content-Length
    assert "larger than" in await refused(origin.url("/chunked.png"), policy)  # counted while reading


async def test_wrong_content_types_are_refused(origin: Origin) -> None:
    policy = FetchPolicy(allow_private=True)
    assert "text/html" in await refused(origin.url("/page.html"), policy)
    assert "application/pdf" in await refused(origin.url("/doc.pdf"), policy, kind="image")
    narrow = FetchPolicy(allow_private=True, allowed_content_types=frozenset({"image/jpeg"}))
    assert "image/png" in await refused(origin.url("/cat.png"), narrow)


async def test_error_statuses_and_slow_answers_are_refused(origin: Origin) -> None:
    assert "HTTP 404" in await refused(origin.url("/missing.png"), FetchPolicy(allow_private=True))
    slow = FetchPolicy(allow_private=True, timeout_s=0.3)
    assert "did not arrive within 0.3 s" in await refused(origin.url("/slow.png"), slow)


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://127.0.0.1/cat.png", "gopher://x/", "http://user:pw@93.184.216.34/cat.png"]
)
async def test_other_schemes_and_credentials_are_refused(url: str) -> None:
    await refused(url, FetchPolicy(allow_private=True))


async def test_messages_name_the_host_not_the_url(origin: Origin) -> None:
    message = await refused("http://10.0.0.1/signed.png?token=sekrit-123")
    assert "sekrit" not in message


# --- allowed -------------------------------------------------------------------------------------------------


async def test_fetches_when_private_addresses_are_allowed(origin: Origin) -> None:
    got = await fetch(origin.url("/cat.png"), FetchPolicy(allow_private=True))
    assert got == Fetched("image/png", PNG)
    pdf = await fetch(origin.url("/doc.pdf"), FetchPolicy(allow_private=True), kind="file")
    assert pdf.content_type == "application/pdf"


async def test_fetches_allow_listed_hosts_and_follows_allowed_redirects(origin: Origin) -> None:
    dns = FakeDNS({"media.test": ["127.0.0.1"]})
    policy = FetchPolicy(allowed_hosts=frozenset({"media.test", "127.0.0.1"}))
    got = await fetch(origin.url(f"/redirect?to={origin.url('/cat.png')}", "media.test"), policy, dns)
    assert got.data == PNG


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_ipv4_public_iff_global_unicast(value: int) -> None:
    ip = ipaddress.IPv4Address(value)
    expected = ip.is_global and not ip.is_multicast and not ip.is_reserved and not ip.is_unspecified
    assert is_public_address(ip) == expected
    assert is_public_address(ipaddress.IPv6Address(f"::ffff:{ip}")) == expected  # mapped form agrees


def test_settings_become_a_policy() -> None:
    from interlock.config import FetchSettings

    policy = FetchPolicy.from_settings(FetchSettings(allowed_hosts=["Media.Example", "[::1]"]))
    assert policy.allowed_hosts == frozenset({"media.example", "::1"})
    assert not policy.allow_private
    assert "image/png" in policy.allowed_content_types


# --- Gemini: http(s) image URLs are fetched and inlined before the upstream call -----------------------------

TARGET = Target(
    provider="g",
    protocol="gemini",
    base_url="http://127.0.0.1:9/v1beta",
    api_key="k",
    provider_model_id="gemini-x",
    model_canonical="gemini-x",
    capabilities=frozenset({"vision"}),
)


def gemini_request(url: str) -> NativeRequest:
    body = {
        "model": "m",
        "input": [
            {
                "role": "user",
                "content": [{"type": "input_text", "text": "what?"}, {"type": "input_image", "image_url": url}],
            }
        ],
    }
    req, _ = parse_response_request(body)
    return gemini.build_request(req, TARGET, stream=False)


def test_gemini_marks_http_image_urls_and_keeps_data_and_gs_urls() -> None:
    native = gemini_request("https://example.com/cat.png")
    part = native.body["contents"][0]["parts"][1]
    assert isinstance(part, RemoteMedia)
    assert (part.url, part.param, part.kind) == ("https://example.com/cat.png", PARAM, "image")
    assert part == {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/cat.png"}}
    gs = gemini_request("gs://bucket/cat.png").body["contents"][0]["parts"][1]
    assert not isinstance(gs, RemoteMedia)


async def test_inline_replaces_marked_parts(origin: Origin) -> None:
    native = gemini_request(origin.url("/cat.png"))
    fetcher = Fetcher(FetchPolicy(allow_private=True))
    try:
        await inline_remote_media(native.body, fetcher)
    finally:
        await fetcher.close()
    part = native.body["contents"][0]["parts"][1]
    assert part == {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}}


async def test_guarded_call_refuses_before_calling_upstream(origin: Origin) -> None:
    calls: list[NativeRequest] = []

    async def upstream(
        session: Any,
        adapter: Adapter,
        native: NativeRequest,
        target: Target,
        *,
        connect_timeout: float,
        read_timeout: float,
    ) -> AsyncIterator[Event]:
        calls.append(native)
        yield TextDelta(text="ok")

    fetcher = Fetcher(FetchPolicy())
    call = guarded_call(upstream, fetcher)
    try:
        with pytest.raises(GatewayError) as info:
            async for _ in call(
                None, gemini, gemini_request(origin.url("/cat.png")), TARGET, connect_timeout=1, read_timeout=1
            ):
                pass
        assert info.value.param == PARAM
        assert calls == []
        events = [
            e
            async for e in call(
                None, gemini, gemini_request("data:image/png;base64,AA=="), TARGET, connect_timeout=1, read_timeout=1
            )
        ]
        assert events == [TextDelta(text="ok")] and len(calls) == 1
    finally:
        await fetcher.close()
    assert origin.paths == []
