"""The trip of one request: attempts in plan order, fallback before the first byte, relay, and the record.

Theory of operation
-------------------
``open()`` walks the plan. For each candidate it normalises the IR for the target, builds the native request,
merges extensions, and starts the upstream call. It then reads internal events until the first event that would
put something in front of the client (a content event or the finish). Until that moment nothing has been sent to
the client, so a retryable failure (connection error, timeout, 429, 5xx, 529, a broken stream) moves on to the
next candidate; the caller's own 4xx does not. A non-streaming request buffers the whole upstream answer
inside ``open()``, so it can fall back at any point. At most ``plan.max_attempts`` candidates are tried (one when
``allow_fallbacks`` is false).

After ``open()`` succeeds, ``events()`` yields the buffered events and then the rest of the upstream stream; a
failure from then on is yielded as a ``StreamError`` (the client already has bytes, so there is no fallback and
no second copy of the output).

Time limits: ``timeout_ms`` (else the plan's default, longer for reasoning models) bounds each attempt up to
its first content event (the whole answer for non-streaming requests) and every later wait for upstream bytes.
``deadline_ms`` bounds the whole trip, fallbacks and streaming included; an attempt never gets more than what is
left of it, and a deadline that runs out ends the trip with ``upstream_timeout`` without blaming the provider.

Every attempt is reported to the observer exactly once as started and once as ended (stats, breakers) and is
recorded (provider, outcome, error code, latency) for ``routing_metadata.decision`` and the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from interlock.engine.observer import Observer
from interlock.ir import events as ev
from interlock.ir.errors import AttemptsExhausted, GatewayError, UpstreamError
from interlock.ir.request import ResponseRequest
from interlock.ir.warnings import RoutingWarning
from interlock.providers import get_adapter, transport
from interlock.providers.base import Adapter, NativeRequest, Target
from interlock.routing.plan import Candidate, Plan

CONNECT_TIMEOUT_S = 10.0

log = logging.getLogger("interlock.engine")

# Events whose text counts towards ``Trip.produced_chars``.
_PRODUCED = (ev.TextDelta, ev.RefusalDelta, ev.ReasoningDelta, ev.ToolCallDelta)


class UpstreamCall(Protocol):
    """The HTTP exchange with an upstream (``providers.transport.call``); tests pass a scripted fake."""

    def __call__(
        self,
        session: Any,
        adapter: Adapter,
        native: NativeRequest,
        target: Target,
        *,
        connect_timeout: float,
        read_timeout: float,
    ) -> AsyncIterator[ev.Event]: ...


@dataclass(slots=True)
class Attempt:
    """One call to one candidate."""

    candidate: Candidate
    started: float
    outcome: str = "pending"  # ok | error | timeout | cancelled
    error: GatewayError | None = None
    latency_ms: float | None = None
    timeout_ms: float | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "provider": self.candidate.provider.id,
            "provider_model_id": self.candidate.offering.provider_model_id,
            "model": self.candidate.model.id,
            "outcome": self.outcome,
            "error_code": self.error.code if self.error else None,
            "error_message": self.error.message if self.error else None,
            "latency_ms": round(self.latency_ms, 1) if self.latency_ms is not None else None,
            "timeout_ms": round(self.timeout_ms) if self.timeout_ms is not None else None,
            "explore": self.candidate.explore,
        }


def make_target(candidate: Candidate) -> Target:
    model, offering, provider = candidate.model, candidate.offering, candidate.provider
    reasoning = msgspec.to_builtins(model.reasoning) if model.reasoning is not None else None
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


def _deadline_error(provider: str | None, detail: str = "") -> UpstreamError:
    return UpstreamError(
        "upstream_timeout",
        f"deadline_ms elapsed{detail}.",
        provider=provider,
        retryable=False,
    )


@dataclass(slots=True)
class Trip:
    """One request's journey through the plan (see the module docstring)."""

    req: ResponseRequest
    plan: Plan
    session: Any  # aiohttp.ClientSession
    observer: Observer
    known_providers: frozenset[str]
    call: UpstreamCall = transport.call
    warnings: list[RoutingWarning] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    chosen: Candidate | None = None
    target: Target | None = None
    started: float = field(default_factory=time.monotonic)
    first_token_at: float | None = None
    finished_at: float | None = None
    usage: ev.Usage | None = None
    error: GatewayError | None = None
    # Called exactly once, when the trip finishes, fails (in ``open()`` too) or is cancelled; ``usage`` holds what
    # the upstream reported and ``produced_chars`` the text streamed so far (the ledger estimates from it when
    # a stream ends before its usage arrives).
    on_finish: list[Callable[[Trip], None]] = field(default_factory=list)
    produced_chars: int = 0
    _buffer: list[ev.Event] = field(default_factory=list)
    _stream: AsyncIterator[ev.Event] | None = None
    _attempt: Attempt | None = None

    # -- timing ----------------------------------------------------------------------------------------

    def _deadline_left(self) -> float | None:
        if self.plan.deadline_ms is None:
            return None
        return self.plan.deadline_ms / 1000 - (time.monotonic() - self.started)

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
                errors.append(_deadline_error(None, " before an answer"))
                break
            attempt = Attempt(candidate=candidate, started=time.monotonic())
            self.attempts.append(attempt)
            trace_headers = self.observer.attempt_started(candidate)
            try:
                await self._try(candidate, attempt, trace_headers)
            except GatewayError as err:
                self._end_attempt(attempt, "timeout" if err.code == "upstream_timeout" else "error", err)
                self.observer.attempt_failed(candidate, err, attempt.latency_ms or 0.0)
                errors.append(err)
                if not isinstance(err, UpstreamError) or not err.retryable:
                    break
                continue
            except BaseException:  # the client left (cancellation) or a bug: no verdict on the provider
                self._end_attempt(attempt, "cancelled", None)
                self.observer.attempt_cancelled(candidate, attempt.latency_ms or 0.0)
                self.finished_at = time.monotonic()
                self._notify_finish()
                raise
            self.chosen = candidate
            self._attempt = attempt
            if not self.req.stream:
                self._finish_ok()
            timed_out = next((a for a in self.attempts[:-1] if a.outcome == "timeout"), None)
            if timed_out is not None:
                self.warnings.append(
                    RoutingWarning(
                        type="provider_timeout",
                        code="fallback_after_timeout",
                        message=(
                            f"{timed_out.candidate.provider.id} timed out; {candidate.provider.id} answered instead."
                        ),
                    )
                )
            return
        failure = GatewayError("no_provider_available") if not errors else errors[0]
        if len(errors) > 1:
            failure = AttemptsExhausted(errors)
        self.error = failure
        self.finished_at = time.monotonic()
        self._notify_finish()
        raise failure

    @staticmethod
    def _end_attempt(attempt: Attempt, outcome: str, error: GatewayError | None) -> None:
        attempt.outcome = outcome
        attempt.error = error
        attempt.latency_ms = (time.monotonic() - attempt.started) * 1000

    async def _try(
        self, candidate: Candidate, attempt: Attempt, extra_headers: Mapping[str, str] | None = None
    ) -> None:
        target = make_target(candidate)
        adapter = get_adapter(target.protocol)
        req, warnings = _normalise(self.req, target)
        native = adapter.build_request(req, target, stream=self.req.stream)
        if extra_headers:
            native.headers.update(extra_headers)  # the observer's W3C trace context for this attempt
        warnings.extend(native.warnings)
        warnings.extend(_apply_extensions(native.body, self.req.extensions, target, self.known_providers))
        timeout = self.plan.attempt_timeout_ms(candidate) / 1000
        left = self._deadline_left()
        deadline_bound = left is not None and left <= timeout
        budget = min(timeout, left) if left is not None else timeout
        attempt.timeout_ms = budget * 1000
        if budget <= 0:
            raise _deadline_error(target.provider)
        stream = self.call(
            self.session, adapter, native, target, connect_timeout=min(CONNECT_TIMEOUT_S, budget), read_timeout=budget
        )
        buffer: list[ev.Event] = []
        try:
            async with asyncio.timeout(budget):
                async for event in stream:
                    if isinstance(event, ev.StreamError):
                        raise event.error
                    buffer.append(event)
                    if isinstance(event, ev.CONTENT_EVENTS) and self.first_token_at is None:
                        self.first_token_at = time.monotonic()
                    if self.req.stream and isinstance(event, (*ev.CONTENT_EVENTS, ev.Finish)):
                        break
        except TimeoutError:
            await _close(stream)
            self.first_token_at = None
            if deadline_bound:
                raise _deadline_error(target.provider) from None
            raise UpstreamError(
                "upstream_timeout",
                f"{target.provider} did not answer within {round(timeout * 1000)} ms (timeout_ms).",
                provider=target.provider,
                retryable=True,
            ) from None
        except GatewayError as err:
            await _close(stream)
            self.first_token_at = None
            if deadline_bound and err.code == "upstream_timeout":
                raise _deadline_error(target.provider) from None
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
            self._finish_ok()
        except TimeoutError:
            err = _deadline_error(self._provider_id(), " mid-stream")
            self._fail(err)
            yield ev.StreamError(error=err)
        except GatewayError as err:
            self._fail(err)
            yield ev.StreamError(error=err)
        finally:
            self._stream = None
            await _close(stream)
            if self.finished_at is None:  # the consumer stopped reading (client gone)
                self._cancelled()

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
        elif self.finished_at is None and isinstance(event, _PRODUCED):
            self.produced_chars += len(event.arguments if isinstance(event, ev.ToolCallDelta) else event.text)

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
            # Only a streamed answer separates time to first token from generation speed (routing.stats).
            ttft, tps = (self.ttft_ms, self.throughput_tps) if self.req.stream else (None, None)
            self.observer.attempt_succeeded(self.chosen, ttft, tps, self._attempt.latency_ms)
        self._notify_finish()

    def _fail(self, err: GatewayError) -> None:
        if self.finished_at is not None:
            return
        self.error = err
        self.finished_at = time.monotonic()
        if self._attempt is not None and self.chosen is not None:
            self._attempt.outcome = "timeout" if err.code == "upstream_timeout" else "error"
            self._attempt.error = err
            self._attempt.latency_ms = (self.finished_at - self._attempt.started) * 1000
            self.observer.attempt_failed(self.chosen, err, self._attempt.latency_ms)
        self._notify_finish()

    def _cancelled(self) -> None:
        if self.finished_at is not None:
            return
        self.finished_at = time.monotonic()
        if self._attempt is not None and self.chosen is not None:
            self._attempt.outcome = "cancelled"
            self._attempt.latency_ms = (self.finished_at - self._attempt.started) * 1000
            self.observer.attempt_cancelled(self.chosen, self._attempt.latency_ms)
        self._notify_finish()

    def _notify_finish(self) -> None:
        hooks, self.on_finish = self.on_finish, []
        for hook in hooks:
            try:
                hook(self)
            except Exception:
                log.exception("a trip on_finish hook failed")

    async def cancel(self) -> None:
        """The client went away: stop the upstream call."""
        stream, self._stream = self._stream, None
        if stream is not None:
            await _close(stream)
        self._cancelled()


async def _close(stream: AsyncIterator[ev.Event]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()


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


__all__ = ["Attempt", "Trip", "UpstreamCall", "make_target"]
