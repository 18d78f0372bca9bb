"""The report as one self-contained HTML page: inline CSS and SVG, no script, no network.

Every text that comes from the CRM is escaped, and the page's Content-Security-Policy
allows no script at all, so a contact named ``<script>…`` is shown, never run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any

from mutuality_core import ALGORITHM_VERSION

from . import book, charts
from .book import BAND_LABELS, QUADRANTS, Entry, History, band_label
from .runs import run_cells, when
from .style import CSS

#: How many rows each "since the last run" list shows before saying how many more there are.
CHANGE_ROWS = 50
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def render(
    entries: Iterable[Entry],
    history: History | None = None,
    *,
    top: int = 25,
    title: str = "Mutuality report",
    target: str | None = None,
    basis: str | None = None,
    generated_at: datetime | None = None,
    algorithm: str = ALGORITHM_VERSION,
) -> str:
    """The whole report page as a string.

    ``entries``: every contact's current values. ``history``: what they are compared
    with (the value before the last run) and the run records; without it the page
    says there is nothing to compare with. ``basis`` says where the scores come from
    (e.g. "as written by run 12"); ``generated_at`` is shown when given.
    """
    if top < 1:
        raise ValueError(f"top must be at least 1, not {top}")
    book_entries = list(entries)
    history = history or History()
    body = [
        _header(book_entries, history, title, target, basis, generated_at, algorithm),
        _nav(),
        _bands_section(book_entries, history),
        _map_section(book_entries),
        _one_sided_section(book_entries, top),
        _changes_section(book_entries, history),
        _runs_section(history.runs, algorithm),
        "<footer><p>Made by mutuality. This page works offline: it has no scripts and "
        "loads nothing from the network.</p></footer>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}{' · ' + escape(target) if target else ''}</title>"
        f"<style>{CSS}</style></head>\n<body><main>" + "\n".join(body) + "</main></body></html>\n"
    )


# -- page parts ---------------------------------------------------------------------------


def _header(
    entries: Sequence[Entry],
    history: History,
    title: str,
    target: str | None,
    basis: str | None,
    generated_at: datetime | None,
    algorithm: str,
) -> str:
    facts = []
    if target:
        facts.append(f"<span>CRM <strong>{escape(target)}</strong></span>")
    if basis:
        facts.append(f"<span>Scores {escape(basis)}</span>")
    facts.append(f"<span>Algorithm <strong>{escape(algorithm)}</strong></span>")
    if generated_at is not None:
        facts.append(f"<span>Made {escape(when(generated_at))}</span>")
    counts = {band: 0 for band in BAND_LABELS}
    for entry in entries:
        counts[entry.band] = counts.get(entry.band, 0) + 1
    total = len(entries)
    changed = sum(1 for e in entries if _changed(e, history))
    cards = [
        ("Contacts", f"{total:,}", ""),
        ("Mutual", _share(counts["mutual"], total), f"{counts['mutual']:,} contacts"),
        (
            "You invest more",
            _share(counts["you_invest_more"], total),
            f"{counts['you_invest_more']:,} contacts",
        ),
        (
            "They invest more",
            _share(counts["they_invest_more"], total),
            f"{counts['they_invest_more']:,} contacts",
        ),
        (
            "Changed band",
            f"{changed:,}" if history.since else "–",
            f"in {escape(history.since)}" if history.since else "no earlier run to compare",
        ),
    ]
    card_html = "".join(
        f'<div class="card"><dt>{name}</dt><dd><span class="big">{value}</span>'
        f"<span>{note}</span></dd></div>"
        for name, value, note in cards
    )
    return (
        f'<header><h1>{escape(title)}</h1><p class="facts">{" ".join(facts)}</p>'
        f'<dl class="cards">{card_html}</dl></header>'
    )


def _changed(entry: Entry, history: History) -> bool:
    before = history.changes.get(entry.contact_id)
    return before is not None and before.band is not None and before.band != entry.band


def _nav() -> str:
    links = [
        ("bands", "Bands"),
        ("map", "Map of the book"),
        ("one-sided", "Most one-sided"),
        ("changes", "Since the last run"),
        ("runs", "Run history"),
    ]
    items = "".join(f'<li><a href="#{key}">{name}</a></li>' for key, name in links)
    return f'<nav aria-label="Sections"><ol>{items}</ol></nav>'


def _section(key: str, heading: str, *content: str) -> str:
    return (
        f'<section id="{key}" aria-labelledby="{key}-h"><h2 id="{key}-h">{heading}</h2>'
        + "".join(content)
        + "</section>"
    )


def _bands_section(entries: Sequence[Entry], history: History) -> str:
    rows = book.band_rows(entries, history)
    if not entries:
        return _section("bands", "Bands", '<p class="empty">No contacts scored yet.</p>')
    compared = history.since is not None
    since = escape(history.since or "")
    figure = (
        '<figure><figcaption id="bands-title">Contacts per band</figcaption>'
        + charts.bar_chart(rows, title_id="bands-title", desc_id="bands-desc")
        + '<p id="bands-desc" class="sr">The table below gives the same counts and shares.</p>'
        "</figure>"
    )
    head = ["Band", "Contacts", "Share"]
    if compared:
        head += ["Before", "Moved in", "Moved out"]
    body = []
    for row in rows:
        if not row.count and not row.moved_out and row.band not in BAND_LABELS:
            continue
        cells = [_band_cell(row.band), _num(row.count), f"{row.share:.1%}"]
        if compared:
            cells += [_num(row.before or 0), _signed(row.moved_in, "+")]
            cells.append(_signed(row.moved_out, "−"))
        body.append(cells)
    note = (
        f"<p>Moved in and out count the contacts whose band changed in {since}; a new "
        "contact moves in from nowhere.</p>"
        if compared
        else '<p class="empty">No earlier values to compare with, so no changes to show.</p>'
    )
    return _section(
        "bands",
        "Bands",
        figure,
        _table("Contacts per band" + (f", and the change in {since}" if compared else ""),
               head, body, numeric_from=1),
        note,
    )  # fmt: skip


def _map_section(entries: Sequence[Entry]) -> str:
    if not entries:
        return _section("map", "Map of the book", '<p class="empty">No contacts to map.</p>')
    aggregated = len(entries) > charts.SCATTER_LIMIT
    how = (
        f"The book has more than {charts.SCATTER_LIMIT:,} contacts, so each marker stands for "
        "the contacts of one band in a small area of the map; bigger markers stand for more "
        "contacts."
        if aggregated
        else "One marker per contact."
    )
    per_band = Counter(e.band for e in entries)
    legend = "".join(
        f"<li>{charts.marker_svg(band)} {escape(band_label(band))} "
        f'<span class="n">{per_band[band]:,}</span></li>'
        for band in _bands_present(entries)
    )
    figure = (
        '<figure class="wide"><figcaption id="map-title">Lean against strength, '
        'by band</figcaption><div class="map-box">'
        + charts.scatter(entries, title_id="map-title", desc_id="map-desc")
        + f'<ul class="legend" aria-label="Legend">{legend}</ul></div>'
        f'<p id="map-desc" class="sr">Each contact is placed by lean (left: you invest more; '
        f"right: they invest more) and strength (up: stronger). The table below counts the "
        f"contacts of each band in each quadrant.</p></figure>"
    )
    counts = book.quadrant_counts(entries)
    bands = _bands_present(entries)
    body = [
        [escape(name)]
        + [_num(counts.get((key, band), 0)) for band in bands]
        + [_num(sum(counts.get((key, band), 0) for band in bands))]
        for key, name in QUADRANTS
    ]
    return _section(
        "map",
        "Map of the book",
        f"<p>Where each relationship sits: who carries it (lean, across) and how much is "
        f"going on (strength, up; strong from {book.STRONG_FROM:g} of 100). {how}</p>",
        figure,
        _table(
            "Contacts per quadrant and band",
            ["Quadrant", *(_band_cell(b) for b in bands), "All"],
            body,
            numeric_from=1,
            escape_head=False,
        ),
    )


def _bands_present(entries: Sequence[Entry]) -> list[str]:
    present = {e.band for e in entries}
    return [b for b in BAND_LABELS if b in present] + sorted(present - set(BAND_LABELS))


def _one_sided_section(entries: Sequence[Entry], top: int) -> str:
    parts = [
        f"<p>The {top} relationships with the largest lean on each side: who keeps being "
        "chased without answers, and who is chasing you.</p>"
    ]
    for band, heading in (
        ("you_invest_more", "You invest more"),
        ("they_invest_more", "They invest more"),
    ):
        chosen = book.most_one_sided(entries, band, top)
        parts.append(f'<h3 id="top-{band}">{heading}</h3>')
        if not chosen:
            parts.append(f'<p class="empty">No contact is in “{heading.lower()}”.</p>')
            continue
        rows = [
            [str(i), *_contact_cells(e), _num(e.score, 0), f"{e.lean:+.2f}", _reasons(e)]
            for i, e in enumerate(chosen, 1)
        ]
        parts.append(
            _table(
                f"Most one-sided: {heading.lower()} (top {top})",
                ["#", "Contact", "Company", "Score", "Lean", "Reasons"],
                rows,
                numeric=(0, 3, 4),
                css=f"top-list {band}",
            )
        )
    return _section("one-sided", "Most one-sided", *parts)


def _changes_section(entries: Sequence[Entry], history: History) -> str:
    if history.since is None:
        return _section(
            "changes",
            "Since the last run",
            '<p class="empty">No earlier values to compare with yet: after the next sync this '
            "section lists the relationships that turned one-sided and those that recovered.</p>",
        )
    since = escape(history.since)
    parts = []
    for key, heading, pairs in (
        ("turned", "Turned one-sided", book.turned_one_sided(entries, history)),
        ("recovered", "Recovered", book.recovered(entries, history)),
    ):
        parts.append(f'<h3 id="{key}">{heading} <span class="count">({len(pairs):,})</span></h3>')
        if not pairs:
            what = "turned one-sided" if key == "turned" else "went from one-sided to mutual"
            parts.append(f'<p class="empty">No relationship {what} since {since}.</p>')
            continue
        rows = [
            [
                *_contact_cells(e),
                _band_cell(before.band),
                _band_cell(e.band),
                _num(e.score, 0) + _delta(e.score, before.score),
                f"{e.lean:+.2f}",
                _reasons(e),
            ]
            for e, before in pairs[:CHANGE_ROWS]
        ]
        parts.append(
            _table(
                f"{heading} since {since}",
                ["Contact", "Company", "Was", "Now", "Score", "Lean", "Reasons"],
                rows,
                numeric=(4, 5),
                escape_head=True,
                css=f"change-list {key}",
            )
        )
        if len(pairs) > CHANGE_ROWS:
            parts.append(
                f'<p class="more">… and {len(pairs) - CHANGE_ROWS:,} more (run '
                "<code>mutuality score --format csv</code> for every contact).</p>"
            )
    intro = f"<p>Each contact's band now, compared with its band before {since}.</p>"
    return _section("changes", "Since the last run", intro, *parts)


def _runs_section(runs: Sequence[Mapping[str, Any]], algorithm: str) -> str:
    parts = [f"<p>Algorithm version of this report: <strong>{escape(algorithm)}</strong>.</p>"]
    if not runs:
        parts.append('<p class="empty">No runs recorded in the state file yet.</p>')
    else:
        parts.append(
            _table(
                "Runs, newest first",
                ["Run", "Started", "Status", "As of", "Scored", "Changed", "Written", "Failed",
                 "Algorithm"],
                [[escape(c) for c in run_cells(r)] for r in runs],
                numeric=(0, 4, 5, 6, 7),
            )
        )  # fmt: skip
    return _section("runs", "Run history", *parts)


# -- cells and tables ---------------------------------------------------------------------


def _table(
    caption: str,
    head: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    numeric_from: int | None = None,
    numeric: Sequence[int] = (),
    escape_head: bool = True,
    css: str = "",
) -> str:
    """A data table; cells are HTML already (escaped by whoever made them)."""
    right = set(numeric)
    if numeric_from is not None:
        right |= set(range(numeric_from, len(head)))

    def cls(i: int) -> str:
        return ' class="num"' if i in right else ""

    head_html = "".join(
        f'<th scope="col"{cls(i)}>{escape(h) if escape_head else h}</th>'
        for i, h in enumerate(head)
    )
    body_html = "".join(
        "<tr>"
        + "".join(
            (f'<th scope="row"{cls(i)}>{c}</th>' if i == 0 else f"<td{cls(i)}>{c}</td>")
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    klass = f' class="{escape(css)}"' if css else ""
    return (
        f'<div class="table-wrap"><table{klass}><caption>{escape(caption)}</caption>'
        f"<thead><tr>{head_html}</tr></thead><tbody>{body_html}</tbody></table></div>"
    )


def _band_cell(band: str | None) -> str:
    if band is None:
        return '<span class="band">new</span>'
    return f'<span class="band">{charts.marker_svg(band, 11)} {escape(band_label(band))}</span>'


def _contact_cells(entry: Entry) -> list[str]:
    name = escape(entry.display_name)
    if entry.name:
        name += f' <span class="id">{escape(entry.contact_id)}</span>'
    return [name, escape(entry.company or "")]


def _reasons(entry: Entry, most: int = 3) -> str:
    if not entry.reasons:
        return ""
    items = "".join(f"<li>{escape(r)}</li>" for r in entry.reasons[:most])
    return f'<ul class="reasons">{items}</ul>'


def _num(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _signed(value: int, sign: str) -> str:
    return f"{sign}{value:,}" if value else "0"


def _delta(now: float, before: float | None) -> str:
    if before is None or round(now) == round(before):
        return ""
    change = round(now) - round(before)
    return f' <span class="delta">({"+" if change > 0 else "−"}{abs(change)})</span>'


def _share(count: int, total: int) -> str:
    return f"{count / total:.0%}" if total else "–"
