"""The embedded state store: one SQLite file (stdlib ``sqlite3``) per installation.

Every mutating method is one ``BEGIN IMMEDIATE`` transaction, so a run that is
killed at any point leaves the file as it was after the last committed page or
batch. WAL mode lets ``mutuality state``/``runs`` read while a sync is writing.

Every ``sqlite3`` error leaves as a :class:`~mutuality_core.errors.StateError`
that says what to do: fix permissions, close the program holding the file, or
move a damaged file aside.

The run lock is a row per target with the holder's host, pid and a heartbeat.
The heartbeat moves with every page, written batch, run record and cache chunk
a run stores (at least every ``_HEARTBEAT_EVERY_SECONDS`` while reading the
cache), so a lock whose heartbeat is older than ``lock_expires_after`` (default
:data:`DEFAULT_LOCK_EXPIRES_AFTER`) belongs to a run that is gone, on whatever
host it ran. The longest stages without a store call are an adapter waiting on
the CRM (a Salesforce bulk job waits up to ``bulk_max_wait_seconds``, one hour
by default) and the files adapter reading a large file (seconds per million
activities), hence two hours.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

from mutuality_core.errors import ConfigError, LockHeldError, StateError
from mutuality_core.model import Activity, Contact
from mutuality_core.ports import Cursor, FailedWrite, Page, WrittenScore

from .schema import MIGRATIONS, SCHEMA_VERSION

__all__ = ["DEFAULT_LOCK_EXPIRES_AFTER", "SQLiteStateStore"]

log = logging.getLogger(__name__)

#: How many contacts ``iter_histories`` loads per query; bounds memory for big caches.
_HISTORY_CHUNK = 2000
#: Up to this many written rows, ``written()`` loads a plain dict (fast lookups).
_WRITTEN_DICT_LIMIT = 250_000

_ACTIVITY_COLUMNS = (
    "contact_id, activity_id, occurred_at, channel, direction, outcome, thread_id, "
    "duration_seconds, automated, tags"
)
#: A lock whose heartbeat is older than this was left by a run that is gone (module docstring).
DEFAULT_LOCK_EXPIRES_AFTER = timedelta(hours=2)
#: While a run reads its cache (no other writes), refresh its heartbeat this often.
_HEARTBEAT_EVERY_SECONDS = 60.0
#: (state file, target) of every lock this process holds: a lock row naming our own
#: host and pid that is not in here was left by an earlier process with our pid.
_HELD: set[tuple[str, str]] = set()

_F = TypeVar("_F", bound=Callable[..., Any])

_CONTACT_COLUMNS = "contact_id, email, first_name, last_name, company, modified_at, extra"
_WRITTEN_COLUMNS = (
    "contact_id, score, band, lean, strength, confidence, reasons, scored_at, algorithm"
)
#: Tables holding one row per (target, contact) that forgetting a contact empties.
_PER_CONTACT_TABLES = ("contacts", "activities", "written", "failed")
_HISTORY_COLUMNS = (
    "run_id, previous_score, previous_band, previous_lean, previous_strength, previous_run_id"
)
#: The upsert of ``record_written``: the old value moves to ``previous_*`` unless the same
#: run wrote it (then the value before that run stays the previous one).
_SHIFT_PREVIOUS = ", ".join(
    [
        f"previous_{column} = CASE WHEN excluded.run_id IS NOT NULL AND written.run_id IS "
        f"excluded.run_id THEN written.previous_{column} ELSE written.{column} END"
        for column in ("score", "band", "lean", "strength", "run_id")
    ]
    + [
        f"{column} = excluded.{column}"
        for column in (
            "score", "band", "lean", "strength", "confidence", "reasons", "scored_at", "run_id",
            "algorithm",
        )
    ]
)  # fmt: skip


def _utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _is_error(exc: sqlite3.Error, code: str, *words: str) -> bool:
    """Whether ``exc`` is SQLite's ``code`` (or an extended form of it), or its message says so."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name == code or name.startswith(code + "_"):
        return True
    text = str(exc).lower()
    return not name and any(word in text for word in words)


