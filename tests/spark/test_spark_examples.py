"""examples/spark: the job reads Parquet, scores, writes Parquet; the Databricks job is valid."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
from pyspark.sql import functions as F

from .reference import published_rows, spark_rows
from .test_spark_scores import AS_OF, SAMPLE, read_csv

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "spark"


@pytest.fixture(scope="module")
def job() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutuality_job", EXAMPLE / "mutuality_job.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["mutuality_job"] = module
    spec.loader.exec_module(module)
    return module


def test_the_job_reads_parquet_scores_and_writes_parquet_equal_to_the_core(
    spark, job, tmp_path, session_time_zone
):
    lake = tmp_path / "lake"
    activities = read_csv(spark, SAMPLE / "activities.csv").withColumn(
        "occurred_at", F.to_timestamp("occurred_at")
    )  # a lake keeps times as TIMESTAMP
    activities.write.parquet(str(lake / "activities"))
    read_csv(spark, SAMPLE / "contacts.csv").write.parquet(str(lake / "contacts"))
    out = tmp_path / "scores"
    job.main(["--input", str(lake / "activities"), "--contacts", str(lake / "contacts"),
              "--output", str(out), "--as-of", AS_OF.isoformat()])  # fmt: skip
    assert spark_rows(spark.read.parquet(str(out))) == published_rows(SAMPLE, AS_OF)


def test_the_databricks_job_runs_the_example_with_arguments_it_accepts(job):
    definition = json.loads((EXAMPLE / "databricks_job.json").read_text())
    (task,) = definition["tasks"]
    python_task = task["spark_python_task"]
    assert python_task["python_file"].endswith("/mutuality_job.py")
    args = job.arguments(python_task["parameters"])
    assert args.input.endswith("activities") and args.output.endswith("mutuality_scores")
    assert args.sync == "hubspot" and args.skip_invalid
    assert definition["max_concurrent_runs"] == 1  # one sync per CRM at a time
    assert "{{secrets/" in task["new_cluster"]["spark_env_vars"]["HUBSPOT_ACCESS_TOKEN"]
