"""Progress on stderr, driven by the engine's ``ProgressCallback(stage, done, total)``.

Only shown on an interactive terminal and never with ``--quiet``, so piped output
and cron mail stay clean; stdout is never touched.

The engine scores and writes in turns (a batch is written as soon as it is full),
so "write" updates arrive between "score" ones. They are folded into the scoring
line ("score 12,000/50,000 (24%)  written 11,500") instead of starting a new line
each time: one line per stage, redrawn in place.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

#: Stages whose updates are shown on the line of the stage before them.
_FOLDED = {"write": "written"}


def progress_wanted(quiet: bool, stream: IO[str] | None = None) -> bool:
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    return not quiet and bool(isatty and isatty())


@contextmanager
def progress_display(quiet: bool) -> Iterator[StderrProgress | None]:
    """A progress line when :func:`progress_wanted`, finished however the block ends."""
    progress = StderrProgress() if progress_wanted(quiet) else None
    try:
        yield progress
    finally:
        if progress is not None:
            progress.close()


class StderrProgress:
    """One self-redrawing line per stage: count, total and share when the total is known."""

    def __init__(self, stream: IO[str] | None = None, *, min_interval: float = 0.1) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._min_interval = min_interval
        self._stage: str | None = None
        self._done = 0
        self._total: int | None = None
        self._folded: dict[str, int] = {}
        self._started = 0.0
        self._last_draw = 0.0
        self._width = 0

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if stage in _FOLDED and self._stage is not None:
            self._folded[_FOLDED[stage]] = done
        else:
            if stage != self._stage:
                self.close()
                self._stage, self._total, self._folded = stage, None, {}
                self._started = time.monotonic()
            self._done, self._total = done, total if total is not None else self._total
        self._draw()

    def _line(self) -> str:
        line = f"{self._stage:<5} {self._done:,}"
        if self._total:
            share = min(100.0, 100.0 * self._done / self._total)
            line += f"/{self._total:,} ({share:.0f}%)"
        for label, count in self._folded.items():
            line += f"  {label} {count:,}"
        elapsed = time.monotonic() - self._started
        if elapsed >= 1:
            line += f"  {elapsed:.0f} s"
        return line

    def _draw(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < self._min_interval:
            return
        line = self._line()
        self._stream.write("\r" + line.ljust(self._width))
        self._stream.flush()
        self._width = max(self._width, len(line))
        self._last_draw = now

    def close(self) -> None:
        """Finish the current line with its last figures."""
        if self._stage is None:
            return
        self._draw(force=True)
        self._stream.write("\n")
        self._stream.flush()
        self._stage, self._width = None, 0
