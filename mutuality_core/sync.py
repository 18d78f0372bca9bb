"""The sync use-case: read, score, diff against what was last written, write what changed.

One loop serves the library, the scheduled job and the CLI:

* :func:`run_sync` - one run against a connection and a state store (locked,
  resumable, recorded in the run history). The CLI's ``mutuality sync``.
* :func:`score_connection` - score every contact, write nothing, advance nothing.
  The CLI's ``mutuality score``. :func:`score_source` does the same for a bare
  :class:`~mutuality_core.ports.Source` without any state store.
* :func:`explain_contact` - one contact and its score (each component carries its
  evidence; ``reasons`` say why). The CLI's ``mutuality explain CONTACT_ID``.
  :func:`load_history` gives that contact's activities.
* :func:`is_material_change` - the rule that decides what gets written.

How a source is read depends on ``Source.complete_history``: a complete source
(files) is read in full and scored from memory; an incremental source (CRMs) is
read from the saved cursor into the state store's activity cache, page by page,
and every cached contact is then rescored (scores drift with time). Those read
strategies live in :mod:`mutuality_core.reading`. Either way, only contacts whose
score changed materially are written, in batches, and each batch's successes are
recorded before the next batch starts: a run that dies at any point resumes
without losing or repeating a write.

The library leaves the host's garbage collector alone (no ``gc`` calls): a process
that holds millions of activities may tune it itself (see docs/performance.md).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Collection, Container, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, overload, runtime_checkable

import attrs

from mutuality_core.config import ScoringConfig
from mutuality_core.engines import AUTO, check_engine_choice
from mutuality_core.errors import ConfigError, InvalidInputError, QuotaExhaustedError
from mutuality_core.model import Activity, Band, Contact, MutualityScore
from mutuality_core.ports import (
    Connection,
    CountingStateStore,
    Cursor,
    FailedWrite,
    FinishingWriter,
    OnePassWriter,
    Page,
    ProgressCallback,
    Rejection,
    RewritableWriter,
    ScoreUpdate,
    ScoreWriter,
    Source,
    StateStore,
    StoredIdsWriter,
    StoredScoresWriter,
    WriteResult,
    WrittenScore,
)
from mutuality_core.reading import histories_without_storing, read_into_cache, read_snapshot
from mutuality_core.reconcile import drift_reason, is_outdated
from mutuality_core.scoring import (
    ALGORITHM_VERSION,
    _score_sorted,
    score_contact,
)
from mutuality_core.timestamps import check_as_of

__all__ = [
    "DiffedRead",
    "DiffingSource",
    "OnePassWriter",
    "PendingScore",
    "RunReport",
    "ScoredRead",
    "ScoringSource",
    "SyncOptions",
    "explain_contact",
    "is_material_change",
    "load_history",
    "run_sync",
    "score_connection",
    "score_histories",
    "score_source",
    "write_decision",
]

log = logging.getLogger(__name__)

#: Report progress every this many contacts scored.
_SCORE_PROGRESS_EVERY = 2000
#: Keep at most this many failures/rejections in a report (the counts stay exact).
_REPORT_DETAIL_LIMIT = 1000


@attrs.frozen
class SyncOptions:
    """How one run behaves."""

    full: bool = False  # ignore the cursor and read everything
    dry_run: bool = False  # write nothing, cache nothing, advance no cursor (the run is listed)
    batch_size: int | None = attrs.field(default=None)  # None: the writer's own batch_size
    min_score_change: float = attrs.field(default=1.0)  # points on the rounded score
    scoring: ScoringConfig = attrs.field(factory=ScoringConfig)
    owner: str = "mutuality sync"  # names this run in the lock, for whoever finds it held
    #: a contact failing for the same reason this many runs in a row is listed
    #: under ``persistent_failures`` in every report until it is fixed
    persistent_failure_runs: int = attrs.field(default=3)
    #: where complete reads are scored: "auto", "python" or an engine (mutuality_core.engines)
    engine: str = attrs.field(default=AUTO, validator=lambda _s, _a, v: check_engine_choice(v))

    @batch_size.validator
    def _check_batch_size(self, attribute: attrs.Attribute[int | None], value: int | None) -> None:
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ConfigError(f"batch_size must be a whole number >= 1 or None; got {value!r}")

    @persistent_failure_runs.validator
    def _check_persistent(self, attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"persistent_failure_runs must be a whole number >= 1; got {value!r}")

    @min_score_change.validator
    def _check_min_change(self, attribute: attrs.Attribute[float], value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ConfigError(f"min_score_change must be a number >= 0; got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        """The options as recorded in the run history."""
        return {
            "full": self.full,
            "dry_run": self.dry_run,
            "batch_size": self.batch_size,
            "min_score_change": self.min_score_change,
            "scoring": attrs.asdict(self.scoring),
            "owner": self.owner,
            "persistent_failure_runs": self.persistent_failure_runs,
            "engine": self.engine,
        }


@attrs.frozen
class RunReport:
    """What one run did, for the CLI's ``--report run.json`` and for run history.

    Every contact written (or, in a dry run, that would be) is counted once, under
    the first that applies: ``retried`` (its write failed in an earlier run),
    ``repaired`` (the target's fields drifted from what was written: ``missing``,
    ``edited`` or ``outdated``, see ``repaired_by_reason`` and ``repairs``) or
    ``changed`` (its score changed materially). ``written`` counts the successful
    writes; ``failed`` those the writer refused (listed in ``failures`` with how many
    runs in a row they failed so; every one is retried on the next run).
    ``persistent_failures`` lists the failures that repeated for at least
    ``SyncOptions.persistent_failure_runs`` runs. ``forgotten`` lists contacts a
    read showed deleted, whose state was dropped. ``rejected`` counts source
    records skipped as invalid (``rejections``).
    """

    run_id: int | None
    target: str
    started_at: datetime
    finished_at: datetime
    as_of: datetime
    full: bool
    dry_run: bool
    contacts_read: int
    activities_read: int
    contacts_scored: int
    changed: int
    written: int
    failed: int
    failures: tuple[WriteResult, ...]
    band_counts: Mapping[str, int]
    stopped_reason: str | None = None  # e.g. "quota": the run stopped early with state saved
    unchanged: int = 0
    rejected: int = 0
    rejections: tuple[Rejection, ...] = ()
    error: str | None = None  # why the run stopped or failed
    repairs: tuple[tuple[str, str], ...] = ()  # (contact_id, reason)
    retried: int = 0
    forgotten: tuple[str, ...] = ()
    failure_runs: Mapping[str, int] = attrs.field(factory=dict)  # contact_id -> runs in a row
    persistent_failure_runs: int = 3

    @property
    def repaired(self) -> int:
        return len(self.repairs)

    @property
    def repaired_by_reason(self) -> dict[str, int]:
        return dict(sorted(Counter(reason for _, reason in self.repairs).items()))

    @property
    def persistent_failures(self) -> tuple[WriteResult, ...]:
        limit = self.persistent_failure_runs
        return tuple(f for f in self.failures if self.failure_runs.get(f.contact_id, 1) >= limit)

    @property
    def status(self) -> str:
        """``ok``, ``partial`` (some records failed), ``stopped`` (e.g. quota) or ``error``."""
        if self.stopped_reason:
            return "error" if self.stopped_reason == "error" else "stopped"
        if self.failed:
            return "partial"
        return "ok"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (datetimes as ISO 8601 text); details are capped at 1000 items."""
        return {
            "run_id": self.run_id,
            "target": self.target,
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "duration_seconds": round((self.finished_at - self.started_at).total_seconds(), 3),
            "as_of": self.as_of.isoformat(),
            "full": self.full,
            "dry_run": self.dry_run,
            "contacts_read": self.contacts_read,
            "activities_read": self.activities_read,
            "contacts_scored": self.contacts_scored,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "repaired": self.repaired,
            "repaired_by_reason": self.repaired_by_reason,
            "repairs": [
                {"contact_id": cid, "reason": reason}
                for cid, reason in self.repairs[:_REPORT_DETAIL_LIMIT]
            ],
            "retried": self.retried,
            "written": self.written,
            "failed": self.failed,
            "failures": [self._failure_dict(f) for f in self.failures[:_REPORT_DETAIL_LIMIT]],
            "persistent_failures": [
                self._failure_dict(f) for f in self.persistent_failures[:_REPORT_DETAIL_LIMIT]
            ],
            "forgotten": len(self.forgotten),
            "forgotten_ids": list(self.forgotten[:_REPORT_DETAIL_LIMIT]),
            "rejected": self.rejected,
            "rejections": [
                {"where": r.where, "error": r.error} for r in self.rejections[:_REPORT_DETAIL_LIMIT]
            ],
            "band_counts": dict(sorted(self.band_counts.items())),
            "stopped_reason": self.stopped_reason,
            "error": self.error,
        }

    def _failure_dict(self, failure: WriteResult) -> dict[str, Any]:
        return {
            "contact_id": failure.contact_id,
            "error": failure.error,
            "retryable": failure.retryable,
            "gone": failure.gone,
            "runs": self.failure_runs.get(failure.contact_id, 1),
        }


