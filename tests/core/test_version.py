"""The version is written once, in mutuality_core; the distribution's metadata reads it."""

from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path

import mutuality_core

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib


def test_the_installed_distribution_has_the_packages_version() -> None:
    assert version("mutuality") == mutuality_core.__version__


def test_pyproject_takes_the_version_from_the_package() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"]
    assert "version" in pyproject["project"]["dynamic"]
    dynamic = pyproject["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "mutuality_core.__version__"}
