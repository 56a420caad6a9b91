"""The trip of one request: attempts in plan order, fallback before the first byte, relay, and the record.

Theory of operation
-------------------
``open()`` walks the plan. For each candidate it normalises the IR for the target, builds the native request,
merges extensions, and starts the upstream call. It then reads internal events until the first event that would
put something in front of the client (a content event or the finish). Until that moment nothing has been sent to
the client, so a retryable failure (connection error, timeout, 429, 5xx, 529, a broken stream) moves on to the
next candidate; the caller's own 4xx does not. A non-streaming request buffers the whole upstream answer
inside ``open()``, so it can fall back at any point.

After ``open()`` succeeds, ``events()`` yields the buffered events and then the rest of the upstream stream; a
failure from then on is yielded as a ``StreamError`` (the client already has bytes). ``deadline_ms`` bounds the
whole trip; ``timeout_ms`` bounds each attempt's wait for the upstream's next bytes.

Every attempt is recorded (provider, outcome, error code, latency) for ``routing_metadata.decision``, the stats
observer and the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from interlock.engine.observer import Observer
from interlock.ir import events as ev
from interlock.ir.errors import AttemptsExhausted, GatewayError, UpstreamError
from interlock.ir.request import ResponseRequest
from interlock.ir.warnings import RoutingWarning
from interlock.providers import get_adapter, transport
from interlock.providers.base import Target
from interlock.routing.plan import Candidate, Plan

DEFAULT_TIMEOUT_MS = 120_000
REASONING_TIMEOUT_MS = 600_000
CONNECT_TIMEOUT_S = 10.0


@dataclass(slots=True)
class Attempt:
    candidate: Candidate
    started: float
    outcome: str = "pending"  # ok | error | timeout
    error: GatewayError | None = None
    latency_ms: float | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "provider": self.candidate.provider.id,
            "provider_model_id": self.candidate.offering.provider_model_id,
            "model": self.candidate.model.id,
            "outcome": self.outcome,
            "error_code": self.error.code if self.error else None,
            "latency_ms": round(self.latency_ms, 1) if self.latency_ms is not None else None,
        }


def make_target(candidate: Candidate) -> Target:
    model, offering, provider = candidate.model, candidate.offering, candidate.provider
    reasoning = None
    if model.reasoning is not None:
        import msgspec

        reasoning = msgspec.to_builtins(model.reasoning)
    return Target(
        provider=provider.id,
        protocol=provider.protocol,
        base_url=provider.base_url.rstrip("/"),
        api_key=provider.api_key,
        provider_model_id=offering.provider_model_id,
        model_canonical=model.id,
        max_output_tokens=offering.max_output_tokens,
        capabilities=frozenset(offering.capabilities),
        accepted_params=frozenset(offering.accepted_params) if offering.accepted_params is not None else None,
        reasoning=reasoning,
        headers=dict(provider.headers),
    )


@dataclass(slots=True)
class Trip:
    """One request's journey through the plan (see the module docstring)."""

    req: ResponseRequest
    plan: Plan
    session: Any  # aiohttp.ClientSession
    observer: Observer
    known_providers: frozenset[str]
    warnings: list[RoutingWarning] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    chosen: Candidate | None = None
    target: Target | None = None
    started: float = field(default_factory=time.monotonic)
    first_token_at: float | None = None
    finished_at: float | None = None
    usage: ev.Usage | None = None
    error: GatewayError | None = None
    _buffer: list[ev.Event] = field(default_factory=list)
    _stream: AsyncIterator[ev.Event] | None = None
    _attempt: Attempt | None = None

    # -- timing ----------------------------------------------------------------------------------------

    def _deadline_left(self) -> float | None:
        if self.plan.deadline_ms is None:
            return None
        return self.plan.deadline_ms / 1000 - (time.monotonic() - self.started)

    def _attempt_timeout_s(self, candidate: Candidate) -> float:
        if self.plan.timeout_ms is not None:
            ms = self.plan.timeout_ms
        else:
            ms = REASONING_TIMEOUT_MS if "reasoning" in candidate.offering.capabilities else DEFAULT_TIMEOUT_MS
        left = self._deadline_left()
        seconds = ms / 1000
        return min(seconds, left) if left is not None else seconds

    @property
    def ttft_ms(self) -> float | None:
        if self.first_token_at is None or self._attempt is None:
            return None
        return (self.first_token_at - self._attempt.started) * 1000

    @property
    def throughput_tps(self) -> float | None:
        if self.usage is None or not self.usage.output_tokens or self._attempt is None:
            return None
        end = self.finished_at or time.monotonic()
        start = self.first_token_at if self.req.stream and self.first_token_at is not None else self._attempt.started
        span = end - start
        if span <= 0.0005:
            return None
        return self.usage.output_tokens / span

    # -- attempts --------------------------------------------------------------------------------------

    async def open(self) -> None:
        """Find a candidate that answers; raise the documented error when none does."""
        errors: list[GatewayError] = []
        limit = self.plan.max_attempts if self.plan.allow_fallbacks else 1
        for candidate in self.plan.candidates[:limit]:
            left = self._deadline_left()
            if left is not None and left <= 0:
                errors.append(
                    UpstreamError("upstream_timeout", "deadline_ms elapsed before an answer.", retryable=False)
                )
                break
            attempt = Attempt(candidate=candidate, started=time.monotonic())
            self.attempts.append(attempt)
            try:
                await self._try(candidate, attempt)
            except GatewayError as err:
                attempt.outcome = "timeout" if err.code == "upstream_timeout" else "error"
                attempt.error = err
                attempt.latency_ms = (time.monotonic() - attempt.started) * 1000
                self.observer.attempt_failed(candidate, err, attempt.latency_ms)
                errors.append(err)
                if not isinstance(err, UpstreamError) or not err.retryable:
                    break
                continue
            self.chosen = candidate
            self._attempt = attempt
            if not self.req.stream:
                self._finish_ok()
            if any(a.outcome == "timeout" for a in self.attempts[:-1]):
                failed = next(a for a in self.attempts[:-1] if a.outcome == "timeout")
                self.warnings.append(
                    RoutingWarning(
                        type="provider_timeout",
                        code="fallback_after_timeout",
                        message=f"{failed.candidate.provider.id} timed out; {candidate.provider.id} answered instead.",
                    )
                )
            return
        if not errors:
            raise GatewayError("no_provider_available")
        raise errors[0] if len(errors) == 1 else AttemptsExhausted(errors)

    async def _try(self, candidate: Candidate, attempt: Attempt) -> None:
        target = make_target(candidate)
        adapter = get_adapter(target.protocol)
        req, warnings = _normalise(self.req, target)
        native = adapter.build_request(req, target, stream=self.req.stream)
        warnings.extend(native.warnings)
        warnings.extend(_apply_extensions(native.body, self.req.extensions, target, self.known_providers))
        timeout = self._attempt_timeout_s(candidate)
        if timeout <= 0:
            raise UpstreamError("upstream_timeout", "deadline_ms elapsed.", provider=target.provider, retryable=False)
        stream = transport.call(
            self.session, adapter, native, target, connect_timeout=min(CONNECT_TIMEOUT_S, timeout), read_timeout=timeout
        )
        buffer: list[ev.Event] = []
        try:
            async with asyncio.timeout(self._deadline_left()):
                async for event in stream:
                    if isinstance(event, ev.StreamError):
                        raise event.error
                    buffer.append(event)
                    if isinstance(event, ev.CONTENT_EVENTS) and self.first_token_at is None:
                        self.first_token_at = time.monotonic()
                    if self.req.stream and isinstance(event, (*ev.CONTENT_EVENTS, ev.Finish)):
                        break
        except TimeoutError:
            with contextlib.suppress(Exception):
                await stream.aclose()  # type: ignore[attr-defined]
            self.first_token_at = None
            raise UpstreamError(
                "upstream_timeout", "deadline_ms elapsed.", provider=target.provider, retryable=False
            ) from None
        except GatewayError:
            with contextlib.suppress(Exception):
                await stream.aclose()  # type: ignore[attr-defined]
            self.first_token_at = None
            raise
        self.target = target
        self.warnings.extend(warnings)
        self._buffer = buffer
        self._stream = stream if self.req.stream else None

    async def events(self) -> AsyncIterator[ev.Event]:
        """The chosen attempt's events: what ``open()`` buffered, then the rest of the upstream stream."""
        for event in self._buffer:
            self._note(event)
            yield event
        self._buffer = []
        stream = self._stream
        if stream is None:
            return
        try:
            async with asyncio.timeout(self._deadline_left()):
                async for event in stream:
                    if isinstance(event, ev.StreamError):
                        self._fail(event.error)
                        yield event
                        return
                    if self.first_token_at is None and isinstance(event, ev.CONTENT_EVENTS):
                        self.first_token_at = time.monotonic()
                    self._note(event)
                    yield event
        except TimeoutError:
            err = UpstreamError("upstream_timeout", "deadline_ms elapsed mid-stream.", provider=self._provider_id())
            self._fail(err)
            yield ev.StreamError(error=err)
            return
        except GatewayError as err:
            self._fail(err)
            yield ev.StreamError(error=err)
            return
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()  # type: ignore[attr-defined]
        self._finish_ok()

    def _note(self, event: ev.Event) -> None:
        if isinstance(event, ev.Usage):
            prev = self.usage
            if prev is None:
                self.usage = event
            else:
                self.usage = ev.Usage(
                    input_tokens=event.input_tokens if event.input_tokens is not None else prev.input_tokens,
                    output_tokens=event.output_tokens if event.output_tokens is not None else prev.output_tokens,
                    cached_tokens=event.cached_tokens if event.cached_tokens is not None else prev.cached_tokens,
                    cache_write_tokens=(
                        event.cache_write_tokens if event.cache_write_tokens is not None else prev.cache_write_tokens
                    ),
                    reasoning_tokens=(
                        event.reasoning_tokens if event.reasoning_tokens is not None else prev.reasoning_tokens
                    ),
                )

    def _provider_id(self) -> str | None:
        return self.chosen.provider.id if self.chosen else None

    def _finish_ok(self) -> None:
        if self.finished_at is not None:
            return
        if not self.req.stream:
            for event in self._buffer:
                self._note(event)
        self.finished_at = time.monotonic()
        if self._attempt is not None and self.chosen is not None:
            self._attempt.outcome = "ok"
            self._attempt.latency_ms = (self.finished_at - self._attempt.started) * 1000
            self.observer.attempt_succeeded(self.chosen, self.ttft_ms, self.throughput_tps, self._attempt.latency_ms)

    def _fail(self, err: GatewayError) -> None:
        self.error = err
        self.finished_at = time.monotonic()
        if self._attempt is not None and self.chosen is not None:
            self._attempt.outcome = "error"
            self._attempt.error = err
            self._attempt.latency_ms = (self.finished_at - self._attempt.started) * 1000
            self.observer.attempt_failed(self.chosen, err, self._attempt.latency_ms)

    async def cancel(self) -> None:
        """The client went away: stop the upstream call."""
        if self._stream is not None:
            with contextlib.suppress(Exception):
                await self._stream.aclose()  # type: ignore[attr-defined]
            self._stream = None
        if self.finished_at is None:
            self.finished_at = time.monotonic()
            if self._attempt is not None:
                self._attempt.outcome = "cancelled"


def _normalise(req: ResponseRequest, target: Target) -> tuple[ResponseRequest, list[RoutingWarning]]:
    try:
        from interlock.providers.normalise import normalise
    except ImportError:  # the normalisation module is optional in the first slice
        return req, []
    return normalise(req, target)


def _apply_extensions(
    body: dict[str, Any], extensions: dict[str, Any] | None, target: Target, known: frozenset[str]
) -> list[RoutingWarning]:
    if not extensions:
        return []
    try:
        from interlock.providers.extensions import apply_extensions
    except ImportError:
        return []
    return apply_extensions(body, extensions, target, set(known))


__all__ = ["Attempt", "Trip", "make_target"]
