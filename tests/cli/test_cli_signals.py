"""SIGTERM stops a sync like Ctrl-C: exit 143, the run recorded, nothing written twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mutuality_adapters.sqlite_state import SQLiteStateStore

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_mid_sync_exits_143_with_the_run_recorded(tmp_path: Path) -> None:
    data = tmp_path / "crm"
    subprocess.run(
        [sys.executable, str(EXAMPLES / "generate_sample_crm.py"), "--out", str(data),
         "--contacts", "3000"],
        check=True, capture_output=True,
    )  # fmt: skip
    state = tmp_path / "state.sqlite"
    command = [
        sys.executable, "-m", "mutuality_cli.main", "sync", "--adapter", "files",
        "--path", str(data), "--state", str(state), "--as-of", "2026-06-30T00:00:00Z",
        "--batch-size", "1", "-o", "workers=1",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while (
        time.monotonic() < deadline
        and process.poll() is None
        and not (data / "scores.csv").exists()
    ):
        time.sleep(0.05)  # the first batch written: the run is in its write loop
    assert (data / "scores.csv").exists(), process.communicate()
    os.kill(process.pid, signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert "Terminated; work done so far is saved" in stderr
    assert "Traceback" not in stderr
    store = SQLiteStateStore(state)
    try:
        (run,) = store.runs()
        assert run["status"] == "error" and "Terminated" in run["report"]["error"]
        written = store.written(run["target"])
    finally:
        store.close()
    assert 0 < len(written) < 3000
    rows = (data / "scores.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert len(rows) == len(written)  # what was written is what was recorded


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_the_first_signal_asks_for_a_stop_at_a_safe_point_the_second_stops_at_once():
    from mutuality_cli.stopping import GracefulStop, Terminated

    calls: list[str] = []
    before = signal.getsignal(signal.SIGTERM)
    with GracefulStop() as stop:
        callback = stop.wrap(lambda stage, done, total: calls.append(stage))
        callback("read", 1, None)
        os.kill(os.getpid(), signal.SIGTERM)  # handled at the next bytecode: no raise here
        assert stop.requested == signal.SIGTERM
        with pytest.raises(Terminated):
            callback("write", 2, None)  # the safe point raises it
        with pytest.raises(KeyboardInterrupt) as second:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)  # the handler runs before this returns
        assert not isinstance(second.value, Terminated)
    assert calls == ["read"]
    assert signal.getsignal(signal.SIGTERM) is before  # restored


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_forked_worker_that_gets_the_terminals_ctrl_c_says_nothing(capfd):
    """One Ctrl-C reaches every process of the group; only the run's process answers it."""
    from mutuality_cli.stopping import GracefulStop

    with GracefulStop() as stop:
        pid = os.fork()
        if pid == 0:  # a worker, before it set its own handling
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)
            os._exit(0 if stop.requested is None else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0  # the worker requested nothing
        assert stop.requested is None
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)
        assert stop.requested == signal.SIGINT
    assert capfd.readouterr().err.count("Stopping after the current batch") == 1


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_on_a_two_worker_sync_is_said_once_and_recorded_in_plain_words(tmp_path):
    data = tmp_path / "crm"
    subprocess.run(
        [sys.executable, str(EXAMPLES / "generate_sample_crm.py"), "--out", str(data),
         "--contacts", "3000"],
        check=True, capture_output=True,
    )  # fmt: skip
    state, report = tmp_path / "state.sqlite", tmp_path / "run.json"
    command = [
        sys.executable, "-m", "mutuality_cli.main", "sync", "--path", str(data),
        "--state", str(state), "--as-of", "2026-06-30T00:00:00Z", "--batch-size", "1",
        "-o", "workers=2", "--report", str(report),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while (
        time.monotonic() < deadline
        and process.poll() is None
        and not (data / "scores.csv").exists()
    ):
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)  # what a terminal does: the whole group
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert stderr.count("Stopping after the current batch") == 1
    import json

    assert json.loads(report.read_text())["error"] == "interrupted by the user (Ctrl-C)"
