"""Machine-readable renderings of scores for stdout: jsonl (default), json, csv, table.

Rows are streamed where the format allows, so scoring a large CRM does not hold
every row in memory just to print it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import IO, Any

from mutuality_core.model import Contact, MutualityScore

FORMATS = ("jsonl", "json", "csv", "table")
SCORE_FIELDS = (
    "contact_id",
    "email",
    "name",
    "score",
    "band",
    "lean",
    "strength",
    "confidence",
    "activity_count",
    "last_activity_at",
    "reasons",
    "algorithm",
    "as_of",
)
#: The columns of ``--format table``: enough to read on a terminal.
TABLE_FIELDS = ("contact_id", "name", "band", "score", "lean", "strength", "confidence", "reasons")


def iso(value: datetime | None) -> str | None:
    """UTC-preserving ISO 8601 with ``Z`` for UTC, the form our inputs use."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def display_name(contact: Contact | None) -> str | None:
    if contact is None:
        return None
    name = " ".join(p for p in (contact.first_name, contact.last_name) if p)
    return name or None


def score_row(score: MutualityScore, contact: Contact | None = None) -> dict[str, Any]:
    """One contact's score as plain JSON-ready values."""
    return {
        "contact_id": score.contact_id,
        "email": contact.email if contact else None,
        "name": display_name(contact),
        "score": round(score.score, 1),
        "band": str(score.band),
        "lean": round(score.lean, 3),
        "strength": round(score.strength, 1),
        "confidence": round(score.confidence, 3),
        "activity_count": score.activity_count,
        "last_activity_at": iso(score.last_activity_at),
        "reasons": list(score.reasons),
        "algorithm": score.algorithm,
        "as_of": iso(score.as_of),
    }


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "; ".join(str(v) for v in value)
    return str(value)


def write_rows(
    rows: Iterable[Mapping[str, Any]], fmt: str, out: IO[str], fields: Sequence[str]
) -> int:
    """Write ``rows`` to ``out`` in ``fmt``; returns how many were written."""
    count = 0
    if fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    elif fmt == "json":
        out.write("[")
        for row in rows:
            out.write(("\n  " if count == 0 else ",\n  ") + json.dumps(row, ensure_ascii=False))
            count += 1
        out.write("\n]\n" if count else "]\n")
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=list(fields), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(row.get(k)) for k in fields})
            count += 1
    elif fmt == "table":
        shown = [f for f in TABLE_FIELDS if f in fields] or list(fields)
        materialised = [{k: _cell(r.get(k)) for k in shown} for r in rows]
        count = len(materialised)
        out.write(render_table(materialised, shown))
    else:  # guarded by click.Choice; kept for library misuse
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return count


def render_table(
    rows: Sequence[Mapping[str, str]], fields: Sequence[str], *, max_width: int = 60
) -> str:
    """A plain aligned text table; long cells are cut with an ellipsis."""

    def clip(text: str) -> str:
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    cells = [[clip(str(r.get(f, ""))) for f in fields] for r in rows]
    widths = [max([len(f), *(len(c[i]) for c in cells)]) for i, f in enumerate(fields)]
    lines = [
        "  ".join(f.ljust(w) for f, w in zip(fields, widths, strict=True)).rstrip(),
        "  ".join("-" * w for w in widths),
    ]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines) + "\n"
