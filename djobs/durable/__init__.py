"""Durable steps and resumable iterations: long jobs that survive deploys and crashes.

``ctx.step(name, fn, ...)`` runs ``fn`` once per job and keeps its result;
``ctx.each(name, source)`` (``ctx.aeach`` in async jobs) resumes after the
last finished item; ``ctx.checkpoint()`` offers a point to stop at shutdown.
See docs/guide/durable-steps.md. Modules: ``runtime`` (what the context
methods do), ``progress`` (the state of one attempt and how it is saved),
``cursors`` (a QuerySet's cursor), ``policy`` (when to hand a cursor over),
``plan`` (interruptions asked for by tests), ``models`` (the saved row).
"""

from __future__ import annotations

from .errors import Interrupted, StepError

__all__ = ["Interrupted", "StepError"]
