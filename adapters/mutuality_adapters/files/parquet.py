"""The scores table as Parquet (``--output scores.parquet``), for warehouses.

The same columns as scores.csv, typed: score, strength and activity_count as
integers, lean and confidence as numbers, scored_at and last_activity_at as UTC
timestamps. The writer keeps its rows as the CSV's text, so these two functions
convert between that text and the typed columns; a file is replaced whole, through
a temporary file and a rename, like the CSV. Needs pyarrow (``mutuality[fast]``).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator, Sequence
from datetime import timezone
from pathlib import Path
from typing import Any

from mutuality_core.errors import MissingDependencyError

__all__ = ["read_scores", "write_scores"]

_INTEGERS = ("score", "strength", "activity_count")
_NUMBERS = ("lean", "confidence")
_TIMES = ("scored_at", "last_activity_at")


def _pyarrow() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependencyError("pyarrow (to write Parquet)", "fast") from None
    return pa, pq


def write_scores(path: Path, columns: Sequence[str], rows: Iterable[list[str]]) -> None:
    """Replace ``path`` with ``rows`` (the CSV's text for ``columns``) as typed Parquet."""
    pa, pq = _pyarrow()
    values = list(zip(*rows, strict=True)) or [()] * len(columns)
    arrays = []
    for name, texts in zip(columns, values, strict=True):
        text = pa.array(texts, pa.string())
        blank = pa.compute.equal(text, "")
        if name in _INTEGERS:
            typed = pa.compute.if_else(blank, None, text).cast(pa.int64())
        elif name in _NUMBERS:
            typed = pa.compute.if_else(blank, None, text).cast(pa.float64())
        elif name in _TIMES:
            stamps = pa.compute.if_else(blank, None, text)
            typed = pa.compute.strptime(stamps, format="%Y-%m-%dT%H:%M:%SZ", unit="s")
            typed = typed.cast(pa.timestamp("us", tz="UTC"))
        else:
            typed = text
        arrays.append(typed)
    table = pa.table(arrays, names=list(columns))
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, temporary)
        with temporary.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def read_scores(path: Path) -> Iterator[list[str]]:
    """The rows of a scores Parquet file as the CSV's text, header first."""
    pa, pq = _pyarrow()
    try:
        table = pq.read_table(path)
    except pa.ArrowInvalid as exc:  # the writer treats it as a damaged file: rewritten
        raise csv.Error(f"not a readable Parquet file: {exc}") from None
    yield list(table.column_names)
    columns = []
    for name in table.column_names:
        values = table.column(name).to_pylist()
        if name in _NUMBERS:
            columns.append(["" if v is None else f"{v:.2f}" for v in values])
        elif name in _TIMES:
            columns.append(
                [
                    ""
                    if v is None
                    else v.astimezone(timezone.utc).replace(tzinfo=None).isoformat() + "Z"
                    for v in values
                ]
            )
        else:
            columns.append(["" if v is None else str(v) for v in values])
    for row in zip(*columns, strict=True):
        yield list(row)
