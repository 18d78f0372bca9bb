"""Reading rows out of CSV and JSON Lines files, with honest line numbers and encoding errors.

Both formats come out as ``(line, values)`` where ``values`` is a list of strings
aligned with a header, so one row parser serves both and stays fast for CSV.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mutuality_core.errors import InvalidInputError

__all__ = ["RecordFile", "check_columns", "encoding_error", "open_records"]


class RecordFile:
    """An opened input file: its header and an iterator of ``(line, values, obj)``.

    ``values`` are strings aligned with ``header``; ``obj`` is the parsed JSON
    object for JSON Lines (None for CSV), so nothing a line holds is lost.
    """

    def __init__(
        self,
        path: Path,
        header: list[str],
        rows: Iterator[tuple[int, list[str], dict[str, Any] | None]],
    ) -> None:
        self.path = path
        self.header = header
        self.rows = rows
        self.format = "jsonl" if path.suffix == ".jsonl" else "csv"


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

    def rows() -> Iterator[tuple[int, list[str], dict[str, Any] | None]]:
        previous = reader.line_num
        try:
            for row in reader:
                line = previous + 1
                previous = reader.line_num
                if row:
                    yield line, row, None
        except UnicodeDecodeError:
            raise encoding_error(path) from None
        except csv.Error as exc:
            raise InvalidInputError(f"{path}:{previous + 1}: malformed CSV: {exc}") from None
        finally:
            handle.close()

    return RecordFile(path, header, rows())


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

    Each row also carries its parsed object, so keys that only some lines have
    are not lost (contacts keep them as extra fields).
    """
    handle = path.open("r", encoding="utf-8-sig")
    try:
        first = _first_object(path, handle)
    except BaseException:
        handle.close()
        raise
    header = list(expected)
    header += [k for k in first[1] if k not in header]

    def rows() -> Iterator[tuple[int, list[str], dict[str, Any] | None]]:
        try:
            line, obj = first
            yield line, [_jsonl_value(obj.get(h)) for h in header], obj
            for text in handle:
                line += 1
                if not text.strip():
                    continue
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise InvalidInputError(f"{path}:{line}: invalid JSON: {exc}") from None
                if not isinstance(obj, dict):
                    raise InvalidInputError(
                        f"{path}:{line}: expected a JSON object, got {type(obj).__name__}"
                    )
                yield line, [_jsonl_value(obj.get(h)) for h in header], obj
        except UnicodeDecodeError:
            raise encoding_error(path) from None
        finally:
            handle.close()

    return RecordFile(path, header, rows())


def _first_object(path: Path, handle: Any) -> tuple[int, Any]:
    line = 0
    try:
        for text in handle:
            line += 1
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InvalidInputError(f"{path}:{line}: invalid JSON: {exc}") from None
            if not isinstance(obj, dict):
                raise InvalidInputError(
                    f"{path}:{line}: expected a JSON object, got {type(obj).__name__}"
                )
            return line, obj
    except UnicodeDecodeError:
        raise encoding_error(path) from None
    raise InvalidInputError(f"{path}: the file is empty; it needs one JSON object per line")
