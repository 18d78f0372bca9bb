"""Reading and scoring a large activities file in worker processes, partitioned by contact.

Every worker reads the whole activities file with ``csv.reader`` (cheap), but
builds activities and scores only for the contacts of its own partition; the
parent gets back one score per contact and the rows each worker rejected, and
diffs and writes as usual. Because all rows of one contact land in one worker,
each worker finds that contact's duplicate activity ids exactly as a single
process would (an id may repeat across contacts, never within one). Every
worker also sees every row, so each finds the earliest bad row of its own
partition; the earliest of those is the error a single process raises.

Workers are forked (``fork`` start method): they inherit the parsed contacts
without pickling and need no ``if __name__ == "__main__"`` guard in the caller.
Where ``fork`` is missing, :func:`parallel_supported` says so and the caller
reads in one process.

A worker never outlives its parent: if the parent is killed (SIGKILL, OOM
killer, a SIGTERM it does not handle) there is no ``finally`` to stop the
workers, and a worker blocked sending its scores into a pipe nobody reads would
hold the pipe, the caller's stdout/stderr and the state file forever. So each
worker closes the inherited pipe ends it does not use (its send then fails at
once with a broken pipe), asks Linux to kill it when the parent dies
(``prctl(PR_SET_PDEATHSIG)``), and elsewhere watches ``os.getppid()`` from a
thread.
"""

from __future__ import annotations

import csv
import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection as Pipe
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from mutuality_core.config import ScoringConfig
from mutuality_core.construct import trusted_component, trusted_score
from mutuality_core.errors import InvalidInputError, MutualityError
from mutuality_core.model import (
    Activity,
    Band,
    Contact,
    MutualityScore,
)
from mutuality_core.ports import Rejection
from mutuality_core.sync import score_histories

from .records import RecordFile, open_records
from .rows import ACTIVITY_COLUMNS, RejectLog, parse_activities

__all__ = [
    "WorkerFailedError",
    "can_fork",
    "parallel_supported",
    "score_in_workers",
]

log = logging.getLogger(__name__)

#: ``prctl`` option: deliver a signal to this process when its parent exits (linux/prctl.h).
_PR_SET_PDEATHSIG = 1
#: How often a worker without ``PR_SET_PDEATHSIG`` checks that its parent still lives.
_PARENT_POLL_SECONDS = 0.2


class WorkerFailedError(MutualityError):
    """A worker process died or failed unexpectedly; nothing was written.

    Rerun with the files setting ``workers = 1`` to read in one process (and see
    the underlying error there, if it is one).
    """


#: How many parsed activities a worker reports at a time (a few sends per million rows).
PROGRESS_EVERY = 100_000


def can_fork() -> bool:
    """Whether this process may fork workers at all (not on Windows, not in a daemon process)."""
    return (
        "fork" in multiprocessing.get_all_start_methods()
        and not multiprocessing.current_process().daemon
    )


def parallel_supported() -> bool:
    """Whether ``workers = auto`` should use workers: fork, two cores, and no other threads.

    Forking a process that runs other threads can deadlock the child on a lock one
    of them held, so ``auto`` then stays in one process.
    """
    return can_fork() and threading.active_count() == 1 and (os.cpu_count() or 1) >= 2


@dataclass
class PartitionResult:
    """What one worker sends back: its scores in partition order, and what it rejected.

    Scores travel as tuples of plain values (:func:`_flatten`): pickling the attrs
    objects themselves costs a Python call per object and per component, several
    times the price of the tuples. The parent replaces them with the rebuilt scores.
    """

    scores: list[Any]
    activities: int
    rejections: list[Rejection] = field(default_factory=list)
    records: list[tuple[str, int, str, str]] = field(default_factory=list)


@dataclass
class ScoredActivities:
    """Every contact's score, in contact order, with the merged rejections (file order)."""

    scores: list[tuple[Contact, MutualityScore]]
    activities: int
    rejections: list[Rejection]
    records: list[tuple[str, int, str, str]]


