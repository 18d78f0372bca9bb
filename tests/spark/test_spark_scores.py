"""Spark scores equal the single-process scores, field by field, under any session time zone."""

from __future__ import annotations

import csv
import importlib.util
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from mutuality_adapters.files.rows import ACTIVITY_COLUMNS, CONTACT_COLUMNS
from mutuality_spark import score_dataframe, score_with_rejects
from mutuality_spark.frames import job_errors, scored_rows
from pyspark.sql import functions as F

from mutuality_core.errors import InvalidInputError

from .reference import core_scores, published_rows, spark_rows

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "sample_crm"
AS_OF = datetime(2026, 6, 30, 12, 30, tzinfo=timezone.utc)  # the sample CRM's end


def read_csv(spark, path: Path):
    return spark.read.csv(str(path), header=True, escape='"')


@pytest.fixture(scope="module")
def seeded_crm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded CRM of about 200,000 activities, written with the sample generator."""
    spec = importlib.util.spec_from_file_location(
        "generate_sample_crm", ROOT / "examples" / "generate_sample_crm.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["generate_sample_crm"] = module
    spec.loader.exec_module(module)
    folder = tmp_path_factory.mktemp("crm200k")
    people, activities, _ = module.generate(seed=20261207, contacts=3_800)
    module.write_csv(folder / "contacts.csv", CONTACT_COLUMNS, people)
    module.write_csv(folder / "activities.csv", ACTIVITY_COLUMNS, activities)
    assert len(activities) >= 200_000, len(activities)
    return folder


def test_sample_crm_scores_equal_the_core_in_every_published_field(spark, session_time_zone):
    expected = published_rows(SAMPLE, AS_OF)
    frame = score_dataframe(
        read_csv(spark, SAMPLE / "activities.csv"),
        as_of=AS_OF,
        contacts=read_csv(spark, SAMPLE / "contacts.csv"),
    )
    got = spark_rows(frame)
    assert len({row[3] for row in expected.values()}) >= 4  # a spread of bands, not one
    assert got.keys() == expected.keys()
    for cid, row in expected.items():
        assert got[cid] == row, cid


def test_exact_values_for_writers_equal_the_core(spark):
    """HubSpot and Salesforce publish more digits than scores.csv: those come through exactly."""
    expected = core_scores(SAMPLE, AS_OF)
    rows = scored_rows(read_csv(spark, SAMPLE / "activities.csv"), as_of=AS_OF)
    got = {r["id"]: r for r in rows.where(F.col("kind") == "s").collect()}
    with_activities = {cid for cid, (_, s) in expected.items() if s.activity_count}
    assert with_activities <= got.keys()
    for cid in with_activities:
        score, row = expected[cid][1], got[cid]
        assert (row["exact_score"], row["exact_lean"], row["exact_strength"]) == (
            score.score, score.lean, score.strength), cid  # fmt: skip
        assert row["exact_confidence"] == score.confidence
        assert tuple(row["exact_reasons"]) == score.reasons
        assert row["algorithm"] == score.algorithm


def test_seeded_200k_crm_equals_the_core_with_timestamps_as_text_and_as_timestamps(
    spark, seeded_crm, session_time_zone
):
    expected = published_rows(seeded_crm, AS_OF)
    activities = read_csv(spark, seeded_crm / "activities.csv")
    contacts = read_csv(spark, seeded_crm / "contacts.csv")
    as_text = spark_rows(score_dataframe(activities, as_of=AS_OF, contacts=contacts))
    assert as_text == expected
    # a lake table keeps occurred_at as TIMESTAMP: read back under the session zone
    typed = activities.withColumn("occurred_at", F.to_timestamp("occurred_at"))
    assert dict(typed.dtypes)["occurred_at"] == "timestamp"
    assert spark_rows(score_dataframe(typed, as_of=AS_OF, contacts=contacts)) == expected


def _write(path: Path, header: tuple[str, ...], rows: list[list[str]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


BAD_ROWS = [
    ["a1", "c1", "2024-06-01T10:00:00Z", "email", "outbound", "", "", "", "", ""],
    ["a2", "c1", "2024-06-01 10:00", "email", "inbound", "", "", "", "", ""],
    ["a3", "c1", "2024-06-02T10:00:00Z", "fax", "inbound", "", "", "", "", ""],
    ["a4", "c2", "2024-06-02T10:00:00Z", "call", "sideways", "", "", "", "", ""],
    ["a5", "c2", "2024-06-02T10:00:00Z", "call", "inbound", "", "", "-5", "", ""],
    ["a1", "c1", "2024-06-03T10:00:00Z", "email", "inbound", "", "", "", "", ""],
    ["a6", "c9", "2024-06-03T10:00:00Z", "email", "inbound", "", "", "", "", ""],
    ["", "c2", "2024-06-03T10:00:00Z", "email", "inbound", "", "", "", "maybe", ""],
    ["a7", "c2", "2024-06-04T10:00:00Z", "meeting", "inbound", "", "", "", "", ""],
]


@pytest.fixture
def bad_folder(tmp_path: Path) -> Path:
    _write(tmp_path / "contacts.csv", ("id", "email"), [["c1", "a@x.example"], ["c2", ""]])
    _write(tmp_path / "activities.csv", ACTIVITY_COLUMNS, BAD_ROWS)
    return tmp_path


def _files_adapter_rejections(folder: Path) -> list[str]:
    from mutuality_adapters.files import connect

    connection = connect(folder, skip_invalid=True, workers=1)
    try:
        errors = []
        for page in connection.source.read(None):
            errors.extend(r.error for r in page.rejected)
        return sorted(errors)
    finally:
        connection.close()


def test_bad_rows_come_out_as_rejects_with_the_files_adapter_messages(spark, bad_folder):
    result = score_with_rejects(
        read_csv(spark, bad_folder / "activities.csv"),
        as_of=AS_OF,
        contacts=read_csv(spark, bad_folder / "contacts.csv"),
        names=("activities.csv", "contacts.csv"),
    )
    rejects = result.rejects.collect()
    expected = _files_adapter_rejections(bad_folder)
    assert len(expected) == 7
    assert sorted(r["error"] for r in rejects) == expected
    assert all(r["file"] == "activities.csv" for r in rejects)
    # the record is the row as CSV text, so it can be fixed and fed again
    assert any(r["record"].startswith("a3,c1,") for r in rejects)
    # the good rows are scored: c1 (a1) and c2 (a7), nothing dropped silently
    scores = {r["id"]: r["activity_count"] for r in result.scores.collect()}
    assert scores == {"c1": 1, "c2": 1}


def test_without_collecting_rejects_a_bad_row_fails_the_job_with_its_message(spark, bad_folder):
    frame = score_dataframe(read_csv(spark, bad_folder / "activities.csv"), as_of=AS_OF)
    with pytest.raises(Exception, match=r"InvalidInputError: activities row '.+': ") as info:
        frame.collect()
    assert "--skip-invalid" in str(info.value)
    # the library's helper turns the job failure back into the typed error
    with (
        pytest.raises(InvalidInputError, match=r"^activities row '.+': .+--skip-invalid"),
        job_errors(),
    ):
        frame.collect()


def test_missing_required_columns_are_named(spark):
    frame = spark.createDataFrame([("a1", "c1")], ["id", "contact_id"])
    with pytest.raises(InvalidInputError, match="occurred_at, channel, direction"):
        score_dataframe(frame, as_of=AS_OF)


def test_timestamps_without_a_time_zone_are_refused_with_the_fix(spark):
    frame = spark.createDataFrame(
        [("a1", "c1", datetime(2024, 6, 1, 10), "email", "inbound")],
        "id string, contact_id string, occurred_at timestamp_ntz, channel string, direction string",
    )
    with pytest.raises(InvalidInputError, match="to_utc_timestamp"):
        score_dataframe(frame, as_of=AS_OF)
