"""The page from plain values: sections, tables for charts, escaping, edge cases, size."""

from __future__ import annotations

import random
import re
from html.parser import HTMLParser

import pytest
from mutuality_report import SCATTER_LIMIT, Before, Entry, History, render
from mutuality_report.charts import GRID

SECTIONS = ("bands", "map", "one-sided", "changes", "runs")


class Outline(HTMLParser):
    """What a reader of the page meets: tags, texts, section ids, and any script."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.ids: set[str] = set()
        self.text: list[str] = []
        self.captions = 0
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += attrs
        self.ids |= {v for k, v in attrs if k == "id" and v}
        self.captions += tag == "caption"

    def handle_data(self, data):
        self.text.append(data)


def outline(page: str) -> Outline:
    parsed = Outline()
    parsed.feed(page)
    return parsed


def entry(n: int, band: str, lean: float, strength: float = 60.0, **kw) -> Entry:
    values = {
        "contact_id": f"c{n}",
        "score": 50.0,
        "band": band,
        "lean": lean,
        "strength": strength,
        "confidence": 0.8,
        "reasons": (f"reason of c{n}",),
        "name": f"Person {n}",
        "company": "Acme",
    }
    return Entry(**{**values, **kw})


def test_every_section_is_there_with_a_heading_and_a_table_per_chart():
    entries = [entry(1, "mutual", 0.0), entry(2, "you_invest_more", -0.8)]
    html = render(entries)
    page = outline(html)
    assert {f"{s}-h" for s in SECTIONS} <= page.ids and set(SECTIONS) <= page.ids
    assert page.tags.count("h1") == 1 and page.tags.count("h2") == len(SECTIONS)
    charts = [v for k, v in page.attributes if k == "class" and v and v.startswith("chart")]
    assert len(charts) == 2  # the bars and the map; each has the table that follows it
    assert [v for k, v in page.attributes if k == "role"] == ["img", "img"]
    for chart in re.finditer(r'<svg class="chart', html):
        rest = html[chart.end() :]
        assert "<table" in rest[: rest.index("</section>")]  # the same figures, for screen readers
    assert "script" not in page.tags and "link" not in page.tags


def test_no_script_and_nothing_from_the_network():
    page = render([entry(1, "mutual", 0.0)])
    assert "<script" not in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert "default-src 'none'" in page  # the CSP forbids scripts even if one got in


def test_a_name_with_html_in_it_is_escaped():
    bad = "<script>alert(1)</script>"
    entries = [
        entry(1, "you_invest_more", -0.9, name=bad, company='"><img src=x onerror=alert(2)>')
    ]
    page = render(entries, History("the last run (run 1)", {"c1": Before("mutual", 70, 0)}))
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert bad in "".join(outline(page).text)  # shown to the reader as the text it is


def test_an_empty_book_renders_every_section_and_says_there_is_nothing():
    page = render([])
    parsed = outline(page)
    assert set(SECTIONS) <= parsed.ids
    assert "No contacts scored yet." in page and "No runs recorded" in page


def test_one_contact_without_a_name_is_listed_by_its_id():
    only = entry(7, "they_invest_more", 0.7, name=None, company=None)
    page = render([only])
    assert "c7" in "".join(outline(page).text)
    assert "No contact is in “you invest more”." in page
    assert page.count("<use ") == 1  # one marker on the map


def test_most_one_sided_lists_the_largest_lean_first_and_stops_at_top():
    entries = [entry(i, "you_invest_more", -i / 10) for i in range(1, 9)]
    entries += [entry(20 + i, "they_invest_more", i / 10) for i in range(1, 4)]
    page = render(entries, top=3)
    you = page[page.index('id="top-you_invest_more"') : page.index('id="top-they_invest_more"')]
    assert re.findall(r"Person (\d+)", you) == ["8", "7", "6"]


def test_changes_list_turned_and_recovered_and_count_moves():
    entries = [
        entry(1, "you_invest_more", -0.8),  # was mutual: turned one-sided
        entry(2, "mutual", 0.1),  # was they_invest_more: recovered
        entry(3, "they_invest_more", 0.6),  # new contact: moves in, but did not "turn"
        entry(4, "dormant", 0.0),  # unchanged
    ]
    history = History(
        "the last run (run 2)",
        {
            "c1": Before("mutual", 70, 0.0),
            "c2": Before("they_invest_more", 35, 0.7),
            "c3": Before(None),
        },
    )
    page = render(entries, history)
    turned = page[page.index('id="turned"') : page.index('id="recovered"')]
    recovered = page[page.index('id="recovered"') : page.index('id="runs"')]
    assert re.findall(r"Person (\d+)", turned) == ["1"]
    assert re.findall(r"Person (\d+)", recovered) == ["2"]
    bands = page[page.index('id="bands"') : page.index('id="map"')]
    rows = dict(re.findall(r"</svg> ([A-Za-z ]+)</span></th>(.*?)</tr>", bands))
    cells = lambda band: re.findall(r'<td class="num">([^<]*)</td>', rows[band])  # noqa: E731
    assert cells("Mutual") == ["1", "25.0%", "1", "+1", "−1"]
    assert cells("They invest more") == ["1", "25.0%", "1", "+1", "−1"]
    assert cells("You invest more") == ["1", "25.0%", "0", "+1", "0"]


def test_top_must_be_positive():
    with pytest.raises(ValueError, match="top must be at least 1"):
        render([], top=0)


def test_a_large_book_aggregates_the_map_and_stays_small():
    rng = random.Random(5)
    bands = ["mutual", "you_invest_more", "they_invest_more", "dormant", "insufficient_data"]
    entries = [
        entry(i, rng.choice(bands), rng.uniform(-1, 1), rng.uniform(0, 100))
        for i in range(SCATTER_LIMIT * 10)
    ]
    page = render(entries)
    columns, rows = GRID
    assert page.count("<use ") <= columns * rows * len(bands)  # per band and cell, not contact
    assert "bigger markers stand for more contacts" in page
    assert len(page.encode()) < 1_000_000
