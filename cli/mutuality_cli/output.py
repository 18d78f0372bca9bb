"""Everything the listing commands print on stdout, one renderer per format.

Each kind of row declares its columns once, as a :class:`Listing`; :func:`write` renders
rows in the format chosen with ``--format`` (as sqlite-utils' output options do):

* ``table``: an aligned text table for people. ``explain``, ``state show`` and
  ``config show`` frame theirs with a few lines of their own (the functions below).
* ``json``: one JSON document: the list of rows, one row per line, or for ``explain``,
  ``state show`` and ``config show`` the one (indented) object they always printed.
* ``jsonl``: one JSON object per row, one per line.
* ``csv``: the listing's columns as a header, then one line per row; lists are joined
  with ``; ``.

Rows are streamed where the format allows (jsonl, csv, json), so scoring a large CRM
does not hold every row in memory just to print it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import IO, Any

import attrs
from mutuality_report.runs import run_report, run_status

from mutuality_core.model import Contact, MutualityScore
from mutuality_core.timestamps import parse_iso_datetime

FORMATS = ("table", "json", "jsonl", "csv")

Row = Mapping[str, Any]


@attrs.frozen
class Listing:
    """The columns of one kind of row, declared once for every format.

    ``columns`` are CSV's header, in order (a row's other keys still reach JSON and
    JSONL); ``table_columns`` what a terminal shows (default: ``columns``). ``flat``
    turns a row into CSV cells when the row nests values; ``cells`` turns it into
    table cells for people (default: ``flat``).
    """

    columns: tuple[str, ...]
    table_columns: tuple[str, ...] = ()
    max_width: int = 60
    flat: Callable[[Row], Row] | None = None
    cells: Callable[[Row], Row] | None = None


# --------------------------------------------------------------------------- renderers


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "; ".join(str(v) for v in value)
    if isinstance(value, Mapping):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _json(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, indent=indent)


def write_json(rows: Iterable[Row], out: IO[str]) -> int:
    """The rows as one JSON list, one row per line, streamed (no row is held)."""
    count = 0
    out.write("[")
    for row in rows:
        out.write(("\n  " if count == 0 else ",\n  ") + _json(row))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def write_document(document: Any, out: IO[str]) -> None:
    """One JSON object (``explain``, ``state show``, ``config show``), indented."""
    out.write(_json(document, indent=2) + "\n")


def write_jsonl(rows: Iterable[Row], out: IO[str]) -> int:
    count = 0
    for row in rows:
        out.write(_json(row) + "\n")
        count += 1
    return count


def write_csv(listing: Listing, rows: Iterable[Row], out: IO[str]) -> int:
    flat = listing.flat or dict
    writer = csv.DictWriter(out, fieldnames=list(listing.columns), extrasaction="ignore")
    writer.writeheader()
    count = 0
    for row in rows:
        cells = flat(row)
        writer.writerow({k: _cell(cells.get(k)) for k in listing.columns})
        count += 1
    return count


def table(listing: Listing, rows: Iterable[Row]) -> str:
    """The rows as an aligned text table of the listing's table columns."""
    columns = listing.table_columns or listing.columns
    cells = listing.cells or listing.flat or dict
    shown = [{k: _cell(v) for k, v in cells(row).items()} for row in rows]
    return render_table(shown, columns, max_width=listing.max_width)


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


def write(
    listing: Listing,
    rows: Iterable[Row],
    fmt: str,
    out: IO[str],
    *,
    document: Any = None,
) -> int:
    """Write ``rows`` to ``out`` in ``fmt``; returns how many rows were written.

    ``document``, when given, is what ``json`` prints instead of the list of rows.
    """
    if fmt == "json":
        if document is None:
            return write_json(rows, out)
        write_document(document, out)
        return len(rows) if isinstance(rows, Sequence) else 0
    if fmt == "jsonl":
        return write_jsonl(rows, out)
    if fmt == "csv":
        return write_csv(listing, rows, out)
    if fmt == "table":
        materialised = list(rows)
        out.write(table(listing, materialised))
        return len(materialised)
    # guarded by click.Choice; kept for library misuse
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


# --------------------------------------------------------------------------- scores

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
SCORES = Listing(SCORE_FIELDS, TABLE_FIELDS)


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


