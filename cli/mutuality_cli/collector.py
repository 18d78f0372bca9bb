"""The garbage collector tuned for a bulk run: the CLI owns its process, the library never
touches the collector.

A sync reads a million activities into millions of long-lived objects, none in reference
cycles. With Python's default thresholds a young collection runs every 700 allocations
and full collections walk every object again and again as the heap grows: about a fifth
of a one-process sync's CPU time (``benchmarks/bench_sync.py --gc library,cli``; figures
in docs/performance.md). For the command's run, young collections run every 100,000
allocations and full ones all but never; cyclic garbage (HTTP responses, exceptions)
is still freed by the young collections. The thresholds are restored afterwards.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["BULK_THRESHOLDS", "bulk_collection"]

#: (young, middle, old): collections of each generation after this many of the one below
BULK_THRESHOLDS = (100_000, 50, 1000)


@contextmanager
def bulk_collection() -> Iterator[None]:
    """Collect rarely while the block runs (see the module's docstring)."""
    before = gc.get_threshold()
    gc.set_threshold(*BULK_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)
