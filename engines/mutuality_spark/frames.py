"""Scoring a Spark DataFrame of activities: one shuffle on contact_id, one Arrow call per partition.

The job shape decides the speed (measured on 2 cores: one Python call per contact
runs at ~10,000 activities/s, one call per partition at ~150,000/s), so the rows are
hash-partitioned on ``contact_id`` and every partition goes through ``mapInArrow``
to :func:`mutuality_spark.partition.score_partition` in one piece.

Time zones: Spark keeps a timestamp as an instant, but hands it to Python as naive
local time in ``spark.sql.session.timeZone``. So a timestamp column is turned into
ISO 8601 text *with its offset* inside Spark before it leaves the JVM, and times
come back as epoch microseconds (``timestamp_micros``); no naive value ever crosses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

import attrs
import pyarrow as pa
from mutuality_adapters.files.rows import ACTIVITY_COLUMNS, ACTIVITY_REQUIRED
from mutuality_adapters.files.writer import SCORE_COLUMNS  # the published columns, typed here

from mutuality_core.config import ScoringConfig
from mutuality_core.errors import InvalidInputError
from mutuality_core.timestamps import check_as_of

from .partition import (
    INPUT_SCHEMA,
    KIND_ACTIVITY,
    KIND_CONTACT,
    KIND_WRITTEN,
    OUT_COUNT,
    OUT_REJECT,
    OUT_REMOVED,
    OUT_SCORE,
    OUTPUT_SCHEMA,
    PartitionOptions,
    micros,
    score_partition,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import StructType

__all__ = [
    "REJECT_COLUMNS",
    "SCORE_COLUMNS",
    "SparkScores",
    "job_errors",
    "score_dataframe",
    "score_with_rejects",
    "scored_rows",
]

#: A rejected row: which input, the files adapter's message, the row as CSV text.
REJECT_COLUMNS = ("file", "error", "record")


@attrs.frozen
class SparkScores:
    """The scores and the rejected rows of one scoring; both come from the same job.

    Spark computes lazily: persist ``scores`` first (or use :func:`scored_rows`) when
    you act on both frames, else the scoring runs once per action.
    """

    scores: DataFrame
    rejects: DataFrame


@contextmanager
def job_errors() -> Iterator[None]:
    """Turn a job that failed on a bad row back into :class:`InvalidInputError`.

    A partition raises InvalidInputError on an executor; Spark re-raises it on the
    driver as its own exception whose text holds the Python traceback.
    """
    try:
        yield
    except InvalidInputError:
        raise
    except Exception as error:
        found = re.search(r"mutuality_core\.errors\.InvalidInputError: (.+)", str(error))
        if found is None:
            raise
        raise InvalidInputError(found.group(1).strip()) from None


def _as_text(frame: DataFrame, name: str) -> Column:
    """One input column as the text the files adapter would read in that cell."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if name not in frame.columns:
        return F.lit(None).cast("string").alias(name)
    kind = frame.schema[name].dataType
    column = F.col(f"`{name}`")
    if isinstance(kind, T.TimestampNTZType):
        raise InvalidInputError(
            f"column {name} is a timestamp without time zone (TIMESTAMP_NTZ), so the instant "
            f"is unknown; convert it, e.g. to_utc_timestamp({name}, 'Europe/Berlin'), or cast "
            "it to TIMESTAMP if it is UTC"
        )
    if isinstance(kind, T.TimestampType):
        # text with the offset of the session time zone: the same instant whatever it is
        column = F.date_format(column, "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX")
    elif isinstance(kind, T.ArrayType):
        column = F.concat_ws(";", column)
    return column.cast("string").alias(name)


