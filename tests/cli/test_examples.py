"""The examples: the committed sample CRM is reproducible and meaningful; the scripts run."""

from __future__ import annotations

import csv
import importlib.util
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
