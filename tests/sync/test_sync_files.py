"""The engine on the embedded defaults: a folder of files in, scores.csv out, state in SQLite."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import attrs
import pytest
from mutuality_adapters.files import connect
from mutuality_adapters.sqlite_state import SQLiteStateStore

from mutuality_core.errors import ConfigError, InvalidInputError
from mutuality_core.model import Band, MutualityScore
from mutuality_core.ports import WrittenScore
from mutuality_core.sync import (
    SyncOptions,
    explain_contact,
    is_material_change,
    run_sync,
    score_connection,
    score_source,
)

pytestmark = pytest.mark.usefixtures("files_engine")

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)
HEADER = "id,contact_id,occurred_at,channel,direction,outcome,thread_id\n"


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_folder(path: Path, contacts: int = 9) -> Path:
    rows = []
    for i in range(contacts):
        for j in range(i % 4 + 1):
            sent = AS_OF - timedelta(days=60 - 5 * j)
            rows.append(f"o{i}-{j},c{i},{iso(sent)},email,outbound,,t{i}-{j}")
            if (i + j) % 3:
                rows.append(
                    f"i{i}-{j},c{i},{iso(sent + timedelta(hours=8))},email,inbound,,t{i}-{j}"
                )
    (path / "contacts.csv").write_text(
        "id,email,first_name\n" + "".join(f"c{i},c{i}@x.com,N{i}\n" for i in range(contacts))
    )
    (path / "activities.csv").write_text(HEADER + "\n".join(rows) + "\n")
    return path


def scores_file(path: Path) -> dict[str, dict[str, str]]:
    with (path / "scores.csv").open(newline="") as f:
        return {row["id"]: row for row in csv.DictReader(f)}


@pytest.fixture
def folder(tmp_path):
    data = tmp_path / "crm"
    data.mkdir()
    return make_folder(data)


@pytest.fixture
def state(tmp_path):
    store = SQLiteStateStore(tmp_path / "state.db")
    yield store
    store.close()


def clock():
    moments = iter(AS_OF + timedelta(seconds=i) for i in range(10_000))
    return lambda: next(moments)


class CountingWriter:
    """Wraps the files writer: counts writes per contact and can crash after N batches."""

    def __init__(self, inner, crash_after: int | None = None, batch_size: int = 2):
        self.inner = inner
        self.batch_size = batch_size
        self.crash_after = crash_after
        self.calls = 0
        self.counts: Counter[str] = Counter()

    @property
    def needs_full_rewrite(self):
        return self.inner.needs_full_rewrite

    def write(self, updates):
        if self.crash_after is not None and self.calls >= self.crash_after:
            raise OSError("killed mid-write")
        self.calls += 1
        results = self.inner.write(updates)
        self.counts.update(r.contact_id for r in results if r.ok)
        return results

    def close(self):
        self.inner.close()


def sync(folder, state, writer=None, **options):
    conn = connect(folder, skip_invalid=options.pop("skip_invalid", False))
    if writer is not None:
        writer.inner = conn.writer
        conn = attrs.evolve(conn, writer=writer)
    return run_sync(
        conn, state, as_of=options.pop("as_of", AS_OF), now=clock(), options=SyncOptions(**options)
    )


def test_first_sync_writes_every_contact_and_the_second_writes_nothing(folder, state):
    first = sync(folder, state)
    assert first.status == "ok" and first.full
    assert first.contacts_read == first.contacts_scored == first.written == 9
    rows = scores_file(folder)
    assert set(rows) == {f"c{i}" for i in range(9)}
    assert rows["c3"]["email"] == "c3@x.com"
    second = sync(folder, state)
    assert second.written == 0 and second.changed == 0 and second.unchanged == 9
    assert scores_file(folder) == rows


@pytest.mark.parametrize("min_score_change", [1, 101])
def test_adding_one_activity_rewrites_only_that_contact_if_it_moved(
    folder, state, min_score_change
):
    sync(folder, state)
    before = state.written(f"files:{folder.resolve()}")
    with (folder / "activities.csv").open("a") as f:
        f.write(f"late,c3,{iso(AS_OF - timedelta(days=1))},email,inbound,,\n")
    scores = {c.id: s for c, s in score_source(connect(folder).source, as_of=AS_OF)}
    assert is_material_change(scores["c3"], before["c3"])  # a reply does move c3
    assert not any(is_material_change(scores[c], before[c]) for c in scores if c != "c3")
    # with a threshold of 101 points only a band change counts
    moved = is_material_change(scores["c3"], before["c3"], min_score_change)
    writer = CountingWriter(None)
    report = sync(folder, state, writer, min_score_change=min_score_change)
    assert dict(writer.counts) == ({"c3": 1} if moved else {})
    assert report.written == int(moved) and report.unchanged == 9 - int(moved)
    rows = scores_file(folder)
    expected = scores["c3"].score if moved else before["c3"].score
    assert rows["c3"]["score"] == str(round(expected))
    assert len(rows) == 9  # the file still holds every contact


def test_killed_mid_write_then_rerun_writes_every_score_exactly_once(folder, state):
    writer = CountingWriter(None, crash_after=2)
    with pytest.raises(OSError, match="killed mid-write"):
        sync(folder, state, writer)
    target = f"files:{folder.resolve()}"
    assert len(state.written(target)) == 4 and len(scores_file(folder)) == 4
    run = state.runs(target)[0]
    assert run["status"] == "error" and "killed mid-write" in run["report"]["error"]
    rerun = CountingWriter(None)
    report = sync(folder, state, rerun)
    assert report.written == 5 and report.unchanged == 4
    total = writer.counts + rerun.counts
    assert dict(total) == {f"c{i}": 1 for i in range(9)}
    assert set(scores_file(folder)) == set(state.written(target)) == set(total)


def test_deleted_scores_file_is_rewritten_in_full(folder, state):
    sync(folder, state)
    (folder / "scores.csv").unlink()
    again = sync(folder, state)
    assert again.written == 9 and again.repaired_by_reason == {"missing": 9}
    assert len(scores_file(folder)) == 9


def test_dry_run_writes_no_file_and_records_nothing(folder, state):
    report = sync(folder, state, dry_run=True)
    assert report.dry_run and report.changed == 9 and report.written == 0
    target = f"files:{folder.resolve()}"
    assert not (folder / "scores.csv").exists()
    assert len(state.written(target)) == 0 and state.get_cursor(target) is None
    assert state.runs(target)[0]["report"]["dry_run"] is True


def test_min_score_change_zero_rewrites_everything(folder, state):
    sync(folder, state)
    assert sync(folder, state, min_score_change=0).written == 9


def test_invalid_input_stops_before_writing_anything(folder, state):
    with (folder / "activities.csv").open("a") as f:
        f.write("bad,c1,2026-01-01T10:00:00,email,outbound,,\n")
    with pytest.raises(InvalidInputError, match=r"activities\.csv:\d+: occurred_at"):
        sync(folder, state)
    assert not (folder / "scores.csv").exists()
    assert state.runs()[0]["status"] == "error"


def test_skipped_rows_are_counted_in_the_report(folder, state):
    with (folder / "activities.csv").open("a") as f:
        f.write(
            "bad,c1,2026-01-01T10:00:00,email,outbound,,\nworse,c404,2026-01-01T10:00:00Z,email,outbound,,\n"
        )
    report = sync(folder, state, skip_invalid=True)
    assert report.rejected == 2 and report.written == 9
    assert [r["error"][:12] for r in report.to_dict()["rejections"]] == [
        "occurred_at ",
        "contact_id '",
    ]
    assert len((folder / "rejects.csv").read_text().splitlines()) == 3
    assert json.loads(json.dumps(report.to_dict()))["rejected"] == 2


def test_score_and_explain_match_what_sync_writes(folder, state):
    conn = connect(folder)
    scored = {c.id: s for c, s in score_connection(conn, None, as_of=AS_OF)}
    sync(folder, state)
    rows = scores_file(folder)
    assert {cid: str(round(s.score)) for cid, s in scored.items()} == {
        cid: r["score"] for cid, r in rows.items()
    }
    contact, result = explain_contact(conn, state, "c2", as_of=AS_OF)
    assert contact.first_name == "N2" and result == scored["c2"]
    assert result.components and result.reasons
    with pytest.raises(InvalidInputError, match="no contact with id 'nobody'"):
        explain_contact(conn, state, "nobody", as_of=AS_OF)


def test_naive_as_of_is_refused(folder, state):
    with pytest.raises(ValueError, match="timezone-aware"):
        sync(folder, state, as_of=datetime(2026, 1, 1))


# -- the materiality rule -----------------------------------------------------------------


def result(score: float, band: str) -> MutualityScore:
    return MutualityScore("c", score, 0.0, 10.0, band, 0.5, (), (), "a", AS_OF)


def written(score: float, band: str) -> WrittenScore:
    return WrittenScore("c", score, band, 0.0, 10.0, 0.5, "", AS_OF)


@pytest.mark.parametrize(
    ("new", "old", "threshold", "expected"),
    [
        (result(50, "mutual"), None, 1, True),  # never written
        (result(50.4, "mutual"), written(49.6, "mutual"), 1, False),  # same rounded value
        (result(50.6, "mutual"), written(50.4, "mutual"), 1, True),  # rounded moves by 1
        (result(53, "mutual"), written(50, "mutual"), 5, False),
        (result(55, "mutual"), written(50, "mutual"), 5, True),
        (result(50, Band.DORMANT), written(50, "mutual"), 100, True),  # a band change always
        (result(50, "mutual"), written(50, "mutual"), 0, True),  # 0 means always write
    ],
)
def test_is_material_change(new, old, threshold, expected):
    assert is_material_change(new, old, threshold) is expected


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch_size": 0}, "batch_size must be a whole number >= 1"),
        ({"batch_size": 2.5}, "batch_size must be a whole number >= 1"),
        ({"min_score_change": -1}, "min_score_change must be a number >= 0"),
        ({"min_score_change": float("nan")}, "min_score_change must be a number >= 0"),
    ],
)
def test_bad_options_are_config_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        SyncOptions(**options)


def test_an_activity_repeated_across_pages_counts_once():
    from mutuality_core.model import Activity, Contact
    from mutuality_core.ports import Page
    from mutuality_core.scoring import score_contact

    history = [
        Activity("a1", "c1", AS_OF - timedelta(days=3), "email", "outbound", thread_id="t"),
        Activity("a2", "c1", AS_OF - timedelta(days=2), "email", "inbound", thread_id="t"),
    ]

    class Repeating:
        complete_history = True

        def read(self, cursor):
            yield Page(contacts=[Contact("c1")], activities=history)
            yield Page(activities=history[1:])  # a page boundary delivered a2 again

    ((_, scored),) = list(score_source(Repeating(), as_of=AS_OF))
    assert scored == score_contact(history, as_of=AS_OF, contact_id="c1")
    assert scored.activity_count == 2


def test_the_library_leaves_the_garbage_collector_alone(folder, state, monkeypatch):
    """No gc call in a sync, a scoring or an explanation: the host's collector is its own."""
    import gc

    calls = []
    for name in ("disable", "enable", "freeze", "unfreeze", "collect", "set_threshold"):
        monkeypatch.setattr(gc, name, lambda *args, _name=name: calls.append(_name))
    sync(folder, state)
    list(score_source(connect(folder).source, as_of=AS_OF))
    contact, _ = explain_contact(connect(folder), state, "c0", as_of=AS_OF)  # stops early
    (folder / "activities.csv").write_text(HEADER + "x,c1,bad,email,outbound,,\n")
    with pytest.raises(InvalidInputError):
        sync(folder, state)
    assert contact.id == "c0"
    assert calls == []


