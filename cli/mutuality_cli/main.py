"""The ``mutuality`` command line: each command validates options, calls one library
function and renders its result. Typed library errors become documented exit codes
(see :mod:`mutuality_cli.exit_codes`); machine-readable output goes to stdout only.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
import click

from mutuality_cli import discovery, exit_codes, spark_engine
from mutuality_cli.groups import MutualityGroup, PluginCommandGroup
from mutuality_cli.options import (
    adapter_options,
    as_of_option,
    clock,
    common_options,
    engine_option,
    format_option,
    now_utc,
)
from mutuality_cli.output import SCORE_FIELDS, render_table, score_row, write_rows
from mutuality_cli.progress import progress_display
from mutuality_cli.reports import (
    RUN_FIELDS,
    latest_run,
    most_one_sided,
    rejection_lines,
    run_row,
    summary_lines,
    verify_lines,
    write_failed_report,
    write_report,
    write_text,
)
from mutuality_cli.runtime import (
    configure_logging,
    load_config,
    open_state,
    opened,
)
from mutuality_cli.spark_engine import engine_options
from mutuality_cli.stopping import GracefulStop
from mutuality_core.errors import ConfigError, MutualityError
from mutuality_core.ports import StateStore


def engines_line() -> str:
    """``python: available (the reference); columnar: available``, for listings."""
    from mutuality_core.engines import engine_status

    return "; ".join(f"{name}: {status}" for name, status in engine_status().items())


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import version

    click.echo(f"mutuality, version {version('mutuality')}")
    click.echo(f"engines: {engines_line()}")
    ctx.exit()


@click.group(cls=MutualityGroup, epilog=exit_codes.EPILOG)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and the available scoring engines, then exit.",
)
def cli() -> None:
    """Measure how mutual each CRM relationship is, explain it, and write it back.

    Quick start (no configuration, no credentials; the sample data ends on
    2026-06-30, so score it as of that day, or most of it is dormant today):

    \b
        mutuality sync --adapter files --path examples/sample_crm --as-of 2026-06-30T00:00:00Z

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
    else:
        click.echo(
            render_table(rows, ("name", "version", "status", "summary"), max_width=100), nl=False
        )
    click.echo(f"\nScoring engines (--engine): {engines_line()}")


# --------------------------------------------------------------------------- score