def is_material_change(
    new: MutualityScore | PendingScore, old: WrittenScore | None, min_score_change: float = 1.0
) -> bool:
    """Whether ``new`` is worth writing over ``old``.

    Never written: yes. Band changed: yes. Otherwise only when the rounded score
    moved by at least ``min_score_change`` points, so daily recency drift does
    not burn API quota or bump the CRM's last-modified stamps for nothing.
    """
    if old is None:
        return True
    if new.band._value_ != old.band:  # _value_: the same text, without Enum's descriptor
        return True
    return abs(round(new.score) - round(old.score)) >= min_score_change


def write_decision(
    contact_id: str,
    score: MutualityScore | PendingScore,
    old: WrittenScore | None,
    threshold: float,
    *,
    failed: Container[str] = (),
    drift: Mapping[str, str] | None = None,
) -> tuple[str, str | None] | None:
    """Whether a contact is written, and why: the one rule every sync path applies.

    ``("retried", None)`` when its last write failed (``failed``), ``("repaired",
    reason)`` when its written value drifted (``drift``: missing, edited) or came from
    another algorithm (``outdated``), ``("changed", None)`` for a material change
    (:func:`is_material_change`), None to leave it as it is.
    """
    if contact_id in failed:
        return "retried", None
    reason = drift.get(contact_id) if drift else None
    if reason is None and old is not None and is_outdated(old, score.algorithm):
        reason = "outdated"
    if reason is not None:
        return "repaired", reason
    if is_material_change(score, old, threshold):
        return "changed", None
    return None


