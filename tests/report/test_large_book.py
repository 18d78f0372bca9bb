"""50,000 contacts: the page stays under 5 MB and still says the right things.

Speed is measured by benchmarks/bench_report.py, not here.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import datetime, timezone

from mutuality_adapters.files import connect as connect_files
from mutuality_adapters.sqlite_state import SQLiteStateStore
from mutuality_report import from_state

from mutuality_core.ports import WrittenScore

CONTACTS = 50_000
BANDS = ["mutual", "you_invest_more", "they_invest_more", "dormant", "insufficient_data"]
AT = datetime(2026, 6, 30, tzinfo=timezone.utc)


def written(contact_id: str, band: str, rng: random.Random) -> WrittenScore:
    lean = {"you_invest_more": -1, "they_invest_more": 1}.get(band, 0) * rng.uniform(0.3, 1)
    reasons = "You started 9 of the last 10 conversations; Last two-way exchange 12 days ago"
    return WrittenScore(
        contact_id, rng.uniform(0, 100), band, lean, rng.uniform(0, 100), 0.9, reasons, AT
    )


def test_a_book_of_50k_contacts(tmp_path):
    rng = random.Random(50)
    folder = tmp_path / "crm"
    folder.mkdir()
    ids = [f"c{n:05d}" for n in range(CONTACTS)]
    lines = ["id,email,first_name,last_name,company"]
    lines += [
        f"{cid},{cid}@example.com,First{cid},Last,Company {n % 700}" for n, cid in enumerate(ids)
    ]
    (folder / "contacts.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "activities.csv").write_text("id,contact_id,occurred_at,channel,direction,outcome\n")
    connection = connect_files(folder)
    first = {cid: written(cid, rng.choice(BANDS), rng) for cid in ids}
    moved = rng.sample(ids, 5_000)
    second = {cid: written(cid, rng.choice(BANDS), rng) for cid in moved}
    with SQLiteStateStore(tmp_path / "state.sqlite") as state:
        for values in (first, second):
            run = state.start_run(connection.target, started_at=AT, options={})
            state.record_written(connection.target, list(values.values()))
            state.finish_run(run, finished_at=AT, report={"status": "ok", "as_of": AT.isoformat()})
        book = from_state(connection, state)
    page = book.render(top=25)

    assert len(page.encode("utf-8")) < 5_000_000
    now = {**first, **second}
    counts = Counter(w.band for w in now.values())
    bands = page[page.index('id="bands"') : page.index('id="map"')]
    for band, label in (("mutual", "Mutual"), ("dormant", "Dormant")):
        row = re.search(rf"</svg> {label}</span></th><td class=\"num\">([\d,]+)</td>", bands)
        assert row and int(row.group(1).replace(",", "")) == counts[band]
    changed = sum(1 for cid in moved if second[cid].band != first[cid].band)
    assert f'<span class="big">{changed:,}</span>' in page  # the "changed band" card
    you = sorted(
        (w for w in now.values() if w.band == "you_invest_more"),
        key=lambda w: (-abs(w.lean), w.score, w.contact_id),
    )[:25]
    start = page.index('id="top-you_invest_more"')
    listed = re.findall(
        r'<span class="id">(c\d+)</span>', page[start : page.index("</table>", start)]
    )
    assert listed == [w.contact_id for w in you]
    assert "bigger markers stand for more contacts" in page