def _explain(exc: sqlite3.Error, path: str, busy_timeout_ms: int, doing: str) -> StateError:
    """A :class:`StateError` for ``exc`` that names the file and what to do about it."""
    if _is_error(exc, "SQLITE_READONLY", "readonly", "read-only"):
        name = Path(path).name
        return StateError(
            f"cannot {doing} state file {path}: it is read-only for this user ({exc}). Make the "
            f"file and its folder writable by the user running mutuality (SQLite also writes "
            f"{name}-wal and {name}-shm next to it), or pass --state with a writable path."
        )
    if _is_error(exc, "SQLITE_CANTOPEN", "unable to open"):
        return StateError(
            f"cannot open state file {path} ({exc}): check that its folder exists and that this "
            "user may read and write both the file and its folder, or pass --state with another "
            "path."
        )
    if _is_error(exc, "SQLITE_BUSY", "locked", "busy") or _is_error(exc, "SQLITE_LOCKED"):
        return StateError(
            f"cannot {doing} state file {path}: it is busy ({exc}): another program has held a "
            f"lock on it for over {busy_timeout_ms / 1000:g} s, e.g. a sqlite3 shell or database "
            "browser with an open transaction, or a stuck mutuality process. Close that program "
            "(or end that process) and run again."
        )
    if _is_error(exc, "SQLITE_CORRUPT", "malformed") or _is_error(
        exc, "SQLITE_NOTADB", "not a database"
    ):
        return StateError(
            f"state file {path} is damaged ({exc}); move it aside (mutuality then starts from a "
            "fresh state and rewrites every score once)."
        )
    if _is_error(exc, "SQLITE_FULL", "is full"):
        return StateError(
            f"cannot {doing} state file {path}: the disk is full ({exc}). Free some space and run "
            "again; everything committed so far is kept."
        )
    if _is_error(exc, "SQLITE_IOERR", "i/o error"):
        return StateError(
            f"cannot {doing} state file {path}: I/O error ({exc}). Check the disk and the file "
            "system (SQLite needs a local file system, not a network share) and run again."
        )
    return StateError(
        f"cannot {doing} state file {path}: {exc}. If the file is damaged, move it aside "
        "(mutuality then starts from a fresh state and rewrites every score once)."
    )