# -- the use-case -------------------------------------------------------------------------


def _no_progress(stage: str, done: int, total: int | None) -> None:
    return None


def run_sync(
    connection: Connection,
    state: StateStore,
    *,
    as_of: datetime,
    now: Callable[[], datetime],
    options: SyncOptions | None = None,
    progress: ProgressCallback | None = None,
) -> RunReport:
    """Run one sync of ``connection`` against ``state``. ``now`` stamps the run history.

    Holds the state store's lock on ``connection.target`` for the whole run
    (:class:`~mutuality_core.errors.LockHeldError` if another run has it).
    A :class:`~mutuality_core.errors.QuotaExhaustedError` from the source or the
    writer ends the run early and cleanly: everything done so far is saved and the
    report says ``stopped_reason="quota"``; the next run carries on. Any other
    exception is recorded in the run history and re-raised; batches written
    before it stay recorded, so the next run does not write them again.
    """
    options = options or SyncOptions()
    check_as_of(as_of)
    report_progress = progress or _no_progress
    target = connection.target
    with state.lock(target, owner=options.owner):
        started_at = now()
        run_options = {
            **options.to_dict(),
            "as_of": as_of.isoformat(),
            "algorithm": ALGORITHM_VERSION,
        }
        run_id = state.start_run(target, started_at=started_at, options=run_options)
        counts = _RunCounts()
        full_run = (
            options.full or connection.source.complete_history or not state.get_cursor(target)
        )

        def report(stopped_reason: str | None = None, error: str | None = None) -> RunReport:
            return counts.report(
                run_id=run_id,
                target=target,
                started_at=started_at,
                finished_at=now(),
                as_of=as_of,
                full=full_run,
                options=options,
                stopped_reason=stopped_reason,
                error=error,
            )

        try:
            _sync(connection, state, as_of, options, counts, report_progress)
        except QuotaExhaustedError as exc:
            log.warning("%s: stopped early, API quota exhausted: %s", target, exc)
            result = report("quota", str(exc))
        except BaseException as exc:
            result = report("error", _describe(exc))
            try:
                state.finish_run(run_id, finished_at=result.finished_at, report=result.to_dict())
            except Exception:  # the original error matters more
                log.exception("could not record the failed run %s", run_id)
            raise
        else:
            result = report()
        state.finish_run(run_id, finished_at=result.finished_at, report=result.to_dict())
        return result


def _describe(error: BaseException) -> str:
    """The run history's one line about why a run ended in an error."""
    if isinstance(error, KeyboardInterrupt):
        return str(error) or "interrupted by the user (Ctrl-C)"
    return f"{type(error).__name__}: {error}"


def _sync(
    connection: Connection,
    state: StateStore,
    as_of: datetime,
    options: SyncOptions,
    counts: _RunCounts,
    progress: ProgressCallback,
) -> None:
    source, target = connection.source, connection.target
    # Read before the source: pages are compared with it as they arrive.
    recorded = counts.expected = state.written(target)
    counts.previous_failures = state.failed(target)
    if source.complete_history and isinstance(source, DiffingSource):
        _sync_diffed(connection, source, state, recorded, as_of, options, counts, progress)
        return
    read = _read(connection, state, as_of, options, counts, progress)
    _check_output(connection, recorded, counts)
    _write_changes(
        read.scores,
        recorded,
        connection=connection,
        state=state,
        as_of=as_of,
        options=options,
        counts=counts,
        progress=progress,
        total=read.total,
    )
    _finish_writer(connection, options)
    if source.complete_history and not options.dry_run and counts.seen is not None:
        # the read saw every contact: written values of the others are of removed contacts
        removed = [cid for cid in recorded if cid not in counts.seen]
        if removed:
            counts.gone.extend(removed)
    _forget_gone(state, target, options, counts)
    if read.cursor is not None and not options.dry_run:
        state.apply_page(target, Page(cursor=read.cursor))  # remembers what was read


