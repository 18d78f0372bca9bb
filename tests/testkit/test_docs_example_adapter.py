"""The example adapter in docs/adapters.md, and its test, work as printed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from mutuality_testkit import AdapterContract

DOC = Path(__file__).resolve().parents[2] / "docs" / "adapters.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def run_documented_suite(tmp_path: Path, *extra_blocks: str) -> subprocess.CompletedProcess[str]:
    """Save the adapter and its suite (plus ``extra_blocks``) as printed, run pytest on them."""
    blocks = python_blocks()
    (adapter,) = [b for b in blocks if "class SqliteCrmSource" in b]
    (suite,) = [b for b in blocks if "class TestSqliteCrm(AdapterContract)" in b]
    (tmp_path / "sqlite_crm.py").write_text(adapter, encoding="utf-8")
    test_file = tmp_path / "test_sqlite_crm.py"
    test_file.write_text("\n\n".join([suite, *extra_blocks]), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "--rootdir",
         str(tmp_path), str(test_file)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


CONTRACT_TESTS = [name for name in dir(AdapterContract) if name.startswith("test_")]


def test_the_documented_adapter_passes_the_documented_contract_suite(tmp_path):
    result = run_documented_suite(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(rf"\b{len(CONTRACT_TESTS)} passed\b", result.stdout), result.stdout
    assert "skipped" not in result.stdout


def test_the_documented_suite_options_skip_a_check_and_use_another_state_store(tmp_path):
    (options,) = [b for b in python_blocks() if "class TestSqliteCrmWithOurState" in b]
    result = run_documented_suite(tmp_path, options)
    assert result.returncode == 0, result.stdout + result.stderr
    passed = 2 * len(CONTRACT_TESTS) - 1
    assert re.search(rf"\b{passed} passed, 1 skipped\b", result.stdout), result.stdout
    assert "no need to break it twice" in result.stdout


def test_the_documented_library_snippet_runs(tmp_path, monkeypatch):
    (snippet,) = [b for b in python_blocks() if "report = run_sync(connect(" in b]
    crm = tmp_path / "crm"
    crm.mkdir()
    (crm / "contacts.csv").write_text("id,email\nc1,a@x.com\n")
    (crm / "activities.csv").write_text(
        "id,contact_id,occurred_at,channel,direction\na1,c1,2026-01-01T10:00:00Z,email,inbound\n"
    )
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(snippet, "docs/adapters.md", "exec"), namespace)
    assert namespace["report"].written == 1
    assert (crm / "scores.csv").exists() and (tmp_path / ".mutuality" / "state.sqlite").exists()
