"""Reading rows out of CSV and JSON Lines files, with honest line numbers and encoding errors.

Both formats come out as lists of strings aligned with a header, so one row
parser serves both. For CSV the rows are the ``csv.reader`` itself (no Python
generator in between: a million rows per sync); where a row came from is asked
only when something is wrong with it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from mutuality_core.errors import InvalidInputError

__all__ = ["RecordFile", "check_columns", "encoding_error", "open_records"]

#: Largest CSV field accepted (``csv``'s default is 128 KiB, less than a long email
#: body pasted into a notes column); the row is in memory either way.
FIELD_SIZE_LIMIT = 2**31 - 1


class RecordFile:
    """An opened input file: its ``header`` and ``rows`` (lists of strings).

    Blank CSV lines come through as empty lists. While iterating, ``line()`` is
    the line number of the current row (its last line, for a CSV record that
    spans lines) and ``obj`` the parsed JSON object (JSON Lines only), so a
    rejected row can be written out whole. Iterate inside ``reading()``.

    A JSON Lines line that is not a JSON object comes through as an empty list
    with ``bad`` set to what is wrong with it (``bad_text`` holds the line), so
    the parser can reject it like any bad row; ``bad`` is None otherwise.
    """

    def __init__(
        self,
        path: Path,
        header: list[str],
        rows: Iterator[list[str]],
        handle: TextIO,
        reader: Any = None,
    ) -> None:
        self.path = path
        self.header = header
        self.rows = rows
        self.format = "jsonl" if path.suffix == ".jsonl" else "csv"
        self.obj: dict[str, Any] | None = None
        self.bad: str | None = None
        self.bad_text = ""
        self._line = 0
        self._handle = handle
        self._reader = reader

    def line(self) -> int:
        return self._reader.line_num if self._reader is not None else self._line

    def start_line(self, row: list[str]) -> int:
        """The line the current row started on (a quoted CSV field may span lines)."""
        if self._reader is None:
            return self._line
        breaks = "".join(row).count("\n")  # one scan in C, not one per field
        if breaks and row[-1].endswith("\n"):
            breaks -= 1  # a quote left open to the end of the file holds the last line break too
        return self._reader.line_num - breaks

    def failure(self, exc: Exception) -> InvalidInputError:
        """The error to raise for an exception the underlying reader raised."""
        if isinstance(exc, UnicodeDecodeError):
            return encoding_error(self.path)
        return InvalidInputError(
            f"{self.path}:{self.line()}: malformed CSV: {exc}; fix that line (a field with a "
            "comma, quote or line break must be enclosed in double quotes, inner quotes doubled)"
        )

    @property
    def handle(self) -> TextIO:
        """The open text file (positioned after the rows read so far)."""
        return self._handle

    def close(self) -> None:
        self._handle.close()


def open_records(path: Path, expected: tuple[str, ...]) -> RecordFile:
    """Open ``path`` (``.csv`` or ``.jsonl``); ``expected`` lists known columns for messages."""
    _check_bom(path)
    if path.suffix == ".jsonl":
        return _open_jsonl(path, expected)
    return _open_csv(path)


def check_columns(records: RecordFile, required: tuple[str, ...]) -> dict[str, int]:
    """The index of each column, after checking required ones are there and none repeats."""
    header = records.header
    seen: dict[str, int] = {}
    for index, name in enumerate(header):
        if name in seen:
            raise InvalidInputError(
                f"{records.path}:1: column {name!r} appears twice in the header; "
                "remove or rename one of them"
            )
        seen[name] = index
    missing = [c for c in required if c not in seen]
    if missing:
        found = ", ".join(repr(h) for h in header) or "none"
        hint = ""
        if len(header) == 1 and (";" in header[0] or "\t" in header[0]):
            hint = " The file seems to use ';' or tabs as separator; save it comma-separated."
        raise InvalidInputError(
            f"{records.path}:1: missing required column(s) {', '.join(missing)}; "
            f"found: {found}.{hint}"
        )
    return seen


def _check_bom(path: Path) -> None:
    with path.open("rb") as f:
        start = f.read(4)
    if start.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InvalidInputError(
            f"{path}: the file is UTF-16 encoded; re-save it as UTF-8 (CSV UTF-8 in Excel)"
        )
    if not start.strip(b"\xef\xbb\xbf \t\r\n"):
        with path.open("rb") as f:
            if not f.read(4096).strip(b"\xef\xbb\xbf \t\r\n"):
                raise InvalidInputError(
                    f"{path}: the file is empty; it needs at least a header row "
                    f"(e.g. {'id,...' if path.suffix == '.csv' else 'one JSON object per line'})"
                )


def encoding_error(path: Path) -> InvalidInputError:
    """Locate the first byte that is not UTF-8 and say how to fix it."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return InvalidInputError(
            f"{path}:{line}: byte 0x{data[exc.start]:02x} at column {column} (file offset "
            f"{exc.start}) is not valid UTF-8; the file looks Latin-1/Windows-1252 encoded. "
            "Re-save it as UTF-8 (in Excel: CSV UTF-8)"
        )
    return InvalidInputError(f"{path}: cannot decode the file as UTF-8")  # pragma: no cover


