"""Installing the peer gateways on demand into ignored folders under `bench/.peers/`, never the project's venv.

- LiteLLM: its own virtual environment `bench/.peers/litellm/venv` with `litellm[proxy]` pinned to a release
  from before the March 2026 PyPI compromise (1.82.7 and 1.82.8 shipped a credential stealer; the 1.107 line
  was pulled later). Its proxy refuses to start without a master key, so the harness sets one.
- Portkey: an npm folder `bench/.peers/portkey` with `@portkey-ai/gateway` pinned and `@hono/node-server` forced
  to 1.13.8 through `overrides` (1.15.2 answered every streaming request with a 500 otherwise; design.md 4).
  npm runs with `--ignore-scripts`: the gateway's `postinstall` runs `patch-package` for its own repo and is
  not needed by the published build.

A finished install leaves a marker file naming the pinned versions, so later runs reuse it. Any failure raises
`PeerUnavailable` with the reason; the run records the peer as skipped and goes on.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench._context import Ctx

__all__ = ["LITELLM_SPEC", "PORTKEY_VERSION", "PeerUnavailable", "ensure_litellm", "ensure_portkey", "peers_dir"]

LITELLM_SPEC = "litellm[proxy]==1.81.13"
PORTKEY_VERSION = "1.15.2"
HONO_NODE_SERVER_VERSION = "1.13.8"


class PeerUnavailable(RuntimeError):
    """A peer gateway could not be installed or found; the message says why."""


def peers_dir() -> Path:
    return Path(__file__).resolve().parent / ".peers"


def _run(ctx: Ctx, name: str, argv: list[str], cwd: Path, timeout: float) -> None:
    log = ctx.out / "logs" / f"install-{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink:
        try:
            result = subprocess.run(argv, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PeerUnavailable(f"{name} install failed: {exc}") from exc
    if result.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        raise PeerUnavailable(f"{name} install failed (exit {result.returncode}): {' | '.join(tail)}")


def ensure_litellm(ctx: Ctx) -> Path:
    """The `litellm` executable of the peer venv, installing it first if needed."""
    root = peers_dir() / "litellm"
    venv = root / "venv"
    exe = venv / "bin" / "litellm"
    marker = root / "installed.txt"
    if exe.exists() and marker.exists() and marker.read_text().strip() == LITELLM_SPEC:
        return exe
    root.mkdir(parents=True, exist_ok=True)
    ctx.log(f"installing {LITELLM_SPEC} into {venv} (once)")
    if not (venv / "bin" / "python").exists():
        _run(ctx, "litellm", [sys.executable, "-m", "venv", str(venv)], root, 300)
    _run(ctx, "litellm", [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", LITELLM_SPEC], root, 1200)
    if not exe.exists():
        raise PeerUnavailable(f"{LITELLM_SPEC} installed but {exe} is missing")
    marker.write_text(LITELLM_SPEC + "\n")
    return exe


def ensure_portkey(ctx: Ctx) -> Path:
    """The Portkey gateway's `build/start-server.js`, installing it first if needed."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise PeerUnavailable("node and npm are not installed (apt-get install -y nodejs npm)")
    root = peers_dir() / "portkey"
    entry = root / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
    marker = root / "installed.txt"
    pins = f"@portkey-ai/gateway@{PORTKEY_VERSION} @hono/node-server@{HONO_NODE_SERVER_VERSION}"
    if entry.exists() and marker.exists() and marker.read_text().strip() == pins:
        return entry
    root.mkdir(parents=True, exist_ok=True)
    ctx.log(f"installing {pins} into {root} (once)")
    package = {
        "name": "interlock-bench-portkey",
        "private": True,
        "dependencies": {"@portkey-ai/gateway": PORTKEY_VERSION, "@hono/node-server": HONO_NODE_SERVER_VERSION},
        "overrides": {"@hono/node-server": HONO_NODE_SERVER_VERSION},
    }
    (root / "package.json").write_text(json.dumps(package, indent=2) + "\n")
    _run(ctx, "portkey", ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts"], root, 900)
    if not entry.exists():
        raise PeerUnavailable(f"npm install finished but {entry} is missing")
    marker.write_text(pins + "\n")
    return entry
