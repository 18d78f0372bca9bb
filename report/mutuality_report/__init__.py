"""mutuality_report: the book of relationships as one offline HTML page.

``render(entries, history) -> str`` makes the page from plain values;
``from_state`` and ``from_scores`` build those values from a state file or a scoring.
The page has inline SVG charts and no script, and loads nothing from the network.
"""

from mutuality_report.book import BAND_LABELS, Before, Entry, History
from mutuality_report.charts import SCATTER_LIMIT
from mutuality_report.page import render
from mutuality_report.sources import (
    Book,
    entry_from_score,
    entry_from_written,
    from_scores,
    from_state,
    read_contacts,
)

__all__ = [
    "BAND_LABELS",
    "SCATTER_LIMIT",
    "Before",
    "Book",
    "Entry",
    "History",
    "entry_from_score",
    "entry_from_written",
    "from_scores",
    "from_state",
    "read_contacts",
    "render",
]
