"""The files adapter's outputs: never over an input, written only by a real sync, repaired.

Each test drives a whole sync (files in, SQLite state) the way ``mutuality sync``
does, because these are promises about what a run leaves on disk.
"""

from __future__ import annotations

import csv
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from mutuality_adapters.files import connect, plugin
from mutuality_adapters.sqlite_state import SQLiteStateStore

from mutuality_core.errors import ConfigError
from mutuality_core.sync import RunReport, SyncOptions, run_sync, score_connection

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)
HEADER = "id,contact_id,occurred_at,channel,direction\n"


def make_folder(path: Path, contacts: int = 6, bad_row: bool = False) -> Path:
    path.mkdir(exist_ok=True)
    rows = []
    for i in range(contacts):
        for j in range(i % 3 + 1):
            sent = (AS_OF - timedelta(days=30 + 7 * j)).strftime("%Y-%m-%dT%H:%M:%SZ")
            rows.append(f"o{i}-{j},c{i},{sent},email,outbound")
            if (i + j) % 2:
                rows.append(f"i{i}-{j},c{i},{sent},email,inbound")
    if bad_row:
        rows.append("bad,c0,not a time,email,outbound")
    (path / "contacts.csv").write_text(
        "id,email\n" + "".join(f"c{i},c{i}@x.com\n" for i in range(contacts))
    )
    (path / "activities.csv").write_text(HEADER + "\n".join(rows) + "\n")
    return path


def sync(folder: Path, state: Path, *, dry_run: bool = False, **settings) -> RunReport:
    connection = connect(folder, **settings)
    store = SQLiteStateStore(state)
    try:
        return run_sync(
            connection,
            store,
            as_of=AS_OF,
            now=lambda: AS_OF,
            options=SyncOptions(dry_run=dry_run),
        )
    finally:
        connection.close()
        store.close()


