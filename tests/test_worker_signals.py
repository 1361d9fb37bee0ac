"""The first SIGTERM/SIGINT asks for a graceful stop even when it lands inside Event.wait().

A Python signal handler runs in the main thread between two bytecodes, maybe
while that thread holds the lock of the very event the handler would set
(runjobs' main loop sleeps in ``Event.wait(tick)``). Setting it from the
handler then waited on itself forever: the worker logged nothing, kept
beating and claiming, and was killed by its supervisor 25 s later.
"""

from __future__ import annotations

import signal
import threading

from djobs.worker.shutdown import ShutdownSignals


def test_a_signal_landing_while_its_thread_holds_the_stop_events_lock_still_stops() -> None:
    stop = threading.Event()
    signals = ShutdownSignals(stop.set)

    def main_loop_interrupted() -> None:
        # What the main thread is in when the signal arrives: inside stop.wait(),
        # its condition's lock held, and the handler running right there.
        with stop._cond:  # type: ignore[attr-defined]
            signals._handle(signal.SIGTERM, None)

    thread = threading.Thread(target=main_loop_interrupted, daemon=True)
    thread.start()
    thread.join(5)

    assert not thread.is_alive(), "the handler waited on the lock its own thread held"
    assert stop.wait(5)
    assert signals.requested.is_set()
