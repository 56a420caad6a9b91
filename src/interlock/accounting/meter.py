"""Metering of inference requests: rate limits, budget reservations, ledger rows, and the headers reporting them.

Theory of operation
-------------------
The meter follows one request through four seams, none of which needs an endpoint handler to know about it
(the same pattern as ``telemetry.request``). A ``Tab`` is the request as the meter sees it; the app opens it
when a request is routed and puts it in a context variable, which the seams below read (context variables are
copied into the streaming pump task, so a stream's tab is found there too).

1. **Admission** (``MeteredAuthenticator``, wrapping the key authenticator). When a handler authenticates an
   active key, the tab learns the key. On an inference route (``METERED``) the key's token window is checked
   and its request window ``hit`` (``accounting.state``): over the limit is ``rate_limit_exceeded`` with
   ``Retry-After``. On other routes the windows are only peeked, for the headers. The budgets that apply (the
   key's own, its workspace's) are looked up here (workspace budgets are cached for a few seconds).
2. **Plan** (``MeterObserver.trip_planned``, an engine observer). The tab learns the trip and hooks
   ``Tab.trip_finished`` onto ``Trip.on_finish``.
3. **Reservation** (``wrap_call``, around the engine's upstream call). Before the first byte goes upstream,
   the estimated cost (the plan's input and output token estimates at the dearest price among the candidates
   that may be tried) is reserved atomically on every budget slot of the request; an exhausted budget ends
   the trip with ``budget_exhausted`` before any provider is called. Fallback attempts reuse the reservation.
4. **Settlement** (``Tab.trip_finished``, exactly once per trip). The real cost (``compute_cost`` on the usage
   the upstream reported, the function behind ``routing_metadata.cost``; estimated from the streamed text when a
   stream ended before its usage) replaces the reservation, the tokens go into the token window, and one ledger
   row is queued. Requests refused before a trip finished (rate limit, bad input after authentication) get
   their row from the app's error path instead (``Tab.failed``).

Before the last byte of a response the app awaits the row's commit (``Tab.responded`` / ``Tab.failed``; for a
stream, the first chunk produced after the trip finished waits, and every chunk after it follows), bounded by
``ledger_durable_wait_ms``: see ``accounting.ledger`` for what that guarantees when a worker is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Protocol

from interlock.accounting.cost import Prices, compute_cost, estimate_cost
from interlock.accounting.ledger import LedgerWriter
from interlock.accounting.limits import budget_headers, rate_limit_headers
from interlock.accounting.periods import Period, period_bounds
from interlock.accounting.state import LimitState, Slot, SlotView, Window
from interlock.engine.observer import NullObserver
from interlock.ir import events as ev
from interlock.ir.errors import GatewayError
from interlock.store.budgets import BudgetRecord
from interlock.store.keys import KeyRecord
from interlock.telemetry import count_budget_rejection, count_rate_limit_rejection

if TYPE_CHECKING:
    from interlock.engine.trip import Trip
    from interlock.routing.plan import Candidate

__all__ = ["METERED", "Meter", "MeterObserver", "MeteredAuthenticator", "Tab", "current_tab"]

log = logging.getLogger("interlock.accounting")

# Inference routes: counted against the request limit, reserved against budgets, recorded in the ledger.
METERED: Final[Mapping[str, str]] = {
    "/v1/responses": "responses",
    "/v1/chat/completions": "chat",
    "/v1/messages": "messages",
}
WINDOW_MS: Final = 60_000
NANO: Final = 1_000_000_000
# Routing estimates input tokens as characters / 4; tokenizers can count more, so the reservation adds a margin.
INPUT_MARGIN: Final = 1.25
CHARS_PER_TOKEN: Final = 4
_SLOT_GRACE_S: Final = 2 * 86_400  # a budget slot outlives its period by this much
_BUDGET_CACHE_S: Final = 5.0

_current: ContextVar[Tab | None] = ContextVar("interlock_tab", default=None)


def current_tab() -> Tab | None:
    """The tab of the request being handled in this task, if accounting is on."""
    return _current.get()


def _nusd(usd: float | None) -> int:
    return 0 if usd is None else max(0, round(usd * NANO))


@dataclass(frozen=True, slots=True)
class BudgetSlot:
    """One budget that applies to a request, with its state counter."""

    slot: Slot
    scope: str  # api_key | workspace
    scope_id: str
    period: Period
    limit_usd: float
    start: datetime
    end: datetime


class SpendSource(Protocol):
    """Where budget counters are seeded from: the ledger's spend since a period began."""

    async def __call__(self, since: datetime, *, key_id: str | None, workspace_id: str | None) -> float: ...


