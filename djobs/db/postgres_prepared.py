"""PostgreSQL: djobs' own statements prepared once per connection, whatever Django's setting.

Django leaves psycopg's ``prepare_threshold`` at None, so nothing is ever
prepared, for the sake of transaction poolers; djobs knows whether one is in
the way (``DJOBS["TRANSACTION_POOLING"]``). Without one its statements (the
claim, the outcomes, the stage, the single enqueue's insert) run with the
threshold lifted for the time they run: parsing and planning the insert cost
the server more than executing it. The project's own statements keep the
connection's setting.

A statement prepared earlier can stop fitting its connection: the project ran
``DISCARD ALL`` or ``DEALLOCATE ALL`` (psycopg only notices those while the
threshold is lifted), or a migration changed the type of a column a prepared
statement returns (``cached plan must not change result type``). Then the
connection's prepared statements are dropped (``forget``) and the next run
prepares afresh, so a long-lived connection heals after one failed statement
(the single insert retries at once).
"""

from __future__ import annotations

from typing import Any

from .postgres_wakeups import pooling

#: Where the connection says None: psycopg prepares a statement that asks to be
#: prepared at once, and any other after this many runs.
PREPARE_AT = 5


def prepared_here(threshold: int | None) -> int | None:
    """Return the prepare_threshold djobs' own statements run under, given the connection's.

    Behind a transaction pooler, None: nothing of djobs' is prepared, whatever
    the setting.
    """
    if pooling():
        return None
    return threshold if threshold is not None else PREPARE_AT


def stale(exc: BaseException | None) -> bool:
    """Say whether ``exc`` (a driver error) is a prepared statement that no longer fits its connection."""
    sqlstate = getattr(exc, "sqlstate", None)
    # 26000: "prepared statement ... does not exist"; 0A000 is also raised for
    # other unsupported features, hence the message.
    return sqlstate == "26000" or (sqlstate == "0A000" and "cached plan" in str(exc))


def forget(raw: Any) -> bool:
    """Drop ``raw``'s prepared statements on the server and in psycopg's cache; False inside a transaction.

    Inside one the statement failed the transaction, and its rollback does the
    same (psycopg deallocates everything at a rollback).
    """
    from psycopg.pq import TransactionStatus

    if raw.info.transaction_status != TransactionStatus.IDLE:
        return False
    saved = raw.prepare_threshold
    # psycopg clears its cache when it sees DEALLOCATE ALL succeed, but only
    # while the threshold is not None.
    raw.prepare_threshold = PREPARE_AT
    try:
        raw.execute("DEALLOCATE ALL", prepare=False)
    finally:
        raw.prepare_threshold = saved
    return True


__all__ = ["PREPARE_AT", "forget", "prepared_here", "stale"]
