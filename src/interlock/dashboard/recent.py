"""The latest requests of this worker: a ring buffer fed by an engine observer, with each routing decision.

Theory of operation
-------------------
:class:`RecentObserver` sits among the gateway's observers. When a trip is planned it appends a
:class:`RecentRequest` (status ``running``) to the :class:`RequestLog` and hooks ``Trip.on_finish``; when the trip
finishes, fails or is cancelled the hook fills in the outcome from ``Gateway.routing_metadata(trip,
explain=True)``, so the decision shown is exactly the ``routing_metadata.decision`` a client asking for it got.
The entry keeps plain values only (no reference to the trip or the request body: prompts never stay in memory).

The request id and key id come from the request's telemetry probe (``telemetry.current_probe``), the same id as
the ``X-Request-ID`` response header. The log is per process: with ``--workers N`` each worker shows its own
requests. It is only installed when the dashboard is on (an admin key is configured), so the hot path pays
nothing otherwise; when on, recording costs one small dict per finished request.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Final, Literal

from interlock.engine.observer import NullObserver
from interlock.telemetry import current_probe

if TYPE_CHECKING:
    from interlock.engine import Gateway, Trip

__all__ = ["DEFAULT_CAPACITY", "RecentObserver", "RecentRequest", "RequestLog", "Status"]

DEFAULT_CAPACITY: Final = 500

Status = Literal["running", "ok", "error", "cancelled"]


@dataclass(slots=True)
class RecentRequest:
    """One request as the dashboard lists it (times in ms, cost in USD, ``None``: not known)."""

    seq: int
    request_id: str
    started_at: float  # unix seconds
    endpoint: str
    key_id: str | None
    requested_model: str | None
    stream: bool
    strategy: str
    status: Status = "running"
    model: str | None = None
    provider: str | None = None
    provider_model_id: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    ttft_ms: float | None = None
    latency_ms: float | None = None
    throughput_tps: float | None = None
    attempts: int = 0
    error_code: str | None = None
    error_message: str | None = None
    warnings: list[dict[str, Any]] = field(default_factory=list)
    decision: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, *, decision: bool = False) -> dict[str, Any]:
        """The entry as JSON-ready data (the decision only when asked for: it is the bulky part)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("decision", "warnings")}
        if decision:
            out["warnings"] = self.warnings
            out["decision"] = self.decision
        return out


class RequestLog:
    """The last ``capacity`` requests of this process, newest last; ``version`` moves on every change."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._entries: deque[RecentRequest] = deque(maxlen=capacity)
        self._by_id: dict[str, RecentRequest] = {}
        self._seq = 0
        self.version = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[RecentRequest]:
        return iter(self._entries)

    def add(self, entry: RecentRequest) -> None:
        if len(self._entries) == self.capacity:
            dropped = self._entries[0]
            if self._by_id.get(dropped.request_id) is dropped:
                del self._by_id[dropped.request_id]
        self._entries.append(entry)
        self._by_id[entry.request_id] = entry
        self.version += 1

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def changed(self) -> None:
        self.version += 1

    def get(self, request_id: str) -> RecentRequest | None:
        return self._by_id.get(request_id)

    def latest(self, limit: int) -> list[RecentRequest]:
        """Up to ``limit`` entries, newest first."""
        out: list[RecentRequest] = []
        for entry in reversed(self._entries):
            if len(out) >= limit:
                break
            out.append(entry)
        return out


def _status(trip: Trip) -> Status:
    if trip.error is not None:
        return "error"
    if trip.attempts and trip.attempts[-1].outcome == "ok":
        return "ok"
    return "cancelled"


class RecentObserver(NullObserver):
    """An engine observer recording every planned trip into a :class:`RequestLog` (see the module docstring)."""

    def __init__(self, log: RequestLog, gateway: Gateway) -> None:
        self.log = log
        self.gateway = gateway

    def trip_planned(self, trip: Trip, routing_ms: float) -> None:
        probe = current_probe()
        request_id = getattr(probe, "request_id", None) or "req_" + uuid.uuid4().hex
        endpoint = getattr(probe, "ingress", None) or "responses"
        entry = RecentRequest(
            seq=self.log.next_seq(),
            request_id=request_id,
            started_at=time.time(),
            endpoint=str(endpoint),
            key_id=getattr(probe, "key_id", None),
            requested_model=trip.req.model,
            stream=bool(trip.req.stream),
            strategy=trip.plan.strategy,
        )
        self.log.add(entry)
        trip.on_finish.append(lambda finished: self._finished(entry, finished))

    def _finished(self, entry: RecentRequest, trip: Trip) -> None:
        meta = self.gateway.routing_metadata(trip, explain=True)
        entry.status = _status(trip)
        entry.model = meta.get("model_canonical") or (
            trip.plan.candidates[0].model.id if trip.plan.candidates else None
        )
        entry.provider = meta.get("provider")
        entry.provider_model_id = meta.get("provider_model_id")
        entry.strategy = meta.get("routing_strategy") or entry.strategy
        cost = meta.get("cost")
        entry.cost_usd = cost.get("usd") if isinstance(cost, Mapping) else None
        entry.ttft_ms = meta.get("ttft_ms")
        entry.throughput_tps = meta.get("throughput_tps")
        if trip.usage is not None:
            entry.input_tokens = trip.usage.input_tokens
            entry.output_tokens = trip.usage.output_tokens
        end = trip.finished_at if trip.finished_at is not None else time.monotonic()
        entry.latency_ms = round((end - trip.started) * 1000, 1)
        entry.attempts = len(trip.attempts)
        if trip.error is not None:
            entry.error_code = trip.error.code
            entry.error_message = trip.error.message
        elif entry.status == "cancelled":
            entry.error_code = "client_disconnected"
        entry.warnings = list(meta.get("warnings") or [])
        entry.decision = dict(meta.get("decision") or {})
        self.log.changed()
