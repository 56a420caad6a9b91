"""The outbound fetch guard: the one way the gateway itself fetches a URL a client sent (SSRF defence).

Theory of operation
-------------------
Most upstreams fetch image and PDF URLs themselves, so the gateway passes them through. Gemini only takes
inline data for http(s) URLs, so its adapter (sans-IO) marks such parts with :func:`remote_media`; the marked
part serialises as the old by-reference ``fileData`` if nothing resolves it. :func:`guarded_call` wraps the
upstream call: before the request goes out it fetches every marked URL with a :class:`Fetcher` and swaps the
part for ``inlineData``.

A :class:`Fetcher` refuses, unless the operator allows it (``fetch:`` settings):

- schemes other than http and https, and URLs carrying credentials;
- any address that is not globally routable: loopback, private, link-local (cloud metadata lives at
  169.254.169.254), shared, reserved, multicast and unspecified ranges, also when wrapped in IPv6
  (``::ffff:127.0.0.1``, 6to4, Teredo, NAT64). Literal IPs are checked before connecting; names are resolved
  by the session's own resolver, which refuses if *any* address is not public, and the connection is made to
  the addresses it checked (no second lookup for a DNS rebinding to race);
- redirects are followed by hand, at most ``max_redirects``, each hop checked the same way;
- answers other than 200, content types outside ``allowed_content_types`` (an image URL must be an image),
  bodies over ``max_bytes`` (declared or actually read) and fetches that take longer than ``timeout_s``
  (the whole chain of hops).

Every refusal is one ``GatewayError("invalid_parameter_value", ..., param=<path of the URL>)``: a 400 that
names the part of the request at fault. Messages name the host, never the full URL (signed URLs carry
secrets in their query).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from interlock.ir.errors import GatewayError
from interlock.ir.events import Event
from interlock.providers.base import Adapter, NativeRequest, Target

MediaKind = Literal["image", "file"]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the IP addresses it resolves to (a seam: tests map names without real DNS)
Resolve = Callable[[str, int], Awaitable[list[str]]]

DEFAULT_CONTENT_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "image/heic", "image/heif", "application/pdf"}
)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """What the gateway may fetch (built from the ``fetch:`` settings)."""

    allow_private: bool = False
    allowed_hosts: frozenset[str] = frozenset()
    max_bytes: int = 20 * 1024 * 1024
    timeout_s: float = 10.0
    max_redirects: int = 3
    allowed_content_types: frozenset[str] = DEFAULT_CONTENT_TYPES

    @classmethod
    def from_settings(cls, settings: FetchSettingsLike) -> FetchPolicy:
        """The policy for the ``fetch:`` settings (``interlock.config.FetchSettings``)."""
        return cls(
            allow_private=settings.allow_private,
            allowed_hosts=frozenset(h.strip("[]").lower() for h in settings.allowed_hosts),
            max_bytes=settings.max_bytes,
            timeout_s=settings.timeout_s,
            max_redirects=settings.max_redirects,
            allowed_content_types=frozenset(t.lower() for t in settings.allowed_content_types),
        )


class FetchSettingsLike(Protocol):
    """The fields of ``interlock.config.FetchSettings`` (providers do not import the config layer)."""

    allow_private: bool
    allowed_hosts: list[str]
    max_bytes: int
    timeout_s: float
    max_redirects: int
    allowed_content_types: list[str]


@dataclass(frozen=True, slots=True)
class Fetched:
    """A fetched body and its media type (lower case, parameters dropped)."""

    content_type: str
    data: bytes


class _Refused(Exception):
    """Raised inside the resolver (aiohttp passes non-OSError exceptions through unchanged)."""


def is_public_address(ip: IPAddress) -> bool:
    """Whether ``ip`` is globally routable unicast, looking through IPv6 wrappings of IPv4 addresses."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return is_public_address(ip.ipv4_mapped)
        if ip.sixtofour is not None:
            return is_public_address(ip.sixtofour)
        if ip.teredo is not None:
            return is_public_address(ip.teredo[1])
        if ip in _NAT64:
            return is_public_address(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return ip.is_global and not ip.is_multicast and not ip.is_unspecified and not ip.is_reserved


async def system_resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, through the system resolver (off the event loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return None


class _GuardedResolver(AbstractResolver):
    """aiohttp resolver that only ever hands out addresses the policy allows."""

    def __init__(self, policy: FetchPolicy, resolve: Resolve) -> None:
        self._policy = policy
        self._resolve = resolve

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            addresses = await self._resolve(host, port)
        except OSError as exc:
            raise _Refused(f"the host {host} could not be resolved") from exc
        if not addresses:
            raise _Refused(f"the host {host} could not be resolved")
        ips = [_ip(a) for a in addresses]
        if not (self._policy.allow_private or host.lower() in self._policy.allowed_hosts):
            for address, ip in zip(addresses, ips, strict=True):
                if ip is None or not is_public_address(ip):
                    raise _Refused(f"the host {host} resolves to {address}, which is not a public address")
        return [
            ResolveResult(
                hostname=host,
                host=str(ip),
                port=port,
                family=socket.AF_INET6 if ip.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for ip in ips
            if ip is not None
        ]

    async def close(self) -> None:
        return None


class Fetcher:
    """Fetches client-supplied URLs under a :class:`FetchPolicy` (one per process; ``close()`` at shutdown).

    Its session is separate from the upstream session (no provider headers, no cookies, no proxy from the
    environment) and is created on first use, inside the running loop.
    """

    def __init__(self, policy: FetchPolicy | None = None, *, resolve: Resolve = system_resolve) -> None:
        self.policy = policy if policy is not None else FetchPolicy()
        self._resolve = resolve
        self._session: aiohttp.ClientSession | None = None

    def _session_for_loop(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                resolver=_GuardedResolver(self.policy, self._resolve), limit=64, ttl_dns_cache=10
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
                headers={
                    "User-Agent": "interlock-fetch",
                    "Accept": ", ".join(sorted(self.policy.allowed_content_types)),
                },
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, url: str, param: str, kind: MediaKind = "image") -> Fetched:
        """The body at ``url``; any refusal is 400 ``invalid_parameter_value`` naming ``param``."""
        what = "image" if kind == "image" else "file"
        try:
            async with asyncio.timeout(self.policy.timeout_s):
                return await self._follow(url, kind)
        except _Refused as exc:
            reason = str(exc)
        except TimeoutError:
            reason = f"it did not arrive within {self.policy.timeout_s:g} s"
        except aiohttp.ClientConnectorError as exc:
            reason = f"the host {exc.host} could not be reached"
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            reason = f"the fetch failed ({type(exc).__name__})"
        raise GatewayError(
            "invalid_parameter_value", f"The {what} URL at '{param}' was not fetched: {reason}.", param=param
        )

    async def _follow(self, url: str, kind: MediaKind) -> Fetched:
        session = self._session_for_loop()
        for _ in range(self.policy.max_redirects + 1):
            self._check_url(url)
            async with session.get(url, allow_redirects=False) as resp:
                if resp.status in _REDIRECTS and "Location" in resp.headers:
                    url = urljoin(url, resp.headers["Location"])
                    continue
                if resp.status != 200:
                    raise _Refused(f"{urlsplit(url).hostname} answered HTTP {resp.status}")
                return Fetched(self._content_type(resp, kind), await self._read(resp))
        raise _Refused(f"more than {self.policy.max_redirects} redirects")

    def _check_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise _Refused("only http and https URLs are fetched")
        if parts.username is not None or parts.password is not None:
            raise _Refused("URLs with credentials are not fetched")
        host = parts.hostname
        if not host:
            raise _Refused("the URL has no host")
        parts.port  # noqa: B018 - raises ValueError for an invalid port
        ip = _ip(host)
        policy = self.policy
        if ip is not None and not (policy.allow_private or host in policy.allowed_hosts or is_public_address(ip)):
            raise _Refused(f"{host} is not a public address")

    def _content_type(self, resp: aiohttp.ClientResponse, kind: MediaKind) -> str:
        ctype = resp.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        allowed = ctype in self.policy.allowed_content_types and (kind != "image" or ctype.startswith("image/"))
        if not allowed:
            raise _Refused(f"its content type {ctype or 'none'!r} is not allowed")
        return ctype

    async def _read(self, resp: aiohttp.ClientResponse) -> bytes:
        limit = self.policy.max_bytes
        if resp.content_length is not None and resp.content_length > limit:
            raise _Refused(f"it is larger than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        while chunk := await resp.content.read(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise _Refused(f"it is larger than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


# --- marking parts and resolving them before the upstream call -------------------------------------------


class RemoteMedia(dict[str, Any]):
    """A Gemini part naming an http(s) URL to inline; until resolved it is the by-reference ``fileData`` part."""

    __slots__ = ("kind", "param", "url")

    def __init__(self, url: str, mime_type: str, param: str, kind: MediaKind) -> None:
        super().__init__(fileData={"mimeType": mime_type, "fileUri": url})
        self.url = url
        self.param = param
        self.kind: MediaKind = kind


def needs_fetch(url: str) -> bool:
    """Whether the gateway must fetch ``url`` itself to send it inline (http and https URLs)."""
    return url[:8].lower().startswith(("http://", "https://"))


def remote_media(url: str, mime_type: str, param: str, kind: MediaKind = "image") -> dict[str, Any]:
    """The part for an http(s) media URL an upstream only takes inline (see :func:`guarded_call`)."""
    return RemoteMedia(url, mime_type, param, kind)


def _remote_parts(body: dict[str, Any]) -> Iterable[tuple[list[Any], int, RemoteMedia]]:
    contents = body.get("contents")
    if not isinstance(contents, list):
        return
    for content in contents:
        parts = content.get("parts") if isinstance(content, dict) else None
        if isinstance(parts, list):
            for index, part in enumerate(parts):
                if isinstance(part, RemoteMedia):
                    yield parts, index, part


async def inline_remote_media(body: dict[str, Any], fetcher: Fetcher) -> None:
    """Replace every :class:`RemoteMedia` part of a native body by ``inlineData`` fetched under the policy."""
    fetched: dict[tuple[str, MediaKind], Fetched] = {}
    for parts, index, part in list(_remote_parts(body)):
        key = (part.url, part.kind)
        if key not in fetched:
            fetched[key] = await fetcher.fetch(part.url, part.param, part.kind)
        got = fetched[key]
        parts[index] = {"inlineData": {"mimeType": got.content_type, "data": base64.b64encode(got.data).decode()}}


class UpstreamCall(Protocol):
    """``providers.transport.call``'s shape (the engine's ``UpstreamCall``)."""

    def __call__(
        self,
        session: Any,
        adapter: Adapter,
        native: NativeRequest,
        target: Target,
        *,
        connect_timeout: float,
        read_timeout: float,
    ) -> AsyncIterator[Event]: ...


def guarded_call(call: UpstreamCall, fetcher: Fetcher) -> UpstreamCall:
    """``call``, with marked media URLs fetched and inlined first (refusals are 400s naming the part)."""

    async def guarded(
        session: Any,
        adapter: Adapter,
        native: NativeRequest,
        target: Target,
        *,
        connect_timeout: float,
        read_timeout: float,
    ) -> AsyncIterator[Event]:
        await inline_remote_media(native.body, fetcher)
        # Close the inner stream explicitly when ours is closed, so its upstream connection is released now.
        stream = call(session, adapter, native, target, connect_timeout=connect_timeout, read_timeout=read_timeout)
        try:
            async for event in stream:
                yield event
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    return guarded


__all__ = [
    "DEFAULT_CONTENT_TYPES",
    "FetchPolicy",
    "FetchSettingsLike",
    "Fetched",
    "Fetcher",
    "RemoteMedia",
    "UpstreamCall",
    "guarded_call",
    "inline_remote_media",
    "is_public_address",
    "needs_fetch",
    "remote_media",
    "system_resolve",
]
