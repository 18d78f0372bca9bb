"""One Spark partition in, its scores (and rejects) out: plain pyarrow and the engines, no Spark.

Spark hash-partitions the rows on ``contact_id`` and hands every partition to
:func:`score_partition` as one Arrow table, so a contact's whole history is in one
call and the partition is scored the way the files adapter scores a folder: the
columnar engine's check and scoring when it is installed, else the files adapter's
row parser (:func:`~mutuality_adapters.files.rows.parse_activities`) and the core's
:func:`~mutuality_core.sync.score_histories`; the same messages and scores either
way. The files writer's :func:`~mutuality_adapters.files.writer.score_row` gives the
published values. Nothing here knows a formula; :func:`_scores` is the one place that
picks the engine.

The input table holds three kinds of rows (column ``kind``), so one shuffle brings
together what belongs to a contact: activity rows (``a``), optional contact rows
(``c``: id in ``contact_id``, plus ``email``) and, for a sync, the values last
written to the CRM (``w``: ``written_score``, ``written_band``), which lets the
partition decide with :func:`~mutuality_core.sync.write_decision` which scores
changed, so only those travel to the driver.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from mutuality_adapters.files.records import RecordFile
from mutuality_adapters.files.rows import (
    ACTIVITY_COLUMNS,
    RejectLog,
    parse_activities,
    parse_contacts,
)
from mutuality_adapters.files.writer import score_row

from mutuality_core.config import ScoringConfig
from mutuality_core.errors import InvalidInputError
from mutuality_core.model import Activity, Contact, MutualityScore
from mutuality_core.ports import ScoreUpdate, WrittenScore
from mutuality_core.scoring import score_contact
from mutuality_core.sync import score_histories, write_decision
from mutuality_core.timestamps import epoch_microseconds

if TYPE_CHECKING:
    from mutuality_columnar import ScoredBatch

__all__ = [
    "INPUT_SCHEMA",
    "KIND_ACTIVITY",
    "KIND_CONTACT",
    "KIND_WRITTEN",
    "OUTPUT_SCHEMA",
    "PartitionOptions",
    "micros",
    "score_partition",
]

KIND_ACTIVITY, KIND_CONTACT, KIND_WRITTEN = "a", "c", "w"
#: Output kinds: a contact's score, a rejected input row, a written contact no longer
#: in the input, and one count of valid activities per partition.
OUT_SCORE, OUT_REJECT, OUT_REMOVED, OUT_COUNT = "s", "r", "x", "n"

#: Every input column is text, as the files adapter reads it (Spark casts before the shuffle).
INPUT_SCHEMA = pa.schema(
    [("kind", pa.string())]
    + [(name, pa.string()) for name in ACTIVITY_COLUMNS]
    + [("email", pa.string()), ("written_score", pa.float64()), ("written_band", pa.string())]
    + [("written_algorithm", pa.string()), ("written_forced", pa.bool_())]
)

OUTPUT_SCHEMA = pa.schema(
    [
        ("kind", pa.string()),
        # the published scores.csv values (as the files writer formats them)
        ("id", pa.string()),
        ("email", pa.string()),
        ("score", pa.int32()),
        ("band", pa.string()),
        ("lean", pa.float64()),
        ("strength", pa.int32()),
        ("confidence", pa.float64()),
        ("reasons", pa.string()),
        ("algorithm", pa.string()),
        ("activity_count", pa.int64()),
        ("last_activity_us", pa.int64()),
        # the exact values, for writers that publish more digits (HubSpot, Salesforce)
        ("exact_score", pa.float64()),
        ("exact_lean", pa.float64()),
        ("exact_strength", pa.float64()),
        ("exact_confidence", pa.float64()),
        ("exact_reasons", pa.list_(pa.string())),
        ("exact_last_activity_us", pa.int64()),
        ("changed", pa.bool_()),
        # a rejected row: which input, why, and the row as CSV text
        ("reject_file", pa.string()),
        ("reject_error", pa.string()),
        ("reject_record", pa.string()),
    ]
)

_OUTPUT_BATCH = 10_000


class PartitionOptions:
    """What every partition needs to know; pickled once per task, small."""

    def __init__(
        self,
        *,
        as_of: datetime,
        config: ScoringConfig,
        skip_invalid: bool,
        has_contacts: bool,
        diff: bool,
        min_score_change: float = 1.0,
        activities_name: str = "activities",
        contacts_name: str = "contacts",
    ) -> None:
        self.as_of = as_of
        self.config = config
        self.skip_invalid = skip_invalid
        self.has_contacts = has_contacts
        self.diff = diff
        self.min_score_change = min_score_change
        self.activities_name = activities_name
        self.contacts_name = contacts_name


class _TableRecords(RecordFile):
    """Rows of an Arrow table served as a :class:`RecordFile`, for the files adapter's parser.

    Spark has no line numbers; ``line()`` is the row's position in the partition,
    used only to pair a rejection with its row.
    """

    def __init__(self, name: str, header: list[str], rows: list[list[str]]) -> None:
        super().__init__(Path(name), header, self._numbered(rows), io.StringIO())
        self.format = "csv"

    def _numbered(self, rows: list[list[str]]) -> Iterator[list[str]]:
        for index, row in enumerate(rows):
            self._line = index
            yield row


def _text_rows(table: pa.Table, columns: Sequence[str]) -> list[list[str]]:
    """The table's columns as lists of strings, a missing value as "" (an empty CSV cell)."""
    values = [
        ["" if v is None else v for v in table.column(c).to_pylist()] if c in table.column_names
        else [""] * table.num_rows
        for c in columns
    ]  # fmt: skip
    return [list(row) for row in zip(*values, strict=True)] if values else []


