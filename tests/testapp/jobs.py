"""Jobs the test suite enqueues and runs."""

from __future__ import annotations

from typing import Any

from djobs import job


@job
def add(a: int, b: int) -> int:
    return a + b


@job(queue="emails", priority=3, max_attempts=5)
def send_email(to: str, subject: str = "hello") -> str:
    return to


@job(unique={"period": 60, "keys": ["user_id"]})
def sync_user(user_id: int, force: bool = False) -> None:
    return None


@job(unique=True)
def unique_forever(key: str) -> None:
    return None


@job
def echo(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return {"args": list(args), "kwargs": kwargs}


from . import batch_jobs  # noqa: E402, F401, I001  (the batch tests' jobs)
from . import fault_jobs  # noqa: E402, F401  (the fault-injection tests' jobs)
from . import worker_jobs  # noqa: E402, F401  (the dispatcher tests' jobs register themselves)
from . import async_jobs  # noqa: E402, F401  (the async jobs tests)
from . import cancel_jobs  # noqa: E402, F401  (the cancel-a-running-job tests)
from . import workflow_jobs  # noqa: E402, F401  (the workflow tests)
from . import flow_jobs  # noqa: E402, F401  (the flow-control tests)
from . import atomic_jobs  # noqa: E402, F401  (the atomic jobs tests)
from . import durable_jobs  # noqa: E402, F401  (the durable steps tests)
