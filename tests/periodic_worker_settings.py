"""Settings for the runjobs subprocesses of the periodic tests: a per-second schedule in settings."""

from tests.worker_settings import *  # noqa: F403
from tests.worker_settings import DJOBS

DJOBS = {
    **DJOBS,
    "PERIODIC": {
        # catch_up="all": a tick that every process was too busy to see on time is
        # still enqueued, so the test can require consecutive ticks, not just unique.
        "every-second": {
            "cron": "* * * * * *",
            "timezone": "UTC",
            "job": "tests.testapp.jobs.add",
            "args": [1, 2],
            "catch_up": "all",
        },
    },
}
