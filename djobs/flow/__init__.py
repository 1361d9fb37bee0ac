"""Flow control: global and per-partition concurrency limits, rate limits, paused and scaled queues.

``config`` parses a queue's settings, ``limits`` holds the pure rules a
limited claim applies (the claim itself is djobs.db.flow), ``partition`` the
partition key written at enqueue, ``models`` the queue-state and limit rows,
``state`` keeps a worker's view of the queue states current, ``queues`` the
operator actions (re-exported by djobs.operations) and ``checks`` the check
of ``partition_by`` against the queue's jobs.
"""
