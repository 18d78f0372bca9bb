"""Options shared by several commands, defined once (as sqlite-utils does)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TypeVar, cast

import click

from mutuality_cli.output import FORMATS
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


def _apply(function: F, decorators: list[Callable[[F], F]]) -> F:
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def common_options(function: F) -> F:
    """``--config`` and ``-v``: every command that reads configuration takes them."""
    return _apply(
        function,
        [
            click.option(
                "--config",
                "config_path",
                type=click.Path(dir_okay=False),
                help="mutuality.toml to read (default: $MUTUALITY_CONFIG, else ./mutuality.toml "
                "if present).",
            ),
            click.option(
                "-v",
                "--verbose",
                count=True,
                help="Log to stderr: -v for info, -vv for debug.",
            ),
        ],
    )


#: The adapter-choosing options, handed to the command together as ``flags``.
ADAPTER_FLAGS = ("adapter", "path", "output", "skip_invalid", "rejects", "max_requests", "state")


def _gather_adapter_flags(function: F) -> F:
    """Pass the options of :data:`ADAPTER_FLAGS` as one ``flags`` dict (what load_config takes)."""

    @functools.wraps(function)
    def command(**kwargs: Any) -> Any:
        flags = {name: kwargs.pop(name, None) for name in ADAPTER_FLAGS}
        return function(flags=flags, **kwargs)

    return cast(F, command)


def adapter_options(function: F, *, skip: tuple[str, ...] = ()) -> F:
    """Which adapter to use and its settings, plus the state file (less the ``skip`` flags)."""
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
        click.option(
            "--state",
            help="State file (default: .mutuality/state.sqlite in the current directory). "
            "[env MUTUALITY_STATE]",
        ),
    ]
    kept = [d for d, name in zip(decorators, _DECORATED, strict=True) if name not in skip]
    return _apply(_gather_adapter_flags(function), kept)


#: The flag each decorator of :func:`adapter_options` adds, in order.
_DECORATED = (
    "adapter", "path", "output", "skip_invalid", "rejects", "max_requests", "adapter_option",
    "state",
)  # fmt: skip


def as_of_option(function: F) -> F:
    return click.option(
        "--as-of",
        type=AwareDateTime(),
        help="Score as of this moment, ISO 8601 with Z or an offset (default: now, UTC).",
    )(function)


def format_option(function: F) -> F:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default="jsonl",
        show_default=True,
        help="Output format on stdout.",
    )(function)


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