def _check_columns(frame: DataFrame, required: tuple[str, ...], what: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        found = ", ".join(repr(c) for c in frame.columns) or "none"
        raise InvalidInputError(
            f"{what}: missing required column(s) {', '.join(missing)}; found: {found}"
        )


def _tagged(
    activities: DataFrame, contacts: DataFrame | None, written: DataFrame | None
) -> DataFrame:
    """One frame in INPUT_SCHEMA: activity rows, contact rows and written values."""
    from pyspark.sql import functions as F

    _check_columns(activities, ACTIVITY_REQUIRED, "activities")
    nothing = F.lit(None).cast("string")
    no_number = F.lit(None).cast("double")
    no_flag = F.lit(None).cast("boolean")
    frame = activities.select(
        F.lit(KIND_ACTIVITY).alias("kind"),
        *(_as_text(activities, c) for c in ACTIVITY_COLUMNS),
        nothing.alias("email"),
        no_number.alias("written_score"),
        nothing.alias("written_band"),
        nothing.alias("written_algorithm"),
        no_flag.alias("written_forced"),
    )
    blanks = [nothing.alias(c) for c in ACTIVITY_COLUMNS if c != "contact_id"]
    if contacts is not None:
        _check_columns(contacts, ("id",), "contacts")
        rows = contacts.select(
            F.lit(KIND_CONTACT).alias("kind"),
            _as_text(contacts, "id").alias("contact_id"),
            _as_text(contacts, "email"),
            no_number.alias("written_score"),
            nothing.alias("written_band"),
            nothing.alias("written_algorithm"),
            no_flag.alias("written_forced"),
            *blanks,
        )
        frame = frame.unionByName(rows)
    if written is not None:
        rows = written.select(
            F.lit(KIND_WRITTEN).alias("kind"),
            F.col("contact_id").cast("string"),
            nothing.alias("email"),
            F.col("score").cast("double").alias("written_score"),
            F.col("band").cast("string").alias("written_band"),
            F.col("algorithm").cast("string").alias("written_algorithm"),
            F.col("forced").cast("boolean").alias("written_forced"),
            *blanks,
        )
        frame = frame.unionByName(rows)
    return frame.select(*INPUT_SCHEMA.names)


def _spark_schema(schema: pa.Schema) -> StructType:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


def scored_rows(
    activities: DataFrame,
    *,
    as_of: datetime,
    config: ScoringConfig | None = None,
    contacts: DataFrame | None = None,
    written: DataFrame | None = None,
    skip_invalid: bool = False,
    min_score_change: float = 1.0,
    partitions: int | None = None,
    names: tuple[str, str] = ("activities", "contacts"),
) -> DataFrame:
    """Every output row of the job (OUTPUT_SCHEMA, column ``kind`` says which is which).

    The building block of :func:`score_with_rejects` and of the Spark sync: persist
    it, then take scores, rejects, removed contacts and counts from the one run.
    ``written`` (columns of :func:`mutuality_spark.source.written_frame`) turns on the
    diff: each score row then says whether it must be written (``changed``), by the
    core's ``write_decision``, and only rows to write carry their reasons (building
    reasons is most of a partition's scoring time; a sync writes no other row).
    ``names``: how rejects and messages name the activities and contacts inputs.
    """
    from pyspark.sql import functions as F

    check_as_of(as_of)
    options = PartitionOptions(
        as_of=as_of,
        config=config or ScoringConfig(),
        skip_invalid=skip_invalid,
        has_contacts=contacts is not None,
        diff=written is not None,
        min_score_change=min_score_change,
        activities_name=names[0],
        contacts_name=names[1],
    )
    frame = _tagged(activities, contacts, written)
    key = F.trim(F.col("contact_id"))  # the files adapter strips ids; so does the partitioning
    shuffled = frame.repartition(partitions, key) if partitions else frame.repartition(key)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        collected = list(batches)
        if not collected:
            return
        table = pa.Table.from_batches(collected).cast(INPUT_SCHEMA)
        yield from score_partition(table, options)

    return shuffled.mapInArrow(run, _spark_schema(OUTPUT_SCHEMA))


def published(rows: DataFrame, as_of: datetime) -> DataFrame:
    """The score rows of :func:`scored_rows` as the scores.csv columns."""
    from pyspark.sql import functions as F

    times = {
        "scored_at": F.timestamp_micros(F.lit(micros(as_of))),
        "last_activity_at": F.timestamp_micros(F.col("last_activity_us")),
    }
    return rows.where(F.col("kind") == OUT_SCORE).select(
        *(times[c].alias(c) if c in times else F.col(c) for c in SCORE_COLUMNS)
    )


def rejected(rows: DataFrame) -> DataFrame:
    """The reject rows of :func:`scored_rows`."""
    from pyspark.sql import functions as F

    return rows.where(F.col("kind") == OUT_REJECT).select(
        F.col("reject_file").alias("file"),
        F.col("reject_error").alias("error"),
        F.col("reject_record").alias("record"),
    )


def removed(rows: DataFrame) -> DataFrame:
    """Contacts with a written value that are no longer in the input (column ``id``)."""
    from pyspark.sql import functions as F

    return rows.where(F.col("kind") == OUT_REMOVED).select("id")


def activity_count(rows: DataFrame) -> int:
    """How many valid activities the job scored (runs the job unless ``rows`` is persisted)."""
    from pyspark.sql import functions as F

    total = rows.where(F.col("kind") == OUT_COUNT).agg(F.sum("activity_count")).first()
    return int(total[0] or 0) if total is not None else 0


def score_with_rejects(
    activities: DataFrame,
    *,
    as_of: datetime,
    config: ScoringConfig | None = None,
    contacts: DataFrame | None = None,
    partitions: int | None = None,
    names: tuple[str, str] = ("activities", "contacts"),
) -> SparkScores:
    """Scores of the valid rows, and every bad row with the files adapter's message."""
    rows = scored_rows(
        activities,
        as_of=as_of,
        config=config,
        contacts=contacts,
        skip_invalid=True,
        partitions=partitions,
        names=names,
    )
    return SparkScores(published(rows, as_of), rejected(rows))


def score_dataframe(
    activities: DataFrame,
    *,
    as_of: datetime,
    config: ScoringConfig | None = None,
    contacts: DataFrame | None = None,
    partitions: int | None = None,
) -> DataFrame:
    """Score every contact of ``activities`` (the files adapter's activity columns).

    Returns the scores.csv columns, one row per contact. A bad row fails the job
    with the files adapter's message (raised by the action that runs it); use
    :func:`score_with_rejects` to collect bad rows instead. ``contacts`` (columns
    ``id`` and optionally ``email``) adds emails and scores contacts without
    activities, and then an activity of an unknown contact is a bad row.
    ``partitions``: the number of shuffle partitions (default: Spark's, adaptive).
    """
    rows = scored_rows(
        activities, as_of=as_of, config=config, contacts=contacts, partitions=partitions
    )
    return published(rows, as_of)
