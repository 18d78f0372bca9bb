"""The report in a real headless Chromium (the system's; .ci/run installs it when missing).

Screenshots and the A4 PDF are kept as artefacts under pytest's temporary folder
(the path is printed; ``pytest -s`` shows it).
"""

from __future__ import annotations

import base64
import re
import shutil
from pathlib import Path

import pytest
from mutuality_report import Entry, render
from report_helpers import expected_top, invoke, synced_twice

pytest.importorskip("selenium")
if not (shutil.which("chromium") or shutil.which("google-chrome")) or not shutil.which(
    "chromedriver"
):
    pytest.skip(
        "no system Chromium + chromedriver (apt-get install chromium chromium-driver; "
        ".ci/run installs them)",
        allow_module_level=True,
    )

from mutuality_report.browser import chromium_driver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.print_page_options import PrintOptions

SECTIONS = {
    "bands": "Bands",
    "map": "Map of the book",
    "one-sided": "Most one-sided",
    "changes": "Since the last run",
    "runs": "Run history",
}


@pytest.fixture(scope="module")
def browser():
    driver = chromium_driver(width=1200, height=900)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("report-artefacts")
    print(f"\nreport screenshots and PDF in {folder}")
    return folder


def console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def no_alert(driver) -> bool:
    try:
        driver.switch_to.alert.accept()
    except NoAlertPresentException:
        return True
    return False


def open_page(driver, path: Path) -> None:
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(path.resolve().as_uri())


def test_the_sample_crm_report_in_a_browser(browser, crm, artefacts):
    synced_twice(crm)
    invoke("report", "--path", str(crm), "--output", "report.html", "--top", "10")
    open_page(browser, Path("report.html"))

    assert console_errors(browser) == []
    for key, heading in SECTIONS.items():
        section = browser.find_element(By.ID, key)
        assert section.is_displayed()
        assert section.find_element(By.TAG_NAME, "h2").text == heading
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.chart")
    assert len(charts) == 2
    for chart in charts:
        assert chart.size["width"] > 300 and chart.size["height"] > 150
    markers = browser.find_elements(By.CSS_SELECTOR, "svg.map use")
    assert len(markers) == 320  # one per sample contact
    assert all(m.size["width"] > 0 and m.size["height"] > 0 for m in markers[:20])
    bars = browser.find_elements(By.CSS_SELECTOR, "#bands svg.chart rect")
    assert sum(1 for bar in bars if bar.size["width"] > 1) >= 4  # at least four bands drawn

    for band in ("you_invest_more", "they_invest_more"):
        rows = browser.find_elements(By.CSS_SELECTOR, f"table.{band} tbody tr")
        names = [r.find_elements(By.TAG_NAME, "td")[0].text.split("\n")[0] for r in rows]
        shown = [n.rsplit(" ", 1)[0] for n in names]  # the name, less the contact id after it
        assert shown == expected_top(band, 10)

    png = artefacts / "sample-report.png"
    browser.save_screenshot(str(png))
    assert png.stat().st_size > 20_000


def test_a_contact_named_script_is_shown_and_never_run(browser, tmp_path):
    # the check can fail: a page that does run a script leaves an alert open
    control = tmp_path / "control.html"
    control.write_text("<!DOCTYPE html><title>c</title><script>alert(1)</script>")
    open_page(browser, control)
    assert not no_alert(browser)

    bad = "<script>alert(1)</script>"
    image = "<img src=x onerror=alert(2)>"
    entries = [
        Entry("x1", 20, "you_invest_more", -0.9, 60, 0.9, (bad,), bad, image),
        Entry("x2", 80, "mutual", 0.0, 80, 0.9, (), None, None),
    ]
    page = tmp_path / "hostile.html"
    page.write_text(render(entries), encoding="utf-8")
    open_page(browser, page)
    assert no_alert(browser)
    assert console_errors(browser) == []  # not even a script blocked by the page's policy
    row = browser.find_element(By.CSS_SELECTOR, "table.you_invest_more tbody tr")
    assert bad in row.text and image in row.text
    assert browser.find_elements(By.CSS_SELECTOR, "main script, main img") == []


def test_the_report_prints_on_a4_without_cutting_anything(browser, crm, artefacts):
    synced_twice(crm)
    invoke("report", "--path", str(crm), "--output", "report.html", "--top", "5")
    open_page(browser, Path("report.html"))
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        # A4 less the page margins (210 mm - 2 x 12 mm) at 96 px per inch: about 703 px
        browser.set_window_size(703, 1000)
        inner = browser.execute_script("return window.innerWidth")
        browser.set_window_size(703 + (703 - inner), 1000)
        widest = browser.execute_script(
            "return Math.max(...[...document.querySelectorAll('main *')]"
            ".map(e => e.getBoundingClientRect().right))"
        )
        assert widest <= 703 + 1
        options = PrintOptions()
        options.page_width, options.page_height = 21.0, 29.7
        pdf = base64.b64decode(browser.print_page(options))
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
        browser.set_window_size(1200, 900)
    (artefacts / "sample-report-a4.pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf)) >= 2
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)", pdf)
    assert boxes and all(abs(float(w) - 595.3) < 2 and abs(float(h) - 841.9) < 2 for w, h in boxes)


@pytest.mark.parametrize(
    "entries",
    [
        [],
        [Entry("only", 40, "they_invest_more", 0.6, 30, 0.5, ("They started it",), None, None)],
    ],
    ids=["empty book", "one contact without a name"],
)
def test_small_books_load_cleanly(browser, tmp_path, entries):
    page = tmp_path / "small.html"
    page.write_text(render(entries), encoding="utf-8")
    open_page(browser, page)
    assert console_errors(browser) == []
    for key in SECTIONS:
        assert browser.find_element(By.ID, key).is_displayed()
    markers = browser.find_elements(By.CSS_SELECTOR, "svg.map use")
    assert len(markers) == len(entries)
    if entries:
        row = browser.find_element(By.CSS_SELECTOR, "table.they_invest_more tbody tr")
        assert "only" in row.text  # listed by its id
