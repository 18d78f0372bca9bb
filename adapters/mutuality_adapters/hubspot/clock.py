"""Time as the HubSpot adapter reads it, always injected so that tests run on fake clocks.

Two clocks, for two jobs: a monotonic one (:data:`Clock`, seconds) paces requests,
and the wall clock (:data:`NowMs`, epoch milliseconds, HubSpot's unit) stamps
writes, bounds searches and dates a ``Retry-After`` given as an HTTP-date.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone

__all__ = ["Clock", "NowMs", "Sleep", "wall_ms", "wall_time"]

Clock = Callable[[], float]
Sleep = Callable[[float], None]
NowMs = Callable[[], int]


def wall_ms() -> int:
    """Now, in epoch milliseconds."""
    return int(time.time() * 1000)


def wall_time(now_ms: NowMs) -> datetime:
    """``now_ms()`` as an aware UTC datetime."""
    return datetime.fromtimestamp(now_ms() / 1000, tz=timezone.utc)
