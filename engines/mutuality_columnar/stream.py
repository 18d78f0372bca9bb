"""Reading a large activity file batch by batch straight into the codes the tally needs.

Holding a million rows as Arrow text (about 150 bytes a row) and a checked copy of
them is what made the engine's memory grow with the file. Here each record batch of
the reader (a few MiB of text) is checked as :func:`~.validate.check_columns` checks
it, turned into compact columns (contact code, POSIX microseconds, enum codes, a
thread code, a tags code, the automated flag, the duration and the id: about 40
bytes a row) and dropped. Repeated ``(contact_id, id)`` pairs are looked for once at
the end, over every batch, the first row winning, as the row parser does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from mutuality_adapters.files.rows import duplicate_activity, text_values

from mutuality_core.model import Contact

from .codes import (
    CHANNELS,
    DIRECTIONS,
    OUTCOMES,
    Batch,
    _codes,
    _contact_time_order,
    _tie_rows,
    settle_ties_with,
    tag_bits,
)
from .validate import Inspected, inspect_columns, valid_table

__all__ = ["Compact", "compact_batches"]


@dataclass
class Compact:
    """Every valid row of a file, compact, and the rejected rows (row, error, values)."""

    batch: Batch
    rejects: list[tuple[int, str, list[str]]]
    activities: int


@dataclass
class _Columns:
    contact: list[np.ndarray] = field(default_factory=list)
    us: list[np.ndarray] = field(default_factory=list)
    channel: list[np.ndarray] = field(default_factory=list)
    direction: list[np.ndarray] = field(default_factory=list)
    outcome: list[np.ndarray] = field(default_factory=list)
    automated: list[np.ndarray] = field(default_factory=list)
    duration: list[np.ndarray] = field(default_factory=list)
    tags: list[np.ndarray] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)
    ids: list[pa.Array] = field(default_factory=list)


class _Interned:
    """Global codes for the distinct texts of a column, batch after batch.

    Each batch's column is dictionary-encoded where it is read; :meth:`codes` unifies
    the batches' dictionaries (in C++) at the end, so a text has one code in every
    batch; nulls (no thread) get -1. The texts stay an Arrow array (``dictionary``):
    a million thread ids as Python strings would cost ~70 MiB.
    """

    def __init__(self) -> None:
        self.chunks: list[pa.DictionaryArray] = []
        self.dictionary: pa.Array = pa.array([], pa.string())

    def add(self, column: pa.ChunkedArray | pa.Array) -> None:
        encoded = pc.dictionary_encode(column)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        self.chunks.append(encoded)

    def codes(self, keep: np.ndarray | None = None) -> np.ndarray:
        if not self.chunks:
            return np.zeros(0, np.int64)
        unified = pa.chunked_array(self.chunks).unify_dictionaries()
        self.chunks = []
        if unified.num_chunks:
            self.dictionary = unified.chunk(0).dictionary
        parts = []
        for chunk in unified.chunks:
            parts.append(chunk.indices.fill_null(-1).to_numpy(zero_copy_only=False))
        del unified
        codes = np.concatenate(parts).astype(np.int64)
        return codes if keep is None else codes[keep]

    def text(self, code: int) -> str:
        return str(self.dictionary[code].as_py())


class _Tags:
    """A code for each distinct normalised tags text (few: tags come from a short list)."""

    def __init__(self) -> None:
        self.code: dict[str, int] = {}
        self.texts: list[str] = []

    def table(self, texts: list[str | None]) -> np.ndarray:
        """The code of each text (None, a value no valid row has, gets 0)."""
        return np.array([0 if t is None else self._intern(t) for t in texts] or [0], np.int32)

    def _intern(self, text: str) -> int:
        code = self.code.get(text)
        if code is None:
            code = self.code[text] = len(self.texts)
            self.texts.append(text)
        return code


def _lookup(values: list[Any], convert: Any, dtype: Any, missing: Any = 0) -> np.ndarray:
    """``convert(value)`` for each distinct value (``missing`` for None: a rejected value)."""
    return np.array([missing if v is None else convert(v) for v in values] or [missing], dtype)


_CHANNEL = {m.value: i for i, m in enumerate(CHANNELS)}
_DIRECTION = {m.value: i for i, m in enumerate(DIRECTIONS)}
_OUTCOME = {m.value: i for i, m in enumerate(OUTCOMES)}


def compact_batches(
    batches: Iterable[pa.RecordBatch | pa.Table],
    *,
    contacts: Mapping[str, Contact],
    rejected_contacts: Mapping[str, int] | None = None,
    contacts_name: str = "contacts",
) -> Compact:
    """Check and encode ``batches`` (the activity file, in order) into one sorted Batch.

    A batch may also be a table (e.g. one block of a CSV file, parsed in parts).
    """
    known = sorted({c.id for c in contacts.values()})
    known_array = pa.array(known, pa.string())
    keys = pa.array(list(contacts), pa.string())
    code_of = {cid: k for k, cid in enumerate(known)}
    key_code = np.array([code_of[c.id] for c in contacts.values()] or [0], np.int64)
    threads = _Interned()
    tags = _Tags()
    columns = _Columns()
    rejects: list[tuple[int, str, list[str]]] = []
    start = 0
    for record_batch in batches:
        if isinstance(record_batch, pa.Table):
            table = record_batch
        else:
            table = pa.Table.from_batches([record_batch])
        seen = inspect_columns(
            table,
            contacts=contacts,
            rejected_contacts=rejected_contacts,
            contacts_name=contacts_name,
            contact_keys=keys,
        )
        for row, error, _ in seen.rejects:
            whole = record_batch.slice(row, 1).to_pylist()[0].values()
            rejects.append((start + row, error, text_values(whole)))
        if seen.extra:  # unusual spellings the row parser accepted: through a typed table
            _add_table(columns, *valid_table(seen), known_array, threads, tags)
        else:
            _add_codes(columns, seen, key_code, threads, tags)
        columns.rows[-1] += start
        del table, seen
        # pyarrow's allocator (mimalloc) keeps freed pages for reuse: hand them back
        # after each block, or the process holds ~30 MiB more at its peak
        pa.default_memory_pool().release_unused()
        start += record_batch.num_rows
    return _finish(columns, known, threads, tags, rejects)


def _add_codes(
    columns: _Columns, seen: Inspected, key_code: np.ndarray, threads: _Interned, tags: _Tags
) -> None:
    """The rows every column check accepted, encoded from what the checks found."""
    fast = seen.fast
    take = pa.array(fast)
    assert seen.contact is not None
    columns.rows.append(fast.astype(np.int64))
    columns.contact.append(key_code[seen.contact[fast]])
    columns.us.append(seen.us[fast])
    for name, into, codes in (
        ("channel", columns.channel, _CHANNEL),
        ("direction", columns.direction, _DIRECTION),
        ("outcome", columns.outcome, _OUTCOME),
    ):
        index, values = seen.converted[name]
        into.append(_lookup(values, codes.__getitem__, np.int8)[index[fast]])
    index, values = seen.converted["automated"]
    columns.automated.append(_lookup(values, bool, bool, False)[index[fast]])
    index, values = seen.converted["duration_seconds"]
    columns.duration.append(_lookup(values, float, np.float64, np.nan)[index[fast]])
    index, values = seen.converted["tags"]
    columns.tags.append(tags.table(values)[index[fast]])
    thread = seen.text["thread_id"].take(take)
    threads.add(pc.if_else(pc.equal(thread, ""), pa.scalar(None, pa.string()), thread))
    columns.ids.append(seen.text["id"].take(take).combine_chunks())


def _add_table(
    columns: _Columns,
    valid: pa.Table,
    rows: np.ndarray,
    known_array: pa.Array,
    threads: _Interned,
    tags: _Tags,
) -> None:
    """Valid rows given as a :data:`~.codes.VALID_SCHEMA` table, encoded."""
    columns.rows.append(rows.astype(np.int64))
    columns.contact.append(
        pc.index_in(valid.column("contact_id"), value_set=known_array).to_numpy().astype(np.int64)
    )
    columns.us.append(valid.column("occurred_at").cast(pa.int64()).to_numpy())
    columns.channel.append(_codes(valid.column("channel"), CHANNELS))
    columns.direction.append(_codes(valid.column("direction"), DIRECTIONS))
    columns.outcome.append(_codes(valid.column("outcome"), OUTCOMES))
    threads.add(valid.column("thread_id"))
    encoded = pc.dictionary_encode(valid.column("tags")).combine_chunks()
    table = tags.table(encoded.dictionary.to_pylist())
    columns.tags.append(table[encoded.indices.to_numpy(zero_copy_only=False)])
    columns.automated.append(valid.column("automated").to_numpy().astype(bool))
    columns.duration.append(
        valid.column("duration_seconds").fill_null(np.nan).to_numpy().astype(np.float64)
    )
    columns.ids.append(valid.column("id").combine_chunks())


def _joined(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
    """The parts as one array; the list is emptied (its arrays are freed as it goes)."""
    joined = np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)
    parts.clear()
    return joined


def _finish(
    columns: _Columns,
    known: list[str],
    threads: _Interned,
    tags: _Tags,
    rejects: list[tuple[int, str, list[str]]],
) -> Compact:
    contact = _joined(columns.contact, np.int64)
    rows = _joined(columns.rows, np.int64)
    ids = pa.chunked_array(columns.ids, pa.string())
    keep, repeated = _first_of_each_pair(ids, contact, len(known))
    for position in repeated.tolist():
        activity_id = ids[position].as_py()
        error = str(duplicate_activity(activity_id, known[int(contact[position])]))
        rejects.append((int(rows[position]), error, []))
    rejects.sort(key=lambda r: r[0])
    del rows  # each array is let go once it is no longer needed: the peak is the sum

    def pick(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
        joined = _joined(parts, dtype)
        return joined if keep is None else joined[keep]

    us = pick(columns.us, np.int64)
    thread = threads.codes(keep)
    tag_code = pick(columns.tags, np.int32)
    channel = pick(columns.channel, np.int8)
    direction = pick(columns.direction, np.int8)
    outcome = pick(columns.outcome, np.int8)
    automated = pick(columns.automated, bool)
    duration = pick(columns.duration, np.float64)
    if keep is not None:
        contact = contact[keep]
        ids = ids.filter(pa.array(keep))
    # contacts numbered among those with activities, in contact_id order
    per_contact = np.bincount(contact, minlength=len(known))
    present = np.flatnonzero(per_contact)
    contact = (np.cumsum(per_contact > 0) - 1)[contact]
    order = _contact_time_order(contact, us)
    # settling ties reorders rows of one contact and instant only: these stay sorted
    contact = contact[order]
    us = us[order]
    ties = _tie_rows(contact, us)
    if ties.size:
        at = _TieColumns(ids, channel, direction, outcome, thread, threads,
                         duration, automated, tag_code, tags.texts)  # fmt: skip
        order = settle_ties_with(order, ties, at.keys)
        del at
    del ids, duration  # only the ties needed them
    bits = np.array([tag_bits(_tag_set(t)) for t in tags.texts] or [0], np.uint8)
    # sorted one column at a time, each unsorted column freed as its copy is made
    channel = channel[order]
    direction = direction[order]
    outcome = outcome[order]
    thread = thread[order]
    automated = automated[order]
    tag_bits_sorted = bits[tag_code[order]]
    del tag_code
    batch = Batch(
        contact_ids=[known[k] for k in present.tolist()],
        contact=contact,
        us=us,
        ts=us / 1e6,
        channel=channel,
        direction=direction,
        outcome=outcome,
        thread=thread,
        threads=len(threads.dictionary),
        automated=automated,
        tags=tag_bits_sorted,
        order=order,
        activity_count=per_contact[present].astype(np.int64),
    )
    return Compact(batch, rejects, int(us.size))


@dataclass
class _TieColumns:
    """What the reference's full key needs of each row, for same-instant activities."""

    ids: pa.ChunkedArray
    channel: np.ndarray
    direction: np.ndarray
    outcome: np.ndarray
    thread: np.ndarray
    threads: _Interned
    duration: np.ndarray
    automated: np.ndarray
    tag_code: np.ndarray
    tag_texts: list[str]

    def keys(self, rows: np.ndarray) -> list[tuple[object, ...]]:
        names = self.ids.take(pa.array(rows)).to_pylist()
        return [
            (
                names[i],
                CHANNELS[self.channel[r]].value,
                DIRECTIONS[self.direction[r]].value,
                OUTCOMES[self.outcome[r]].value,
                "" if self.thread[r] < 0 else self.threads.text(int(self.thread[r])),
                -1.0 if self.duration[r] != self.duration[r] else float(self.duration[r]),
                bool(self.automated[r]),
                tuple(sorted(_tag_set(self.tag_texts[self.tag_code[r]]))),
            )
            for i, r in enumerate(rows.tolist())
        ]


