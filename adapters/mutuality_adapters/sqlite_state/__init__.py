"""The embedded state store: cursors, activity cache, written values, runs and locks in SQLite."""

from .plugin import SQLiteStatePlugin, plugin
from .store import DEFAULT_LOCK_EXPIRES_AFTER, SQLiteStateStore

__all__ = ["DEFAULT_LOCK_EXPIRES_AFTER", "SQLiteStatePlugin", "SQLiteStateStore", "plugin"]
