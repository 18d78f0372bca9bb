from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from report_helpers import SAMPLE


@pytest.fixture
def crm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the sample CRM; the test runs in its parent folder, with no MUTUALITY_*."""
    for name in [n for n in os.environ if n.startswith("MUTUALITY_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    shutil.copytree(SAMPLE, tmp_path / "crm")
    return tmp_path / "crm"
