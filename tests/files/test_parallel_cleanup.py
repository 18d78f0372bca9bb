"""A killed sync leaves no worker process behind.

The sync runs in its own session (so its process group id is its pid, which its
forked workers keep after the parent dies and they are re-parented); the test
waits until the workers are reading, SIGKILLs the parent and checks /proc for
any live member of that group.
"""

from __future__ import annotations

import contextlib
import csv
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.skipif(
        "fork" not in multiprocessing.get_all_start_methods(), reason="workers need fork"
    ),
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc"),
]

CONTACTS = 4_000
ACTIVITIES = 400_000

#: Runs a sync in this process; with "fallback" the workers may not use prctl and
#: must notice the parent's death on their own.
DRIVER = """
import sys
from datetime import datetime, timezone
from mutuality_adapters.files import connect, parallel
from mutuality_adapters.sqlite_state import SQLiteStateStore
from mutuality_core.sync import run_sync

folder, state, mode = sys.argv[1:4]
if mode == "fallback":
    parallel._die_with_parent = lambda: False
run_sync(
    connect(folder, workers=2),
    SQLiteStateStore(state),
    as_of=datetime(2026, 6, 1, tzinfo=timezone.utc),
    now=lambda: datetime.now(timezone.utc),
)
"""


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain CSV CRM large enough that the workers read for a few seconds."""
    folder = tmp_path_factory.mktemp("big_crm")
    with (folder / "contacts.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "email"])
        w.writerows([f"c{i}", f"p{i}@example.com"] for i in range(CONTACTS))
    channels = ("email", "call", "meeting", "note")
    directions = ("outbound", "inbound", "mutual")
    with (folder / "activities.csv").open("w", newline="") as f:
        f.write("id,contact_id,occurred_at,channel,direction\n")
        f.writelines(
            f"a{n},c{n * 7919 % CONTACTS},2026-0{1 + n % 5}-{1 + n % 28:02d}T10:00:00Z,"
            f"{channels[n % 4]},{directions[n % 3]}\n"
            for n in range(ACTIVITIES)
        )
    return folder


def _group_members(group: int) -> list[int]:
    """Live (not zombie) processes in process group ``group``."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        state, pgrp = fields[0], int(fields[2])
        if pgrp == group and state not in ("Z", "X"):
            members.append(int(entry))
    return members


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


@pytest.mark.parametrize("mode", ["prctl", "fallback"])
def test_killing_the_sync_stops_its_workers(crm: Path, tmp_path: Path, mode: str) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(crm), str(tmp_path / "state.sqlite"), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    group = parent.pid
    try:
        deadline = time.monotonic() + 10
        while len(_children(parent.pid)) < 2:
            assert parent.poll() is None, parent.communicate()
            assert time.monotonic() < deadline, "the workers never started"
            time.sleep(0.02)
        time.sleep(0.3)  # let them get into the read
        workers = _children(parent.pid)
        assert parent.poll() is None, "the sync finished before it could be killed"
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 3
        while (left := _group_members(group)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert left == [], f"workers {workers} still running 3 s after the parent was killed"
        # nothing holds the sync's output pipes any more: reading them ends
        assert parent.stdout is not None and parent.stderr is not None
        parent.stdout.read()
        parent.stderr.read()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        parent.wait()