# --------------------------------------------------------------------------- explain


def component_row(component: Any) -> dict[str, Any]:
    """One signal of an explanation as plain JSON-ready values."""
    return {
        "name": component.name,
        "value": None if component.value is None else round(component.value, 3),
        "weight": round(component.weight, 3),
        "evidence": component.evidence,
        "lean": round(component.lean, 3),
        "detail": component.detail,
    }


_SIGNAL_FIELDS = ("name", "value", "weight", "evidence", "lean", "detail")
#: ``explain``'s rows are its signals; jsonl and csv add the contact's id to each.
SIGNALS = Listing(
    ("contact_id", *_SIGNAL_FIELDS),
    _SIGNAL_FIELDS,
    max_width=80,
    cells=lambda row: {k: "-" if v is None else v for k, v in row.items()},
)


def write_explanation(explanation: Row, fmt: str, out: IO[str]) -> None:
    """``explain``: ``explanation`` is a score row with its ``components`` (the JSON form)."""
    components = list(explanation["components"])
    if fmt != "table":
        rows = [{"contact_id": explanation["contact_id"], **c} for c in components]
        write(SIGNALS, rows, fmt, out, document=explanation)
        return
    row = explanation
    who = " ".join(p for p in (row["name"], f"<{row['email']}>" if row["email"] else None) if p)
    lines = [f"Contact {row['contact_id']}" + (f"  {who}" if who else "")]
    last = row["last_activity_at"] or "never"
    lines.append(f"As of {row['as_of']}  ({row['activity_count']} activities, last {last})")
    lines.append(
        f"Band {row['band']}  score {row['score']}/100  lean {row['lean']:+}  "
        f"strength {row['strength']}/100  confidence {row['confidence']}"
    )
    lines += ["", "Signals:"]
    lines += ["  " + line for line in table(SIGNALS, components).splitlines()]
    lines += ["", "Reasons:"]
    lines += [f"  - {reason}" for reason in row["reasons"] or ("(none)",)]
    lines += ["", f"Algorithm {row['algorithm']}"]
    out.write("\n".join(lines) + "\n")


# --------------------------------------------------------------------------- plugins


def _plugin_cells(row: Row) -> Row:
    failed = row["status"] != "ok"
    return {
        "name": row["name"],
        "version": f"{row['distribution'] or '?'} {row['version'] or '?'}",
        "status": f"failed: {row['error']}" if failed else "ok",
        "summary": row["summary"],
    }


_PLUGIN_FIELDS = ("name", "distribution", "version", "entry_point", "status", "error", "summary")
_PLUGIN_TABLE = ("name", "version", "status", "summary")
ADAPTERS = Listing((*_PLUGIN_FIELDS, "commands"), _PLUGIN_TABLE, 100, cells=_plugin_cells)
STATE_STORES = Listing(_PLUGIN_FIELDS, _PLUGIN_TABLE, 100, cells=_plugin_cells)


def write_plugins(
    listing: Listing,
    rows: Sequence[Row],
    fmt: str,
    out: IO[str],
    *,
    empty: str,
    footer: str | None = None,
) -> None:
    """``adapters`` and ``state stores``: one row per installed plugin (``PluginInfo.to_dict``).

    The table says ``empty`` when there is none and ends with ``footer`` (after a blank line).
    """
    if fmt != "table":
        write(listing, rows, fmt, out)
        return
    out.write(table(listing, rows) if rows else empty + "\n")
    if footer:
        out.write("\n" + footer + "\n")


# --------------------------------------------------------------------------- runs

RUN_FIELDS = (
    "run_id", "target", "started_at", "finished_at", "status",
    "written", "repaired", "retried", "failed",
)  # fmt: skip


def run_row(run: Row) -> dict[str, str]:
    """A run record in the words of the runs table (and its CSV)."""
    merged = {**run_report(run), **{k: v for k, v in run.items() if v is not None}}
    if "run_id" not in merged and "id" in merged:
        merged["run_id"] = merged["id"]
    merged["status"] = run_status(run)  # the stored status is the engine's; this says more
    for key in ("started_at", "finished_at"):
        merged[key] = _short_time(merged.get(key))
    return {k: "" if merged.get(k) is None else str(merged.get(k)) for k in RUN_FIELDS}