@attrs.frozen
class _Read:
    """A sync's read: every contact's score (lazily), how many, and the cursor to save."""

    scores: Iterable[tuple[Contact, MutualityScore | PendingScore]]
    total: int | None = None  # contacts to score, when known up front (for progress)
    cursor: Cursor | None = None  # a complete read's cursor, saved once its scores are written


def _read(
    connection: Connection,
    state: StateStore,
    as_of: datetime,
    options: SyncOptions,
    counts: _RunCounts,
    progress: ProgressCallback,
) -> _Read:
    """Read the source the way it and the run call for (see :mod:`mutuality_core.reading`).

    A source that scores its own reads does; a complete source is read into a snapshot;
    an incremental one into the state store's cache (or, in a dry run, laid over it).
    """
    source, target, config = connection.source, connection.target, options.scoring
    scored = _read_scored(source, as_of, config, counts, progress, options.engine)
    if scored is not None:
        return _Read(scored.scores, scored.contacts_read, scored.cursor)
    if source.complete_history:
        snapshot = read_snapshot(source, counts.count_page, progress)
        scores = _score_in_place(snapshot.histories(), as_of, config)
        return _Read(scores, len(snapshot.contacts), snapshot.cursor)
    if options.dry_run:
        histories = histories_without_storing(
            source, state, target, full=options.full, on_page=counts.count_page, progress=progress
        )
        return _Read(_score_each(histories, as_of, config))
    forgotten = read_into_cache(
        source, state, target, full=options.full, on_page=counts.count_page, progress=progress
    )
    counts.forgotten.extend(forgotten)
    total = None
    if isinstance(state, CountingStateStore):
        total = state.cached_counts(target)["contacts"]
    return _Read(_score_each(state.iter_histories(target), as_of, config), total)


def _check_output(
    connection: Connection, recorded: Mapping[str, WrittenScore], counts: _RunCounts
) -> None:
    """Contacts whose written value the writer's own output lost or changed: rewrite them."""
    writer = connection.writer
    if isinstance(writer, RewritableWriter) and writer.needs_full_rewrite:  # checks the output
        if recorded:
            log.info(
                "%s: the output holds no scores; writing every contact again", connection.target
            )
            counts.drift.update(dict.fromkeys(recorded, "missing"))
    elif recorded:
        _compare_local_output(writer, recorded, counts, connection.target)


def _compare_local_output(
    writer: ScoreWriter, recorded: Mapping[str, WrittenScore], counts: _RunCounts, target: str
) -> None:
    """Rows lost from, or edited in, an output the writer can list cheaply (a scores file).

    Such a writer is a :class:`~mutuality_core.ports.StoredIdsWriter`; when it is also a
    :class:`~mutuality_core.ports.StoredScoresWriter` the values are compared too, as a
    CRM's are when its contacts are read. (A CRM writer offers ``stored_scores`` alone,
    for ``mutuality verify``: listing a whole CRM at every sync would cost a request per
    hundred contacts, so it is not read here.)
    """
    if not isinstance(writer, StoredIdsWriter):
        return
    present: set[str] | frozenset[str]
    if isinstance(writer, StoredScoresWriter):
        listed: set[str] = set()
        for stored in writer.stored_scores():
            listed.add(stored.contact_id)
            written = recorded.get(stored.contact_id)
            reason = None if written is None else drift_reason(stored, written)
            if reason is not None:
                counts.drift[stored.contact_id] = reason
        present = listed
    else:
        present = writer.stored_ids()
    lost = [cid for cid in recorded if cid not in present]
    if lost:
        # e.g. rows deleted from a scores file by hand: write them again
        log.info("%s: %d written score(s) missing from the output", target, len(lost))
        counts.drift.update(dict.fromkeys(lost, "missing"))


def _finish_writer(connection: Connection, options: SyncOptions) -> None:
    writer = connection.writer
    if isinstance(writer, FinishingWriter) and not options.dry_run:
        # A writer may hold back an error from its last batch (results already
        # returned) and raise it here, inside the run's bookkeeping: a quota stop
        # then reads "stopped: quota" in the run history instead of vanishing.
        writer.finish()


def _sync_diffed(
    connection: Connection,
    source: DiffingSource,
    state: StateStore,
    recorded: Mapping[str, WrittenScore],
    as_of: datetime,
    options: SyncOptions,
    counts: _RunCounts,
    progress: ProgressCallback,
) -> None:
    """A sync whose source scores and diffs (DiffingSource): only changes reach the writer.

    The source decides with :func:`write_decision`, given the written values and the
    contacts that must be written whatever their score (failed last time, or their
    output drifted). The contacts it returns go through the same write loop as any
    sync (batches, each recorded before the next, quota stops, retries and repairs
    counted), decided again here, so a source cannot make the engine write what did
    not change.
    """
    _check_output(connection, recorded, counts)
    result = source.read_diffed(
        as_of=as_of,
        config=options.scoring,
        written=recorded,
        forced=frozenset(counts.previous_failures) | frozenset(counts.drift),
        min_score_change=options.min_score_change,
        progress=lambda done: progress("read", done, None),
    )
    counts.contacts_read += result.contacts_read
    counts.activities_read += result.activities_read
    counts.rejections.extend(result.rejections)
    progress("read", counts.activities_read, None)
    _write_changes(
        result.changed,
        recorded,
        connection=connection,
        state=state,
        as_of=as_of,
        options=options,
        counts=counts,
        progress=progress,
        total=None,
    )
    counts.seen = None  # the source saw every contact; it named the removed ones itself
    counts.contacts_scored += result.unchanged
    counts.unchanged += result.unchanged
    counts.band_counts = Counter(result.band_counts)
    _finish_writer(connection, options)
    if not options.dry_run:
        counts.gone.extend(result.removed)
    _forget_gone(state, connection.target, options, counts)


