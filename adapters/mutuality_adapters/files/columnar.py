"""Reading and scoring the activities file with the columnar engine (``mutuality[fast]``).

pyarrow reads ``activities.csv`` or ``activities.parquet`` into columns of text, the
engine checks them as the row parser checks rows (rows it cannot accept outright go
through the row parser itself, see ``mutuality_columnar.validate``) and scores every
contact at once. What a user sees does not change: the same errors with the same
``file:line``, the same rejects, the same scores. A CSV file pyarrow cannot read as a
clean table (a row of the wrong width, a quote left open, bad UTF-8) is read by the
row parser instead, which reports the problem exactly as before.

Score objects (components, reasons) are built only for the contacts the sync writes
or the caller asks for: the sync diffs the published numbers, which are columns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from mutuality_core.config import ScoringConfig
from mutuality_core.errors import MissingDependencyError
from mutuality_core.model import Activity, Contact, MutualityScore
from mutuality_core.scoring import score_contact
from mutuality_core.sync import ScoredRead

from .records import check_columns, open_records
from .rows import (
    ACTIVITY_COLUMNS,
    ACTIVITY_REQUIRED,
    CONTACT_COLUMNS,
    RejectLog,
    text_values,
)

__all__ = ["activity_chunks", "read_activity_table", "read_contacts_in_columns", "score_columnar"]

log = logging.getLogger(__name__)


def _checked_header(
    path: Path, expected: tuple[str, ...], required: tuple[str, ...]
) -> dict[str, int]:
    """The header's columns by name, checked as the row parser checks them (same errors)."""
    records = open_records(path, expected)
    try:
        return check_columns(records, required)
    finally:
        records.close()


def _as_text(header: list[str]) -> Any:
    """pyarrow's options to read every column as text, empty fields as "" (not null)."""
    import pyarrow as pa
    import pyarrow.csv as pv

    return pv.ConvertOptions(
        column_types={name: pa.string() for name in header},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )


def read_contacts_in_columns(path: Path) -> dict[str, Contact] | None:
    """Every contact of a clean ``contacts.csv`` by id, read by pyarrow; None otherwise.

    Clean: pyarrow reads it as a table, no quote anywhere, every id non-empty and
    unique. Then no row is rejected and no line number is needed, and the contacts
    are those the row parser gives (the same stripping, the same extra columns).
    Anything else (None) is read by the row parser, with its messages.
    """
    import pyarrow as pa
    import pyarrow.csv as pv

    if path.suffix != ".csv" or b'"' in path.read_bytes():
        return None
    columns = _checked_header(path, CONTACT_COLUMNS, ("id",))
    header = list(columns)
    try:
        table = pv.read_csv(
            path,
            read_options=pv.ReadOptions(column_names=header, skip_rows=1),
            convert_options=_as_text(header),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None
    if table.num_rows == 0:
        return None
    values = {name: table.column(i).to_pylist() for name, i in columns.items()}
    ids = [value.strip() for value in values["id"]]
    if not all(ids) or len(set(ids)) != len(ids):
        return None  # the row parser words the rejects

    def optional(name: str) -> list[str | None]:
        if name not in values:
            return [None] * len(ids)
        return [value.strip() or None for value in values[name]]

    known = set(CONTACT_COLUMNS)
    extra_columns = [(name, values[name]) for name in columns if name not in known]
    emails, firsts, lasts, companies = (
        optional(name) for name in ("email", "first_name", "last_name", "company")
    )
    contacts: dict[str, Contact] = {}
    for k, contact_id in enumerate(ids):
        extra = {name: column[k] for name, column in extra_columns if column[k]}
        contacts[contact_id] = Contact(
            contact_id, emails[k], firsts[k], lasts[k], companies[k], None, extra
        )
    return contacts


class _NoCleanTable(Exception):
    """pyarrow could not read the file as a table: the row parser reads it."""


def read_activity_table(path: Path) -> tuple[Any, Callable[[int], int]]:
    """(the activities as a pyarrow table of text, row number -> line for messages).

    Raises ``_NoCleanTable`` for a CSV file pyarrow cannot read cleanly.
    """
    import pyarrow as pa
    import pyarrow.csv as pv
    import pyarrow.parquet as pq

    if path.suffix == ".parquet":
        table = pq.read_table(path)
        check_columns(_Header(path, table.column_names), ACTIVITY_REQUIRED)  # type: ignore[arg-type]
        return table, lambda row: row + 1  # "line" = the 1-based row number
    header = list(_checked_header(path, ACTIVITY_COLUMNS, ACTIVITY_REQUIRED))
    try:
        table = pv.read_csv(
            path,
            read_options=pv.ReadOptions(column_names=header, skip_rows=1),
            parse_options=pv.ParseOptions(newlines_in_values=False),
            convert_options=_as_text(header),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise _NoCleanTable(str(exc)) from None
    return table, _line_finder(path)


def _line_finder(path: Path, *, plain: bool | None = None) -> Callable[[int], int]:
    """Row number -> the line it starts on, as the row parser counts lines.

    A file without quotes and blank lines has one row per line after the header; any
    other is counted once with the row parser's reader, and only if a row is rejected.
    ``plain``: whether the file is plain, if known (else it is looked at now).
    """
    if plain if plain is not None else _plain(path):
        return lambda row: row + 2
    lines: list[int] = []

    def line(row: int) -> int:
        if not lines:
            records = open_records(path, ACTIVITY_COLUMNS)
            try:
                for values in records.rows:
                    if values:
                        lines.append(records.start_line(values))
            finally:
                records.close()
        return lines[row]

    return line


def _plain(path: Path) -> bool:
    """No quote and no blank line: one row per line (read in blocks, never whole)."""
    tail = b""
    with path.open("rb") as f:
        while block := f.read(8 * 2**20):
            text = tail + block
            if b'"' in text or b"\n\n" in text or b"\n\r\n" in text:
                return False
            tail = text[-2:]
    return True


class _Header:
    """What check_columns needs of a record file: its path and header."""

    def __init__(self, path: Path, header: list[str]) -> None:
        self.path = path
        self.header = header


class _Rejected:
    """What RejectLog needs of a record file to word a rejected row."""

    def __init__(self, path: Path) -> None:
        self.path = path


def _checked(
    activities_path: Path,
    contacts: Mapping[str, Contact],
    rejected_contacts: Mapping[str, int],
    contacts_name: str,
    rejects: RejectLog,
) -> Any:
    """The activities read and checked in columns (rejects recorded), or None."""
    try:
        from mutuality_columnar import check_columns
    except ImportError as exc:
        if activities_path.suffix == ".parquet":
            raise MissingDependencyError("pyarrow (to read Parquet)", "fast") from exc
        raise
    try:
        table, line_of = read_activity_table(activities_path)
    except _NoCleanTable as exc:
        log.info("%s: read row by row (%s)", activities_path.name, exc)
        return None
    checked = check_columns(
        table,
        contacts=contacts,
        rejected_contacts=rejected_contacts,
        contacts_name=contacts_name,
    )
    where = _Rejected(activities_path)
    for row, error, _ in checked.rejects:
        # the whole row as the file has it (all columns, in the file's order)
        values = text_values(table.slice(row, 1).to_pylist()[0].values())
        rejects.reject(where, line_of(row), error, values, None)  # type: ignore[arg-type]
    return checked


def activity_chunks(
    activities_path: Path,
    contacts: Mapping[str, Contact],
    rejected_contacts: Mapping[str, int],
    contacts_name: str,
    rejects: RejectLog,
    *,
    chunk_size: int,
) -> Iterator[list[Activity]] | None:
    """The valid activities as objects, in file order and chunks, checked in columns.

    For a Parquet file (always) and for the ``columnar`` engine's plain reads; None
    when the row parser must read the file.
    """
    checked = _checked(activities_path, contacts, rejected_contacts, contacts_name, rejects)
    if checked is None:
        return None
    from mutuality_columnar.codes import activity_objects

    canonical = {cid: c.id for cid, c in contacts.items()}
    written = checked.text["occurred_at"].take(checked.rows).to_pylist()
    activities = activity_objects(checked.table, canonical, written)
    return (
        activities[start : start + chunk_size] for start in range(0, len(activities), chunk_size)
    )


#: Bytes of CSV text read, checked and encoded at a time (about 125,000 rows): the
#: text of one block is all the engine holds of the file at once.
BLOCK_BYTES = 8 * 2**20
#: Bytes of a block pyarrow parses at a time (in parallel, on its threads).
PARSE_BYTES = 2**20
#: Rows of a Parquet file read at a time.
PARQUET_BATCH_ROWS = 131_072


def _batches(path: Path) -> tuple[Callable[[], Iterator[Any]], Callable[[int], int]]:
    """(a fresh iterator over the file's record batches or tables, row number -> line)."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq  # only here: it loads pyarrow's file systems (and ssl)

        names = pq.ParquetFile(path).schema_arrow.names
        check_columns(_Header(path, names), ACTIVITY_REQUIRED)  # type: ignore[arg-type]
        return (
            lambda: pq.ParquetFile(path).iter_batches(batch_size=PARQUET_BATCH_ROWS)
        ), lambda row: row + 1
    blocks = _CsvBlocks(path, list(_checked_header(path, ACTIVITY_COLUMNS, ACTIVITY_REQUIRED)))
    counted = _line_finder(path, plain=False)

    def line(row: int) -> int:
        # asked once the file has been read: whether it was plain is known by then
        return row + 2 if blocks.plain else counted(row)

    return blocks.batches, line


class _CsvBlocks:
    """A CSV file read :data:`BLOCK_BYTES` at a time, each block cut after a line break and
    parsed by pyarrow on its own: only one block of text is held at once (pyarrow's own
    streaming reader reads several blocks ahead), and the file is read once.

    Rows end at line breaks here, as they do for pyarrow's reader with
    ``newlines_in_values=False``; a quoted line break cut between two blocks makes the
    read fail, and the row parser then reads the file. ``plain`` says, after a read,
    whether every row was one line (no quote, no blank line).
    """

    def __init__(self, path: Path, header: list[str]) -> None:
        self.path = path
        self.header = header
        self.plain = True

    def batches(self) -> Iterator[Any]:
        import pyarrow as pa
        import pyarrow.csv as pv

        # pyarrow parses a block's parts (of PARSE_BYTES) on its threads
        read_options = pv.ReadOptions(column_names=self.header, block_size=PARSE_BYTES)
        parse_options = pv.ParseOptions(newlines_in_values=False)
        convert_options = _as_text(self.header)
        self.plain = True
        with self.path.open("rb") as f:
            first = f.readline()  # the header, read and checked by open_records
            self.plain = b'"' not in first
            tail = b""
            while True:
                block = f.read(BLOCK_BYTES)
                text = tail + block
                if block:
                    cut = text.rfind(b"\n") + 1
                    if cut == 0:  # no line break yet: a very long line
                        tail = text
                        continue
                    text, tail = text[:cut], text[cut:]
                if self.plain and (
                    b'"' in text
                    or b"\n\n" in text
                    or b"\n\r\n" in text
                    or text.startswith((b"\n", b"\r\n"))
                ):
                    self.plain = False
                if text.strip(b"\r\n"):
                    table = pv.read_csv(
                        pa.py_buffer(text),
                        read_options=read_options,
                        parse_options=parse_options,
                        convert_options=convert_options,
                    )
                    del text
                    yield table  # one table per block, its columns in parts
                    del table
                if not block:
                    return


def _rows_at(batches: Iterator[Any], wanted: list[int]) -> dict[int, list[str]]:
    """The whole rows ``wanted`` (sorted row numbers), read again from the file."""
    found: dict[int, list[str]] = {}
    start = 0
    for batch in batches:
        for row in wanted:
            if start <= row < start + batch.num_rows:
                values = batch.slice(row - start, 1).to_pylist()[0].values()
                found[row] = text_values(values)
        start += batch.num_rows
    return found


def score_columnar(
    activities_path: Path,
    contacts: Mapping[str, Contact],
    rejected_contacts: Mapping[str, int],
    contacts_name: str,
    rejects: RejectLog,
    *,
    as_of: datetime,
    config: ScoringConfig,
    progress: Callable[[int], None] | None = None,
) -> ScoredRead | None:
    """Read, check and score the activities in columns; None if the row parser must read.

    The file is read block by block straight into compact codes (see
    ``mutuality_columnar.stream``). Rejected rows are added to ``rejects`` (which
    raises on the first one unless it skips), in file order, with the row parser's
    messages.
    """
    import pyarrow as pa
    from mutuality_columnar.results import score_batch
    from mutuality_columnar.stream import compact_batches

    batches, line_of = _batches(activities_path)
    try:
        compact = compact_batches(
            batches(),
            contacts=contacts,
            rejected_contacts=rejected_contacts,
            contacts_name=contacts_name,
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        log.info("%s: read row by row (%s)", activities_path.name, exc)
        return None
    again = [row for row, _, values in compact.rejects if not values]
    whole = _rows_at(batches(), again) if again else {}
    where = _Rejected(activities_path)
    for row, error, values in compact.rejects:
        rejects.reject(where, line_of(row), error, values or whole[row], None)  # type: ignore[arg-type]
    if progress is not None:
        progress(compact.activities)
    scored = score_batch(compact.batch, as_of, config)
    return ScoredRead(
        contacts_read=len(contacts),
        activities_read=compact.activities,
        scores=_in_contact_order(contacts, scored, as_of, config),
        rejections=tuple(rejects.rejections),
    )


def _in_contact_order(
    contacts: Mapping[str, Contact], scored: Any, as_of: datetime, config: ScoringConfig
) -> Iterator[tuple[Contact, MutualityScore | Any]]:
    """Every contact with its (pending) score, in the contacts file's order."""
    position = {cid: k for k, cid in enumerate(scored.contact_ids)}
    pending = scored.pending()
    for contact in contacts.values():
        k = position.get(contact.id)
        if k is None:  # no activities: the core's answer for an empty history
            yield contact, score_contact([], as_of=as_of, config=config, contact_id=contact.id)
        else:
            yield contact, pending[k]