def _open_csv(path: Path) -> RecordFile:
    if csv.field_size_limit() < FIELD_SIZE_LIMIT:
        csv.field_size_limit(FIELD_SIZE_LIMIT)
    handle = path.open("r", encoding="utf-8-sig", newline="")
    reader = csv.reader(handle)
    try:
        header = next(reader)
    except UnicodeDecodeError:
        handle.close()
        raise encoding_error(path) from None
    except csv.Error as exc:
        handle.close()
        raise InvalidInputError(f"{path}:1: cannot read the header: {exc}") from None
    header = [h.strip() for h in header]
    return RecordFile(path, header, reader, handle, reader)


def _jsonl_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _open_jsonl(path: Path, expected: tuple[str, ...]) -> RecordFile:
    """JSON Lines: the header is the expected keys plus the first object's other keys.

    Each row's parsed object stays available as ``obj``, so keys that only some
    lines have are not lost (contacts keep them as extra fields).
    """
    handle = path.open("r", encoding="utf-8-sig")
    try:
        bad_before, first = _first_object(path, handle)
    except BaseException:
        handle.close()
        raise
    header = list(expected)
    header += [k for k in first[1] if k not in header]

    def bad(line: int, error: str, text: str) -> list[str]:
        records._line, records.obj = line, None
        records.bad, records.bad_text = error, text.rstrip("\r\n")
        return []

    def rows() -> Iterator[list[str]]:
        try:
            for line, error, text in bad_before:
                yield bad(line, error, text)
            line, obj = first
            records._line, records.obj, records.bad = line, obj, None
            yield [_jsonl_value(obj.get(h)) for h in header]
            for text in handle:
                line += 1
                if not text.strip():
                    continue
                try:
                    obj = _json_object(text)
                except ValueError as exc:
                    yield bad(line, str(exc), text)
                    continue
                records._line, records.obj, records.bad = line, obj, None
                yield [_jsonl_value(obj.get(h)) for h in header]
        except UnicodeDecodeError:
            raise encoding_error(path) from None

    records = RecordFile(path, header, rows(), handle)
    return records


def _json_object(text: str) -> dict[str, Any]:
    """One JSON Lines row as an object, or a ValueError that says why (the caller adds where)."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    return obj


def _first_object(
    path: Path, handle: Any
) -> tuple[list[tuple[int, str, str]], tuple[int, dict[str, Any]]]:
    """The lines before the first object that are not one (line, error, text), and that object."""
    line = 0
    bad: list[tuple[int, str, str]] = []
    try:
        for text in handle:
            line += 1
            if not text.strip():
                continue
            try:
                return bad, (line, _json_object(text))
            except ValueError as exc:
                bad.append((line, str(exc), text))
    except UnicodeDecodeError:
        raise encoding_error(path) from None
    if bad:
        first_line, error, _ = bad[0]
        raise InvalidInputError(f"{path}:{first_line}: {error}; the file has no valid JSON object")
    raise InvalidInputError(f"{path}: the file is empty; it needs one JSON object per line")