def _reads(method: _F) -> _F:
    """Turn ``sqlite3`` errors of a reading method into :class:`StateError` (see ``_explain``)."""

    @functools.wraps(method)
    def reading(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise self._explain(exc, "read") from exc

    return reading  # type: ignore[return-value]


def _parse_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _pid_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists on this host (conservatively True if unknown)."""
    if os.name == "nt":  # pragma: no cover - os.kill(pid, 0) is not a probe on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists, under another user
        return True
    return True


class SQLiteStateStore:
    """A :class:`mutuality_core.ports.StateStore` in one SQLite file.

    ``path`` may be ``":memory:"`` for tests. The file and its parent folder are
    created on first use; an existing file is migrated to the current schema.

    ``lock_expires_after``: a run lock whose heartbeat is older than this is
    broken (with a warning) by the next run, whatever host it names; ``None``
    keeps such locks until ``break_lock`` (``mutuality state unlock``). Raise it
    above the longest time an adapter may wait without storing anything, e.g. a
    larger Salesforce ``bulk_max_wait_seconds``. Hosts sharing a state file must
    have clocks within a few minutes of each other.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout_ms: int = 10_000,
        lock_expires_after: timedelta | None = DEFAULT_LOCK_EXPIRES_AFTER,
    ) -> None:
        if lock_expires_after is not None and lock_expires_after <= timedelta(0):
            raise ConfigError(
                f"lock_expires_after must be positive (or None: never), not {lock_expires_after}"
            )
        self.path = str(path)
        self._busy_timeout_ms = int(busy_timeout_ms)
        self._lock_expires_after = lock_expires_after
        self._host = socket.gethostname()
        self._file = f":memory:{id(self)}" if self.path == ":memory:" else os.path.realpath(path)
        self._beats: dict[str, float] = {}  # target -> when this store last wrote its heartbeat
        self._open_runs: dict[str, int] = {}  # target -> the run started here and not finished
        if self.path != ":memory:":
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StateError(
                    f"cannot create the folder of state file {self.path}: {exc.strerror}; "
                    "create it, or pass --state with a writable path"
                ) from exc
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._explain(exc, "open") from exc
        try:
            self._db.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except sqlite3.Error as exc:
            self._db.close()
            raise self._explain(exc, "open") from exc
        except BaseException:
            self._db.close()
            raise

    # -- plumbing -----------------------------------------------------------------

    def _migrate(self) -> None:
        with self._transaction():
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StateError(
                    f"state file {self.path} has schema version {version}, but this mutuality "
                    f"knows only up to {SCHEMA_VERSION}; upgrade mutuality or use another "
                    "state file"
                )
            for number in range(version, SCHEMA_VERSION):
                log.info("migrating state file %s to schema version %d", self.path, number + 1)
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        self._db.execute(statement)
            if version != SCHEMA_VERSION:
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _explain(self, exc: sqlite3.Error, doing: str) -> StateError:
        return _explain(exc, self.path, self._busy_timeout_ms, doing)

    def _rollback(self) -> None:
        """Undo the open transaction, if any; a failure here must not hide the first error."""
        try:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
        except sqlite3.Error:
            log.debug("rollback of %s failed", self.path, exc_info=True)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._explain(exc, "write to") from exc
        try:
            yield db
        except sqlite3.Error as exc:
            self._rollback()
            raise self._explain(exc, "write to") from exc
        except BaseException:
            self._rollback()
            raise
        try:
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise self._explain(exc, "write to") from exc

    def _generation(self, db: sqlite3.Connection, target: str) -> int:
        db.execute("INSERT OR IGNORE INTO targets (target) VALUES (?)", (target,))
        row = db.execute("SELECT generation FROM targets WHERE target = ?", (target,)).fetchone()
        return int(row[0])

    def _heartbeat(self, db: sqlite3.Connection, target: str) -> None:
        """Show that the run holding ``target``'s lock still lives (a no-op for others)."""
        if target not in self._beats:
            return
        db.execute(
            "UPDATE locks SET heartbeat_at = ? WHERE target = ? AND host = ? AND pid = ?",
            (_utcnow(), target, self._host, os.getpid()),
        )
        self._beats[target] = time.monotonic()

    def _heartbeat_if_due(self, target: str) -> None:
        """A heartbeat for stages that store nothing else (e.g. reading the cache)."""
        last = self._beats.get(target)
        if last is not None and time.monotonic() - last >= _HEARTBEAT_EVERY_SECONDS:
            with self._transaction() as db:
                self._heartbeat(db, target)

    # -- lock -----------------------------------------------------------------------

    @contextmanager
    def lock(self, target: str, *, owner: str) -> Iterator[None]:
        """Hold the run lock for ``target``; raise LockHeldError when another run has it.

        A lock left behind is broken (with a warning) when its heartbeat is older
        than ``lock_expires_after``, when it names a process that no longer exists
        on this host, or when it names this very process but was not taken by it
        (a container restarted with the same hostname and pid). Otherwise the
        error names the holder and says how to remove the lock.
        """
        self._acquire(target, owner)
        try:
            yield
        finally:
            self._release(target)

    def _acquire(self, target: str, owner: str) -> None:
        with self._transaction() as db:
            row = db.execute(
                "SELECT owner, host, pid, started_at, heartbeat_at FROM locks WHERE target = ?",
                (target,),
            ).fetchone()
            if row is not None:
                held_owner, host, pid, started_at, heartbeat_at = row
                stale = self._why_stale(target, host, pid, heartbeat_at)
                if stale is None:
                    raise LockHeldError(self._held_message(target, row))
                log.warning(
                    "breaking a stale lock on %s: %s (pid %s on %s, started %s): %s",
                    target,
                    held_owner,
                    pid,
                    host,
                    started_at,
                    stale,
                )
                db.execute("DELETE FROM locks WHERE target = ?", (target,))
            now = _utcnow()
            db.execute(
                "INSERT INTO locks (target, owner, host, pid, started_at, heartbeat_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (target, owner, self._host, os.getpid(), now, now),
            )
        _HELD.add((self._file, target))
        self._beats[target] = time.monotonic()

    def _why_stale(self, target: str, host: str, pid: int, heartbeat_at: str) -> str | None:
        """Why the lock row cannot belong to a live run, or None if it may."""
        if host == self._host:
            if pid == os.getpid() and (self._file, target) not in _HELD:
                return "it names this process's own pid, so it is left from before a restart"
            if pid != os.getpid() and not _pid_alive(pid):
                return "that process is gone"
        if self._lock_expires_after is None:
            return None
        beat = _parse_time(heartbeat_at)
        if beat is None:
            return f"its heartbeat {heartbeat_at!r} is not a time"
        age = datetime.now(timezone.utc) - beat
        if age > self._lock_expires_after:
            return (
                f"its last heartbeat was {_duration(age)} ago (locks expire "
                f"{_duration(self._lock_expires_after)} after their last heartbeat)"
            )
        return None

    def _held_message(self, target: str, row: tuple[Any, ...]) -> str:
        held_owner, host, pid, started_at, heartbeat_at = row
        beat = _parse_time(heartbeat_at)
        age = "" if beat is None else f", {_duration(datetime.now(timezone.utc) - beat)} ago"
        expiry = ""
        if self._lock_expires_after is not None and beat is not None:
            expiry = (
                " If that run was killed, its lock expires on its own "
                f"{_duration(self._lock_expires_after)} after its last heartbeat (at "
                f"{(beat + self._lock_expires_after).isoformat(timespec='seconds')})."
            )
        return (
            f"another run is already syncing {target}: {held_owner} (pid {pid} on host {host}, "
            f"started {started_at}, last heartbeat {heartbeat_at}{age}). Wait for it to "
            f"finish.{expiry} If you know that run is gone (e.g. its pod or container was "
            f"killed), remove the lock now with: mutuality state unlock {target} --state "
            f"{self.path}"
        )

    def _release(self, target: str) -> None:
        _HELD.discard((self._file, target))
        self._beats.pop(target, None)
        with self._transaction() as db:
            db.execute(
                "DELETE FROM locks WHERE target = ? AND host = ? AND pid = ?",
                (target, self._host, os.getpid()),
            )

    @_reads
    def lock_holder(self, target: str) -> Mapping[str, Any] | None:
        """Who holds the lock on ``target`` (owner, host, pid, started_at, heartbeat_at)."""
        cur = self._db.execute(
            "SELECT owner, host, pid, started_at, heartbeat_at FROM locks WHERE target = ?",
            (target,),
        )
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([d[0] for d in cur.description], row, strict=True))

    def break_lock(self, target: str) -> bool:
        """Remove the lock on ``target`` whoever holds it. True if there was one."""
        with self._transaction() as db:
            return db.execute("DELETE FROM locks WHERE target = ?", (target,)).rowcount > 0

    # -- cursor and activity cache ----------------------------------------------------

    @_reads
    def get_cursor(self, target: str) -> Cursor | None:
        row = self._db.execute("SELECT cursor FROM targets WHERE target = ?", (target,)).fetchone()
        return None if row is None else row[0]

    @_reads
    def full_read_pending(self, target: str) -> bool:
        row = self._db.execute(
            "SELECT full_read_pending FROM targets WHERE target = ?", (target,)
        ).fetchone()
        return bool(row and row[0])

    def begin_full_read(self, target: str) -> None:
        with self._transaction() as db:
            self._generation(db, target)
            db.execute(
                "UPDATE targets SET cursor = NULL, cursor_updated_at = ?, "
                "generation = generation + 1, full_read_pending = 1 WHERE target = ?",
                (_utcnow(), target),
            )
            self._heartbeat(db, target)

    def apply_page(self, target: str, page: Page) -> None:
        with self._transaction() as db:
            generation = self._generation(db, target)
            if page.contacts:
                db.executemany(
                    "INSERT OR REPLACE INTO contacts (target, contact_id, email, first_name, "
                    "last_name, company, modified_at, extra, generation) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            target,
                            c.id,
                            c.email,
                            c.first_name,
                            c.last_name,
                            c.company,
                            None if c.modified_at is None else c.modified_at.isoformat(),
                            json.dumps(dict(c.extra), ensure_ascii=False) if c.extra else None,
                            generation,
                        )
                        for c in page.contacts
                    ],
                )
            if page.activities:
                db.executemany(
                    "INSERT OR REPLACE INTO activities (target, contact_id, activity_id, "
                    "occurred_at, channel, direction, outcome, thread_id, duration_seconds, "
                    "automated, tags, generation) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            target,
                            a.contact_id,
                            a.id,
                            a.occurred_at.isoformat(),
                            a.channel.value,
                            a.direction.value,
                            a.outcome.value,
                            a.thread_id,
                            a.duration_seconds,
                            1 if a.automated else 0,
                            ";".join(sorted(a.tags)),
                            generation,
                        )
                        for a in page.activities
                    ],
                )
            if page.deleted_activity_ids:
                db.executemany(
                    "DELETE FROM activities WHERE target = ? AND activity_id = ?",
                    [(target, i) for i in page.deleted_activity_ids],
                )
            if page.deleted_contact_ids:
                gone = [(target, i) for i in page.deleted_contact_ids]
                for table in _PER_CONTACT_TABLES:
                    db.executemany(
                        f"DELETE FROM {table} WHERE target = ? AND contact_id = ?",
                        gone,
                    )
            if page.cursor is not None:
                db.execute(
                    "UPDATE targets SET cursor = ?, cursor_updated_at = ? WHERE target = ?",
                    (page.cursor, _utcnow(), target),
                )
            self._heartbeat(db, target)

    def finish_full_read(self, target: str, seen_contact_ids: Iterable[str]) -> list[str]:
        with self._transaction() as db:
            generation = self._generation(db, target)
            db.execute("CREATE TEMP TABLE IF NOT EXISTS seen_ids (id TEXT PRIMARY KEY)")
            db.execute("DELETE FROM seen_ids")
            db.executemany(
                "INSERT OR IGNORE INTO seen_ids (id) VALUES (?)", ((i,) for i in seen_contact_ids)
            )
            dropped = [
                row[0]
                for row in db.execute(
                    "SELECT contact_id FROM contacts WHERE target = ? AND generation < ? "
                    "AND contact_id NOT IN (SELECT id FROM seen_ids)",
                    (target, generation),
                )
            ]
            db.execute(
                "DELETE FROM contacts WHERE target = ? AND generation < ? "
                "AND contact_id NOT IN (SELECT id FROM seen_ids)",
                (target, generation),
            )
            db.execute(
                "DELETE FROM activities WHERE target = ? AND (generation < ? OR contact_id NOT IN "
                "(SELECT contact_id FROM contacts WHERE target = ?))",
                (target, generation, target),
            )
            for table in ("written", "failed"):
                db.executemany(
                    f"DELETE FROM {table} WHERE target = ? AND contact_id = ?",
                    [(target, i) for i in dropped],
                )
            db.execute("DELETE FROM seen_ids")
            db.execute("UPDATE targets SET full_read_pending = 0 WHERE target = ?", (target,))
            self._heartbeat(db, target)
            if dropped:
                log.info(
                    "full read of %s: dropped %d contacts no longer there", target, len(dropped)
                )
            return dropped

    def iter_histories(self, target: str) -> Iterator[tuple[Contact, list[Activity]]]:
        """Every cached contact with its cached activities, ordered by contact id.

        Reads in chunks and holds no statement open between chunks, so the caller
        may write (e.g. ``record_written``) while iterating.
        """
        try:
            yield from self._histories(target)
        except sqlite3.Error as exc:
            raise self._explain(exc, "read") from exc

    def _histories(self, target: str) -> Iterator[tuple[Contact, list[Activity]]]:
        after = ""
        while True:
            self._heartbeat_if_due(target)
            contact_rows = self._db.execute(
                f"SELECT {_CONTACT_COLUMNS} FROM contacts WHERE target = ? AND contact_id > ? "
                "ORDER BY contact_id LIMIT ?",
                (target, after, _HISTORY_CHUNK),
            ).fetchall()
            if not contact_rows:
                return
            first, last = contact_rows[0][0], contact_rows[-1][0]
            by_contact: dict[str, list[Activity]] = {}
            for row in self._db.execute(
                f"SELECT {_ACTIVITY_COLUMNS} FROM activities WHERE target = ? "
                "AND contact_id >= ? AND contact_id <= ? ORDER BY contact_id, occurred_at",
                (target, first, last),
            ):
                activity = _activity_from_row(row)
                by_contact.setdefault(activity.contact_id, []).append(activity)
            for row in contact_rows:
                yield _contact_from_row(row), by_contact.get(row[0], [])
            after = last

    @_reads
    def cached_contacts(self, target: str) -> list[Contact]:
        """The contacts the cache holds for ``target`` (no activities), ordered by id."""
        rows = self._db.execute(
            f"SELECT {_CONTACT_COLUMNS} FROM contacts WHERE target = ? ORDER BY contact_id",
            (target,),
        )
        return [_contact_from_row(row) for row in rows]

    @_reads
    def cached_counts(self, target: str) -> Mapping[str, int]:
        """How many contacts and activities the cache holds for ``target``."""
        contacts = self._db.execute(
            "SELECT count(*) FROM contacts WHERE target = ?", (target,)
        ).fetchone()[0]
        activities = self._db.execute(
            "SELECT count(*) FROM activities WHERE target = ?", (target,)
        ).fetchone()[0]
        return {"contacts": contacts, "activities": activities}

    # -- written values ---------------------------------------------------------------

    @_reads
    def written(self, target: str) -> Mapping[str, WrittenScore]:
        count = self._db.execute(
            "SELECT count(*) FROM written WHERE target = ?", (target,)
        ).fetchone()[0]
        if count <= _WRITTEN_DICT_LIMIT:
            rows = self._db.execute(
                f"SELECT {_WRITTEN_COLUMNS} FROM written WHERE target = ?", (target,)
            ).fetchall()
            # a run's values share one scored_at: parse each distinct text once
            times = {text: datetime.fromisoformat(text) for text in {row[7] for row in rows}}
            return {
                row[0]: WrittenScore(
                    row[0], row[1], row[2], row[3], row[4], row[5], row[6], times[row[7]], row[8]
                )
                for row in rows
            }
        return _WrittenView(self._db, target, self._explain)

    @_reads
    def written_history(self, target: str) -> list[Mapping[str, Any]]:
        """Every written value with the run that wrote it and the value it replaced.

        Each row: ``contact_id``, ``score``, ``band``, ``lean``, ``strength``,
        ``confidence``, ``reasons``, ``scored_at``, ``algorithm``, ``run_id`` and
        ``previous_score``, ``previous_band``, ``previous_lean``, ``previous_strength``,
        ``previous_run_id``.
        Run ids and previous values are None for values written before schema
        version 2, and previous values are None for a contact's first value.
        """
        cursor = self._db.execute(
            f"SELECT {_WRITTEN_COLUMNS}, {_HISTORY_COLUMNS} FROM written WHERE target = ? "
            "ORDER BY contact_id",
            (target,),
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    def record_written(self, target: str, written: Sequence[WrittenScore]) -> None:
        """Store the values written, each tagged with the open run, keeping the value it replaced.

        A value replaced within the same run (written twice) keeps the older previous value.
        """
        run_id = self._open_runs.get(target)
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO written (target, contact_id, score, band, lean, strength, "
                "confidence, reasons, scored_at, run_id, algorithm) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                f"ON CONFLICT (target, contact_id) DO UPDATE SET {_SHIFT_PREVIOUS}",
                [
                    (
                        target,
                        w.contact_id,
                        w.score,
                        w.band,
                        w.lean,
                        w.strength,
                        w.confidence,
                        w.reasons,
                        w.scored_at.isoformat(),
                        run_id,
                        w.algorithm,
                    )
                    for w in written
                ],
            )
            has_failures = db.execute(
                "SELECT 1 FROM failed WHERE target = ? LIMIT 1", (target,)
            ).fetchone()
            if has_failures:  # a sync with no failed writes skips a probe per value
                db.executemany(
                    "DELETE FROM failed WHERE target = ? AND contact_id = ?",
                    [(target, w.contact_id) for w in written],
                )
            self._heartbeat(db, target)

    # -- failed writes ----------------------------------------------------------------

    @_reads
    def failed(self, target: str) -> Mapping[str, FailedWrite]:
        rows = self._db.execute(
            "SELECT contact_id, error, runs FROM failed WHERE target = ?", (target,)
        )
        return {row[0]: FailedWrite(row[0], row[1], row[2]) for row in rows}

    def record_failed(self, target: str, failed: Sequence[FailedWrite]) -> None:
        with self._transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO failed (target, contact_id, error, runs) "
                "VALUES (?, ?, ?, ?)",
                [(target, f.contact_id, f.error, f.runs) for f in failed],
            )
            self._heartbeat(db, target)

    # -- run history ------------------------------------------------------------------

    def start_run(self, target: str, *, started_at: datetime, options: Mapping[str, Any]) -> int:
        with self._transaction() as db:
            cur = db.execute(
                "INSERT INTO runs (target, started_at, status, options) VALUES (?, ?, ?, ?)",
                (target, started_at.isoformat(), "running", json.dumps(options, default=str)),
            )
            self._heartbeat(db, target)
            run_id = int(cur.lastrowid or 0)
        self._open_runs[target] = run_id
        return run_id

    def finish_run(self, run_id: int, *, finished_at: datetime, report: Mapping[str, Any]) -> None:
        status = str(report.get("status", "finished"))
        for target, open_run in list(self._open_runs.items()):
            if open_run == run_id:
                del self._open_runs[target]
        with self._transaction() as db:
            db.execute(
                "UPDATE runs SET finished_at = ?, status = ?, report = ? WHERE id = ?",
                (finished_at.isoformat(), status, json.dumps(report, default=str), run_id),
            )

    @_reads
    def runs(self, target: str | None = None, *, limit: int = 20) -> list[Mapping[str, Any]]:
        """The latest runs, newest first. A run still ``running`` may also have been killed."""
        sql = "SELECT id, target, started_at, finished_at, status, options, report FROM runs"
        params: tuple[Any, ...] = ()
        if target is not None:
            sql += " WHERE target = ?"
            params = (target,)
        sql += " ORDER BY id DESC LIMIT ?"
        result: list[Mapping[str, Any]] = []
        for run_id, tgt, started, finished, status, options, report in self._db.execute(
            sql, (*params, limit)
        ):
            result.append(
                {
                    "id": run_id,
                    "target": tgt,
                    "started_at": started,
                    "finished_at": finished,
                    "status": status,
                    "options": json.loads(options),
                    "report": None if report is None else json.loads(report),
                }
            )
        return result

    # -- housekeeping -----------------------------------------------------------------

    @_reads
    def targets(self) -> list[str]:
        """Every target this file has state for."""
        rows = self._db.execute(
            "SELECT target FROM targets UNION SELECT target FROM written "
            "UNION SELECT target FROM runs ORDER BY 1"
        )
        return [r[0] for r in rows]

    def reset(self, target: str) -> None:
        """Forget ``target``'s cursor, cache and written values (its run history stays).

        The next sync reads everything again and rewrites every score once.
        """
        with self._transaction() as db:
            for table in ("targets", *_PER_CONTACT_TABLES):
                db.execute(f"DELETE FROM {table} WHERE target = ?", (target,))

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SQLiteStateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _WrittenView(Mapping[str, WrittenScore]):
    """``written()`` for very large targets: looks rows up one by one instead of loading all."""

    def __init__(
        self,
        db: sqlite3.Connection,
        target: str,
        explain: Callable[[sqlite3.Error, str], StateError],
    ) -> None:
        self._db = db
        self._target = target
        self._explain = explain

    @_reads
    def __getitem__(self, contact_id: str) -> WrittenScore:
        row = self._db.execute(
            f"SELECT {_WRITTEN_COLUMNS} FROM written WHERE target = ? AND contact_id = ?",
            (self._target, contact_id),
        ).fetchone()
        if row is None:
            raise KeyError(contact_id)
        return _written_from_row(row)

    def __iter__(self) -> Iterator[str]:
        try:
            yield from self._ids()
        except sqlite3.Error as exc:
            raise self._explain(exc, "read") from exc

    def decision_pages(
        self, size: int = 100_000
    ) -> Iterator[list[tuple[str, float, str, str | None]]]:
        """(contact id, score, band, algorithm) of every written value, a page at a time.

        All that deciding a write needs (see ``write_decision``), without building a
        WrittenScore per row: what a whole-table diff elsewhere (Spark) reads.
        """
        try:
            after = ""
            while True:
                rows = self._db.execute(
                    "SELECT contact_id, score, band, algorithm FROM written WHERE target = ? "
                    "AND contact_id > ? ORDER BY contact_id LIMIT ?",
                    (self._target, after, size),
                ).fetchall()
                if not rows:
                    return
                yield rows
                after = rows[-1][0]
        except sqlite3.Error as exc:
            raise self._explain(exc, "read") from exc

    def _ids(self) -> Iterator[str]:
        after = ""
        while True:
            ids = [
                r[0]
                for r in self._db.execute(
                    "SELECT contact_id FROM written WHERE target = ? AND contact_id > ? "
                    "ORDER BY contact_id LIMIT 10000",
                    (self._target, after),
                )
            ]
            if not ids:
                return
            yield from ids
            after = ids[-1]

    @_reads
    def __len__(self) -> int:
        return int(
            self._db.execute(
                "SELECT count(*) FROM written WHERE target = ?", (self._target,)
            ).fetchone()[0]
        )


