"""The benchmark lanes, in the order a full run executes them (``LANES`` maps name -> `Lane`)."""

from __future__ import annotations

from bench.lanes import latency, memory, overhead, routing, streams, switches, throughput, translation
from bench.lanes._common import Lane

LANES: dict[str, Lane] = {
    lane.name: lane
    for lane in (
        latency.LANE,
        throughput.LANE,
        streams.LANE,
        translation.LANE,
        memory.LANE,
        routing.LANE,
        overhead.LANE,
        switches.LANE,
    )
}
SMOKE_LANES = ("throughput", "overhead")

__all__ = ["LANES", "SMOKE_LANES", "Lane"]
