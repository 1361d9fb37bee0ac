"""System checks: every bad ``DJOBS`` value is reported with a stable id."""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from .conf import validate


@register("djobs")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    raw = getattr(settings, "DJOBS", {})
    errors: list[CheckMessage] = [
        Error(problem.message, hint=problem.hint or None, id=problem.id) for problem in validate(raw)
    ]
    # Periodic schedules (djobs.E010-E016); a non-dict PERIODIC is already E005 above.
    if isinstance(raw, dict) and isinstance(raw.get("PERIODIC"), dict):
        from .periodic.config import validate_periodic

        errors += [
            Error(problem.message, hint=problem.hint or None, id=problem.id)
            for problem in validate_periodic(raw["PERIODIC"])
        ]
    return errors


@register("djobs")
def check_sqlite_threads(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when runjobs would run several threads on SQLite without WAL and IMMEDIATE transactions."""
    raw = getattr(settings, "DJOBS", {})
    if not isinstance(raw, dict) or validate(raw):
        return []  # reported by check_settings
    from .conf import get_settings

    conf = get_settings()
    database = settings.DATABASES.get(conf.DATABASE, {})
    if "sqlite" not in str(database.get("ENGINE", "")):
        return []
    threads = sum(conf.QUEUES.values())
    if threads <= 1:
        return []
    options = database.get("OPTIONS") or {}
    init = str(options.get("init_command") or "").replace(" ", "").lower()
    missing = []
    if "journal_mode=wal" not in init:
        missing.append('"init_command": "PRAGMA journal_mode=WAL;"')
    if str(options.get("transaction_mode") or "").upper() != "IMMEDIATE":
        missing.append('"transaction_mode": "IMMEDIATE"')
    if not missing:
        return []
    return [
        Warning(
            f"runjobs would run {threads} threads on the SQLite database {conf.DATABASE!r} without "
            f"{' and '.join(missing)} in its OPTIONS: concurrent jobs that read then write fail with "
            "'database is locked'.",
            hint=f"Add {', '.join(missing)} to DATABASES[{conf.DATABASE!r}]['OPTIONS'] "
            "(docs/operations/deployment.md, SQLite in production), or run one thread.",
            id="djobs.W001",
        )
    ]


@register("djobs")
def check_queues_in_use(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn about a queue in DJOBS['QUEUES'] that no registered job, schedule or task uses (a typo)."""
    raw = getattr(settings, "DJOBS", {})
    if not isinstance(raw, dict) or validate(raw):
        return []  # reported by check_settings
    from .conf import get_settings
    from .queue_use import unused_queue_messages, used_queues

    return [
        Warning(
            f"DJOBS['QUEUES']: {message}",
            hint="Fix the queue's name, or remove it from DJOBS['QUEUES'] if nothing is sent there.",
            id="djobs.W002",
        )
        for message in unused_queue_messages(get_settings().QUEUES, used_queues())
    ]


@register("djobs")
def check_transaction_pooling(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when TRANSACTION_POOLING is on for a database that is not PostgreSQL (it changes nothing)."""
    raw = getattr(settings, "DJOBS", {})
    if not isinstance(raw, dict) or validate(raw):
        return []  # reported by check_settings
    from .conf import get_settings

    conf = get_settings()
    engine = str(settings.DATABASES.get(conf.DATABASE, {}).get("ENGINE", ""))
    if not conf.TRANSACTION_POOLING or "postgresql" in engine:
        return []
    return [
        Warning(
            f"DJOBS['TRANSACTION_POOLING'] is True but the database {conf.DATABASE!r} is {engine}, "
            "not PostgreSQL: the setting changes nothing there.",
            hint="Remove TRANSACTION_POOLING, or set it only where DJOBS['DATABASE'] is a PostgreSQL "
            "database reached through PgBouncer in transaction mode.",
            id="djobs.W003",
        )
    ]


@register("djobs")
def check_partition_by(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Report a queue's partition_by naming an argument one of the queue's jobs does not take."""
    raw = getattr(settings, "DJOBS", {})
    if not isinstance(raw, dict) or validate(raw):
        return []  # reported by check_settings
    from .flow.checks import partition_problems

    return [
        Error(
            message,
            hint="partition_by names arguments every job of the queue takes (bound as for unique keys).",
            id="djobs.E023",
        )
        for message in partition_problems()
    ]


def project_write_aliases() -> set[str]:
    """Return the database aliases the routers send writes of the project's own models to.

    Django's and djobs' own apps are left out: only the project's models say
    where an atomic job's writes can land.
    """
    from django.apps import apps
    from django.db import router

    aliases = set()
    for config in apps.get_app_configs():
        if config.name.startswith(("django.", "djobs")):
            continue
        for model in config.get_models():
            if model._meta.managed and not model._meta.proxy:
                aliases.add(router.db_for_write(model) or "default")
    return aliases


@register("djobs")
def check_atomic_jobs(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Report atomic jobs whose writes cannot share djobs' transaction (runjobs warns about SQLite)."""
    raw = getattr(settings, "DJOBS", {})
    if not isinstance(raw, dict) or validate(raw):
        return []  # reported by check_settings
    from .registry import atomic_paths

    paths = atomic_paths()
    if not paths:
        return []
    from .conf import get_settings

    conf = get_settings()
    named = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    messages: list[CheckMessage] = []
    aliases = project_write_aliases()
    if aliases and conf.DATABASE not in aliases:
        messages.append(
            Error(
                f"@job(atomic=True) on {named}: the jobs run in a transaction on DJOBS['DATABASE'] "
                f"{conf.DATABASE!r}, but the project's models are written to {', '.join(sorted(aliases))}: "
                "none of their writes would commit with the job.",
                hint="Set DJOBS['DATABASE'] to the alias the jobs write to (djobs' tables live there "
                "too), or drop atomic=True (docs/concepts/durability.md).",
                id="djobs.E030",
            )
        )
    database = settings.DATABASES.get(conf.DATABASE, {})
    if "sqlite" in str(database.get("ENGINE", "")):
        busy = float((database.get("OPTIONS") or {}).get("timeout", SQLITE_DEFAULT_TIMEOUT))
        for path, timeout in sqlite_busy_overruns(_timeouts(paths), busy).items():
            messages.append(
                Warning(
                    f"@job(atomic=True) {path} has a timeout of {timeout:g}s, above the SQLite busy "
                    f"timeout of {busy:g}s (DATABASES[{conf.DATABASE!r}]['OPTIONS']['timeout']): while "
                    "it runs it holds the only write lock, and every other writer (claims, outcomes, "
                    "heartbeats, enqueues) gives up with 'database is locked' before it ends.",
                    hint=f"Set DATABASES[{conf.DATABASE!r}]['OPTIONS']['timeout'] to at least "
                    f"{math.ceil(timeout)}, or lower the job's timeout (docs/concepts/durability.md).",
                    id="djobs.W031",
                )
            )
    return messages


#: Seconds Python's sqlite3 waits for a lock when OPTIONS sets no timeout.
SQLITE_DEFAULT_TIMEOUT = 5.0


def sqlite_busy_overruns(timeouts: dict[str, float | None], busy: float) -> dict[str, float]:
    """Return the atomic jobs (path -> timeout) whose timeout exceeds SQLite's busy timeout."""
    return {path: timeout for path, timeout in timeouts.items() if timeout is not None and timeout > busy}


def _timeouts(paths: list[str]) -> dict[str, float | None]:
    from . import registry

    return {path: getattr(registry.lookup(path), "timeout", None) for path in paths}
