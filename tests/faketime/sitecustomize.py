"""Loaded by the runjobs processes the clock-skew tests start under faketime (on their PYTHONPATH).

libfaketime 0.9.10 with the monotonic clock left alone (``--exclude-monotonic``)
makes ``clock_nanosleep`` fail with EINVAL, so ``time.sleep`` raises; with the
monotonic clock faked, every timed wait hangs instead. Timed waits work when
only the wall clock is shifted, so ``time.sleep`` waits on an event here.
"""

import threading
import time


def _sleep(seconds: float) -> None:
    if seconds > 0:
        threading.Event().wait(seconds)


time.sleep = _sleep
