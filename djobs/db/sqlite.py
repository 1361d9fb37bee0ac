"""SQLite: one writer at a time, so claims are immediate transactions and wake-ups are polls."""

from __future__ import annotations

from .base import DatabaseOps


class SQLiteOps(DatabaseOps):
    supports_skip_locked = False
    supports_listen_notify = False
