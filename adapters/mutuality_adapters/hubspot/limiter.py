"""Client-side rate limiting: stay under HubSpot's limits instead of bouncing off them.

A sliding-window log per limit: at most ``max_calls`` starts in any ``window``
seconds. Time is injected (``clock``/``sleep``) so tests run without waiting.
Only pacing lives here: whether and when a failed request is sent again is the
shared :class:`~mutuality_adapters.retry.RetryPolicy`'s decision; after a 429 the
API layer calls :meth:`SlidingWindowLimiter.pause` so that no request starts early.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from .clock import Clock, Sleep


class SlidingWindowLimiter:
    """Blocks ``acquire`` until one more call fits in the window; ``pause`` backs off everyone."""

    def __init__(
        self,
        max_calls: int,
        window: float,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        if max_calls < 1 or window <= 0:
            raise ValueError("max_calls must be >= 1 and window > 0")
        self.max_calls = max_calls
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._starts: deque[float] = deque()
        self._paused_until = 0.0
        self._lock = threading.Lock()
        self.waited = 0.0

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                while self._starts and now - self._starts[0] >= self.window:
                    self._starts.popleft()
                wait = max(0.0, self._paused_until - now)
                if not wait and len(self._starts) >= self.max_calls:
                    wait = self.window - (now - self._starts[0])
                if wait <= 0:
                    self._starts.append(now)
                    return
            self.waited += wait
            self._sleep(wait)

    def finished(self) -> None:
        """Count the last call from when its answer arrived, not from when it was sent.

        The server counts a request when it receives it, some time after we sent it;
        counting from the answer keeps that skew from turning into 429s.
        """
        with self._lock:
            if self._starts:
                self._starts[-1] = max(self._starts[-1], self._clock())

    def pause(self, seconds: float) -> None:
        """Let nobody start a call for ``seconds`` (after a 429 the server told us about)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)
