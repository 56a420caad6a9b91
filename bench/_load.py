"""Running one load: wrk (with a generated Lua script) when installed, else the asyncio generator.

wrk (Debian's `wrk` 4.x) is one C thread on the load core; the Lua script sets the POST body and headers and
writes the summary and latency percentiles as JSON from `done()`. Both generators return the same summary
shape as `bench.aioload.run_load`. Stream-timing runs and request-budget runs (the memory lane's 100k
requests: wrk can only stop on time) always use the asyncio generator.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from bench._procs import pinned
from bench.aioload import LoadSpec

__all__ = ["Generator", "Loader", "wrk_available"]

Generator = Literal["wrk", "asyncio"]

_LUA = """\
wrk.method = "POST"
wrk.body = [==[{body}]==]
{headers}
function done(summary, latency, requests)
  local f = io.open([==[{out}]==], "w")
  local e = summary.errors
  f:write(string.format(
    '{{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50":%d,"p90":%d,"p99":%d,"mean":%f,"max":%d}}',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
  f:close()
end
"""


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


@dataclass
class Loader:
    """Runs loads on the load core with the chosen generator; scratch files go to `work`."""

    work: Path
    generator: Generator
    core: int | None
    counter: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)

    def _next(self, stem: str) -> Path:
        self.counter += 1
        return self.work / f"{self.counter:04d}-{stem}"

    def run(self, spec: LoadSpec, *, generator: Generator | None = None) -> dict[str, Any]:
        """Run `spec`; stream-timing and request-budget specs always go to the asyncio generator."""
        use = generator or self.generator
        if spec.stream_kind is not None or spec.max_requests is not None or use == "asyncio":
            return self._asyncio(spec)
        return self._wrk(spec)

    def _asyncio(self, spec: LoadSpec) -> dict[str, Any]:
        base = self._next("aioload")
        spec_path, out = base.with_suffix(".spec.json"), base.with_suffix(".out.json")
        spec_path.write_text(json.dumps(asdict(spec)))
        argv = pinned([sys.executable, "-m", "bench.aioload", str(spec_path), str(out)], self.core)
        limit = spec.warmup + spec.duration + spec.timeout + 30
        subprocess.run(argv, check=True, timeout=limit, cwd=Path(__file__).resolve().parent.parent)
        result: dict[str, Any] = json.loads(out.read_text())
        return result

    def _wrk(self, spec: LoadSpec) -> dict[str, Any]:
        base = self._next("wrk")
        script, out = base.with_suffix(".lua"), base.with_suffix(".out.json")
        headers = "\n".join(
            f'wrk.headers["{k}"] = [==[{v}]==]' for k, v in {"Content-Type": "application/json", **spec.headers}.items()
        )
        script.write_text(
            _LUA.format(
                body=spec.body,
                headers=headers,
                out=out,
            )
        )
        url = f"http://{spec.host}:{spec.port}{spec.path}"
        if spec.warmup > 0:
            self._wrk_once(script, url, spec.connections, spec.warmup, spec.timeout)
        self._wrk_once(script, url, spec.connections, spec.duration, spec.timeout)
        raw = json.loads(out.read_text())
        seconds = max(raw["duration_us"] / 1e6, 1e-9)
        errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
        ok = max(0, raw["requests"] - raw["status"])
        return {
            "generator": "wrk",
            "connections": spec.connections,
            "duration_s": round(seconds, 3),
            "requests": ok,
            "rps": ok / seconds,
            "errors": errors,
            "status_errors": raw["status"],
            "latency_ms": {
                "p50": raw["p50"] / 1000,
                "p90": raw["p90"] / 1000,
                "p99": raw["p99"] / 1000,
                "mean": raw["mean"] / 1000,
                "max": raw["max"] / 1000,
            },
        }

    def _wrk_once(self, script: Path, url: str, connections: int, seconds: float, timeout: float) -> None:
        argv = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            f"--timeout={max(1, round(timeout))}s",
            "-s",
            str(script),
            url,
        ]
        subprocess.run(
            pinned(argv, self.core),
            check=True,
            timeout=seconds + timeout + 30,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
