"""Worker settings for the flow-control tests: DJOBS['QUEUES'] from DJOBS_FLOW_QUEUES (JSON)."""

import json
import os

from tests.worker_settings import *  # noqa: F403
from tests.worker_settings import DJOBS

DJOBS = {**DJOBS, "QUEUES": json.loads(os.environ.get("DJOBS_FLOW_QUEUES", '{"default": 10}'))}
