"""The dispatcher behind ``manage.py runjobs``.

- ``executor``: run ONE job in the current thread (``execute``, ``run_job``).
- ``producer``: per queue, claim as many jobs as there are free slots and run
  them in that queue's threads.
- ``recorder``: write outcomes back in batches, fenced on worker and attempt.
- ``notifier``: PostgreSQL LISTEN, to wake producers at the enqueuing commit.
- ``timeouts``: deadlines of running jobs (stuck threads are replaced by the runner).
- ``shutdown``: SIGTERM/SIGINT handling.
- ``runner``: the process loop tying them together, with heartbeats and the
  maintenance services (djobs.maintenance.services.default_services).
- ``heartbeat``, ``holdings``, ``orphans``: liveness, what this process holds,
  and the repair of rows it holds in the database but not in memory.
- ``giveback``: what follows jobs handed back by rescue or release.

The hooks other parts of djobs register are in ``djobs.hooks``.
"""
