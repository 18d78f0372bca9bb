"""`mutuality sync` tunes the garbage collector for its run and puts it back afterwards."""

from __future__ import annotations

import gc
import shutil
from pathlib import Path

import pytest
from mutuality_cli.collector import BULK_THRESHOLDS, bulk_collection
from mutuality_cli.main import cli

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample_crm"


def test_the_thresholds_hold_for_the_block_and_are_restored() -> None:
    before = gc.get_threshold()
    with bulk_collection():
        assert gc.get_threshold() == BULK_THRESHOLDS
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError), bulk_collection():
        raise RuntimeError("the run failed")
    assert gc.get_threshold() == before


def test_sync_runs_with_the_bulk_thresholds(runner, tmp_path, monkeypatch) -> None:
    from mutuality_core import sync as sync_module

    for name in ("contacts.csv", "activities.csv"):
        shutil.copy(SAMPLE / name, tmp_path / name)
    seen = []
    real_run_sync = sync_module.run_sync

    def watching(*args, **kwargs):
        seen.append(gc.get_threshold())
        return real_run_sync(*args, **kwargs)

    monkeypatch.setattr(sync_module, "run_sync", watching)
    before = gc.get_threshold()
    result = runner.invoke(
        cli, ["sync", "--path", str(tmp_path), "--as-of", "2026-06-30T00:00:00Z"]
    )
    assert result.exit_code == 0, result.output
    assert seen == [BULK_THRESHOLDS]
    assert gc.get_threshold() == before
