"""Checking activity columns the way the files adapter checks rows, without a row loop.

Every column is checked whole: low-cardinality columns (channel, direction, outcome,
automated, duration, tags, contact_id) by converting each *distinct* value with the
very functions the row parser uses, timestamps by a vectorised parse of the common
ISO 8601 shapes. A row that any check does not accept outright (a bad value, or
just an unusual spelling such as a space before ``T``) goes through the files
adapter's own row parser, so its error message, and the order in which several
faults of one row are reported, are the row parser's by construction. Repeated
``(contact_id, id)`` pairs are then found among all accepted rows, the first row
winning, as the row parser does.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from mutuality_adapters.files.records import RecordFile
from mutuality_adapters.files.rows import (
    ACTIVITY_COLUMNS,
    ACTIVITY_REQUIRED,
    BOOLEANS,
    RejectLog,
    activity_chunks,
    duplicate_activity,
)

from mutuality_core.errors import InvalidInputError
from mutuality_core.model import Contact, to_channel, to_direction, to_outcome, to_tags
from mutuality_core.timestamps import epoch_microseconds

from .codes import VALID_SCHEMA

__all__ = [
    "REJECT_SCHEMA",
    "Checked",
    "Inspected",
    "check_columns",
    "inspect_columns",
    "validate_table",
]

#: The rejects ``validate_table`` returns: input row number (0-based), the row parser's
#: message, and the row's values as text in ACTIVITY_COLUMNS order.
REJECT_SCHEMA = pa.schema(
    [("row", pa.int64()), ("error", pa.string()), ("values", pa.list_(pa.string()))]
)


@dataclass
class Checked:
    """Valid rows (``table``, :data:`VALID_SCHEMA`; ``rows`` their input row numbers) and
    the rejected ones as (row, error, values as text), in input order."""

    table: pa.Table
    rows: np.ndarray
    rejects: list[tuple[int, str, list[str]]]
    text: Mapping[str, pa.Array]  # the input's columns as text, by ACTIVITY_COLUMNS name


def _chunked(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    """A column as a chunked array: kept in the reader's chunks, never copied whole."""
    return column if isinstance(column, pa.ChunkedArray) else pa.chunked_array([column])


