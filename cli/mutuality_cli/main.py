"""The ``mutuality`` command line: each command validates options, calls one library
function and renders its result. Typed library errors become documented exit codes
(see :mod:`mutuality_cli.exit_codes`); machine-readable output goes to stdout only.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from mutuality_cli import discovery, exit_codes
from mutuality_cli.options import (
    adapter_options,
    as_of_option,
    clock,
    common_options,
    format_option,
    now_utc,
)
from mutuality_cli.output import SCORE_FIELDS, iso, render_table, score_row, write_rows
from mutuality_cli.progress import StderrProgress, progress_wanted
from mutuality_cli.settings import EffectiveConfig, resolve
from mutuality_core.errors import ConfigError, MutualityError
from mutuality_core.ports import Connection, StateStore

LIBRARY_LOGGERS = ("mutuality_core", "mutuality_adapters", "mutuality_cli")
log = logging.getLogger(__name__)


class MutualityGroup(click.Group):
    """A group that turns typed library errors into one line on stderr and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MutualityError as error:
            log.debug("command failed", exc_info=True)
            click.echo(f"Error: {exit_codes.one_line(error)}", err=True)
            ctx.exit(exit_codes.exit_code_for(error))
        except KeyboardInterrupt:
            click.echo("Interrupted; work done so far is saved, rerun to continue.", err=True)
            ctx.exit(exit_codes.INTERRUPTED)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure_logging(verbosity: int) -> None:
    """``-v``: info, ``-vv``: debug, from the library's loggers to stderr; else warnings only."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(level)
        if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
            handler = _StderrHandler()
            handler.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
            )
            logger.addHandler(handler)
            logger.propagate = False


def load_config(
    config_path: str | None,
    adapter_flags: Mapping[str, Any] | None = None,
    adapter_option: Sequence[str] = (),
    **top_level: Any,
) -> EffectiveConfig:
    flags: dict[str, Any] = {"config": config_path, **(adapter_flags or {}), **top_level}
    config = resolve(flags, options=adapter_option, environ=os.environ, cwd=Path.cwd())
    log.debug("effective configuration (secrets masked): %s", config.to_dict(masked=True))
    return config


def connect(config: EffectiveConfig) -> Connection:
    plugin = discovery.load_adapter(config.adapter)
    log.info("connecting adapter %s", config.adapter)
    return plugin.connect(dict(config.adapter_settings), environ=os.environ)


def open_state(path: Path, *, create: bool = True) -> StateStore:
    from mutuality_adapters.sqlite_state import SQLiteStateStore

    if not create and not path.exists():
        raise ConfigError(f"no state file at {path}; run `mutuality sync` first or pass --state")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(
            f"cannot create the state folder {path.parent}: {error.strerror}; pass --state PATH"
        ) from error
    return SQLiteStateStore(path)


@contextmanager
def opened(
    config: EffectiveConfig, *, read_only: bool = False
) -> Iterator[tuple[Connection, StateStore | None]]:
    """The adapter connection and the state store, both closed however the command ends.

    ``read_only`` commands (score, explain) use the state file only if it exists, so
    they never create one; without it a CRM source is read in full.
    """
    connection = connect(config)
    try:
        if read_only and not config.state.exists():
            yield connection, None
            return
        state = open_state(config.state)
        try:
            yield connection, state
        finally:
            state.close()
    finally:
        connection.close()


def adapter_flags(
    adapter: str | None,
    path: str | None,
    output: str | None,
    skip_invalid: bool | None,
    rejects: str | None,
    max_requests: int | None,
    state: str | None,
) -> dict[str, Any]:
    return {
        "adapter": adapter,
        "path": path,
        "output": output,
        "skip_invalid": skip_invalid,
        "rejects": rejects,
        "max_requests": max_requests,
        "state": state,
    }


@click.group(cls=MutualityGroup, epilog=exit_codes.EPILOG)
@click.version_option(package_name="mutuality", prog_name="mutuality")
def cli() -> None:
    """Measure how mutual each CRM relationship is, explain it, and write it back.

    Quick start (no configuration, no credentials):

        mutuality sync --adapter files --path examples/sample_crm

    Configuration comes from flags, then MUTUALITY_* environment variables,
    then mutuality.toml (see docs/configuration.md).
    """


# --------------------------------------------------------------------------- adapters


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def adapters(as_json: bool) -> None:
    """List installed adapters, their versions, and whether each one loads.

    An adapter that fails to load (e.g. its optional dependency is missing) is
    listed with the reason instead of breaking the command.
    """
    infos = discovery.discover_adapters()
    if as_json:
        click.echo(json.dumps([i.to_dict() for i in infos], indent=2))
        return
    rows = [
        {
            "name": i.name,
            "version": f"{i.distribution or '?'} {i.version or '?'}",
            "status": i.status,
            "summary": i.summary,
        }
        for i in infos
    ]
    if not rows:
        click.echo("No adapters installed (entry-point group mutuality.adapters is empty).")
        return
    click.echo(
        render_table(rows, ("name", "version", "status", "summary"), max_width=100), nl=False
    )


# --------------------------------------------------------------------------- score


@cli.command()
@adapter_options
@as_of_option
@format_option
@click.option("-q", "--quiet", is_flag=True, help="No progress bar on stderr.")
@common_options
def score(
    adapter: str | None,
    path: str | None,
    output: str | None,
    skip_invalid: bool | None,
    rejects: str | None,
    max_requests: int | None,
    adapter_option: tuple[str, ...],
    state: str | None,
    as_of: datetime | None,
    fmt: str,
    quiet: bool,
    config_path: str | None,
    verbose: int,
) -> None:
    """Score every contact and print the scores; writes nothing to the CRM.

    Each row has contact_id, score (0-100, how mutual), lean (-1 only you invest
    .. +1 only they invest), strength, band, confidence and reasons.
    """
    configure_logging(verbose)
    config = load_config(
        config_path,
        adapter_flags(adapter, path, output, skip_invalid, rejects, max_requests, state),
        adapter_option,
    )
    scoring = config.scoring_config()
    moment = as_of or now_utc()
    from mutuality_core import sync as engine

    progress = StderrProgress() if progress_wanted(quiet) else None
    with opened(config, read_only=True) as (connection, state_store):
        results = engine.score_connection(
            connection, state_store, as_of=moment, scoring=scoring, progress=progress
        )
        rows = (score_row(s, contact) for contact, s in results)
        stdout = sys.stdout
        try:
            write_rows(rows, fmt, stdout, SCORE_FIELDS)
        finally:
            if progress is not None:
                progress.close()


# --------------------------------------------------------------------------- explain


def _component_dict(component: Any) -> dict[str, Any]:
    return {
        "name": component.name,
        "value": None if component.value is None else round(component.value, 3),
        "weight": round(component.weight, 3),
        "evidence": component.evidence,
        "lean": round(component.lean, 3),
        "detail": component.detail,
    }


@cli.command()
@click.argument("contact_id")
@adapter_options
@as_of_option
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
@common_options
def explain(
    contact_id: str,
    adapter: str | None,
    path: str | None,
    output: str | None,
    skip_invalid: bool | None,
    rejects: str | None,
    max_requests: int | None,
    adapter_option: tuple[str, ...],
    state: str | None,
    as_of: datetime | None,
    as_json: bool,
    config_path: str | None,
    verbose: int,
) -> None:
    """Show how CONTACT_ID's score was reached: each signal, its evidence, the reasons."""
    configure_logging(verbose)
    config = load_config(
        config_path,
        adapter_flags(adapter, path, output, skip_invalid, rejects, max_requests, state),
        adapter_option,
    )
    scoring = config.scoring_config()
    moment = as_of or now_utc()
    from mutuality_core import sync as engine

    with opened(config, read_only=True) as (connection, state_store):
        contact, result = engine.explain_contact(
            connection, state_store, contact_id, as_of=moment, scoring=scoring
        )
    row = score_row(result, contact)
    components = [_component_dict(c) for c in result.components]
    if as_json:
        click.echo(json.dumps({**row, "components": components}, indent=2, ensure_ascii=False))
        return
    who = " ".join(p for p in (row["name"], f"<{row['email']}>" if row["email"] else None) if p)
    click.echo(f"Contact {result.contact_id}" + (f"  {who}" if who else ""))
    last = row["last_activity_at"] or "never"
    click.echo(f"As of {row['as_of']}  ({result.activity_count} activities, last {last})")
    click.echo(
        f"Band {row['band']}  score {row['score']}/100  lean {row['lean']:+}  "
        f"strength {row['strength']}/100  confidence {row['confidence']}"
    )
    click.echo("")
    click.echo("Signals:")
    table_rows = [
        {
            **{k: "-" if v is None else str(v) for k, v in c.items()},
        }
        for c in components
    ]
    text = render_table(
        table_rows, ("name", "value", "weight", "evidence", "lean", "detail"), max_width=80
    )
    click.echo("".join("  " + line + "\n" for line in text.splitlines()), nl=False)
    click.echo("")
    click.echo("Reasons:")
    for reason in result.reasons or ("(none)",):
        click.echo(f"  - {reason}")
    click.echo(f"\nAlgorithm {result.algorithm}")


