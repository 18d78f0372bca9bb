"""The report's two charts as hand-written inline SVG: no plotting library, no script.

Each band has a colour (Okabe-Ito, safe for colour-blind readers) and a marker shape,
so the map still reads in greyscale print; the page's legend and tables name the bands.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from html import escape

from .book import BAND_LABELS, QUADRANTS, STRONG_FROM, BandRow, Entry, band_label

#: Up to this many contacts the map draws one marker per contact; beyond it, one marker
#: per band and grid cell (:data:`GRID`), sized by how many contacts it stands for.
SCATTER_LIMIT = 2000
#: Columns (lean) and rows (strength) of the aggregated map's grid.
GRID = (40, 20)

COLOURS = {
    "mutual": "#009E73",
    "you_invest_more": "#D55E00",
    "they_invest_more": "#0072B2",
    "dormant": "#7A7A7A",
    "insufficient_data": "#CC79A7",
}
_OTHER_COLOUR = "#444444"
#: Marker outlines centred on (0, 0), about 9 px across.
SHAPES = {
    "mutual": "M4.5 0A4.5 4.5 0 1 1-4.5 0A4.5 4.5 0 1 1 4.5 0Z",
    "you_invest_more": "M-5 0L4-5L4 5Z",
    "they_invest_more": "M5 0L-4-5L-4 5Z",
    "dormant": "M-3.8-3.8H3.8V3.8H-3.8Z",
    "insufficient_data": "M0-5L5 0L0 5L-5 0Z",
}
_OTHER_SHAPE = SHAPES["mutual"]


def colour(band: str) -> str:
    return COLOURS.get(band, _OTHER_COLOUR)


def _marker_id(band: str) -> str:
    return "m-" + "".join(ch if ch.isalnum() else "-" for ch in band)


def marker_svg(band: str, size: int = 14) -> str:
    """A small stand-alone marker for legends and tables (decorative: the name is beside it)."""
    return (
        f'<svg class="marker" width="{size}" height="{size}" viewBox="-6 -6 12 12" '
        f'aria-hidden="true" focusable="false"><path d="{SHAPES.get(band, _OTHER_SHAPE)}" '
        f'fill="{colour(band)}"/></svg>'
    )


def _n(value: float) -> str:
    """Coordinates to one decimal, without a trailing ``.0`` (keeps big maps small)."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def bar_chart(rows: Sequence[BandRow], *, title_id: str, desc_id: str) -> str:
    """Contacts per band as horizontal bars, each labelled with its count and share."""
    width, row_height, label_width, value_width = 720, 38, 150, 130
    height = row_height * len(rows) + 12
    bar_space = width - label_width - value_width
    most = max((r.count for r in rows), default=0) or 1
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-labelledby="{title_id} {desc_id}">'
    ]
    for i, row in enumerate(rows):
        y = 6 + i * row_height
        bar = bar_space * row.count / most
        label = escape(band_label(row.band))
        parts.append(
            f'<g><text x="{label_width - 10}" y="{y + 24}" text-anchor="end" class="lbl">'
            f"{label}</text>"
            f'<rect x="{label_width}" y="{y + 6}" width="{_n(max(bar, 0))}" height="26" rx="3" '
            f'fill="{colour(row.band)}"/>'
            f'<text x="{_n(label_width + bar + 8)}" y="{y + 24}" class="val">'
            f"{row.count:,} ({row.share:.1%})</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


class _Frame:
    """The map's plot area: lean -1..1 across, strength 0..100 up."""

    width, height = 760, 470
    left, right, top, bottom = 58, 18, 14, 52

    def x(self, lean: float) -> float:
        lean = min(1.0, max(-1.0, lean))
        return self.left + (lean + 1) / 2 * (self.width - self.left - self.right)

    def y(self, strength: float) -> float:
        strength = min(100.0, max(0.0, strength))
        return self.top + (1 - strength / 100) * (self.height - self.top - self.bottom)


def _axes(frame: _Frame) -> list[str]:
    x0, x1, xm = frame.x(-1), frame.x(1), frame.x(0)
    y0, y1, ym = frame.y(0), frame.y(100), frame.y(STRONG_FROM)
    tints = {"you": "#FBEDE5", "they": "#E6F0F7"}
    parts = [
        f'<rect x="{_n(x0)}" y="{_n(y1)}" width="{_n(xm - x0)}" height="{_n(ym - y1)}" '
        f'fill="{tints["you"]}"/>',
        f'<rect x="{_n(xm)}" y="{_n(y1)}" width="{_n(x1 - xm)}" height="{_n(ym - y1)}" '
        f'fill="{tints["they"]}"/>',
        f'<rect x="{_n(x0)}" y="{_n(ym)}" width="{_n(x1 - x0)}" height="{_n(y0 - ym)}" '
        'fill="#F7F7F7"/>',
    ]
    for lean in (-1, -0.5, 0, 0.5, 1):
        x = _n(frame.x(lean))
        parts.append(f'<line x1="{x}" x2="{x}" y1="{_n(y0)}" y2="{_n(y0 + 5)}" stroke="#666"/>')
        parts.append(
            f'<text x="{x}" y="{_n(y0 + 19)}" text-anchor="middle" class="tick">{lean:+g}</text>'
        )
    for strength in (0, 25, 50, 75, 100):
        y = _n(frame.y(strength))
        parts.append(f'<line x1="{_n(x0 - 5)}" x2="{_n(x0)}" y1="{y}" y2="{y}" stroke="#666"/>')
        parts.append(
            f'<text x="{_n(x0 - 9)}" y="{y}" dy="4" text-anchor="end" class="tick">'
            f"{strength}</text>"
        )
    parts += [
        f'<line x1="{_n(xm)}" x2="{_n(xm)}" y1="{_n(y1)}" y2="{_n(y0)}" class="mid"/>',
        f'<line x1="{_n(x0)}" x2="{_n(x1)}" y1="{_n(ym)}" y2="{_n(ym)}" class="mid"/>',
        f'<rect x="{_n(x0)}" y="{_n(y1)}" width="{_n(x1 - x0)}" height="{_n(y0 - y1)}" '
        'fill="none" stroke="#999"/>',
        f'<text x="{_n((x0 + x1) / 2)}" y="{frame.height - 6}" text-anchor="middle" '
        'class="axis">Lean: ← you invest more · they invest more →</text>',
        f'<text transform="translate(16 {_n((y0 + y1) / 2)}) rotate(-90)" text-anchor="middle" '
        'class="axis">Strength</text>',
    ]
    return parts


def _quadrant_names(frame: _Frame) -> list[str]:
    """The four quadrants' names in their corners, drawn over the markers with a halo."""
    x0, x1, y0, y1 = frame.x(-1), frame.x(1), frame.y(0), frame.y(100)
    names = dict(QUADRANTS)
    corners = {
        "you_strong": (x0 + 8, y1 + 18, "start"),
        "they_strong": (x1 - 8, y1 + 18, "end"),
        "you_weak": (x0 + 8, y0 - 10, "start"),
        "they_weak": (x1 - 8, y0 - 10, "end"),
    }
    return [
        f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}" class="quad">'
        f"{escape(names[key])}</text>"
        for key, (x, y, anchor) in corners.items()
    ]