def _duration(delta: timedelta) -> str:
    """``delta`` to the second, e.g. ``2:00:00`` or ``29 days, 0:00:00``."""
    return str(timedelta(seconds=round(delta.total_seconds())))


def _activity_from_row(row: tuple[Any, ...]) -> Activity:
    (contact_id, activity_id, occurred_at, channel, direction, outcome, thread_id, duration,
     automated, tags) = row  # fmt: skip
    return Activity(
        activity_id,
        contact_id,
        datetime.fromisoformat(occurred_at),
        channel,
        direction,
        outcome,
        thread_id,
        duration,
        bool(automated),
        tags,
    )


def _contact_from_row(row: tuple[Any, ...]) -> Contact:
    contact_id, email, first_name, last_name, company, modified_at, extra = row
    return Contact(
        contact_id,
        email,
        first_name,
        last_name,
        company,
        None if modified_at is None else datetime.fromisoformat(modified_at),
        json.loads(extra) if extra else {},
    )


def _written_from_row(row: tuple[Any, ...]) -> WrittenScore:
    contact_id, score, band, lean, strength, confidence, reasons, scored_at, algorithm = row
    return WrittenScore(
        contact_id,
        score,
        band,
        lean,
        strength,
        confidence,
        reasons,
        datetime.fromisoformat(scored_at),
        algorithm,
    )
