"""Run records (as the state store keeps them) in the words the report and ``runs`` use."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from mutuality_core.timestamps import parse_iso_datetime


def run_report(run: Mapping[str, Any]) -> Mapping[str, Any]:
    """The run's stored report as a dict (the store may hand it out as JSON text)."""
    report = run.get("report") or {}
    if isinstance(report, str):
        try:
            report = json.loads(report)
        except ValueError:
            return {}
    return report if isinstance(report, Mapping) else {}


def run_status(run: Mapping[str, Any]) -> str:
    """What became of a run: ok, partial, dry run, stopped: REASON, error, or still running.

    A run without a finish time is still running, or was killed before it could say.
    """
    report = run_report(run)
    merged = {**report, **{k: v for k, v in run.items() if v is not None}}
    reason = merged.get("stopped_reason")
    if not merged.get("finished_at"):
        return "running or interrupted"
    if reason == "error" or merged.get("status") == "error":
        return "error"
    if reason:
        return f"stopped: {reason}"
    if merged.get("failed"):
        return "partial"
    if merged.get("dry_run"):
        return "dry run"
    return str(merged.get("status") or "ok")


def when(value: datetime | str | None) -> str:
    """``2026-06-30 08:00 UTC`` for a UTC time; other offsets are kept; unparsable text as is."""
    if value is None:
        return ""
    try:
        moment = parse_iso_datetime(value) if isinstance(value, str) else value
    except ValueError:
        return str(value)
    if moment.utcoffset() == timedelta(0):
        return moment.strftime("%Y-%m-%d %H:%M UTC")
    return moment.isoformat(timespec="minutes")


def run_cells(run: Mapping[str, Any]) -> list[str]:
    """Run, started, status, as of, scored, changed, written, failed, algorithm (text)."""
    report = run_report(run)
    options = run.get("options") or {}
    algorithm = options.get("algorithm") if isinstance(options, Mapping) else None

    def count(key: str) -> str:
        value = report.get(key)
        return f"{value:,}" if isinstance(value, int) else ""

    return [
        str(run.get("id", report.get("run_id", ""))),
        when(run.get("started_at")),
        run_status(run),
        when(report.get("as_of")),
        count("contacts_scored"),
        count("changed"),
        count("written"),
        count("failed"),
        str(algorithm or "not recorded"),
    ]
