"""The ``DJOBS`` setting: defaults, validation and lazy, cached access.

Settings are read on first use, never at import time, and the cache is dropped
whenever ``override_settings`` changes ``DJOBS``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

from .flow.config import QueueFlow, parse_queue

QUEUE_NAME_MAX = 128
TESTING_MODES = ("manual", "inline")
# RESCUE_AFTER must span at least this many heartbeats (djobs.E008).
RESCUE_MARGIN = 3

DEFAULTS: dict[str, Any] = {
    # queue name -> concurrency, or a dict of flow options (concurrency, global_limit,
    # rate_limit, partition_by); runjobs serves these unless given --queue.
    "QUEUES": {"default": 10},
    # Database alias holding the djobs tables (and in whose transactions enqueue joins).
    "DATABASE": "default",
    "DEFAULT_QUEUE": "default",
    "DEFAULT_PRIORITY": 0,
    "DEFAULT_MAX_ATTEMPTS": 20,
    # Seconds between polls for due scheduled/retryable jobs and, without
    # LISTEN/NOTIFY, for new jobs.
    "POLL_INTERVAL": 1.0,
    # Without LISTEN/NOTIFY or a free change counter (MySQL, MariaDB, PostgreSQL with
    # TRANSACTION_POOLING): seconds between an idle worker process's looks for new
    # jobs, one indexed query each.
    "WAKE_POLL_INTERVAL": 0.05,
    "HEARTBEAT_INTERVAL": 5.0,
    # A worker whose heartbeat is older than this is presumed dead; its jobs are rescued.
    "RESCUE_AFTER": 60.0,
    # On SIGTERM, how long running jobs may take to finish before they are released.
    "SHUTDOWN_GRACE": 25.0,
    # A job interrupted at shutdown inside ctx.each/ctx.checkpoint gets its attempt back
    # this many times; later interruptions count as attempts (djobs.durable).
    "MAX_INTERRUPTIONS": 10,
    # Seconds a finished job is kept, per terminal state; None keeps it forever.
    "RETENTION": {"completed": 86400, "cancelled": 7 * 86400, "discarded": 7 * 86400},
    "PRUNE_INTERVAL": 60.0,
    # PostgreSQL: a worker VACUUMs djobs_job once it holds this many dead row versions
    # (plus 5% of its live rows) and autovacuum has not: every claim walks the claim
    # index's dead entries. None: never (autovacuum alone; docs/operations/postgresql.md).
    "VACUUM_DEAD_ROWS": 100_000,
    # Rows per statement for bulk inserts and pruning.
    "BULK_CHUNK_SIZE": 2000,
    # Largest args + kwargs of one job, in bytes of JSON; None for no limit.
    # Every claim fetches them again, so big data belongs elsewhere, passed by id.
    "MAX_ARGUMENTS_BYTES": 1024 * 1024,
    # Send NOTIFY on enqueue where the database supports it.
    "NOTIFY": True,
    # PostgreSQL: the dispatcher's own claims and outcome writes skip waiting for
    # the WAL flush (synchronous_commit=off). A database crash can then undo its
    # last few hundred ms of them: those jobs run again, none is lost.
    "ASYNC_COMMIT": True,
    "PERIODIC": {},
    # django.tasks: modules, beyond installed apps', whose Tasks a worker may import by path.
    "TASK_MODULES": [],
    # django.tasks: djobs options by task path or pattern ("wagtail.*"), for tasks one cannot decorate.
    "TASK_OPTIONS": {},
    # None (normal), "manual" (insert, never run) or "inline" (run at enqueue).
    "TESTING": None,
    # runjobs serves its Prometheus metrics on this port (what --metrics-port sets); None: off.
    "METRICS_PORT": None,
    # PostgreSQL behind a transaction-mode pooler (PgBouncer): no LISTEN, no prepared
    # statements, no session SET; idle workers look for new jobs every WAKE_POLL_INTERVAL.
    "TRANSACTION_POOLING": False,
}

_POSITIVE_NUMBERS = (
    "POLL_INTERVAL",
    "WAKE_POLL_INTERVAL",
    "HEARTBEAT_INTERVAL",
    "RESCUE_AFTER",
    "PRUNE_INTERVAL",
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with ``DJOBS``, with the key, the value and the fix."""

    id: str
    key: str
    message: str
    hint: str = ""


