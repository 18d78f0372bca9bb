"""Ctrl-C and SIGTERM stop a sync at the engine's next safe point, not in mid-batch.

Raised at an arbitrary bytecode, the interrupt can land between a batch's write to
the CRM and the state's record of it; the next run then writes that batch again.
The engine calls its progress callback only at safe points (after a page is stored,
after a batch is written and recorded, between contacts while scoring), so the
first signal just asks for a stop and the callback raises it there. A second
signal stops at once, for a run stuck in a long wait.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType, TracebackType
from typing import Any

import click

from mutuality_core.ports import ProgressCallback

__all__ = ["INTERRUPTED_BY_USER", "GracefulStop", "Terminated"]

#: What a run report and the error line say about a Ctrl-C.
INTERRUPTED_BY_USER = "interrupted by the user (Ctrl-C)"


class Terminated(KeyboardInterrupt):
    """SIGTERM (a cron or CI timeout, ``kubectl delete``), handled like Ctrl-C."""


def _interrupt_for(signum: int) -> KeyboardInterrupt:
    if signum == signal.SIGTERM:
        return Terminated("Terminated by SIGTERM (a timeout or a shutdown)")
    return KeyboardInterrupt(INTERRUPTED_BY_USER)


class GracefulStop:
    """A ``with`` block in which SIGINT/SIGTERM request a stop; ``wrap`` makes it happen."""

    def __init__(self) -> None:
        self.requested: int | None = None
        self._previous: dict[int, Any] = {}
        self._pid = os.getpid()

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if os.getpid() != self._pid:
            # A worker forked during the run got the terminal's signal before it set its
            # own handling: the run's process stops it, and says so once, not per worker.
            return
        if self.requested is not None:
            raise _interrupt_for(signum)  # asked twice: stop now
        self.requested = signum
        click.echo("Stopping after the current batch; signal again to stop at once.", err=True)

    def check(self) -> None:
        """Raise the requested interrupt, if any: call only where stopping is safe."""
        if self.requested is not None:
            raise _interrupt_for(self.requested)

    def wrap(self, progress: ProgressCallback | None) -> ProgressCallback:
        """The engine's progress callback, checking for a requested stop first."""

        def callback(stage: str, done: int, total: int | None) -> None:
            self.check()
            if progress is not None:
                progress(stage, done, total)

        return callback
