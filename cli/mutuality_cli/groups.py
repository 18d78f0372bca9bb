"""Click groups that turn typed library errors into one line on stderr and an exit code."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from mutuality_cli import discovery, exit_codes, settings
from mutuality_cli.stopping import Terminated
from mutuality_core.errors import MutualityError
from mutuality_core.ports import COMMAND_SETTINGS_KEY

log = logging.getLogger(__name__)


class _SettingsResolver:
    """An adapter's settings resolved exactly as ``mutuality sync --adapter NAME`` would.

    Handed to the commands an adapter mounts (``setup``, ``fake``) through
    ``ctx.meta[COMMAND_SETTINGS_KEY]``, so that ``mutuality setup hubspot`` creates the very
    properties that ``sync`` will write: the same config file, the same
    ``MUTUALITY_<ADAPTER>_<KEY>`` variables and ``-o`` options, in the same order.
    Adapters cannot import the CLI, hence a callable rather than a function to import.
    """

    def __init__(self, adapter: str) -> None:
        self.adapter = adapter

    def __call__(self, config: str | None = None, options: Sequence[str] = ()) -> dict[str, Any]:
        effective = settings.resolve(
            {"adapter": self.adapter, "config": config},
            options=options,
            environ=os.environ,
            cwd=Path.cwd(),
        )
        return dict(effective.adapter_settings)


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated()


class MutualityGroup(click.Group):
    """A group that turns typed library errors into one line on stderr and an exit code.

    It also makes SIGTERM (a cron or CI timeout, ``kubectl delete``) stop a command
    the way Ctrl-C does, through the same bookkeeping; ``sync`` goes further and
    stops at a safe point (:mod:`mutuality_cli.stopping`).
    """

    def invoke(self, ctx: click.Context) -> Any:
        if ctx.parent is None and threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, _terminate)
            ctx.call_on_close(lambda: signal.signal(signal.SIGTERM, previous))
        try:
            return super().invoke(ctx)
        except MutualityError as error:
            log.debug("command failed", exc_info=True)
            click.echo(f"Error: {exit_codes.one_line(error)}", err=True)
            ctx.exit(exit_codes.exit_code_for(error))
        except Terminated:
            click.echo("Terminated; work done so far is saved, rerun to continue.", err=True)
            ctx.exit(exit_codes.TERMINATED)
        except KeyboardInterrupt:
            click.echo("Interrupted; work done so far is saved, rerun to continue.", err=True)
            ctx.exit(exit_codes.INTERRUPTED)
        except OSError as error:
            if error.filename is None:  # not about a path the user gave: a real bug
                raise
            log.debug("command failed", exc_info=True)
            click.echo(
                f"Error: cannot use {error.filename}: {error.strerror or error}; "
                "check the path and its permissions",
                err=True,
            )
            ctx.exit(exit_codes.USAGE)


class PluginCommandGroup(MutualityGroup):
    """``mutuality setup NAME`` / ``mutuality fake NAME``: commands adapters offer, found lazily."""

    def __init__(self, *args: Any, kind: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind

    def list_commands(self, ctx: click.Context) -> list[str]:
        return discovery.names_offering(self.kind, discovery.discover_adapters())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in discovery.adapter_names():
            return None
        plugin = discovery.load_adapter(cmd_name, require_extra=False)
        command = discovery.plugin_commands(plugin, strict=True, name=cmd_name).get(self.kind)
        if command is None:
            raise click.UsageError(
                f"adapter {cmd_name!r} offers no `{self.kind}` command; "
                f"available: {', '.join(self.list_commands(ctx)) or 'none'}",
                ctx,
            )
        ctx.meta[COMMAND_SETTINGS_KEY] = _SettingsResolver(cmd_name)
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except MutualityError as error:
            click.echo(f"Error: {exit_codes.one_line(error)}", err=True)
            ctx.exit(exit_codes.exit_code_for(error))
            raise  # unreachable: ctx.exit raises