def _forget_gone(state: StateStore, target: str, options: SyncOptions, counts: _RunCounts) -> None:
    if counts.gone and not options.dry_run:
        # after the write loop, which may still be reading the state's cache
        log.info("%s: forgetting %d contact(s) no longer in the source", target, len(counts.gone))
        state.apply_page(target, Page(deleted_contact_ids=counts.gone))
        counts.forgotten.extend(counts.gone)


# -- what a run counts --------------------------------------------------------------------


@attrs.define
class _RunCounts:
    """Counts kept while reading and writing a run; they become its :class:`RunReport`.

    ``count_page`` observes every page read (see :mod:`mutuality_core.reading`),
    ``why_write`` applies :func:`write_decision` and counts its answer.
    """

    contacts_read: int = 0
    activities_read: int = 0
    contacts_scored: int = 0
    changed: int = 0
    unchanged: int = 0
    written: int = 0
    failures: list[WriteResult] = attrs.field(factory=list)
    failure_runs: dict[str, int] = attrs.field(factory=dict)
    gone: list[str] = attrs.field(factory=list)  # contacts a complete read no longer has
    forgotten: list[str] = attrs.field(factory=list)  # written contacts whose state was dropped
    seen: set[str] | None = None  # ids scored, kept when the source reads everything
    rejections: list[Rejection] = attrs.field(factory=list)
    band_counts: Counter[str] = attrs.field(factory=Counter)
    #: what the state says was written, to compare the target's fields with as pages arrive
    expected: Mapping[str, WrittenScore] = attrs.field(factory=dict)
    drift: dict[str, str] = attrs.field(factory=dict)  # contact_id -> why it must be rewritten
    previous_failures: Mapping[str, FailedWrite] = attrs.field(factory=dict)
    repairs: list[tuple[str, str]] = attrs.field(factory=list)
    retried: int = 0

    def count_page(self, page: Page) -> None:
        self.contacts_read += len(page.contacts)
        self.activities_read += len(page.activities)
        if page.rejected:
            self.rejections.extend(page.rejected)
        if page.stored_scores and self.expected:
            expected, drift = self.expected, self.drift
            for stored in page.stored_scores:
                written = expected.get(stored.contact_id)
                if written is None:
                    continue  # never written: it is written anyway
                reason = drift_reason(stored, written)
                if reason is None:
                    drift.pop(stored.contact_id, None)  # a later read of it shows it fine
                else:
                    drift[stored.contact_id] = reason
        if page.deleted_contact_ids and self.expected:
            self.forgotten.extend(i for i in page.deleted_contact_ids if i in self.expected)

    def why_write(
        self,
        contact_id: str,
        score: MutualityScore | PendingScore,
        old: WrittenScore | None,
        threshold: float,
    ) -> str | None:
        """``"retried"``, ``"repaired"``, ``"changed"``, or None to leave the contact as it is."""
        decision = write_decision(
            contact_id, score, old, threshold, failed=self.previous_failures, drift=self.drift
        )
        if decision is None:
            return None
        kind, reason = decision
        if kind == "retried":
            self.retried += 1
        elif kind == "repaired":
            self.repairs.append((contact_id, reason or ""))
        else:
            self.changed += 1
        return kind

    def report(
        self,
        *,
        run_id: int | None,
        target: str,
        started_at: datetime,
        finished_at: datetime,
        as_of: datetime,
        full: bool,
        options: SyncOptions,
        stopped_reason: str | None,
        error: str | None,
    ) -> RunReport:
        """The run's report, with these counts as they stand."""
        return RunReport(
            run_id=run_id,
            target=target,
            started_at=started_at,
            finished_at=finished_at,
            as_of=as_of,
            full=full,
            dry_run=options.dry_run,
            contacts_read=self.contacts_read,
            activities_read=self.activities_read,
            contacts_scored=self.contacts_scored,
            changed=self.changed,
            written=self.written,
            failed=len(self.failures),
            failures=tuple(self.failures),
            band_counts=dict(self.band_counts),
            stopped_reason=stopped_reason,
            unchanged=self.unchanged,
            rejected=len(self.rejections),
            rejections=tuple(self.rejections),
            error=error,
            repairs=tuple(self.repairs),
            retried=self.retried,
            forgotten=tuple(dict.fromkeys(self.forgotten)),
            failure_runs=dict(self.failure_runs),
            persistent_failure_runs=options.persistent_failure_runs,
        )


