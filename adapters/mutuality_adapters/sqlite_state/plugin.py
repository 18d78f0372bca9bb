"""The SQLite state store as a ``mutuality.state_stores`` plugin (the default store).

The CLI finds state stores by entry point, as it finds adapters, so a team can keep
state in a server database by installing a package; SQLite is registered the same
way (``sqlite = "mutuality_adapters.sqlite_state:plugin"``) rather than hard-coded.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import attrs

from mutuality_core.errors import ConfigError, StateError

from .store import DEFAULT_LOCK_EXPIRES_AFTER, SQLiteStateStore

__all__ = ["SQLiteStatePlugin", "lock_expiry", "plugin"]

log = logging.getLogger(__name__)


def lock_expiry(seconds: float | None) -> timedelta | None:
    """The store's ``lock_expires_after`` from the setting: ``None`` the default, ``0`` never."""
    if seconds is None:
        return DEFAULT_LOCK_EXPIRES_AFTER
    if seconds < 0:
        raise ConfigError(f"lock_expires_after must be 0 (never) or more seconds, not {seconds:g}")
    return timedelta(seconds=seconds) if seconds > 0 else None


@attrs.frozen
class SQLiteStatePlugin:
    """Opens a :class:`SQLiteStateStore` at a file path (``location``)."""

    name: str = "sqlite"
    summary: str = "One SQLite file on this machine (the default; no server needed)"

    def open(
        self, location: str, *, create: bool = True, lock_expires_after: float | None = None
    ) -> SQLiteStateStore:
        """The store in the file ``location``; with ``create=False`` the file must exist.

        Read-only commands (``runs``, ``state``, ``score``) pass ``create=False`` so that
        looking never leaves an empty state file (or its folder) behind.
        """
        if "://" in location:  # a StateError, as ConfigError here means "no state yet"
            raise StateError(
                f"the sqlite state store keeps state in a file, not at a URL ({location}); pass "
                "--state with a file path, or --state-store with a store that takes URLs "
                "(`mutuality state stores` lists them)"
            )
        path = Path(location)
        if not create and not path.exists():
            raise ConfigError(
                f"no state file at {path}; run `mutuality sync` first or pass --state"
            )
        expiry = lock_expiry(lock_expires_after)
        log.debug("opening the SQLite state file %s", path)
        return SQLiteStateStore(path, lock_expires_after=expiry)


#: What the ``mutuality.state_stores`` entry point ``sqlite`` loads.
plugin = SQLiteStatePlugin()
