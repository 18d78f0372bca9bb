"""A large target's written values are read in pages (id, score, band, algorithm) for a diff."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from mutuality_adapters.sqlite_state import SQLiteStateStore, store

from mutuality_core.ports import WrittenScore

T = "hubspot:portal-1"
AT = datetime(2026, 6, 30, tzinfo=timezone.utc)


def test_decision_pages_hold_every_value_once_in_id_order(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "_WRITTEN_DICT_LIMIT", 2)  # the lazy view of large targets
    with SQLiteStateStore(tmp_path / "state.sqlite") as state:
        values = [
            WrittenScore(f"c{n}", float(n), "mutual" if n % 2 else "dormant", 0.0, 1.0, 0.5,
                         "r", AT, "mutuality-2.0")
            for n in (5, 1, 4, 2, 3)
        ]  # fmt: skip
        state.record_written(T, values)
        state.record_written("other:target", [WrittenScore("x", 1.0, "mutual", 0, 0, 0, "", AT)])
        written = state.written(T)
        assert not isinstance(written, dict)
        pages = list(written.decision_pages(2))
        assert [len(p) for p in pages] == [2, 2, 1]
        assert [tuple(row) for page in pages for row in page] == [
            (f"c{n}", float(n), "mutual" if n % 2 else "dormant", "mutuality-2.0")
            for n in (1, 2, 3, 4, 5)
        ]


def test_the_spark_source_ships_dicts_and_views_alike(tmp_path, monkeypatch):
    pytest.importorskip("pyarrow")
    from mutuality_spark.source import _slices

    monkeypatch.setattr(store, "_WRITTEN_DICT_LIMIT", 2)
    with SQLiteStateStore(tmp_path / "state.sqlite") as state:
        values = [WrittenScore(f"c{n}", n + 0.5, "mutual", 0, 0, 0, "", AT) for n in range(3)]
        state.record_written(T, values)
        as_view = [t.to_pylist() for t in _slices(state.written(T), {"c1"})]
        as_dict = [t.to_pylist() for t in _slices({v.contact_id: v for v in values}, {"c1"})]
    expected = [
        {"contact_id": f"c{n}", "score": n + 0.5, "band": "mutual", "algorithm": None,
         "forced": n == 1}
        for n in range(3)
    ]  # fmt: skip
    assert as_view == as_dict == [expected]
