"""Reading and scoring in worker processes gives exactly what one process gives."""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import random
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from mutuality_adapters.files import FilesSource, WorkerFailedError, connect, parallel, plugin
from mutuality_adapters.files.source import AUTO_WORKERS_MIN_BYTES, check_workers
from mutuality_adapters.sqlite_state import SQLiteStateStore

from mutuality_core.config import ScoringConfig
from mutuality_core.errors import ConfigError, InvalidInputError
from mutuality_core.sync import RunReport, run_sync, score_source

pytestmark = pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="workers need fork"
)

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)
COLUMNS = ["id", "contact_id", "occurred_at", "channel", "direction", "outcome",
           "thread_id", "duration_seconds", "automated", "tags"]  # fmt: skip


def generate(folder: Path, contacts: int = 300, activities: int = 6000, seed: int = 3) -> Path:
    """A shuffled CRM with skewed histories, ids shared across contacts and padded contact ids."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "contacts.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "email", "first_name"])
        for i in range(contacts):
            w.writerow([f"c{i}", f"p{i}@example.com", f"N{i}"])
    start = AS_OF - timedelta(days=400)
    shared: set[int] = set()
    owners = rng.choices(
        range(contacts), weights=[1 + i % 7 for i in range(contacts)], k=activities
    )
    with (folder / "activities.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for n, owner in enumerate(owners):
            channel = rng.choice(["email", "email", "call", "meeting", "note"])
            contact = f"c{owner}" if n % 97 else f" c{owner} "  # a few padded ids
            activity_id = f"a{n}"
            if n % 50 == 0 and owner not in shared:  # one meeting id for many contacts
                activity_id = "shared-meeting"
                shared.add(owner)
            w.writerow([
                activity_id,
                contact,
                (start + timedelta(minutes=rng.randrange(400 * 1440))).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                ),
                channel,
                rng.choice(["outbound", "inbound", "mutual"]),
                rng.choice(["", "", "completed", "no_answer"]),
                f"t{owner}-{rng.randrange(5)}" if channel == "email" else "",
                str(rng.randrange(60, 900)) if channel in ("call", "meeting") else "",
                "true" if rng.random() < 0.05 else "",
                "ask" if rng.random() < 0.1 else "",
            ])  # fmt: skip
    return folder


def append_rows(folder: Path, rows: list[list[str]]) -> None:
    with (folder / "activities.csv").open("a", newline="") as f:
        csv.writer(f).writerows(rows)


def sync(folder: Path, workers: int | str, state: Path, **settings: object) -> RunReport:
    store = SQLiteStateStore(state)
    try:
        return run_sync(
            connect(folder, workers=workers, **settings),  # type: ignore[arg-type]
            store,
            as_of=AS_OF,
            now=lambda: datetime(2026, 6, 1, 1, tzinfo=timezone.utc),
        )
    finally:
        store.close()


def without_scored_at(path: Path) -> list[list[str]]:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    column = rows[0].index("scored_at")
    return [row[:column] + row[column + 1 :] for row in rows]


def quote_everything(folder: Path) -> None:
    """Rewrite activities.csv with every field quoted: workers then split rows with csv.reader."""
    path = folder / "activities.csv"
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    with path.open("w", newline="") as f:
        csv.writer(f, quoting=csv.QUOTE_ALL).writerows(rows)


@pytest.fixture(params=["plain", "quoted"])
def layout(request: pytest.FixtureRequest) -> str:
    """Plain CSV (workers pick their lines unparsed) or quoted CSV (every row parsed)."""
    return str(request.param)


def twin_folders(tmp_path: Path, layout: str = "plain") -> tuple[Path, Path]:
    one = generate(tmp_path / "one")
    if layout == "quoted":
        quote_everything(one)
    assert parallel._is_plain_csv(one / "activities.csv") is (layout == "plain")
    two = tmp_path / "two"
    shutil.copytree(one, two)
    return one, two


def no_children_left() -> bool:
    return not multiprocessing.active_children()


def test_workers_give_the_same_scores_as_one_process(tmp_path, layout):
    one, _ = twin_folders(tmp_path, layout)
    config = ScoringConfig()
    single = list(score_source(FilesSource(one, workers=1), as_of=AS_OF, scoring=config))
    read = FilesSource(one, workers=2).read_scored(as_of=AS_OF, config=config)
    assert read is not None
    assert read.contacts_read == len(single) == 300
    assert [(c.id, repr(s)) for c, s in read.scores] == [(c.id, repr(s)) for c, s in single]
    assert [s for _, s in read.scores] == [s for _, s in single]
    assert read.activities_read == sum(s.activity_count for _, s in single) == 6000
    assert no_children_left()


def test_a_sync_with_workers_writes_the_same_file_and_report(tmp_path, layout):
    one, two = twin_folders(tmp_path, layout)
    a = sync(one, 1, tmp_path / "a.sqlite")
    b = sync(two, 2, tmp_path / "b.sqlite")
    assert without_scored_at(one / "scores.csv") == without_scored_at(two / "scores.csv")
    keep = ("contacts_read", "activities_read", "contacts_scored", "changed", "written",
            "band_counts", "rejected", "status")  # fmt: skip
    assert {k: a.to_dict()[k] for k in keep} == {k: b.to_dict()[k] for k in keep}
    assert b.written == 300 and b.activities_read == 6000
    again = sync(two, 2, tmp_path / "b.sqlite")  # a no-change sync with workers
    assert again.changed == 0 and again.unchanged == 300


def test_the_earliest_bad_row_stops_the_run_with_the_same_error(tmp_path, layout):
    one, two = twin_folders(tmp_path, layout)
    for folder in (one, two):  # bad rows for contacts of both partitions; c1's comes first
        append_rows(folder, [
            ["late", "c0", "not a time", "email", "outbound", "", "", "", "", ""],
            ["early", "c1", "2026-01-01T00:00:00Z", "fax", "outbound", "", "", "", "", ""],
        ])  # fmt: skip
        lines = (folder / "activities.csv").read_text().splitlines()
        lines.insert(3000, lines.pop())  # move c1's bad row up, before c0's
        (folder / "activities.csv").write_text("\n".join(lines) + "\n")
    errors = []
    for folder, workers in ((one, 1), (two, 2)):
        with pytest.raises(InvalidInputError) as caught:
            sync(folder, workers, tmp_path / f"{workers}.sqlite")
        errors.append(str(caught.value).replace(str(folder), "FOLDER"))
        assert not (folder / "scores.csv").exists()
    assert errors[0] == errors[1]
    assert "activities.csv:3001: " in errors[0] and "fax" in errors[0]
    assert no_children_left()


def test_skipped_rows_are_the_same_rejects_in_file_order(tmp_path, layout):
    one, two = twin_folders(tmp_path, layout)
    bad = [
        ["x1", "c1", "2026-01-01T00:00:00Z", "fax", "outbound", "", "", "", "", ""],
        ["x2", "nobody", "2026-01-01T00:00:00Z", "email", "outbound", "", "", "", "", ""],
        ["a10", "c2", "2026-01-01T00:00:00Z", "email", "outbound", "", "", "", "", ""],
        ["x3", "c0", "yesterday", "email", "outbound", "", "", "", "", ""],
        ["x4", "c3", "2026-01-01T00:00:00Z", "email"],
        [],
        ["x5", "", "2026-01-01T00:00:00Z", "email", "inbound", "", "", "", "", ""],
    ]
    for folder in (one, two):
        append_rows(folder, bad)
    a = sync(one, 1, tmp_path / "a.sqlite", skip_invalid=True)
    b = sync(two, 2, tmp_path / "b.sqlite", skip_invalid=True)
    assert a.rejected == b.rejected >= 5
    assert a.rejections == b.rejections
    assert (one / "rejects.csv").read_text() == (two / "rejects.csv").read_text()
    lines = [int(r.where.split(":")[1]) for r in b.rejections]
    assert lines == sorted(lines)
    assert without_scored_at(one / "scores.csv") == without_scored_at(two / "scores.csv")


@pytest.mark.parametrize("workers", [1, 2])
def test_a_repeated_activity_of_one_contact_is_caught_in_any_partition(tmp_path, workers):
    folder = generate(tmp_path / "crm")
    # c1 and c2 sit in different partitions; the repeat of c2's row uses a padded id
    append_rows(folder, [
        ["dup", "c1", "2026-01-01T00:00:00Z", "email", "outbound", "", "", "", "", ""],
        ["dup", "c2", "2026-01-01T00:00:00Z", "email", "outbound", "", "", "", "", ""],
        ["dup", " c2", "2026-01-02T00:00:00Z", "email", "inbound", "", "", "", "", ""],
    ])  # fmt: skip
    with pytest.raises(
        InvalidInputError, match=r"activities.csv:6004: duplicate activity id 'dup'"
    ):
        sync(folder, workers, tmp_path / "s.sqlite")


def test_one_id_for_contacts_in_different_partitions_is_fine(tmp_path):
    one, two = twin_folders(tmp_path)
    for folder in (one, two):
        append_rows(folder, [
            ["together", "c1", "2026-01-01T00:00:00Z", "meeting", "mutual", "", "", "", "", ""],
            ["together", "c2", "2026-01-01T00:00:00Z", "meeting", "mutual", "", "", "", "", ""],
        ])  # fmt: skip
    a = sync(one, 1, tmp_path / "a.sqlite")
    b = sync(two, 2, tmp_path / "b.sqlite")
    assert a.activities_read == b.activities_read == 6002
    assert without_scored_at(one / "scores.csv") == without_scored_at(two / "scores.csv")


def test_a_worker_that_dies_becomes_a_typed_error(tmp_path, monkeypatch):
    folder = generate(tmp_path / "crm", contacts=20, activities=200)

    def die(*args, **kwargs):
        os._exit(3)

    monkeypatch.setattr(parallel, "score_histories", die)  # inherited by the forked workers
    with pytest.raises(WorkerFailedError, match="died with exit code 3"):
        sync(folder, 2, tmp_path / "s.sqlite")
    assert not (folder / "scores.csv").exists()
    assert no_children_left()


def test_a_worker_bug_becomes_a_typed_error_with_its_traceback(tmp_path, monkeypatch):
    folder = generate(tmp_path / "crm", contacts=20, activities=200)

    def broken(*args, **kwargs):
        raise RuntimeError("scorer exploded")

    monkeypatch.setattr(parallel, "score_histories", broken)
    with pytest.raises(WorkerFailedError, match=r"(?s)scorer exploded.*workers = 1"):
        sync(folder, 2, tmp_path / "s.sqlite")
    assert no_children_left()


def test_workers_setting(tmp_path):
    folder = generate(tmp_path / "crm", contacts=20, activities=200)
    assert check_workers("auto") == "auto" and check_workers(" 2 ") == 2 and check_workers(1) == 1
    for wrong in ("0", 0, "two", -1, True, 1.5):
        with pytest.raises(ConfigError, match="workers"):
            check_workers(wrong)  # type: ignore[arg-type]
    source = plugin.connect({"path": str(folder), "workers": "2"}, environ={}).source
    assert isinstance(source, FilesSource) and source.workers == 2
    # a small file stays in this process with auto; workers = 1 always does
    assert (folder / "activities.csv").stat().st_size < AUTO_WORKERS_MIN_BYTES
    auto = FilesSource(folder)
    assert auto.read_scored(as_of=AS_OF, config=ScoringConfig()) is None
    assert FilesSource(folder, workers=1).read_scored(as_of=AS_OF, config=ScoringConfig()) is None


def test_an_interrupt_stops_the_workers(tmp_path, monkeypatch):
    folder = generate(tmp_path / "crm", contacts=20, activities=200)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(parallel, "wait", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sync(folder, 2, tmp_path / "s.sqlite")
    assert no_children_left()
    assert not (folder / "scores.csv").exists()


def test_json_lines_input_gives_the_same_scores_with_workers(tmp_path):
    folder = generate(tmp_path / "crm", contacts=60, activities=900)
    with (folder / "activities.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    (folder / "activities.csv").unlink()
    (folder / "activities.jsonl").write_text(
        "".join(json.dumps({k: v for k, v in row.items() if v}) + "\n" for row in rows)
    )
    config = ScoringConfig()
    single = list(score_source(FilesSource(folder, workers=1), as_of=AS_OF, scoring=config))
    read = FilesSource(folder, workers=2).read_scored(as_of=AS_OF, config=config)
    assert read is not None and read.activities_read == 900
    assert [(c.id, repr(s)) for c, s in read.scores] == [(c.id, repr(s)) for c, s in single]


def test_plain_csv_detection(tmp_path):
    path = tmp_path / "activities.csv"
    path.write_bytes(b"id,contact_id\r\na1,c1\r\n")
    assert parallel._is_plain_csv(path)
    path.write_bytes(b'id,contact_id\na1,"c1"\n')
    assert not parallel._is_plain_csv(path)
    path.write_bytes(b"id,contact_id\ra1,c1\r")  # old Mac line ends
    assert not parallel._is_plain_csv(path)


def _score_in_a_daemon(folder: str, queue: multiprocessing.SimpleQueue) -> None:
    read = FilesSource(folder, workers=2).read_scored(as_of=AS_OF, config=ScoringConfig())
    queue.put(read is None)


def test_a_daemon_process_reads_in_one_process(tmp_path):
    folder = generate(tmp_path / "crm", contacts=20, activities=200)
    context = multiprocessing.get_context("fork")
    queue = context.SimpleQueue()
    daemon = context.Process(target=_score_in_a_daemon, args=(str(folder), queue), daemon=True)
    daemon.start()
    daemon.join(30)
    assert daemon.exitcode == 0
    assert queue.get() is True  # fell back instead of failing to start workers


def test_workers_report_progress_while_they_read(tmp_path, monkeypatch):
    folder = generate(tmp_path / "crm", contacts=300, activities=40_000)
    # both are inherited by the forked workers: smaller chunks, and a report per 1,000 rows
    parse = parallel.parse_activities
    monkeypatch.setattr(parallel, "parse_activities", lambda *args: parse(*args, chunk_size=1000))
    monkeypatch.setattr(parallel, "PROGRESS_EVERY", 1000)
    seen: list[int] = []
    read = FilesSource(folder, workers=2).read_scored(
        as_of=AS_OF, config=ScoringConfig(), progress=seen.append
    )
    assert read is not None and read.activities_read == 40_000
    assert len(seen) >= 4  # a report per parsed chunk of rows, from each worker
    assert seen == sorted(seen) and 0 < seen[0] < 40_000 and seen[-1] <= 40_000
    assert no_children_left()


def test_a_stop_requested_during_the_parallel_read_leaves_no_worker(tmp_path, monkeypatch):
    folder = generate(tmp_path / "crm", contacts=300, activities=6000)
    monkeypatch.setattr(parallel, "PROGRESS_EVERY", 1000)

    def stop(done: int) -> None:
        raise KeyboardInterrupt  # what the CLI's safe-point check raises on Ctrl-C

    with pytest.raises(KeyboardInterrupt):
        FilesSource(folder, workers=2).read_scored(
            as_of=AS_OF, config=ScoringConfig(), progress=stop
        )
    assert no_children_left()
