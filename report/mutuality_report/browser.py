"""Open a report in the system's headless Chromium: for screenshots and browser tests.

Uses the Chromium and chromedriver the operating system installed (Debian:
``apt-get install chromium chromium-driver``) and passes both paths to Selenium,
so Selenium Manager never downloads a browser or a driver. Selenium is the
optional extra ``browser``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from mutuality_core.errors import MissingDependencyError, MutualityError

_BROWSERS = ("chromium", "chromium-browser", "google-chrome")


class NoSystemBrowserError(MissingDependencyError):
    """No system Chromium with chromedriver: an operating-system package, not a pip extra."""

    def __init__(self) -> None:
        self.package = "chromium"
        self.extra = "browser"
        MutualityError.__init__(
            self,
            "no system Chromium with chromedriver found; install them, e.g. "
            "`apt-get install chromium chromium-driver` on Debian",
        )


def chromium_driver(*, width: int = 1200, height: int = 900) -> Any:
    """A headless Chromium WebDriver with the browser console log enabled; quit() it after."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise MissingDependencyError(
            "selenium (to open a report in a browser)", "browser"
        ) from None
    browser = next((p for p in map(shutil.which, _BROWSERS) if p), None)
    debian_driver = Path("/usr/lib/chromium/chromedriver")
    driver = shutil.which("chromedriver") or (
        str(debian_driver) if debian_driver.exists() else None
    )
    if browser is None or driver is None:
        raise NoSystemBrowserError()
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager: never download anything
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--force-device-scale-factor=1",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def screenshot(
    page: str | os.PathLike[str],
    png: str | os.PathLike[str],
    *,
    width: int = 1200,
    height: int | None = None,
) -> None:
    """Save a PNG of the report file ``page``: the whole page, or its top ``height`` pixels."""
    driver = chromium_driver(width=width)
    try:
        driver.get(Path(page).resolve().as_uri())
        full = int(driver.execute_script("return document.documentElement.scrollHeight"))
        inner = int(driver.execute_script("return window.innerHeight"))
        outer = int(driver.execute_script("return window.outerHeight")) or inner
        driver.set_window_size(width, (height or full) + max(0, outer - inner))
        driver.save_screenshot(str(png))
    finally:
        driver.quit()
