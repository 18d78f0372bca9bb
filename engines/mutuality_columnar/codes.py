"""Activities as small integer codes, sorted by contact and the reference's full order.

A validated activity table (see :mod:`.validate`) becomes a :class:`Batch`: one
contact code per row (contacts numbered in ``contact_id`` order, the order the core
scores them in), POSIX time, enum members as their index in the core's enums, a
thread code, tag bits and the automated flag. Rows are sorted by contact, then by
time, and activities of one contact at the same instant by the rest of the
reference's full key (``mutuality_core.scoring._full_key``), so that input order never
matters, exactly as in the core.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from operator import attrgetter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mutuality_core.model import Activity, Channel, Direction, Outcome
from mutuality_core.scoring.tally import BY_THEM_TAGS, BY_YOU_TAGS
from mutuality_core.timestamps import epoch_microseconds, from_epoch_microseconds

__all__ = ["VALID_SCHEMA", "Batch", "activities_table", "activity_objects", "encode"]

_TS = attrgetter("_ts")

CHANNELS = tuple(Channel)
DIRECTIONS = tuple(Direction)
OUTCOMES = tuple(Outcome)
EMAIL, CALL, MEETING, MESSAGE, NOTE, TASK, OTHER = (CHANNELS.index(c) for c in (
    Channel.EMAIL, Channel.CALL, Channel.MEETING, Channel.MESSAGE, Channel.NOTE, Channel.TASK,
    Channel.OTHER))  # fmt: skip
OUTBOUND, INBOUND, MUTUAL, UNKNOWN_DIRECTION = (DIRECTIONS.index(d) for d in (
    Direction.OUTBOUND, Direction.INBOUND, Direction.MUTUAL, Direction.UNKNOWN))  # fmt: skip
NO_ANSWER = OUTCOMES.index(Outcome.NO_ANSWER)
SKIPPED_OUTCOMES = np.array([OUTCOMES.index(Outcome.BOUNCED), OUTCOMES.index(Outcome.SCHEDULED)])
FAILED_OUTCOMES = np.array(
    [OUTCOMES.index(o) for o in (Outcome.NO_SHOW, Outcome.CANCELED, Outcome.DECLINED)]
)

GIVE_BIT, ASK_BIT, BY_YOU_BIT, BY_THEM_BIT, TAGGED_BIT = 1, 2, 4, 8, 16

#: The columns of a validated activity table (the output of ``validate_table``).
VALID_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("contact_id", pa.string()),
        ("occurred_at", pa.timestamp("us", tz="UTC")),
        ("channel", pa.string()),
        ("direction", pa.string()),
        ("outcome", pa.string()),
        ("thread_id", pa.string()),  # null: no thread
        ("duration_seconds", pa.float64()),  # null: unknown
        ("automated", pa.bool_()),
        ("tags", pa.string()),  # normalised tags, sorted, joined with ";" ("" for none)
    ]
)


def tag_bits(tags: frozenset[str]) -> int:
    """The tags the tally looks at, as bits."""
    bits = TAGGED_BIT if tags else 0
    if "give" in tags:
        bits |= GIVE_BIT
    if "ask" in tags:
        bits |= ASK_BIT
    if not tags.isdisjoint(BY_YOU_TAGS):
        bits |= BY_YOU_BIT
    if not tags.isdisjoint(BY_THEM_TAGS):
        bits |= BY_THEM_BIT
    return bits


@dataclass
class Batch:
    """Encoded activities, sorted (see the module docstring). ``order[i]`` is the input row
    of sorted row ``i``; ``contact_ids[k]`` the id of contact code ``k``."""

    contact_ids: list[str]
    contact: np.ndarray  # int64 code per row
    us: np.ndarray  # int64 microseconds since the epoch
    ts: np.ndarray  # float64 POSIX seconds, as ``datetime.timestamp()`` gives them
    channel: np.ndarray  # int8 index into CHANNELS
    direction: np.ndarray
    outcome: np.ndarray
    thread: np.ndarray  # int64 thread code, -1 without a thread
    threads: int
    automated: np.ndarray
    tags: np.ndarray  # uint8 bits
    order: np.ndarray
    activity_count: np.ndarray  # per contact

    @property
    def contacts(self) -> int:
        return len(self.contact_ids)

    def select(self, codes: np.ndarray) -> Batch:
        """The rows of contacts ``codes`` (sorted), renumbered 0..len(codes)-1."""
        renumber = np.full(self.contacts, -1, np.int64)
        renumber[codes] = np.arange(codes.size)
        rows = np.flatnonzero(renumber[self.contact] >= 0)
        return Batch(
            contact_ids=[self.contact_ids[k] for k in codes.tolist()],
            contact=renumber[self.contact[rows]],
            us=self.us[rows],
            ts=self.ts[rows],
            channel=self.channel[rows],
            direction=self.direction[rows],
            outcome=self.outcome[rows],
            thread=self.thread[rows],
            threads=self.threads,
            automated=self.automated[rows],
            tags=self.tags[rows],
            order=self.order[rows],
            activity_count=self.activity_count[codes],
        )


def _codes(column: pa.ChunkedArray | pa.Array, members: tuple[Enum, ...]) -> np.ndarray:
    """Enum values (text) as their index in ``members``."""
    encoded = pc.dictionary_encode(column)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks() if encoded.num_chunks != 1 else encoded.chunk(0)
    values = {m.value: i for i, m in enumerate(members)}
    table = np.array([values[v] for v in encoded.dictionary.to_pylist()] or [0], np.int8)
    return table[encoded.indices.to_numpy(zero_copy_only=False)]


def _dictionary(column: pa.ChunkedArray | pa.Array) -> pa.DictionaryArray:
    encoded = pc.dictionary_encode(column)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks() if encoded.num_chunks != 1 else encoded.chunk(0)
    return encoded


def encode(table: pa.Table) -> Batch:
    """A validated activity table (:data:`VALID_SCHEMA`) as a sorted :class:`Batch`."""
    contacts = _dictionary(table.column("contact_id"))
    ids = contacts.dictionary.to_pylist()
    rank = np.empty(len(ids), np.int64)
    by_id = sorted(range(len(ids)), key=ids.__getitem__)
    rank[by_id] = np.arange(len(ids))
    contact = rank[contacts.indices.to_numpy(zero_copy_only=False)]
    occurred = table.column("occurred_at")
    us = occurred.cast(pa.int64()).to_numpy()
    threads = _dictionary(table.column("thread_id"))
    thread = threads.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    tag_column = _dictionary(table.column("tags"))
    tag_table = np.array(
        [tag_bits(frozenset(t.split(";")) if t else frozenset()) for t in
         tag_column.dictionary.to_pylist()] or [0], np.uint8)  # fmt: skip
    tags = tag_table[tag_column.indices.to_numpy(zero_copy_only=False)]
    order = _contact_time_order(contact, us)
    ties = _tie_rows(contact[order], us[order])
    if ties.size:
        order = _settle_ties(table, order, ties)
    contact = contact[order]
    us = us[order]
    return Batch(
        contact_ids=[ids[i] for i in by_id],
        contact=contact,
        us=us,
        ts=us / 1e6,  # correctly rounded, as timedelta.total_seconds() is
        channel=_codes(table.column("channel"), CHANNELS)[order],
        direction=_codes(table.column("direction"), DIRECTIONS)[order],
        outcome=_codes(table.column("outcome"), OUTCOMES)[order],
        thread=thread[order],
        threads=len(threads.dictionary),
        automated=table.column("automated").to_numpy(zero_copy_only=False)[order].astype(bool),
        tags=tags[order],
        order=order,
        activity_count=np.bincount(contact, minlength=len(ids)).astype(np.int64),
    )


def sort_key(major: np.ndarray, minor: np.ndarray, minor_size: int) -> np.ndarray | None:
    """``major * minor_size + minor`` as one int64 sort key, or None if it could overflow."""
    if major.size and (int(major.max()) + 1) * minor_size >= 2**62:
        return None
    return major * np.int64(minor_size) + minor


def _contact_time_order(contact: np.ndarray, us: np.ndarray) -> np.ndarray:
    """Rows by contact, then time (same-instant rows in any order; settled afterwards).

    One int64 key sorts several times faster than ``np.lexsort``. A contact code times
    the microsecond span overflows 63 bits from ~100,000 contacts over a few years, so
    then the times are ranked first (one more sort) and the key uses the rank.
    """
    if us.size == 0:
        return np.zeros(0, np.int64)
    low = int(us.min())
    span = int(us.max()) - low + 1
    key = sort_key(contact, us - low, span)
    if key is None:
        by_time = np.argsort(us)
        rank = np.empty(us.size, np.int64)
        rank[by_time] = np.arange(us.size)
        key = sort_key(contact, rank, us.size)
        assert key is not None  # contacts <= rows, rows < 2**31
    return np.argsort(key)


def _tie_rows(contact: np.ndarray, us: np.ndarray) -> np.ndarray:
    """Sorted positions that share contact and instant with the position before."""
    return np.flatnonzero((contact[1:] == contact[:-1]) & (us[1:] == us[:-1])) + 1


def _settle_ties(table: pa.Table, order: np.ndarray, ties: np.ndarray) -> np.ndarray:
    """Order each group of same-instant activities by the reference's full key."""

    def keys(rows: np.ndarray) -> list[tuple[object, ...]]:
        picked = table.take(pa.array(rows)).to_pylist()
        return [
            (
                values["id"],
                values["channel"],
                values["direction"],
                values["outcome"],
                values["thread_id"] or "",
                -1.0 if values["duration_seconds"] is None else values["duration_seconds"],
                values["automated"],
                tuple(sorted(values["tags"].split(";"))) if values["tags"] else (),
            )
            for values in picked
        ]

    return settle_ties_with(order, ties, keys)