def micros(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    return epoch_microseconds(moment)


def _published_micros(text: str) -> int | None:
    """A scores.csv timestamp (``2026-03-01T12:00:00Z``) as epoch microseconds."""
    if not text:
        return None
    return micros(datetime.fromisoformat(text[:-1] + "+00:00"))


def _contacts_of(
    table: pa.Table, options: PartitionOptions, rejects: RejectLog
) -> tuple[dict[str, Contact], dict[str, int]]:
    """The partition's contacts: its contact rows, or every contact id its activities name."""
    if options.has_contacts:
        header = ["id", "email"]
        rows = _text_rows(table, ["contact_id", "email"])
        if not rows:
            return {}, {}
        return parse_contacts(_TableRecords(options.contacts_name, header, rows), rejects)
    ids = {v.strip() for v in table.column("contact_id").to_pylist() if v is not None and v.strip()}
    return {cid: Contact(cid) for cid in sorted(ids)}, {}


class _Columns:
    """Contacts scored by the columnar engine: their rows in ``scored``, in contact order."""

    def __init__(self, scored: ScoredBatch, contacts: list[Contact]) -> None:
        self.scored = scored
        self.contacts = contacts
        position = dict(zip(scored.contact_ids, range(len(scored)), strict=True))
        self.rows = np.array([position[c.id] for c in contacts], np.int64)


def _scores(
    activity_rows: pa.Table,
    contacts: Mapping[str, Contact],
    rejected_contacts: Mapping[str, int],
    options: PartitionOptions,
    rejects: RejectLog,
) -> tuple[int, _Columns | None, Iterator[tuple[Contact, MutualityScore]]]:
    """(valid activities, contacts scored in columns, every other contact with its score).

    The one place that picks the engine. The columnar engine when it is installed
    (``mutuality[fast]``): it checks the rows with the row parser's messages and scores
    in columns, as the files adapter does with it; contacts without any activity get
    the core's score of an empty history. Otherwise the row parser and the core's own
    grouped path score every contact. Either way the scores are
    :func:`mutuality_core.score_activities`' for the same activities.
    """
    if activity_rows.num_rows:
        columnar = _columnar_scores(activity_rows, contacts, rejected_contacts, options, rejects)
        if columnar is not None:
            return columnar
    records = _TableRecords(
        options.activities_name, list(ACTIVITY_COLUMNS), _text_rows(activity_rows, ACTIVITY_COLUMNS)
    )
    groups: dict[str, list[Activity]] = {}
    count = 0
    for chunk in parse_activities(
        records, contacts, rejected_contacts, options.contacts_name, rejects
    ):
        count += len(chunk)
        for activity in chunk:
            group = groups.get(activity.contact_id)
            if group is None:
                groups[activity.contact_id] = [activity]
            else:
                group.append(activity)
    ordered = list(contacts.values())
    histories = ((c.id, groups.pop(c.id, [])) for c in ordered)
    scores = score_histories(histories, as_of=options.as_of, config=options.config)
    return count, None, zip(ordered, scores, strict=True)


def _columnar_scores(
    activity_rows: pa.Table,
    contacts: Mapping[str, Contact],
    rejected_contacts: Mapping[str, int],
    options: PartitionOptions,
    rejects: RejectLog,
) -> tuple[int, _Columns, Iterator[tuple[Contact, MutualityScore]]] | None:
    """The columnar engine's check and scores, or None when it is not installed."""
    try:
        from mutuality_columnar.results import score_batch
        from mutuality_columnar.stream import compact_batches
    except ImportError:
        return None
    text = pa.table(
        {c: pc.fill_null(activity_rows.column(c), "") for c in ACTIVITY_COLUMNS}
    )  # empty cells as "", as pyarrow reads them from a CSV file
    compact = compact_batches(
        text.combine_chunks().to_batches(),  # one check of the whole partition
        contacts=contacts,
        rejected_contacts=rejected_contacts,
        contacts_name=options.contacts_name,
    )
    where = _TableRecords(options.activities_name, list(ACTIVITY_COLUMNS), [])
    for row, error, values in compact.rejects:
        if not values:  # (a duplicate) the engine kept no copy of the row: take it here
            values = ["" if v is None else v for v in text.slice(row, 1).to_pylist()[0].values()]
        rejects.reject(where, row, error, values, None)
    scored = score_batch(compact.batch, options.as_of, options.config)
    has_scores = set(scored.contact_ids)
    in_columns = [c for c in contacts.values() if c.id in has_scores]
    without = [c for c in contacts.values() if c.id not in has_scores]

    def empty_histories() -> Iterator[tuple[Contact, MutualityScore]]:
        for contact in without:  # the core's answer for an empty history
            yield contact, score_contact([], as_of=options.as_of, config=options.config,
                                         contact_id=contact.id)  # fmt: skip

    return compact.activities, _Columns(scored, in_columns), empty_histories()


def score_partition(table: pa.Table, options: PartitionOptions) -> Iterator[pa.RecordBatch]:
    """Score one partition (all rows of its contacts); yields OUTPUT_SCHEMA batches.

    Without ``skip_invalid`` the first bad row raises :class:`InvalidInputError` with
    the files adapter's message; with it, bad rows come out as reject rows.
    """
    kinds = table.column("kind")
    activity_rows = table.filter(pc.equal(kinds, KIND_ACTIVITY))
    contact_rows = table.filter(pc.equal(kinds, KIND_CONTACT))
    written_rows = table.filter(pc.equal(kinds, KIND_WRITTEN))
    rejects = RejectLog(skip_invalid=True)
    contacts, rejected_contacts = _contacts_of(
        contact_rows if options.has_contacts else activity_rows, options, rejects
    )
    count, columns, scored = _scores(activity_rows, contacts, rejected_contacts, options, rejects)
    if rejects.records and not options.skip_invalid:
        name, _, error, record = rejects.records[0]
        raise InvalidInputError(
            f"{name} row {record!r}: {error} (use --skip-invalid to skip bad rows and "
            "collect them as rejects)"
        )
    written, forced = _written_of(written_rows, options) if options.diff else ({}, set())
    if columns is not None:
        yield from _column_batches(columns, written, forced, options)
    out = _Output()
    for contact, score in scored:
        changed = None
        if options.diff:
            old = written.pop(contact.id, None)
            decision = write_decision(
                contact.id, score, old, options.min_score_change, failed=forced
            )
            changed = decision is not None
        out.add_score(contact, score, options.as_of, changed)
        if out.full():
            yield out.batch()
    for name, _, error, record in rejects.records:
        out.add_reject(name, error, record)
    for contact_id in written:  # written to the CRM, but no longer in the input
        out.add_removed(contact_id)
    out.add_count(count)
    yield out.batch()


def _column_batches(
    columns: _Columns,
    written: dict[str, WrittenScore],
    forced: set[str],
    options: PartitionOptions,
) -> Iterator[pa.RecordBatch]:
    """The score rows of the contacts scored in columns, in batches of OUTPUT_SCHEMA.

    With the diff on, ``changed`` says which rows to write and only those get their
    reasons (a sync writes no other row); without it every row gets them.
    """
    from .columns import score_columns  # the columnar engine is installed: it made ``columns``

    scored = columns.scored
    pending = scored.pending() if options.diff else []
    for start in range(0, len(columns.contacts), _OUTPUT_BATCH):
        contacts = columns.contacts[start : start + _OUTPUT_BATCH]
        rows = columns.rows[start : start + _OUTPUT_BATCH]
        if options.diff:
            flags = [
                write_decision(
                    c.id, pending[k], written.pop(c.id, None), options.min_score_change,
                    failed=forced,
                ) is not None
                for c, k in zip(contacts, rows.tolist(), strict=True)
            ]  # fmt: skip
            changed: pa.Array = pa.array(flags, pa.bool_())
            with_reasons = np.array(flags, bool)
        else:
            changed = pa.nulls(len(contacts), pa.bool_())
            with_reasons = np.ones(len(contacts), bool)
        values = score_columns(
            scored, rows, [c.email or None for c in contacts], scored.algorithm, with_reasons
        )
        values["kind"] = pa.array([OUT_SCORE] * len(contacts), pa.string())
        values["changed"] = changed
        yield pa.RecordBatch.from_arrays(
            [
                values[f.name] if f.name in values else pa.nulls(len(contacts), f.type)
                for f in OUTPUT_SCHEMA
            ],
            schema=OUTPUT_SCHEMA,
        )


def _written_of(
    rows: pa.Table, options: PartitionOptions
) -> tuple[dict[str, WrittenScore], set[str]]:
    """The last written values, and the contacts to write whatever their score.

    Only score, band and algorithm take part in ``write_decision``; the other fields
    of these WrittenScore objects are placeholders.
    """
    ids = rows.column("contact_id").to_pylist()
    scores = rows.column("written_score").to_pylist()
    bands = rows.column("written_band").to_pylist()
    algorithms = rows.column("written_algorithm").to_pylist()
    at = options.as_of
    written = {
        cid: WrittenScore(cid, score, band, 0.0, 0.0, 0.0, "", at, algorithm)
        for cid, score, band, algorithm in zip(ids, scores, bands, algorithms, strict=True)
    }
    flags = rows.column("written_forced").to_pylist()
    return written, {cid for cid, flag in zip(ids, flags, strict=True) if flag}


class _Output:
    """Output rows gathered column by column, handed out as record batches."""

    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {f.name: [] for f in OUTPUT_SCHEMA}
        self.rows = 0

    def full(self) -> bool:
        return self.rows >= _OUTPUT_BATCH

    def _add(self, values: Mapping[str, Any]) -> None:
        for name, column in self.columns.items():
            column.append(values.get(name))
        self.rows += 1

    def add_score(
        self, contact: Contact, score: MutualityScore, as_of: datetime, changed: bool | None
    ) -> None:
        (cid, email, score_text, band, lean, strength, confidence, reasons, _, algorithm,
         count, last_at) = score_row(ScoreUpdate(contact, score, as_of), scored_at="")  # fmt: skip
        self._add(
            {
                "kind": OUT_SCORE,
                "id": cid,
                "email": email or None,
                "score": int(score_text),
                "band": band,
                "lean": float(lean),
                "strength": int(strength),
                "confidence": float(confidence),
                "reasons": None if changed is False else reasons,
                "algorithm": algorithm,
                "activity_count": int(count),
                "last_activity_us": _published_micros(last_at),
                "exact_score": score.score,
                "exact_lean": score.lean,
                "exact_strength": score.strength,
                "exact_confidence": score.confidence,
                "exact_reasons": None if changed is False else list(score.reasons),
                "exact_last_activity_us": micros(score.last_activity_at),
                "changed": changed,
            }
        )

    def add_reject(self, name: str, error: str, record: str) -> None:
        self._add(
            {"kind": OUT_REJECT, "reject_file": name, "reject_error": error,
             "reject_record": record}
        )  # fmt: skip

    def add_removed(self, contact_id: str) -> None:
        self._add({"kind": OUT_REMOVED, "id": contact_id})

    def add_count(self, activities: int) -> None:
        self._add({"kind": OUT_COUNT, "activity_count": activities})

    def batch(self) -> pa.RecordBatch:
        batch = pa.RecordBatch.from_pydict(self.columns, schema=OUTPUT_SCHEMA)
        self.columns = {name: [] for name in self.columns}
        self.rows = 0
        return batch
