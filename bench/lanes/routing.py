"""Lane 6, routing quality: a replayed trace with drifting providers, through the real gateway routing code.

Theory of operation. Three simulated providers serve one model at three prices (cheap < mid < fast). The trace
has four phases; at each phase start the lane sets every provider's TTFT, TPS and availability (`error_rate`)
through the simulator's control API (`PUT /_sim/providers/{id}`):

    phase 0 steady        cheap slow-ish, mid middling, fast fast (the catalog priors say the same)
    phase 1 cheap outage  cheap fails every request
    phase 2 reversal      cheap becomes the fastest, mid and fast slow down
    phase 3 drift         cheap very slow, fast fails half its requests, mid is the sane choice

For each `gateway.routing.optimize` value a fresh Interlock (so no stats carry over) replays the trace with a
few closed-loop clients sending streamed requests. Each request records the provider that served it
(`routing_metadata.provider`), its cost (`routing_metadata.cost.usd`), the client-measured TTFT and the number
of attempts (`x-interlock-explain`). Every request is then replayed offline against two policies evaluated on
the true state of its phase: the *oracle* (providers ordered by the strategy's objective with perfect knowledge
of the current state) and the *static price sort* (cheapest listed price first, then fallback). A policy's
expected TTFT and cost walk its order: provider i is tried with probability prod(error_rate of those before),
and a simulated error returns at once, so only the serving provider's TTFT counts. "TTFT (schedule)" applies
the same model to the provider the gateway actually picked, isolating routing from gateway overhead.
"""

from __future__ import annotations

import asyncio
import functools
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._context import Ctx, repo_root
from bench._procs import Proc, pinned
from bench._targets import retrying, start_interlock
from bench.aioload import percentile
from bench.lanes._common import Lane, fmt_num, fmt_ratio, md_table, ratio

__all__ = ["LANE"]

# The `*-focus` values optimise "almost entirely" for one dimension, so the single-objective oracle is their fair
# yardstick; `cost`, `ttft` and `balanced` trade dimensions on purpose (auriko-api.md 2.3).
STRATEGIES = ("cost-focus", "cost", "ttft-focus", "ttft", "balanced")
OBJECTIVES = {
    "cost": "cost",
    "cost-focus": "cost",
    "ttft": "ttft",
    "ttft-focus": "ttft",
    "tps": "tps",
    "tps-focus": "tps",
    "balanced": "balanced",
}
OUTPUT_TOKENS = 32


@dataclass(frozen=True)
class State:
    ttft_ms: float
    tps: float
    error_rate: float = 0.0


PRICES: dict[str, tuple[float, float]] = {
    "route-cheap": (0.10, 0.40),
    "route-mid": (0.60, 1.80),
    "route-fast": (2.00, 8.00),
}
PHASES: list[tuple[str, dict[str, State]]] = [
    ("steady", {"route-cheap": State(500, 60), "route-mid": State(250, 120), "route-fast": State(90, 300)}),
    ("cheap outage", {"route-cheap": State(500, 60, 1.0), "route-mid": State(250, 120), "route-fast": State(90, 300)}),
    ("reversal", {"route-cheap": State(120, 250), "route-mid": State(900, 40), "route-fast": State(700, 60)}),
    ("drift", {"route-cheap": State(1100, 30), "route-mid": State(220, 150), "route-fast": State(90, 300, 0.5)}),
]


def _cost(provider: str, tokens_in: int, tokens_out: int) -> float:
    price_in, price_out = PRICES[provider]
    return (tokens_in * price_in + tokens_out * price_out) / 1e6


def _order(objective: str, state: dict[str, State], tokens_in: int, tokens_out: int) -> list[str]:
    """Providers in the order a policy with perfect knowledge of `state` would try them."""
    names = list(state)
    cost = {n: _cost(n, tokens_in, tokens_out) for n in names}
    ttft = {n: state[n].ttft_ms for n in names}
    slow = {n: 1 / state[n].tps for n in names}

    def norm(values: dict[str, float]) -> dict[str, float]:
        lo, hi = min(values.values()), max(values.values())
        return {n: 0.0 if hi == lo else (v - lo) / (hi - lo) for n, v in values.items()}

    if objective == "cost":
        metric = cost
    elif objective == "ttft":
        metric = ttft
    elif objective == "tps":
        metric = slow
    else:
        c, t, s = norm(cost), norm(ttft), norm(slow)
        metric = {n: (c[n] + t[n] + s[n]) / 3 + 1e-9 for n in names}

    def key(n: str) -> float:
        e = state[n].error_rate
        return float("inf") if e >= 1 else (metric[n] + 1e-12) / (1 - e)

    return sorted(names, key=key)


