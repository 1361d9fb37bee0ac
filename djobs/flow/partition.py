"""A job's partition key: the values of its queue's ``partition_by`` arguments, bound as for unique keys."""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..exceptions import EnqueueError

KEY_MAX = 64


def partition_key(values: Sequence[Any]) -> str:
    """Return the key of ``values``: their JSON when short (readable in the admin), else its SHA-256."""
    text = json.dumps(list(values), sort_keys=True, separators=(",", ":"), default=str)
    return text if len(text) <= KEY_MAX else hashlib.sha256(text.encode()).hexdigest()


def bound_partition_key(
    *, path: str, queue: str, signature: inspect.Signature, arguments: Mapping[str, Any], names: Sequence[str]
) -> str:
    """Return the partition key of a call whose bound ``arguments`` (defaults not applied) are given."""
    values = []
    for name in names:
        if name in arguments:
            values.append(arguments[name])
            continue
        parameter = signature.parameters.get(name)
        if parameter is None or parameter.default is inspect.Parameter.empty:
            raise EnqueueError(
                f"Queue {queue!r} partitions by {name!r}, which {path}() has no value for; "
                f"pass {name}=..., or send the job to another queue."
            )
        values.append(parameter.default)
    return partition_key(values)


__all__ = ["KEY_MAX", "bound_partition_key", "partition_key"]