def _tag_set(text: str) -> frozenset[str]:
    return frozenset(text.split(";")) if text else frozenset()


def _first_of_each_pair(
    ids: pa.ChunkedArray, contact: np.ndarray, contacts: int
) -> tuple[np.ndarray | None, np.ndarray]:
    """(rows to keep or None for all, positions repeating an earlier (contact, id) pair)."""
    if len(ids) < 2 or not _may_repeat(ids) or pc.count_distinct(ids).as_py() == len(ids):
        return None, np.zeros(0, np.int64)
    id_codes = pc.dictionary_encode(ids).combine_chunks().indices.to_numpy(zero_copy_only=False)
    key = id_codes.astype(np.int64) * contacts + contact
    _, first = np.unique(key, return_index=True)
    keep = np.zeros(key.size, bool)
    keep[first] = True
    return keep, np.flatnonzero(~keep)


#: Ids longer than this are left to pyarrow's exact count of distinct values.
_HASHED_LENGTH = 64


def _may_repeat(ids: pa.ChunkedArray) -> bool:
    """False when no id repeats, found by a 64-bit hash of each id and one sort.

    Different hashes mean different ids; any equal pair (a repeat, or a collision)
    answers True and the exact count decides. Several times faster than hashing the
    strings into a table, and in a real file ids seldom repeat.
    """
    parts: list[np.ndarray] = []
    for chunk in ids.chunks:
        hashes = _id_hashes(chunk)
        if hashes is None:
            return True
        parts.append(hashes)
    if not parts:
        return False
    hashes = np.sort(np.concatenate(parts))
    return bool((hashes[1:] == hashes[:-1]).any())