def score_in_workers(
    activities_path: Path,
    contacts: Mapping[str, Contact],
    rejected_contacts: Mapping[str, int],
    contacts_name: str,
    *,
    skip_invalid: bool,
    workers: int,
    as_of: datetime,
    config: ScoringConfig,
    progress: Callable[[int], None] | None = None,
) -> ScoredActivities:
    """Parse and score ``activities_path`` in ``workers`` forked processes.

    ``progress(activities parsed so far)`` is called as the workers report, every
    :data:`PROGRESS_EVERY` activities each, so a long read shows it is moving.

    Raises the :class:`InvalidInputError` of the earliest bad row (when not
    skipping), or :class:`WorkerFailedError` if a worker dies; no worker outlives
    the call, whatever happens (KeyboardInterrupt included).
    """
    ordered = list(contacts.values())
    plain = _is_plain_csv(activities_path)
    owner = {contact.id: index % workers for index, contact in enumerate(ordered)}
    context = multiprocessing.get_context("fork")
    processes: list[Any] = []
    pipes: list[Pipe] = []
    parent = os.getpid()
    try:
        for part in range(workers):
            receiving, sending = context.Pipe(duplex=False)
            inherited = (*pipes, receiving)  # read ends the child must not keep open
            args = (parent, inherited, sending, activities_path, contacts,
                    rejected_contacts, contacts_name, skip_invalid, owner, part,
                    ordered[part::workers], as_of, config, plain)  # fmt: skip
            process = context.Process(
                target=_worker, name=f"mutuality-files-worker-{part}", args=args, daemon=True
            )
            process.start()
            sending.close()
            processes.append(process)
            pipes.append(receiving)
        bands = {band._value_: band for band in Band}

        def rebuild(part: int, message: Any) -> None:
            """Rebuild a worker's scores as it arrives, while the others still work."""
            if message[0] == "ok":
                mine = ordered[part::workers]
                message[1].scores = [
                    _rebuild(c.id, values, as_of, bands)
                    for c, values in zip(mine, message[1].scores, strict=True)
                ]

        messages = _collect(processes, pipes, rebuild, progress)
    finally:
        for pipe in pipes:
            pipe.close()
        _stop(processes)
    return _merge(ordered, messages, workers, as_of)


