"""Progress on stderr, driven by the engine's ``ProgressCallback(stage, done, total)``.

Only shown on an interactive terminal and never with ``--quiet``, so piped output
and cron mail stay clean; stdout is never touched.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any

import click


def progress_wanted(quiet: bool, stream: IO[str] | None = None) -> bool:
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    return not quiet and bool(isatty and isatty())


class StderrProgress:
    """A progress bar per stage (or a running count when the total is unknown)."""

    def __init__(self, stream: IO[str] | None = None, *, min_interval: float = 0.1) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._stage: str | None = None
        self._bar: Any = None
        self._done = 0
        self._min_interval = min_interval
        self._last_draw = 0.0

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if stage != self._stage:
            self.close()
            self._stage, self._done = stage, 0
            if total is not None:
                self._bar = click.progressbar(
                    length=total, label=f"{stage:<5}", file=self._stream, show_pos=True
                )
                self._bar.__enter__()
        if self._bar is not None:
            if total is not None and total != self._bar.length:
                self._bar.length = total
            step = done - self._done
            if step > 0:
                self._bar.update(step)
        else:
            now = time.monotonic()
            if now - self._last_draw >= self._min_interval:
                self._stream.write(f"\r{stage:<5} {done:,}")
                self._stream.flush()
                self._last_draw = now
        self._done = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None
        elif self._stage is not None:
            self._stream.write(f"\r{self._stage:<5} {self._done:,}\n")
            self._stream.flush()
        self._stage = None
