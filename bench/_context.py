"""The state one harness run shares: profile (durations), output folders, processes, load generator, skips.

The upstreams are started lazily and kept for the whole run, pinned to the load core: the lean mock for the
speed lanes and the real simulator (zero delay, request recording off) for the `overhead` and `routing` lanes.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._load import Generator, Loader
from bench._procs import CpuPlan, Proc, ProcRegistry, free_port, wait_http

__all__ = ["FULL", "SMOKE", "Ctx", "Profile", "repo_root"]


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Profile:
    """How long and how hard each lane pushes."""

    name: str
    warmup: float
    measure: float
    latency_measure: float
    conns: tuple[int, ...]
    modes: tuple[str, ...]
    fmts: tuple[str, ...]
    stream_ns: tuple[int, ...]
    stream_measure: float
    memory_requests: int
    memory_cap_s: float
    routing_phase_s: float
    routing_clients: int
    overhead_conns: tuple[int, ...]
    translation_conns: int
    startup_timeout: float


FULL = Profile(
    name="full",
    warmup=2.0,
    measure=8.0,
    latency_measure=8.0,
    conns=(16, 64, 256),
    modes=("json", "sse"),
    fmts=("responses", "chat"),
    stream_ns=(64, 256, 512),
    stream_measure=3.0,
    memory_requests=100_000,
    memory_cap_s=240.0,
    routing_phase_s=12.0,
    routing_clients=4,
    overhead_conns=(1, 64),
    translation_conns=64,
    startup_timeout=90.0,
)

SMOKE = Profile(
    name="smoke",
    warmup=0.0,
    measure=1.0,
    latency_measure=1.0,
    conns=(64,),
    modes=("json", "sse"),
    fmts=("responses",),
    stream_ns=(16,),
    stream_measure=1.0,
    memory_requests=2_000,
    memory_cap_s=20.0,
    routing_phase_s=2.0,
    routing_clients=2,
    overhead_conns=(1, 64),
    translation_conns=16,
    startup_timeout=30.0,
)


@dataclass
class Ctx:
    """Everything a lane needs; `close()` stops every process the run started."""

    profile: Profile
    out: Path
    cpu: CpuPlan
    generator: Generator
    peers_wanted: tuple[str, ...]
    procs: ProcRegistry = field(init=False)
    loader: Loader = field(init=False)
    skipped: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    peer_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    lane: str = ""
    _mock: Proc | None = None
    _sim: Proc | None = None

    def __post_init__(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        self.procs = ProcRegistry(self.out / "logs")
        self.loader = Loader(self.work, self.generator, self.cpu.load)

    @property
    def work(self) -> Path:
        return self.out / "work"

    @property
    def smoke(self) -> bool:
        return self.profile.name == "smoke"

    def skip(self, what: str, reason: str) -> None:
        """Record that `what` was not measured and why (shown in the report)."""
        lines = [line.strip(" │╭╰─") for line in reason.strip().splitlines()]
        lines = [line for line in lines if line]
        # First line says what failed; for a crashed process the last log line usually says why.
        why = next((line for line in reversed(lines[1:]) if "rror" in line), lines[-1] if len(lines) > 1 else "")
        reason = (f"{lines[0]} ... {why}" if why else lines[0])[:400] if lines else "unknown reason"
        if self.lane:
            what = f"{what} (lane {self.lane})"
        if not any(s["what"] == what for s in self.skipped):
            self.skipped.append({"what": what, "reason": reason})
            print(f"bench: skipped {what}: {reason}", file=sys.stderr)

    def log(self, message: str) -> None:
        print(f"bench: {message}", file=sys.stderr, flush=True)

    def mock_url(self) -> str:
        """The lean mock upstream (started on first use)."""
        if self._mock is None or not self._mock.alive():
            port = free_port()
            argv = [sys.executable, "-m", "bench.mock_upstream", "--port", str(port)]
            proc = self.procs.start("mock-upstream", argv, core=self.cpu.load, cwd=repo_root(), port=port)
            wait_http(proc, "/healthz", 20)
            self._mock = proc
        return self._mock.url

    def sim_url(self) -> str:
        """The real simulator, zero delay, request recording off (started on first use)."""
        if self._sim is None or not self._sim.alive():
            port = free_port()
            config = self.work / "sim.yaml"
            config.write_text(json.dumps({"record_requests": False, "providers": {}}))
            argv = [sys.executable, "-m", "interlock", "sim", "--config", str(config), "--port", str(port)]
            proc = self.procs.start("simulator", argv, core=self.cpu.load, cwd=repo_root(), port=port)
            wait_http(proc, "/_sim/health", 30)
            self._sim = proc
        return self._sim.url

    def start_sim(self, name: str, config: dict[str, Any]) -> Proc:
        """A dedicated simulator with `config` (the routing lane steers its providers); caller stops it."""
        port = free_port()
        path = self.work / f"{name}.yaml"
        path.write_text(json.dumps(config))
        argv = [sys.executable, "-m", "interlock", "sim", "--config", str(path), "--port", str(port)]
        proc = self.procs.start(name, argv, core=self.cpu.load, cwd=repo_root(), port=port)
        wait_http(proc, "/_sim/health", 30)
        return proc

    def close(self) -> None:
        self.procs.close()
