"""mutuality sync through Spark into the fake HubSpot and the fake Salesforce.

Every contact is written once; a rerun writes nothing; a crash between batches or a
quota stop resumes without writing anything twice (the fakes count writes per record).
"""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest
from mutuality_adapters.files.rows import ACTIVITY_COLUMNS
from mutuality_adapters.hubspot.connection import open_connection
from mutuality_adapters.hubspot.fake import RateLimits, running_fake_hubspot
from mutuality_adapters.hubspot.properties import setup_properties
from mutuality_adapters.hubspot.settings import HubSpotSettings
from mutuality_adapters.salesforce import plugin as salesforce
from mutuality_adapters.salesforce.fake import FakeSalesforce
from mutuality_adapters.salesforce.fields import FIELDS
from mutuality_adapters.sqlite_state import SQLiteStateStore
from mutuality_spark.source import SparkSource

from mutuality_core.ports import Connection
from mutuality_core.sync import SyncOptions, run_sync

ROOT = Path(__file__).resolve().parents[2]
AS_OF = datetime(2026, 6, 30, tzinfo=timezone.utc)  # the generated CRM's end
TOKEN = "pat-na1-00000000-spark-test-token"


def generated_crm(contacts: int) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    spec = importlib.util.spec_from_file_location(
        "generate_sample_crm", ROOT / "examples" / "generate_sample_crm.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["generate_sample_crm"] = module
    spec.loader.exec_module(module)
    people, activities, _ = module.generate(seed=11, contacts=contacts)
    return people, activities


def contacts_frame(spark: Any, people: list[dict[str, str]], ids: dict[str, str]) -> Any:
    """The lake's contact table (a contact without activities is scored and written too)."""
    data = [(ids[p["id"]], p["email"]) for p in people]
    return spark.createDataFrame(data, "id string, email string")


def activities_frame(spark: Any, rows: list[dict[str, str]], ids: dict[str, str]) -> Any:
    """The lake's activity table: contact ids are the CRM's own record ids."""
    data = [
        tuple(ids[r["contact_id"]] if c == "contact_id" else r[c] for c in ACTIVITY_COLUMNS)
        for r in rows
    ]
    return spark.createDataFrame(data, ", ".join(f"{c} string" for c in ACTIVITY_COLUMNS))


class CrashAfter:
    """A writer that dies (like a killed process) before its ``n``-th batch."""

    def __init__(self, writer: Any, batches: int) -> None:
        self.writer, self.left = writer, batches
        self.batch_size = writer.batch_size

    def write(self, updates: Any) -> Any:
        if self.left == 0:
            raise SystemExit("killed between batches")
        self.left -= 1
        return self.writer.write(updates)

    def close(self) -> None:
        self.writer.close()


def spark_sync(connection: Connection, state: Any, source: SparkSource, **options: Any) -> Any:
    try:
        return run_sync(
            attrs.evolve(connection, source=source),
            state,
            as_of=AS_OF,
            now=lambda: AS_OF,
            options=SyncOptions(**options),
        )
    finally:
        connection.close()


# -- HubSpot ---------------------------------------------------------------------------


@pytest.fixture
def hubspot() -> Iterator[Any]:
    with running_fake_hubspot(token=TOKEN) as server:
        settings = HubSpotSettings.from_mapping(
            {"base_url": server.base_url, "search_lag_seconds": 0},
            environ={"HUBSPOT_ACCESS_TOKEN": TOKEN},
        )
        connection = open_connection(settings)
        setup_properties(connection.source.api, settings)
        connection.close()
        server.app.reset_stats()
        server.settings = settings
        yield server


def test_spark_sync_into_hubspot_writes_once_reruns_write_nothing_and_crashes_resume(
    spark, hubspot, tmp_path
):
    people, rows = generated_crm(120)
    ids = {p["id"]: str(hubspot.portal.add_contact({"email": p["email"]})) for p in people}
    source = SparkSource(
        spark, activities_frame(spark, rows, ids), contacts=contacts_frame(spark, people, ids)
    )
    state = SQLiteStateStore(tmp_path / "state.sqlite")

    def connect(**overrides: Any) -> Connection:
        settings = hubspot.settings
        if overrides:
            settings = HubSpotSettings.from_mapping(
                {"base_url": hubspot.base_url, "search_lag_seconds": 0, **overrides},
                environ={"HUBSPOT_ACCESS_TOKEN": TOKEN},
            )
        return open_connection(settings)

    # a crash after two batches of 25: those 50 are recorded, nothing else is
    connection = connect()
    crashing = attrs.evolve(connection, writer=CrashAfter(connection.writer, 2))
    with pytest.raises(SystemExit):
        spark_sync(crashing, state, source, batch_size=25)
    assert sum(hubspot.app.writes_by_contact.values()) == 50
    assert len(state.written(connection.target)) == 50

    # the next run writes the rest, nothing twice
    report = spark_sync(connect(), state, source, batch_size=25)
    with_activities = {r["contact_id"] for r in rows}
    scored = len(people)
    assert report.contacts_scored == scored and report.written == scored - 50
    assert report.activities_read == len(rows) and report.rejected == 0
    assert dict(hubspot.app.writes_by_contact) == {ids[p["id"]]: 1 for p in people}
    assert sum(report.band_counts.values()) == scored and len(report.band_counts) >= 3
    props = hubspot.portal.get("contacts", int(ids[rows[0]["contact_id"]])).properties
    assert props["mutuality_band"] and props["mutuality_reasons"]
    assert with_activities  # the CRM has history to score

    # a rerun with nothing new writes nothing and counts every contact unchanged
    again = spark_sync(connect(), state, source)
    assert again.written == 0 and again.changed == 0 and again.unchanged == scored
    assert sum(hubspot.app.writes_by_contact.values()) == scored


def test_a_quota_stop_in_the_writes_resumes_without_double_writes(spark, hubspot, tmp_path):
    people, rows = generated_crm(90)
    ids = {p["id"]: str(hubspot.portal.add_contact({"email": p["email"]})) for p in people}
    source = SparkSource(
        spark, activities_frame(spark, rows, ids), contacts=contacts_frame(spark, people, ids)
    )
    state = SQLiteStateStore(tmp_path / "state.sqlite")
    connection = open_connection(hubspot.settings)
    hubspot.app.limits = RateLimits(per_day=3)  # the portal id and two update batches
    hubspot.app.new_day()
    stopped = spark_sync(connection, state, source, batch_size=20)
    assert stopped.stopped_reason == "quota" and 0 < stopped.written < len(people)
    hubspot.app.limits = RateLimits()
    hubspot.app.new_day()
    finished = spark_sync(open_connection(hubspot.settings), state, source, batch_size=20)
    assert finished.stopped_reason is None
    assert stopped.written + finished.written == len(people)
    assert dict(hubspot.app.writes_by_contact) == {ids[p["id"]]: 1 for p in people}


# -- Salesforce ------------------------------------------------------------------------


@pytest.fixture
def salesforce_org() -> Iterator[FakeSalesforce]:
    with FakeSalesforce() as fake:
        for spec in FIELDS:
            fake.org.add_custom_field(f"Contact.{spec.name}", spec.metadata, visible=True)
        yield fake


def test_spark_sync_into_salesforce_writes_once_and_resumes_after_a_crash(
    spark, salesforce_org, tmp_path
):
    from mutuality_adapters.salesforce.fake import seed_rows

    people, rows = generated_crm(80)
    contacts = [{"id": p["id"], "email": p["email"], "last_name": p["last_name"]} for p in people]
    ids = seed_rows(salesforce_org.org, contacts, [])
    source = SparkSource(
        spark, activities_frame(spark, rows, ids), contacts=contacts_frame(spark, people, ids)
    )
    state = SQLiteStateStore(tmp_path / "state.sqlite")

    def connect() -> Connection:
        return salesforce.connect({"bulk_poll_seconds": 0}, environ=salesforce_org.environ())

    connection = connect()
    crashing = attrs.evolve(connection, writer=CrashAfter(connection.writer, 1))
    with pytest.raises(SystemExit):
        spark_sync(crashing, state, source, batch_size=30)
    assert sum(salesforce_org.org.updates.values()) == 30
    report = spark_sync(connect(), state, source, batch_size=30)
    assert report.written == len(people) - 30 and report.failed == 0
    assert salesforce_org.org.updates == Counter({ids[p["id"]]: 1 for p in people})
    again = spark_sync(connect(), state, source)
    assert again.written == 0 and again.unchanged == len(people)
    assert sum(salesforce_org.org.updates.values()) == len(people)


def test_failed_writes_are_retried_by_the_next_spark_sync(spark, hubspot, tmp_path):
    """A contact the CRM refused is written by the next run although its score is the same."""
    people, rows = generated_crm(40)
    ids = {p["id"]: str(hubspot.portal.add_contact({"email": p["email"]})) for p in people}
    source = SparkSource(
        spark, activities_frame(spark, rows, ids), contacts=contacts_frame(spark, people, ids)
    )
    state = SQLiteStateStore(tmp_path / "state.sqlite")
    stubborn = [ids[p["id"]] for p in people[5:8]]
    hubspot.app.fail_updates(stubborn, times=2)  # the write and its one retry
    first = spark_sync(open_connection(hubspot.settings), state, source)
    assert first.failed == 3 and first.written == len(people) - 3
    again = spark_sync(open_connection(hubspot.settings), state, source)
    assert again.written == 3 and again.failed == 0
    assert again.to_dict()["retried"] == 3
    assert dict(hubspot.app.writes_by_contact) == {ids[p["id"]]: 1 for p in people}
