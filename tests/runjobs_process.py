"""Start ``manage.py runjobs`` in a subprocess against the test database, and wait on it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class RunJobs:
    """A runjobs subprocess; its output goes to a temporary file (``output()``).

    ``prefix`` wraps the command (``["faketime", "-f", "-90s"]``). Such a wrapper
    may fork rather than exec, so the process then gets a session of its own and
    signals go to its whole process group.
    """

    def __init__(self, *args: str, prefix: Sequence[str] = (), **env: str) -> None:
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115  (closed in stop())
            prefix="runjobs-", suffix=".log", delete=False
        )
        environ = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
            "PYTHONPATH": str(ROOT),
            **env,
        }
        self.grouped = bool(prefix)
        self.process = subprocess.Popen(
            [*prefix, sys.executable, str(ROOT / "manage.py"), "runjobs", *args],
            cwd=ROOT,
            env=environ,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=self.grouped,
        )

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def signal(self, sig: signal.Signals) -> None:
        if self.grouped:
            os.killpg(self.process.pid, sig)
        else:
            self.process.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
            raise AssertionError(f"runjobs did not exit in {timeout}s:\n{self.output()}") from None

    def stop(self) -> None:
        if self.grouped:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


def wait_until(condition: Callable[[], object], timeout: float = 20.0, what: str = "") -> None:
    """Poll ``condition`` until it is true; fail after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
