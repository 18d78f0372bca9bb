from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from cli_fakes import FakeEntryPoint
from click.testing import CliRunner
from mutuality_cli import discovery


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory) -> None:
    """No MUTUALITY_* from the developer's shell, and a scratch working directory."""
    import os

    for name in list(os.environ):
        if name.startswith("MUTUALITY_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


def _installer(
    monkeypatch: pytest.MonkeyPatch, entry_points: str
) -> Callable[[Mapping[str, Any]], None]:
    """Replace ``discovery.<entry_points>()`` with ``{name: plugin object or exception}``."""

    def install(plugins: Mapping[str, Any]) -> None:
        eps = [FakeEntryPoint(name, target) for name, target in sorted(plugins.items())]
        monkeypatch.setattr(discovery, entry_points, lambda: eps)

    return install


@pytest.fixture
def install_adapters(monkeypatch: pytest.MonkeyPatch) -> Callable[[Mapping[str, Any]], None]:
    """Replace the installed adapters with ``{name: plugin object or exception to raise}``."""
    return _installer(monkeypatch, "entry_points")


@pytest.fixture
def install_state_stores(monkeypatch: pytest.MonkeyPatch) -> Callable[[Mapping[str, Any]], None]:
    """Replace the installed state stores with ``{name: plugin object or exception}``."""
    return _installer(monkeypatch, "state_store_entry_points")
