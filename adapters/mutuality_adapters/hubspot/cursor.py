"""The HubSpot source's cursor: one position per object type, serialised as JSON.

A type is read in one of two modes:

* ``list``: a full scan with the list endpoint (100 per page), resuming from the
  ``after`` token of the last stored page. ``t0`` is when the scan started; when
  it ends the type switches to ``search`` with ``lo = t0 - lag`` so that whatever
  changed during the scan is read again next time (never skipped).
* ``search``: an incremental window ``lo < modified <= hi`` read in ascending
  ``hs_object_id`` order, resuming after ``id``. Ordering by id rather than by
  timestamp is what makes ties harmless: 10,000 records sharing one timestamp
  are just 10,000 ids, and the 10,000-results cap of one query is side-stepped
  by starting every request as a new query (``hs_object_id > id``), so ``after``
  never grows. When the window is done, ``lo`` becomes ``hi``.

The compound position is therefore ``(lo, hi, id)``: timestamps bound the window,
the id orders within it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from mutuality_core.errors import StateError

VERSION = 1


@attrs.frozen
class TypePosition:
    mode: str  # "list" or "search"
    after: str | None = None  # list: the next page token
    t0: int | None = None  # list: when the scan started (epoch ms)
    lo: int | None = None  # search: exclusive lower bound on the modified stamp (epoch ms)
    hi: int | None = None  # search: inclusive upper bound of the open window, None if none open
    id: int = 0  # search: last object id read in the open window

    def to_json(self) -> dict[str, Any]:
        if self.mode == "list":
            return {"mode": "list", "after": self.after, "t0": self.t0}
        return {"mode": "search", "lo": self.lo, "hi": self.hi, "id": self.id}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> TypePosition:
        mode = raw.get("mode")
        if mode == "list":
            return cls("list", after=raw.get("after"), t0=_int(raw.get("t0")))
        if mode == "search":
            return cls(
                "search",
                lo=_int(raw.get("lo")),
                hi=_int(raw.get("hi")),
                id=_int(raw.get("id")) or 0,
            )
        raise StateError(f"unknown HubSpot cursor mode {mode!r}")


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def encode(positions: Mapping[str, TypePosition]) -> str:
    return json.dumps(
        {"v": VERSION, "types": {t: p.to_json() for t, p in positions.items()}},
        sort_keys=True,
        separators=(",", ":"),
    )


def decode(cursor: str | None) -> dict[str, TypePosition]:
    """Positions by object type; ``{}`` for no cursor (a full read)."""
    if not cursor:
        return {}
    try:
        raw = json.loads(cursor)
        if raw.get("v") != VERSION:
            raise StateError(
                f"HubSpot cursor version {raw.get('v')!r} is not {VERSION}; "
                "run a full sync (--full) to rebuild it"
            )
        return {t: TypePosition.from_json(p) for t, p in raw["types"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StateError(
            f"unreadable HubSpot cursor ({exc}); run a full sync (--full) to rebuild it"
        ) from None
