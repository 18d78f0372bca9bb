"""The state file's schema, as an append-only list of migrations.

``PRAGMA user_version`` holds how many migrations a file has had. A new release
appends to :data:`MIGRATIONS`; it never edits an old entry, because files in the
field already ran it.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema.
    """
    CREATE TABLE targets (
        target TEXT PRIMARY KEY,
        cursor TEXT,
        cursor_updated_at TEXT,
        generation INTEGER NOT NULL DEFAULT 0,
        full_read_pending INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE contacts (
        target TEXT NOT NULL,
        contact_id TEXT NOT NULL,
        email TEXT,
        first_name TEXT,
        last_name TEXT,
        company TEXT,
        modified_at TEXT,
        extra TEXT,
        generation INTEGER NOT NULL,
        PRIMARY KEY (target, contact_id)
    ) WITHOUT ROWID;
    CREATE TABLE activities (
        target TEXT NOT NULL,
        contact_id TEXT NOT NULL,
        activity_id TEXT NOT NULL,
        occurred_at TEXT NOT NULL,
        channel TEXT NOT NULL,
        direction TEXT NOT NULL,
        outcome TEXT NOT NULL,
        thread_id TEXT,
        duration_seconds REAL,
        automated INTEGER NOT NULL,
        tags TEXT NOT NULL,
        generation INTEGER NOT NULL,
        PRIMARY KEY (target, contact_id, activity_id)
    ) WITHOUT ROWID;
    CREATE INDEX activities_by_id ON activities (target, activity_id);
    CREATE TABLE written (
        target TEXT NOT NULL,
        contact_id TEXT NOT NULL,
        score REAL NOT NULL,
        band TEXT NOT NULL,
        lean REAL NOT NULL,
        strength REAL NOT NULL,
        confidence REAL NOT NULL,
        reasons TEXT NOT NULL,
        scored_at TEXT NOT NULL,
        PRIMARY KEY (target, contact_id)
    ) WITHOUT ROWID;
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        target TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT NOT NULL,
        options TEXT NOT NULL,
        report TEXT
    );
    CREATE INDEX runs_by_target ON runs (target, id);
    CREATE TABLE locks (
        target TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        heartbeat_at TEXT NOT NULL
    );
    """,
    # 2: the run that wrote each value, and the value it replaced (for `mutuality report`'s
    # "changed since the last run"). Old rows keep NULLs: nothing is known about before.
    """
    ALTER TABLE written ADD COLUMN run_id INTEGER;
    ALTER TABLE written ADD COLUMN previous_score REAL;
    ALTER TABLE written ADD COLUMN previous_band TEXT;
    ALTER TABLE written ADD COLUMN previous_lean REAL;
    ALTER TABLE written ADD COLUMN previous_strength REAL;
    ALTER TABLE written ADD COLUMN previous_run_id INTEGER;
    """,
    # 3: which algorithm wrote each score, and failed writes to retry on the next run.
    # Scores written before were taken to be mutuality-1.0, the only released version: a
    # value a development build wrote with 2.0 is then rewritten once as "outdated",
    # which is harmless (the same values again), where the opposite guess would leave
    # 1.0 values in place unnoticed.
    """
    ALTER TABLE written ADD COLUMN algorithm TEXT;
    UPDATE written SET algorithm = 'mutuality-1.0';
    CREATE TABLE failed (
        target TEXT NOT NULL,
        contact_id TEXT NOT NULL,
        error TEXT NOT NULL,
        runs INTEGER NOT NULL,
        PRIMARY KEY (target, contact_id)
    ) WITHOUT ROWID;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
