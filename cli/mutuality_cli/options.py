"""Options shared by several commands, defined once (as sqlite-utils does).

The options every command shares do their work in Click callbacks, as soon as they are
parsed: ``-v`` configures logging and ``--config`` is kept on the command's session
(:class:`mutuality_cli.runtime.Session`), so no command handles either itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar, cast

import click
from click.core import ParameterSource

from mutuality_cli.output import FORMATS
from mutuality_cli.runtime import Session, configure_logging
from mutuality_core.timestamps import parse_aware_datetime

F = TypeVar("F", bound=Callable[..., Any])


def parse_as_of(text: str) -> datetime:
    """ISO 8601 with an offset or ``Z``; naive times are refused rather than guessed."""
    return parse_aware_datetime(text)


class AwareDateTime(click.ParamType):
    name = "DATETIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        try:
            return parse_as_of(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)


def clock() -> datetime:
    """The CLI may read the clock; the core never does (it is handed this function)."""
    return datetime.now(timezone.utc)


def now_utc() -> datetime:
    """The default ``--as-of``: now, to the second, so reports and outputs stay readable."""
    return clock().replace(microsecond=0)


def _apply(function: F, decorators: Sequence[Callable[[Any], Any]]) -> F:
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def _start_logging(ctx: click.Context, _param: click.Parameter, verbosity: int) -> None:
    configure_logging(verbosity)


def _keep_config_path(ctx: click.Context, _param: click.Parameter, path: str | None) -> None:
    Session.of(ctx).config_path = path


#: ``-v``: logging, set up as soon as it is parsed (every command, even without it).
verbose_option = click.option(
    "-v",
    "--verbose",
    count=True,
    expose_value=False,
    callback=_start_logging,
    help="Log to stderr: -v for info, -vv for debug.",
)


def common_options(function: F) -> F:
    """``--config`` and ``-v``: every command that reads configuration takes them.

    Neither reaches the command: ``--config`` is kept on its session and read by
    ``session.config()``, ``-v`` has configured logging before the command runs.
    """
    config_option = click.option(
        "--config",
        type=click.Path(dir_okay=False),
        expose_value=False,
        callback=_keep_config_path,
        help="mutuality.toml to read (default: $MUTUALITY_CONFIG, else ./mutuality.toml "
        "if present).",
    )
    return _apply(function, [config_option, verbose_option])


def _gather(names: Sequence[str], function: F) -> F:
    """Pass the options ``names`` as one ``flags`` dict (what ``session.config`` takes)."""

    @functools.wraps(function)
    def command(**kwargs: Any) -> Any:
        flags = {name: kwargs.pop(name, None) for name in names}
        return function(flags=flags, **kwargs)

    return cast(F, command)


_state_option = click.option(
    "--state",
    help="Where state is kept: a file path (default: .mutuality/state.sqlite in the current "
    "directory), or a URL for a state store that is not a file. [env MUTUALITY_STATE]",
)
_state_store_option = click.option(
    "--state-store",
    metavar="NAME",
    help="The state store that keeps it (default: sqlite); `mutuality state stores` lists "
    "the installed ones. [env MUTUALITY_STATE_STORE]",
)


def state_options(function: F) -> F:
    """``--state`` and ``--state-store``, handed to the command as ``flags``."""
    return _apply(_gather(("state", "state_store"), function), [_state_option, _state_store_option])


#: The adapter-choosing options, handed to the command together as ``flags``.
ADAPTER_FLAGS = (
    "adapter", "path", "output", "skip_invalid", "rejects", "max_requests", "state", "state_store",
)  # fmt: skip


def adapter_options(function: F, *, skip: tuple[str, ...] = ()) -> F:
    """Which adapter to use and its settings, plus the state store (less the ``skip`` flags)."""
    decorators = [
        click.option(
            "--adapter",
            help="Adapter to use (default: files). See `mutuality adapters`. "
            "[env MUTUALITY_ADAPTER]",
        ),
        click.option(
            "--path",
            help="files adapter: folder holding contacts.csv and activities.csv. "
            "[env MUTUALITY_PATH]",
        ),
        click.option(
            "--output",
            help="files adapter: where scored contacts are written. [env MUTUALITY_OUTPUT]",
        ),
        click.option(
            "--skip-invalid/--no-skip-invalid",
            default=None,
            help="files adapter: skip bad rows (to the rejects file) instead of stopping.",
        ),
        click.option("--rejects", help="files adapter: where skipped rows are written."),
        click.option(
            "--max-requests",
            type=click.IntRange(min=1),
            help="CRM adapters: stop cleanly after this many API requests (exit 1, state saved).",
        ),
        click.option(
            "-o",
            "--option",
            "adapter_option",
            multiple=True,
            metavar="KEY=VALUE",
            help="Any other adapter setting (repeatable). Secrets are refused here: "
            "use the environment or the config file.",
        ),
        _state_option,
        _state_store_option,
    ]
    kept = [d for d, name in zip(decorators, _DECORATED, strict=True) if name not in skip]
    return _apply(_gather(ADAPTER_FLAGS, function), kept)


#: The flag each decorator of :func:`adapter_options` adds, in order.
_DECORATED = (
    "adapter", "path", "output", "skip_invalid", "rejects", "max_requests", "adapter_option",
    "state", "state_store",
)  # fmt: skip


def as_of_option(function: F) -> F:
    return click.option(
        "--as-of",
        type=AwareDateTime(),
        help="Score as of this moment, ISO 8601 with Z or an offset (default: now, UTC).",
    )(function)


def _one_format(function: F) -> F:
    """Fold ``--json`` into ``fmt``; ``--json`` with another ``--format`` is a usage error."""

    @functools.wraps(function)
    def command(**kwargs: Any) -> Any:
        if kwargs.pop("as_json"):
            ctx = click.get_current_context()
            chosen = ctx.get_parameter_source("fmt") is not ParameterSource.DEFAULT
            if chosen and kwargs["fmt"] != "json":
                raise click.UsageError(
                    f"--json is --format json; it cannot go with --format {kwargs['fmt']}"
                )
            kwargs["fmt"] = "json"
        return function(**kwargs)

    return cast(F, command)


def format_options(default: str = "table") -> Callable[[F], F]:
    """``--format table|json|jsonl|csv`` and ``--json`` (short for ``--format json``).

    The renderers live in :mod:`mutuality_cli.output`; the command receives ``fmt``.
    """

    def decorate(function: F) -> F:
        return _apply(
            _one_format(function),
            [
                click.option(
                    "--format",
                    "fmt",
                    type=click.Choice(FORMATS),
                    default=default,
                    show_default=True,
                    help="Output on stdout: table (for people), json (one document), jsonl "
                    "(one object per line) or csv.",
                ),
                click.option("--json", "as_json", is_flag=True, help="Same as --format json."),
            ],
        )

    return decorate


def engine_option(function: F) -> F:
    return click.option(
        "--engine",
        type=click.Choice(["auto", "python", "columnar", "spark"]),
        default="auto",
        show_default=True,
        help="Where complete reads (files) are scored: the pure-Python reference, the "
        "columnar engine (pip install 'mutuality[fast]'), or auto: columnar for large "
        "inputs when installed; or spark: --input scored on Apache Spark (pip install "
        "'mutuality[spark]'). Scores are the same either way.",
    )(function)
