"""The engine: the trip of a request from needs to plan, attempts, relay and record."""

from interlock.engine.gateway import Gateway, needs_of, split_suffix
from interlock.engine.observer import NullObserver, Observer
from interlock.engine.trip import Attempt, Trip, make_target

__all__ = ["Attempt", "Gateway", "NullObserver", "Observer", "Trip", "make_target", "needs_of", "split_suffix"]
