"""One local[2] SparkSession for the whole test session (starting one costs ~10 s)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    if shutil.which("java") is None:  # .ci/run installs a Java runtime; say so, never skip
        pytest.fail("no Java runtime on PATH: install one (apt-get install default-jre-headless)")
    from mutuality_spark import spark_session

    session = spark_session(
        "local[2]",
        {
            "spark.sql.shuffle.partitions": "4",
            "spark.default.parallelism": "2",
            "spark.ui.enabled": "false",
            "spark.sql.session.timeZone": "UTC",
        },
        app_name="mutuality-tests",
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(params=["UTC", "America/New_York"])
def session_time_zone(request: pytest.FixtureRequest, spark: object) -> Iterator[str]:
    """Run the test under each session time zone (Spark hands Python local wall times)."""
    conf = spark.conf  # type: ignore[attr-defined]
    conf.set("spark.sql.session.timeZone", request.param)
    try:
        yield request.param
    finally:
        conf.set("spark.sql.session.timeZone", "UTC")