def _did_you_mean(name: str, choices: list[str]) -> str:
    # Case is ignored: "queues" is as clearly "QUEUES" as "QUEUS" is.
    folded = {choice.casefold(): choice for choice in choices}
    close = difflib.get_close_matches(name.casefold(), list(folded), n=1)
    return f"Did you mean {folded[close[0]]!r}?" if close else f"Known keys: {', '.join(sorted(choices))}."


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def validate_queue_name(name: object) -> str | None:
    """Return why ``name`` cannot be a queue name, or None when it can."""
    if not isinstance(name, str) or not name.strip():
        return f"queue name {name!r} must be a non-empty string"
    if len(name) > QUEUE_NAME_MAX:
        return f"queue name {name[:40]!r}... is {len(name)} characters; the limit is {QUEUE_NAME_MAX}"
    return None


def validate(raw: object) -> list[Problem]:
    """Return every problem in a ``DJOBS`` value (pure: no database, no imports of jobs)."""
    if not isinstance(raw, dict):
        return [Problem("djobs.E001", "DJOBS", f"DJOBS must be a dict, not {raw!r}.")]
    problems: list[Problem] = []
    for key in raw:
        if key not in DEFAULTS:
            problems.append(
                Problem(
                    "djobs.E001",
                    str(key),
                    f"DJOBS has an unknown key {key!r}.",
                    _did_you_mean(str(key), list(DEFAULTS)),
                )
            )
    queues = raw.get("QUEUES", DEFAULTS["QUEUES"])
    if not isinstance(queues, dict):
        problems.append(
            Problem(
                "djobs.E002",
                "QUEUES",
                f"DJOBS['QUEUES'] must map queue names to concurrency, not {queues!r}.",
                "For example {'default': 10, 'emails': 5, 'stripe': {'concurrency': 5, 'global_limit': 2}}.",
            )
        )
    else:
        from .flow.config import queue_problems

        for name, value in queues.items():
            why = validate_queue_name(name)
            if why:
                problems.append(Problem("djobs.E002", "QUEUES", f"DJOBS['QUEUES']: {why}."))
            for message in queue_problems(str(name), value):
                problems.append(Problem("djobs.E002", "QUEUES", message))
    for key in _POSITIVE_NUMBERS:
        value = raw.get(key, DEFAULTS[key])
        if not _is_number(value) or value <= 0:
            problems.append(
                Problem(
                    "djobs.E003",
                    key,
                    f"DJOBS[{key!r}] is {value!r}; it must be a number of seconds above 0.",
                )
            )
    heartbeat = raw.get("HEARTBEAT_INTERVAL", DEFAULTS["HEARTBEAT_INTERVAL"])
    rescue_after = raw.get("RESCUE_AFTER", DEFAULTS["RESCUE_AFTER"])
    if (
        _is_number(heartbeat)
        and _is_number(rescue_after)
        and heartbeat > 0
        and rescue_after < RESCUE_MARGIN * heartbeat
    ):
        # A worker is presumed dead once its heartbeat has not moved for RESCUE_AFTER;
        # with less than a few beats in that window, one slow beat rescues a live worker.
        problems.append(
            Problem(
                "djobs.E008",
                "RESCUE_AFTER",
                f"DJOBS['RESCUE_AFTER'] is {rescue_after!r}, less than {RESCUE_MARGIN} x "
                f"HEARTBEAT_INTERVAL ({heartbeat!r}): live workers would be rescued.",
                f"Raise RESCUE_AFTER to at least {RESCUE_MARGIN * heartbeat:g} or lower HEARTBEAT_INTERVAL.",
            )
        )
    grace = raw.get("SHUTDOWN_GRACE", DEFAULTS["SHUTDOWN_GRACE"])
    if not _is_number(grace) or grace < 0:
        problems.append(
            Problem(
                "djobs.E003",
                "SHUTDOWN_GRACE",
                f"DJOBS['SHUTDOWN_GRACE'] is {grace!r}; it must be a number of seconds, 0 or more.",
            )
        )
    for key, low, high in (
        ("DEFAULT_PRIORITY", 0, 9),
        ("DEFAULT_MAX_ATTEMPTS", 1, None),
        ("BULK_CHUNK_SIZE", 1, None),
        ("MAX_INTERRUPTIONS", 0, None),
    ):
        value = raw.get(key, DEFAULTS[key])
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or value < low
            or (high is not None and value > high)
        ):
            bound = f"from {low} to {high}" if high is not None else f"of at least {low}"
            problems.append(
                Problem("djobs.E003", key, f"DJOBS[{key!r}] is {value!r}; it must be an integer {bound}.")
            )
    max_bytes = raw.get("MAX_ARGUMENTS_BYTES", DEFAULTS["MAX_ARGUMENTS_BYTES"])
    if max_bytes is not None and (
        not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes < 1
    ):
        problems.append(
            Problem(
                "djobs.E003",
                "MAX_ARGUMENTS_BYTES",
                f"DJOBS['MAX_ARGUMENTS_BYTES'] is {max_bytes!r}; it must be an integer of at least 1 "
                "(bytes of JSON), or None for no limit.",
            )
        )
    why = validate_queue_name(raw.get("DEFAULT_QUEUE", DEFAULTS["DEFAULT_QUEUE"]))
    if why:
        problems.append(Problem("djobs.E002", "DEFAULT_QUEUE", f"DJOBS['DEFAULT_QUEUE']: {why}."))
    retention = raw.get("RETENTION", DEFAULTS["RETENTION"])
    if not isinstance(retention, dict):
        problems.append(
            Problem(
                "djobs.E004",
                "RETENTION",
                f"DJOBS['RETENTION'] must be a dict of terminal state to seconds, not {retention!r}.",
            )
        )
    else:
        for state, seconds in retention.items():
            if state not in DEFAULTS["RETENTION"]:
                problems.append(
                    Problem(
                        "djobs.E004",
                        "RETENTION",
                        f"DJOBS['RETENTION'] has {state!r}, which is not a terminal state.",
                        "Use 'completed', 'cancelled' or 'discarded'.",
                    )
                )
            elif seconds is not None and (not _is_number(seconds) or seconds < 0):
                problems.append(
                    Problem(
                        "djobs.E004",
                        "RETENTION",
                        f"DJOBS['RETENTION'][{state!r}] is {seconds!r}; use seconds (0 or more) "
                        "or None to keep such jobs forever.",
                    )
                )
    testing = raw.get("TESTING")
    if testing is not None and testing not in TESTING_MODES:
        problems.append(
            Problem(
                "djobs.E006",
                "TESTING",
                f"DJOBS['TESTING'] is {testing!r}; use None, 'manual' or 'inline'.",
            )
        )
    alias = raw.get("DATABASE", DEFAULTS["DATABASE"])
    if alias not in settings.DATABASES:
        problems.append(
            Problem(
                "djobs.E007",
                "DATABASE",
                f"DJOBS['DATABASE'] is {alias!r}, which is not in DATABASES.",
                _did_you_mean(str(alias), list(settings.DATABASES)),
            )
        )
    if not isinstance(raw.get("ASYNC_COMMIT", True), bool):
        problems.append(
            Problem(
                "djobs.E003",
                "ASYNC_COMMIT",
                f"DJOBS['ASYNC_COMMIT'] is {raw['ASYNC_COMMIT']!r}; use True or False.",
            )
        )
    if not isinstance(raw.get("TRANSACTION_POOLING", False), bool):
        problems.append(
            Problem(
                "djobs.E003",
                "TRANSACTION_POOLING",
                f"DJOBS['TRANSACTION_POOLING'] is {raw['TRANSACTION_POOLING']!r}; use True (the "
                "database is reached through a transaction-mode pooler such as PgBouncer) or False.",
            )
        )
    if not isinstance(raw.get("NOTIFY", True), bool):
        problems.append(
            Problem("djobs.E003", "NOTIFY", f"DJOBS['NOTIFY'] is {raw['NOTIFY']!r}; use True or False.")
        )
    modules = raw.get("TASK_MODULES", [])
    if (
        isinstance(modules, str)
        or not isinstance(modules, list | tuple)
        or not all(isinstance(m, str) and m for m in modules)
    ):
        problems.append(
            Problem(
                "djobs.E021",
                "TASK_MODULES",
                f"DJOBS['TASK_MODULES'] is {modules!r}; use a list of module names (['myproject.tasks']).",
            )
        )
    dead_rows = raw.get("VACUUM_DEAD_ROWS", DEFAULTS["VACUUM_DEAD_ROWS"])
    if dead_rows is not None and (
        isinstance(dead_rows, bool) or not isinstance(dead_rows, int) or dead_rows < 1
    ):
        problems.append(
            Problem(
                "djobs.E003",
                "VACUUM_DEAD_ROWS",
                f"DJOBS['VACUUM_DEAD_ROWS'] is {dead_rows!r}; use a number of rows (100000, say) "
                "or None to leave the jobs table to autovacuum.",
            )
        )
    port = raw.get("METRICS_PORT")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
        problems.append(
            Problem(
                "djobs.E022",
                "METRICS_PORT",
                f"DJOBS['METRICS_PORT'] is {port!r}; use a TCP port number (9108, say) "
                "or None for no metrics.",
            )
        )
    from .tasks_compat.options import task_options_problems

    for message in task_options_problems(raw.get("TASK_OPTIONS", {})):
        problems.append(Problem("djobs.E020", "TASK_OPTIONS", message))
    if not isinstance(raw.get("PERIODIC", {}), dict):
        problems.append(
            Problem(
                "djobs.E005",
                "PERIODIC",
                f"DJOBS['PERIODIC'] must map schedule names to dicts, not {raw['PERIODIC']!r}.",
            )
        )
    return problems