def _short_time(value: Any) -> Any:
    """``2026-06-30T08:00:00.123+00:00`` -> ``2026-06-30T08:00:00Z`` for the runs table."""
    if not isinstance(value, str):
        return value
    try:
        return iso(parse_iso_datetime(value).replace(microsecond=0))
    except ValueError:
        return value


#: ``runs``: json and jsonl print the stored records whole (each run's report included).
RUNS = Listing(RUN_FIELDS, max_width=70, flat=run_row)


def write_runs(history: Sequence[Row], fmt: str, out: IO[str], *, state: str) -> None:
    if fmt == "table" and not history:
        out.write(f"No runs recorded in {state} yet.\n")
        return
    write(RUNS, history, fmt, out)


# --------------------------------------------------------------------------- state show


def _flat_target(row: Row) -> Row:
    holder = row.get("locked_by") or {}
    return {
        **{k: v for k, v in row.items() if k != "locked_by"},
        "locked_by": holder.get("owner"),
        "lock_host": holder.get("host"),
        "lock_pid": holder.get("pid"),
        "locked_since": holder.get("started_at"),
    }


#: ``state show``: one row per target; ``locked_by`` is the lock holder, if any.
TARGETS = Listing(
    ("target", "contacts", "activities", "written", "locked_by", "lock_host", "lock_pid",
     "locked_since"),
    flat=_flat_target,
)  # fmt: skip


def write_state(state: str, targets: Sequence[Row], fmt: str, out: IO[str]) -> None:
    """``state show``: the targets a state store holds, their counts and lock holders."""
    if fmt != "table":
        write(TARGETS, targets, fmt, out, document={"state": state, "targets": list(targets)})
        return
    lines = [f"State file {state}"]
    if not targets:
        lines.append("No targets yet.")
    for entry in targets:
        details = ", ".join(
            f"{k} {v}" for k, v in entry.items() if k not in ("target", "locked_by")
        )
        lines.append(f"  {entry['target']}: {details}")
        holder = entry.get("locked_by")
        if holder:
            lines.append(
                f"    locked by {holder.get('owner')} (pid {holder.get('pid')} on "
                f"{holder.get('host')}, since {holder.get('started_at')})"
            )
    out.write("\n".join(lines) + "\n")


# --------------------------------------------------------------------------- config show

#: Top-level settings in the order ``config show`` lists them.
TOP_LEVEL_SETTINGS = (
    "adapter", "state", "state_store", "min_score_change", "batch_size", "lock_expires_after",
    "persistent_failure_runs",
)  # fmt: skip
SETTINGS = Listing(("key", "value", "origin"), max_width=100)


def setting_rows(data: Row, adapter: str) -> list[dict[str, Any]]:
    """``config show``'s rows: every setting as ``key`` (dotted for tables), value, origin."""
    origins = data["origins"]
    rows = [
        {"key": key, "value": data[key], "origin": origins.get(key, "default")}
        for key in TOP_LEVEL_SETTINGS
    ]
    for table_name, settings, unset in (
        ("scoring", data["scoring"], "default"),
        (f"adapters.{adapter}", data["adapters"][adapter], ""),
    ):
        for key, value in settings.items():
            name = f"{table_name}.{key}"
            rows.append({"key": name, "value": value, "origin": origins.get(name, unset)})
    return rows


def write_settings(data: Row, adapter: str, fmt: str, out: IO[str]) -> None:
    """``config show``: ``data`` is the effective configuration's dict (the JSON form)."""
    rows = setting_rows(data, adapter)
    if fmt != "table":
        write(SETTINGS, rows, fmt, out, document=data)
        return
    lines = [f"# config file: {data['config_file'] or 'none'}"]
    for prefix, heading in (
        ("", None),
        ("scoring.", "\n[scoring]"),
        (f"adapters.{adapter}.", f"\n[adapters.{adapter}]"),
    ):
        if heading:
            lines.append(heading)
        for row in rows:
            key = row["key"]
            if prefix and key.startswith(prefix):
                key = key[len(prefix) :]
            elif prefix or "." in key or row["value"] is None:
                continue
            lines.append(f"{key} = {json.dumps(row['value'])}  # {row['origin']}")
    out.write("\n".join(lines) + "\n")