def _expected(order: list[str], state: dict[str, State], tokens_in: int, tokens_out: int) -> dict[str, Any]:
    reach, ttft, cost = 1.0, 0.0, 0.0
    for n in order:
        e = state[n].error_rate
        ttft += reach * (1 - e) * state[n].ttft_ms
        cost += reach * (1 - e) * _cost(n, tokens_in, tokens_out)
        reach *= e
    success = 1 - reach
    return {
        "first": order[0],
        "ttft_ms": ttft / success if success else None,
        "cost_usd": cost / success if success else None,
        "fail": reach,
    }


def _sim_config(protocol: str) -> dict[str, Any]:
    state = PHASES[0][1]
    return {
        "record_requests": False,
        "seed": 7,
        "providers": {
            n: {
                "protocol": protocol,
                "behaviour": {
                    "ttft_ms": s.ttft_ms,
                    "tps": s.tps,
                    "error_rate": s.error_rate,
                    "error_status": 503,
                    "output_tokens": OUTPUT_TOKENS,
                },
            }
            for n, s in state.items()
        },
    }


def _gateway_config(ctx: Ctx, sim_url: str, tag: str) -> dict[str, Any]:
    providers = [
        {
            "id": n,
            "protocol": "openai-responses",
            "base_url": f"{sim_url}/p/{n}/v1",
            "api_key": "sk-bench",
            "data_policy": "zdr",
        }
        for n in PRICES
    ]
    offerings = [
        {
            "provider": n,
            "provider_model_id": "route-model",
            "input_price": PRICES[n][0],
            "output_price": PRICES[n][1],
            "capabilities": ["streaming", "tools"],
            "priors": {"ttft_ms": s.ttft_ms, "tps": s.tps},
        }
        for n, s in PHASES[0][1].items()
    ]
    return {
        "catalog": "none",
        "database_url": f"sqlite:///{ctx.work / f'{tag}.db'}",
        "log_level": "warning",
        "providers": providers,
        "models": [{"id": "route-model", "offerings": offerings}],
    }


async def _apply(session: Any, sim_url: str, state: dict[str, State]) -> None:
    for name, s in state.items():
        patch = {"ttft_ms": s.ttft_ms, "tps": s.tps, "error_rate": s.error_rate}
        async with session.put(f"{sim_url}/_sim/providers/{name}", json=patch) as resp:
            if resp.status != 200:
                raise RuntimeError(f"simulator control API answered {resp.status}: {await resp.text()}")


async def _request(session: Any, url: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    import aiohttp

    sent = time.perf_counter()
    rec: dict[str, Any] = {"sent": sent, "ok": False}
    try:
        async with session.post(url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=60)) as resp:
            rec["status"] = resp.status
            final: dict[str, Any] | None = None
            async for line in resp.content:
                if "ttft_ms" not in rec and b"output_text.delta" in line:
                    rec["ttft_ms"] = (time.perf_counter() - sent) * 1000
                if line.startswith(b"data:") and (
                    b"response.completed" in line or b"response.failed" in line or b"response.incomplete" in line
                ):
                    final = json.loads(line[5:]).get("response")
            rec["total_ms"] = (time.perf_counter() - sent) * 1000
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        rec["error"] = f"{type(exc).__name__}: {exc}"
        return rec
    if final is not None:
        meta = final.get("routing_metadata") or {}
        usage = final.get("usage") or {}
        rec.update(
            ok=final.get("status") == "completed" and rec.get("status") == 200,
            provider=meta.get("provider"),
            cost_usd=(meta.get("cost") or {}).get("usd"),
            input_tokens=usage.get("input_tokens"),
            output_tokens=usage.get("output_tokens"),
            attempts=len(((meta.get("decision") or {}).get("attempts")) or []) or None,
        )
    return rec


