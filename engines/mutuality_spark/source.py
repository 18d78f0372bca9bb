"""A sync source that scores in Spark: only the contacts whose score changed reach the driver.

:class:`SparkSource` is a :class:`~mutuality_core.sync.DiffingSource`. ``run_sync``
hands it the values last written to the CRM; they are shipped into the job, each
partition decides with :func:`~mutuality_core.sync.write_decision` which of its
scores changed, and the driver then pulls only those, one partition at a time
(``toLocalIterator``), into the engine's ordinary write loop: the adapter's batches,
each recorded in the state store before the next, quota stops, resume.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from mutuality_core.config import ScoringConfig
from mutuality_core.errors import ConfigError
from mutuality_core.model import Contact, MutualityScore
from mutuality_core.ports import Cursor, DecisionPages, Page, Rejection, WrittenScore
from mutuality_core.sync import DiffedRead
from mutuality_core.timestamps import from_epoch_microseconds

from .frames import activity_count, job_errors, rejected, removed, scored_rows
from .partition import OUT_SCORE

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["SparkSource"]

log = logging.getLogger(__name__)

#: Written values go into the job in slices of this many rows (bounded driver memory).
WRITTEN_SLICE = 500_000


class SparkSource:
    """Activities (and optionally contacts) as Spark DataFrames, scored and diffed in Spark."""

    complete_history = True

    def __init__(
        self,
        spark: SparkSession,
        activities: DataFrame,
        *,
        contacts: DataFrame | None = None,
        skip_invalid: bool = False,
        partitions: int | None = None,
        names: tuple[str, str] = ("activities", "contacts"),
        staging: str | None = None,
    ) -> None:
        self.spark = spark
        self.activities = activities
        self.contacts = contacts
        self.skip_invalid = skip_invalid
        self.partitions = partitions
        self.names = names
        self.staging = staging

    def read(self, cursor: Cursor | None) -> Iterator[Page]:
        raise ConfigError(
            "the Spark engine scores in Spark and only syncs (mutuality sync --engine spark); "
            "to explain one contact, read it with the files adapter"
        )

    def read_diffed(
        self,
        *,
        as_of: datetime,
        config: ScoringConfig,
        written: Mapping[str, WrittenScore],
        forced: Collection[str],
        min_score_change: float,
        progress: Callable[[int], None] | None = None,
    ) -> DiffedRead:
        from pyspark import StorageLevel
        from pyspark.sql import functions as F

        staging, scratch = self.staging, None
        if staging is None and _local_master(self.spark):
            staging = scratch = tempfile.mkdtemp(prefix="mutuality-written-")
        rows = scored_rows(
            self.activities,
            as_of=as_of,
            config=config,
            contacts=self.contacts,
            written=written_frame(self.spark, written, forced, staging),
            skip_invalid=self.skip_invalid,
            min_score_change=min_score_change,
            partitions=self.partitions,
            names=self.names,
        ).persist(StorageLevel.MEMORY_AND_DISK)
        with job_errors():
            summary = (
                rows.where(F.col("kind") == OUT_SCORE).groupBy("band", "changed").count().collect()
            )
        bands: Counter[str] = Counter()
        unchanged = changed = 0
        for row in summary:
            bands[row["band"]] += row["count"]
            if row["changed"]:
                changed += row["count"]
            else:
                unchanged += row["count"]
        activities = activity_count(rows)
        if progress is not None:
            progress(activities)
        rejections = tuple(
            Rejection(r["file"], r["error"]) for r in rejected(rows).toLocalIterator()
        )
        gone = [r["id"] for r in removed(rows).toLocalIterator()]
        log.info(
            "spark: %d contacts scored, %d changed, %d unchanged, %d rejected row(s)",
            changed + unchanged,
            changed,
            unchanged,
            len(rejections),
        )
        return DiffedRead(
            contacts_read=changed + unchanged,
            activities_read=activities,
            changed=_changed(rows, as_of, scratch),
            unchanged=unchanged,
            band_counts=dict(bands),
            removed=gone,
            rejections=rejections,
        )


def _changed(
    rows: DataFrame, as_of: datetime, scratch: str | None
) -> Iterator[tuple[Contact, MutualityScore]]:
    """The changed scores, pulled one partition at a time; the job's cache is freed after."""
    from pyspark.sql import functions as F

    try:
        wanted = rows.where((F.col("kind") == OUT_SCORE) & F.col("changed"))
        for row in wanted.toLocalIterator():
            yield Contact(row["id"], email=row["email"]), _score(row, as_of)
    finally:
        rows.unpersist()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _score(row: Any, as_of: datetime) -> MutualityScore:
    """The score as the partition computed it (components stay there: writers publish none)."""
    last = row["exact_last_activity_us"]
    return MutualityScore(
        contact_id=row["id"],
        score=row["exact_score"],
        lean=row["exact_lean"],
        strength=row["exact_strength"],
        band=row["band"],
        confidence=row["exact_confidence"],
        reasons=tuple(row["exact_reasons"]),
        components=(),
        algorithm=row["algorithm"],
        as_of=as_of,
        activity_count=row["activity_count"],
        last_activity_at=None if last is None else from_epoch_microseconds(last),
    )


