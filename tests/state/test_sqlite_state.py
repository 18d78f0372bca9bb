"""The SQLite state store: schema, cache, written values, run history and the run lock."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from mutuality_adapters.sqlite_state import SQLiteStateStore
from mutuality_adapters.sqlite_state import store as store_module
from mutuality_adapters.sqlite_state.schema import SCHEMA_VERSION

from mutuality_core.errors import LockHeldError, StateError
from mutuality_core.model import Activity, Contact
from mutuality_core.ports import Page, StateStore, WrittenScore

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
TARGET = "fake:acct-1"


def act(aid: str, cid: str, days: int = 0, **kw) -> Activity:
    kw.setdefault("channel", "email")
    kw.setdefault("direction", "outbound")
    return Activity(aid, cid, T0 + timedelta(days=days), **kw)


def written(cid: str, score: float = 50.0, band: str = "mutual") -> WrittenScore:
    return WrittenScore(cid, score, band, 0.1, 30.0, 0.5, "because", T0)


@pytest.fixture
def store(tmp_path):
    s = SQLiteStateStore(tmp_path / "state" / "mutuality.db")
    yield s
    s.close()


def histories(store: SQLiteStateStore, target: str = TARGET) -> dict[str, set[str]]:
    return {c.id: {a.id for a in acts} for c, acts in store.iter_histories(target)}


def test_conforms_to_the_port_and_creates_a_versioned_wal_file(store, tmp_path):
    assert isinstance(store, StateStore)
    path = tmp_path / "state" / "mutuality.db"
    assert path.exists()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_a_file_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "new.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StateError, match="upgrade mutuality"):
        SQLiteStateStore(path)


def test_a_damaged_file_gives_a_state_error_with_advice(tmp_path):
    path = tmp_path / "bad.db"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StateError, match="move it aside"):
        SQLiteStateStore(path)


def test_migrations_run_once_and_keep_data(tmp_path):
    path = tmp_path / "s.db"
    with SQLiteStateStore(path) as s:
        s.apply_page(TARGET, Page(cursor="c-1"))
    with SQLiteStateStore(path) as s:
        assert s.get_cursor(TARGET) == "c-1"


def test_pages_fill_the_cache_and_advance_the_cursor(store):
    assert store.get_cursor(TARGET) is None
    contact = Contact("c1", "a@x.com", "Ann", None, "Acme", T0, {"tier": "gold"})
    a1 = act("a1", "c1", 1, outcome="no_answer", thread_id="t", duration_seconds=12.5,
             automated=True, tags="ask;give")  # fmt: skip
    store.apply_page(TARGET, Page(contacts=[contact], activities=[a1], cursor="p1"))
    store.apply_page(TARGET, Page(activities=[act("a2", "c1", 2)], cursor=None))
    assert store.get_cursor(TARGET) == "p1"  # a page without a cursor keeps the previous one
    ((got_contact, got_acts),) = list(store.iter_histories(TARGET))
    assert got_contact == contact and dict(got_contact.extra) == {"tier": "gold"}
    assert got_acts == [a1, act("a2", "c1", 2)]  # every field survives the round trip
    assert store.cached_counts(TARGET) == {"contacts": 1, "activities": 2}
    assert histories(store, "other-target") == {}


def test_upserts_and_deletions(store):
    store.apply_page(
        TARGET,
        Page(
            contacts=[Contact("c1"), Contact("c2")],
            activities=[act("a1", "c1"), act("m1", "c1"), act("m1", "c2"), act("a2", "c2")],
        ),
    )
    store.record_written(TARGET, [written("c2")])
    store.apply_page(TARGET, Page(contacts=[Contact("c1", email="new@x.com")],
                                  activities=[act("a1", "c1", 5)]))  # fmt: skip
    (c1, acts), _ = list(store.iter_histories(TARGET))
    assert c1.email == "new@x.com" and [a.occurred_at for a in acts if a.id == "a1"] == [
        T0 + timedelta(days=5)
    ]
    store.apply_page(TARGET, Page(deleted_activity_ids=["m1"]))  # a shared id goes everywhere
    assert histories(store) == {"c1": {"a1"}, "c2": {"a2"}}
    store.apply_page(TARGET, Page(deleted_contact_ids=["c2"]))
    assert histories(store) == {"c1": {"a1"}}
    assert "c2" not in store.written(TARGET)


def test_a_failing_page_leaves_nothing_behind(store):
    store.apply_page(TARGET, Page(contacts=[Contact("c0")], cursor="before"))

    class Broken:
        id = "bad"
        contact_id = "c1"

        @property
        def occurred_at(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        store.apply_page(
            TARGET, Page(contacts=[Contact("c1")], activities=[Broken()], cursor="after")
        )
    assert store.get_cursor(TARGET) == "before"
    assert histories(store) == {"c0": set()}


def test_full_read_drops_what_the_source_no_longer_has(store):
    store.apply_page(
        TARGET,
        Page(contacts=[Contact("c1"), Contact("c2")], activities=[act("a1", "c1"), act("a2", "c2")],
             cursor="old"),
    )  # fmt: skip
    store.begin_full_read(TARGET)
    assert store.get_cursor(TARGET) is None and store.full_read_pending(TARGET)
    store.apply_page(
        TARGET, Page(contacts=[Contact("c1")], activities=[act("a3", "c1")], cursor="f1")
    )
    store.finish_full_read(TARGET, ["c1"])
    assert histories(store) == {"c1": {"a3"}}  # c2 and the stale a1 are gone
    assert not store.full_read_pending(TARGET) and store.get_cursor(TARGET) == "f1"


def test_pending_full_read_survives_a_restart(tmp_path):
    path = tmp_path / "s.db"
    with SQLiteStateStore(path) as s:
        s.apply_page(TARGET, Page(contacts=[Contact("c1"), Contact("c2")]))
        s.begin_full_read(TARGET)
        s.apply_page(TARGET, Page(contacts=[Contact("c1")], cursor="half"))
    with SQLiteStateStore(path) as s:  # the run was killed; the next one resumes the full read
        assert s.full_read_pending(TARGET) and s.get_cursor(TARGET) == "half"
        s.apply_page(TARGET, Page(contacts=[Contact("c3")], cursor="done"))
        s.finish_full_read(TARGET, ["c3"])
        assert set(histories(s)) == {"c1", "c3"}


def test_histories_stream_in_chunks_and_allow_writes_meanwhile(store, monkeypatch):
    monkeypatch.setattr(store_module, "_HISTORY_CHUNK", 3)
    contacts = [Contact(f"c{i:02d}") for i in range(10)]
    activities = [act(f"a{i}", f"c{i % 10:02d}", i) for i in range(30)]
    store.apply_page(TARGET, Page(contacts=contacts, activities=activities))
    seen = []
    for contact, acts in store.iter_histories(TARGET):
        store.record_written(TARGET, [written(contact.id)])
        seen.append((contact.id, len(acts)))
        assert [a.occurred_at for a in acts] == sorted(a.occurred_at for a in acts)
    assert seen == [(f"c{i:02d}", 3) for i in range(10)]
    assert len(store.written(TARGET)) == 10


@pytest.mark.parametrize("limit", [250_000, 0])
def test_written_values_round_trip(store, monkeypatch, limit):
    monkeypatch.setattr(store_module, "_WRITTEN_DICT_LIMIT", limit)
    store.record_written(TARGET, [written("c1", 10), written("c2", 20, "dormant")])
    store.record_written(TARGET, [written("c1", 11)])
    view = store.written(TARGET)
    assert len(view) == 2 and sorted(view) == ["c1", "c2"]
    assert view["c1"] == written("c1", 11)
    assert view.get("c2").band == "dormant" and view.get("c3") is None
    assert len(store.written("other")) == 0


def test_run_history(store):
    first = store.start_run(TARGET, started_at=T0, options={"full": True})
    store.finish_run(first, finished_at=T0 + timedelta(seconds=5),
                     report={"status": "ok", "written": 3, "errors": []})  # fmt: skip
    second = store.start_run("other", started_at=T0, options={})
    runs = store.runs()
    assert [r["id"] for r in runs] == [second, first]
    assert runs[0]["status"] == "running" and runs[0]["finished_at"] is None
    (mine,) = store.runs(TARGET)
    assert mine["options"] == {"full": True} and mine["report"]["written"] == 3
    assert mine["status"] == "ok" and mine["finished_at"].startswith("2026-01-01T00:00:05")
    assert store.targets() == ["fake:acct-1", "other"]


def test_reset_forgets_a_target_but_keeps_history(store):
    store.apply_page(TARGET, Page(contacts=[Contact("c1")], cursor="x"))
    store.record_written(TARGET, [written("c1")])
    store.start_run(TARGET, started_at=T0, options={})
    store.reset(TARGET)
    assert store.get_cursor(TARGET) is None and histories(store) == {}
    assert len(store.written(TARGET)) == 0 and len(store.runs(TARGET)) == 1


# -- the lock ---------------------------------------------------------------------------


def test_second_lock_on_the_same_target_names_the_holder(store, tmp_path):
    other = SQLiteStateStore(tmp_path / "state" / "mutuality.db")
    with store.lock(TARGET, owner="nightly sync"):
        with pytest.raises(LockHeldError) as info, other.lock(TARGET, owner="manual"):
            pass
        message = str(info.value)
        assert "nightly sync" in message and "pid" in message and TARGET in message
        assert "mutuality state unlock" in message
        with other.lock("another-target", owner="manual"):
            pass
    with other.lock(TARGET, owner="manual"):  # released on exit
        assert store.lock_holder(TARGET)["owner"] == "manual"
    other.close()


def test_lock_is_released_when_the_run_raises(store):
    with pytest.raises(ValueError), store.lock(TARGET, owner="a"):
        raise ValueError("run failed")
    assert store.lock_holder(TARGET) is None


def test_stale_lock_of_a_dead_process_is_broken(store):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store._db.execute(
        "INSERT INTO locks VALUES (?, ?, ?, ?, ?, ?)",
        (TARGET, "crashed run", store._host, dead.pid, "2026-01-01", "2026-01-01"),
    )
    with store.lock(TARGET, owner="new run"):
        assert store.lock_holder(TARGET)["owner"] == "new run"


def test_lock_held_by_another_live_process(store, tmp_path):
    path = tmp_path / "state" / "mutuality.db"
    script = textwrap.dedent(
        f"""
        import sys, time
        from mutuality_adapters.sqlite_state import SQLiteStateStore
        s = SQLiteStateStore({str(path)!r})
        with s.lock({TARGET!r}, owner="other process"):
            print("locked", flush=True)
            sys.stdin.readline()
        """
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with (
            pytest.raises(LockHeldError, match=f"other process \\(pid {holder.pid} "),
            store.lock(TARGET, owner="me"),
        ):
            pass
    finally:
        holder.communicate("\n", timeout=30)
    with store.lock(TARGET, owner="me"):
        pass


def test_break_lock_removes_a_lock_from_another_host(store):
    store._db.execute(
        "INSERT INTO locks VALUES (?, ?, ?, ?, ?, ?)",
        (TARGET, "run on box-2", "box-2", 1, "2026-01-01", datetime.now(timezone.utc).isoformat()),
    )
    with pytest.raises(LockHeldError, match="box-2"), store.lock(TARGET, owner="me"):
        pass
    assert store.break_lock(TARGET) is True
    with store.lock(TARGET, owner="me"):
        pass


# -- stale locks --------------------------------------------------------------------------


def _insert_lock(store, *, host: str, pid: int, heartbeat: datetime, owner: str = "old run"):
    store._db.execute(
        "INSERT INTO locks VALUES (?, ?, ?, ?, ?, ?)",
        (TARGET, owner, host, pid, "2026-01-01T00:00:00+00:00", heartbeat.isoformat()),
    )


def _ago(**delta: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(**delta)


def test_a_lock_from_another_host_expires_once_its_heartbeat_is_stale(store, caplog):
    _insert_lock(store, host="pod-7f9c", pid=1, heartbeat=_ago(hours=2, minutes=1))
    with store.lock(TARGET, owner="next pod"):
        assert store.lock_holder(TARGET)["owner"] == "next pod"
    assert "pod-7f9c" in caplog.text and "heartbeat" in caplog.text


def test_a_lock_with_a_fresh_heartbeat_holds_and_says_what_to_do(store):
    _insert_lock(store, host="pod-7f9c", pid=1, heartbeat=_ago(minutes=90))
    with pytest.raises(LockHeldError) as info, store.lock(TARGET, owner="next pod"):
        pass
    message = str(info.value)
    assert "old run (pid 1 on host pod-7f9c, started 2026-01-01T00:00:00+00:00" in message
    assert "expires" in message and "2:00:00" in message
    assert f"mutuality state unlock {TARGET} --state {store.path}" in message


def test_lock_expiry_is_configurable(tmp_path):
    store = SQLiteStateStore(tmp_path / "s.db", lock_expires_after=timedelta(minutes=10))
    _insert_lock(store, host="pod-7f9c", pid=1, heartbeat=_ago(minutes=11))
    with store.lock(TARGET, owner="next pod"):
        pass
    never = SQLiteStateStore(tmp_path / "s.db", lock_expires_after=None)
    _insert_lock(never, host="pod-7f9c", pid=1, heartbeat=_ago(days=29))
    with pytest.raises(LockHeldError, match="pod-7f9c"), never.lock(TARGET, owner="x"):
        pass
    with pytest.raises(ValueError, match="lock_expires_after"):
        SQLiteStateStore(tmp_path / "s.db", lock_expires_after=timedelta(0))
    store.close()
    never.close()


def test_a_lock_naming_our_own_pid_is_left_from_before_a_restart(store):
    """A container restarted with the same hostname gets the same pid (often 1) again."""
    _insert_lock(store, host=store._host, pid=os.getpid(), heartbeat=_ago(minutes=1))
    with store.lock(TARGET, owner="after restart"):
        assert store.lock_holder(TARGET)["owner"] == "after restart"


def test_a_lock_held_in_this_process_still_holds(store, tmp_path):
    other = SQLiteStateStore(tmp_path / "state" / "mutuality.db")
    with (
        store.lock(TARGET, owner="first"),
        pytest.raises(LockHeldError, match="first"),
        other.lock(TARGET, owner="second"),
    ):
        pass
    other.close()


def test_long_stages_keep_the_heartbeat_fresh(store, monkeypatch):
    """Reading a big cache writes nothing else; the heartbeat must still move."""
    monkeypatch.setattr(store_module, "_HISTORY_CHUNK", 2)
    store.apply_page(TARGET, Page(contacts=[Contact(f"c{i}") for i in range(6)]))
    with store.lock(TARGET, owner="run"):
        old = _ago(hours=1).isoformat(timespec="seconds")
        store._db.execute("UPDATE locks SET heartbeat_at = ?", (old,))
        monkeypatch.setattr(store_module, "_HEARTBEAT_EVERY_SECONDS", 0.0)
        histories(store)
        assert store.lock_holder(TARGET)["heartbeat_at"] > old
        store._db.execute("UPDATE locks SET heartbeat_at = ?", (old,))
        store.start_run(TARGET, started_at=T0, options={})
        assert store.lock_holder(TARGET)["heartbeat_at"] > old
    assert histories(store)  # without the lock: no heartbeat, no error


# -- unusable state files -------------------------------------------------------------------


@contextlib.contextmanager
def _as_unprivileged_user():
    """Root ignores file permissions: act as ``nobody`` for the block (no-op for others)."""
    if os.name != "posix" or os.geteuid() != 0:
        yield
        return
    os.setegid(65534)
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def test_a_read_only_state_file_says_to_fix_permissions(tmp_path):
    folder = Path(tempfile.mkdtemp(prefix="mutuality-ro-"))
    try:
        folder.chmod(0o777)
        path = folder / "state.sqlite"
        SQLiteStateStore(path).close()
        path.chmod(0o444)
        with _as_unprivileged_user():
            store = SQLiteStateStore(path)
            try:
                with pytest.raises(StateError) as info, store.lock(TARGET, owner="me"):
                    pass
            finally:
                store.close()
        message = str(info.value)
        assert str(path) in message and "read-only" in message and "writable" in message
        assert isinstance(info.value.__cause__, sqlite3.Error)
    finally:
        shutil.rmtree(folder)


def test_a_file_damaged_while_open_says_to_move_it_aside(tmp_path):
    path = tmp_path / "state.sqlite"
    store = SQLiteStateStore(path)
    store.apply_page(TARGET, Page(contacts=[Contact(f"c{i}") for i in range(2000)]))
    store.close()
    store = SQLiteStateStore(path)
    size = path.stat().st_size
    with path.open("r+b") as f:  # keep the header page, ruin the rest
        f.seek(4096)
        f.write(b"\xff" * (size - 4096))
    try:
        with pytest.raises(StateError, match=r"damaged.*move it aside"):
            histories(store)
    finally:
        store.close()


def test_a_state_file_locked_by_another_program_says_to_close_it(tmp_path):
    path = tmp_path / "state.sqlite"
    store = SQLiteStateStore(path, busy_timeout_ms=100)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StateError, match=r"busy.*another program") as info:
            store.record_written(TARGET, [written("c1")])
        assert str(path) in str(info.value)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        store.close()


def test_schema_1_files_get_the_algorithm_of_their_scores_and_a_failed_table(tmp_path):
    """Every score written before schema 2 was written by mutuality-1.0, the only version."""
    from mutuality_adapters.sqlite_state.schema import MIGRATIONS

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.execute(
        "INSERT INTO written VALUES ('t', 'c1', 50.0, 'mutual', 0.0, 10.0, 0.5, 'r', "
        "'2026-01-01T00:00:00+00:00')"
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    store = SQLiteStateStore(path)
    try:
        assert store.written("t")["c1"].algorithm == "mutuality-1.0"
        assert store.failed("t") == {}
    finally:
        store.close()


def test_failed_writes_are_kept_until_written_or_forgotten(tmp_path):
    from mutuality_core.ports import FailedWrite

    store = SQLiteStateStore(tmp_path / "s.sqlite")
    try:
        store.record_failed("t", [FailedWrite("c1", "boom", 2), FailedWrite("c2", "lock", 1)])
        assert store.failed("t") == {
            "c1": FailedWrite("c1", "boom", 2),
            "c2": FailedWrite("c2", "lock", 1),
        }
        store.record_written("t", [written("c1")])
        assert set(store.failed("t")) == {"c2"}
        store.apply_page("t", Page(deleted_contact_ids=["c2"]))
        assert store.failed("t") == {} and store.failed("other") == {}
    finally:
        store.close()
