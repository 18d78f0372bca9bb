"""`--engine`: the same scores from the reference core and the columnar engine."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from mutuality_cli.main import cli

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample_crm"
AS_OF = "2026-06-30T00:00:00Z"


@pytest.fixture
def crm(tmp_path: Path) -> Path:
    folder = tmp_path / "crm"
    folder.mkdir()
    for name in ("contacts.csv", "activities.csv"):
        shutil.copy(SAMPLE / name, folder / name)
    return folder


def test_score_prints_the_same_scores_with_either_engine(runner, crm) -> None:
    pytest.importorskip("mutuality_columnar")
    outputs = {}
    for engine in ("python", "columnar"):
        result = runner.invoke(
            cli,
            ["score", "--path", str(crm), "--as-of", AS_OF, "--format", "jsonl", "-q",
             "--engine", engine],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        outputs[engine] = result.stdout
    assert outputs["columnar"] == outputs["python"]
    assert len(outputs["python"].splitlines()) > 100


def test_sync_records_the_engine_and_writes_the_same_file(runner, crm, tmp_path) -> None:
    pytest.importorskip("mutuality_columnar")
    files = {}
    for engine in ("python", "columnar"):
        state = tmp_path / f"{engine}.sqlite"
        result = runner.invoke(
            cli,
            ["sync", "--path", str(crm), "--as-of", AS_OF, "--state", str(state), "-q",
             "--engine", engine, "--report", str(tmp_path / f"{engine}.json")],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        files[engine] = (crm / "scores.csv").read_text()
        (crm / "scores.csv").unlink()
    assert files["columnar"] == files["python"]
    runs = runner.invoke(cli, ["runs", "--state", str(tmp_path / "columnar.sqlite"), "--json"])
    assert runs.exit_code == 0, runs.output
    (run,) = json.loads(runs.output)
    assert run["options"]["engine"] == "columnar"


def test_an_unknown_engine_is_a_usage_error(runner, crm) -> None:
    result = runner.invoke(cli, ["score", "--path", str(crm), "--engine", "gpu"])
    assert result.exit_code == 2
    assert "'gpu' is not one of 'auto', 'python', 'columnar'" in result.output
