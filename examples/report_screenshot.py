"""Regenerate docs/img/report-sample.png: the sample CRM's report, as the README shows it.

    python examples/report_screenshot.py            # needs Chromium + chromedriver and
                                                    # selenium (pip install 'mutuality[browser]')

Syncs a copy of examples/sample_crm twice, as a nightly job would (2026-03-31, then
2026-06-30, so the second run changes some bands), writes the report and takes a
screenshot of its top in the system's headless Chromium. Also keeps the whole page
next to the PNG when ``--keep-html`` is given.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from mutuality_adapters.files import connect
from mutuality_adapters.sqlite_state import SQLiteStateStore
from mutuality_report import from_state
from mutuality_report.browser import screenshot

from mutuality_core.sync import run_sync

ROOT = Path(__file__).resolve().parents[1]
NIGHTS = (datetime(2026, 3, 31, tzinfo=timezone.utc), datetime(2026, 6, 30, tzinfo=timezone.utc))


def sample_report(work: Path) -> str:
    """The sample CRM's report after two nightly syncs, as `mutuality report` writes it."""
    folder = work / "sample_crm"
    shutil.copytree(ROOT / "examples" / "sample_crm", folder)
    connection = connect(folder)
    with SQLiteStateStore(work / "state.sqlite") as state:
        for night in NIGHTS:
            run_sync(connection, state, as_of=night, now=lambda night=night: night)
        book = from_state(connection, state)
    connection.close()
    return book.render(top=10, target="files:examples/sample_crm")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "report-sample.png")
    parser.add_argument("--height", type=int, default=1545, help="pixels of the page to show")
    parser.add_argument("--keep-html", action="store_true", help="also write the page beside it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mutuality-screenshot-") as scratch:
        page = Path(scratch) / "report.html"
        page.write_text(sample_report(Path(scratch)), encoding="utf-8")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        screenshot(page, args.out, width=1100, height=args.height)
        if args.keep_html:
            shutil.copy(page, args.out.with_suffix(".html"))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
