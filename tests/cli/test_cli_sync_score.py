"""`mutuality sync`, `score` and `explain` end to end: files adapter and fake CRMs."""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cli_fakes import FakePlugin, MemorySource, MemoryWriter
from mutuality_adapters.sqlite_state import SQLiteStateStore
from mutuality_cli.main import cli
from mutuality_cli.progress import StderrProgress, progress_wanted

from mutuality_core.errors import CrmUnavailableError, QuotaExhaustedError
from mutuality_core.model import Activity, Contact
from mutuality_core.ports import Connection

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample_crm"
AS_OF = "2026-06-30T00:00:00Z"
BANDS = {"mutual", "you_invest_more", "they_invest_more", "dormant", "insufficient_data"}


@pytest.fixture
def crm(tmp_path: Path) -> Path:
    folder = tmp_path / "crm"
    folder.mkdir()
    for name in ("contacts.csv", "activities.csv"):
        shutil.copy(SAMPLE / name, folder / name)
    return folder


def test_quick_start_sync_with_no_configuration(runner, crm):
    result = runner.invoke(
        cli, ["sync", "--adapter", "files", "--path", str(crm), "--as-of", AS_OF]
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith(f"Synced files:{crm} as of 2026-06-30T00:00:00Z")
    assert "read 320 contacts" in out
    for band in BANDS:
        assert f"\n  {band} " in out
    assert f"Scores written to {crm / 'scores.csv'}" in out
    assert "Most one-sided:" in out
    state = Path.cwd() / ".mutuality" / "state.sqlite"
    assert state.is_file() and f"State {state}" in out
    with (crm / "scores.csv").open(newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 320

    again = runner.invoke(cli, ["sync", "--path", str(crm), "--as-of", AS_OF])
    assert again.exit_code == 0
    assert "0 changed, 0 written, 0 failed" in again.stdout
    assert "Scores written to" not in again.stdout  # nothing was


def test_report_file_and_report_on_stdout(runner, crm, tmp_path):
    report_path = tmp_path / "out" / "run.json"
    result = runner.invoke(
        cli, ["sync", "--path", str(crm), "--as-of", AS_OF, "--report", str(report_path)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    assert report["status"] == "ok"
    assert report["contacts_scored"] == 320 and report["written"] == 320
    assert set(report["band_counts"]) == BANDS
    assert report["as_of"].startswith("2026-06-30T00:00:00")

    piped = runner.invoke(
        cli, ["sync", "--path", str(crm), "--as-of", AS_OF, "--full", "--report", "-"]
    )
    assert piped.exit_code == 0
    data = json.loads(piped.stdout)  # stdout is only the JSON report
    assert data["written"] == 0 and data["run_id"] == 2
    assert "Synced files:" in piped.stderr


def test_dry_run_writes_and_records_nothing(runner, crm):
    result = runner.invoke(
        cli, ["sync", "--path", str(crm), "--as-of", AS_OF, "--dry-run", "--report", "-"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["dry_run"] is True and report["changed"] == 320 and report["written"] == 0
    assert not (crm / "scores.csv").exists()
    assert "dry run, nothing written" in result.stderr


def test_quiet_prints_nothing_on_success(runner, crm):
    result = runner.invoke(cli, ["sync", "--path", str(crm), "--as-of", AS_OF, "-q"])
    assert result.exit_code == 0
    assert result.output == ""


def test_missing_path_is_a_configuration_error(runner):
    result = runner.invoke(cli, ["sync"])
    assert result.exit_code == 2
    assert "path is required" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_invalid_rows_stop_the_run_with_exit_2_unless_skipped(runner, crm):
    with (crm / "activities.csv").open("a") as handle:
        handle.write("bad1,c0001,not-a-date,email,outbound,completed,,,false,\n")
    stopped = runner.invoke(cli, ["sync", "--path", str(crm), "--as-of", AS_OF])
    assert stopped.exit_code == 2
    assert "activities.csv" in stopped.stderr
    skipped = runner.invoke(
        cli, ["sync", "--path", str(crm), "--as-of", AS_OF, "--skip-invalid", "--report", "-"]
    )
    assert skipped.exit_code == 0, skipped.output
    assert json.loads(skipped.stdout)["rejected"] == 1
    assert "1 invalid record(s) skipped" in skipped.stderr


def test_lock_held_by_another_run_exits_4(runner, crm, tmp_path):
    state = tmp_path / "state.sqlite"
    store = SQLiteStateStore(state)
    other = store.start_run(f"files:{crm}", started_at=datetime.now(timezone.utc), options={})
    report_path = tmp_path / "run.json"
    with store.lock(f"files:{crm}", owner="the other run"):
        result = runner.invoke(
            cli,
            [
                "sync",
                "--path",
                str(crm),
                "--state",
                str(state),
                "--as-of",
                AS_OF,
                "--report",
                str(report_path),
            ],
        )
    store.close()
    report = json.loads(report_path.read_text())
    assert report["exit_code"] == 4 and "run_id" not in report  # not the other run's record
    assert other == 1
    assert result.exit_code == 4
    assert "another run is already syncing" in result.stderr
    assert not (crm / "scores.csv").exists()


# -- fake CRMs: failed records, quota, unreachable -------------------------------------------

T = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)


def _crm_history() -> tuple[list[Contact], list[Activity]]:
    contacts = [Contact(f"p{i}", email=f"p{i}@example.com") for i in range(4)]
    activities = []
    for i, contact in enumerate(contacts):
        for week in range(10):
            at = T - timedelta(days=7 * week + i)
            activities.append(Activity(f"o{i}-{week}", contact.id, at, "email", "outbound"))
            reply = at + timedelta(hours=3)
            activities.append(Activity(f"i{i}-{week}", contact.id, reply, "email", "inbound"))
    return contacts, activities


def _plugin(writer: MemoryWriter, source_error: BaseException | None = None) -> FakePlugin:
    contacts, activities = _crm_history()

    def make(settings, environ):
        source = MemorySource(contacts, activities, complete_history=False, fail_with=source_error)
        return Connection(target="memory:acct-1", source=source, writer=writer)

    return FakePlugin(make_connection=make)


def test_some_records_failing_exits_1_and_lists_them(runner, install_adapters):
    writer = MemoryWriter(fail_ids=frozenset({"p2"}))
    install_adapters({"memory": _plugin(writer)})
    result = runner.invoke(cli, ["sync", "--adapter", "memory", "--as-of", AS_OF, "--report", "-"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["failed"] == 1 and report["written"] == 3
    assert report["failures"][0]["contact_id"] == "p2"
    assert "failed p2: rejected by fake CRM" in result.stderr
    assert set(writer.written) == {"p0", "p1", "p3"}


def test_quota_running_out_exits_1_with_state_saved(runner, install_adapters):
    writer = MemoryWriter(fail_with=QuotaExhaustedError("HubSpot daily limit reached"))
    install_adapters({"memory": _plugin(writer)})
    result = runner.invoke(cli, ["sync", "--adapter", "memory", "--as-of", AS_OF])
    assert result.exit_code == 1, result.output
    assert "Stopped early (quota)" in result.stdout


def test_crm_unreachable_mid_run_exits_3(runner, install_adapters):
    error = CrmUnavailableError("api.hubapi.com unreachable after 5 tries; check the network")
    install_adapters({"memory": _plugin(MemoryWriter(), source_error=error)})
    result = runner.invoke(cli, ["sync", "--adapter", "memory", "--as-of", AS_OF])
    assert result.exit_code == 3
    assert result.stderr == f"Error: {error}\n"
    runs = runner.invoke(cli, ["runs", "--json"])
    assert json.loads(runs.stdout)[0]["status"] == "error"


def test_a_failed_run_still_leaves_a_report(runner, install_adapters, tmp_path):
    error = CrmUnavailableError("api.hubapi.com unreachable after 5 tries; check the network")
    install_adapters({"memory": _plugin(MemoryWriter(), source_error=error)})
    report_path = tmp_path / "run.json"
    result = runner.invoke(
        cli, ["sync", "--adapter", "memory", "--as-of", AS_OF, "--report", str(report_path)]
    )
    assert result.exit_code == 3
    report = json.loads(report_path.read_text())
    assert report["status"] == "error" and report["exit_code"] == 3
    assert report["error"] == str(error)
    assert report["target"] == "memory:acct-1" and report["run_id"] == 1


def test_max_requests_and_batch_size_reach_adapter_and_engine(runner, install_adapters):
    writer = MemoryWriter(batch_size=50)
    plugin = _plugin(writer)
    install_adapters({"memory": plugin})
    result = runner.invoke(
        cli,
        ["sync", "--adapter", "memory", "--max-requests", "3", "--batch-size", "2", "-q"],
    )
    assert result.exit_code == 0, result.output
    assert plugin.seen_settings == [{"max_requests": 3}]
    run = json.loads(runner.invoke(cli, ["runs", "--json"]).stdout)[0]
    assert run["options"]["batch_size"] == 2


# -- score and explain ---------------------------------------------------------------------


def test_score_jsonl_has_the_documented_fields_and_writes_nothing(runner, crm):
    result = runner.invoke(cli, ["score", "--path", str(crm), "--as-of", AS_OF])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 320
    for key in ("contact_id", "score", "lean", "strength", "band", "confidence", "reasons"):
        assert key in rows[0]
    assert {r["band"] for r in rows} == BANDS
    assert all(0 <= r["score"] <= 100 and -1 <= r["lean"] <= 1 for r in rows)
    assert not (crm / "scores.csv").exists()
    assert not (Path.cwd() / ".mutuality").exists()  # not even an empty state file


def test_score_formats_agree(runner, crm):
    args = ["score", "--path", str(crm), "--as-of", AS_OF, "--format"]
    jsonl = [json.loads(x) for x in runner.invoke(cli, [*args, "jsonl"]).stdout.splitlines()]
    as_json = json.loads(runner.invoke(cli, [*args, "json"]).stdout)
    assert as_json == jsonl
    as_csv = list(csv.DictReader(io.StringIO(runner.invoke(cli, [*args, "csv"]).stdout)))
    assert [r["contact_id"] for r in as_csv] == [r["contact_id"] for r in jsonl]
    assert as_csv[0]["reasons"] == "; ".join(jsonl[0]["reasons"])
    assert float(as_csv[0]["score"]) == jsonl[0]["score"]
    table = runner.invoke(cli, [*args, "table"]).stdout.splitlines()
    assert table[0].split()[:3] == ["contact_id", "name", "band"]
    assert len(table) == 2 + 320


def test_score_as_of_changes_the_result(runner, crm):
    early = runner.invoke(cli, ["score", "--path", str(crm), "--as-of", AS_OF])
    late = runner.invoke(cli, ["score", "--path", str(crm), "--as-of", "2027-06-30T00:00:00+02:00"])
    bands_late = {json.loads(x)["band"] for x in late.stdout.splitlines()}
    assert early.stdout != late.stdout
    assert bands_late <= {"dormant", "insufficient_data"}


def test_explain_human_and_json(runner, crm):
    scored = {
        json.loads(x)["contact_id"]: json.loads(x)
        for x in runner.invoke(
            cli, ["score", "--path", str(crm), "--as-of", AS_OF]
        ).stdout.splitlines()
    }
    contact_id = next(c for c, r in scored.items() if r["band"] == "you_invest_more")
    human = runner.invoke(cli, ["explain", contact_id, "--path", str(crm), "--as-of", AS_OF])
    assert human.exit_code == 0, human.output
    assert f"Contact {contact_id}" in human.stdout
    assert "Band you_invest_more" in human.stdout
    assert "Signals:" in human.stdout and "Reasons:" in human.stdout
    for reason in scored[contact_id]["reasons"]:
        assert f"  - {reason}" in human.stdout

    as_json = runner.invoke(
        cli, ["explain", contact_id, "--path", str(crm), "--as-of", AS_OF, "--json"]
    )
    data = json.loads(as_json.stdout)
    assert data["score"] == scored[contact_id]["score"]
    assert data["components"] and {"name", "value", "weight", "evidence", "detail"} <= set(
        data["components"][0]
    )
    for component in data["components"]:
        assert component["name"] in human.stdout


def test_explain_unknown_contact_exits_2(runner, crm):
    result = runner.invoke(cli, ["explain", "nobody", "--path", str(crm), "--as-of", AS_OF])
    assert result.exit_code == 2
    assert "no contact with id 'nobody'" in result.stderr


# -- progress ---------------------------------------------------------------------------------


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_on_a_terminal_and_not_when_quiet():
    assert progress_wanted(False, _Tty()) is True
    assert progress_wanted(True, _Tty()) is False
    assert progress_wanted(False, io.StringIO()) is False


def test_progress_draws_each_stage_on_its_stream():
    stream = _Tty()
    progress = StderrProgress(stream, min_interval=0)
    progress("read", 10, None)
    progress("read", 20, None)
    progress("score", 5, 10)
    progress("score", 10, 10)
    progress.close()
    text = stream.getvalue()
    assert "read  20" in text
    assert "score" in text and "10/10 (100%)" in text


def test_writes_between_score_updates_stay_on_the_scoring_line():
    stream = _Tty()
    progress = StderrProgress(stream, min_interval=0)
    progress("read", 500, None)
    for batch in range(1, 6):
        progress("score", batch * 100, 500)
        progress("write", batch * 90, None)
    progress("score", 500, 500)
    progress("write", 450, 450)
    progress.close()
    lines = stream.getvalue().split("\n")
    assert len(lines) == 3 and lines[-1] == ""  # one finished line per stage, no more
    assert lines[1].rsplit("\r", 1)[-1].startswith("score 500/500 (100%)  written 450")


def test_verbose_logs_go_to_stderr_without_secrets(runner, install_adapters):
    writer = MemoryWriter()
    install_adapters({"memory": _plugin(writer)})
    env = {"MUTUALITY_MEMORY_ACCESS_TOKEN": "tok-very-secret"}
    result = runner.invoke(
        cli, ["sync", "--adapter", "memory", "--as-of", AS_OF, "-vv", "--report", "-"], env=env
    )
    assert result.exit_code == 0, result.output
    assert "INFO mutuality_cli.runtime: connecting adapter memory" in result.stderr
    assert "DEBUG mutuality_cli.runtime: effective configuration" in result.stderr
    assert "'access_token': '********'" in result.stderr
    assert "tok-very-secret" not in result.output
    json.loads(result.stdout)  # logging never reaches stdout
    quiet = runner.invoke(cli, ["sync", "--adapter", "memory", "--as-of", AS_OF, "-q"])
    assert "INFO" not in quiet.stderr
