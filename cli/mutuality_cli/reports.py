"""Rendering what a sync did: the JSON run report, the human summary, run-history rows."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mutuality_report.runs import run_report, run_status

from mutuality_cli import exit_codes
from mutuality_cli.output import iso
from mutuality_core.errors import ConfigError, MutualityError
from mutuality_core.ports import Connection, StateStore
from mutuality_core.timestamps import parse_iso_datetime


def write_report(report_dict: Mapping[str, Any], destination: str) -> None:
    """JSON to stdout (``-``) or a file, replaced atomically so a watcher never reads half."""
    write_text(json.dumps(report_dict, indent=2, ensure_ascii=False) + "\n", destination)


def write_text(text: str, destination: str) -> None:
    """``text`` to stdout (``-``) or a file, replaced atomically (never half-written)."""
    if destination == "-":
        sys.stdout.write(text)
        return
    try:
        target = Path(destination)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    except OSError as error:
        raise ConfigError(f"cannot write the report to {destination}: {error.strerror}") from error


def latest_run(state: StateStore, target: str) -> Mapping[str, Any] | None:
    try:
        latest = state.runs(target, limit=1)
    except MutualityError:
        return None
    return latest[0] if latest else None


def write_failed_report(
    state: StateStore,
    target: str,
    error: BaseException,
    destination: str,
    *,
    previous: Mapping[str, Any] | None,
) -> None:
    """Even a failed run leaves a report (CI uploads it): the engine's record of this run
    when it made one (counts so far), else the error alone; ``exit_code`` says which."""
    report: dict[str, Any] = {}
    latest = latest_run(state, target)
    ours = latest is not None and (previous is None or latest.get("id") != previous.get("id"))
    if ours and latest is not None and isinstance(latest.get("report"), Mapping):
        report = dict(latest["report"])
    report.setdefault("target", target)
    report["status"] = "error"
    report["error"] = exit_codes.one_line(error)
    report["exit_code"] = (
        exit_codes.INTERRUPTED
        if isinstance(error, KeyboardInterrupt)
        else exit_codes.exit_code_for(error)
    )
    write_report(report, destination)


def _destination(connection: Connection) -> str | None:
    """Where the writer puts scores, if it says (the files adapter's scores file)."""
    for owner in (connection, connection.writer):
        for attribute in ("destination", "output_path", "path"):
            value = getattr(owner, attribute, None)
            if value:
                return str(value)
    return None


def _first_reason(reasons: str, width: int = 72) -> str:
    first = reasons.split("; ")[0]
    return first if len(first) <= width else first[: width - 1] + "…"


def summary_lines(
    report: Any,
    *,
    connection: Connection,
    state_path: Path,
    one_sided: Sequence[Any],
) -> list[str]:
    mode = (
        "dry run, nothing written"
        if report.dry_run
        else ("full read" if report.full else "incremental")
    )
    seconds = (report.finished_at - report.started_at).total_seconds()
    lines = [
        f"Synced {report.target} as of {iso(report.as_of)} ({mode}) in {seconds:.1f} s",
        f"  read {report.contacts_read:,} contacts and {report.activities_read:,} activities; "
        f"scored {report.contacts_scored:,}",
        f"  {report.changed:,} changed, {report.written:,} written, {report.failed:,} failed",
        "Bands:",
    ]
    total = sum(report.band_counts.values()) or 1
    for band, count in sorted(report.band_counts.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  {band:<18} {count:>7,}  {100 * count / total:5.1f}%")
    destination = _destination(connection)
    if destination and not report.dry_run and report.written:
        lines.append(f"Scores written to {destination}")
    if one_sided:
        lines.append("Most one-sided:")
        width = max(len(w.contact_id) for w in one_sided)
        for w in one_sided:
            lines.append(
                f"  {w.contact_id:<{width}}  {w.band:<17} lean {w.lean:+.2f}  "
                f"score {w.score:5.1f}  {_first_reason(w.reasons)}"
            )
    rejected = getattr(report, "rejected", 0)
    if rejected:
        rejects_file = getattr(connection.source, "rejects_path", None)
        where = f"; see {rejects_file}" if rejects_file else " (listed in --report)"
        lines.append(f"  {rejected:,} invalid record(s) skipped{where}")
    for failure in list(report.failures)[:5]:
        lines.append(f"  failed {failure.contact_id}: {failure.error}")
    if report.failed > 5:
        lines.append(f"  ... and {report.failed - 5} more (see --report)")
    if report.stopped_reason:
        lines.append(
            f"Stopped early ({report.stopped_reason}); state is saved, rerun later to continue."
        )
    run = f"run {report.run_id}, " if report.run_id is not None else ""
    lines.append(f"State {state_path} ({run}`mutuality runs` shows history)")
    return lines


def most_one_sided(state: StateStore, target: str, limit: int = 5) -> list[Any]:
    written = state.written(target).values()
    one_sided = [w for w in written if w.band in ("you_invest_more", "they_invest_more")]
    one_sided.sort(key=lambda w: (-abs(w.lean), w.contact_id))
    return one_sided[:limit]


RUN_FIELDS = ("run_id", "target", "started_at", "finished_at", "status", "written", "failed")


def run_row(run: Mapping[str, Any]) -> dict[str, str]:
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
