"""mutuality_spark: score a whole CRM's activities on Apache Spark (extra ``spark``).

Each partition runs the same scoring as ``mutuality score`` (the files adapter's
validation, the core's model), so Spark and single-machine results are identical.

    from mutuality_spark import score_dataframe
    scores = score_dataframe(spark.read.parquet("s3://lake/activities"), as_of=now)
"""

from __future__ import annotations

from mutuality_core.errors import MissingDependencyError

try:
    import pyarrow  # noqa: F401
    import pyspark  # noqa: F401
except ImportError as error:  # one line naming the extra, not a traceback
    missing = "pyarrow" if getattr(error, "name", "") == "pyarrow" else "pyspark"
    raise MissingDependencyError(missing, "spark") from None

from .frames import REJECT_COLUMNS, SCORE_COLUMNS, SparkScores, score_dataframe, score_with_rejects
from .session import spark_session

__all__ = [
    "REJECT_COLUMNS",
    "SCORE_COLUMNS",
    "SparkScores",
    "score_dataframe",
    "score_with_rejects",
    "spark_session",
]
