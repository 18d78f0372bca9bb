"""The scores file: a full, importable table that is replaced atomically batch by batch."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from mutuality_adapters.files import SCORE_COLUMNS, ScoresFileWriter, connect

from mutuality_core.errors import ConfigError
from mutuality_core.model import Band, Contact, MutualityScore
from mutuality_core.ports import ScoreUpdate, ScoreWriter

AS_OF = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)


def update(contact_id: str, score: float = 61.6, band: str = "mutual", email: str | None = None):
    result = MutualityScore(
        contact_id=contact_id,
        score=score,
        lean=-0.123,
        strength=40.4,
        band=band,
        confidence=0.876,
        reasons=("They reply to most of your emails", "You met twice"),
        components=(),
        algorithm="test-1",
        as_of=AS_OF,
        activity_count=7,
        last_activity_at=AS_OF - timedelta(days=3),
    )
    return ScoreUpdate(Contact(contact_id, email=email), result, AS_OF)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def writer(tmp_path: Path, ids=("c1", "c2", "c3")) -> ScoresFileWriter:
    return ScoresFileWriter(tmp_path / "scores.csv", lambda: frozenset(ids))


def test_writer_conforms_to_the_port(tmp_path):
    assert isinstance(writer(tmp_path), ScoreWriter)


def test_rows_hold_the_columns_crm_imports_map(tmp_path):
    w = writer(tmp_path)
    results = w.write([update("c1", email="ann@x.com")])
    assert [(r.contact_id, r.ok) for r in results] == [("c1", True)]
    (row,) = rows(tmp_path / "scores.csv")
    assert tuple(row) == SCORE_COLUMNS
    assert row == {
        "id": "c1",
        "email": "ann@x.com",
        "score": "62",
        "band": "mutual",
        "lean": "-0.12",
        "strength": "40",
        "confidence": "0.88",
        "reasons": "They reply to most of your emails; You met twice",
        "scored_at": "2026-03-01T12:00:00Z",
        "algorithm": "test-1",
        "activity_count": "7",
        "last_activity_at": "2026-02-26T12:00:00Z",
    }


def test_file_stays_the_full_table_across_batches_and_runs(tmp_path):
    w = writer(tmp_path)
    w.write([update("c1"), update("c2")])
    w.write([update("c2", score=10, band=Band.YOU_INVEST_MORE)])
    w.close()
    assert [(r["id"], r["score"]) for r in rows(tmp_path / "scores.csv")] == [
        ("c1", "62"),
        ("c2", "10"),
    ]
    again = writer(tmp_path)  # a later run only writes what changed
    assert again.needs_full_rewrite is False
    again.write([update("c3", score=80)])
    assert [r["id"] for r in rows(tmp_path / "scores.csv")] == ["c1", "c2", "c3"]
    assert not list(tmp_path.glob(".*tmp"))  # no temporary file left behind


def test_unknown_contacts_fail_per_record_and_are_never_added(tmp_path):
    w = writer(tmp_path, ids=("c1",))
    results = {r.contact_id: r for r in w.write([update("c1"), update("ghost")])}
    assert results["c1"].ok
    assert not results["ghost"].ok and "not in the contacts file" in results["ghost"].error
    assert [r["id"] for r in rows(tmp_path / "scores.csv")] == ["c1"]


def test_missing_file_asks_for_a_full_rewrite(tmp_path):
    w = writer(tmp_path)
    assert w.needs_full_rewrite is True
    assert w.write([]) == []
    w.write([update("c1")])
    assert w.needs_full_rewrite is False


def test_a_file_that_is_not_a_scores_file_is_not_overwritten(tmp_path):
    (tmp_path / "scores.csv").write_text("name,value\nx,1\n")
    with pytest.raises(ConfigError, match="not a scores file"):  # refused before any work
        writer(tmp_path)
    assert (tmp_path / "scores.csv").read_text() == "name,value\nx,1\n"


def test_failed_replace_keeps_the_previous_file(tmp_path, monkeypatch):
    w = writer(tmp_path)
    w.write([update("c1")])
    before = (tmp_path / "scores.csv").read_text()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("mutuality_adapters.files.writer.os.replace", broken_replace)
    with pytest.raises(ConfigError, match=r"cannot write .*scores\.csv: disk full; fix the cause"):
        w.write([update("c2")])
    assert (tmp_path / "scores.csv").read_text() == before
    assert not list(tmp_path.glob(".*tmp"))


def test_connection_writer_knows_contacts_without_a_prior_read(tmp_path):
    (tmp_path / "contacts.csv").write_text("id,email\nc1,a@x.com\n")
    (tmp_path / "activities.csv").write_text("id,contact_id,occurred_at,channel,direction\n")
    conn = connect(tmp_path)
    results = {r.contact_id: r.ok for r in conn.writer.write([update("c1"), update("c2")])}
    assert results == {"c1": True, "c2": False}