class Tab:
    """One request as the meter sees it (see the module docstring)."""

    __slots__ = (
        "_token",
        "budgets",
        "cost_usd",
        "durable",
        "endpoint",
        "exceeded",
        "key",
        "lease",
        "meter",
        "metered",
        "recorded",
        "request_id",
        "reserved_nusd",
        "started",
        "tokens",
        "trip",
        "views",
        "waited",
        "window",
    )

    def __init__(self, meter: Meter, request_id: str, route: str | None) -> None:
        self.meter = meter
        self.request_id = request_id
        self.endpoint = METERED.get(route or "", route or "")
        self.metered = route in METERED
        self.started = time.monotonic()
        self.key: KeyRecord | None = None
        self.window: Window | None = None
        self.tokens: tuple[int, int, int] | None = None  # (limit, used, reset ms)
        self.budgets: list[BudgetSlot] = []
        self.views: list[SlotView] | None = None
        self.exceeded: BudgetSlot | None = None
        self.trip: Trip | None = None
        self.lease: str | None = None
        self.reserved_nusd = 0
        self.cost_usd: float | None = None
        self.recorded = False
        self.durable: asyncio.Future[None] | None = None
        self.waited = False
        self._token: Token[Tab | None] = _current.set(self)

    # -- what the app calls ----------------------------------------------------------------------------

    def headers(self) -> dict[str, str]:
        """Rate-limit and budget headers for this request's response (empty before authentication)."""
        out: dict[str, str] = {}
        if self.window is not None:
            w = self.window
            out.update(rate_limit_headers("requests", w.limit, w.remaining, w.reset_ms))
        if self.tokens is not None:
            limit, used, reset = self.tokens
            out.update(rate_limit_headers("tokens", limit, limit - used, reset))
        if self.budgets and self.views is not None:
            out.update(self._budget_headers())
        if self.exceeded is not None:
            out["x-budget-exceeded"] = "true"
            out["x-budget-exceeded-period"] = self.exceeded.period
            out["x-budget-exceeded-scope"] = self.exceeded.scope
        return out

    def _budget_headers(self) -> dict[str, str]:
        assert self.views is not None
        tightest: dict[str, tuple[float, float]] = {}  # period -> (limit, spend) of the slot with least left
        extra = self.cost_usd or 0.0
        for budget, view in zip(self.budgets, self.views, strict=True):
            spend = view.spent_nusd / NANO + extra
            left = budget.limit_usd - spend
            best = tightest.get(budget.period)
            if best is None or left < best[0] - best[1]:
                tightest[budget.period] = (budget.limit_usd, spend)
        out: dict[str, str] = {}
        for period, (limit, spend) in tightest.items():
            out.update(budget_headers(period, limit, spend))
        return out

    async def failed(self, err: GatewayError) -> dict[str, str]:
        """An error response is about to be sent: record the request if nothing did yet; return its headers."""
        if not self.recorded and self.key is not None and self.metered and self.meter.record_rejections:
            self.recorded = True
            self.durable = self.meter.record_rejection(self, err)
        await self.wait_durable()
        return self.headers()

    async def responded(self, headers: dict[str, str]) -> None:
        """A complete response is about to be sent: add the headers, wait for the request's ledger row."""
        headers.update(self.headers())
        await self.wait_durable()

    def streaming(self, headers: dict[str, str], chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """A stream is about to start: add the headers; the returned chunks hold back the first chunk produced
        after the trip finished until the request's ledger row is committed."""
        headers.update(self.headers())
        return self._guard(chunks)

    async def wait_durable(self) -> None:
        future = self.durable
        if future is None or self.waited:
            return
        self.waited = True
        timeout = self.meter.durable_wait_s
        if timeout <= 0 or future.done():
            return
        done, _ = await asyncio.wait({future}, timeout=timeout)
        if not done:
            self.meter.durable_timeouts += 1
            log.warning("ledger row of %s not committed within %.1f s; answering anyway", self.request_id, timeout)

    async def _guard(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        try:
            async for chunk in chunks:
                if self.durable is not None and not self.waited:
                    await self.wait_durable()
                yield chunk
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()

    def close(self) -> None:
        with contextlib.suppress(ValueError):  # closed from another context than the one it was opened in
            _current.reset(self._token)

    # -- the trip's end (sync, exactly once) ----------------------------------------------------------

    def trip_finished(self, trip: Trip) -> None:
        self.meter.trip_finished(self, trip)


class MeteredAuthenticator:
    """Wraps the key authenticator: admission of the current request (see the module docstring, step 1)."""

    def __init__(self, inner: Any, meter: Meter) -> None:
        self._inner = inner
        self._meter = meter

    async def authenticate(self, raw_key: str) -> KeyRecord | None:
        record: KeyRecord | None = await self._inner.authenticate(raw_key)
        if record is not None:
            tab = _current.get()
            if tab is not None and tab.key is None and record.status == "active":
                tab.key = record
                await self._meter.admit(tab)
        return record

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class MeterObserver(NullObserver):
    """The engine ``Observer`` that hands the current request's trip to its tab (step 2); nothing else."""

    def trip_planned(self, trip: Trip, routing_ms: float) -> None:
        tab = _current.get()
        if tab is not None and tab.key is not None and tab.trip is None and tab.metered:
            tab.trip = trip
            trip.on_finish.append(tab.trip_finished)


class _Gated:
    """An upstream event stream that first awaits the budget reservation (step 3)."""

    __slots__ = ("_gate", "_inner")

    def __init__(self, gate: Coroutine[Any, Any, None], inner: AsyncIterator[ev.Event]) -> None:
        self._gate: Coroutine[Any, Any, None] | None = gate
        self._inner = inner

    def __aiter__(self) -> _Gated:
        return self

    async def __anext__(self) -> ev.Event:
        gate, self._gate = self._gate, None
        if gate is not None:
            await gate
        return await self._inner.__anext__()

    async def aclose(self) -> None:
        gate, self._gate = self._gate, None
        if gate is not None:
            gate.close()  # never started: close it so it is not reported as never awaited
        aclose = getattr(self._inner, "aclose", None)
        if aclose is not None:
            await aclose()


class Meter:
    """Rate limits, budgets and the ledger for one app (see the module docstring)."""

    def __init__(
        self,
        state: LimitState,
        ledger: LedgerWriter,
        *,
        prefix: str,
        workspace_budgets: Callable[[str], Awaitable[list[BudgetRecord]]],
        spend_since: SpendSource,
        default_rpm: int | None = None,
        durable_wait_ms: int = 2000,
        reservation_ttl_s: int = 900,
        record_rejections: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.ledger = ledger
        self.prefix = prefix
        self._workspace_budgets = workspace_budgets
        self._spend_since = spend_since
        self.default_rpm = default_rpm
        self.durable_wait_s = durable_wait_ms / 1000
        self.reservation_ttl_s = reservation_ttl_s
        self.record_rejections = record_rejections
        self.clock = clock
        self.observer = MeterObserver()
        self.durable_timeouts = 0
        self._budget_cache: dict[str, tuple[float, list[BudgetRecord]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle -------------------------------------------------------------------------------------

    def open(self, request_id: str, route: str | None) -> Tab:
        """A tab for a request on ``route`` (the matched route template); it becomes the current tab."""
        return Tab(self, request_id, route)

    def wrap_authenticator(self, inner: Any) -> MeteredAuthenticator:
        return MeteredAuthenticator(inner, self)

    def wrap_call(self, inner: Callable[..., AsyncIterator[ev.Event]]) -> Callable[..., AsyncIterator[ev.Event]]:
        """The engine's upstream call, gated by the budget reservation of the current request (step 3)."""

        def call(*args: Any, **kwargs: Any) -> AsyncIterator[ev.Event]:
            stream = inner(*args, **kwargs)
            tab = _current.get()
            if tab is None or not tab.budgets or tab.lease is not None or tab.trip is None:
                return stream
            return _Gated(self._reserve(tab), stream)

        return call

    def invalidate_workspace(self, workspace_id: str) -> None:
        """Forget the cached budgets of a workspace (after an admin change in this process)."""
        self._budget_cache.pop(workspace_id, None)

    async def close(self) -> None:
        """Finish settlements in progress and write the queued ledger rows."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=10)
        await self.ledger.close()
        await self.state.close()

    # -- step 1: admission -----------------------------------------------------------------------------

    async def admit(self, tab: Tab) -> None:
        key = tab.key
        assert key is not None
        now_ms = int(self.clock() * 1000)
        try:
            if tab.metered and key.tpm_limit:
                minute = now_ms // WINDOW_MS
                used = await self.state.get_tokens(self._tokens_key(key.id, minute))
                reset = (minute + 1) * WINDOW_MS
                tab.tokens = (key.tpm_limit, used, reset)
                if used >= key.tpm_limit:
                    count_rate_limit_rejection("api_key")
                    raise _limited(f"{key.tpm_limit} tokens per minute", reset - now_ms)
            rpm = key.rpm_limit or self.default_rpm
            if rpm:
                window_key = f"{self.prefix}rpm:{key.id}"
                if tab.metered:
                    tab.window = await self.state.hit(window_key, rpm, WINDOW_MS, now_ms, tab.request_id)
                else:
                    tab.window = await self.state.peek(window_key, rpm, WINDOW_MS, now_ms)
                if tab.metered and not tab.window.allowed:
                    count_rate_limit_rejection("api_key")
                    raise _limited(f"{rpm} requests per minute", tab.window.reset_ms - now_ms)
            tab.budgets = await self._budgets_for(key, now_ms)
            if tab.budgets and not tab.metered:
                tab.views = await self._views(tab.budgets)
        except GatewayError:
            raise
        except Exception as exc:
            raise _state_down(exc) from exc

    async def _budgets_for(self, key: KeyRecord, now_ms: int) -> list[BudgetSlot]:
        now = datetime.fromtimestamp(now_ms / 1000, UTC)
        out: list[BudgetSlot] = []
        if key.budget_usd is not None:
            out.append(self.budget_slot("api_key", key.id, key.budget_period, key.budget_usd, True, now))
        for b in await self._cached_workspace_budgets(key.workspace_id):
            out.append(self.budget_slot("workspace", key.workspace_id, b.period, b.limit_usd, b.enforce, now))
        return out

    async def _cached_workspace_budgets(self, workspace_id: str) -> list[BudgetRecord]:
        now = time.monotonic()
        cached = self._budget_cache.get(workspace_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        budgets = await self._workspace_budgets(workspace_id)
        self._budget_cache[workspace_id] = (now + _BUDGET_CACHE_S, budgets)
        return budgets

    def budget_slot(
        self, scope: str, scope_id: str, period: Period, limit: float, enforce: bool, now: datetime
    ) -> BudgetSlot:
        start, end = period_bounds(period, now)
        key = f"{self.prefix}budget:{scope}:{scope_id}:{period}:{start:%Y%m%d}"
        ttl = int((end - now).total_seconds()) + _SLOT_GRACE_S
        return BudgetSlot(Slot(key, _nusd(limit), enforce, ttl), scope, scope_id, period, limit, start, end)

    async def _views(self, budgets: list[BudgetSlot]) -> list[SlotView]:
        slots = [b.slot for b in budgets]
        views = await self.state.views(slots)
        missing = [i for i, v in enumerate(views) if v is None]
        if missing:
            await self._seed([budgets[i] for i in missing])
            views = await self.state.views(slots)
        return [v if v is not None else SlotView(0, 0) for v in views]

    async def _seed(self, budgets: list[BudgetSlot]) -> None:
        for b in budgets:
            scope = {"key_id": b.scope_id, "workspace_id": None}
            if b.scope == "workspace":
                scope = {"key_id": None, "workspace_id": b.scope_id}
            spent = await self._spend_since(b.start, **scope)
            await self.state.seed(b.slot, _nusd(spent), int(self.clock() * 1000))

    # -- step 3: reservation ---------------------------------------------------------------------------

    def estimate_nusd(self, trip: Trip) -> int:
        """The reservation for ``trip``: its token estimates at the dearest price it may be charged."""
        plan = trip.plan
        estimate = plan.estimate
        inp = math.ceil(int(estimate.get("input_tokens") or 0) * INPUT_MARGIN) + 1
        out = int(estimate.get("output_tokens") or 0)
        limit = plan.max_attempts if plan.allow_fallbacks else 1
        worst = 0.0
        for c in plan.candidates[:limit]:
            worst = max(worst, estimate_cost(inp, out, _prices(c)) or 0.0)
        return _nusd(worst)

    async def _reserve(self, tab: Tab) -> None:
        assert tab.trip is not None
        now_ms = int(self.clock() * 1000)
        amount = self.estimate_nusd(tab.trip)
        slots = [b.slot for b in tab.budgets]
        lease = tab.request_id
        expiry = now_ms + self.reservation_ttl_s * 1000
        try:
            result = await self.state.reserve(slots, amount, lease, expiry, now_ms)
            if result.missing:
                await self._seed([tab.budgets[i] for i in result.missing])
                result = await self.state.reserve(slots, amount, lease, expiry, now_ms)
        except Exception as exc:
            raise _state_down(exc) from exc
        tab.views = result.views or None
        if result.ok:
            tab.lease = lease
            tab.reserved_nusd = amount
            return
        if result.missing:  # seeded and vanished again: only a flushed state does that
            raise GatewayError("service_unavailable", "The budget state is being reset; retry shortly.")
        budget = tab.budgets[result.failed]
        tab.exceeded = budget
        count_budget_rejection(budget.scope, budget.period)
        who = "API key" if budget.scope == "api_key" else "workspace"
        raise GatewayError(
            "budget_exhausted",
            f"The {budget.period} budget of this {who} ({budget.limit_usd:.6f} USD) is exhausted; "
            f"it resets at {budget.end.isoformat().replace('+00:00', 'Z')}.",
            retry_after=max(1, math.ceil((budget.end.timestamp() * 1000 - now_ms) / 1000)),
        )

    # -- step 4: settlement and the ledger row ----------------------------------------------------------

    def trip_finished(self, tab: Tab, trip: Trip) -> None:
        key = tab.key
        if key is None or tab.recorded:
            return
        usage, estimated = _usage_of(trip)
        chosen = trip.chosen
        cost_usd: float | None = None
        if chosen is not None and usage is not None:
            cost = compute_cost(usage, _prices(chosen))
            cost_usd = cost.usd if cost is not None else None
        tab.cost_usd = cost_usd
        status, http_status, code = _outcome(trip)
        end = trip.finished_at or time.monotonic()
        row = {
            "request_id": tab.request_id,
            "created_at": datetime.now(UTC),
            "key_id": key.id,
            "workspace_id": key.workspace_id,
            "endpoint": tab.endpoint,
            "model": chosen.model.id if chosen is not None else _requested_model(trip),
            "provider": chosen.provider.id if chosen is not None else None,
            "provider_model_id": chosen.offering.provider_model_id if chosen is not None else None,
            "input_tokens": usage.input_tokens if usage is not None else None,
            "cached_tokens": usage.cached_tokens if usage is not None else None,
            "cache_write_tokens": usage.cache_write_tokens if usage is not None else None,
            "output_tokens": usage.output_tokens if usage is not None else None,
            "reasoning_tokens": usage.reasoning_tokens if usage is not None else None,
            "usage_estimated": estimated,
            "cost_usd": cost_usd,
            "reserved_usd": tab.reserved_nusd / NANO if tab.lease is not None else None,
            "ttft_ms": round(trip.ttft_ms, 3) if trip.req.stream and trip.ttft_ms is not None else None,
            "latency_ms": round((end - tab.started) * 1000, 3),
            "status": status,
            "http_status": http_status,
            "error_code": code,
            "stream": trip.req.stream,
            "attempts": len(trip.attempts),
        }
        tab.recorded = True
        tab.durable = self.ledger.record(row)
        if tab.lease is not None:
            self._spawn(self.state.settle([b.slot for b in tab.budgets], tab.lease, _nusd(cost_usd)))
        if key.tpm_limit and usage is not None:
            tokens = (usage.input_tokens or 0) + (usage.output_tokens or 0)
            minute = int(self.clock() * 1000) // WINDOW_MS
            if tokens:
                self._spawn(self.state.add_tokens(self._tokens_key(key.id, minute), tokens, 2 * WINDOW_MS // 1000))

    def record_rejection(self, tab: Tab, err: GatewayError) -> asyncio.Future[None] | None:
        key = tab.key
        assert key is not None
        return self.ledger.record(
            {
                "request_id": tab.request_id,
                "created_at": datetime.now(UTC),
                "key_id": key.id,
                "workspace_id": key.workspace_id,
                "endpoint": tab.endpoint,
                "model": None,
                "provider": None,
                "provider_model_id": None,
                "input_tokens": None,
                "cached_tokens": None,
                "cache_write_tokens": None,
                "output_tokens": None,
                "reasoning_tokens": None,
                "usage_estimated": False,
                "cost_usd": None,
                "reserved_usd": None,
                "ttft_ms": None,
                "latency_ms": round((time.monotonic() - tab.started) * 1000, 3),
                "status": "rejected",
                "http_status": err.status,
                "error_code": err.code,
                "stream": False,
                "attempts": 0,
            }
        )

    def _spawn(self, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(self._quietly(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _quietly(work: Awaitable[None]) -> None:
        try:
            await work
        except Exception as exc:
            log.warning("settling a request in the shared state failed: %s", exc)

    def _tokens_key(self, key_id: str, minute: int) -> str:
        return f"{self.prefix}tpm:{key_id}:{minute}"


def _prices(candidate: Candidate) -> Prices:
    o = candidate.offering
    return Prices(o.input_price, o.output_price, o.cache_read_price, o.cache_write_price)


def _limited(what: str, wait_ms: int) -> GatewayError:
    # Clamped to the window: another replica's clock may run a few ms ahead of this one's.
    seconds = min(WINDOW_MS // 1000, max(1, math.ceil(wait_ms / 1000)))
    return GatewayError(
        "rate_limit_exceeded",
        f"Rate limit of {what} exceeded. Retry after {seconds} seconds.",
        retry_after=seconds,
    )


def _state_down(exc: BaseException) -> GatewayError:
    log.error("the shared state backend failed: %s: %s", type(exc).__name__, exc)
    return GatewayError("service_unavailable", "The rate limit and budget state is unavailable; retry shortly.")


def _usage_of(trip: Trip) -> tuple[ev.Usage | None, bool]:
    """The usage to bill: as reported, or estimated from the streamed text when the stream ended early."""
    usage = trip.usage
    reported = usage or ev.Usage()
    if trip.chosen is None:
        return usage, False
    if usage is not None and usage.output_tokens is not None and usage.input_tokens is not None:
        return usage, False
    if usage is None and trip.produced_chars == 0 and trip.attempts and trip.attempts[-1].outcome == "ok":
        return None, False  # a complete answer without usage: the upstream reported none
    produced = math.ceil(trip.produced_chars / CHARS_PER_TOKEN)
    estimated_input = int(trip.plan.estimate.get("input_tokens") or 0)
    return (
        ev.Usage(
            input_tokens=reported.input_tokens if reported.input_tokens is not None else estimated_input,
            output_tokens=reported.output_tokens if reported.output_tokens is not None else produced,
            cached_tokens=reported.cached_tokens,
            cache_write_tokens=reported.cache_write_tokens,
            reasoning_tokens=reported.reasoning_tokens,
        ),
        True,
    )


def _outcome(trip: Trip) -> tuple[str, int | None, str | None]:
    """``(status, http_status, error_code)`` of a finished trip for its ledger row."""
    if trip.error is not None:
        sent = trip.chosen is not None and trip.req.stream  # the stream had started: its status was 200
        return "error", 200 if sent else trip.error.status, trip.error.code
    last = trip.attempts[-1].outcome if trip.attempts else "cancelled"
    if last == "ok":
        return "ok", 200, None
    return "cancelled", 499, "client_disconnected"


def _requested_model(trip: Trip) -> str | None:
    if trip.plan.candidates:
        return trip.plan.candidates[0].model.id
    return trip.req.model
