"""`mutuality runs` and `mutuality state ...` against a real SQLite state file."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from mutuality_adapters.sqlite_state import SQLiteStateStore
from mutuality_cli.main import cli

T0 = datetime(2026, 6, 30, 8, 0, tzinfo=timezone.utc)
T1 = datetime(2026, 6, 30, 8, 1, tzinfo=timezone.utc)


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    path = tmp_path / "state.sqlite"
    store = SQLiteStateStore(path)
    try:
        first = store.start_run("files:/a", started_at=T0, options={"full": True})
        store.finish_run(first, finished_at=T1, report={"status": "ok", "written": 12, "failed": 0})
        second = store.start_run("files:/b", started_at=T1, options={})
        store.finish_run(
            second, finished_at=T1, report={"status": "partial", "written": 3, "failed": 2}
        )
        store.start_run("files:/a", started_at=T1, options={})  # never finished
    finally:
        store.close()
    return path


def test_runs_table_newest_first(runner, state_file):
    result = runner.invoke(cli, ["runs", "--state", str(state_file)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "run_id",
        "target",
        "started_at",
        "finished_at",
        "status",
        "written",
        "repaired",
        "retried",
        "failed",
    ]
    assert lines[2].split()[:2] == ["3", "files:/a"] and "running" in lines[2]
    assert lines[3].split()[:2] == ["2", "files:/b"] and "partial" in lines[3]
    assert lines[4].split()[0] == "1" and lines[4].split()[-3:] == ["ok", "12", "0"]


def test_runs_json_filter_and_limit(runner, state_file):
    result = runner.invoke(
        cli,
        ["runs", "--json", "--target", "files:/a", "--limit", "1"],
        env={"MUTUALITY_STATE": str(state_file)},
    )
    assert result.exit_code == 0, result.output
    [run] = json.loads(result.stdout)
    assert run["id"] == 3 and run["target"] == "files:/a"


def test_runs_without_a_state_file_says_so_and_creates_nothing(runner, tmp_path):
    missing = tmp_path / "none" / "state.sqlite"
    result = runner.invoke(cli, ["runs", "--state", str(missing)])
    assert result.exit_code == 2
    assert "no state file at" in result.stderr and "mutuality sync" in result.stderr
    assert not missing.parent.exists()


def test_state_show_unlock_and_reset(runner, state_file):
    store = SQLiteStateStore(state_file)
    with store.lock("files:/a", owner="test-run"):
        shown = runner.invoke(cli, ["state", "show", "--state", str(state_file), "--json"])
        assert shown.exit_code == 0, shown.output
        targets = {t["target"]: t for t in json.loads(shown.stdout)["targets"]}
        assert targets["files:/a"]["locked_by"]["owner"] == "test-run"
        assert targets["files:/b"]["locked_by"] is None

        unlocked = runner.invoke(cli, ["state", "unlock", "files:/a", "--state", str(state_file)])
        assert unlocked.exit_code == 0
        assert unlocked.stdout == "Removed the lock on files:/a.\n"
        assert store.lock_holder("files:/a") is None
    store.close()

    again = runner.invoke(cli, ["state", "unlock", "files:/a", "--state", str(state_file)])
    assert again.stdout == "No lock on files:/a.\n"

    declined = runner.invoke(
        cli, ["state", "reset", "files:/a", "--state", str(state_file)], input="n\n"
    )
    assert declined.exit_code == 1  # aborted, nothing done
    reset = runner.invoke(cli, ["state", "reset", "files:/a", "--state", str(state_file), "--yes"])
    assert reset.exit_code == 0
    assert "the next sync reads everything" in reset.stdout
    human = runner.invoke(cli, ["state", "show", "--state", str(state_file)])
    assert f"State file {state_file}" in human.stdout
    typo = runner.invoke(cli, ["state", "reset", "files:/c", "--state", str(state_file), "--yes"])
    assert typo.exit_code == 2
    assert "no state for 'files:/c'; known targets: files:/a, files:/b" in typo.stderr


def test_runs_table_says_why_a_run_stopped_and_which_were_dry_runs():
    from mutuality_cli.output import run_row

    base = {"id": 7, "target": "t", "started_at": "2026-06-01T00:00:00+00:00"}
    done = {**base, "finished_at": "2026-06-01T00:01:00+00:00"}
    stopped = {**done, "status": "stopped", "report": {"stopped_reason": "quota"}}
    dry = {**done, "status": "ok", "report": {"dry_run": True, "failed": 0}}
    failed = {**done, "status": "error", "report": {"stopped_reason": "error"}}
    partial = {**done, "status": "partial", "report": {"failed": 3}}
    assert run_row(stopped)["status"] == "stopped: quota"
    assert run_row(dry)["status"] == "dry run"
    assert run_row(failed)["status"] == "error"
    assert run_row(partial)["status"] == "partial"
    assert run_row({**base, "status": "running"})["status"] == "running or interrupted"
    assert run_row({**done, "status": "ok", "report": {}})["status"] == "ok"


def test_lock_expiry_comes_from_the_configuration(runner, tmp_path):
    from datetime import datetime, timedelta, timezone

    folder = tmp_path / "crm"
    folder.mkdir()
    (folder / "contacts.csv").write_text("id\nc1\n")
    (folder / "activities.csv").write_text(
        "id,contact_id,occurred_at,channel,direction\na1,c1,2026-06-01T10:00:00Z,email,outbound\n"
    )
    state_path = tmp_path / "state.sqlite"
    args = ["sync", "--path", str(folder), "--state", str(state_path)]
    assert runner.invoke(cli, args).exit_code == 0
    target = f"files:{folder}"
    store = SQLiteStateStore(state_path)
    heartbeat = (datetime.now(timezone.utc) - timedelta(minutes=10)).isoformat()
    store._db.execute(
        "INSERT INTO locks VALUES (?, ?, ?, ?, ?, ?)",
        (target, "killed pod", "pod-7f9c", 1, heartbeat, heartbeat),
    )
    store.close()
    held = runner.invoke(cli, args)  # default: 2 hours
    assert held.exit_code == 4 and "pod-7f9c" in held.stderr
    expired = runner.invoke(cli, args, env={"MUTUALITY_LOCK_EXPIRES_AFTER": "300"})
    assert expired.exit_code == 0, expired.output
