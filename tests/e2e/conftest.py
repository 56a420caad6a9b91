"""Dashboard fixtures: the real gateway in its embedded default (simulated providers) with an admin key, one
without, and headless Chromium driven by Playwright.

Chromium is Debian's (``apt-get install chromium``, done by ``.ci/run``); Playwright only drives it, so no
browser is downloaded. When it cannot be found or started, the browser tests fail with the reason under CI
(``CI`` set) and are skipped elsewhere.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from tests.support.servers import GatewayServer, LoopThread

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ADMIN_KEY = "adm_e2e_" + "k" * 32
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def browser_unavailable(reason: str, *, module_level: bool = False) -> NoReturn:
    """Fail under CI (the browser is part of the test contract there), skip elsewhere."""
    message = f"headless Chromium is unavailable for the dashboard e2e tests: {reason}"
    if in_ci():
        pytest.fail(message + " (CI is set, so this fails instead of skipping; .ci/run installs Debian's chromium)")
    pytest.skip(message, allow_module_level=module_level)


def find_chromium() -> str | None:
    explicit = os.environ.get("INTERLOCK_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.stop()


def embedded_config(db: Path, admin_key: str | None) -> dict[str, Any]:
    """The embedded default: no providers in the config and no provider key in the environment."""
    config: dict[str, Any] = {"database_url": f"sqlite:///{db}"}
    if admin_key is not None:
        config["admin_key"] = admin_key
    return config


@pytest.fixture(scope="session")
def dash_gateway(loop_thread: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    tmp = tmp_path_factory.mktemp("dash")
    server = GatewayServer(loop_thread, embedded_config(tmp / "gw.db", ADMIN_KEY), tmp, env={}).start()
    assert server.settings.simulated, "the dashboard e2e tests run against the embedded default simulator"
    yield server
    server.stop()


@pytest.fixture(scope="session")
def plain_gateway(loop_thread: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    tmp = tmp_path_factory.mktemp("plain")
    server = GatewayServer(loop_thread, embedded_config(tmp / "gw.db", None), tmp, env={}).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def user_key(dash_gateway: GatewayServer) -> str:
    return dash_gateway.create_key(name="e2e-traffic")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Module scope, not session: Playwright's sync API keeps an event loop running on this thread while it is
    # open, which would break every asyncio test collected after these.
    executable = find_chromium()
    if executable is None:
        explicit = os.environ.get("INTERLOCK_CHROMIUM")
        browser_unavailable(
            f"INTERLOCK_CHROMIUM={explicit} is not an executable"
            if explicit
            else f"none of {', '.join(CHROMIUM_NAMES)} is on PATH (or set INTERLOCK_CHROMIUM)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        browser_unavailable(f"playwright is not installed ({exc}); pip install -e '.[test]'")
    with sync_playwright() as pw:
        try:
            instance = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        except Exception as exc:
            browser_unavailable(f"{executable} did not start: {exc}")
        yield instance
        instance.close()


@pytest.fixture()
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(15_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert not errors, f"JavaScript errors on the dashboard: {errors}"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