@cli.command()
@adapter_options
@as_of_option
@format_option
@engine_option
@click.option("-q", "--quiet", is_flag=True, help="No progress bar on stderr.")
@engine_options
@common_options
def score(
    flags: dict[str, Any],
    spark: dict[str, Any],
    adapter_option: tuple[str, ...],
    as_of: datetime | None,
    fmt: str,
    engine: str,
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
        flags,
        adapter_option,
    )
    scoring = config.scoring_config()
    moment = as_of or now_utc()
    if engine == "spark":
        spark_engine.score(
            spark,
            output=flags["output"],
            rejects=flags["rejects"],
            skip_invalid=bool(flags["skip_invalid"]),
            as_of=moment,
            scoring=scoring,
            quiet=quiet,
        )
        return
    from mutuality_core import sync as sync_engine

    rejections: list[Any] = []
    with (
        opened(config, read_only=True) as (connection, state_store),
        progress_display(quiet) as progress,
    ):
        results = sync_engine.score_connection(
            connection,
            state_store,
            as_of=moment,
            scoring=scoring,
            progress=progress,
            rejections=rejections,
            engine=engine,
        )
        write_rows((score_row(s, contact) for contact, s in results), fmt, sys.stdout, SCORE_FIELDS)
    for line in rejection_lines(rejections, written_to=None):
        click.echo(line, err=True)


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
    flags: dict[str, Any],
    adapter_option: tuple[str, ...],
    as_of: datetime | None,
    as_json: bool,
    config_path: str | None,
    verbose: int,
) -> None:
    """Show how CONTACT_ID's score was reached: each signal, its evidence, the reasons."""
    configure_logging(verbose)
    config = load_config(
        config_path,
        flags,
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


@cli.command()
@adapter_options
@as_of_option
@click.option(
    "--dry-run",
    is_flag=True,
    help="Score and diff, but write nothing and advance nothing (listed in `runs` as a dry run).",
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
@engine_option
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary.")
@engine_options
@common_options
def sync(
    flags: dict[str, Any],
    spark: dict[str, Any],
    adapter_option: tuple[str, ...],
    as_of: datetime | None,
    dry_run: bool,
    full: bool,
    report_path: str | None,
    min_score_change: float | None,
    batch_size: int | None,
    engine: str,
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
        flags,
        adapter_option,
        min_score_change=min_score_change,
        batch_size=batch_size,
    )
    from mutuality_core.sync import SyncOptions, run_sync

    option_values: dict[str, Any] = {
        "full": full,
        "dry_run": dry_run,
        "scoring": config.scoring_config(),
        "engine": "auto" if engine == "spark" else engine,  # Spark scores in its source
    }
    if config.batch_size is not None:
        option_values["batch_size"] = config.batch_size
    if config.min_score_change is not None:
        option_values["min_score_change"] = config.min_score_change
    if config.persistent_failure_runs is not None:
        option_values["persistent_failure_runs"] = config.persistent_failure_runs
    sync_options = SyncOptions(**option_values)
    moment = as_of or now_utc()

    with opened(config) as (connection, state_store):
        assert state_store is not None  # sync always opens (and creates) the state file
        if engine == "spark":
            connection = spark_engine.spark_connection(
                connection, spark, skip_invalid=bool(flags["skip_invalid"]), adapter=config.adapter
            )
        previous = latest_run(state_store, connection.target) if report_path else None
        try:
            with progress_display(quiet) as progress, GracefulStop() as stop:
                report = run_sync(
                    connection,
                    state_store,
                    as_of=moment,
                    now=clock,
                    options=sync_options,
                    progress=stop.wrap(progress),
                )
        except (MutualityError, KeyboardInterrupt) as error:
            if report_path:
                write_failed_report(
                    state_store, connection.target, error, report_path, previous=previous
                )
            raise
        report_dict = report.to_dict()
        if report_path:
            write_report(report_dict, report_path)
        one_sided = [] if report.dry_run else most_one_sided(state_store, report.target)
        if not quiet:
            lines = summary_lines(
                report,
                connection=connection,
                state_path=config.state,
                one_sided=one_sided,
            )
            click.echo("\n".join(lines), err=report_path == "-")
    if report.failed or report.stopped_reason:
        sys.exit(exit_codes.RECORDS_FAILED)


# --------------------------------------------------------------------------- verify


@cli.command()
@adapter_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("text", "json")),
    default="text",
    show_default=True,
    help="Output format on stdout.",
)
@common_options
def verify(
    flags: dict[str, Any],
    adapter_option: tuple[str, ...],
    fmt: str,
    config_path: str | None,
    verbose: int,
) -> None:
    """Check that the CRM still holds the scores the last syncs wrote; changes nothing.

    Counts contacts in sync, missing (fields emptied), edited (changed by someone
    else), outdated (written by an older algorithm), gone (deleted in the CRM) and
    failed in the last run. Exits 1 when anything differs, so it can be a
    monitoring check after the nightly job; `mutuality sync --full` repairs it.
    """
    configure_logging(verbose)
    config = load_config(config_path, flags, adapter_option)
    if not config.state.exists():
        raise ConfigError(
            f"no state file at {config.state}: nothing was synced yet, so there is nothing "
            "to verify; run `mutuality sync` first (or pass --state)"
        )
    from mutuality_core.reconcile import verify_connection

    with opened(config, read_only=True) as (connection, state_store):
        result = verify_connection(connection, state_store)
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo("\n".join(verify_lines(result)))
    if result.differs:
        sys.exit(exit_codes.RECORDS_FAILED)


# --------------------------------------------------------------------------- runs


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
    rows = [run_row(r) for r in history]
    click.echo(render_table(rows, RUN_FIELDS, max_width=70), nl=False)


# --------------------------------------------------------------------------- report


