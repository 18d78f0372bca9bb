"""What the report tests share: the sample CRM synced like a nightly job, and its top lists."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

from click.testing import CliRunner
from mutuality_adapters.files import connect as connect_files
from mutuality_cli.main import cli

from mutuality_core.sync import score_source

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample_crm"
EARLIER, LATER = "2026-03-31T00:00:00Z", "2026-06-30T00:00:00Z"
LATER_AT = datetime(2026, 6, 30, tzinfo=timezone.utc)


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def synced_twice(crm: Path) -> None:
    """Two nightly runs; the second rewrites every contact so the state equals the core."""
    invoke("sync", "--path", str(crm), "--as-of", EARLIER, "-q")
    invoke("sync", "--path", str(crm), "--as-of", LATER, "--min-score-change", "0", "-q")


def top_names(page: str, band: str) -> list[str]:
    start = page.index(f'id="top-{band}"')
    part = page[start : page.index("</table>", start)]
    return re.findall(r'<tr><th scope="row" class="num">\d+</th><td>([^<]+) <span', part)


def expected_top(band: str, top: int) -> list[str]:
    """The core's own scores of the sample CRM, most one-sided first (largest |lean|)."""
    scored = [
        (c, s)
        for c, s in score_source(connect_files(SAMPLE).source, as_of=LATER_AT)
        if s.band == band
    ]
    scored.sort(key=lambda cs: (-abs(cs[1].lean), cs[1].score, cs[0].id))
    return [f"{c.first_name} {c.last_name}" for c, _ in scored[:top]]
