"""Small builders for readable relationship stories in tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

import attrs

from mutuality_core import Activity

AS_OF = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
SWAP = {"outbound": "inbound", "inbound": "outbound"}
SWAP_TAGS = {"by_you": "by_them", "by_them": "by_you"}


class Story:
    """Appends activities for one contact, with unique ids and times relative to AS_OF."""

    def __init__(self, contact_id: str = "c1") -> None:
        self.contact_id = contact_id
        self.activities: list[Activity] = []

    def add(
        self,
        days_ago: float,
        direction: str,
        *,
        channel: str = "email",
        thread: str | None = None,
        outcome: str = "completed",
        automated: bool = False,
        tags: Iterable[str] | str | None = None,
    ) -> Story:
        n = len(self.activities)
        self.activities.append(
            Activity(
                id=f"{self.contact_id}-a{n:04d}",
                contact_id=self.contact_id,
                occurred_at=AS_OF - timedelta(days=days_ago),
                channel=channel,
                direction=direction,
                outcome=outcome,
                thread_id=thread,
                automated=automated,
                tags=tags,
            )
        )
        return self

    def exchange(
        self, days_ago: float, starter: str, *, replies: int = 1, reply_hours: float = 4.0
    ) -> Story:
        """A thread started by ``starter`` and answered back and forth ``replies`` times."""
        thread = f"t{len(self.activities)}"
        self.add(days_ago, starter, thread=thread)
        side = starter
        for k in range(1, replies + 1):
            side = SWAP[side]
            self.add(days_ago - k * reply_hours / 24.0, side, thread=thread)
        return self


def mirrored(activity: Activity) -> Activity:
    """The same activity seen from the other side: inbound <-> outbound, by_you <-> by_them."""
    return attrs.evolve(
        activity,
        direction=SWAP.get(activity.direction.value, activity.direction.value),
        tags=frozenset(SWAP_TAGS.get(t, t) for t in activity.tags),
    )


PRONOUNS = {
    "You": "They",
    "They": "You",
    "you": "they",
    "they": "you",
    "your": "their",
    "their": "your",
    "yours": "theirs",
    "theirs": "yours",
}


def swap_pronouns(text: str) -> str:
    return " ".join(PRONOUNS.get(word, word) for word in text.split(" "))


def clauses(reasons: Iterable[str]) -> list[str]:
    """Reasons split into clauses, first letter lower-cased, sorted: order-free comparison."""
    out = []
    for reason in reasons:
        for clause in reason.replace(", while ", "; ").split("; "):
            out.append(clause[:1].lower() + clause[1:])
    return sorted(out)