# -- scoring ------------------------------------------------------------------------------


def _read_scored(
    source: Source,
    as_of: datetime,
    config: ScoringConfig,
    counts: _RunCounts,
    progress: ProgressCallback,
    engine: str = AUTO,
) -> ScoredRead | None:
    """The source's own read-and-score, if it offers one and wants it for this read."""
    if not source.complete_history or not isinstance(source, ScoringSource):
        return None
    result = source.read_scored(
        as_of=as_of,
        config=config,
        progress=lambda done: progress("read", done, None),
        engine=engine,
    )
    if result is None:
        return None
    counts.contacts_read += result.contacts_read
    counts.activities_read += result.activities_read
    counts.rejections.extend(result.rejections)
    progress("read", counts.activities_read, None)
    return result


def _score(
    contact: Contact, activities: Sequence[Activity], as_of: datetime, config: ScoringConfig
) -> MutualityScore:
    return score_contact(activities, as_of=as_of, config=config, contact_id=contact.id)


def _score_each(
    histories: Iterable[tuple[Contact, list[Activity]]], as_of: datetime, config: ScoringConfig
) -> Iterator[tuple[Contact, MutualityScore]]:
    for contact, activities in histories:
        yield contact, _score(contact, activities, as_of, config)


def _score_in_place(
    histories: Iterable[tuple[Contact, list[Activity]]], as_of: datetime, config: ScoringConfig
) -> Iterator[tuple[Contact, MutualityScore]]:
    """Histories of a snapshot, grouped by contact and handed over for good: each is scored
    in place, without score_contact's copy and ownership check (a second pass over a
    million activities)."""
    as_ts = check_as_of(as_of)
    for contact, activities in histories:
        yield contact, _score_sorted(contact.id, activities, as_of, as_ts, config)


def score_histories(
    histories: Iterable[tuple[str, list[Activity]]], *, as_of: datetime, config: ScoringConfig
) -> Iterator[MutualityScore]:
    """Score histories already grouped by contact, each list handed over for good.

    The lists are sorted in place (no copy, no ownership check): this is the
    engine's own path for a complete read, offered to adapters that score a
    partition of the contacts elsewhere (e.g. in a worker process), so that
    their scores are the very same as the engine's.
    """
    as_ts = check_as_of(as_of)
    for contact_id, activities in histories:
        yield _score_sorted(contact_id, activities, as_of, as_ts, config)


@attrs.frozen
class ScoredRead:
    """A complete read whose histories were scored by the source itself.

    ``scores`` holds every contact with its score (a :class:`MutualityScore` or a
    :class:`PendingScore`), in the source's contact order (the order a plain read
    would have scored them in); ``rejections`` the records skipped as invalid, in
    source order.
    """

    contacts_read: int
    activities_read: int
    scores: Iterable[tuple[Contact, MutualityScore]]
    rejections: tuple[Rejection, ...] = ()
    cursor: Cursor | None = None


@runtime_checkable
class PendingScore(Protocol):
    """A score whose published numbers are known and whose object is built on demand.

    An engine that scores a whole read at once hands these out in a
    :class:`ScoredRead`: the sync decides what to write from ``score`` and ``band``,
    and builds the :class:`MutualityScore` (components, reasons) only for the
    contacts it writes.
    """

    score: float
    band: Band
    algorithm: str

    def build(self) -> MutualityScore: ...


def built(score: MutualityScore | PendingScore) -> MutualityScore:
    """The score object itself, built now if it was pending."""
    return score if isinstance(score, MutualityScore) else score.build()


@runtime_checkable
class ScoringSource(Protocol):
    """A complete-history source that can read and score in one go (e.g. split over processes).

    :func:`run_sync` asks it first; ``None`` means "read me the ordinary way".
    The scores must be those :func:`score_histories` gives for the same read, and
    errors must be those the ordinary read raises.
    """

    def read_scored(
        self,
        *,
        as_of: datetime,
        config: ScoringConfig,
        progress: Callable[[int], None] | None = None,
        engine: str = AUTO,
    ) -> ScoredRead | None:
        """``progress(activities read so far)``, if given, is called now and then.

        ``engine`` is the run's choice (see :mod:`mutuality_core.engines`); a source
        scores with it, or with its own equal means, or returns None.
        """


@attrs.frozen
class DiffedRead:
    """A complete read that the source scored *and* diffed against the written values.

    For sources that score where the data lives (a Spark cluster): only the contacts
    whose score changed materially come back to this process (``changed``, lazily);
    the others are only counted. ``band_counts`` covers every contact scored;
    ``removed`` lists contacts with a written value that the read no longer has.
    """

    contacts_read: int
    activities_read: int
    changed: Iterable[tuple[Contact, MutualityScore]]
    unchanged: int
    band_counts: Mapping[str, int]
    removed: Sequence[str] = ()
    rejections: tuple[Rejection, ...] = ()


