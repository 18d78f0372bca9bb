"""The ``mutuality`` command line: each command validates options, calls one library
function and renders its result. Typed library errors become documented exit codes
(see :mod:`mutuality_cli.exit_codes`); machine-readable output goes to stdout only.
"""

from __future__ import annotations

import functools
import os
import sys
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import attrs
import click

from mutuality_cli import discovery, exit_codes, output, spark_engine
from mutuality_cli.collector import bulk_collection
from mutuality_cli.groups import MutualityGroup, PluginCommandGroup
from mutuality_cli.options import (
    adapter_options,
    as_of_option,
    clock,
    common_options,
    engine_option,
    format_options,
    now_utc,
    state_options,
    verbose_option,
)
from mutuality_cli.progress import progress_display
from mutuality_cli.reports import (
    latest_run,
    most_one_sided,
    rejection_lines,
    summary_lines,
    verify_lines,
    write_failed_report,
    write_report,
    write_text,
)
from mutuality_cli.runtime import Session, pass_session
from mutuality_cli.settings import EffectiveConfig
from mutuality_cli.spark_engine import engine_options
from mutuality_cli.stopping import GracefulStop
from mutuality_core.errors import ConfigError, MutualityError
from mutuality_core.ports import DocumentedEnvironment, StateStore, StateStoreAdmin


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
@format_options()
@verbose_option
def adapters(fmt: str) -> None:
    """List installed adapters, their versions, and whether each one loads.

    An adapter that fails to load (e.g. its optional dependency is missing) is
    listed with the reason instead of breaking the command. The table ends with
    the scoring engines; `mutuality state stores` lists the state stores.
    """
    output.write_plugins(
        output.ADAPTERS,
        [i.to_dict() for i in discovery.discover_adapters()],
        fmt,
        sys.stdout,
        empty=f"No adapters installed (entry-point group {discovery.GROUP} is empty).",
        footer=f"Scoring engines (--engine): {engines_line()}",
    )


# --------------------------------------------------------------------------- score


@cli.command()
@adapter_options
@as_of_option
@format_options(default="jsonl")
@engine_option
@click.option("-q", "--quiet", is_flag=True, help="No progress bar on stderr.")
@engine_options
@common_options
@pass_session
def score(
    session: Session,
    flags: dict[str, Any],
    spark: dict[str, Any],
    adapter_option: tuple[str, ...],
    as_of: datetime | None,
    fmt: str,
    engine: str,
    quiet: bool,
) -> None:
    """Score every contact and print the scores; writes nothing to the CRM.

    Each row has contact_id, score (0-100, how mutual), lean (-1 only you invest
    .. +1 only they invest), strength, band, confidence and reasons.
    """
    config = session.config(flags, adapter_option)
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
    connection = session.connect(config)
    state_store = session.existing_state(config)
    with progress_display(quiet) as progress:
        results = sync_engine.score_connection(
            connection,
            state_store,
            as_of=moment,
            scoring=scoring,
            progress=progress,
            rejections=rejections,
            engine=engine,
        )
        rows = (output.score_row(s, contact) for contact, s in results)
        output.write(output.SCORES, rows, fmt, sys.stdout)
    for line in rejection_lines(rejections, written_to=None):
        click.echo(line, err=True)


# --------------------------------------------------------------------------- explain


