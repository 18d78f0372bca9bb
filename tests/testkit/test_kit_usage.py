"""How an adapter author drives the kit: skipping checks, their own state store, no pytest."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from mutuality_testkit import AdapterContract

CHECKS = sorted(name for name in dir(AdapterContract) if name.startswith("test_"))

MEMORY_SUITE = """
import json
import os
from pathlib import Path

from mutuality_adapters.sqlite_state import SQLiteStateStore
from mutuality_testkit import AdapterContract
from mutuality_testkit.memory import MemoryCrm

LOG = Path(__file__).with_name("events.jsonl")


def log(event):
    with LOG.open("a") as f:
        f.write(json.dumps(event) + "\\n")


class MemoryKit(AdapterContract):
    def seed(self, dataset, tmp_path):
        log({"seeded": os.environ["PYTEST_CURRENT_TEST"]})
        self.crm = MemoryCrm(page_size=4, batch_size=2)
        for c in dataset.contacts:
            self.crm.add_contact(c.id, email=c.email)
        for a in dataset.activities:
            self.crm.add_activity(a)
        return self.crm.connection()

    def add_activity(self, connection, activity):
        self.crm.add_activity(activity)

    def broken_connection(self, tmp_path):
        crm = MemoryCrm()
        crm.quota_after_pages = 0
        return crm.connection()
"""


def run_pytest(tmp_path: Path, suite: str, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_kit_suite.py").write_text(MEMORY_SUITE + textwrap.dedent(suite))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "--rootdir",
         str(tmp_path), str(tmp_path / "test_kit_suite.py"), *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def events(tmp_path: Path) -> list[dict[str, str]]:
    import json

    log = tmp_path / "events.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_skip_checks_skips_with_the_reason_before_seeding_and_runs_the_rest(tmp_path):
    result = run_pytest(
        tmp_path,
        """
        class TestSkipping(MemoryKit):
            skip_checks = {
                "test_cursor_round_trip_loses_nothing": "our sandbox has no change feed",
                "test_errors_are_typed": "a broken sandbox cannot be made on demand",
            }
        """,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # test_plugin_conforms skips on its own: no plugin is set
    assert f"{len(CHECKS) - 3} passed, 3 skipped" in result.stdout, result.stdout
    assert "our sandbox has no change feed" in result.stdout
    assert "a broken sandbox cannot be made on demand" in result.stdout
    seeded_for = [e["seeded"] for e in events(tmp_path) if "seeded" in e]
    assert seeded_for, "the checks that were not skipped ran"
    assert not [t for t in seeded_for if "cursor_round_trip" in t or "errors_are_typed" in t]


def test_a_misspelt_or_unexplained_skip_fails_every_check(tmp_path):
    result = run_pytest(
        tmp_path,
        """
        class TestMisspelt(MemoryKit):
            skip_checks = {"test_cursor_roundtrip": "typo"}

        class TestUnexplained(MemoryKit):
            skip_checks = {"test_errors_are_typed": " "}
        """,
        "-k",
        "errors_are_typed",
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "names no check of the suite: test_cursor_roundtrip" in result.stdout
    assert "say why test_errors_are_typed is skipped" in result.stdout
    assert "2 errors" in result.stdout, result.stdout


def test_the_sync_checks_run_on_the_state_store_the_adapter_opens(tmp_path):
    result = run_pytest(
        tmp_path,
        """
        class RecordingStore(SQLiteStateStore):
            '''A store of the adapter author's own: the SQLite one, recording some calls.

            Its methods are real attributes: since Python 3.12 ``isinstance`` against a
            runtime-checkable Protocol looks members up statically, so a ``__getattr__``
            proxy would not count as a StateStore.
            '''

            def apply_page(self, *args, **kwargs):
                log({"store": "apply_page"})
                return super().apply_page(*args, **kwargs)

            def record_written(self, *args, **kwargs):
                log({"store": "record_written"})
                return super().record_written(*args, **kwargs)

            def close(self):
                log({"store": "close"})
                return super().close()

        class TestOwnStore(MemoryKit):
            def open_state_store(self, tmp_path):
                log({"opened": str(tmp_path)})
                return RecordingStore(tmp_path / "own.sqlite")
        """,
        "-k",
        "two_syncs",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout, result.stdout
    got = events(tmp_path)
    assert "TestOwnStore::test_two_syncs" in got[0]["seeded"]
    assert "opened" in got[1]
    assert {"store": "apply_page"} in got and {"store": "record_written"} in got
    assert got[-1] == {"store": "close"}  # closed after the check


def test_without_sqlite_the_sync_checks_skip_and_say_how_to_run_them(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mutuality_adapters.sqlite_state", None)
    suite = AdapterContract()
    with pytest.raises(pytest.skip.Exception, match=r"override open_state_store\(tmp_path\)"):
        suite.open_state_store(tmp_path)


def test_importing_the_kit_without_pytest_names_the_extra():
    blocked = "import sys; sys.modules['pytest'] = None; import mutuality_testkit"
    result = subprocess.run(
        [sys.executable, "-c", blocked], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "mutuality_core.errors.MissingDependencyError: pytest is not installed; "
        "install it with: pip install 'mutuality[testkit]'"
    )
