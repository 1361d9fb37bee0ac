"""Django's task priorities (-100..100, higher runs first) on djobs' 0..9 (0 runs first).

Pure functions, no django.tasks import, so they are tested directly.

=================  ==============
Django priority    djobs priority
=================  ==============
76 .. 100          0
51 .. 75           1
26 .. 50           2
1 .. 25            3
0 (the default)    4
-1 .. -20          5
-21 .. -40         6
-41 .. -60         7
-61 .. -80         8
-81 .. -100        9
=================  ==============

Django's default, 0, sits in a band of its own, so any positive priority runs
before the default and any negative one after it. Within a band the Django
priority itself, negated, is the job's ``subpriority`` (the claim orders by
priority, subpriority, scheduled_at, id), so Django's order holds exactly:
a higher priority always runs first, equal ones in enqueue order.
"""

from __future__ import annotations

TASK_MIN = -100
TASK_MAX = 100
#: The djobs priority of Django's default task priority, 0.
DEFAULT_JOB_PRIORITY = 4

_POSITIVE_BAND = 25  # 1..100 over djobs 3..0
_NEGATIVE_BAND = 20  # -1..-100 over djobs 5..9


def job_priority(task_priority: int) -> int:
    """Return the djobs priority (0 runs first) for a Django task priority (100 runs first)."""
    if isinstance(task_priority, bool) or not isinstance(task_priority, int):
        raise TypeError(f"priority={task_priority!r} is not an integer from {TASK_MIN} to {TASK_MAX}.")
    if not TASK_MIN <= task_priority <= TASK_MAX:
        raise ValueError(f"priority={task_priority} is outside {TASK_MIN}..{TASK_MAX}.")
    if task_priority == 0:
        return DEFAULT_JOB_PRIORITY
    if task_priority > 0:
        return DEFAULT_JOB_PRIORITY - 1 - (task_priority - 1) // _POSITIVE_BAND
    return DEFAULT_JOB_PRIORITY + 1 + (-task_priority - 1) // _NEGATIVE_BAND


def task_priority_range(job_priority_value: int) -> tuple[int, int]:
    """Return the (lowest, highest) Django priorities that map to ``job_priority_value``."""
    members = [p for p in range(TASK_MIN, TASK_MAX + 1) if job_priority(p) == job_priority_value]
    if not members:
        raise ValueError(f"priority={job_priority_value!r} is not a djobs priority (0..9).")
    return members[0], members[-1]


__all__ = ["DEFAULT_JOB_PRIORITY", "job_priority", "task_priority_range"]
