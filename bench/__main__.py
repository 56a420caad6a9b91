"""Command line of the benchmark harness.

    python -m bench run [--lanes latency,throughput,...] [--smoke] [--out bench/results/<timestamp>]
                        [--generator auto|wrk|asyncio] [--no-peers | --peers litellm,portkey]
                        [--fmts responses,chat]
    python -m bench install-peers
    python -m bench report DIR          (re-render results.md and plots from DIR/results.json)

`run` starts everything it needs on 127.0.0.1, runs the lanes in order, stops every process it started (also
on Ctrl-C, SIGTERM or an error) and writes results.json, results.md and PNG plots to the output folder. A lane
that fails is reported with its error and the run goes on; exit status 0 when at least one lane produced
results, 1 otherwise, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import signal
import sys
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from bench import _peers
from bench._context import FULL, SMOKE, Ctx
from bench._load import Generator, wrk_available
from bench._procs import CpuPlan
from bench._report import build_document, check_requirements, collect_meta, write_report
from bench.lanes import LANES, SMOKE_LANES
from bench.lanes._common import PEERS


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Interlock benchmark harness.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="Run benchmark lanes.")
    run.add_argument("--lanes", default=None, help=f"Comma list of lanes (default: all): {', '.join(LANES)}.")
    run.add_argument("--smoke", action="store_true", help="Tiny durations, no peers, a couple of lanes (<1 min).")
    run.add_argument("--out", type=Path, default=None, help="Output folder (default bench/results/<timestamp>).")
    run.add_argument(
        "--generator",
        choices=("auto", "wrk", "asyncio"),
        default="auto",
        help="Load generator: wrk when installed (auto), or the asyncio one.",
    )
    peers = run.add_mutually_exclusive_group()
    peers.add_argument("--no-peers", action="store_true", help="Skip LiteLLM and Portkey.")
    peers.add_argument("--peers", default=None, help="Comma list of peers to include (default: all; smoke: none).")
    run.add_argument("--fmts", default=None, help="Client formats to run: responses,chat (smoke: responses).")
    sub.add_parser("install-peers", help="Install LiteLLM and Portkey into bench/.peers/ and exit.")
    report = sub.add_parser("report", help="Re-render results.md and the plots of a run from its results.json.")
    report.add_argument("dir", type=Path, help="The run's output folder.")
    return parser.parse_args(argv)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _install_peers() -> int:
    out = Path(__file__).resolve().parent / "results" / "install-peers"
    ctx = Ctx(profile=FULL, out=out, cpu=CpuPlan(None, None), generator="asyncio", peers_wanted=PEERS)
    status = 0
    for name, ensure in (("litellm", _peers.ensure_litellm), ("portkey", _peers.ensure_portkey)):
        try:
            print(f"{name}: {ensure(ctx)}")
        except _peers.PeerUnavailable as exc:
            print(f"{name}: unavailable: {exc}", file=sys.stderr)
            status = 1
    return status


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.command == "install-peers":
        return _install_peers()
    if args.command == "report":
        document = json.loads((args.dir / "results.json").read_text())
        paths = write_report(args.dir, document)
        print(f"results: {paths['markdown']}")
        return 0
    profile = SMOKE if args.smoke else FULL
    if args.fmts:
        fmts = tuple(f.strip() for f in args.fmts.split(",") if f.strip())
        if not fmts or any(f not in ("responses", "chat") for f in fmts):
            print("--fmts takes responses and/or chat", file=sys.stderr)
            return 2
        profile = dataclasses.replace(profile, fmts=fmts)
    lanes = (
        [x.strip() for x in args.lanes.split(",") if x.strip()]
        if args.lanes
        else list(SMOKE_LANES if args.smoke else LANES)
    )
    unknown = [x for x in lanes if x not in LANES]
    if unknown:
        print(f"unknown lane(s): {', '.join(unknown)}; choose from {', '.join(LANES)}", file=sys.stderr)
        return 2
    if args.no_peers or (args.smoke and args.peers is None):
        peers: tuple[str, ...] = ()
    elif args.peers is not None:
        peers = tuple(p.strip() for p in args.peers.split(",") if p.strip())
    else:
        peers = PEERS
    generator: Generator
    if args.generator == "auto":
        generator = "wrk" if wrk_available() else "asyncio"
    elif args.generator == "wrk" and not wrk_available():
        print("wrk is not installed (apt-get install -y wrk); use --generator asyncio", file=sys.stderr)
        return 2
    else:
        generator = args.generator
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
    out: Path = args.out or Path(__file__).resolve().parent / "results" / stamp
    out.mkdir(parents=True, exist_ok=True)

    ctx = Ctx(profile=profile, out=out.resolve(), cpu=CpuPlan.detect(), generator=generator, peers_wanted=peers)
    for problem in check_requirements():
        ctx.log(f"requirements: {problem} (pip install -r bench/requirements.txt)")
    if generator == "asyncio" and args.generator == "auto":
        ctx.notes.append("wrk is not installed: the asyncio generator was used (apt-get install -y wrk for wrk).")
    for peer in PEERS:
        if peer not in peers:
            ctx.skip(peer, "not requested in this run (--smoke runs no peers; see --peers)")
    ctx.log(f"{profile.name} run, lanes {', '.join(lanes)}; {ctx.cpu.describe()}; generator {generator}; out {out}")
    previous = {s: signal.signal(s, _interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    started = time.monotonic()
    interrupted = False
    try:
        for name in lanes:
            ctx.log(f"lane {name}")
            ctx.lane = name
            try:
                results[name] = LANES[name].run(ctx)
            except KeyboardInterrupt:
                raise
            except Exception as exc:
                errors[name] = f"{type(exc).__name__}: {exc}"
                (ctx.out / "logs").mkdir(parents=True, exist_ok=True)
                (ctx.out / "logs" / f"lane-{name}.txt").write_text(traceback.format_exc())
                ctx.log(f"lane {name} failed: {errors[name]}")
    except KeyboardInterrupt:
        interrupted = True
        ctx.notes.append("The run was interrupted; lanes after the interruption are missing.")
    finally:
        ctx.lane = ""
        ctx.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    meta = collect_meta(ctx)
    meta["wall_s"] = time.monotonic() - started
    meta["lanes"] = lanes
    paths = write_report(ctx.out, build_document(ctx, meta, results, errors))
    print(f"results: {paths['markdown']}")
    print(f"json:    {paths['json']}")
    if interrupted:
        return 130
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
