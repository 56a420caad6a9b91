"""The engine: the trip of a request from needs to plan, attempts, relay and record."""

from interlock.engine.gateway import LEGACY_SUFFIXES, Gateway, needs_of, split_suffix
from interlock.engine.observer import NullObserver, Observer, Observers, StatsObserver, is_provider_failure
from interlock.engine.trip import Attempt, Trip, make_target

__all__ = [
    "LEGACY_SUFFIXES",
    "Attempt",
    "Gateway",
    "NullObserver",
    "Observer",
    "Observers",
    "StatsObserver",
    "Trip",
    "is_provider_failure",
    "make_target",
    "needs_of",
    "split_suffix",
]
