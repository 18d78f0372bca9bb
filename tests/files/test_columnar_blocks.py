"""The columnar engine reads a file block by block: results must not depend on the blocks."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

pytest.importorskip("pyarrow")

from mutuality_adapters.files import columnar, connect
from mutuality_adapters.sqlite_state import SQLiteStateStore

from mutuality_core.errors import InvalidInputError
from mutuality_core.sync import SyncOptions, run_sync

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)


def crm(folder: Path, *, bad: bool) -> Path:
    """Rows of several contacts interleaved; repeats and faults far apart in the file."""
    folder.mkdir()
    (folder / "contacts.csv").write_text(
        "id,email\n" + "".join(f"c{i},p{i}@x.com\n" for i in range(12))
    )
    lines = ["id,contact_id,occurred_at,channel,direction,outcome,thread_id,tags"]
    for n in range(400):
        moment = AS_OF - timedelta(hours=7 * n % 2000)  # many same-instant pairs
        lines.append(
            f"a{n % 150},c{n % 12},{moment:%Y-%m-%dT%H:%M:%SZ},"
            f"{('email', 'call', 'meeting', 'message')[n % 4]},"
            f"{('outbound', 'inbound', 'mutual')[n % 3]},{('', 'no_answer')[n % 5 == 0]},"
            f"t{n % 9},{('', 'ask', 'give')[n % 3]}"
        )
    if bad:
        lines.insert(250, "x1,c1,2026-05-01 10:00,email,outbound,,t1,")
        lines.insert(30, "x2,c99,2026-05-01T10:00:00Z,email,outbound,,t1,")
        # spellings the column checks leave to the row parser, which accepts them
        lines.insert(120, "y1, c2 ,2026-05-01T10:00:00.5Z,email,outbound,,t1,ask")
        lines.insert(330, "y2,c3,2026-05-01T12:00:00+0200,Call,Inbound,,,")
    (folder / "activities.csv").write_text("\n".join(lines) + "\n")
    return folder


def run(folder: Path, state: Path, engine: str, **settings: object):
    with SQLiteStateStore(state) as store:
        return run_sync(
            connect(folder, **settings),  # type: ignore[arg-type]
            store,
            as_of=AS_OF,
            now=lambda: AS_OF,
            options=SyncOptions(engine=engine),
        )


def text(path: Path) -> list[list[str]]:
    with path.open(newline="") as f:
        return list(csv.reader(f))


@pytest.mark.parametrize("block", [64, 1000, 2**20])
def test_blocks_of_any_size_give_the_row_parsers_scores_and_rejects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    monkeypatch.setattr(columnar, "BLOCK_BYTES", block)
    reference = crm(tmp_path / "python", bad=True)
    engine = crm(tmp_path / "columnar", bad=True)
    expected = run(reference, tmp_path / "p.sqlite", "python", skip_invalid=True)
    got = run(engine, tmp_path / "c.sqlite", "columnar", skip_invalid=True)
    assert got.activities_read == expected.activities_read
    assert [(r.where, r.error) for r in got.rejections] == [
        (r.where, r.error) for r in expected.rejections
    ]
    assert any("duplicate activity id" in r.error for r in got.rejections)
    assert text(engine / "scores.csv") == text(reference / "scores.csv")
    assert text(engine / "rejects.csv") == text(reference / "rejects.csv")


def test_the_first_bad_row_stops_a_strict_read_as_the_row_parser_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(columnar, "BLOCK_BYTES", 64)
    messages = []
    for engine in ("python", "columnar"):
        with pytest.raises(InvalidInputError) as caught:
            run(crm(tmp_path / engine, bad=True), tmp_path / f"{engine}.sqlite", engine)
        messages.append(str(caught.value).replace(str(tmp_path / engine), "DIR"))
    assert messages[0] == messages[1]
    assert "activities.csv:" in messages[0]
