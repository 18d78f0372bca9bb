"""A sync source that scores in Spark: only the contacts whose score changed reach the driver.

:class:`SparkSource` is a :class:`~mutuality_core.sync.DiffingSource`. ``run_sync``
hands it the values last written to the CRM; they are shipped into the job, each
partition decides with :func:`~mutuality_core.sync.is_material_change` which of its
scores changed, and the driver then pulls only those, one partition at a time
(``toLocalIterator``), into the engine's ordinary write loop: the adapter's batches,
each recorded in the state store before the next, quota stops, resume.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from itertools import islice
from typing import TYPE_CHECKING, Any

from mutuality_core.config import ScoringConfig
from mutuality_core.errors import ConfigError
from mutuality_core.model import Contact, MutualityScore
from mutuality_core.ports import Cursor, Page, Rejection, WrittenScore
from mutuality_core.sync import DiffedRead

from .frames import activity_count, job_errors, rejected, removed, scored_rows
from .partition import OUT_SCORE

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["SparkSource"]

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
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
    ) -> None:
        self.spark = spark
        self.activities = activities
        self.contacts = contacts
        self.skip_invalid = skip_invalid
        self.partitions = partitions
        self.names = names

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
        min_score_change: float,
        progress: Callable[[int], None] | None = None,
    ) -> DiffedRead:
        from pyspark import StorageLevel
        from pyspark.sql import functions as F

        rows = scored_rows(
            self.activities,
            as_of=as_of,
            config=config,
            contacts=self.contacts,
            written=written_frame(self.spark, written),
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
            changed=_changed(rows, as_of),
            unchanged=unchanged,
            band_counts=dict(bands),
            removed=gone,
            rejections=rejections,
        )


def _changed(rows: DataFrame, as_of: datetime) -> Iterator[tuple[Contact, MutualityScore]]:
    """The changed scores, pulled one partition at a time; the job's cache is freed after."""
    from pyspark.sql import functions as F

    try:
        wanted = rows.where((F.col("kind") == OUT_SCORE) & F.col("changed"))
        for row in wanted.toLocalIterator():
            yield Contact(row["id"], email=row["email"]), _score(row, as_of)
    finally:
        rows.unpersist()


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
        last_activity_at=None if last is None else _EPOCH + timedelta(microseconds=last),
    )


def written_frame(spark: SparkSession, written: Mapping[str, WrittenScore]) -> DataFrame:
    """The written values (contact_id, score, band) as a DataFrame, built in slices.

    Reads a SQLite store's values in pages (``iter_items``) rather than one query per id.
    """
    import pyarrow as pa

    schema = "contact_id string, score double, band string"
    items = iter(getattr(written, "iter_items", written.items)())
    frame = spark.createDataFrame([], schema)
    while chunk := list(islice(items, WRITTEN_SLICE)):
        table = pa.table(
            {
                "contact_id": [cid for cid, _ in chunk],
                "score": [float(w.score) for _, w in chunk],
                "band": [w.band for _, w in chunk],
            }
        )
        frame = frame.unionByName(spark.createDataFrame(table.to_pandas(), schema))
    return frame