@runtime_checkable
class DiffingSource(Protocol):
    """A complete-history source that scores and diffs in one go (see :class:`DiffedRead`).

    :func:`run_sync` hands it the written values it would diff against itself, the
    contacts to write whatever their score (``forced``), and the rule to apply:
    :func:`write_decision` with ``min_score_change``. The write loop, its batches,
    resume and quota handling stay the engine's.
    """

    def read_diffed(
        self,
        *,
        as_of: datetime,
        config: ScoringConfig,
        written: Mapping[str, WrittenScore],
        forced: Collection[str],
        min_score_change: float,
        progress: Callable[[int], None] | None = None,
    ) -> DiffedRead: ...


# -- writing ------------------------------------------------------------------------------


class _Batch(Sequence[ScoreUpdate]):
    """One write's updates, and the value each leaves written once it succeeds.

    ``hold``: every update is built when added (any writer). Otherwise (a
    :class:`OnePassWriter`) each is built when the writer reads it, and only its written
    value is kept.
    """

    def __init__(self, scored_at: datetime, *, hold: bool) -> None:
        self.scored_at = scored_at
        self.hold = hold
        self.contacts: list[Contact] = []
        self._scores: list[MutualityScore | PendingScore] = []
        self._updates: list[ScoreUpdate] = []
        self._values: dict[int, WrittenScore] = {}

    def add(self, contact: Contact, score: MutualityScore | PendingScore) -> None:
        self.contacts.append(contact)
        if self.hold:
            self._updates.append(ScoreUpdate(contact, built(score), self.scored_at))
        else:
            self._scores.append(score)

    def __len__(self) -> int:
        return len(self.contacts)

    @overload
    def __getitem__(self, index: int) -> ScoreUpdate: ...

    @overload
    def __getitem__(self, index: slice) -> list[ScoreUpdate]: ...

    def __getitem__(self, index: int | slice) -> ScoreUpdate | list[ScoreUpdate]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if self.hold:
            return self._updates[index]
        # negative indexes as a list takes them; IndexError past the end
        i = range(len(self))[index]
        update = ScoreUpdate(self.contacts[i], built(self._scores[i]), self.scored_at)
        self._values[i] = _written_value(update)
        return update

    def written_value(self, i: int) -> WrittenScore:
        """What update ``i`` left written (from the writer's own read of it, if it made one)."""
        if self.hold:
            return _written_value(self._updates[i])
        value = self._values.get(i)
        return value if value is not None else _written_value(self[i])


def _write_changes(
    results: Iterable[tuple[Contact, MutualityScore | PendingScore]],
    written: Mapping[str, WrittenScore],
    *,
    connection: Connection,
    state: StateStore,
    as_of: datetime,
    options: SyncOptions,
    counts: _RunCounts,
    progress: ProgressCallback,
    total: int | None,
) -> None:
    """Decide for each scored contact whether to write it, and write those in batches."""
    writer = connection.writer
    limit = writer.batch_size
    if options.batch_size is not None:
        limit = min(limit, options.batch_size)
    limit = max(1, limit)
    threshold = options.min_score_change
    hold = not isinstance(writer, OnePassWriter) or not writer.reads_updates_once
    batch = _Batch(as_of, hold=hold)
    seen = counts.seen = set() if connection.source.complete_history else None
    for contact, result in results:
        if seen is not None:
            seen.add(contact.id)
        counts.contacts_scored += 1
        counts.band_counts[result.band._value_] += 1
        if counts.contacts_scored % _SCORE_PROGRESS_EVERY == 0:
            progress("score", counts.contacts_scored, total)
        if counts.why_write(contact.id, result, written.get(contact.id), threshold) is None:
            counts.unchanged += 1
            continue
        if options.dry_run:
            continue
        batch.add(contact, result)
        if len(batch) >= limit:
            _write_batch(batch, writer, state, connection.target, counts)
            batch = _Batch(as_of, hold=hold)
            progress("score", counts.contacts_scored, total)
            progress("write", counts.written + len(counts.failures), None)
    progress("score", counts.contacts_scored, counts.contacts_scored)
    if batch:
        _write_batch(batch, writer, state, connection.target, counts)
    if not options.dry_run:
        done = counts.written + len(counts.failures)
        progress("write", done, done)


