"""What every command does first: logging, the effective configuration, the adapter
connection and the state store, each closed however the command ends.

The set-up is shared through Click's context rather than repeated in each command:
``-v`` configures logging and ``--config`` is kept on the command's :class:`Session`
(``ctx.obj``) as soon as they are parsed (see :func:`mutuality_cli.options.common_options`),
and whatever the session opens is closed by ``ctx.call_on_close`` when the command ends,
whether it returns, fails or is interrupted.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import attrs
import click

from mutuality_cli import discovery
from mutuality_cli.exit_codes import one_line
from mutuality_cli.settings import EffectiveConfig, resolve
from mutuality_core.errors import ConfigError
from mutuality_core.ports import Connection, StateStore

LIBRARY_LOGGERS = ("mutuality_core", "mutuality_adapters", "mutuality_cli")
log = logging.getLogger(__name__)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
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


def open_state(config: EffectiveConfig, *, create: bool = True) -> StateStore:
    """The configured state store (``--state-store``, default sqlite) at ``--state``.

    ``create=False`` (commands that only look) raises ConfigError when there is no
    state there yet, and leaves nothing behind.
    """
    plugin = discovery.load_state_store(config.state_store)
    log.info("opening the %s state store at %s", config.state_store, config.state)
    return plugin.open(config.state, create=create, lock_expires_after=config.lock_expires_after)


def existing_state(config: EffectiveConfig) -> StateStore | None:
    """The state store if it holds state already, else None: ``score``, ``explain`` and
    ``report`` never create one (without it a CRM source is read in full)."""
    plugin = discovery.load_state_store(config.state_store)  # an unknown store is an error
    try:
        return plugin.open(config.state, create=False, lock_expires_after=config.lock_expires_after)
    except ConfigError as error:
        log.info("no state to read (%s); reading the source in full", one_line(error))
        return None


@attrs.define
class Session:
    """What one command shares with its set-up, kept on ``ctx.obj``.

    Everything it opens is closed when the command's context closes (``call_on_close``,
    last opened first closed), however the command ends.
    """

    ctx: click.Context
    config_path: str | None = None

    @classmethod
    def of(cls, ctx: click.Context) -> Session:
        """The command's session, made on first use."""
        if not isinstance(ctx.obj, Session):
            ctx.obj = cls(ctx)
        return ctx.obj

    def config(
        self,
        flags: Mapping[str, Any] | None = None,
        adapter_option: Sequence[str] = (),
        **top_level: Any,
    ) -> EffectiveConfig:
        """The effective configuration: ``flags``, then the environment, then the file."""
        return load_config(self.config_path, flags, adapter_option, **top_level)

    def connect(self, config: EffectiveConfig) -> Connection:
        connection = connect(config)
        self.ctx.call_on_close(connection.close)
        return connection

    def state_store(self, config: EffectiveConfig, *, create: bool = True) -> StateStore:
        store = open_state(config, create=create)
        self.ctx.call_on_close(store.close)
        return store

    def existing_state(self, config: EffectiveConfig) -> StateStore | None:
        store = existing_state(config)
        if store is not None:
            self.ctx.call_on_close(store.close)
        return store


P = ParamSpec("P")
R = TypeVar("R")


def pass_session(function: Callable[Concatenate[Session, P], R]) -> Callable[P, R]:
    """Hand the command its :class:`Session` as the first argument."""

    @functools.wraps(function)
    def command(*args: P.args, **kwargs: P.kwargs) -> R:
        return function(Session.of(click.get_current_context()), *args, **kwargs)

    return command