def _merge(
    ordered: Sequence[Contact], messages: Sequence[Any], workers: int, as_of: datetime
) -> ScoredActivities:
    """Every contact's score in contact order; rejections in file order; else the first error."""
    errors = [m for m in messages if m[0] == "error"]
    if errors:
        _, _line, _part, error = min(errors, key=lambda m: (m[1], m[2]))
        raise error
    results: list[PartitionResult] = [m[1] for m in messages]
    parts = [r.scores for r in results]
    scores = [
        (contact, parts[index % workers][index // workers]) for index, contact in enumerate(ordered)
    ]
    merged = sorted(
        (record[1], part, n)
        for part, result in enumerate(results)
        for n, record in enumerate(result.records)
    )
    return ScoredActivities(
        scores=scores,
        activities=sum(r.activities for r in results),
        rejections=[results[part].rejections[n] for _, part, n in merged],
        records=[results[part].records[n] for _, part, n in merged],
    )


def _collect(
    processes: Sequence[Any],
    pipes: Sequence[Pipe],
    received: Callable[[int, Any], None],
    progress: Callable[[int], None] | None = None,
) -> list[Any]:
    """One final message per worker, each handed to ``received`` as it comes; a worker
    that exits without one is a failure. ``("progress", n)`` messages before it go to
    ``progress`` as the sum over workers."""
    messages: list[Any] = [None] * len(processes)
    parsed = [0] * len(processes)
    waiting = {pipe: part for part, pipe in enumerate(pipes)}
    exits = {processes[part].sentinel: part for part in range(len(processes))}
    while waiting:
        ready = wait([*waiting, *(s for s, p in exits.items() if pipes[p] in waiting)])
        for handle in ready:
            if handle in waiting:
                part = waiting[handle]
                try:
                    message = handle.recv()
                except (EOFError, OSError):
                    raise _died(processes[part]) from None
                if message[0] == "progress":
                    parsed[part] = message[1]
                    if progress is not None:
                        progress(sum(parsed))
                    continue
                messages[part] = message
                del waiting[handle]
                received(part, messages[part])
            elif pipes[exits[handle]] in waiting and not pipes[exits[handle]].poll():
                raise _died(processes[exits[handle]])
    for message in messages:
        if message[0] == "crash":
            raise WorkerFailedError(
                f"a files worker process failed unexpectedly:\n{message[1]}"
                "Rerun with the files setting workers = 1 to read in one process."
            )
    return messages


def _died(process: Any) -> WorkerFailedError:
    process.join(5)
    return WorkerFailedError(
        f"files worker process {process.name} (pid {process.pid}) died with exit code "
        f"{process.exitcode} before sending its scores (out of memory? killed?); nothing was "
        "written. Rerun with the files setting workers = 1 to read in one process."
    )


def _stop(processes: Sequence[Any]) -> None:
    """Reap every worker: wait briefly for those finishing, terminate the rest."""
    for process in processes:
        process.join(0.5 if process.exitcode is None else None)
        if process.exitcode is None:
            process.terminate()
            process.join(5)
        if process.exitcode is None:  # pragma: no cover - ignored SIGTERM
            process.kill()
            process.join()
        process.close()


def _die_with_parent() -> bool:
    """Ask Linux to SIGKILL this process when its parent exits; False where that is unknown."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    """End this process as soon as ``parent`` is no longer its parent (portable fallback)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="mutuality-parent-watch", daemon=True).start()


def _bind_to_parent(parent: int, inherited: Sequence[Pipe]) -> None:
    """Make sure this worker ends when ``parent`` does, whatever way the parent ends."""
    for pipe in inherited:
        pipe.close()
    if not _die_with_parent():
        _watch_parent(parent)
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(1)


def _worker(
    parent: int,
    inherited: Sequence[Pipe],
    pipe: Pipe,
    activities_path: Path,
    contacts: Mapping[str, Contact],
    rejected_contacts: Mapping[str, int],
    contacts_name: str,
    skip_invalid: bool,
    owner: Mapping[str, int],
    part: int,
    mine: Sequence[Contact],
    as_of: datetime,
    config: ScoringConfig,
    plain: bool,
) -> None:
    """Runs in a forked child: parse this partition's rows, score its contacts, send back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us; no second traceback
    _bind_to_parent(parent, inherited)
    records = None
    try:
        records = open_records(activities_path, ACTIVITY_COLUMNS)
        column = records.header.index("contact_id") if "contact_id" in records.header else None
        if column is not None and plain and records.format == "csv":
            records = _plain_partition(records, column, owner, part)
        elif column is not None:
            records.rows = _partition_rows(records.rows, column, owner, part)
        rejects = RejectLog(skip_invalid)
        groups: dict[str, list[Activity]] = {}
        get = groups.get
        count = 0
        report_at = PROGRESS_EVERY
        for chunk in parse_activities(records, contacts, rejected_contacts, contacts_name, rejects):
            count += len(chunk)
            if count >= report_at:
                pipe.send(("progress", count))
                report_at = count + PROGRESS_EVERY
            for activity in chunk:
                group = get(activity.contact_id)
                if group is None:
                    groups[activity.contact_id] = [activity]
                else:
                    group.append(activity)
        histories = ((c.id, groups.pop(c.id, [])) for c in mine)
        scores = [_flatten(s) for s in score_histories(histories, as_of=as_of, config=config)]
        message: Any = (
            "ok",
            PartitionResult(scores, count, rejects.rejections, rejects.records),
        )
    except InvalidInputError as exc:
        line = records.line() if records is not None else 0
        message = ("error", line, part, exc)
    except BaseException:
        message = ("crash", traceback.format_exc())
    try:
        pipe.send(message)
        pipe.close()
    except OSError:  # the parent is gone (broken pipe): nobody wants the result
        os._exit(1)


def _flatten(score: MutualityScore) -> tuple[Any, ...]:
    """A score as plain values (its contact id and as_of are known to the parent)."""
    return (
        score.score,
        score.lean,
        score.strength,
        score.band._value_,
        score.confidence,
        score.reasons,
        tuple((c.name, c.value, c.weight, c.evidence, c.lean, c.detail) for c in score.components),
        score.algorithm,
        score.activity_count,
        score.last_activity_at,
    )


def _rebuild(
    contact_id: str, values: tuple[Any, ...], as_of: datetime, bands: Mapping[str, Band]
) -> MutualityScore:
    """The score :func:`_flatten` took apart, equal to the worker's."""
    (score, lean, strength, band, confidence, reasons, components, algorithm, count,
     last_at) = values  # fmt: skip
    return trusted_score(
        contact_id,
        score,
        lean,
        strength,
        bands[band],
        confidence,
        reasons,
        tuple(trusted_component(*c) for c in components),
        algorithm,
        as_of,
        count,
        last_at,
    )


def _is_plain_csv(path: Path) -> bool:
    """A CSV file without quotes or lone carriage returns: one record per line, split on commas.

    Then a worker can pick its rows from the raw lines and leave the others to
    ``csv.reader`` in the other worker, instead of every worker parsing every row.
    """
    if path.suffix != ".csv":
        return False
    with path.open("rb") as f:
        # in blocks, so a large file is never held whole; a CR LF split across two
        # blocks only makes the file look not plain, which is slower but still right
        while block := f.read(8 * 2**20):
            if b'"' in block or block.count(b"\r") != block.count(b"\r\n"):
                return False
    return True


class _LineCounter:
    """Stands in for ``csv.reader.line_num``: the file line of the row being parsed."""

    line_num = 0


def _plain_partition(
    records: RecordFile, column: int, owner: Mapping[str, int], part: int
) -> RecordFile:
    """``records`` reading only this partition's lines (see :func:`_is_plain_csv`)."""
    counter = _LineCounter()
    counter.line_num = records.line()
    lines = _partition_lines(records.handle, counter, column, owner, part)
    return RecordFile(records.path, records.header, csv.reader(lines), records.handle, counter)


def _partition_lines(
    handle: Iterator[str],
    counter: _LineCounter,
    column: int,
    owner: Mapping[str, int],
    part: int,
) -> Iterator[str]:
    """This partition's raw lines (rows of no known contact go to partition 0)."""
    line = counter.line_num
    fields = column + 1
    for text in handle:
        line += 1
        cells = text.split(",", fields)
        key = cells[column] if len(cells) > column else ""
        owner_part = owner.get(key)
        if owner_part is None:
            owner_part = owner.get(key.strip(), 0)
        if owner_part == part:
            counter.line_num = line
            yield text


def _partition_rows(
    rows: Iterator[list[str]], column: int, owner: Mapping[str, int], part: int
) -> Iterator[list[str]]:
    """The rows of this partition's contacts, plus (in partition 0) rows of no known contact."""
    for row in rows:
        try:
            if owner[row[column]] == part:
                yield row
        except (KeyError, IndexError):
            if _fallback_owner(row, column, owner) == part:
                yield row


def _fallback_owner(row: list[str], column: int, owner: Mapping[str, int]) -> int:
    """Padded contact ids go where the clean id goes; rows of no known contact to partition 0."""
    if len(row) <= column:
        return 0
    return owner.get(row[column].strip(), 0)
