"""Settings checks that need the registered jobs: ``partition_by`` must name their arguments."""

from __future__ import annotations

import difflib
import inspect

from .. import registry
from ..conf import get_settings
from ..exceptions import UnknownJobError


def partition_problems() -> list[str]:
    """Return one message per partition_by argument a job of its queue does not take."""
    conf = get_settings()
    problems = []
    for path in registry.registered_paths():
        try:
            job_function = registry.lookup(path)
        except UnknownJobError:
            continue
        options = getattr(job_function, "options", None)
        queue = getattr(options, "queue", None) or conf.DEFAULT_QUEUE
        flow = conf.QUEUE_FLOW.get(queue)
        signature = getattr(job_function, "signature", None)
        if flow is None or not flow.partition_by or signature is None:
            continue
        parameters = signature.parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            continue
        for name in flow.partition_by:
            if name in parameters:
                continue
            close = difflib.get_close_matches(name, list(parameters), n=1)
            hint = (
                f"did you mean {close[0]!r}?"
                if close
                else f"its arguments are {', '.join(parameters) or 'none'}"
            )
            problems.append(
                f"DJOBS['QUEUES'][{queue!r}]['partition_by'] names {name!r}, but {path}() on that queue "
                f"has no such argument; {hint}"
            )
    return problems


__all__ = ["partition_problems"]
