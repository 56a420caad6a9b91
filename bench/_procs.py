"""Processes the harness starts: CPU pinning, readiness polling, RSS from /proc, and guaranteed cleanup.

Every child is started in its own session (so it leads a process group) and registered in one `ProcRegistry`.
`ProcRegistry.close()` sends SIGTERM to each group, waits, then SIGKILLs what is left; `__main__` calls it from
a `finally` block and turns SIGTERM/SIGHUP into `KeyboardInterrupt`, so Ctrl-C, errors and a killed harness all
end with no stray servers. Only the harness's own children are ever signalled.

CPU plan (design.md section 4): on a machine with two or more cores the target under test runs alone on core 1,
while the load generator and the upstream share core 0. With one core nothing is pinned.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "CpuPlan",
    "Proc",
    "ProcRegistry",
    "free_port",
    "http_get_ok",
    "rss_bytes",
    "wait_http",
]


@dataclass(frozen=True, slots=True)
class CpuPlan:
    """Which cores the target and the load side (generator + upstream) run on; None means unpinned."""

    target: int | None
    load: int | None

    @classmethod
    def detect(cls) -> CpuPlan:
        cores = sorted(os.sched_getaffinity(0))
        if len(cores) >= 2 and shutil.which("taskset"):
            return cls(target=cores[1], load=cores[0])
        return cls(target=None, load=None)

    def describe(self) -> str:
        if self.target is None:
            return "unpinned (fewer than two cores or no taskset)"
        return f"target on core {self.target}; load generator and upstream on core {self.load}"


def pinned(argv: Sequence[str], core: int | None) -> list[str]:
    """`argv` prefixed with `taskset -c core` when a core is given."""
    if core is None:
        return list(argv)
    return ["taskset", "-c", str(core), *argv]


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Proc:
    """One started child: its name, Popen handle, log file and the TCP port it serves (if any)."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    port: int | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 20) -> str:
        """The last lines of the child's log, for error messages."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class ProcRegistry:
    """Starts children and stops all of them (process groups, TERM then KILL)."""

    logs: Path
    procs: list[Proc] = field(default_factory=list)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        core: int | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        port: int | None = None,
    ) -> Proc:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{name}.log"
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        with log.open("ab") as sink:
            popen = subprocess.Popen(
                pinned(argv, core),
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=full_env,
                cwd=cwd,
                start_new_session=True,
            )
        proc = Proc(name, popen, log, port)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc, timeout: float = 8.0) -> None:
        """Stop one child and its process group."""
        _terminate(proc.popen, timeout)
        if proc in self.procs:
            self.procs.remove(proc)

    def close(self) -> None:
        """Stop every child still registered, newest first."""
        for proc in reversed(list(self.procs)):
            with contextlib.suppress(Exception):
                _terminate(proc.popen, 5.0)
        self.procs.clear()


def _terminate(popen: subprocess.Popen[bytes], timeout: float) -> None:
    pgid = popen.pid  # start_new_session: the child leads its own group
    if popen.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout)
    # Grandchildren (uvicorn workers, node helpers) may outlive the leader: kill the group regardless.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        popen.wait(2.0)


def http_get_ok(url: str, timeout: float = 2.0, headers: Mapping[str, str] | None = None) -> bool:
    """Whether GET `url` answers with any HTTP status below 500."""
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status) < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (OSError, ValueError):
        return False


def wait_http(proc: Proc, path: str, timeout: float, headers: Mapping[str, str] | None = None) -> None:
    """Poll `proc`'s `path` until it answers; raise RuntimeError (with the log tail) on death or timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")
        if http_get_ok(proc.url + path, headers=headers):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} did not answer {path} within {timeout:.0f}s:\n{proc.tail()}")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: the ppid is the 2nd field after the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def rss_bytes(pid: int) -> int:
    """Resident set size of `pid` and all its descendants (bytes), read from /proc; 0 if it is gone."""
    tree = _children()
    total = 0
    stack = [pid]
    while stack:
        current = stack.pop()
        stack.extend(tree.get(current, ()))
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
                    break
        except OSError:
            continue
    return total
