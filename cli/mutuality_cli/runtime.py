"""What every command does first: logging, the effective configuration, the adapter
connection and the state store, each closed however the command ends."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mutuality_cli import discovery
from mutuality_cli.settings import EffectiveConfig, resolve
from mutuality_core.errors import ConfigError
from mutuality_core.ports import Connection, StateStore

LIBRARY_LOGGERS = ("mutuality_core", "mutuality_adapters", "mutuality_cli")
log = logging.getLogger(__name__)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure_logging(verbosity: int) -> None:
    """``-v``: info, ``-vv``: debug, from the library's loggers to stderr; else warnings only."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(level)
        if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
            handler = _StderrHandler()
            handler.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
            )
            logger.addHandler(handler)
            logger.propagate = False


def load_config(
    config_path: str | None,
    adapter_flags: Mapping[str, Any] | None = None,
    adapter_option: Sequence[str] = (),
    **top_level: Any,
) -> EffectiveConfig:
    flags: dict[str, Any] = {"config": config_path, **(adapter_flags or {}), **top_level}
    config = resolve(flags, options=adapter_option, environ=os.environ, cwd=Path.cwd())
    log.debug("effective configuration (secrets masked): %s", config.to_dict(masked=True))
    return config


def connect(config: EffectiveConfig) -> Connection:
    plugin = discovery.load_adapter(config.adapter)
    log.info("connecting adapter %s", config.adapter)
    return plugin.connect(dict(config.adapter_settings), environ=os.environ)


def open_state(
    path: Path, *, create: bool = True, lock_expires_after: float | None = None
) -> StateStore:
    """The SQLite state store; ``lock_expires_after`` in seconds, 0 = never, None = default."""
    from datetime import timedelta

    from mutuality_adapters.sqlite_state import DEFAULT_LOCK_EXPIRES_AFTER, SQLiteStateStore

    if not create and not path.exists():
        raise ConfigError(f"no state file at {path}; run `mutuality sync` first or pass --state")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(
            f"cannot create the state folder {path.parent}: {error.strerror}; pass --state PATH"
        ) from error
    if lock_expires_after is None:
        expiry: timedelta | None = DEFAULT_LOCK_EXPIRES_AFTER
    else:
        expiry = timedelta(seconds=lock_expires_after) if lock_expires_after > 0 else None
    return SQLiteStateStore(path, lock_expires_after=expiry)


@contextmanager
def opened(
    config: EffectiveConfig, *, read_only: bool = False
) -> Iterator[tuple[Connection, StateStore | None]]:
    """The adapter connection and the state store, both closed however the command ends.

    ``read_only`` commands (score, explain) use the state file only if it exists, so
    they never create one; without it a CRM source is read in full.
    """
    connection = connect(config)
    try:
        if read_only and not config.state.exists():
            yield connection, None
            return
        state = open_state(config.state, lock_expires_after=config.lock_expires_after)
        try:
            yield connection, state
        finally:
            state.close()
    finally:
        connection.close()
