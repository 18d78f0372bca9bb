"""The tally's own bookkeeping (its numbers are checked through the scores elsewhere)."""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap

import attrs

from mutuality_core.config import ScoringConfig
from mutuality_core.scoring.tally import Tally

# the module (the package's attribute of that name is the function)
tally_module = importlib.import_module("mutuality_core.scoring.tally")


def test_the_tally_is_built_positionally_in_field_order() -> None:
    """``tally`` passes its 29 values by position (keywords cost a tenth of its time):
    each must be the local variable named like its field, so that reordering the
    fields of ``Tally`` cannot silently swap two counts."""
    source = textwrap.dedent(inspect.getsource(tally_module.tally))
    calls = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "Tally"
    ]
    assert len(calls) == 1 and not calls[0].keywords
    passed = [arg.id if isinstance(arg, ast.Name) else ast.unparse(arg) for arg in calls[0].args]
    fields = [field.name for field in attrs.fields(Tally)]
    assert len(passed) == len(fields)
    for name, value in zip(fields, passed, strict=True):
        if name == "last_at":
            assert value == "None if last is None else last.occurred_at"
        else:
            assert value == name


def test_the_settings_follow_the_configuration() -> None:
    """The tally keeps the numbers of the configuration it saw last; another one
    (equal or not) gets its own numbers."""
    slow = ScoringConfig(half_life_days=10.0)
    fast = ScoringConfig(half_life_days=1.0)
    empty = tally_module.tally((), 0.0, slow)
    assert tally_module._SETTINGS[0] is slow
    assert empty.evidence == 0
    tally_module.tally((), 0.0, fast)
    assert tally_module._SETTINGS[0] is fast
    assert tally_module._SETTINGS[1][0] == tally_module.rates(fast).decay
