"""Settings for runjobs subprocesses that reach the test database through PgBouncer.

The host and port come from DJOBS_TEST_PGBOUNCER_URL (PgBouncer in transaction
mode, .ci/pgbouncer.sh); the database is the test process's own test database.
"""

import os
from urllib.parse import urlsplit

from tests.worker_settings import *  # noqa: F403
from tests.worker_settings import DATABASES, DJOBS

_bouncer = urlsplit(os.environ["DJOBS_TEST_PGBOUNCER_URL"])
DATABASES["default"]["HOST"] = _bouncer.hostname or "127.0.0.1"
DATABASES["default"]["PORT"] = _bouncer.port or 6432
# Django's own setting for transaction pooling: a server-side cursor (WITH HOLD)
# outlives the transaction that the pooler lent a server session for.
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
if "DJOBS_TEST_PREPARE_THRESHOLD" in os.environ:
    # psycopg's named prepared statements, off in Django by default (prepare_threshold=None).
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = int(
        os.environ["DJOBS_TEST_PREPARE_THRESHOLD"]
    )

DJOBS = {**DJOBS, "TRANSACTION_POOLING": os.environ.get("DJOBS_TRANSACTION_POOLING", "1") == "1"}
if os.environ.get("DJOBS_TEST_PERIODIC") == "1":
    DJOBS["PERIODIC"] = {
        # catch_up="all": a tick every process was too busy to see on time is still
        # enqueued, so the test can require consecutive ticks, not just unique ones.
        "every-second": {
            "cron": "* * * * * *",
            "timezone": "UTC",
            "job": "tests.testapp.jobs.add",
            "args": [1, 2],
            "catch_up": "all",
        },
    }