async def _trace(ctx: Ctx, sim_url: str, gateway: Proc, key: str, strategy: str) -> list[dict[str, Any]]:
    import aiohttp

    phase_s = ctx.profile.routing_phase_s
    body = json.dumps(
        {
            "model": "route-model",
            "input": "Routing trace request.",
            "stream": True,
            "gateway": {"routing": {"optimize": strategy}},
        }
    ).encode()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "x-interlock-explain": "1"}
    records: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session:
        await _apply(session, sim_url, PHASES[0][1])
        t0 = time.perf_counter()
        end = t0 + phase_s * len(PHASES)

        async def driver() -> None:
            for index in range(1, len(PHASES)):
                await asyncio.sleep(max(0.0, t0 + index * phase_s - time.perf_counter()))
                await _apply(session, sim_url, PHASES[index][1])

        async def client() -> None:
            while time.perf_counter() < end:
                rec = await _request(session, f"{gateway.url}/v1/responses", body, headers)
                rec["t"] = round(rec.pop("sent") - t0, 3)
                rec["phase"] = min(int(rec["t"] // phase_s), len(PHASES) - 1)
                records.append(rec)

        await asyncio.gather(driver(), *(client() for _ in range(ctx.profile.routing_clients)))
    return records


def _summarise(strategy: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    objective = OBJECTIVES.get(strategy, "cost")
    gateway_cost, gateway_ttft, model_ttft, oracle_hits = [], [], [], 0
    policies: dict[str, dict[str, list[float]]] = {
        "oracle": {"cost": [], "ttft": []},
        "static price sort": {"cost": [], "ttft": []},
    }
    shares: dict[str, int] = {}
    failures = 0
    for rec in records:
        state = PHASES[rec["phase"]][1]
        tin = rec.get("input_tokens") or 10
        tout = rec.get("output_tokens") or OUTPUT_TOKENS
        oracle = _expected(_order(objective, state, tin, tout), state, tin, tout)
        static = _expected(sorted(PRICES, key=lambda n: sum(PRICES[n])), state, tin, tout)
        for name, value in (("oracle", oracle), ("static price sort", static)):
            if value["ttft_ms"] is not None:
                policies[name]["ttft"].append(value["ttft_ms"])
                policies[name]["cost"].append(value["cost_usd"])
        provider = rec.get("provider")
        if not rec["ok"]:
            failures += 1
            continue
        shares[provider or "unknown"] = shares.get(provider or "unknown", 0) + 1
        if provider in PRICES:
            cost = rec.get("cost_usd")
            gateway_cost.append(cost if cost is not None else _cost(provider, tin, tout))
            model_ttft.append(state[provider].ttft_ms)
            oracle_hits += provider == oracle["first"]
        if "ttft_ms" in rec:
            gateway_ttft.append(rec["ttft_ms"])

    def mean(values: list[float], scale: float = 1.0) -> float | None:
        return scale * sum(values) / len(values) if values else None

    rows: list[dict[str, Any]] = [
        {
            "policy": "Interlock",
            "requests": len(records),
            "failures": failures,
            "cost_per_1k_usd": mean(gateway_cost, 1000),
            "ttft_mean_ms": mean(gateway_ttft),
            "ttft_p50_ms": percentile(gateway_ttft, 50),
            "ttft_p99_ms": percentile(gateway_ttft, 99),
            "ttft_schedule_ms": mean(model_ttft),
            "oracle_agreement": round(oracle_hits / max(1, len(records) - failures), 3),
            "shares": shares,
        }
    ]
    for name, values in policies.items():
        rows.append(
            {
                "policy": name,
                "requests": len(records),
                "failures": None,
                "cost_per_1k_usd": mean(values["cost"], 1000),
                "ttft_mean_ms": None,
                "ttft_p50_ms": None,
                "ttft_p99_ms": None,
                "ttft_schedule_ms": mean(values["ttft"]),
            }
        )
    orc, stat = rows[1], rows[2]
    for row in rows:
        row["cost_vs_oracle"] = ratio(row["cost_per_1k_usd"], orc["cost_per_1k_usd"])
        row["cost_vs_static"] = ratio(row["cost_per_1k_usd"], stat["cost_per_1k_usd"])
        row["ttft_vs_oracle"] = ratio(row["ttft_schedule_ms"], orc["ttft_schedule_ms"])
        row["ttft_vs_static"] = ratio(row["ttft_schedule_ms"], stat["ttft_schedule_ms"])
    return {"strategy": strategy, "objective": objective, "rows": rows}


_ENGINE_TIMING = """
import dataclasses, json
from interlock.routing import bench_rank
print(json.dumps(dataclasses.asdict(bench_rank(%d))))
"""


def _engine_timing(ctx: Ctx) -> dict[str, Any] | None:
    """`interlock.routing.bench_rank` (stats snapshot + rank, no HTTP) on the target core, when it exists."""
    n = 2_000 if ctx.smoke else 20_000
    argv = pinned([sys.executable, "-c", _ENGINE_TIMING % n], ctx.cpu.target)
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=repo_root())
    except (OSError, subprocess.SubprocessError) as exc:
        ctx.skip("routing engine timing", str(exc))
        return None
    if result.returncode != 0:
        ctx.skip("routing engine timing", result.stderr.strip() or f"exit {result.returncode}")
        return None
    timing: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return timing


def run(ctx: Ctx) -> dict[str, Any]:
    engine = _engine_timing(ctx)
    sim = ctx.start_sim("routing-sim", _sim_config("openai-responses"))
    results: list[dict[str, Any]] = []
    traces: dict[str, list[dict[str, Any]]] = {}
    try:
        for strategy in STRATEGIES:
            tag = f"routing-{strategy}"
            try:
                gateway, key = retrying(
                    ctx,
                    tag,
                    functools.partial(start_interlock, ctx, tag, _gateway_config(ctx, sim.url, tag)),
                    ctx.profile.startup_timeout,
                )
            except RuntimeError as exc:
                ctx.skip(f"routing/{strategy}", str(exc))
                continue
            try:
                records = asyncio.run(_trace(ctx, sim.url, gateway, key, strategy))
            finally:
                ctx.procs.stop(gateway)
            if not any(r["ok"] for r in records):
                first = next((r.get("error") or f"HTTP {r.get('status')}" for r in records), "no requests")
                ctx.skip(f"routing/{strategy}", f"no request through the gateway succeeded ({first})")
                continue
            summary = _summarise(strategy, records)
            ctx.log(f"routing {strategy}: {len(records)} requests, shares {summary['rows'][0]['shares']}")
            results.append(summary)
            traces[strategy] = records
    finally:
        ctx.procs.stop(sim)
    phases = [{"name": name, "state": {n: vars(s) for n, s in state.items()}} for name, state in PHASES]
    return {
        "strategies": results,
        "traces": traces,
        "phases": phases,
        "phase_s": ctx.profile.routing_phase_s,
        "prices": PRICES,
        "engine": engine,
    }


def markdown(result: dict[str, Any]) -> str:
    headers = [
        "optimize",
        "policy",
        "requests",
        "failures",
        "cost $/1k req",
        "TTFT mean ms (measured)",
        "TTFT p99 ms (measured)",
        "TTFT ms (schedule)",
        "cost vs oracle",
        "cost vs static",
        "TTFT vs oracle",
        "TTFT vs static",
        "same first choice as oracle",
        "served by",
    ]
    body = []
    for block in result["strategies"]:
        for r in block["rows"]:
            shares = ", ".join(f"{k.removeprefix('route-')} {v}" for k, v in sorted(r.get("shares", {}).items()))
            body.append(
                [
                    block["strategy"],
                    r["policy"],
                    str(r["requests"]),
                    fmt_num(r["failures"]),
                    fmt_num(r["cost_per_1k_usd"], 4),
                    fmt_num(r["ttft_mean_ms"]),
                    fmt_num(r["ttft_p99_ms"]),
                    fmt_num(r["ttft_schedule_ms"]),
                    fmt_ratio(r["cost_vs_oracle"]),
                    fmt_ratio(r["cost_vs_static"]),
                    fmt_ratio(r["ttft_vs_oracle"]),
                    fmt_ratio(r["ttft_vs_static"]),
                    "-" if r.get("oracle_agreement") is None else f"{r['oracle_agreement']:.0%}",
                    shares or "-",
                ]
            )
    phases = "; ".join(
        f"{i} {p['name']}: "
        + ", ".join(
            f"{n.removeprefix('route-')} {s['ttft_ms']:.0f}ms/{s['tps']:.0f}tps"
            + (f"/err {s['error_rate']:.0%}" if s["error_rate"] else "")
            for n, s in p["state"].items()
        )
        for i, p in enumerate(result["phases"])
    )
    text = md_table(headers, body) + f"\n\nTrace ({result['phase_s']:.0f} s per phase): {phases}."
    engine = result.get("engine")
    if engine:
        text += (
            f"\n\nRouting engine alone (`interlock.routing.bench_rank`, stats snapshot + rank, {engine['n']:,} calls, "
            f"{engine['candidates']} candidates, target core): p50 {engine['p50_us']:.1f} us, "
            f"p99 {engine['p99_us']:.1f} us, mean {engine['mean_us']:.1f} us."
        )
    return text


def plot(result: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    traces = result["traces"]
    if not traces:
        return []
    fig, axes = plt.subplots(len(traces), 1, figsize=(10, 3 * len(traces)), squeeze=False)
    colours = {"route-cheap": "tab:green", "route-mid": "tab:blue", "route-fast": "tab:red"}
    for ax, (strategy, records) in zip(axes[:, 0], traces.items(), strict=True):
        for provider, colour in colours.items():
            sel = [r for r in records if r.get("provider") == provider and "ttft_ms" in r]
            ax.scatter(
                [r["t"] for r in sel], [r["ttft_ms"] for r in sel], s=8, c=colour, label=provider.removeprefix("route-")
            )
        failed = [r for r in records if not r["ok"]]
        ax.scatter([r["t"] for r in failed], [1] * len(failed), s=12, c="black", marker="x", label="failed")
        for index in range(1, len(result["phases"])):
            ax.axvline(index * result["phase_s"], color="grey", ls="--", lw=0.8)
        ax.set_yscale("log")
        ax.set_ylabel("TTFT ms")
        ax.set_title(f"optimize={strategy}: served provider and measured TTFT over the trace")
        ax.legend(fontsize=7, loc="upper left")
    axes[-1, 0].set_xlabel("seconds into the trace")
    fig.tight_layout()
    path = out / "routing.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


LANE = Lane("routing", "Routing quality on a drifting trace", run, markdown, plot)
