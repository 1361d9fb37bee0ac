"""Settings for the benchmarks behind a transaction-mode pooler (``--transaction-pooling``)."""

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, DJOBS

DJOBS = {**DJOBS, "TRANSACTION_POOLING": True}
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