def _write_batch(
    batch: _Batch,
    writer: ScoreWriter,
    state: StateStore,
    target: str,
    counts: _RunCounts,
) -> None:
    """Write one batch and record its successes before anything else happens.

    A batch whose fate is unknown (the writer raised: a timeout, a quota stop) is
    remembered as failed before the error goes on, so the next run writes it again
    and says so (``retried``), even if its scores no longer changed materially.
    """
    try:
        results = writer.write(batch)
    except Exception as exc:
        error = f"batch not written ({type(exc).__name__}: {exc})"[:500]
        state.record_failed(
            target,
            [
                _failed_value(WriteResult(c.id, False, error), counts.previous_failures)
                for c in batch.contacts
            ],
        )
        raise
    by_id = {r.contact_id: r for r in results}
    succeeded = []
    failed = []
    for i, contact in enumerate(batch.contacts):
        result = by_id.get(contact.id)
        if result is None:
            result = WriteResult(
                contact.id, False, "the writer returned no result for it", retryable=True
            )
        if result.ok:
            succeeded.append(batch.written_value(i))
        else:
            counts.failures.append(result)
            failed.append(_failed_value(result, counts.previous_failures))
            counts.failure_runs[result.contact_id] = failed[-1].runs
    if succeeded:
        state.record_written(target, succeeded)
    if failed:
        state.record_failed(target, failed)
    counts.written += len(succeeded)
    if len(succeeded) < len(batch):
        log.warning("%s: %d of %d updates failed", target, len(batch) - len(succeeded), len(batch))


def _written_value(update: ScoreUpdate) -> WrittenScore:
    score = update.score
    return WrittenScore(
        contact_id=update.contact.id,
        score=score.score,
        band=score.band._value_,
        lean=score.lean,
        strength=score.strength,
        confidence=score.confidence,
        reasons=score.reasons_text,
        scored_at=update.scored_at,
        algorithm=score.algorithm,
    )


def _failed_value(result: WriteResult, previous: Mapping[str, FailedWrite]) -> FailedWrite:
    """The failure to remember, counting the runs in a row it failed for this same reason."""
    error = result.error or "failed"
    before = previous.get(result.contact_id)
    runs = before.runs + 1 if before is not None and before.error == error else 1
    return FailedWrite(result.contact_id, error, runs)


# -- reading without writing: score, explain ------------------------------------------------


def score_source(
    source: Source,
    *,
    as_of: datetime,
    scoring: ScoringConfig | None = None,
    progress: ProgressCallback | None = None,
) -> Iterator[tuple[Contact, MutualityScore]]:
    """Score every contact of ``source`` from a full read. No state, no writes."""
    check_as_of(as_of)
    config = scoring or ScoringConfig()
    snapshot = read_snapshot(source, _RunCounts().count_page, progress or _no_progress)
    yield from _score_each(snapshot.histories(), as_of, config)


def score_connection(
    connection: Connection,
    state: StateStore | None,
    *,
    as_of: datetime,
    scoring: ScoringConfig | None = None,
    progress: ProgressCallback | None = None,
    rejections: list[Rejection] | None = None,
    engine: str = AUTO,
) -> Iterator[tuple[Contact, MutualityScore]]:
    """Score every contact of ``connection``; writes nothing and changes no state.

    For an incremental source with a saved cursor, only the changes since that
    cursor are read and laid over the state store's cache (no full CRM read).
    ``rejections``, if given, receives the records the source skipped as invalid
    once every contact has been yielded, so the caller can say how many and where.
    A complete source that scores its own reads (:class:`ScoringSource`) scores
    with ``engine``.
    """
    check_as_of(as_of)
    check_engine_choice(engine)
    config = scoring or ScoringConfig()
    counts = _RunCounts()
    report = progress or _no_progress
    read = _read_scored(connection.source, as_of, config, counts, report, engine)
    if read is not None:
        for contact, result in read.scores:
            yield contact, built(result)
        if rejections is not None:
            rejections.extend(counts.rejections)
        return
    histories = histories_without_storing(
        connection.source,
        state,
        connection.target,
        full=False,
        on_page=counts.count_page,
        progress=report,
    )
    yield from _score_each(histories, as_of, config)
    if rejections is not None:
        rejections.extend(counts.rejections)


def load_history(
    connection: Connection, state: StateStore | None, contact_id: str
) -> tuple[Contact, list[Activity]]:
    """One contact and its activities, read like :func:`score_connection` reads them."""
    histories = histories_without_storing(
        connection.source,
        state,
        connection.target,
        full=False,
        on_page=_RunCounts().count_page,
        progress=_no_progress,
    )
    for contact, activities in histories:
        if contact.id == contact_id:
            return contact, activities
    raise InvalidInputError(
        f"no contact with id {contact_id!r} in {connection.target}; "
        "use the id the source gives the contact (e.g. the id column of contacts.csv)"
    )


def explain_contact(
    connection: Connection,
    state: StateStore | None,
    contact_id: str,
    *,
    as_of: datetime,
    scoring: ScoringConfig | None = None,
) -> tuple[Contact, MutualityScore]:
    """One contact and its score; ``score.components`` hold each signal's value and evidence.

    Raises :class:`~mutuality_core.errors.InvalidInputError` for an unknown id.
    """
    check_as_of(as_of)
    contact, activities = load_history(connection, state, contact_id)
    return contact, _score(contact, activities, as_of, scoring or ScoringConfig())