def _id_hashes(ids: pa.Array) -> np.ndarray | None:
    """FNV-1a style hash of each id's bytes and length (None: ids it does not hash)."""
    n = len(ids)
    if n == 0:
        return np.zeros(0, np.uint64)
    if ids.null_count or not pa.types.is_string(ids.type):
        return None
    offsets = np.frombuffer(ids.buffers()[1], np.int32)[ids.offset : ids.offset + n + 1]
    data = np.frombuffer(ids.buffers()[2], np.uint8)
    lengths = np.diff(offsets)
    if int(lengths.max()) > _HASHED_LENGTH:
        return None
    prime = np.uint64(1099511628211)
    hashes = lengths.astype(np.uint64) * prime
    for length in np.unique(lengths).tolist():
        if length == lengths[0] and (lengths == length).all():
            # every id this long: the bytes lie back to back, one (n, length) block
            block = data[offsets[0] : offsets[0] + n * length].reshape(n, length)
            for k in range(length):
                hashes = (hashes ^ block[:, k]) * prime
            break
        rows = np.flatnonzero(lengths == length)
        first = offsets[:-1][rows].astype(np.int64)
        h = hashes[rows]
        for k in range(length):
            h = (h ^ data[first + k]) * prime
        hashes[rows] = h
    return hashes
