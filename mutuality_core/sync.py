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
and every cached contact is then rescored (scores drift with time). Either way,
only contacts whose score changed materially are written, in batches, and each
batch's successes are recorded before the next batch starts: a run that dies at
any point resumes without losing or repeating a write.
"""

from __future__ import annotations

import gc
import logging
from collections import Counter
from collections.abc import Callable, Collection, Container, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import attrs

from mutuality_core.config import ScoringConfig
from mutuality_core.engines import AUTO, check_engine_choice
from mutuality_core.errors import ConfigError, InvalidInputError, QuotaExhaustedError
from mutuality_core.model import Activity, Band, Contact, MutualityScore
from mutuality_core.ports import (
    Connection,
    Cursor,
    FailedWrite,
    Page,
    ProgressCallback,
    Rejection,
    ScoreUpdate,
    ScoreWriter,
    Source,
    StateStore,
    WriteResult,
    WrittenScore,
)
from mutuality_core.reconcile import drift_reason, is_outdated
from mutuality_core.scoring import (
    ALGORITHM_VERSION,
    _group_by_contact,
    _score_sorted,
    score_contact,
)
from mutuality_core.timestamps import check_as_of

__all__ = [
    "DiffedRead",
    "DiffingSource",
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


# -- scoring ------------------------------------------------------------------------------


def _score(
    contact: Contact, activities: Sequence[Activity], as_of: datetime, config: ScoringConfig
) -> MutualityScore:
    return score_contact(activities, as_of=as_of, config=config, contact_id=contact.id)


def _dedupe(activities: list[Activity]) -> list[Activity]:
    """One activity per id (the last delivered wins, as in the cache's upsert)."""
    ids = {a.id for a in activities}
    if len(ids) == len(activities):
        return activities
    return list({a.id: a for a in activities}.values())


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
    return score if type(score) is MutualityScore else score.build()  # type: ignore[union-attr]


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


# -- reading ------------------------------------------------------------------------------


@attrs.define
class _Tally:
    """Counts kept while reading and writing; becomes the RunReport."""

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


@attrs.define
class _Snapshot:
    """A complete read held in memory: contacts in source order, activities grouped."""

    contacts: dict[str, Contact] = attrs.field(factory=dict)
    activities: dict[str, list[Activity]] = attrs.field(factory=dict)
    cursor: Cursor | None = None
    frozen: bool = False  # the garbage collector ignores the snapshot until it is used

    def add(self, page: Page) -> None:
        for contact in page.contacts:
            self.contacts[contact.id] = contact
        groups = self.activities
        _group_by_contact(groups, page.activities)
        if page.deleted_activity_ids:
            gone = set(page.deleted_activity_ids)
            for contact_id, group in groups.items():
                groups[contact_id] = [a for a in group if a.id not in gone]
        for contact_id in page.deleted_contact_ids:
            self.contacts.pop(contact_id, None)
            groups.pop(contact_id, None)
        if page.cursor is not None:
            self.cursor = page.cursor

    def histories(self, *, unique: bool = False) -> Iterator[tuple[Contact, list[Activity]]]:
        """Every contact with its activities, freeing each history once handed out.

        ``unique``: the source promised no repeated activities, so none are looked for.
        """
        orphans = len(set(self.activities) - set(self.contacts))
        if orphans:
            log.warning(
                "ignored activities of %d contact id(s) the source has no contact for", orphans
            )
        for contact_id in list(self.contacts):
            contact = self.contacts.pop(contact_id)
            activities = self.activities.pop(contact_id, [])
            yield contact, activities if unique else _dedupe(activities)
        self.activities.clear()


@contextmanager
def _bulk_allocation(snapshot: _Snapshot) -> Iterator[None]:
    """Keep the cyclic garbage collector off a snapshot while it is built and used.

    Reading a million activities allocates millions of long-lived objects, none in
    reference cycles; every automatic collection would walk all of them again, and
    that more than doubles the read and scoring time. So collection is paused while
    reading, and what was read is then frozen (ignored by collections) until its
    histories have been handed out (see :class:`_Thawing`). Reference counting
    still frees everything as usual. Nothing is frozen if anything is frozen already
    (by the host application, or by Python 3.12's own start-up), so that we never
    unfreeze what others froze (measured on 3.12 with a million activities: no
    difference beyond noise, 9.5-10.2 s with or without the freeze).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    except BaseException:
        if was_enabled:
            gc.enable()
        raise
    if gc.get_freeze_count() == 0:
        gc.freeze()
        snapshot.frozen = True
    if was_enabled:
        gc.enable()


class _Thawing(Iterator[tuple[Contact, list[Activity]]]):
    """Hands out a snapshot's histories, then unfreezes what :func:`_bulk_allocation` froze.

    Unfreezes when exhausted, when iteration fails, and when dropped unused.
    """

    def __init__(self, snapshot: _Snapshot, *, unique: bool) -> None:
        self.snapshot = snapshot
        self._histories = snapshot.histories(unique=unique)

    def __next__(self) -> tuple[Contact, list[Activity]]:
        try:
            return next(self._histories)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.snapshot.frozen:
            self.snapshot.frozen = False
            gc.unfreeze()

    def __del__(self) -> None:
        self.close()


@contextmanager
def _automatic_collection_paused() -> Iterator[Callable[[], None]]:
    """Pause automatic garbage collection while scoring and writing; yield a young sweep.

    A batch piles up tens of thousands of scores, updates and rows, none in reference
    cycles; every automatic full collection would walk all of them again, which made
    writing a 50,000-row batch take twice as long. Instead the caller runs the
    yielded sweep after each batch: it collects the young generations only, so cyclic
    garbage a writer leaves behind (HTTP responses, exceptions) is still freed batch
    by batch. Reference counting frees everything else as usual.
    """
    was_enabled = gc.isenabled()

    def sweep() -> None:
        if was_enabled:
            gc.collect(1)

    gc.disable()
    try:
        yield sweep
    finally:
        if was_enabled:
            gc.enable()


def _read_snapshot(
    source: Source, cursor: Cursor | None, tally: _Tally, progress: ProgressCallback
) -> _Snapshot:
    snapshot = _Snapshot()
    with _bulk_allocation(snapshot):
        for page in _pages(source, cursor, tally, progress):
            snapshot.add(page)
    return snapshot


def _full_histories(source: Source, tally: _Tally, progress: ProgressCallback) -> _Thawing:
    """Every contact's history from one full read, handed out one by one (see _Thawing)."""
    snapshot = _read_snapshot(source, None, tally, progress)
    return _Thawing(snapshot, unique=getattr(source, "unique_activities", False))


def _pages(
    source: Source, cursor: Cursor | None, tally: _Tally, progress: ProgressCallback
) -> Iterator[Page]:
    """The source's pages, counted; progress is reported once the caller has handled each.

    That order makes every "read" progress call a safe point to stop at (the CLI
    stops there on Ctrl-C): the page before it is stored, the next not yet read.
    """
    for page in source.read(cursor):
        tally.count_page(page)
        yield page
        progress("read", tally.activities_read, None)


def _read_scored(
    source: Source,
    as_of: datetime,
    config: ScoringConfig,
    tally: _Tally,
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
    tally.contacts_read += result.contacts_read
    tally.activities_read += result.activities_read
    tally.rejections.extend(result.rejections)
    progress("read", tally.activities_read, None)
    return result


@attrs.define
class _Overlay:
    """Pages read but not stored (dry runs, ``score``), laid over the state store's cache."""

    contacts: dict[str, Contact] = attrs.field(factory=dict)
    activities: dict[str, dict[str, Activity]] = attrs.field(factory=dict)
    deleted_activity_ids: set[str] = attrs.field(factory=set)
    deleted_contact_ids: set[str] = attrs.field(factory=set)

    def add(self, page: Page) -> None:
        for contact in page.contacts:
            self.contacts[contact.id] = contact
            self.deleted_contact_ids.discard(contact.id)
        for activity in page.activities:
            self.activities.setdefault(activity.contact_id, {})[activity.id] = activity
        if page.deleted_activity_ids:
            gone = set(page.deleted_activity_ids)
            self.deleted_activity_ids |= gone
            for group in self.activities.values():
                for activity_id in gone & group.keys():
                    del group[activity_id]
        for contact_id in page.deleted_contact_ids:
            self.deleted_contact_ids.add(contact_id)
            self.contacts.pop(contact_id, None)
            self.activities.pop(contact_id, None)

    def merge(
        self, cached: Iterable[tuple[Contact, list[Activity]]]
    ) -> Iterator[tuple[Contact, list[Activity]]]:
        deleted = self.deleted_activity_ids
        for contact, activities in cached:
            if contact.id in self.deleted_contact_ids:
                continue
            contact = self.contacts.pop(contact.id, contact)
            fresh = self.activities.pop(contact.id, {})
            kept = [a for a in activities if a.id not in deleted and a.id not in fresh]
            yield contact, kept + list(fresh.values())
        for contact in self.contacts.values():
            yield contact, list(self.activities.pop(contact.id, {}).values())


def _read_into_cache(
    source: Source,
    state: StateStore,
    target: str,
    full: bool,
    tally: _Tally,
    progress: ProgressCallback,
) -> None:
    """Store every page in the cache as it arrives; the cursor moves with each page."""
    cursor = None if full else state.get_cursor(target)
    resuming_full_read = cursor is not None and state.full_read_pending(target)
    if cursor is None:
        log.info("%s: full read", target)
        state.begin_full_read(target)
    elif resuming_full_read:
        log.info("%s: resuming an interrupted full read", target)
    seen: set[str] = set()
    for page in _pages(source, cursor, tally, progress):
        state.apply_page(target, page)
        seen.update(c.id for c in page.contacts)
    if cursor is None or resuming_full_read:
        dropped = state.finish_full_read(target, seen)
        if dropped:
            tally.forgotten.extend(dropped)


def _histories_without_storing(
    source: Source,
    state: StateStore | None,
    target: str | None,
    full: bool,
    tally: _Tally,
    progress: ProgressCallback,
) -> Iterator[tuple[Contact, list[Activity]]]:
    """Current histories while changing nothing in the state store."""
    cursor = None
    if state is not None and target is not None and not source.complete_history and not full:
        cursor = state.get_cursor(target)
    if cursor is None:
        return _full_histories(source, tally, progress)
    assert state is not None and target is not None
    overlay = _Overlay()
    for page in _pages(source, cursor, tally, progress):
        overlay.add(page)
    return overlay.merge(state.iter_histories(target))


# -- writing ------------------------------------------------------------------------------


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


def _write_batch(
    batch: Sequence[ScoreUpdate],
    writer: ScoreWriter,
    state: StateStore,
    target: str,
    tally: _Tally,
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
                _failed_value(WriteResult(u.contact.id, False, error), tally.previous_failures)
                for u in batch
            ],
        )
        raise
    by_id = {r.contact_id: r for r in results}
    succeeded = []
    failed = []
    for update in batch:
        result = by_id.get(update.contact.id)
        if result is None:
            result = WriteResult(
                update.contact.id, False, "the writer returned no result for it", retryable=True
            )
        if result.ok:
            succeeded.append(_written_value(update))
        else:
            tally.failures.append(result)
            failed.append(_failed_value(result, tally.previous_failures))
            tally.failure_runs[result.contact_id] = failed[-1].runs
    if succeeded:
        state.record_written(target, succeeded)
    if failed:
        state.record_failed(target, failed)
    tally.written += len(succeeded)
    if len(succeeded) < len(batch):
        log.warning("%s: %d of %d updates failed", target, len(batch) - len(succeeded), len(batch))


def _score_and_write(
    histories: Iterable[tuple[Contact, list[Activity]]],
    written: Mapping[str, WrittenScore],
    *,
    connection: Connection,
    state: StateStore,
    as_of: datetime,
    options: SyncOptions,
    tally: _Tally,
    progress: ProgressCallback,
    total: int | None,
    grouped: bool = False,
    scored: bool = False,
) -> None:
    """Score each history and write the material changes in batches.

    ``grouped``: the histories come from a snapshot grouped by ``contact_id`` and are
    handed over for good, so they are scored in place without score_contact's copy
    and ownership check (a second pass over a million activities). ``scored``: they
    are (contact, score) pairs the source scored already (:class:`ScoringSource`).
    """
    writer = connection.writer
    limit = writer.batch_size
    if options.batch_size is not None:
        limit = min(limit, options.batch_size)
    limit = max(1, limit)
    config = options.scoring
    threshold = options.min_score_change
    batch: list[ScoreUpdate] = []
    as_ts = check_as_of(as_of)
    results: Iterable[tuple[Contact, MutualityScore]]
    if scored:
        results = histories  # type: ignore[assignment]  # (contact, score) pairs
    elif grouped:
        results = (
            (contact, _score_sorted(contact.id, activities, as_of, as_ts, config))
            for contact, activities in histories
        )
    else:
        results = (
            (contact, _score(contact, activities, as_of, config))
            for contact, activities in histories
        )
    seen = tally.seen = set() if connection.source.complete_history else None
    with _automatic_collection_paused() as sweep:
        for contact, result in results:
            if seen is not None:
                seen.add(contact.id)
            tally.contacts_scored += 1
            tally.band_counts[result.band._value_] += 1
            if tally.contacts_scored % _SCORE_PROGRESS_EVERY == 0:
                progress("score", tally.contacts_scored, total)
            if tally.why_write(contact.id, result, written.get(contact.id), threshold) is None:
                tally.unchanged += 1
                continue
            if options.dry_run:
                continue
            batch.append(ScoreUpdate(contact, built(result), as_of))
            if len(batch) >= limit:
                _write_batch(batch, writer, state, connection.target, tally)
                batch = []
                sweep()
                progress("score", tally.contacts_scored, total)
                progress("write", tally.written + len(tally.failures), None)
        progress("score", tally.contacts_scored, tally.contacts_scored)
        if batch:
            _write_batch(batch, writer, state, connection.target, tally)
            # freed before collection resumes, so that no collection walks it
            del batch
    if not options.dry_run:
        done = tally.written + len(tally.failures)
        progress("write", done, done)


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
        tally = _Tally()
        full_run = (
            options.full or connection.source.complete_history or not state.get_cursor(target)
        )

        def report(stopped_reason: str | None = None, error: str | None = None) -> RunReport:
            return RunReport(
                run_id=run_id,
                target=target,
                started_at=started_at,
                finished_at=now(),
                as_of=as_of,
                full=full_run,
                dry_run=options.dry_run,
                contacts_read=tally.contacts_read,
                activities_read=tally.activities_read,
                contacts_scored=tally.contacts_scored,
                changed=tally.changed,
                written=tally.written,
                failed=len(tally.failures),
                failures=tuple(tally.failures),
                band_counts=dict(tally.band_counts),
                stopped_reason=stopped_reason,
                unchanged=tally.unchanged,
                rejected=len(tally.rejections),
                rejections=tuple(tally.rejections),
                error=error,
                repairs=tuple(tally.repairs),
                retried=tally.retried,
                forgotten=tuple(dict.fromkeys(tally.forgotten)),
                failure_runs=dict(tally.failure_runs),
                persistent_failure_runs=options.persistent_failure_runs,
            )

        try:
            _sync(connection, state, as_of, options, tally, report_progress)
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


def _compare_local_output(
    writer: ScoreWriter, recorded: Mapping[str, WrittenScore], tally: _Tally, target: str
) -> None:
    """Rows lost from, or edited in, an output the writer can list cheaply (a scores file).

    Such a writer exposes ``stored_ids``; when it also exposes ``stored_scores`` the
    values are compared too, as a CRM's are when its contacts are read.
    """
    stored_ids = getattr(writer, "stored_ids", None)
    if stored_ids is None:
        return
    stored_scores = getattr(writer, "stored_scores", None)
    if stored_scores is not None:
        present: set[str] | frozenset[str] = set()
        for stored in stored_scores():
            present.add(stored.contact_id)
            written = recorded.get(stored.contact_id)
            reason = None if written is None else drift_reason(stored, written)
            if reason is not None:
                tally.drift[stored.contact_id] = reason
    else:
        present = stored_ids()
    lost = [cid for cid in recorded if cid not in present]
    if lost:
        # e.g. rows deleted from a scores file by hand: write them again
        log.info("%s: %d written score(s) missing from the output", target, len(lost))
        tally.drift.update(dict.fromkeys(lost, "missing"))


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
    tally: _Tally,
    progress: ProgressCallback,
) -> None:
    source, target = connection.source, connection.target
    # Read before the source: pages are compared with it as they arrive.
    recorded = tally.expected = state.written(target)
    tally.previous_failures = state.failed(target)
    if source.complete_history and isinstance(source, DiffingSource):
        _sync_diffed(connection, source, state, recorded, as_of, options, tally, progress)
        return
    histories: Iterable[tuple[Contact, list[Activity]]]
    total: int | None = None
    snapshot_cursor: Cursor | None = None
    grouped = scored = False
    read_scored = _read_scored(source, as_of, options.scoring, tally, progress, options.engine)
    if read_scored is not None:
        histories = read_scored.scores  # type: ignore[assignment]
        snapshot_cursor = read_scored.cursor
        total = read_scored.contacts_read
        scored = True
    elif source.complete_history:
        histories = thawing = _full_histories(source, tally, progress)
        snapshot_cursor = thawing.snapshot.cursor
        total = len(thawing.snapshot.contacts)
        grouped = True
    elif options.dry_run:
        histories = _histories_without_storing(source, state, target, options.full, tally, progress)
    else:
        _read_into_cache(source, state, target, options.full, tally, progress)
        counts = getattr(state, "cached_counts", None)
        total = counts(target)["contacts"] if counts is not None else None
        histories = state.iter_histories(target)
    _check_output(connection, recorded, tally)
    _score_and_write(
        histories,
        recorded,
        connection=connection,
        state=state,
        as_of=as_of,
        options=options,
        tally=tally,
        progress=progress,
        total=total,
        grouped=grouped,
        scored=scored,
    )
    _finish_writer(connection, options)
    if source.complete_history and not options.dry_run and tally.seen is not None:
        # the read saw every contact: written values of the others are of removed contacts
        removed = [cid for cid in recorded if cid not in tally.seen]
        if removed:
            tally.gone.extend(removed)
    _forget_gone(state, target, options, tally)
    if snapshot_cursor is not None and not options.dry_run:
        state.apply_page(target, Page(cursor=snapshot_cursor))  # remembers what was read


