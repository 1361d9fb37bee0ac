"""Settings for the runjobs subprocesses the dispatcher tests start: short intervals."""

import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, DJOBS

DJOBS = {
    **DJOBS,
    "POLL_INTERVAL": float(os.environ.get("DJOBS_POLL_INTERVAL", "0.2")),
    "HEARTBEAT_INTERVAL": float(os.environ.get("DJOBS_HEARTBEAT_INTERVAL", "0.5")),
    "RESCUE_AFTER": float(os.environ.get("DJOBS_RESCUE_AFTER", "60")),
    "SHUTDOWN_GRACE": float(os.environ.get("DJOBS_SHUTDOWN_GRACE", "10")),
    "PRUNE_INTERVAL": float(os.environ.get("DJOBS_PRUNE_INTERVAL", "60")),
}
if "DJOBS_RETENTION" in os.environ:  # seconds, for every terminal state
    DJOBS["RETENTION"] = dict.fromkeys(
        ("completed", "cancelled", "discarded"), float(os.environ["DJOBS_RETENTION"])
    )
# Job threads keep their connection between jobs instead of reconnecting each time.
DATABASES["default"]["CONN_MAX_AGE"] = 60
# A subprocess runs against the test database the test process created.
DATABASES["default"]["NAME"] = DATABASES["default"]["TEST"]["NAME"]
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"djobs": {"handlers": ["console"], "level": "INFO"}},
}
