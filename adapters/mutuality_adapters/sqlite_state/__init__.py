"""The embedded state store: cursors, activity cache, written values, runs and locks in SQLite."""

from .store import SQLiteStateStore

__all__ = ["SQLiteStateStore"]
