"""Keep docs/cli.md honest: every command has help and is documented (as sqlite-utils does)."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from mutuality_cli.exit_codes import EPILOG
from mutuality_cli.main import cli

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append((f"{prefix}{name}", command))
        if isinstance(command, click.Group) and command.commands:
            found += _commands(command, f"{prefix}{name} ")
    return found


COMMANDS = _commands(cli)


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_every_command_has_help(name, command):
    assert command.help, f"mutuality {name} has no help text"
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.help, f"mutuality {name} {param.opts[0]} has no help text"


@pytest.mark.parametrize("name", [n for n, _ in COMMANDS])
def test_every_command_is_documented(name):
    text = (DOCS / "cli.md").read_text()
    assert f"`mutuality {name}" in text, f"docs/cli.md does not mention `mutuality {name}`"


def test_every_exit_code_is_documented_the_same_way():
    text = (DOCS / "cli.md").read_text()
    codes_in_help = re.findall(r"^\s+(\d+)\s", EPILOG, flags=re.MULTILINE)
    assert codes_in_help == ["0", "1", "2", "3", "4", "130", "143"]
    for code in codes_in_help:
        assert re.search(rf"^\| {code} \|", text, flags=re.MULTILINE), f"exit code {code}"


def test_every_environment_variable_the_code_reads_is_documented():
    from mutuality_cli import settings

    text = (DOCS / "configuration.md").read_text()
    names = [f"MUTUALITY_{k.upper()}" for k in (*settings.TOP_LEVEL, *settings.ADAPTER_FLAG_KEYS)]
    for name in [
        *names,
        "MUTUALITY_CONFIG",
        "MUTUALITY_SCORING_<KEY>",
        "MUTUALITY_<ADAPTER>_<KEY>",
    ]:
        assert f"`{name}`" in text, name