def test_a_score_row_deleted_by_hand_is_written_again(folder, state):
    assert sync(folder, state).written == 9
    path = folder / "scores.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(line for line in lines if not line.startswith("c4,")))
    again = sync(folder, state)
    assert again.written == 1 and "c4" in scores_file(folder)
    assert again.repairs == (("c4", "missing"),) and again.changed == 0
    assert sync(folder, state).written == 0


def test_verify_compares_the_scores_file_with_the_state(folder, state):
    from mutuality_core.reconcile import verify_connection

    sync(folder, state)
    clean = verify_connection(connect(folder), state)
    assert (clean.in_sync, clean.missing, clean.edited, clean.differs) == (9, 0, 0, False)
    rows = list(csv.reader((folder / "scores.csv").open(newline="")))
    band = rows[0].index("band")
    rows[1][band] = "dormant" if rows[1][band] != "dormant" else "mutual"  # edited by hand
    rows = [row for row in rows if row[0] != "c4"]  # deleted by hand
    with (folder / "scores.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    drifted = verify_connection(connect(folder), state)
    assert (drifted.in_sync, drifted.edited, drifted.gone) == (7, 1, 1)
    assert drifted.examples["edited"] == (rows[1][0],) and drifted.differs
    repaired = sync(folder, state)
    assert set(repaired.repairs) == {(rows[1][0], "edited"), ("c4", "missing")}
    assert repaired.changed == 0 and repaired.written == 2
    assert verify_connection(connect(folder), state).in_sync == 9


def test_scores_written_by_an_older_algorithm_are_rewritten_as_outdated(folder, state):
    sync(folder, state)
    target = connect(folder).target
    old = [attrs.evolve(w, algorithm="mutuality-0.9") for w in state.written(target).values()]
    state.record_written(target, old)
    report = sync(folder, state)
    assert report.repaired_by_reason == {"outdated": 9} and report.written == 9
    assert {w.algorithm for w in state.written(target).values()} != {"mutuality-0.9"}
    assert sync(folder, state).written == 0


def test_contacts_removed_from_the_source_are_forgotten(folder, state):
    sync(folder, state)
    contacts = (folder / "contacts.csv").read_text().splitlines(keepends=True)
    (folder / "contacts.csv").write_text("".join(c for c in contacts if not c.startswith("c8,")))
    activities = (folder / "activities.csv").read_text().splitlines(keepends=True)
    (folder / "activities.csv").write_text("".join(a for a in activities if ",c8," not in a))
    target = connect(folder).target
    assert "c8" in state.written(target)
    report = sync(folder, state)
    assert report.written == 0 and report.failed == 0
    assert "c8" not in state.written(target) and "c8" not in scores_file(folder)
