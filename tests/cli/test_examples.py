"""The examples: the committed sample CRM is reproducible and meaningful; the scripts run."""

from __future__ import annotations

import csv
import importlib.util
import shutil
import subprocess
import sys
import types
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SAMPLE = EXAMPLES / "sample_crm"
AS_OF = datetime(2026, 6, 30, tzinfo=timezone.utc)


def _load(path: Path, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator() -> types.ModuleType:
    return _load(EXAMPLES / "generate_sample_crm.py", "generate_sample_crm")


def test_regenerating_with_the_default_seed_reproduces_the_committed_files(tmp_path):
    subprocess.run(
        [sys.executable, str(EXAMPLES / "generate_sample_crm.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for name in ("contacts.csv", "activities.csv"):
        assert (tmp_path / name).read_bytes() == (SAMPLE / name).read_bytes(), name


def test_a_different_seed_gives_different_data(generator):
    _, first, _ = generator.generate(seed=1, contacts=40)
    _, second, _ = generator.generate(seed=2, contacts=40)
    assert first != second


def test_sample_is_big_enough_small_enough_and_spans_two_years():
    with (SAMPLE / "contacts.csv").open(newline="") as handle:
        contacts = list(csv.DictReader(handle))
    with (SAMPLE / "activities.csv").open(newline="") as handle:
        activities = list(csv.DictReader(handle))
    assert len(contacts) >= 300
    assert len(activities) >= 10_000
    size = sum(
        p.stat().st_size
        for p in SAMPLE.glob("*.csv")
        if p.name in ("contacts.csv", "activities.csv")
    )
    assert size < 2_000_000
    times = sorted(a["occurred_at"] for a in activities)
    assert times[0] < "2024-07-15" and "2026-06-01" < times[-1] < "2026-06-30"
    assert all(t.endswith("Z") for t in times)
    ids = {c["id"] for c in contacts}
    assert {a["contact_id"] for a in activities} <= ids
    kinds = Counter((a["channel"], a["outcome"]) for a in activities)
    for needed in [
        ("meeting", "no_show"),
        ("meeting", "canceled"),
        ("meeting", "completed"),
        ("call", "no_answer"),
        ("email", "bounced"),
    ]:
        assert kinds[needed] > 10, needed
    assert sum(a["automated"] == "true" for a in activities) > 1000
    tags = Counter(t for a in activities for t in a["tags"].split(";") if t)
    assert tags["ask"] > 100 and tags["give"] > 100
    assert sum(1 for a in activities if a["thread_id"]) > 5000


def test_scoring_the_sample_as_of_its_end_covers_every_band(generator):
    from mutuality_adapters.files import connect

    from mutuality_core.sync import score_connection

    connection = connect(SAMPLE)
    scores = {c.id: s for c, s in score_connection(connection, None, as_of=AS_OF)}
    bands = Counter(str(s.band) for s in scores.values())
    assert set(bands) == {
        "mutual",
        "you_invest_more",
        "they_invest_more",
        "dormant",
        "insufficient_data",
    }
    assert min(bands.values()) >= 20, bands
    # The archetypes the generator intended are what the scores mostly say.
    _, _, intended = generator.generate()
    agree = sum(str(scores[cid].band) == kind for cid, kind in intended.items() if cid in scores)
    assert agree / len(intended) > 0.85


def test_library_usage_example_runs(capsys):
    before = sorted(p.name for p in SAMPLE.iterdir())
    module = _load(EXAMPLES / "library_usage.py", "library_usage_example")
    module.main([])
    out = capsys.readouterr().out
    assert out.startswith("ada: mutual ")
    assert "synced 320 contacts: 320 written, 0 failed" in out
    assert sorted(p.name for p in SAMPLE.iterdir()) == before  # it worked on a scratch copy


def _fake_airflow(monkeypatch) -> dict[str, object]:
    """Just enough of Airflow's API for the DAG file to import and build its task."""
    built: dict[str, object] = {}

    class DAG:
        def __init__(self, dag_id: str, **kwargs: object) -> None:
            built["dag_id"], built["dag_kwargs"] = dag_id, kwargs

        def __enter__(self) -> DAG:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    class PythonOperator:
        def __init__(self, *, task_id: str, python_callable, op_kwargs=None, **kwargs) -> None:
            built["task_id"], built["callable"], built["op_kwargs"] = (
                task_id,
                python_callable,
                op_kwargs or {},
            )

    class AirflowSkipException(Exception):
        pass

    airflow = types.ModuleType("airflow")
    airflow.DAG = DAG
    exceptions = types.ModuleType("airflow.exceptions")
    exceptions.AirflowSkipException = AirflowSkipException
    operators = types.ModuleType("airflow.operators")
    python = types.ModuleType("airflow.operators.python")
    python.PythonOperator = PythonOperator
    for name, module in {
        "airflow": airflow,
        "airflow.exceptions": exceptions,
        "airflow.operators": operators,
        "airflow.operators.python": python,
    }.items():
        monkeypatch.setitem(sys.modules, name, module)
    built["skip"] = AirflowSkipException
    return built


def test_airflow_dag_runs_a_sync_through_the_python_api(monkeypatch, tmp_path):
    built = _fake_airflow(monkeypatch)
    _load(EXAMPLES / "schedules" / "airflow_dag.py", "airflow_dag_example")
    assert built["dag_id"] == "mutuality_sync"
    assert built["dag_kwargs"]["max_active_runs"] == 1
    folder = tmp_path / "crm"
    shutil.copytree(SAMPLE, folder, ignore=shutil.ignore_patterns("scores.csv", "rejects.csv"))
    state = tmp_path / "state" / "state.sqlite"
    task = built["callable"]
    report = task(
        adapter="files",
        settings={"path": str(folder)},
        state_path=str(state),
        data_interval_end=AS_OF,
    )
    assert report["status"] == "ok" and report["written"] == 320
    assert report["as_of"].startswith("2026-06-30")

    from mutuality_adapters.sqlite_state import SQLiteStateStore

    holder = SQLiteStateStore(state)
    with holder.lock(f"files:{folder}", owner="another run"), pytest.raises(built["skip"]):
        task(adapter="files", settings={"path": str(folder)}, state_path=str(state))
    holder.close()


def test_schedule_examples_hold_the_safeguards():
    yaml = pytest.importorskip("yaml")

    docs = list(
        yaml.safe_load_all((EXAMPLES / "schedules" / "kubernetes-cronjob.yaml").read_text())
    )
    cronjob = next(d for d in docs if d["kind"] == "CronJob")
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    container = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["env"][0]["valueFrom"]["secretKeyRef"]["key"] == "HUBSPOT_ACCESS_TOKEN"
    assert not any("TOKEN" in str(arg) for arg in container["command"])
    workflow = yaml.safe_load(
        (EXAMPLES / "schedules" / "github-actions" / "mutuality-sync.yml").read_text()
    )
    assert workflow["concurrency"]["cancel-in-progress"] is False
    assert workflow[True]["schedule"][0]["cron"]  # YAML 1.1 reads the key `on` as True
    crontab = (EXAMPLES / "schedules" / "crontab").read_text()
    line = next(x for x in crontab.splitlines() if x and not x.startswith("#"))
    assert "flock -n" in line and "mutuality sync" in line and "TOKEN" not in line
