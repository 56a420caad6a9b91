"""The HTTP exchange with an upstream: one pooled aiohttp session, SSE decoding, and error mapping.

aiohttp exceptions are mapped here and only here (most specific first, re-raised ``from exc``): connection
failures become a retryable ``upstream_error``, read timeouts ``upstream_timeout``, a malformed event or body
``upstream_error``. Adapters stay sans-IO.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import msgspec

from interlock.ir.errors import GatewayError, UpstreamError
from interlock.ir.events import Event, StreamError
from interlock.providers.base import Adapter, NativeRequest, Target
from interlock.providers.sse import SSEDecoder
from interlock.telemetry.redaction import redact

MAX_ERROR_BODY = 64 * 1024
MAX_RESPONSE_BODY = 64 * 1024 * 1024
_ENCODER = msgspec.json.Encoder()


def make_session(limit: int = 1024, limit_per_host: int = 512) -> aiohttp.ClientSession:
    """The process-wide upstream session (call from inside the running event loop)."""
    connector = aiohttp.TCPConnector(
        limit=limit, limit_per_host=limit_per_host, ttl_dns_cache=300, keepalive_timeout=30
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None),
        auto_decompress=True,
        skip_auto_headers=("User-Agent",),
    )


async def call(
    session: aiohttp.ClientSession,
    adapter: Adapter,
    native: NativeRequest,
    target: Target,
    *,
    connect_timeout: float,
    read_timeout: float,
    extra_headers: dict[str, str] | None = None,
) -> AsyncIterator[Event]:
    """Send ``native`` and yield internal events as the upstream answers.

    ``read_timeout`` bounds the wait for the response head and for every later read (so it bounds time to
    first token and any stall mid-stream, not the length of a healthy stream).
    """
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=read_timeout)
    headers = native.headers if not extra_headers else {**native.headers, **extra_headers}
    payload = _ENCODER.encode(native.body)
    try:
        async with session.request(native.method, native.url, data=payload, headers=headers, timeout=timeout) as resp:
            if resp.status >= 400:
                body = await resp.content.read(MAX_ERROR_BODY)
                raise _scrubbed(adapter.map_error(resp.status, body, resp.headers, target), target)
            if native.stream:
                ctype = resp.headers.get("Content-Type", "")
                if "text/event-stream" not in ctype:
                    body = await resp.content.read(MAX_ERROR_BODY)
                    raise UpstreamError(
                        "upstream_error",
                        f"Upstream answered a stream request with Content-Type {ctype or 'none'!r}.",
                        provider=target.provider,
                        upstream_status=resp.status,
                        retryable=True,
                    )
                parser = adapter.stream_parser(target)
                decoder = SSEDecoder()
                async for chunk in resp.content.iter_any():
                    for sse in decoder.decode(chunk):
                        for event in parser.feed(sse):
                            yield _scrub_event(event, target)
                for sse in decoder.flush():
                    for event in parser.feed(sse):
                        yield _scrub_event(event, target)
                for event in parser.close():
                    yield _scrub_event(event, target)
            else:
                body = await resp.content.read(MAX_RESPONSE_BODY)
                for event in adapter.parse_response(body, target):
                    yield event
    except GatewayError as err:
        raise _scrubbed(err, target) from None
    except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
        raise UpstreamError(
            "upstream_timeout", f"{target.provider} did not answer in time.", provider=target.provider, retryable=True
        ) from exc
    except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError) as exc:
        raise UpstreamError(
            "upstream_error",
            f"{target.provider} closed the connection mid-response.",
            provider=target.provider,
            retryable=True,
        ) from exc
    except aiohttp.ClientError as exc:
        raise UpstreamError(
            "upstream_error",
            f"Could not reach {target.provider}: {type(exc).__name__}.",
            provider=target.provider,
            retryable=True,
        ) from exc
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError, KeyError, TypeError) as exc:
        raise UpstreamError(
            "upstream_error",
            f"{target.provider} sent a malformed response.",
            provider=target.provider,
            retryable=True,
        ) from exc


def _scrubbed(err: GatewayError, target: Target) -> GatewayError:
    """Upstream error texts can quote the key we sent (seen from real providers): never let it through."""
    message = err.message
    if target.api_key and target.api_key in message:
        message = message.replace(target.api_key, "***")
    err.message = redact(message)
    return err


def _scrub_event(event: Event, target: Target) -> Event:
    if isinstance(event, StreamError):
        _scrubbed(event.error, target)
    return event


__all__ = ["MAX_ERROR_BODY", "call", "make_session"]