def _check_output(
    connection: Connection, recorded: Mapping[str, WrittenScore], tally: _Tally
) -> None:
    """Contacts whose written value the writer's own output lost or changed: rewrite them."""
    if getattr(connection.writer, "needs_full_rewrite", False):  # also checks the output
        if recorded:
            log.info(
                "%s: the output holds no scores; writing every contact again", connection.target
            )
            tally.drift.update(dict.fromkeys(recorded, "missing"))
    elif recorded:
        _compare_local_output(connection.writer, recorded, tally, connection.target)


def _finish_writer(connection: Connection, options: SyncOptions) -> None:
    finish = getattr(connection.writer, "finish", None)
    if finish is not None and not options.dry_run:
        # A writer may hold back an error from its last batch (results already
        # returned) and raise it here, inside the run's bookkeeping: a quota stop
        # then reads "stopped: quota" in the run history instead of vanishing.
        finish()


def _sync_diffed(
    connection: Connection,
    source: DiffingSource,
    state: StateStore,
    recorded: Mapping[str, WrittenScore],
    as_of: datetime,
    options: SyncOptions,
    tally: _Tally,
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
    _check_output(connection, recorded, tally)
    result = source.read_diffed(
        as_of=as_of,
        config=options.scoring,
        written=recorded,
        forced=frozenset(tally.previous_failures) | frozenset(tally.drift),
        min_score_change=options.min_score_change,
        progress=lambda done: progress("read", done, None),
    )
    tally.contacts_read += result.contacts_read
    tally.activities_read += result.activities_read
    tally.rejections.extend(result.rejections)
    progress("read", tally.activities_read, None)
    _score_and_write(
        result.changed,
        recorded,
        connection=connection,
        state=state,
        as_of=as_of,
        options=options,
        tally=tally,
        progress=progress,
        total=None,
        scored=True,
    )
    tally.seen = None  # the source saw every contact; it named the removed ones itself
    tally.contacts_scored += result.unchanged
    tally.unchanged += result.unchanged
    tally.band_counts = Counter(result.band_counts)
    _finish_writer(connection, options)
    if not options.dry_run:
        tally.gone.extend(result.removed)
    _forget_gone(state, connection.target, options, tally)


def _forget_gone(state: StateStore, target: str, options: SyncOptions, tally: _Tally) -> None:
    if tally.gone and not options.dry_run:
        # after the write loop, which may still be reading the state's cache
        log.info("%s: forgetting %d contact(s) no longer in the source", target, len(tally.gone))
        state.apply_page(target, Page(deleted_contact_ids=tally.gone))
        tally.forgotten.extend(tally.gone)


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
    for contact, activities in _full_histories(source, _Tally(), progress or _no_progress):
        yield contact, _score(contact, activities, as_of, config)


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
    tally = _Tally()
    report = progress or _no_progress
    read = _read_scored(connection.source, as_of, config, tally, report, engine)
    if read is not None:
        for contact, result in read.scores:
            yield contact, built(result)
        if rejections is not None:
            rejections.extend(tally.rejections)
        return
    histories = _histories_without_storing(
        connection.source,
        state,
        connection.target,
        False,
        tally,
        progress or _no_progress,
    )
    for contact, activities in histories:
        yield contact, _score(contact, activities, as_of, config)
    if rejections is not None:
        rejections.extend(tally.rejections)


def load_history(
    connection: Connection, state: StateStore | None, contact_id: str
) -> tuple[Contact, list[Activity]]:
    """One contact and its activities, read like :func:`score_connection` reads them."""
    histories = _histories_without_storing(
        connection.source, state, connection.target, False, _Tally(), _no_progress
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
