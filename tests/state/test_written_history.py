"""The state file keeps, per contact, the run that wrote its value and the value it replaced."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

from mutuality_adapters.sqlite_state import SQLiteStateStore
from mutuality_adapters.sqlite_state.schema import MIGRATIONS, SCHEMA_VERSION

from mutuality_core.ports import WrittenScore

T = "files:/crm"
AT = datetime(2026, 6, 30, tzinfo=timezone.utc)


def _value(contact_id: str, band: str, score: float, lean: float = 0.0) -> WrittenScore:
    return WrittenScore(contact_id, score, band, lean, 50.0, 0.8, "a reason", AT)


def _run(store: SQLiteStateStore, *values: WrittenScore) -> int:
    run_id = store.start_run(T, started_at=AT, options={})
    store.record_written(T, list(values))
    store.finish_run(run_id, finished_at=AT, report={"status": "ok"})
    return run_id


def test_each_value_names_its_run_and_keeps_the_one_it_replaced(tmp_path):
    with SQLiteStateStore(tmp_path / "state.sqlite") as store:
        first = _run(store, _value("c1", "mutual", 80), _value("c2", "dormant", 10))
        second = _run(store, _value("c1", "you_invest_more", 30, -0.7))
        rows = {r["contact_id"]: r for r in store.written_history(T)}
        current = store.written(T)["c1"]  # what the next run diffs against: the new value
    assert rows["c1"]["band"] == "you_invest_more" and rows["c1"]["run_id"] == second
    assert rows["c1"]["previous_band"] == "mutual" and rows["c1"]["previous_score"] == 80
    assert rows["c1"]["previous_run_id"] == first
    assert rows["c2"]["run_id"] == first and rows["c2"]["previous_band"] is None
    assert (current.band, current.score, current.lean) == ("you_invest_more", 30, -0.7)


def test_a_value_written_twice_in_one_run_keeps_the_value_from_before_that_run(tmp_path):
    with SQLiteStateStore(tmp_path / "state.sqlite") as store:
        _run(store, _value("c1", "mutual", 80))
        run_id = store.start_run(T, started_at=AT, options={})
        store.record_written(T, [_value("c1", "dormant", 5)])
        store.record_written(T, [_value("c1", "they_invest_more", 40, 0.6)])
        [row] = store.written_history(T)
    assert (row["band"], row["run_id"]) == ("they_invest_more", run_id)
    assert row["previous_band"] == "mutual"


def test_a_version_1_file_migrates_and_keeps_its_written_values(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.execute(
        "INSERT INTO written VALUES (?, 'c1', 55.0, 'mutual', 0.1, 40.0, 0.9, 'r', ?)",
        (T, AT.isoformat()),
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with SQLiteStateStore(path) as store:
        assert store.written(T)["c1"].band == "mutual"
        [row] = store.written_history(T)
        assert row["run_id"] is None and row["previous_band"] is None
        run_id = _run(store, _value("c1", "dormant", 3))
        [row] = store.written_history(T)
    assert (row["run_id"], row["previous_band"], row["previous_run_id"]) == (run_id, "mutual", None)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_cached_contacts_lists_the_cache_without_activities(tmp_path):
    from mutuality_core.model import Contact
    from mutuality_core.ports import Page

    with SQLiteStateStore(tmp_path / "state.sqlite") as store:
        store.apply_page(T, Page(contacts=[Contact("b", None, "Bo", None, "Acme"), Contact("a")]))
        contacts = store.cached_contacts(T)
    assert [(c.id, c.first_name, c.company) for c in contacts] == [
        ("a", None, None),
        ("b", "Bo", "Acme"),
    ]
