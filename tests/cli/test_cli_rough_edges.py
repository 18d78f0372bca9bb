"""Rough edges a new user met (issue 12): every message says what happened and where."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
from mutuality_cli.main import cli

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample_crm"
AS_OF = "2026-06-30T00:00:00Z"
BAD_ROW = "bad1,c0001,not-a-date,email,outbound,completed,,,false,\n"


@pytest.fixture
def crm_with_a_bad_row(tmp_path: Path) -> Path:
    folder = tmp_path / "crm"
    folder.mkdir()
    for name in ("contacts.csv", "activities.csv"):
        shutil.copy(SAMPLE / name, folder / name)
    with (folder / "activities.csv").open("a", encoding="utf-8") as handle:
        handle.write(BAD_ROW)
    return folder


def test_dry_run_with_skip_invalid_says_no_rejects_file_was_written(runner, crm_with_a_bad_row):
    args = ["sync", "--path", str(crm_with_a_bad_row), "--skip-invalid", "--dry-run"]
    result = runner.invoke(cli, [*args, "--as-of", AS_OF])
    assert result.exit_code == 0, result.output
    assert "1 invalid record(s) skipped; no rejects file was written" in result.stdout
    assert "activities.csv:" in result.stdout and "see " not in result.stdout
    assert not (crm_with_a_bad_row / "rejects.csv").exists()
    real = runner.invoke(cli, ["sync", "--path", str(crm_with_a_bad_row), "--skip-invalid",
                               "--as-of", AS_OF])  # fmt: skip
    assert real.exit_code == 0, real.output
    rejects = crm_with_a_bad_row / "rejects.csv"
    assert f"1 invalid record(s) skipped; all listed in {rejects}" in real.stdout
    assert "bad1" in rejects.read_text(encoding="utf-8")


def test_score_with_skip_invalid_says_how_many_were_dropped_and_where(runner, crm_with_a_bad_row):
    result = runner.invoke(
        cli,
        ["score", "--path", str(crm_with_a_bad_row), "--skip-invalid", "--as-of", AS_OF,
         "--format", "json", "-q"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == 320  # stdout holds only the scores
    assert "1 invalid record(s) skipped; no rejects file was written" in result.stderr
    assert "activities.csv:" in result.stderr
    clean = runner.invoke(cli, ["score", "--path", str(SAMPLE), "--as-of", AS_OF, "-q"])
    assert clean.exit_code == 0 and "skipped" not in clean.stderr


def test_fake_hubspot_on_a_busy_port_is_one_line(runner):
    pytest.importorskip("hubspot")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = runner.invoke(cli, ["fake", "hubspot", "--port", str(port)])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "pick another --port" in result.stderr
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_two_fakes_have_different_default_ports():
    from mutuality_adapters.hubspot.commands import fake_command as hubspot_fake
    from mutuality_adapters.salesforce.commands import fake_command as salesforce_fake

    def default_port(command):
        return next(p.default for p in command.params if p.name == "port")

    assert default_port(hubspot_fake) == 8765
    assert default_port(salesforce_fake) == 8766


def test_help_quick_start_scores_the_sample_as_of_its_end(runner):
    result = runner.invoke(cli, ["--help"])
    assert "--path examples/sample_crm --as-of 2026-06-30T00:00:00Z" in result.output
    docs = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    quick_start = docs.split("## Quick start", 1)[1].split("##", 1)[0]
    assert "mutuality sync --adapter files --path examples/sample_crm --as-of 2026-06-30" in (
        quick_start
    )


def test_config_show_names_the_variable_a_secret_came_from(runner, monkeypatch):
    pytest.importorskip("hubspot")
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-na1-very-secret")
    result = runner.invoke(cli, ["config", "show", "--adapter", "hubspot"])
    assert result.exit_code == 0, result.output
    assert 'access_token = "********"  # env HUBSPOT_ACCESS_TOKEN' in result.stdout
    assert "very-secret" not in result.stdout
    as_json = json.loads(runner.invoke(cli, ["config", "show", "--adapter", "hubspot",
                                             "--json"]).stdout)  # fmt: skip
    assert as_json["adapters"]["hubspot"]["access_token"] == "********"
    assert as_json["origins"]["adapters.hubspot.access_token"] == "env HUBSPOT_ACCESS_TOKEN"


def test_config_show_names_salesforce_variables(runner, monkeypatch):
    pytest.importorskip("simple_salesforce")
    monkeypatch.setenv("SALESFORCE_SESSION_ID", "00Dxx!secret-session")
    monkeypatch.setenv("SALESFORCE_INSTANCE_URL", "https://example.my.salesforce.com")
    result = runner.invoke(cli, ["config", "show", "--adapter", "salesforce"])
    assert result.exit_code == 0, result.output
    assert 'session_id = "********"  # env SALESFORCE_SESSION_ID' in result.stdout
    assert "secret-session" not in result.stdout
    assert "# env SALESFORCE_INSTANCE_URL" in result.stdout


def test_persistent_failure_runs_comes_from_the_environment_or_the_file(runner, tmp_path):
    (tmp_path / "mutuality.toml").write_text("persistent_failure_runs = 5\n")
    result = runner.invoke(cli, ["config", "show", "--json", "--config",
                                 str(tmp_path / "mutuality.toml")])  # fmt: skip
    assert json.loads(result.stdout)["persistent_failure_runs"] == 5
    bad = runner.invoke(cli, ["config", "show"], env={"MUTUALITY_PERSISTENT_FAILURE_RUNS": "0"})
    assert bad.exit_code == 2 and "MUTUALITY_PERSISTENT_FAILURE_RUNS" in bad.stderr