_WRITTEN_SCHEMA = "contact_id string, score double, band string, algorithm string, forced boolean"


def _decision_rows(
    written: Mapping[str, WrittenScore],
) -> Iterator[list[tuple[str, float, str, str | None]]]:
    """(contact id, score, band, algorithm) in pages; a SQLite store's view reads in bulk."""
    if isinstance(written, DecisionPages):
        yield from written.decision_pages(WRITTEN_SLICE)
        return
    items = iter(written.items())
    while chunk := list(islice(items, WRITTEN_SLICE)):
        yield [(cid, w.score, w.band, w.algorithm) for cid, w in chunk]


def _slices(written: Mapping[str, WrittenScore], forced: Collection[str]) -> Iterator[pa.Table]:
    """The written values as Arrow tables of at most WRITTEN_SLICE rows."""
    for page in _decision_rows(written):
        ids, scores, bands, algorithms = zip(*page, strict=True)
        yield pa.table(
            {
                "contact_id": pa.array(ids, pa.string()),
                "score": pa.array(scores, pa.float64()),
                "band": pa.array(bands, pa.string()),
                "algorithm": pa.array(algorithms, pa.string()),
                "forced": pa.array([cid in forced for cid in ids], pa.bool_()),
            }
        )


def written_frame(
    spark: SparkSession,
    written: Mapping[str, WrittenScore],
    forced: Collection[str],
    staging: str | None = None,
) -> DataFrame:
    """The written values as a DataFrame the executors can read.

    Columns: contact_id, score, band, algorithm (what ``write_decision`` reads) and
    ``forced`` (written whatever the score: failed last time, or its output drifted).

    With ``staging`` (a folder or URI the executors can read: a local folder in local
    mode, s3://, gs://, hdfs:// or /dbfs/... on a cluster) they are written there as
    Parquet, slice by slice, so neither the driver's Python nor its JVM holds them all
    (10M values measured at ~1 GiB of driver heap otherwise). Without it they travel
    inside the plan, which needs that much ``spark.driver.memory``.
    """
    if staging is None:
        frame = spark.createDataFrame([], _WRITTEN_SCHEMA)
        for table in _slices(written, forced):
            frame = frame.unionByName(spark.createDataFrame(table.to_pandas(), _WRITTEN_SCHEMA))
        return frame
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    filesystem, root = pafs.FileSystem.from_uri(
        staging if ":/" in staging else str(Path(staging).resolve())
    )
    filesystem.create_dir(root, recursive=True)
    count = 0
    for count, table in enumerate(_slices(written, forced), start=1):
        pq.write_table(table, f"{root}/written-{count:05d}.parquet", filesystem=filesystem)
    if not count:
        return spark.createDataFrame([], _WRITTEN_SCHEMA)
    return spark.read.schema(_WRITTEN_SCHEMA).parquet(staging)


def _local_master(spark: SparkSession) -> bool:
    return str(spark.sparkContext.master).startswith("local")
