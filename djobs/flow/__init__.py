"""Flow control: global and per-partition concurrency limits, rate limits, paused and scaled queues.

``config`` parses a queue's settings, ``limits`` holds the pure rules a
limited claim applies, ``models`` the queue-state and limit rows, and
``state`` keeps a worker's view of the queue states current.
"""
