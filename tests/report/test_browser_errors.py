"""Opening a report in a browser without selenium or without a system Chromium: one clear line."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from mutuality_report import browser

from mutuality_core.errors import MissingDependencyError


def test_without_selenium_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "selenium", None)
    with pytest.raises(MissingDependencyError) as caught:
        browser.chromium_driver()
    assert str(caught.value) == (
        "selenium (to open a report in a browser) is not installed; "
        "install it with: pip install 'mutuality[browser]'"
    )
    assert caught.value.extra == "browser"


def test_without_a_system_chromium_the_error_names_the_system_packages(monkeypatch):
    pytest.importorskip("selenium")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(Path, "exists", lambda self: False)
    with pytest.raises(MissingDependencyError, match="apt-get install chromium chromium-driver"):
        browser.chromium_driver()
