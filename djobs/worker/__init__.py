"""The dispatcher behind ``manage.py runjobs``.

- ``executor``: run ONE job in the current thread (``execute``, ``run_job``).
- ``producer``: per queue, claim as many jobs as there are free slots and run
  them in that queue's threads.
- ``recorder``: write outcomes back in batches, fenced on worker and attempt.
- ``notifier``: PostgreSQL LISTEN, to wake producers at the enqueuing commit.
- ``timeouts``: deadlines of running jobs and the clogged-pool watchdog.
- ``shutdown``: SIGTERM/SIGINT handling.
- ``runner``: the process loop tying them together, with heartbeats and the
  maintenance services (djobs.maintenance.services.default_services).
- ``hooks``: ``after_terminal``, called with jobs that reached a terminal state.
"""