@dataclass(frozen=True)
class Settings:
    """The effective ``DJOBS`` settings, defaults filled in."""

    #: queue name -> per-process concurrency (a dict setting's ``concurrency``).
    QUEUES: dict[str, int]
    DATABASE: str
    DEFAULT_QUEUE: str
    DEFAULT_PRIORITY: int
    DEFAULT_MAX_ATTEMPTS: int
    POLL_INTERVAL: float
    HEARTBEAT_INTERVAL: float
    RESCUE_AFTER: float
    SHUTDOWN_GRACE: float
    RETENTION: dict[str, float | None]
    PRUNE_INTERVAL: float
    BULK_CHUNK_SIZE: int
    NOTIFY: bool
    ASYNC_COMMIT: bool = True
    MAX_ARGUMENTS_BYTES: int | None = DEFAULTS["MAX_ARGUMENTS_BYTES"]
    PERIODIC: dict[str, dict[str, Any]] = field(default_factory=dict)
    TASK_MODULES: list[str] = field(default_factory=list)
    TASK_OPTIONS: dict[str, dict[str, Any]] = field(default_factory=dict)
    TESTING: str | None = None
    METRICS_PORT: int | None = None
    WAKE_POLL_INTERVAL: float = DEFAULTS["WAKE_POLL_INTERVAL"]
    TRANSACTION_POOLING: bool = False
    MAX_INTERRUPTIONS: int = DEFAULTS["MAX_INTERRUPTIONS"]
    VACUUM_DEAD_ROWS: int | None = DEFAULTS["VACUUM_DEAD_ROWS"]
    #: queue name -> its flow options (djobs.flow.config.QueueFlow), limits included.
    QUEUE_FLOW: dict[str, QueueFlow] = field(default_factory=dict)


_cache: Settings | None = None


def get_settings() -> Settings:
    """Return the validated settings; raise ImproperlyConfigured naming the first problem."""
    global _cache
    if _cache is None:
        raw = getattr(settings, "DJOBS", {})
        problems = validate(raw)
        if problems:
            first = problems[0]
            raise ImproperlyConfigured(f"{first.message} {first.hint}".strip())
        merged = {**DEFAULTS, **raw}
        merged["RETENTION"] = {**DEFAULTS["RETENTION"], **merged["RETENTION"]}
        flows = {name: parse_queue(value) for name, value in merged["QUEUES"].items()}
        merged["QUEUES"] = {name: flow.concurrency for name, flow in flows.items()}
        merged["QUEUE_FLOW"] = flows
        _cache = Settings(**merged)
    return _cache


@receiver(setting_changed)
def _reset(*, setting: str, **kwargs: Any) -> None:
    global _cache
    if setting in ("DJOBS", "DATABASES"):
        _cache = None