@cli.command()
@functools.partial(adapter_options, skip=("output",))  # --output names the page here
@as_of_option
@click.option(
    "--output",
    "page_path",
    default="mutuality-report.html",
    show_default=True,
    help="Where to write the HTML page ('-' for stdout).",
)
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=25,
    show_default=True,
    help="How many contacts each most-one-sided list shows.",
)
@click.option("--title", default="Mutuality report", show_default=True, help="The page's title.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary line.")
@common_options
def report(
    flags: dict[str, Any],
    adapter_option: tuple[str, ...],
    as_of: datetime | None,
    page_path: str,
    top: int,
    title: str,
    quiet: bool,
    config_path: str | None,
    verbose: int,
) -> None:
    """Write the book of relationships as one HTML page that works offline.

    Bands and their change since the last run, a map of lean against strength,
    the most one-sided contacts with reasons, those that turned one-sided or
    recovered, and the run history. By default it shows the scores the last sync
    wrote (from the state file) and reads only the contacts' names; with --as-of,
    or before the first sync, it scores every contact (as `score` does) and compares
    with what the last sync wrote. The files adapter's scores file is `-o output=PATH`.
    """
    configure_logging(verbose)
    config = load_config(config_path, flags, adapter_option)
    import mutuality_report

    with opened(config, read_only=True) as (connection, state_store):
        book = None
        if as_of is None and state_store is not None:
            book = mutuality_report.from_state(connection, state_store)
        if book is None or not book.entries:  # --as-of, or nothing written yet
            from mutuality_core import sync as engine

            moment = as_of or now_utc()
            with progress_display(quiet) as progress:
                results = engine.score_connection(
                    connection,
                    state_store,
                    as_of=moment,
                    scoring=config.scoring_config(),
                    progress=progress,
                )
                book = mutuality_report.from_scores(
                    results, state_store, connection.target, as_of=moment
                )
    page = book.render(top=top, title=title, generated_at=now_utc())
    write_text(page, page_path)
    if not quiet and page_path != "-":
        size = len(page.encode("utf-8")) / 1024
        click.echo(
            f"Report of {len(book.entries):,} contacts written to {page_path} ({size:,.0f} KiB)"
        )


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
    store, _ = _store_for(state_path, config_path)
    try:
        known = _require(store, "targets")()
        if target not in known:
            raise ConfigError(
                f"no state for {target!r}; known targets: {', '.join(known) or 'none'} "
                "(see `mutuality state show`)"
            )
        if not yes:
            click.confirm(f"Forget all state for {target}?", abort=True, err=True)
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
    flags: dict[str, Any],
    adapter_option: tuple[str, ...],
    as_json: bool,
    config_path: str | None,
    verbose: int,
) -> None:
    """Print the effective configuration and where each value came from; secrets masked."""
    configure_logging(verbose)
    effective = load_config(
        config_path,
        flags,
        adapter_option,
    )
    data = effective.to_dict(masked=True)
    _add_adapter_environment(data, effective.adapter)
    # Every scoring setting, defaults included, validated as a run would validate it.
    data["scoring"] = attrs.asdict(effective.scoring_config())
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    origins = data.pop("origins")
    click.echo(f"# config file: {data.pop('config_file') or 'none'}")
    for key in ("adapter", "state", "min_score_change", "batch_size", "persistent_failure_runs"):
        if data[key] is not None:
            click.echo(f"{key} = {json.dumps(data[key])}  # {origins.get(key, 'default')}")
    click.echo("\n[scoring]")
    for key, value in data["scoring"].items():
        click.echo(f"{key} = {json.dumps(value)}  # {origins.get('scoring.' + key, 'default')}")
    click.echo(f"\n[adapters.{effective.adapter}]")
    for key, value in data["adapters"][effective.adapter].items():
        origin = origins.get(f"adapters.{effective.adapter}.{key}", "")
        click.echo(f"{key} = {json.dumps(value)}  # {origin}")


def _add_adapter_environment(data: dict[str, Any], adapter: str) -> None:
    """Settings the adapter reads from variables of its own (e.g. HUBSPOT_ACCESS_TOKEN).

    Shown with the variable's name, the value masked when secret; a value from the
    file or a flag takes precedence in the adapters, so it is not shown twice.
    """
    from mutuality_cli.settings import mask

    try:
        plugin = discovery.load_adapter(adapter)
    except MutualityError:
        return  # `mutuality adapters` says why it does not load
    settings = data["adapters"].setdefault(adapter, {})
    for key, name in dict(getattr(plugin, "environment", {}) or {}).items():
        if key in settings or not os.environ.get(name):
            continue
        settings[key] = mask({key: os.environ[name]})[key]
        data["origins"][f"adapters.{adapter}.{key}"] = f"env {name}"


# --------------------------------------------------------------------------- plugin commands


@cli.group(cls=PluginCommandGroup, kind="setup")
def setup() -> None:
    """Prepare a CRM for mutuality (e.g. create the score fields). One subcommand per adapter."""


@cli.group(cls=PluginCommandGroup, kind="fake")
def fake() -> None:
    """Run a local fake CRM for trying things out. One subcommand per adapter that offers one."""


if __name__ == "__main__":  # pragma: no cover
    cli()