def score_ids(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as f:
        return [row["id"] for row in csv.DictReader(f)]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return make_folder(tmp_path / "crm")


# -- item 1: an output path that names an input file is refused, nothing is replaced ---------


@pytest.mark.parametrize("name", ["activities.csv", "contacts.csv", "contacts.jsonl"])
@pytest.mark.parametrize("setting", ["output", "rejects"])
def test_an_output_that_is_an_input_file_is_refused_and_the_input_kept(
    folder, tmp_path, setting, name
):
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(ConfigError, match=rf"adapters\.files\.{setting} .* is the input file"):
        sync(folder, tmp_path / "s.sqlite", skip_invalid=True, **{setting: folder / name})
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_an_input_reached_through_another_name_is_refused(folder, tmp_path):
    (tmp_path / "link.csv").symlink_to(folder / "activities.csv")
    os.link(folder / "contacts.csv", tmp_path / "hard.csv")
    with pytest.raises(ConfigError, match="is the input file"):
        connect(folder, output=tmp_path / "link.csv")
    with pytest.raises(ConfigError, match="is the input file"):
        connect(folder, rejects=tmp_path / "hard.csv")
    with pytest.raises(ConfigError, match="is the input file"):
        connect(folder, output=f"{folder}/../crm/./activities.csv")


def test_output_and_rejects_cannot_be_one_file(folder, tmp_path):
    with pytest.raises(ConfigError, match=r"output and adapters\.files\.rejects are the same"):
        connect(folder, output=tmp_path / "x.csv", rejects=tmp_path / "x.csv")


def test_an_existing_file_that_is_not_a_rejects_file_is_refused(folder, tmp_path):
    other = tmp_path / "notes.csv"
    other.write_text("id,note\n1,keep me\n")
    with pytest.raises(ConfigError, match="exists but is not a rejects file"):
        connect(folder, rejects=other)
    assert other.read_text() == "id,note\n1,keep me\n"


def test_an_existing_csv_with_an_id_column_is_not_taken_for_a_scores_file(folder, tmp_path):
    other = tmp_path / "people.csv"
    other.write_text("id,name\n1,Ann\n")
    with pytest.raises(ConfigError, match="not a scores file"):
        connect(folder, output=other)
    assert other.read_text() == "id,name\n1,Ann\n"


# -- item 8: score and --dry-run write no rejects file ----------------------------------------


def test_score_and_dry_run_leave_the_rejects_file_alone(tmp_path):
    folder = make_folder(tmp_path / "crm", bad_row=True)
    rejects = folder / "rejects.csv"
    connection = connect(folder, skip_invalid=True)
    assert len(list(score_connection(connection, None, as_of=AS_OF))) == 6
    assert not rejects.exists()
    report = sync(folder, tmp_path / "s.sqlite", dry_run=True, skip_invalid=True)
    assert report.rejected == 1 and report.changed == 6
    assert not rejects.exists() and not (folder / "scores.csv").exists()
    # an earlier real sync's rejects file is not replaced by a dry run either
    sync(folder, tmp_path / "s.sqlite", skip_invalid=True)
    assert len(rejects.read_text().splitlines()) == 2
    (folder / "activities.csv").write_text(
        (folder / "activities.csv").read_text().replace("not a time", "2026-05-01T00:00:00Z")
    )
    sync(folder, tmp_path / "s.sqlite", dry_run=True, skip_invalid=True)
    assert len(rejects.read_text().splitlines()) == 2
    sync(folder, tmp_path / "s.sqlite", skip_invalid=True)
    assert rejects.read_text().splitlines() == ["file,line,error,record"]


# -- item 10: unknown settings are refused ------------------------------------------------


def test_a_mistyped_setting_is_refused_with_the_known_ones(folder):
    with pytest.raises(ConfigError, match=r"unknown files setting\(s\): outptu; allowed: path,"):
        plugin.connect({"path": str(folder), "outptu": "/x.csv"}, environ={})


def test_another_adapters_shared_setting_is_ignored_with_a_warning(folder, caplog):
    connection = plugin.connect({"path": str(folder), "max_requests": 100}, environ={})
    assert connection.writer.path == folder.resolve() / "scores.csv"
    assert "max_requests setting does not apply to the files adapter" in caplog.text


# -- item 4: a folder that cannot be written stops the run with a next step ----------------


def test_an_output_folder_that_cannot_be_written_is_a_config_error(folder, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    real_access = os.access

    def read_only(path, mode, **kwargs):  # what a read-only mount answers, even for root
        if Path(path) == out and mode & os.W_OK:
            return False
        return real_access(path, mode, **kwargs)

    monkeypatch.setattr("mutuality_adapters.files.writer.os.access", read_only)
    with pytest.raises(ConfigError, match=r"the folder .*out is not writable; make it writable"):
        sync(folder, tmp_path / "s.sqlite", output=out / "scores.csv")
    assert not list(out.iterdir())
    # the rejects file is written last, so its folder is checked before any score is written too
    with pytest.raises(ConfigError, match=r"out is not writable; .* \(flag --rejects\)"):
        sync(folder, tmp_path / "s.sqlite", skip_invalid=True, rejects=out / "sub" / "r.csv")
    assert not (folder / "scores.csv").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to a read-only folder")
def test_a_read_only_output_folder_is_refused_before_writing(folder, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        with pytest.raises(ConfigError, match="is not writable"):
            sync(folder, tmp_path / "s.sqlite", output=out / "scores.csv")
    finally:
        out.chmod(0o755)


def test_a_failing_disk_is_a_typed_error_naming_the_file(folder, tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("mutuality_adapters.files.writer.os.fsync", full)
    with pytest.raises(ConfigError, match=r"cannot write .*scores\.csv: No space left on device; "
                       "free some disk space"):  # fmt: skip
        sync(folder, tmp_path / "s.sqlite")
    assert not (folder / "scores.csv").exists() and not list(folder.glob(".*tmp"))


# -- item 7: a damaged scores file is repaired by the next sync -------------------------------


@pytest.mark.parametrize("damage", ["header only", "empty"])
def test_a_damaged_scores_file_is_rewritten_whole(folder, tmp_path, damage):
    state = tmp_path / "s.sqlite"
    sync(folder, state)
    scores = folder / "scores.csv"
    full = scores.read_text()
    scores.write_text(full.splitlines(True)[0] if damage == "header only" else "")
    report = sync(folder, state)
    assert report.written == 6
    assert scores.read_text() == full


def test_rows_of_contacts_removed_from_the_folder_are_dropped(folder, tmp_path):
    state = tmp_path / "s.sqlite"
    sync(folder, state)
    contacts = folder / "contacts.csv"
    contacts.write_text(contacts.read_text().replace("c5,c5@x.com\n", ""))
    activities = folder / "activities.csv"
    activities.write_text(
        "".join(line for line in activities.read_text().splitlines(True) if ",c5," not in line)
    )
    report = sync(folder, state)
    assert report.written == 0  # nobody else changed, yet the file is brought up to date
    assert score_ids(folder / "scores.csv") == ["c0", "c1", "c2", "c3", "c4"]


def test_rows_of_contacts_whose_row_was_skipped_are_kept(folder, tmp_path):
    state = tmp_path / "s.sqlite"
    sync(folder, state, skip_invalid=True)
    contacts = folder / "contacts.csv"
    contacts.write_text(contacts.read_text().replace("c5,c5@x.com\n", "c5,c5@x.com,extra\n"))
    activities = folder / "activities.csv"
    activities.write_text(
        "".join(line for line in activities.read_text().splitlines(True) if ",c5," not in line)
    )
    sync(folder, state, skip_invalid=True)
    assert "c5" in score_ids(folder / "scores.csv")  # back as soon as the row is fixed


def test_the_writer_lists_the_ids_it_holds(folder, tmp_path):
    sync(folder, tmp_path / "s.sqlite")
    scores = folder / "scores.csv"
    lines = scores.read_text().splitlines(True)
    scores.write_text("".join(line for line in lines if not line.startswith("c2,")))
    connection = connect(folder)
    assert connection.writer.stored_ids() == frozenset({"c0", "c1", "c3", "c4", "c5"})
