"""A score's reasons as one CRM text field, and back.

The reasons are written to a single-line text field (255 characters in HubSpot and
Salesforce), joined with ``"; "``. Kept apart from :mod:`mutuality_core.explain`,
which writes the sentences, so that the model (``MutualityScore.reasons_text``) and
whatever reads a written field (the report) share the format without importing the
scoring code.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["MAX_REASONS_TEXT", "REASONS_SEPARATOR", "join_reasons", "split_reasons"]

#: The size of a standard CRM single-line text field.
MAX_REASONS_TEXT = 255
#: Between two reasons in the field.
REASONS_SEPARATOR = "; "
_ELLIPSIS = "…"


def join_reasons(reasons: Sequence[str], limit: int = MAX_REASONS_TEXT) -> str:
    """Join reasons with "; " into at most ``limit`` characters.

    No reason contains "; " itself (two-sided reasons say ", while "), so the field
    can be split back into its reasons.

    Reasons come most important first, so whole reasons are dropped from the end.
    If even the first one is too long it is cut at a word boundary and ends with "…".
    """
    kept = list(reasons)
    while kept:
        text = REASONS_SEPARATOR.join(kept)
        if len(text) <= limit:
            return text
        if len(kept) == 1:
            break
        kept.pop()
    if not kept:
        return ""
    first = kept[0]
    cut = first[: limit - len(_ELLIPSIS)]
    space = cut.rfind(" ")
    if space > 0:
        cut = cut[:space]
    return cut.rstrip(" ;,.") + _ELLIPSIS


def split_reasons(text: str) -> tuple[str, ...]:
    """The reasons of a field :func:`join_reasons` wrote (empty parts dropped)."""
    return tuple(r for r in text.split(REASONS_SEPARATOR) if r)
