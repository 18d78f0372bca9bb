"""A Spark job: read activities (Parquet), score them, write the scores (Parquet); sync optionally.

Submit it to any cluster (or run it in local mode) with spark-submit; see README.md here:

    spark-submit examples/spark/mutuality_job.py \\
        --input s3://lake/crm/activities --output s3://lake/crm/scores

``--sync hubspot`` (or ``salesforce``) then writes the changed scores back to the CRM
through the adapter, from the driver, with the state file at ``--state`` (resumable).
The CRM's credentials come from the environment (HUBSPOT_ACCESS_TOKEN, SALESFORCE_*).
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib.metadata import entry_points

import attrs
from mutuality_adapters.sqlite_state import SQLiteStateStore
from mutuality_spark import spark_session
from mutuality_spark.frames import activity_count, job_errors, published, rejected, scored_rows
from mutuality_spark.inputs import read_input, write_table
from mutuality_spark.source import SparkSource
from pyspark import StorageLevel

from mutuality_core.errors import ConfigError
from mutuality_core.sync import SyncOptions, run_sync

log = logging.getLogger("mutuality_job")


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="activities: Parquet or CSV (or a folder)")
    parser.add_argument("--contacts", help="contacts (id, email): Parquet or CSV")
    parser.add_argument("--output", required=True, help="where the scores go (Parquet)")
    parser.add_argument("--as-of", help="ISO 8601 with Z or an offset (default: now)")
    parser.add_argument("--skip-invalid", action="store_true", help="collect bad rows")
    parser.add_argument("--partitions", type=int, help="shuffle partitions (default: adaptive)")
    parser.add_argument("--sync", choices=["hubspot", "salesforce"], help="write back to a CRM")
    parser.add_argument("--state", default="mutuality-state.sqlite", help="state file (--sync)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    as_of = (
        datetime.fromisoformat(args.as_of.replace("Z", "+00:00"))
        if args.as_of
        else datetime.now(timezone.utc)
    )
    spark = spark_session(master=None)  # spark-submit / the cluster chose the master
    data = read_input(spark, args.input, args.contacts)
    rows = scored_rows(
        data.activities,
        as_of=as_of,
        contacts=data.contacts,
        skip_invalid=args.skip_invalid,
        partitions=args.partitions,
        names=data.names,
    ).persist(StorageLevel.MEMORY_AND_DISK)
    with job_errors():
        write_table(published(rows, as_of), args.output)
    log.info("scored %d activities into %s", activity_count(rows), args.output)
    if args.skip_invalid:
        write_table(rejected(rows), args.output.rstrip("/") + "_rejects")
    rows.unpersist()
    if args.sync:
        sync(spark, data, args, as_of)


def sync(spark: object, data: object, args: argparse.Namespace, as_of: datetime) -> None:
    plugins = {ep.name: ep for ep in entry_points(group="mutuality.adapters")}
    if args.sync not in plugins:
        raise ConfigError(f"adapter {args.sync} is not installed: pip install 'mutuality[all]'")
    connection = plugins[args.sync].load().connect({}, environ=os.environ)
    source = SparkSource(
        spark,  # type: ignore[arg-type]
        data.activities,  # type: ignore[attr-defined]
        contacts=data.contacts,  # type: ignore[attr-defined]
        skip_invalid=args.skip_invalid,
        partitions=args.partitions,
    )
    state = SQLiteStateStore(args.state)
    try:
        report = run_sync(
            attrs.evolve(connection, source=source),
            state,
            as_of=as_of,
            now=lambda: datetime.now(timezone.utc),
            options=SyncOptions(owner="mutuality spark job"),
        )
    finally:
        state.close()
        connection.close()
    log.info("sync %s: %s", report.status, report.to_dict())


if __name__ == "__main__":
    main()
