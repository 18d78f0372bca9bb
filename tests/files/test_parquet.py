"""Parquet in (activities.parquet) and out (an output named .parquet), as warehouses hand it."""

from __future__ import annotations

import csv
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pv = pytest.importorskip("pyarrow.csv")

from mutuality_adapters.files import connect  # noqa: E402
from mutuality_adapters.sqlite_state import SQLiteStateStore  # noqa: E402

from mutuality_core.errors import InvalidInputError, MissingDependencyError  # noqa: E402
from mutuality_core.sync import run_sync  # noqa: E402

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)


def crm(folder: Path, *, bad: bool = False) -> Path:
    folder.mkdir()
    (folder / "contacts.csv").write_text("id,email\nc1,a@x.com\nc2,b@x.com\nc3,c@x.com\n")
    rows = ["id,contact_id,occurred_at,channel,direction,thread_id,tags"]
    for n in range(30):
        moment = AS_OF - timedelta(days=n * 3, hours=n % 5)
        rows.append(
            f"a{n},c{1 + n % 3},{moment:%Y-%m-%dT%H:%M:%SZ},email,"
            f"{'outbound' if n % 2 else 'inbound'},t{n // 4},{'ask' if n % 7 == 0 else ''}"
        )
    if bad:
        rows.append("a99,c1,yesterday,email,outbound,t1,")
        rows.append("a98,c9,2026-05-01T10:00:00Z,email,outbound,t1,")
    (folder / "activities.csv").write_text("\n".join(rows) + "\n")
    return folder


def as_parquet(folder: Path) -> Path:
    """The folder's activities.csv as activities.parquet (text columns), CSV removed."""
    table = pv.read_csv(
        folder / "activities.csv",
        convert_options=pv.ConvertOptions(
            column_types={n: pa.string() for n in ("id", "occurred_at", "tags", "thread_id")},
            strings_can_be_null=False,
        ),
    )
    pq.write_table(table, folder / "activities.parquet")
    (folder / "activities.csv").unlink()
    return folder


def sync(folder: Path, state: Path, **settings: object):
    with SQLiteStateStore(state) as store:
        return run_sync(
            connect(folder, **settings),  # type: ignore[arg-type]
            store,
            as_of=AS_OF,
            now=lambda: AS_OF,
        )


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_activities_parquet_scores_as_the_csv_does(tmp_path: Path) -> None:
    from_csv = crm(tmp_path / "csv")
    from_parquet = as_parquet(crm(tmp_path / "parquet"))
    sync(from_csv, tmp_path / "a.sqlite")
    report = sync(from_parquet, tmp_path / "b.sqlite")
    assert report.activities_read == 30 and report.written == 3
    assert rows(from_parquet / "scores.csv") == rows(from_csv / "scores.csv")


def test_a_bad_parquet_row_is_named_by_its_row_number(tmp_path: Path) -> None:
    folder = as_parquet(crm(tmp_path / "crm", bad=True))
    with pytest.raises(InvalidInputError, match=r"activities\.parquet:31: occurred_at 'yesterday'"):
        sync(folder, tmp_path / "s.sqlite")
    report = sync(folder, tmp_path / "t.sqlite", skip_invalid=True)
    assert [r.where for r in report.rejections] == [
        "activities.parquet:31",
        "activities.parquet:32",
    ]
    assert "contact_id 'c9' is not in contacts.csv" in report.rejections[1].error
    with (folder / "rejects.csv").open(newline="") as f:
        saved = list(csv.reader(f))
    assert saved[1][:2] == ["activities.parquet", "31"] and "yesterday" in saved[1][3]


def test_scores_parquet_holds_the_scores_file_typed_and_is_updated_in_place(
    tmp_path: Path,
) -> None:
    folder = crm(tmp_path / "crm")
    sync(folder, tmp_path / "csv.sqlite")
    expected = rows(folder / "scores.csv")
    output = tmp_path / "out" / "scores.parquet"
    output.parent.mkdir()
    first = sync(folder, tmp_path / "pq.sqlite", output=output)
    assert first.written == 3
    table = pq.read_table(output)
    assert table.schema.field("score").type == pa.int64()
    assert table.schema.field("lean").type == pa.float64()
    assert table.schema.field("scored_at").type == pa.timestamp("us", tz="UTC")
    got = table.to_pylist()
    assert [r["id"] for r in got] == [r["id"] for r in expected]
    for row, want in zip(got, expected, strict=True):
        assert str(row["score"]) == want["score"] and row["band"] == want["band"]
        assert f"{row['lean']:.2f}" == want["lean"] and row["reasons"] == want["reasons"]
        assert row["last_activity_at"].strftime("%Y-%m-%dT%H:%M:%SZ") == want["last_activity_at"]
    again = sync(folder, tmp_path / "pq.sqlite", output=output)
    assert again.written == 0 and again.unchanged == 3
    assert pq.read_table(output).equals(table)


def test_parquet_without_pyarrow_says_what_to_install(tmp_path: Path, monkeypatch) -> None:
    folder = as_parquet(crm(tmp_path / "crm"))
    for name in [m for m in sys.modules if m.startswith(("pyarrow", "mutuality_columnar"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now fails
    import mutuality_core.engines as engines

    monkeypatch.setattr(engines, "_loaded", {})
    with pytest.raises(MissingDependencyError, match=r"pip install 'mutuality\[fast\]'"):
        sync(folder, tmp_path / "s.sqlite", engine="python")
