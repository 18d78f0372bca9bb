"""Settings for the commands an adapter mounts (``mutuality setup NAME``), resolved like sync's.

``setup`` must create exactly the fields that ``sync`` later writes, so both have to
read the same config file, ``MUTUALITY_<ADAPTER>_<KEY>`` variables and ``-o`` options
in the same order. The CLI owns that order; it hands its resolver to mounted commands
through ``click.Context.meta`` (adapters may not import the CLI). Outside the
``mutuality`` CLI, e.g. a command mounted in someone else's Click app, a plain reading
of the same three layers stands in.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from mutuality_core.errors import ConfigError
from mutuality_core.ports import COMMAND_SETTINGS_KEY

__all__ = ["adapter_settings", "option_flag"]


def option_flag() -> Any:
    """The ``-o KEY=VALUE`` option, as ``mutuality sync`` has it."""
    return click.option(
        "-o",
        "--option",
        "options",
        multiple=True,
        metavar="KEY=VALUE",
        help="An adapter setting, as for `mutuality sync -o` (repeatable).",
    )


def adapter_settings(
    adapter: str, config: str | None = None, options: Sequence[str] = ()
) -> dict[str, Any]:
    """The adapter's settings table: config file < ``MUTUALITY_<ADAPTER>_<KEY>`` < ``-o``."""
    context = click.get_current_context(silent=True)
    resolve = context.meta.get(COMMAND_SETTINGS_KEY) if context is not None else None
    if resolve is not None:
        return dict(resolve(config, options))
    table = _file_table(adapter, config)
    prefix = f"MUTUALITY_{adapter.upper()}_"
    for name, value in os.environ.items():
        if name.startswith(prefix) and len(name) > len(prefix) and value != "":
            table[name[len(prefix) :].lower()] = value
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"-o {option!r}: expected KEY=VALUE")
        table[key.strip()] = value
    return table


def _file_table(adapter: str, config: str | None) -> dict[str, Any]:
    """``[adapters.NAME]`` of --config, $MUTUALITY_CONFIG or ./mutuality.toml, if any."""
    path = Path(config or os.environ.get("MUTUALITY_CONFIG") or "mutuality.toml")
    if not path.is_file():
        if config or os.environ.get("MUTUALITY_CONFIG"):
            raise ConfigError(f"config file {path} does not exist; fix the path")
        return {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from None
    table = (data.get("adapters") or {}).get(adapter) or {}
    if not isinstance(table, Mapping):
        raise ConfigError(f"[adapters.{adapter}] in {path} must be a table")
    return dict(table)
