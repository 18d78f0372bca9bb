"""Rendering what a sync did: the JSON run report, the human summary, verify's counts."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mutuality_cli import exit_codes
from mutuality_cli.output import iso
from mutuality_core.errors import ConfigError, MutualityError
from mutuality_core.ports import Connection, RejectsFileSource, StateStore


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
    state_path: str,
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
    ]
    if report.repaired:
        why = ", ".join(f"{n:,} {reason}" for reason, n in report.repaired_by_reason.items())
        verb = "to repair" if report.dry_run else "repaired"
        lines.append(f"  {report.repaired:,} {verb} ({why}): the CRM's fields had drifted")
    if report.retried:
        verb = "to retry" if report.dry_run else "retried"
        lines.append(f"  {report.retried:,} {verb} (their write failed in an earlier run)")
    if report.forgotten:
        lines.append(
            f"  {len(report.forgotten):,} contact(s) no longer in the source, forgotten: "
            + ", ".join(report.forgotten[:5])
            + (" ..." if len(report.forgotten) > 5 else "")
        )
    lines.append("Bands:")
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
    if report.rejected:
        source = connection.source
        rejects_file = None
        if isinstance(source, RejectsFileSource) and not report.dry_run:
            rejects_file = source.rejects_path
        lines.extend(
            "  " + line
            for line in rejection_lines(
                report.rejections, written_to=rejects_file, total=report.rejected
            )
        )
    for failure in list(report.failures)[:5]:
        lines.append(f"  failed {failure.contact_id}: {failure.error}")
    if report.failed > 5:
        lines.append(f"  ... and {report.failed - 5} more (see --report)")
    persistent = report.persistent_failures
    if persistent:
        lines.append(
            f"  {len(persistent):,} contact(s) failed the same way "
            f"{report.persistent_failure_runs}+ runs in a row (retried every run):"
        )
        for failure in persistent[:5]:
            runs = report.failure_runs.get(failure.contact_id, 1)
            hint = "; if it was deleted, `sync --full` forgets it" if failure.gone else ""
            lines.append(f"    {failure.contact_id} ({runs} runs): {failure.error}{hint}")
    if report.stopped_reason:
        lines.append(
            f"Stopped early ({report.stopped_reason}); state is saved, rerun later to continue."
        )
    run = f"run {report.run_id}, " if report.run_id is not None else ""
    lines.append(f"State {state_path} ({run}`mutuality runs` shows history)")
    return lines


def rejection_lines(
    rejections: Sequence[Any], *, written_to: Any, total: int | None = None, show: int = 3
) -> list[str]:
    """How many invalid records were skipped, a few of them, and where the full list is.

    ``written_to``: the rejects file holding them all, or None when nothing was
    written (``score``, ``sync --dry-run``): then the lines say so, never "see a file".
    """
    count = len(rejections) if total is None else total
    if not count:
        return []
    if written_to:
        where = f"all listed in {written_to}"
    else:
        where = "no rejects file was written (a real `mutuality sync` writes one)"
    lines = [f"{count:,} invalid record(s) skipped; {where}"]
    lines.extend(f"  {r.where}: {r.error}" for r in rejections[:show])
    if count > show:
        lines.append(f"  ... and {count - show:,} more")
    return lines


def most_one_sided(state: StateStore, target: str, limit: int = 5) -> list[Any]:
    written = state.written(target).values()
    one_sided = [w for w in written if w.band in ("you_invest_more", "they_invest_more")]
    one_sided.sort(key=lambda w: (-abs(w.lean), w.contact_id))
    return one_sided[:limit]


def verify_lines(result: Any) -> list[str]:
    """``mutuality verify`` as text: the counts, a few ids per difference, what to do."""
    lines = [f"Verified {result.target} against the state (algorithm {result.algorithm})"]
    rows = (
        ("in sync", result.in_sync, None),
        ("missing", result.missing, "missing"),
        ("edited", result.edited, "edited"),
        ("outdated", result.outdated, "outdated"),
        ("gone", result.gone, "gone"),
        ("failed last run", result.failed_last_run, "failed_last_run"),
    )
    for label, count, key in rows:
        examples = result.examples.get(key, ()) if key else ()
        more = f"  e.g. {', '.join(examples)}" if count and examples else ""
        lines.append(f"  {label:<16} {count:>8,}{more}")
    if result.not_written:
        lines.append(
            f"  {'not synced yet':<16} {result.not_written:>8,}  (new since the last sync; "
            "not a difference)"
        )
    if result.differs:
        lines.append(
            "Differences found: `mutuality sync --full` rewrites missing, edited and outdated "
            "scores and retries failed ones; a gone contact deleted from the CRM is forgotten, "
            "a row removed from a scores file is written again."
        )
    else:
        lines.append("Everything the state wrote is in place.")
    return lines
