"""Garbage-collector settings for processes that handle large batches of records.

Its own module, imported by the services and by market_data's decode worker, which must not
pay for importing the service runtime (Kafka, PostgreSQL and HTTP clients).
"""

from __future__ import annotations

import gc

# Young-generation size of the cyclic garbage collector once a service runs. A batch keeps
# tens of thousands of records alive for its whole transaction; at Python's default (700)
# they are traversed again and again as they age, and full collections rescan every module,
# model and route loaded at start-up. Reference counting frees almost everything anyway.
GC_YOUNG_THRESHOLD = 50_000


def tune_gc_for_batches() -> None:
    """Freeze what start-up allocated (never collected, never rescanned); collect rarely."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, max(older, 20), oldest)