def settle_ties_with(
    order: np.ndarray,
    ties: np.ndarray,
    keys: Callable[[np.ndarray], list[tuple[object, ...]]],
) -> np.ndarray:
    """Order each group of same-instant activities of a contact by the full key.

    ``keys(rows)`` gives the rest of ``mutuality_core.scoring._full_key`` (after the
    time, which the group shares) for those input rows. Rare (real histories seldom
    share a microsecond), so done in Python on the rows concerned only.
    """
    starts = np.unique(np.concatenate((ties - 1, ties)))
    rows = order[starts]
    key_of = dict(zip(rows.tolist(), keys(rows), strict=True))
    order = order.copy()
    tied = set(ties.tolist())
    groups: list[list[int]] = []
    for position in starts.tolist():
        if position in tied:
            groups[-1].append(position)
        else:
            groups.append([position])
    for span in groups:
        order[span] = sorted(order[span].tolist(), key=key_of.__getitem__)
    return order


def activities_table(activities: Sequence[Activity]) -> pa.Table:
    """Activity objects (already valid) as :data:`VALID_SCHEMA` columns."""
    stamps = np.fromiter(map(_TS, activities), np.float64, count=len(activities))
    # each activity's POSIX time is its exact microsecond count / 1e6; rounding back
    # recovers the count, checked, and recomputed from the datetime where it does not
    micro = np.rint(stamps * 1e6).astype(np.int64)
    for i in np.flatnonzero(micro / 1e6 != stamps).tolist():
        micro[i] = epoch_microseconds(activities[i].occurred_at)
    tag_text: dict[frozenset[str], str] = {}

    def tags_of(a: Activity) -> str:
        text = tag_text.get(a.tags)
        if text is None:
            text = tag_text[a.tags] = ";".join(sorted(a.tags))
        return text

    def texts(get: Any) -> pa.Array:
        return pa.array(list(map(get, activities)), pa.string())

    return pa.table(
        [
            texts(attrgetter("id")),
            texts(attrgetter("contact_id")),
            pa.array(micro).cast(pa.timestamp("us", tz="UTC")),
            texts(attrgetter("channel._value_")),
            texts(attrgetter("direction._value_")),
            texts(attrgetter("outcome._value_")),
            texts(attrgetter("thread_id")),
            pa.array(list(map(attrgetter("duration_seconds"), activities)), pa.float64()),
            pa.array(list(map(attrgetter("automated"), activities)), pa.bool_()),
            texts(tags_of),
        ],
        schema=VALID_SCHEMA,
    )