# --------------------------------------------------------------------------- sync


def _write_report(report_dict: Mapping[str, Any], destination: str) -> None:
    text = json.dumps(report_dict, indent=2, ensure_ascii=False) + "\n"
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


def _latest_run(state: StateStore, target: str) -> Mapping[str, Any] | None:
    try:
        latest = state.runs(target, limit=1)
    except MutualityError:
        return None
    return latest[0] if latest else None


def _write_failed_report(
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
    latest = _latest_run(state, target)
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
    _write_report(report, destination)


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


def _summary_lines(
    report: Any,
    report_dict: Mapping[str, Any],
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
    if destination and not report.dry_run:
        lines.append(f"Scores written to {destination}")
    if one_sided:
        lines.append("Most one-sided:")
        for w in one_sided:
            lines.append(
                f"  {w.contact_id:<14} {w.band:<17} lean {w.lean:+.2f}  "
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


def _most_one_sided(state: StateStore, target: str, limit: int = 5) -> list[Any]:
    written = state.written(target).values()
    one_sided = [w for w in written if w.band in ("you_invest_more", "they_invest_more")]
    one_sided.sort(key=lambda w: (-abs(w.lean), w.contact_id))
    return one_sided[:limit]


@cli.command()
@adapter_options
@as_of_option
@click.option(
    "--dry-run", is_flag=True, help="Score and diff, but write nothing and record nothing."
)
@click.option("--full", is_flag=True, help="Ignore the saved cursor and read everything.")
@click.option(
    "--report",
    "report_path",
    metavar="PATH",
    help="Write the run report as JSON to PATH ('-' for stdout; the summary then goes to stderr).",
)
@click.option(
    "--min-score-change",
    type=click.FloatRange(min=0),
    help="Write a contact only when its score moved by at least this many points. "
    "[env MUTUALITY_MIN_SCORE_CHANGE]",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    help="Most updates per write request (default: the adapter's). [env MUTUALITY_BATCH_SIZE]",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary.")
@common_options
def sync(
    adapter: str | None,
    path: str | None,
    output: str | None,
    skip_invalid: bool | None,
    rejects: str | None,
    max_requests: int | None,
    adapter_option: tuple[str, ...],
    state: str | None,
    as_of: datetime | None,
    dry_run: bool,
    full: bool,
    report_path: str | None,
    min_score_change: float | None,
    batch_size: int | None,
    quiet: bool,
    config_path: str | None,
    verbose: int,
) -> None:
    """Read, score, and write changed scores back to the CRM (or the output file).

    Runs are incremental after the first one (use --full to read everything),
    resumable, and locked per target so two runs never overlap (exit code 4).
    """
    configure_logging(verbose)
    config = load_config(
        config_path,
        adapter_flags(adapter, path, output, skip_invalid, rejects, max_requests, state),
        adapter_option,
        min_score_change=min_score_change,
        batch_size=batch_size,
    )
    from mutuality_core.sync import SyncOptions, run_sync

    option_values: dict[str, Any] = {
        "full": full,
        "dry_run": dry_run,
        "scoring": config.scoring_config(),
    }
    if config.batch_size is not None:
        option_values["batch_size"] = config.batch_size
    if config.min_score_change is not None:
        option_values["min_score_change"] = config.min_score_change
    sync_options = SyncOptions(**option_values)
    moment = as_of or now_utc()
    progress = StderrProgress() if progress_wanted(quiet) else None

    with opened(config) as (connection, state_store):
        assert state_store is not None  # sync always opens (and creates) the state file
        previous = _latest_run(state_store, connection.target) if report_path else None
        try:
            report = run_sync(
                connection,
                state_store,
                as_of=moment,
                now=clock,
                options=sync_options,
                progress=progress,
            )
        except (MutualityError, KeyboardInterrupt) as error:
            if report_path:
                _write_failed_report(
                    state_store, connection.target, error, report_path, previous=previous
                )
            raise
        finally:
            if progress is not None:
                progress.close()
        report_dict = report.to_dict()
        if report_path:
            _write_report(report_dict, report_path)
        one_sided = [] if report.dry_run else _most_one_sided(state_store, report.target)
        if not quiet:
            lines = _summary_lines(
                report,
                report_dict,
                connection=connection,
                state_path=config.state,
                one_sided=one_sided,
            )
            click.echo("\n".join(lines), err=report_path == "-")
    if report.failed or report.stopped_reason:
        sys.exit(exit_codes.RECORDS_FAILED)


# --------------------------------------------------------------------------- runs

RUN_FIELDS = ("run_id", "target", "started_at", "finished_at", "status", "written", "failed")


@cli.command()
@click.option(
    "--state", help="State file (default: .mutuality/state.sqlite). [env MUTUALITY_STATE]"
)
@click.option("--target", help="Only runs for this target, e.g. files:/abs/folder.")
@click.option(
    "--limit", type=click.IntRange(min=1), default=20, show_default=True, help="How many runs."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@common_options
def runs(
    state: str | None,
    target: str | None,
    limit: int,
    as_json: bool,
    config_path: str | None,
    verbose: int,
) -> None:
    """Show the run history recorded in the state file, newest first."""
    configure_logging(verbose)
    config = load_config(config_path, state=state)
    store = open_state(config.state, create=False)
    try:
        history = [dict(r) for r in store.runs(target, limit=limit)]
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(history, indent=2, default=str, ensure_ascii=False))
        return
    if not history:
        click.echo(f"No runs recorded in {config.state} yet.")
        return
    rows = [_run_row(r) for r in history]
    click.echo(render_table(rows, RUN_FIELDS, max_width=70), nl=False)


def _run_row(run: Mapping[str, Any]) -> dict[str, str]:
    report = run.get("report") or {}
    if isinstance(report, str):
        try:
            report = json.loads(report)
        except ValueError:
            report = {}
    merged = {**report, **{k: v for k, v in run.items() if v is not None}}
    if "run_id" not in merged and "id" in merged:
        merged["run_id"] = merged["id"]
    if "status" not in merged:
        if not merged.get("finished_at"):
            merged["status"] = "running or interrupted"
        elif merged.get("stopped_reason"):
            merged["status"] = f"stopped: {merged['stopped_reason']}"
        elif merged.get("failed"):
            merged["status"] = "partial"
        else:
            merged["status"] = "dry run" if merged.get("dry_run") else "ok"
    for key in ("started_at", "finished_at"):
        merged[key] = _short_time(merged.get(key))
    return {k: "" if merged.get(k) is None else str(merged.get(k)) for k in RUN_FIELDS}


def _short_time(value: Any) -> Any:
    """``2026-06-30T08:00:00.123+00:00`` -> ``2026-06-30T08:00:00Z`` for the runs table."""
    if not isinstance(value, str):
        return value
    try:
        return iso(datetime.fromisoformat(value.replace("Z", "+00:00")).replace(microsecond=0))
    except ValueError:
        return value


# --------------------------------------------------------------------------- state


@cli.group(cls=MutualityGroup)
def state() -> None:
    """Inspect or repair the state file (cursors, cache, written scores, locks)."""


def _store_for(state_path: str | None, config_path: str | None) -> tuple[StateStore, Path]:
    config = load_config(config_path, state=state_path)
    return open_state(config.state, create=False), config.state


def _require(store: object, method: str) -> Any:
    function = getattr(store, method, None)
    if function is None:
        raise ConfigError(f"this state store does not support `{method}`")
    return function


@state.command("show")
@click.option("--state", "state_path", help="State file. [env MUTUALITY_STATE]")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@common_options
def state_show(
    state_path: str | None, as_json: bool, config_path: str | None, verbose: int
) -> None:
    """List the targets in the state file with cached counts and any lock holder."""
    configure_logging(verbose)
    store, path = _store_for(state_path, config_path)
    try:
        targets = []
        for target in _require(store, "targets")():
            counts = getattr(store, "cached_counts", lambda t: {})(target)
            holder = getattr(store, "lock_holder", lambda t: None)(target)
            targets.append(
                {
                    "target": target,
                    **{k: v for k, v in dict(counts).items()},
                    "written": len(store.written(target)),
                    "locked_by": dict(holder) if holder else None,
                }
            )
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({"state": str(path), "targets": targets}, indent=2, default=str))
        return
    click.echo(f"State file {path}")
    if not targets:
        click.echo("No targets yet.")
    for entry in targets:
        holder = entry.pop("locked_by")
        details = ", ".join(f"{k} {v}" for k, v in entry.items() if k != "target")
        click.echo(f"  {entry['target']}: {details}")
        if holder:
            click.echo(
                f"    locked by {holder.get('owner')} (pid {holder.get('pid')} on "
                f"{holder.get('host')}, since {holder.get('started_at')})"
            )


@state.command("unlock")
@click.argument("target")
@click.option("--state", "state_path", help="State file. [env MUTUALITY_STATE]")
@common_options
def state_unlock(
    target: str, state_path: str | None, config_path: str | None, verbose: int
) -> None:
    """Remove the run lock on TARGET left by a run that no longer exists.

    Only do this once you know that run is gone: two runs at once may write twice.
    """
    configure_logging(verbose)
    store, _ = _store_for(state_path, config_path)
    try:
        removed = _require(store, "break_lock")(target)
    finally:
        store.close()
    click.echo(f"Removed the lock on {target}." if removed else f"No lock on {target}.")


@state.command("reset")
@click.argument("target")
@click.option("--state", "state_path", help="State file. [env MUTUALITY_STATE]")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@common_options
def state_reset(
    target: str, state_path: str | None, yes: bool, config_path: str | None, verbose: int
) -> None:
    """Forget TARGET's cursor, cache and written values; the next sync reads everything.

    Run history is kept. Every score is written once more on the next sync.
    """
    configure_logging(verbose)
    if not yes:
        click.confirm(f"Forget all state for {target}?", abort=True, err=True)
    store, _ = _store_for(state_path, config_path)
    try:
        _require(store, "reset")(target)
    finally:
        store.close()
    click.echo(f"Reset {target}; the next sync reads everything.")


# --------------------------------------------------------------------------- config


@cli.group(cls=MutualityGroup)
def config() -> None:
    """Inspect the effective configuration."""


@config.command("show")
@adapter_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@common_options
def config_show(
    adapter: str | None,
    path: str | None,
    output: str | None,
    skip_invalid: bool | None,
    rejects: str | None,
    max_requests: int | None,
    adapter_option: tuple[str, ...],
    state: str | None,
    as_json: bool,
    config_path: str | None,
    verbose: int,
) -> None:
    """Print the effective configuration and where each value came from; secrets masked."""
    configure_logging(verbose)
    effective = load_config(
        config_path,
        adapter_flags(adapter, path, output, skip_invalid, rejects, max_requests, state),
        adapter_option,
    )
    data = effective.to_dict(masked=True)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    origins = data.pop("origins")
    click.echo(f"# config file: {data.pop('config_file') or 'none'}")
    for key in ("adapter", "state", "min_score_change", "batch_size"):
        if data[key] is not None:
            click.echo(f"{key} = {json.dumps(data[key])}  # {origins.get(key, 'default')}")
    if data["scoring"]:
        click.echo("\n[scoring]")
        for key, value in data["scoring"].items():
            click.echo(f"{key} = {json.dumps(value)}  # {origins.get('scoring.' + key, '')}")
    click.echo(f"\n[adapters.{effective.adapter}]")
    for key, value in data["adapters"][effective.adapter].items():
        origin = origins.get(f"adapters.{effective.adapter}.{key}", "")
        click.echo(f"{key} = {json.dumps(value)}  # {origin}")


# --------------------------------------------------------------------------- plugin commands


class PluginCommandGroup(MutualityGroup):
    """``mutuality setup NAME`` / ``mutuality fake NAME``: commands adapters offer, found lazily."""

    def __init__(self, *args: Any, kind: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind

    def list_commands(self, ctx: click.Context) -> list[str]:
        return discovery.names_offering(self.kind, discovery.discover_adapters())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in discovery.adapter_names():
            return None
        plugin = discovery.load_adapter(cmd_name, require_extra=False)
        command = discovery.plugin_commands(plugin, strict=True, name=cmd_name).get(self.kind)
        if command is None:
            raise click.UsageError(
                f"adapter {cmd_name!r} offers no `{self.kind}` command; "
                f"available: {', '.join(self.list_commands(ctx)) or 'none'}",
                ctx,
            )
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except MutualityError as error:
            click.echo(f"Error: {exit_codes.one_line(error)}", err=True)
            ctx.exit(exit_codes.exit_code_for(error))
            raise  # unreachable: ctx.exit raises


@cli.group(cls=PluginCommandGroup, kind="setup")
def setup() -> None:
    """Prepare a CRM for mutuality (e.g. create the score fields). One subcommand per adapter."""


@cli.group(cls=PluginCommandGroup, kind="fake")
def fake() -> None:
    """Run a local fake CRM for trying things out. One subcommand per adapter that offers one."""


if __name__ == "__main__":  # pragma: no cover
    cli()