@cli.command()
@click.argument("contact_id")
@adapter_options
@as_of_option
@format_options()
@common_options
@pass_session
def explain(
    session: Session,
    contact_id: str,
    flags: dict[str, Any],
    adapter_option: tuple[str, ...],
    as_of: datetime | None,
    fmt: str,
) -> None:
    """Show how CONTACT_ID's score was reached: each signal, its evidence, the reasons."""
    config = session.config(flags, adapter_option)
    scoring = config.scoring_config()
    moment = as_of or now_utc()
    from mutuality_core import sync as engine

    connection = session.connect(config)
    contact, result = engine.explain_contact(
        connection, session.existing_state(config), contact_id, as_of=moment, scoring=scoring
    )
    explanation = {
        **output.score_row(result, contact),
        "components": [output.component_row(c) for c in result.components],
    }
    output.write_explanation(explanation, fmt, sys.stdout)


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
@pass_session
def sync(
    session: Session,
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
) -> None:
    """Read, score, and write changed scores back to the CRM (or the output file).

    Runs are incremental after the first one (use --full to read everything),
    resumable, and locked per target so two runs never overlap (exit code 4).
    """
    config = session.config(
        flags, adapter_option, min_score_change=min_score_change, batch_size=batch_size
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

    connection = session.connect(config)
    state_store = session.state_store(config)  # sync creates the state on its first run
    if engine == "spark":
        connection = spark_engine.spark_connection(
            connection, spark, skip_invalid=bool(flags["skip_invalid"]), adapter=config.adapter
        )
    previous = latest_run(state_store, connection.target) if report_path else None
    try:
        with progress_display(quiet) as progress, GracefulStop() as stop, bulk_collection():
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
            report, connection=connection, state_path=config.state, one_sided=one_sided
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
@pass_session
def verify(
    session: Session,
    flags: dict[str, Any],
    adapter_option: tuple[str, ...],
    fmt: str,
) -> None:
    """Check that the CRM still holds the scores the last syncs wrote; changes nothing.

    Counts contacts in sync, missing (fields emptied), edited (changed by someone
    else), outdated (written by an older algorithm), gone (deleted in the CRM) and
    failed in the last run. Exits 1 when anything differs, so it can be a
    monitoring check after the nightly job; `mutuality sync --full` repairs it.
    """
    config = session.config(flags, adapter_option)
    state_store = session.state_store(config, create=False)  # nothing synced: nothing to verify
    from mutuality_core.reconcile import verify_connection

    result = verify_connection(session.connect(config), state_store)
    if fmt == "json":
        output.write_document(result.to_dict(), sys.stdout)
    else:
        click.echo("\n".join(verify_lines(result)))
    if result.differs:
        sys.exit(exit_codes.RECORDS_FAILED)


# --------------------------------------------------------------------------- runs


@cli.command()
@state_options
@click.option("--target", help="Only runs for this target, e.g. files:/abs/folder.")
@click.option(
    "--limit", type=click.IntRange(min=1), default=20, show_default=True, help="How many runs."
)
@format_options()
@common_options
@pass_session
def runs(session: Session, flags: dict[str, Any], target: str | None, limit: int, fmt: str) -> None:
    """Show the run history recorded in the state file, newest first.

    json and jsonl print each run's stored record whole, its report included.
    """
    config = session.config(flags)
    history = session.state_store(config, create=False).runs(target, limit=limit)
    output.write_runs(history, fmt, sys.stdout, state=config.state)


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
@pass_session
def report(
    session: Session,
    flags: dict[str, Any],
    adapter_option: tuple[str, ...],
    as_of: datetime | None,
    page_path: str,
    top: int,
    title: str,
    quiet: bool,
) -> None:
    """Write the book of relationships as one HTML page that works offline.

    Bands and their change since the last run, a map of lean against strength,
    the most one-sided contacts with reasons, those that turned one-sided or
    recovered, and the run history. By default it shows the scores the last sync
    wrote (from the state file) and reads only the contacts' names; with --as-of,
    or before the first sync, it scores every contact (as `score` does) and compares
    with what the last sync wrote. The files adapter's scores file is `-o output=PATH`.
    """
    config = session.config(flags, adapter_option)
    import mutuality_report

    connection = session.connect(config)
    state_store = session.existing_state(config)
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
    """Inspect or repair the state (cursors, cache, written scores, locks); list state stores."""


@runtime_checkable
class _AdministeredStore(StateStore, StateStoreAdmin, Protocol):
    """A state store that `mutuality state` can list, inspect, unlock and reset."""


def _admin(session: Session, config: EffectiveConfig, command: str) -> _AdministeredStore:
    """The configured state store (existing only), which must be a :class:`StateStoreAdmin`."""
    store = session.state_store(config, create=False)
    if not isinstance(store, _AdministeredStore):
        raise ConfigError(
            f"the {config.state_store!r} state store cannot do `mutuality state {command}`: "
            "it does not list, unlock or reset targets (StateStoreAdmin in "
            "mutuality_core.ports); use that store's own tools for it"
        )
    return store


@state.command("show")
@state_options
@format_options()
@common_options
@pass_session
def state_show(session: Session, flags: dict[str, Any], fmt: str) -> None:
    """List the targets in the state store with cached counts and any lock holder."""
    config = session.config(flags)
    store = _admin(session, config, "show")
    targets = [
        {
            "target": target,
            **store.cached_counts(target),
            "written": len(store.written(target)),
            "locked_by": store.lock_holder(target),
        }
        for target in store.targets()
    ]
    output.write_state(config.state, targets, fmt, sys.stdout)


@state.command("stores")
@format_options()
@verbose_option
def state_stores(fmt: str) -> None:
    """List installed state stores (for --state-store), their versions, and whether each loads.

    SQLite is the default and always installed; a package may add another (a server
    database, say) through the entry-point group mutuality.state_stores.
    """
    output.write_plugins(
        output.STATE_STORES,
        [i.to_dict() for i in discovery.discover_state_stores()],
        fmt,
        sys.stdout,
        empty=f"No state stores installed (entry-point group {discovery.STATE_STORE_GROUP} "
        "is empty).",
    )


@state.command("unlock")
@click.argument("target")
@state_options
@common_options
@pass_session
def state_unlock(session: Session, target: str, flags: dict[str, Any]) -> None:
    """Remove the run lock on TARGET left by a run that no longer exists.

    Only do this once you know that run is gone: two runs at once may write twice.
    """
    removed = _admin(session, session.config(flags), "unlock").break_lock(target)
    click.echo(f"Removed the lock on {target}." if removed else f"No lock on {target}.")


@state.command("reset")
@click.argument("target")
@state_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@common_options
@pass_session
def state_reset(session: Session, target: str, flags: dict[str, Any], yes: bool) -> None:
    """Forget TARGET's cursor, cache and written values; the next sync reads everything.

    Run history is kept. Every score is written once more on the next sync.
    """
    store = _admin(session, session.config(flags), "reset")
    known = store.targets()
    if target not in known:
        raise ConfigError(
            f"no state for {target!r}; known targets: {', '.join(known) or 'none'} "
            "(see `mutuality state show`)"
        )
    if not yes:
        click.confirm(f"Forget all state for {target}?", abort=True, err=True)
    store.reset(target)
    click.echo(f"Reset {target}; the next sync reads everything.")


# --------------------------------------------------------------------------- config


@cli.group(cls=MutualityGroup)
def config() -> None:
    """Inspect the effective configuration."""


@config.command("show")
@adapter_options
@format_options()
@common_options
@pass_session
def config_show(
    session: Session, flags: dict[str, Any], adapter_option: tuple[str, ...], fmt: str
) -> None:
    """Print the effective configuration and where each value came from; secrets masked.

    jsonl and csv print one row per setting: key (scoring.KEY, adapters.NAME.KEY for
    tables), value and origin.
    """
    effective = session.config(flags, adapter_option)
    data = effective.to_dict(masked=True)
    _add_adapter_environment(data, effective.adapter)
    # Every scoring setting, defaults included, validated as a run would validate it.
    data["scoring"] = attrs.asdict(effective.scoring_config())
    output.write_settings(data, effective.adapter, fmt, sys.stdout)


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
    if not isinstance(plugin, DocumentedEnvironment):
        return
    for key, name in dict(plugin.environment or {}).items():
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