def activity_objects(
    table: pa.Table, canonical: Mapping[str, str], texts: Sequence[str] | None = None
) -> list[Activity]:
    """A valid table's rows as Activity objects (contact ids shared with ``canonical``).

    ``texts``: the rows' occurred_at as written, so that a time given with an offset
    keeps it, as the row parser keeps it (``Z`` gives ``timezone.utc``).
    """
    from mutuality_core.construct import trusted_activity
    from mutuality_core.model import to_tags
    from mutuality_core.timestamps import parse_aware_datetime

    micros = table.column("occurred_at").cast(pa.int64()).to_pylist()
    times = []
    for i, us in enumerate(micros):
        text = None if texts is None else texts[i]
        if text is None or text.endswith("Z"):
            times.append(from_epoch_microseconds(us))
        else:
            times.append(parse_aware_datetime(text))

    channels = {m.value: m for m in Channel}
    directions = {m.value: m for m in Direction}
    outcomes = {m.value: m for m in Outcome}
    tag_sets: dict[str, frozenset[str]] = {}
    columns = {name: table.column(name).to_pylist() for name in table.column_names}
    result = []
    for i, (activity_id, contact_id, occurred_at) in enumerate(
        zip(columns["id"], columns["contact_id"], times, strict=True)
    ):
        tags_text = columns["tags"][i]
        tags = tag_sets.get(tags_text)
        if tags is None:
            tags = tag_sets[tags_text] = to_tags(tags_text or None)
        result.append(
            trusted_activity(
                id=activity_id,
                contact_id=canonical.get(contact_id, contact_id),
                occurred_at=occurred_at,
                channel=channels[columns["channel"][i]],
                direction=directions[columns["direction"][i]],
                outcome=outcomes[columns["outcome"][i]],
                thread_id=columns["thread_id"][i],
                duration_seconds=columns["duration_seconds"][i],
                automated=columns["automated"][i],
                tags=tags,
            )
        )
    return result
