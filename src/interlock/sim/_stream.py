"""The stream writer: pacing at the configured tokens per second, and injected stream faults.

Protocol modules render a stream as a list of `Frame`s, each the exact bytes of one event plus the number of
tokens it carries. The writer sends frames without a weight at once, spaces weighted frames `weight / tps`
seconds apart (one deadline per frame from the stream start, so sleeps do not drift), and with no pacing and no
fault writes the whole stream in one call. Faults fire on the k-th weighted frame, k = min(3, max(1, n // 2)):
a malformed frame has its JSON cut in half; a drop closes the TCP connection after it, without the terminal
event or the final HTTP chunk; a mid-stream error writes the protocol's error frames after it and ends the body.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

from ._wire import Frame, corrupt_frame

__all__ = ["StreamFaults", "write_stream"]


@dataclass(frozen=True, slots=True)
class StreamFaults:
    """The faults drawn for one stream; `error_frames(n)` renders the in-stream error after `n` frames."""

    drop: bool = False
    malformed: bool = False
    error_frames: Callable[[int], bytes] | None = None

    @property
    def cuts(self) -> bool:
        return self.drop or self.error_frames is not None


async def write_stream(
    request: web.Request,
    response: web.StreamResponse,
    frames: Sequence[Frame],
    *,
    tps: float,
    faults: StreamFaults | None,
) -> web.StreamResponse:
    """Send `frames` on `response`, paced at `tps` (0 = no pacing), applying `faults`."""
    await response.prepare(request)
    if faults is None and tps <= 0:
        await response.write(b"".join(frame for frame, _ in frames))
        await response.write_eof()
        return response
    weighted = sum(1 for _, weight in frames if weight)
    fault_at = min(3, max(1, weighted // 2))
    loop = asyncio.get_running_loop()
    start = loop.time()
    buffer: list[bytes] = []
    tokens = 0
    seen = 0
    for index, (data, weight) in enumerate(frames):
        if not weight:
            buffer.append(data)
            continue
        seen += 1
        if tps > 0:
            tokens += weight
            delay = start + (tokens - 1) / tps - loop.time()
            if delay > 0:
                await _flush(response, buffer)
                await asyncio.sleep(delay)
        if faults is not None and seen == fault_at:
            if faults.malformed:
                data = corrupt_frame(data)
            if faults.cuts:
                buffer.append(data)
                if faults.error_frames is not None:
                    buffer.append(faults.error_frames(index + 1))
                await _flush(response, buffer)
                if faults.error_frames is not None:
                    await response.write_eof()
                elif request.transport is not None:
                    request.transport.close()
                return response
        buffer.append(data)
        if tps > 0:
            # A paced token goes out when it is due, not with the next one.
            await _flush(response, buffer)
    await _flush(response, buffer)
    await response.write_eof()
    return response


async def _flush(response: web.StreamResponse, buffer: list[bytes]) -> None:
    if buffer:
        await response.write(b"".join(buffer))
        buffer.clear()
