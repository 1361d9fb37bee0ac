"""Settings for runjobs subprocesses as a fresh project has them: no LOGGING at all."""

from tests.worker_settings import *  # noqa: F403

# Django's default: no logger configured for djobs, so runjobs speaks on its own.
LOGGING: dict[str, object] = {}
