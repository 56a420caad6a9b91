"""The package exports exactly its public names, sorted (style.md, "Small public names")."""

from __future__ import annotations

import interlock.sim


def test_all_is_sorted_and_complete() -> None:
    public = {name for name in vars(interlock.sim) if not name.startswith("_")}
    modules = {"config", "server", "textgen", "anthropic", "gemini", "openai_chat", "openai_responses", "annotations"}
    assert interlock.sim.__all__ == sorted(interlock.sim.__all__)
    assert set(interlock.sim.__all__) == public - modules
