"""Unique jobs: option validation and the key that the database keeps unique."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .states import DEFAULT_UNIQUE_STATES, JobState, states_mask

_OPTION_NAMES = ("period", "keys", "states")


@dataclass(frozen=True)
class UniqueSpec:
    """Which enqueues count as duplicates of each other.

    ``period``: seconds (duplicates within the same period bucket), or None for
    "as long as the first job is in ``states``". ``keys``: the argument names
    to compare (None compares all arguments). ``states``: where the first job
    must be for a new one to be a duplicate.
    """

    period: int | None = None
    keys: tuple[str, ...] | None = None
    states: tuple[str, ...] = DEFAULT_UNIQUE_STATES

    @property
    def mask(self) -> int:
        return states_mask(self.states)


def parse_unique(value: Any) -> UniqueSpec | None:
    """Turn the ``unique=`` option into a UniqueSpec, or raise ValueError naming the fix."""
    if value is None or value is False:
        return None
    if value is True:
        return UniqueSpec()
    if isinstance(value, UniqueSpec):
        return value
    if not isinstance(value, dict):
        raise ValueError(
            f"unique={value!r} is not valid; use True or a dict such as "
            "{'period': 60, 'keys': ['user_id'], 'states': ['available', 'scheduled']}."
        )
    unknown = set(value) - set(_OPTION_NAMES)
    if unknown:
        raise ValueError(
            f"unique has unknown option(s) {sorted(unknown)!r}; the options are {', '.join(_OPTION_NAMES)}."
        )
    period = value.get("period")
    if period is not None and (
        isinstance(period, bool) or not isinstance(period, int | float) or period <= 0
    ):
        raise ValueError(f"unique period={period!r} must be seconds above 0, or None (forever).")
    keys = value.get("keys")
    if keys is not None:
        if isinstance(keys, str) or not all(isinstance(k, str) for k in keys):
            raise ValueError(f"unique keys={keys!r} must be a list of argument names.")
        keys = tuple(keys)
    states = tuple(value.get("states", DEFAULT_UNIQUE_STATES))
    bad = [s for s in states if s not in JobState.values]
    if bad or not states:
        raise ValueError(
            f"unique states={list(states)!r} must be a non-empty list drawn from "
            f"{', '.join(JobState.values)}."
        )
    return UniqueSpec(period=int(period) if period else None, keys=keys, states=states)


def unique_key(spec: UniqueSpec, *, path: str, queue: str, arguments: dict[str, Any], now: datetime) -> str:
    """Return the key two duplicate enqueues share (a hex sha256).

    ``arguments`` are the call's arguments by parameter name. The key covers the
    job path, the queue, the chosen arguments and, with a period, the period's
    bucket, so it changes by itself when the period rolls over.
    """
    chosen = arguments if spec.keys is None else {k: arguments.get(k) for k in spec.keys}
    bucket = int(now.timestamp() // spec.period) if spec.period else None
    material = json.dumps([path, queue, chosen, bucket], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(material.encode()).hexdigest()
