"""`mutuality score --engine spark` and `mutuality sync --engine spark` end to end (in process).

The CLI's session is the tests' own local[2] session (getOrCreate), so no second JVM starts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from mutuality_adapters.files.rows import ACTIVITY_COLUMNS
from mutuality_adapters.hubspot.connection import open_connection
from mutuality_adapters.hubspot.fake import running_fake_hubspot
from mutuality_adapters.hubspot.properties import setup_properties
from mutuality_adapters.hubspot.settings import HubSpotSettings
from mutuality_cli.main import cli

from .reference import published_rows, spark_rows
from .test_spark_scores import AS_OF, BAD_ROWS, SAMPLE, _write

AS_OF_TEXT = AS_OF.isoformat().replace("+00:00", "Z")
TOKEN = "pat-na1-00000000-spark-cli-token"


def run(*args: str, env: dict[str, str] | None = None) -> object:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_score_writes_parquet_equal_to_the_core(spark, tmp_path):
    out = tmp_path / "scores.parquet"
    result = run("score", "--engine", "spark", "--input", str(SAMPLE), "--output", str(out),
                 "--master", "local[2]", "--as-of", AS_OF_TEXT)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "activities" in result.output and str(out) in result.output
    assert spark_rows(spark.read.parquet(str(out))) == published_rows(SAMPLE, AS_OF)


def test_score_collects_bad_rows_or_stops_with_the_message(spark, tmp_path):
    _write(tmp_path / "contacts.csv", ("id", "email"), [["c1", "a@x.example"], ["c2", ""]])
    _write(tmp_path / "activities.csv", ACTIVITY_COLUMNS, BAD_ROWS)
    out = tmp_path / "out" / "scores.csv"
    stopped = CliRunner().invoke(
        cli, ["score", "--engine", "spark", "--input", str(tmp_path), "--output", str(out),
              "--as-of", AS_OF_TEXT],
    )  # fmt: skip
    assert stopped.exit_code == 2, stopped.output
    assert "activities.csv row" in stopped.output and "--skip-invalid" in stopped.output
    result = run("score", "--engine", "spark", "--input", str(tmp_path), "--output", str(out),
                 "--skip-invalid", "--as-of", AS_OF_TEXT)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "7 bad row(s)" in result.output
    rejects = spark.read.csv(str(tmp_path / "out" / "scores_rejects.csv"), header=True)
    assert rejects.count() == 7
    assert spark.read.csv(str(out), header=True).count() == 2


def test_engine_spark_needs_an_input_and_an_output(spark, tmp_path):
    result = CliRunner().invoke(cli, ["score", "--engine", "spark", "--output", "x.parquet"])
    assert result.exit_code == 2 and "--input PATH" in result.output
    result = CliRunner().invoke(cli, ["score", "--engine", "spark", "--input", str(SAMPLE)])
    assert result.exit_code == 2 and "--output PATH" in result.output


def test_sync_scores_in_spark_and_writes_through_hubspot_once(spark, tmp_path):
    with running_fake_hubspot(token=TOKEN) as server:
        settings = HubSpotSettings.from_mapping(
            {"base_url": server.base_url}, environ={"HUBSPOT_ACCESS_TOKEN": TOKEN}
        )
        connection = open_connection(settings)
        setup_properties(connection.source.api, settings)
        connection.close()
        ids = [str(server.portal.add_contact({"email": f"p{n}@x.example"})) for n in range(30)]
        rows = [
            [f"a{n}-{k}", cid, f"2024-06-{k + 1:02d}T10:00:00Z", "email",
             "inbound" if k % 2 else "outbound", "", "", "", "", ""]
            for n, cid in enumerate(ids) for k in range(n % 5 + 1)
        ]  # fmt: skip
        _write(tmp_path / "activities.csv", ACTIVITY_COLUMNS, rows)
        args = ["sync", "--engine", "spark", "--input", str(tmp_path / "activities.csv"),
                "--adapter", "hubspot", "-o", f"base_url={server.base_url}",
                "--state", str(tmp_path / "state.sqlite"), "--as-of", AS_OF_TEXT]  # fmt: skip
        env = {"HUBSPOT_ACCESS_TOKEN": TOKEN}
        first = run(*args, env=env)
        assert first.exit_code == 0, first.output
        assert dict(server.app.writes_by_contact) == dict.fromkeys(ids, 1)
        again = run(*args, env=env)
        assert again.exit_code == 0, again.output
        assert sum(server.app.writes_by_contact.values()) == len(ids)


def test_sync_with_the_files_adapter_points_to_score(tmp_path):
    result = CliRunner().invoke(
        cli, ["sync", "--engine", "spark", "--input", str(SAMPLE), "--path", str(SAMPLE),
              "--state", str(tmp_path / "s.sqlite")],
    )  # fmt: skip
    assert result.exit_code == 2 and "score --engine spark" in result.output
    assert not Path(SAMPLE / "scores.csv").exists()


@pytest.fixture(autouse=True)
def _scratch_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