def _defs(bands: Sequence[str]) -> str:
    paths = "".join(
        f'<path id="{_marker_id(b)}" d="{SHAPES.get(b, _OTHER_SHAPE)}"/>' for b in bands
    )
    return f"<defs>{paths}</defs>"


def _band_order(entries: Sequence[Entry]) -> list[str]:
    present = {e.band for e in entries}
    # one-sided bands last, so they are drawn on top of the crowd
    order = ["insufficient_data", "dormant", "mutual", "they_invest_more", "you_invest_more"]
    return [b for b in order if b in present] + sorted(present - set(BAND_LABELS))


def scatter(entries: Sequence[Entry], *, title_id: str, desc_id: str) -> str:
    """Lean against strength, one marker per contact (or per grid cell beyond the limit)."""
    frame = _Frame()
    bands = _band_order(entries)
    parts = [
        f'<svg class="chart map" viewBox="0 0 {frame.width} {frame.height}" '
        f'width="{frame.width}" height="{frame.height}" role="img" '
        f'aria-labelledby="{title_id} {desc_id}">',
        _defs(bands),
        *_axes(frame),
    ]
    if len(entries) <= SCATTER_LIMIT:
        parts += _dots(entries, bands, frame)
    else:
        parts += _cells(entries, bands, frame)
    parts += _quadrant_names(frame)
    parts.append("</svg>")
    return "".join(parts)


def _dots(entries: Sequence[Entry], bands: Sequence[str], frame: _Frame) -> list[str]:
    by_band: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        by_band[entry.band].append(entry)
    parts = []
    for band in bands:
        parts.append(f'<g fill="{colour(band)}" class="dots" fill-opacity="0.85">')
        ref = _marker_id(band)
        for e in by_band[band]:
            who = escape(e.display_name)
            parts.append(
                f'<use href="#{ref}" x="{_n(frame.x(e.lean))}" y="{_n(frame.y(e.strength))}">'
                f"<title>{who}: {escape(band_label(band))}, score {e.score:.0f}, "
                f"lean {e.lean:+.2f}, strength {e.strength:.0f}</title></use>"
            )
        parts.append("</g>")
    return parts


def _cells(entries: Sequence[Entry], bands: Sequence[str], frame: _Frame) -> list[str]:
    columns, rows = GRID
    counts: Counter[tuple[str, int, int]] = Counter()
    for e in entries:
        column = min(columns - 1, int((min(1.0, max(-1.0, e.lean)) + 1) / 2 * columns))
        row = min(rows - 1, int(min(100.0, max(0.0, e.strength)) / 100 * rows))
        counts[(e.band, column, row)] += 1
    most = max(counts.values())
    parts = []
    for band in bands:
        parts.append(f'<g fill="{colour(band)}" class="cells" fill-opacity="0.8">')
        ref = _marker_id(band)
        for (cell_band, column, row), n in sorted(counts.items()):
            if cell_band != band:
                continue
            lean = -1 + (column + 0.5) * 2 / columns
            strength = (row + 0.5) * 100 / rows
            scale = 0.6 + 1.4 * math.sqrt(n / most)  # area grows with the count
            low, high = -1 + column * 2 / columns, -1 + (column + 1) * 2 / columns
            parts.append(
                f'<use href="#{ref}" transform="translate({_n(frame.x(lean))} '
                f'{_n(frame.y(strength))}) scale({scale:.2f})">'
                f"<title>{n:,} {escape(band_label(band))}: lean {low:+.2f} to {high:+.2f}, "
                f"strength {row * 100 / rows:.0f}-{(row + 1) * 100 / rows:.0f}</title></use>"
            )
        parts.append("</g>")
    return parts
