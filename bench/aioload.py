"""The asyncio load generator: closed-loop HTTP/1.1 keep-alive clients on uvloop + httptools, in one process.

Used where wrk cannot go (per-frame timing of SSE streams) and instead of wrk when wrk is not installed. Each
of `connections` clients sends the same request back to back until `duration` ends (or `max_requests` are
done); requests that complete inside the measured window (after `warmup`) count toward rps and latency. In
stream mode every SSE event is split out as it arrives and the events that carry a text token (a Responses
`output_text.delta`, a Chat chunk with non-empty `content`) are time-stamped, giving time to first token,
inter-token gaps, frames arriving later than their slot (`first + i * interval + interval`) and frames lost
(fewer than `expected_tokens`, including streams that failed: an HTTP error, a reset or the `timeout`).

The generator's own ceiling is measured in the same run (the throughput lane sends it to the direct upstream
next to wrk), so a result can be checked for "the generator was the bottleneck".

Run: `python -m bench.aioload SPEC.json OUT.json` (SPEC holds the `LoadSpec` fields).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import httptools

__all__ = ["LoadSpec", "StreamStats", "main", "percentile", "run_load"]

TOKEN_PATTERNS: dict[str, re.Pattern[bytes]] = {
    "responses": re.compile(rb"output_text\.delta"),
    "chat": re.compile(rb'"content"\s*:\s*"[^"]'),
}


@dataclass
class LoadSpec:
    """One load run against one URL (all fields JSON-serialisable)."""

    host: str
    port: int
    path: str
    body: str
    headers: dict[str, str] = field(default_factory=dict)
    connections: int = 1
    duration: float = 5.0
    warmup: float = 0.0
    max_requests: int | None = None
    timeout: float = 60.0
    stream_kind: str | None = None
    interval_ms: float = 20.0
    expected_tokens: int = 0


@dataclass
class StreamStats:
    streams: int = 0
    failed: int = 0
    tokens: int = 0
    lost: int = 0
    late: int = 0
    ttft: list[float] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of `values` (0 when empty); `q` in 0..100."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


class _Conn(asyncio.Protocol):
    """One keep-alive connection; `request()` sends and waits for the whole response."""

    def __init__(self, pattern: re.Pattern[bytes] | None) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[int] | None = None
        self.pattern = pattern
        self.buffer = b""
        self.token_times: list[float] = []
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed"))

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_exception(exc)
            if self.transport is not None:
                self.transport.close()

    def on_body(self, body: bytes) -> None:
        if self.pattern is None:
            return
        now = time.perf_counter()
        self.buffer += body.replace(b"\r\n", b"\n")
        while True:
            cut = self.buffer.find(b"\n\n")
            if cut < 0:
                break
            event, self.buffer = self.buffer[:cut], self.buffer[cut + 2 :]
            if self.pattern.search(event):
                self.token_times.append(now)

    def on_message_complete(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(self.parser.get_status_code())

    def start(self, payload: bytes) -> asyncio.Future[int]:
        assert self.transport is not None
        self.buffer = b""
        self.token_times = []
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return self.waiter


@dataclass
class _Totals:
    ok: int = 0
    errors: int = 0
    status_errors: int = 0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    stream: StreamStats = field(default_factory=StreamStats)
    started: int = 0


def _request_bytes(spec: LoadSpec) -> bytes:
    body = spec.body.encode()
    lines = [f"POST {spec.path} HTTP/1.1", f"Host: {spec.host}:{spec.port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in spec.headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _record_stream(spec: LoadSpec, totals: _Totals, sent: float, times: list[float], failed: bool) -> None:
    stats = totals.stream
    stats.streams += 1
    stats.failed += failed
    stats.tokens += len(times)
    stats.lost += max(0, spec.expected_tokens - len(times))
    if not times:
        return
    stats.ttft.append((times[0] - sent) * 1000)
    interval = spec.interval_ms / 1000
    for i in range(1, len(times)):
        stats.gaps.append((times[i] - times[i - 1]) * 1000)
        if times[i] - (times[0] + i * interval) > interval:
            stats.late += 1


async def _client(spec: LoadSpec, payload: bytes, totals: _Totals, window: tuple[float, float]) -> None:
    loop = asyncio.get_running_loop()
    pattern = TOKEN_PATTERNS.get(spec.stream_kind or "")
    conn: _Conn | None = None
    start, end = window
    while time.perf_counter() < end:
        if spec.max_requests is not None:
            if totals.started >= spec.max_requests:
                return
            totals.started += 1
        if conn is None or conn.closed:
            try:
                _, conn = await loop.create_connection(lambda: _Conn(pattern), spec.host, spec.port)
            except OSError:
                totals.errors += 1
                await asyncio.sleep(0.05)
                continue
        sent = time.perf_counter()
        try:
            status = await asyncio.wait_for(conn.start(payload), spec.timeout)
        except (TimeoutError, ConnectionError, httptools.HttpParserError):
            if conn.transport is not None:
                conn.transport.close()
            conn = None
            totals.errors += 1
            if pattern is not None:
                _record_stream(spec, totals, sent, [], True)
            continue
        done = time.perf_counter()
        if pattern is not None:
            _record_stream(spec, totals, sent, conn.token_times, not 200 <= status < 300)
        totals.statuses[str(status)] = totals.statuses.get(str(status), 0) + 1
        if not 200 <= status < 300:
            totals.status_errors += 1
        elif start <= done <= end:
            totals.ok += 1
            totals.latencies.append((done - sent) * 1000)
        if not conn.parser.should_keep_alive():
            if conn.transport is not None:
                conn.transport.close()
            conn = None
    if conn is not None and conn.transport is not None:
        conn.transport.close()


async def run_load(spec: LoadSpec) -> dict[str, Any]:
    """Run the load described by `spec` and return the summary (see module docstring)."""
    payload = _request_bytes(spec)
    totals = _Totals()
    begin = time.perf_counter()
    window = (begin + spec.warmup, begin + spec.warmup + spec.duration)
    clients = [_client(spec, payload, totals, window) for _ in range(spec.connections)]
    await asyncio.gather(*clients)
    finished = time.perf_counter()
    measured = min(finished, window[1]) - window[0] if spec.max_requests is None else finished - window[0]
    measured = max(measured, 1e-9)
    lat = totals.latencies
    result: dict[str, Any] = {
        "generator": "asyncio",
        "connections": spec.connections,
        "duration_s": round(measured, 3),
        "requests": totals.ok,
        "rps": totals.ok / measured,
        "errors": totals.errors,
        "status_errors": totals.status_errors,
        "statuses": totals.statuses,
        "latency_ms": {
            "p50": percentile(lat, 50),
            "p90": percentile(lat, 90),
            "p99": percentile(lat, 99),
            "mean": sum(lat) / len(lat) if lat else 0.0,
            "max": max(lat) if lat else 0.0,
        },
    }
    if spec.stream_kind is not None:
        stats = totals.stream
        gaps = stats.gaps
        ttft = stats.ttft
        # None, not 0, when no token (or no second token) arrived: there is nothing to report.
        result["stream"] = {
            "streams": stats.streams,
            "failed_streams": stats.failed,
            "tokens": stats.tokens,
            "expected_tokens_per_stream": spec.expected_tokens,
            "lost_frames": stats.lost,
            "late_frames": stats.late,
            "ttft_ms": {"p50": percentile(ttft, 50) if ttft else None, "p99": percentile(ttft, 99) if ttft else None},
            "itl_ms": {
                "mean": sum(gaps) / len(gaps) if gaps else None,
                "p50": percentile(gaps, 50) if gaps else None,
                "p99": percentile(gaps, 99) if gaps else None,
                "max": max(gaps) if gaps else None,
            },
        }
    return result


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        raise SystemExit("usage: python -m bench.aioload SPEC.json OUT.json")
    with open(args[0], encoding="utf-8") as f:
        spec = LoadSpec(**json.load(f))
    try:
        import uvloop

        result = uvloop.run(run_load(spec))
    except ImportError:
        result = asyncio.run(run_load(spec))
    result["spec"] = {k: v for k, v in asdict(spec).items() if k not in ("body", "headers")}
    with open(args[1], "w", encoding="utf-8") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
