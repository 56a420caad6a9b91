"""Schemathesis against the served ``/openapi.json``: every operation, a bounded number of generated cases each,
with a real API key. The check (``schemathesis_hooks.documented_errors``): every error is the documented
envelope and no answer is a crash; a 5xx is only ever a documented server-side code (e.g. 503
``no_provider_available`` when generated routing constraints exclude every offering)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.fuzz.conftest import FuzzWorld

EXAMPLES_PER_OPERATION = 25
ROOT = Path(__file__).resolve().parents[2]


def test_openapi_operations_never_answer_a_server_error(fuzz_world: FuzzWorld, tmp_path: Path) -> None:
    base = fuzz_world.gateway.base_url
    spec = httpx.get(base + "/openapi.json")
    assert spec.status_code == 200
    operations = sum(len(methods) for methods in spec.json()["paths"].values())
    report = tmp_path / "schemathesis.json"
    cmd = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{base}/openapi.json",
        "--url",
        base,
        "--header",
        f"Authorization: Bearer {fuzz_world.key}",
        "--checks",
        "documented_errors",  # tests/fuzz/schemathesis_hooks.py
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--phases",
        "examples,fuzzing",  # the coverage phase alone generates thousands of cases
        "--workers",
        "1",
        "--seed",
        "20260101",
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--exclude-path",
        "/metrics",  # Prometheus text, not JSON; covered by the ops tests
    ]
    before = fuzz_world.upstream_calls()
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz.schemathesis_hooks", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path, env=env)
    output = done.stdout[-6000:] + done.stderr[-3000:]
    assert done.returncode == 0, output
    summary = json.loads(report.read_text()) if report.exists() else {}
    fuzz_world.stats["schemathesis_operations"] += operations
    fuzz_world.stats["schemathesis_upstream_calls"] += fuzz_world.upstream_calls() - before
    cases = summary.get("statistic", {}).get("total", {}) if isinstance(summary, dict) else {}
    if cases:
        fuzz_world.stats["schemathesis_cases"] += int(cases.get("cases", 0) or 0)
    print(output.splitlines()[-1] if output.strip() else "")


if not any(p.name == "schemathesis" for p in Path(sys.prefix, "lib").glob("python*/site-packages/*")):
    pytestmark = pytest.mark.skip(reason="schemathesis is not installed (pip install -e '.[test]')")
