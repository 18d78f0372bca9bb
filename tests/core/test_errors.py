"""The exit-code table in mutuality_core.errors says what the CLI really does."""

from __future__ import annotations

import re

import pytest
from mutuality_cli.exit_codes import exit_code_for

from mutuality_core import errors


def _table() -> list[tuple[str, int]]:
    rows = re.findall(r"^\| (\w[\w ]*?) +\| (\d+) +\|", errors.__doc__ or "", re.M)
    return [(name, int(code)) for name, code in rows]


def _example(name: str) -> BaseException:
    if name == "any other error":
        return RuntimeError("boom")
    cls = getattr(errors, name)
    if cls is errors.MissingDependencyError:
        return cls("numpy", "fast")
    return cls("message")


def test_the_table_lists_every_exception_class() -> None:
    listed = {name for name, _ in _table()}
    assert set(errors.__all__) - {"MutualityError"} <= listed
    assert "any other error" in listed


@pytest.mark.parametrize(("name", "code"), _table())
def test_each_row_is_the_cli_exit_code(name: str, code: int) -> None:
    assert exit_code_for(_example(name)) == code