def _text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Any column as text the way a file holds it ("" for missing)."""
    if pa.types.is_string(column.type) and column.null_count == 0:
        return column  # what a CSV read gives: nothing to convert, nothing copied
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        column = pc.binary_join(column.cast(pa.list_(pa.string())), ";")
    elif pa.types.is_timestamp(column.type):
        column = pa.chunked_array(
            [
                pa.array(
                    ["" if v is None else v.isoformat() for v in column.to_pylist()], pa.string()
                )
            ]
        )
    elif pa.types.is_boolean(column.type):
        column = pc.if_else(column, "true", "false")
    elif not pa.types.is_string(column.type):
        column = column.cast(pa.string())
    return column.fill_null("")


def _distinct(column: pa.ChunkedArray, convert: Any) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """``convert`` applied to each distinct value: (index per row, ok per distinct, values)."""
    encoded = pc.dictionary_encode(column)  # one dictionary, shared by every chunk
    if encoded.num_chunks == 0:
        return np.zeros(0, np.int32), np.zeros(1, bool), []
    indices = np.concatenate(
        [chunk.indices.to_numpy(zero_copy_only=False) for chunk in encoded.chunks]
    )
    values: list[Any] = []
    ok = []
    for text in encoded.chunk(0).dictionary.to_pylist():
        try:
            values.append(convert(text))
            ok.append(True)
        except ValueError:
            values.append(None)
            ok.append(False)
    return indices, np.array(ok or [False], bool), values


def _boolean(text: str) -> bool:
    value = BOOLEANS.get(text)
    if value is None:
        value = BOOLEANS.get(text.strip().lower())
    if value is None:
        raise ValueError(text)
    return value


def _duration(text: str) -> float | None:
    if not text:
        return None
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError(text)
    return value


def _canonical_tags(text: str) -> str:
    return ";".join(sorted(to_tags(text)))


_DAYS_BEFORE_MONTH = np.array([0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334])
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
#: (length, fraction digits, zone length) of the shapes parsed in bulk
_SHAPES = ((20, 0, 1), (24, 3, 1), (27, 6, 1), (25, 0, 6), (29, 3, 6), (32, 6, 6))


class _Chars:
    """Byte ``k`` of each selected string, and a running "well-formed" mask.

    ``matrix``: the strings' bytes as an (n, length) view, when they lie back to back
    (every value of the column has this length): no gathering at all.
    """

    def __init__(
        self, data: np.ndarray, starts: np.ndarray, matrix: np.ndarray | None = None
    ) -> None:
        self.data = data
        self.starts = starts
        self.matrix = matrix
        self.good = np.ones(starts.size, bool)

    def byte(self, k: int) -> np.ndarray:
        return self.matrix[:, k] if self.matrix is not None else self.data[self.starts + k]

    def char(self, k: int, expected: str) -> None:
        self.good &= self.byte(k) == ord(expected)

    def number(self, first: int, count: int) -> np.ndarray:
        """The decimal number in bytes ``first`` .. ``first + count - 1`` (int64)."""
        value = None
        for k in range(first, first + count):
            digit = self.byte(k) - np.uint8(48)  # a non-digit wraps to > 9
            self.good &= digit <= 9
            value = digit.astype(np.int32) if value is None else value * 10 + digit
        assert value is not None
        return value.astype(np.int64)


def _timestamps(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_timestamps_of` for each chunk of a column."""
    if isinstance(column, pa.Array):
        return _timestamps_of(column)
    parts = [_timestamps_of(chunk) for chunk in column.chunks]
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, bool)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _timestamps_of(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(microseconds since the epoch, accepted) for ISO 8601 text of the common shapes:
    ``YYYY-MM-DDTHH:MM:SS``, an optional 3- or 6-digit fraction, then ``Z`` or ``±HH:MM``.

    Anything else (and years outside 1900-2199) is left to the row parser, which
    then accepts it with its own rules or rejects it with its own message.
    """
    n = len(column)
    us = np.zeros(n, np.int64)
    ok = np.zeros(n, bool)
    if n == 0:
        return us, ok
    column = column.fill_null("")
    offsets = np.frombuffer(column.buffers()[1], np.int32)[column.offset : column.offset + n + 1]
    data = np.frombuffer(column.buffers()[2], np.uint8)
    lengths = np.diff(offsets)
    for length, fraction, zone in _SHAPES:
        rows = np.flatnonzero(lengths == length)
        if rows.size == 0:
            continue
        starts = offsets[:-1][rows].astype(np.int64)
        matrix = None
        if rows.size == n:  # every value this long: the bytes are one (n, length) block
            matrix = data[offsets[0] : offsets[0] + n * length].reshape(n, length)
        c = _Chars(data, starts, matrix)
        year = c.number(0, 4)
        month = c.number(5, 2)
        day = c.number(8, 2)
        hour = c.number(11, 2)
        minute = c.number(14, 2)
        second = c.number(17, 2)
        for k, expected in ((4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":")):
            c.char(k, expected)
        micro = np.zeros(rows.size, np.int64)
        if fraction:
            c.char(19, ".")
            micro = c.number(20, fraction) * (1000 if fraction == 3 else 1)
        z = 20 + fraction if fraction else 19
        shift = np.zeros(rows.size, np.int64)
        if zone == 1:
            c.char(z, "Z")
        else:
            sign = c.byte(z)
            c.good &= (sign == ord("+")) | (sign == ord("-"))
            c.char(z + 3, ":")
            zone_hours = c.number(z + 1, 2)
            zone_minutes = c.number(z + 4, 2)
            c.good &= (zone_hours < 24) & (zone_minutes < 60)
            shift = np.where(sign == ord("-"), -1, 1) * (zone_hours * 3600 + zone_minutes * 60)
        leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
        month_ok = (month >= 1) & (month <= 12)
        m = np.where(month_ok, month, 1)
        longest = _DAYS_IN_MONTH[m] + ((m == 2) & leap)
        good = c.good & (year >= 1900) & (year < 2200) & month_ok & (day >= 1) & (day <= longest)
        good &= (hour < 24) & (minute < 60) & (second < 60)
        # days since 1970-01-01 (proleptic Gregorian, as datetime counts)
        y = year - 1
        days = (
            y * 365 + y // 4 - y // 100 + y // 400
            + _DAYS_BEFORE_MONTH[m] + ((m > 2) & leap) + day - 1 - 719162
        )  # fmt: skip
        seconds = days * 86400 + hour * 3600 + minute * 60 + second - shift
        us[rows] = seconds * 1_000_000 + micro
        ok[rows] = good
    return us, ok


class _RowsOf(RecordFile):
    """Chosen rows served as the files adapter's RecordFile (for its row parser).

    ``line()`` is the current row's line number in the file it came from.
    """

    def __init__(self, rows: Sequence[list[str]], numbers: Sequence[int], name: str) -> None:
        super().__init__(
            Path(name), list(ACTIVITY_COLUMNS), self._numbered(rows, numbers), io.StringIO()
        )

    def _numbered(self, rows: Sequence[list[str]], numbers: Sequence[int]) -> Iterator[list[str]]:
        for number, row in zip(numbers, rows, strict=True):
            self._line = number
            yield row


@dataclass
class Inspected:
    """One table's rows judged (see :func:`inspect_columns`): what is needed both to build
    the valid table and to encode the valid rows straight into codes.

    ``fast``: the rows every column check accepted; ``converted[name]``: (index of each
    row's distinct value, the distinct values converted); ``contact``: with known
    contacts, each row's position among their keys (-1 if none); ``extra``: rows the
    row parser accepted (row, Activity); ``rejects``: the rows it rejected.
    """

    text: dict[str, pa.ChunkedArray]
    fast: np.ndarray
    us: np.ndarray
    converted: dict[str, tuple[np.ndarray, list[Any]]]
    contact: np.ndarray | None
    contact_values: list[Any]
    contact_index: np.ndarray | None
    extra: list[tuple[int, Any]]
    rejects: list[tuple[int, str, list[str]]]


def inspect_columns(
    activities: pa.Table,
    *,
    contacts: Mapping[str, Contact] | None = None,
    rejected_contacts: Mapping[str, int] | None = None,
    contacts_name: str = "contacts",
    contact_keys: pa.Array | None = None,
) -> Inspected:
    """Check every row as the row parser would (see :func:`check_columns`), build nothing."""
    missing = [c for c in ACTIVITY_REQUIRED if c not in activities.column_names]
    if missing:
        raise InvalidInputError(
            f"missing required column(s) {', '.join(missing)}; "
            f"found: {', '.join(activities.column_names) or 'none'}"
        )
    n = activities.num_rows
    raw: dict[str, pa.ChunkedArray] = {}
    for name in ACTIVITY_COLUMNS:
        if name in activities.column_names:
            raw[name] = _chunked(activities.column(name))
        else:
            raw[name] = pa.chunked_array([pa.array([""] * n, pa.string())])
    text = {name: _text(column) for name, column in raw.items()}

    ok = np.ones(n, bool)
    ids = text["id"]
    ok &= pc.greater(pc.utf8_length(ids), 0).to_numpy()
    ok &= ~pc.starts_with(ids, " ").to_numpy()
    ok &= ~pc.ends_with(ids, " ").to_numpy()

    contact_index: np.ndarray | None = None
    contact_values: list[Any] = []
    contact: np.ndarray | None = None
    if contacts is None:  # any non-empty contact id without surrounding spaces, as is

        def contact_of(value: str) -> str:
            if not value or value != value.strip():
                raise ValueError(value)
            return value

        contact_index, contact_ok, contact_values = _distinct(text["contact_id"], contact_of)
        ok &= contact_ok[contact_index] if n else ok
    else:  # a known contact's id, exactly (a padded one goes to the row parser)
        if contact_keys is None:
            contact_keys = pa.array([c.id for c in contacts.values()], pa.string())
        position = pc.index_in(text["contact_id"], value_set=contact_keys)
        contact = _filled(position)
        ok &= contact >= 0
    timestamp_column = raw["occurred_at"]
    if pa.types.is_timestamp(timestamp_column.type) and timestamp_column.type.tz is not None:
        stamps = timestamp_column.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
        us_ok = stamps.is_valid().to_numpy()
        us = stamps.fill_null(0).to_numpy().astype(np.int64)
        ok &= us_ok
    else:
        us, us_ok = _timestamps(text["occurred_at"])
        ok &= us_ok
    converted = {}
    for name, convert in (
        ("automated", _boolean),
        ("duration_seconds", _duration),
        ("channel", lambda v: to_channel(v).value),
        ("direction", lambda v: to_direction(v).value),
        ("outcome", lambda v: "completed" if v == "" else to_outcome(v).value),
        ("tags", _canonical_tags),
    ):
        index, good, values = _distinct(text[name], convert)
        if n:
            ok &= good[index]
        converted[name] = (index, values)

    fast = np.flatnonzero(ok)
    slow = np.flatnonzero(~ok)
    rejects: list[tuple[int, str, list[str]]] = []
    extra: list[tuple[int, Any]] = []
    if slow.size:
        extra, rejects = _row_parser(text, slow, contacts, rejected_contacts, contacts_name)
    return Inspected(
        text, fast, us, converted, contact, contact_values, contact_index, extra, rejects
    )


def _filled(positions: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Positions (nulls: not found) as int64, -1 for not found."""
    if isinstance(positions, pa.ChunkedArray):
        parts = [chunk.fill_null(-1).to_numpy() for chunk in positions.chunks]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
    return positions.fill_null(-1).to_numpy().astype(np.int64)


def valid_table(seen: Inspected) -> tuple[pa.Table, np.ndarray]:
    """The rows ``seen`` accepted as a :data:`VALID_SCHEMA` table, and their row numbers."""
    text, fast, us, converted = seen.text, seen.fast, seen.us, seen.converted
    extra = seen.extra

    def typed(name: str, rows: np.ndarray, column: pa.DataType) -> pa.Array:
        index, values = converted[name]
        return pa.array(values, column).take(pa.array(index[rows]))

    fast_rows = pa.array(fast)
    if seen.contact_index is None:
        contact_column = text["contact_id"].take(fast_rows).combine_chunks()
    else:
        contact_column = pa.array(seen.contact_values, pa.string()).take(
            pa.array(seen.contact_index[fast])
        )
    table = pa.table(
        [
            text["id"].take(fast_rows).combine_chunks(),
            contact_column,
            pa.array(us[fast]).cast(pa.timestamp("us", tz="UTC")),
            typed("channel", fast, pa.string()),
            typed("direction", fast, pa.string()),
            typed("outcome", fast, pa.string()),
            pc.if_else(
                pc.equal(text["thread_id"].take(fast_rows), ""),
                pa.scalar(None, pa.string()),
                text["thread_id"].take(fast_rows),
            ),
            typed("duration_seconds", fast, pa.float64()),
            typed("automated", fast, pa.bool_()),
            typed("tags", fast, pa.string()),
        ],
        schema=VALID_SCHEMA,
    )
    rows = fast
    if extra:
        table = pa.concat_tables([table, _activities_table([a for _, a in extra])])
        rows = np.concatenate((fast, np.array([r for r, _ in extra], np.int64)))
        order = np.argsort(rows, kind="stable")
        table = table.take(pa.array(order))
        rows = rows[order]
    return table, rows


def check_columns(
    activities: pa.Table,
    *,
    contacts: Mapping[str, Contact] | None = None,
    rejected_contacts: Mapping[str, int] | None = None,
    contacts_name: str = "contacts",
    duplicates: bool = True,
    contact_keys: pa.Array | None = None,
) -> Checked:
    """Check every row of ``activities`` as the files adapter's row parser would.

    ``contacts``: the known contacts (an activity of any other contact is rejected as
    the files adapter rejects it); None accepts any non-empty contact id.
    ``duplicates``: also reject repeated (contact_id, id) pairs within this table.
    ``contact_keys``: the contacts' ids as an array, when the caller checks many tables.
    """
    seen = inspect_columns(
        activities,
        contacts=contacts,
        rejected_contacts=rejected_contacts,
        contacts_name=contacts_name,
        contact_keys=contact_keys,
    )
    table, rows = valid_table(seen)
    rejects = seen.rejects
    if duplicates:  # else the caller looks for them over all its tables (see stream.py)
        table, rows, repeated = _drop_duplicates(table, rows, seen.text)
        if repeated:
            rejects = sorted(rejects + repeated, key=lambda r: r[0])
    return Checked(table, rows, rejects, seen.text)


def _fail(value: str) -> str:
    raise ValueError(value)


def _row_parser(
    text: Mapping[str, pa.Array],
    slow: np.ndarray,
    contacts: Mapping[str, Contact] | None,
    rejected_contacts: Mapping[str, int] | None,
    contacts_name: str,
) -> tuple[list[tuple[int, Any]], list[tuple[int, str, list[str]]]]:
    """The files adapter's row parser over the rows the column checks did not accept."""
    take = pa.array(slow)
    columns = [text[name].take(take).to_pylist() for name in ACTIVITY_COLUMNS]
    rows = [list(values) for values in zip(*columns, strict=True)]
    numbers = slow.tolist()
    if contacts is None:  # any non-empty contact id (stripped, as the parser strips it)
        ids = {row[1].strip() for row in rows if row[1].strip()}
        contacts = {cid: Contact(cid) for cid in ids}
    log = RejectLog(True)
    source = _RowsOf(rows, numbers, "activities")
    accepted: list[tuple[int, Any]] = []
    parsed = activity_chunks(
        source,
        {name: i for i, name in enumerate(ACTIVITY_COLUMNS)},
        contacts,
        rejected_contacts or {},
        contacts_name,
        log,
        chunk_size=1,
    )
    for chunk in parsed:
        for activity in chunk:
            accepted.append((source.line(), activity))
    by_number = dict(zip(numbers, rows, strict=True))
    rejects = [
        (line, error, by_number[line][: len(ACTIVITY_COLUMNS)])
        for (_, line, error, _raw) in log.records
    ]
    return accepted, rejects


def _activities_table(activities: Sequence[Any]) -> pa.Table:
    """Activities the row parser built, as :data:`VALID_SCHEMA` columns."""
    return pa.table(
        [
            pa.array([a.id for a in activities], pa.string()),
            pa.array([a.contact_id for a in activities], pa.string()),
            pa.array([epoch_microseconds(a.occurred_at) for a in activities], pa.int64()).cast(
                pa.timestamp("us", tz="UTC")
            ),
            pa.array([a.channel.value for a in activities], pa.string()),
            pa.array([a.direction.value for a in activities], pa.string()),
            pa.array([a.outcome.value for a in activities], pa.string()),
            pa.array([a.thread_id for a in activities], pa.string()),
            pa.array([a.duration_seconds for a in activities], pa.float64()),
            pa.array([a.automated for a in activities], pa.bool_()),
            pa.array([";".join(sorted(a.tags)) for a in activities], pa.string()),
        ],
        schema=VALID_SCHEMA,
    )


def _drop_duplicates(
    table: pa.Table, rows: np.ndarray, text: Mapping[str, pa.Array]
) -> tuple[pa.Table, np.ndarray, list[tuple[int, str, list[str]]]]:
    """Reject each repeat of a (contact_id, id) pair after its first row."""
    if table.num_rows < 2 or pc.count_distinct(table.column("id")).as_py() == table.num_rows:
        return table, rows, []  # every id once: no pair can repeat
    pairs = pc.binary_join_element_wise(table.column("contact_id"), table.column("id"), "\x00")
    encoded = pc.dictionary_encode(pairs).combine_chunks()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    if len(encoded.dictionary) == codes.size:
        return table, rows, []
    first = np.full(len(encoded.dictionary), -1, np.int64)
    positions = np.arange(codes.size)
    first[codes[::-1]] = positions[::-1]
    repeat = np.flatnonzero(first[codes] != positions)
    rejects = []
    for position in repeat.tolist():
        row = int(rows[position])
        values = [text[name][row].as_py() for name in ACTIVITY_COLUMNS]
        activity_id = table.column("id")[position].as_py()
        contact_id = table.column("contact_id")[position].as_py()
        rejects.append((row, str(duplicate_activity(activity_id, contact_id)), values))
    keep = np.ones(codes.size, bool)
    keep[repeat] = False
    return table.filter(pa.array(keep)), rows[keep], rejects


def validate_table(
    activities: pa.Table,
    *,
    contacts: Mapping[str, Contact] | None = None,
) -> tuple[pa.Table, pa.Table]:
    """(valid rows, rejected rows) of an activity table, checked as the files adapter checks.

    The valid rows come as :data:`~mutuality_columnar.codes.VALID_SCHEMA` (typed and
    normalised, ready for :func:`mutuality_columnar.score_table`); the rejects as
    :data:`REJECT_SCHEMA`: the input row number (0-based), the files adapter's message
    for that row, and the row's values as text.
    """
    checked = check_columns(activities, contacts=contacts)
    rejects = pa.table(
        [
            pa.array([r[0] for r in checked.rejects], pa.int64()),
            pa.array([r[1] for r in checked.rejects], pa.string()),
            pa.array([r[2] for r in checked.rejects], pa.list_(pa.string())),
        ],
        schema=REJECT_SCHEMA,
    )
    return checked.table, rejects
