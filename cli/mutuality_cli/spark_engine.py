"""``--engine spark`` for ``score`` and ``sync``: the same commands, scored on Apache Spark.

Kept apart from main.py so the commands there only branch on the engine; pyspark is
imported when the Spark engine is chosen, never otherwise.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar, cast

import attrs
import click

from mutuality_core.config import ScoringConfig
from mutuality_core.errors import ConfigError
from mutuality_core.ports import Connection

F = TypeVar("F", bound=Callable[..., Any])

SPARK_FLAGS = ("input", "contacts", "master", "conf", "partitions", "staging")


def engine_options(function: F) -> F:
    """The settings of ``--engine spark``, passed to the command as one ``spark`` dict."""

    @functools.wraps(function)
    def command(**kwargs: Any) -> Any:
        spark = {name: kwargs.pop(name) for name in SPARK_FLAGS}
        return function(spark=spark, **kwargs)

    decorators = [
        click.option(
            "--input",
            metavar="PATH",
            help="spark: the activities (.parquet or .csv file or folder, or a folder holding "
            "activities.* and contacts.*); URIs such as s3://... work.",
        ),
        click.option("--contacts", metavar="PATH", help="spark: the contacts (id, email)."),
        click.option(
            "--master",
            default="local[*]",
            show_default=True,
            help="spark: the master URL; 'none' keeps what spark-submit or the cluster set.",
        ),
        click.option(
            "--conf",
            metavar="KEY=VALUE",
            multiple=True,
            help="spark: a Spark setting (repeatable), e.g. spark.executor.memory=4g.",
        ),
        click.option(
            "--partitions",
            type=click.IntRange(min=1),
            help="spark: shuffle partitions (default: Spark's, coalesced adaptively).",
        ),
        click.option(
            "--staging",
            metavar="PATH",
            help="spark sync: a folder the executors can read (s3://, /dbfs/...) where the "
            "last written values are staged as Parquet (default: a temp folder in local mode).",
        ),
    ]
    for decorate in reversed(decorators):
        command = decorate(command)
    return cast(F, command)


def _conf(pairs: tuple[str, ...]) -> dict[str, str]:
    conf = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--conf takes KEY=VALUE, e.g. spark.executor.memory=4g; got {pair!r}"
            )
        conf[key.strip()] = value.strip()
    return conf


def _session(spark: Mapping[str, Any]) -> Any:
    from mutuality_spark import spark_session

    master = None if spark["master"] == "none" else spark["master"]
    session = spark_session(master, _conf(spark["conf"]))
    session.sparkContext.setLogLevel("WARN")
    return session


def _input(spark: Mapping[str, Any], session: Any) -> Any:
    from mutuality_spark.inputs import read_input

    if not spark["input"]:
        raise ConfigError(
            "--engine spark needs --input PATH: the activities as Parquet or CSV (a file, a "
            "folder of part files, or a folder holding activities.* and contacts.*)"
        )
    return read_input(session, spark["input"], spark["contacts"])


def score(
    spark: Mapping[str, Any],
    *,
    output: str | None,
    rejects: str | None,
    skip_invalid: bool,
    as_of: datetime,
    scoring: ScoringConfig,
    quiet: bool,
) -> None:
    """Score ``--input`` in Spark and write the scores (Parquet, or CSV for a .csv path)."""
    if not output:
        raise ConfigError(
            "--engine spark needs --output PATH for the scores (Parquet, or CSV part files "
            "when PATH ends in .csv); nothing is printed, the table may be huge"
        )
    from mutuality_spark.frames import activity_count, job_errors, published, rejected, scored_rows
    from mutuality_spark.inputs import write_table
    from pyspark import StorageLevel

    started = time.monotonic()
    session = _session(spark)
    data = _input(spark, session)
    rows = scored_rows(
        data.activities,
        as_of=as_of,
        config=scoring,
        contacts=data.contacts,
        skip_invalid=skip_invalid,
        partitions=spark["partitions"],
        names=data.names,
    ).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        with job_errors():
            write_table(published(rows, as_of), output)
        activities = activity_count(rows)
        bad = rejected(rows)
        rejected_count = bad.count() if skip_invalid else 0
        if rejected_count:
            rejects = rejects or _beside(output, "_rejects")
            write_table(bad, rejects)
    finally:
        rows.unpersist()
    if not quiet:
        seconds = time.monotonic() - started
        click.echo(
            f"Scored {activities:,} activities in {seconds:,.1f} s "
            f"({activities / max(seconds, 1e-9):,.0f}/s) with Spark; scores in {output}"
            + (f"; {rejected_count:,} bad row(s) in {rejects}" if rejected_count else ""),
            err=True,
        )


def _beside(path: str, tag: str) -> str:
    """``scores.parquet`` -> ``scores_rejects.parquet`` (same format as the output)."""
    stem = path.rstrip("/")
    suffix = ".csv" if stem.endswith(".csv") else ".parquet"
    return stem.removesuffix(".csv").removesuffix(".parquet") + tag + suffix


def spark_connection(
    connection: Connection, spark: Mapping[str, Any], *, skip_invalid: bool, adapter: str
) -> Connection:
    """The adapter's connection with its source replaced by one that scores in Spark."""
    if adapter == "files":
        raise ConfigError(
            "sync --engine spark writes through a CRM adapter (--adapter hubspot or "
            "salesforce); to score files with Spark use `mutuality score --engine spark "
            "--input PATH --output PATH`"
        )
    from mutuality_spark.source import SparkSource

    session = _session(spark)
    data = _input(spark, session)
    source = SparkSource(
        session,
        data.activities,
        contacts=data.contacts,
        skip_invalid=skip_invalid,
        partitions=spark["partitions"],
        names=data.names,
        staging=spark["staging"],
    )
    return attrs.evolve(connection, source=source)
