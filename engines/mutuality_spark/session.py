"""A SparkSession for the CLI and the examples: master and ``k=v`` settings, nothing hidden."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["spark_session"]

#: Arrow moves the rows between the JVM and Python (the job's partitions go through mapInArrow).
_DEFAULTS = {"spark.sql.execution.arrow.pyspark.enabled": "true"}


def spark_session(
    master: str | None = "local[*]",
    conf: Mapping[str, str] | None = None,
    app_name: str = "mutuality",
) -> SparkSession:
    """Get (or create) the session; ``master=None`` keeps what spark-submit or the cluster set.

    In local mode the Python workers run this interpreter (``PYSPARK_PYTHON`` unset
    would start whatever ``python3`` is first on PATH, which may lack mutuality).
    """
    from pyspark.sql import SparkSession

    if master is not None and master.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if master is not None:
        builder = builder.master(master)
    for key, value in {**_DEFAULTS, **(conf or {})}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
