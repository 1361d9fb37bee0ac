"""Settings for bench/throughput.py with flow limits (``--global-limit``, ``--partitions``).

DJOBS['QUEUES']['bench'] comes from BENCH_FLOW_QUEUE (JSON), set by the benchmark
for itself and the runjobs it starts.
"""

import json
import os

from tests.settings import *  # noqa: F403
from tests.settings import DJOBS

DJOBS = {
    **DJOBS,
    "QUEUES": {**DJOBS["QUEUES"], "bench": json.loads(os.environ.get("BENCH_FLOW_QUEUE", "10"))},
}
