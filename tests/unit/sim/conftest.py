"""Helpers for calling the protocol modules directly, without HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from interlock.sim._signing import Signer
from interlock.sim._wire import CallContext
from interlock.sim.config import SimBehaviour

SIGNER = Signer(b"unit-test-secret")

MakeCall = Callable[..., CallContext]


@pytest.fixture
def make_call() -> MakeCall:
    def make(
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        behaviour: SimBehaviour | None = None,
        **fields: Any,
    ) -> CallContext:
        return CallContext(
            headers=headers or {},
            query=query or {},
            behaviour=behaviour or SimBehaviour(),
            signer=SIGNER,
            created=1_760_000_000,
            **fields,
        )

    return make
