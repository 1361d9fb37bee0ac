"""runjobs' own log output, for projects whose ``LOGGING`` leaves the ``djobs`` logger alone.

A fresh project configures no logger for djobs, and Python's fallback handler
prints warnings bare and drops everything below. ``runjobs`` then installs one
handler on the ``djobs`` logger, on stderr, for as long as it runs: readable
one-line text (or one JSON object per line for log shippers), at a level set
by ``-v``. A project that configures the ``djobs`` logger, or the root
logger, keeps full control: djobs adds nothing.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any

from django.conf import settings

LOGGER = "djobs"
FORMATS = ("text", "json")
# -v: 0 warnings and failures; 1 (default) also the banner, shutdown and burst
# summary, snoozes, cancels and maintenance rounds; 2 debug; 3 debug with each
# record's fields (job_id=..., queue=...) on its line.
LEVELS = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG, 3: logging.DEBUG}

# LogRecord's own attributes; anything else on a record came in ``extra``.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """Return the fields a record was given in ``extra``."""
    return {key: value for key, value in vars(record).items() if key not in _RECORD_FIELDS}


class TextFormatter(logging.Formatter):
    """``2026-01-05 09:10:11 WARNING message`` on one line; tracebacks indented below."""

    def __init__(self, with_fields: bool = False) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
        self.with_fields = with_fields

    def formatMessage(self, record: logging.LogRecord) -> str:
        # A job's error can span lines; a log line must not.
        line = super().formatMessage(record).replace("\r", "").replace("\n", " | ")
        if self.with_fields:
            fields = record_fields(record)
            if fields:
                line += " [" + " ".join(f"{key}={value}" for key, value in sorted(fields.items())) + "]"
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, and the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        entry.update(record_fields(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def project_configures_logging() -> bool:
    """Say whether the project's logging already handles djobs' records."""
    config = getattr(settings, "LOGGING", None) or {}
    loggers = config.get("loggers") or {}
    if any(name == LOGGER or name.startswith(LOGGER + ".") or name == "" for name in loggers):
        return True
    if config.get("root"):
        return True
    djobs_logger = logging.getLogger(LOGGER)
    return bool(
        djobs_logger.handlers
        or djobs_logger.level != logging.NOTSET
        or not djobs_logger.propagate
        or logging.getLogger().handlers
    )


def make_handler(verbosity: int, log_format: str, stream: IO[str] | None = None) -> logging.Handler:
    """Return the handler runjobs installs for ``-v verbosity`` and ``--log-format``."""
    if log_format not in FORMATS:
        raise ValueError(f"log format {log_format!r} is not one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter(verbosity >= 3))
    return handler


@contextmanager
def worker_logging(verbosity: int = 1, log_format: str = "text") -> Iterator[bool]:
    """Give the ``djobs`` logger a handler while the block runs, unless the project has one.

    Yields whether it installed one; the logger is left as it was afterwards.
    """
    if project_configures_logging():
        yield False
        return
    djobs_logger = logging.getLogger(LOGGER)
    handler = make_handler(verbosity, log_format)
    level = LEVELS[max(0, min(verbosity, 3))]
    djobs_logger.addHandler(handler)
    djobs_logger.setLevel(level)
    try:
        yield True
    finally:
        djobs_logger.removeHandler(handler)
        djobs_logger.setLevel(logging.NOTSET)


__all__ = ["FORMATS", "JsonFormatter", "TextFormatter", "make_handler", "worker_logging"]
