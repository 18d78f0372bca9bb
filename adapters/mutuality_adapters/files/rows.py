"""Turning file rows into contacts and activities, rejecting bad rows with a reason.

The activity loop is the hot path (a million rows per sync), so it works on
plain lists with precomputed column indexes and lets the model's converters do
the enum checks with their dict lookups.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from operator import itemgetter
from typing import Any

import attrs

from mutuality_core.construct import trusted_activity
from mutuality_core.errors import InvalidInputError
from mutuality_core.model import (
    Activity,
    Channel,
    Contact,
    Direction,
    Outcome,
    to_channel,
    to_direction,
    to_outcome,
    to_tags,
)
from mutuality_core.ports import Rejection
from mutuality_core.timestamps import parse_aware_datetime

from .records import RecordFile, check_columns

__all__ = [
    "ACTIVITY_COLUMNS",
    "BOOLEANS",
    "CONTACT_COLUMNS",
    "RejectLog",
    "activity_chunks",
    "parse_activities",
    "parse_contacts",
    "parse_timestamp",
    "text_values",
]


def text_values(values: Iterable[Any]) -> list[str]:
    """A row's values as the file's text: empty for a missing value (rejects.csv, Parquet)."""
    return ["" if v is None else str(v) for v in values]


CONTACT_COLUMNS = ("id", "email", "first_name", "last_name", "company")
ACTIVITY_REQUIRED = ("id", "contact_id", "occurred_at", "channel", "direction")
ACTIVITY_OPTIONAL = ("outcome", "thread_id", "duration_seconds", "automated", "tags")
ACTIVITY_COLUMNS = ACTIVITY_REQUIRED + ACTIVITY_OPTIONAL

#: How the files adapter reads a boolean cell (``automated``); the columnar engine reads
#: the same cells with the same table.
BOOLEANS = {
    "": False,
    "true": True,
    "false": False,
    "1": True,
    "0": False,
    "yes": True,
    "no": False,
    "t": True,
    "f": False,
    "y": True,
    "n": False,
}


#: How many distinct tags texts the parser remembers the parsed set of (they repeat a lot).
_TAG_SETS_KEPT = 4096


class RowError(ValueError):
    """What is wrong with one row (the caller adds ``file:line``)."""


@attrs.define
class RejectLog:
    """Collects rows that were skipped, or raises on the first one when not skipping.

    ``records`` keeps each rejected row as text in its file's own format, so the
    rejects file lets the user fix and re-import exactly what was skipped.
    """

    skip_invalid: bool
    rejections: list[Rejection] = attrs.field(factory=list)
    records: list[tuple[str, int, str, str]] = attrs.field(factory=list)

    def reject(self, records: RecordFile, line: int, error: str, row: list[str], obj: Any) -> None:
        if not self.skip_invalid:
            raise InvalidInputError(
                f"{records.path}:{line}: {error} (use --skip-invalid to skip bad rows and "
                "write them to a rejects file)"
            )
        if obj is not None:
            raw = json.dumps(obj, ensure_ascii=False)
        else:
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="").writerow(row)
            raw = buffer.getvalue()
        self.rejections.append(Rejection(f"{records.path.name}:{line}", error))
        self.records.append((records.path.name, line, error, raw))

    def reject_bad_line(self, records: RecordFile) -> None:
        """A JSON Lines line that is not an object (``records.bad``), kept as its own text."""
        error, text = records.bad or "", records.bad_text
        records.bad = None
        if not self.skip_invalid:
            self.reject(records, records.line(), error, [], None)
        self.rejections.append(Rejection(f"{records.path.name}:{records.line()}", error))
        self.records.append((records.path.name, records.line(), error, text))


def wrong_width(records: RecordFile, row: list[str], width: int) -> RowError:
    """A row with the wrong field count; raises at once for a quote left open.

    A record that spans lines and has the wrong number of fields is almost always
    an unbalanced quote that swallowed the lines after it. Skipping it would lose
    all of those rows silently, so that stops the run even with ``skip_invalid``.
    """
    start, end = records.start_line(row), records.line()
    if records.obj is None and end > start:
        raise InvalidInputError(
            f"{records.path}:{start}: unbalanced quote: the record starting on line {start} runs "
            f"to line {end} and has {len(row)} fields instead of {width}; a double quote opened "
            f"on line {start} is probably never closed. Fix that line (double a quote inside a "
            "quoted field, or quote the whole field); this stops even with --skip-invalid, "
            f"because the {end - start} line(s) after it would be lost"
        )
    return RowError(f"expected {width} fields like the header, found {len(row)}")


def parse_timestamp(text: str, field: str) -> datetime:
    """An aware datetime from ISO 8601 text with an offset or ``Z``."""
    if not text:
        raise RowError(f"{field} is empty")
    try:
        return parse_aware_datetime(text)
    except ValueError as error:
        raise RowError(f"{field} {error}") from None


def parse_contacts(
    records: RecordFile, log: RejectLog
) -> tuple[dict[str, Contact], dict[str, int]]:
    """Every valid contact by id, and the line of each id whose row was rejected."""
    try:
        columns = check_columns(records, ("id",))
    except BaseException:
        records.close()
        raise
    known = set(CONTACT_COLUMNS)
    i_id = columns["id"]
    i_email, i_first, i_last, i_company = (
        columns.get(c) for c in ("email", "first_name", "last_name", "company")
    )
    extra_columns = [(name, i) for name, i in columns.items() if name not in known]
    width = len(records.header)
    contacts: dict[str, Contact] = {}
    lines: dict[str, int] = {}
    rejected: dict[str, int] = {}
    try:
        for row in records.rows:
            if not row:
                if records.bad is not None:
                    log.reject_bad_line(records)
                continue
            _contact_row(records, row, contacts, lines, rejected, log, extra_columns, width,
                         (i_id, i_email, i_first, i_last, i_company), known)  # fmt: skip
    except (UnicodeDecodeError, csv.Error) as exc:
        raise records.failure(exc) from None
    finally:
        records.close()
    if not contacts and not rejected:
        raise InvalidInputError(f"{records.path}: no contacts (the file has only a header)")
    return contacts, rejected


def _contact_row(
    records: RecordFile,
    row: list[str],
    contacts: dict[str, Contact],
    lines: dict[str, int],
    rejected: dict[str, int],
    log: RejectLog,
    extra_columns: list[tuple[str, int]],
    width: int,
    indexes: tuple[int, int | None, int | None, int | None, int | None],
    known: set[str],
) -> None:
    i_id, i_email, i_first, i_last, i_company = indexes
    obj = records.obj
    line = records.start_line(row)
    contact_id = row[i_id].strip() if len(row) > i_id else ""
    try:
        if obj is None and len(row) != width:
            raise wrong_width(records, row, width)
        if not contact_id:
            raise RowError("id is empty")
        if contact_id in contacts:
            raise RowError(
                f"duplicate contact id {contact_id!r} (first on line {lines[contact_id]})"
            )
        if obj is None:
            extra = {name: row[i] for name, i in extra_columns if row[i]}
        else:
            extra = {
                k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                for k, v in obj.items()
                if k not in known and v not in (None, "")
            }
        contacts[contact_id] = Contact(
            contact_id,
            _optional(row, i_email),
            _optional(row, i_first),
            _optional(row, i_last),
            _optional(row, i_company),
            None,
            extra,
        )
        lines[contact_id] = line
    except ValueError as exc:
        if isinstance(exc, InvalidInputError):  # an unbalanced quote stops even when skipping
            raise
        if contact_id and contact_id not in contacts:
            rejected.setdefault(contact_id, line)
        log.reject(records, line, str(exc), row, obj)


def _optional(row: list[str], index: int | None) -> str | None:
    if index is None:
        return None
    value = row[index].strip()
    return value or None


def parse_activities(
    records: RecordFile,
    contacts: Mapping[str, Contact],
    rejected_contacts: Mapping[str, int],
    contacts_name: str,
    log: RejectLog,
    *,
    chunk_size: int = 50_000,
) -> Iterator[list[Activity]]:
    """Valid activities in chunks. Each (contact_id, id) pair may appear once."""
    try:
        columns = check_columns(records, ACTIVITY_REQUIRED)
        yield from activity_chunks(
            records, columns, contacts, rejected_contacts, contacts_name, log, chunk_size
        )
    except (UnicodeDecodeError, csv.Error) as exc:
        raise records.failure(exc) from None
    finally:
        records.close()


def activity_chunks(
    records: RecordFile,
    columns: Mapping[str, int],
    contacts: Mapping[str, Contact],
    rejected_contacts: Mapping[str, int],
    contacts_name: str,
    log: RejectLog,
    chunk_size: int,
) -> Iterator[list[Activity]]:
    """The hot loop (about a million rows per sync).

    One ``itemgetter`` call pulls every field, an absent optional column reads
    the empty cell appended to each row, and the common case takes no exception
    and copies no strings. Public because the columnar engine re-reads the rows its
    bulk checks rejected through this same parser, so both report the same errors.
    """
    width = len(records.header)
    fields = itemgetter(*(columns.get(c, width) for c in ACTIVITY_COLUMNS))
    # Canonical contact id strings: activities share them instead of holding copies.
    canonical = {cid: c.id for cid, c in contacts.items()}
    # activity id -> the first activity with that id: one probe per row claims the id
    first_with: dict[str, Activity] = {}
    claim = first_with.setdefault
    shared: set[tuple[str, str]] = set()  # (id, contact) of ids seen for several contacts
    booleans = BOOLEANS
    fromisoformat = datetime.fromisoformat
    # Exact-text hits go straight to the enum member; anything else takes the model's
    # converter, which accepts other spellings and raises its own clear message.
    channels = {m.value: m for m in Channel}
    directions = {m.value: m for m in Direction}
    outcomes = {m.value: m for m in Outcome}
    outcomes[""] = Outcome.COMPLETED
    tag_sets: dict[str, frozenset[str]] = {"": to_tags(None)}  # tags text -> normalised set
    new_activity = trusted_activity
    chunk: list[Activity] = []
    append = chunk.append
    for row in records.rows:
        if not row:  # a blank line, or a JSON Lines line that is not an object
            if records.bad is not None:
                log.reject_bad_line(records)
            continue
        try:
            if len(row) != width:
                raise wrong_width(records, row, width)
            row.append("")
            (activity_id, raw_contact, text, channel_text, direction_text, outcome_text,
             thread_id, duration_text, automated_text, tags_text) = fields(row)  # fmt: skip
            if not activity_id or activity_id[0] == " " or activity_id[-1] == " ":
                activity_id = activity_id.strip()
                if not activity_id:
                    raise RowError("id is empty")
            try:
                contact_id = canonical[raw_contact]
            except KeyError:
                stripped_id = canonical.get(raw_contact.strip())
                if stripped_id is None:
                    raise RowError(
                        _unknown_contact(raw_contact.strip(), rejected_contacts, contacts_name)
                    ) from None
                contact_id = stripped_id
            try:
                occurred_at = fromisoformat(text)
                if occurred_at.tzinfo is None:
                    raise ValueError
            except ValueError:
                occurred_at = parse_timestamp(text, "occurred_at")
            try:
                automated = booleans[automated_text]
            except KeyError:
                spelt = booleans.get(automated_text.strip().lower())
                if spelt is None:
                    raise RowError(
                        f"automated {automated_text!r} is not a yes/no value "
                        "(use true/false, 1/0 or yes/no)"
                    ) from None
                automated = spelt
            # checked in the order the Activity constructor checks them, so a row with
            # several faults is reported with the same message as before
            duration = _duration(duration_text) if duration_text else None
            try:  # subscripts, not .get(): a hit is the rule and costs less this way
                channel = channels[channel_text]
            except KeyError:
                channel = to_channel(channel_text)
            try:
                direction = directions[direction_text]
            except KeyError:
                direction = to_direction(direction_text)
            try:
                outcome = outcomes[outcome_text]
            except KeyError:
                outcome = to_outcome(outcome_text)
            try:
                tags = tag_sets[tags_text]
            except KeyError:
                tags = to_tags(tags_text)
                if len(tag_sets) < _TAG_SETS_KEPT:
                    tag_sets[tags_text] = tags
            if duration is not None and duration < 0:
                raise RowError(f"duration_seconds must be >= 0 or None; got {duration!r}")
            activity = new_activity(
                activity_id,
                contact_id,
                occurred_at,
                channel,
                direction,
                outcome,
                thread_id or None,
                duration,
                automated,
                tags,
            )
            first = claim(activity_id, activity)
            if first is not activity:  # the id was seen before: for this contact too?
                if first.contact_id is contact_id or (activity_id, contact_id) in shared:
                    raise duplicate_activity(activity_id, contact_id)
                shared.add((activity_id, contact_id))
        except ValueError as exc:
            if isinstance(exc, InvalidInputError):  # an unbalanced quote stops even when skipping
                raise
            if len(row) > width:
                row.pop()
            log.reject(records, records.start_line(row), str(exc), row, records.obj)
            continue
        append(activity)
        if len(chunk) >= chunk_size:
            yield chunk
            chunk = []
            append = chunk.append
    if chunk:
        yield chunk


def duplicate_activity(activity_id: str, contact_id: str) -> RowError:
    """The error for a second row with the same (contact_id, id) pair."""
    return RowError(
        f"duplicate activity id {activity_id!r} for contact {contact_id!r} "
        "(an earlier row has the same id and contact_id)"
    )


def _duration(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise RowError(f"duration_seconds {text!r} is not a number of seconds") from None
    if not math.isfinite(value):
        raise RowError(f"duration_seconds {text!r} is not a finite number")
    return value


def _unknown_contact(contact_id: str, rejected: Mapping[str, int], contacts_name: str) -> str:
    if not contact_id:
        return "contact_id is empty"
    if contact_id in rejected:
        return (
            f"contact_id {contact_id!r} belongs to a contact whose row was rejected "
            f"({contacts_name}:{rejected[contact_id]})"
        )
    return f"contact_id {contact_id!r} is not in {contacts_name}"
