"""What durable steps and iterations raise."""

from __future__ import annotations


class StepError(Exception):
    """A step or iteration was used in a way djobs cannot make durable (the message says how to fix it)."""


class Interrupted(BaseException):
    """The worker is stopping: the job left at a safe point, and its progress is kept.

    Raised by ``ctx.each``/``ctx.aeach`` after the current item and by
    ``ctx.checkpoint()`` once the worker asked running jobs to stop (SIGTERM).
    The job goes back to ``available`` without using up its attempt (until it
    has been interrupted more than ``DJOBS["MAX_INTERRUPTIONS"]`` times). It
    derives from ``BaseException`` so that ``except Exception`` in the job
    cannot swallow it.
    """

    def __init__(self, where: str, interruptions: int, max_interruptions: int) -> None:
        super().__init__(where)
        self.where = where
        #: How many times this job has been interrupted, this one included.
        self.interruptions = interruptions
        self.max_interruptions = max_interruptions


__all__ = ["Interrupted", "StepError"]
