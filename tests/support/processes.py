"""Interlock as separate processes for operations tests: ``interlock sim``, ``interlock keys``, ``interlock serve``.

Each process gets its own session (process group), so a test can signal the server and its workers, and its
output goes to a file (no pipe to fill up). Every wait is bounded; ``Proc.kill`` is safe to call in ``finally``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class Proc:
    """A ``python -m interlock ...`` child process with its output in ``out``/``err`` files."""

    def __init__(self, args: list[str], workdir: Path, name: str, env: dict[str, str] | None = None) -> None:
        self.out_path = workdir / f"{name}.out"
        self.err_path = workdir / f"{name}.err"
        self._out = self.out_path.open("wb")
        self._err = self.err_path.open("wb")
        full_env = {**os.environ, **(env or {})}
        full_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "interlock", *args],
            stdout=self._out,
            stderr=self._err,
            stdin=subprocess.DEVNULL,
            cwd=workdir,
            env=full_env,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait_for_output(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.stdout())
            if found:
                return found
            if self.popen.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"no {pattern!r} in the output:\n{self.stdout()}\n{self.stderr()}")

    def terminate(self) -> None:
        """SIGTERM to the process itself (a server relays it to its workers)."""
        self.popen.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout)

    def kill(self) -> None:
        """SIGKILL to the whole process group, then reap; safe to call more than once."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)
        self._out.close()
        self._err.close()


def start_sim(config: Path, workdir: Path) -> tuple[Proc, str]:
    """``interlock sim`` on a free port; returns the process and its root URL."""
    proc = Proc(["sim", "--config", str(config), "--port", "0"], workdir, "sim")
    try:
        found = proc.wait_for_output(r"listening on (http://127\.0\.0\.1:\d+)")
    except BaseException:
        proc.kill()
        raise
    return proc, found.group(1)


def create_key(config: Path, workdir: Path, name: str = "ops") -> str:
    """``interlock keys create``: the key is alone on the last line of stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "interlock", "keys", "create", "--config", str(config), "--name", name],
        capture_output=True,
        text=True,
        cwd=workdir,
        timeout=60,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1].strip()


def start_gateway(config: Path, workdir: Path, port: int, *, workers: int = 1, timeout: float = 60.0) -> Proc:
    """``interlock serve`` on ``port``, returned once ``/readyz`` answers 200 (bounded by ``timeout``)."""
    args = ["serve", "--config", str(config), "--port", str(port)]
    if workers > 1:
        args += ["--workers", str(workers)]
    proc = Proc(args, workdir, "gateway")
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc, timeout)
    except BaseException:
        proc.kill()
        raise
    return proc


def wait_ready(base_url: str, proc: Proc, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"the gateway exited with {proc.popen.returncode}:\n{proc.stderr()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(base_url + "/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the gateway was not ready within {timeout} s:\n{proc.stderr()}")


__all__ = ["Proc", "create_key", "free_port", "start_gateway", "start_sim", "wait_ready", "write_yaml"]
