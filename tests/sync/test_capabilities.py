"""Every first-party adapter and store is what the engine takes it for.

The sync asks ``isinstance(writer, FinishingWriter)`` (and so on) instead of probing
attribute names; these tests hold each implementation to the Protocols it is used as,
and to none it is not (a capability offered by accident changes what a sync does).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from mutuality_adapters.files import connect as connect_files
from mutuality_adapters.sqlite_state import SQLiteStateStore
from mutuality_testkit.memory import MemoryCrm

from mutuality_core.ports import (
    ContactCache,
    CountingStateStore,
    DecisionPages,
    DeduplicatingSource,
    FinishingWriter,
    OnePassWriter,
    RewritableWriter,
    ScoreWriter,
    Source,
    StateStore,
    StateStoreAdmin,
    StoredIdsWriter,
    StoredScoresWriter,
    WrittenHistory,
    WrittenScore,
)
from mutuality_core.sync import DiffingSource, ScoringSource

WRITTEN = WrittenScore(
    contact_id="c1",
    score=50.0,
    band="mutual",
    lean=0.0,
    strength=10.0,
    confidence=0.5,
    reasons="",
    scored_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
    algorithm="mutuality-2.0",
)
WRITER_CAPABILITIES = (
    StoredIdsWriter,
    StoredScoresWriter,
    FinishingWriter,
    RewritableWriter,
    OnePassWriter,
)


def _capabilities(obj: object, candidates: tuple[type, ...]) -> set[type]:
    return {protocol for protocol in candidates if isinstance(obj, protocol)}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "contacts.csv").write_text("id\nc1\n")
    (tmp_path / "activities.csv").write_text(
        "id,contact_id,occurred_at,channel,direction\na1,c1,2026-01-01T00:00:00Z,email,inbound\n"
    )
    return tmp_path


def test_files_adapter(folder: Path) -> None:
    connection = connect_files(folder)
    source, writer = connection.source, connection.writer
    assert isinstance(source, Source)
    assert isinstance(source, DeduplicatingSource) and source.unique_activities is True
    assert isinstance(source, ScoringSource)
    assert not isinstance(source, DiffingSource)
    assert isinstance(writer, ScoreWriter)
    assert _capabilities(writer, WRITER_CAPABILITIES) == set(WRITER_CAPABILITIES)
    assert isinstance(writer, RewritableWriter) and writer.needs_full_rewrite is True  # no file yet
    connection.close()


@pytest.fixture
def hubspot() -> Iterator[object]:
    from mutuality_adapters.hubspot import plugin
    from mutuality_adapters.hubspot.fake import running_fake_hubspot

    with running_fake_hubspot() as server:
        settings = {"base_url": server.base_url, "search_lag_seconds": 0}
        connection = plugin.connect(settings, environ={"HUBSPOT_ACCESS_TOKEN": "pat-na1-test"})
        yield connection
        connection.close()


def test_hubspot_adapter(hubspot) -> None:
    source, writer = hubspot.source, hubspot.writer
    assert isinstance(source, Source) and not source.complete_history
    assert not isinstance(source, (DeduplicatingSource, ScoringSource, DiffingSource))
    assert isinstance(writer, ScoreWriter)
    # stored_scores serves `mutuality verify`; without stored_ids a sync never lists the CRM
    assert _capabilities(writer, WRITER_CAPABILITIES) == {StoredScoresWriter, FinishingWriter}


@pytest.fixture
def salesforce() -> Iterator[object]:
    pytest.importorskip("simple_salesforce")
    from mutuality_adapters.salesforce import plugin
    from mutuality_adapters.salesforce.fake import FakeSalesforce

    with FakeSalesforce() as fake:
        connection = plugin.connect({}, environ=fake.environ())
        yield connection
        connection.close()


def test_salesforce_adapter(salesforce) -> None:
    source, writer = salesforce.source, salesforce.writer
    assert isinstance(source, Source) and not source.complete_history
    assert not isinstance(source, (DeduplicatingSource, ScoringSource, DiffingSource))
    assert isinstance(writer, ScoreWriter)
    assert _capabilities(writer, WRITER_CAPABILITIES) == {StoredScoresWriter, FinishingWriter}


def test_sqlite_state_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mutuality_adapters.sqlite_state import store as store_module

    store = SQLiteStateStore(tmp_path / "state.sqlite")
    try:
        for protocol in (StateStore, CountingStateStore, ContactCache, WrittenHistory):
            assert isinstance(store, protocol), protocol.__name__
        assert isinstance(store, StateStoreAdmin)
        # a large written table is served as a view that pages out in bulk
        store.record_written("files:x", [WRITTEN])
        monkeypatch.setattr(store_module, "_WRITTEN_DICT_LIMIT", 0)
        written = store.written("files:x")
        assert isinstance(written, DecisionPages)
        assert list(written.decision_pages(10)) == [[("c1", 50.0, "mutual", "mutuality-2.0")]]
    finally:
        store.close()


def test_small_written_values_are_a_plain_mapping(tmp_path: Path) -> None:
    """Below the view's size the store hands out a dict: the engine then pages it itself."""
    store = SQLiteStateStore(tmp_path / "state.sqlite")
    try:
        store.record_written("files:x", [WRITTEN])
        written = store.written("files:x")
        assert not isinstance(written, DecisionPages)
        assert dict(written) == {"c1": WRITTEN}
    finally:
        store.close()


def test_testkit_memory_crm() -> None:
    connection = MemoryCrm().connection()
    assert isinstance(connection.source, Source)
    assert isinstance(connection.writer, ScoreWriter)
    assert not _capabilities(connection.writer, WRITER_CAPABILITIES)


def test_spark_source_diffs_where_the_data_lives() -> None:
    pytest.importorskip("pyspark")
    from mutuality_spark.source import SparkSource

    assert issubclass(SparkSource, DiffingSource)
    assert not issubclass(SparkSource, ScoringSource)


def test_adapter_plugins_offer_the_optional_parts_the_cli_reads():
    """`config show` names token variables, `setup`/`fake` mount commands, a run names its
    rejects file: each through a Protocol, so a plugin without one is simply skipped."""
    from mutuality_adapters.files import plugin as files_plugin
    from mutuality_adapters.hubspot import plugin as hubspot_plugin
    from mutuality_adapters.salesforce import plugin as salesforce_plugin

    from mutuality_core.ports import CommandProvider, DocumentedEnvironment

    for crm in (hubspot_plugin, salesforce_plugin):
        assert isinstance(crm, DocumentedEnvironment)
        assert isinstance(crm, CommandProvider)
        assert set(crm.commands()) <= {"setup", "fake"}
    assert not isinstance(files_plugin, DocumentedEnvironment)
    assert not isinstance(files_plugin, CommandProvider)


def test_the_files_source_names_its_rejects_file(tmp_path: Path):
    from mutuality_core.ports import RejectsFileSource

    (tmp_path / "contacts.csv").write_text("id,email,name\nc1,a@example.com,A\n")
    (tmp_path / "activities.csv").write_text(
        "id,contact_id,occurred_at,channel,direction\na1,c1,2026-01-01T00:00:00Z,email,outbound\n"
    )
    source = connect_files(tmp_path).source
    assert isinstance(source, RejectsFileSource)
    assert Path(source.rejects_path) == tmp_path / "rejects.csv"
