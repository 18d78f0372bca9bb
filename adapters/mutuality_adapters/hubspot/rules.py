"""How HubSpot data that has no exact field becomes ``automated``, tags and meeting direction.

HubSpot has no "automated" flag on email engagements, no free tags, and no
documented field saying who set a meeting up. These rules recover that
information from what a real portal holds. Each rule is a heuristic or rests on
a property name that HubSpot's own documentation does not list (seen in
third-party code only); every such rule accepts more than one form, costs no
extra request, and can be switched off in the settings. docs/hubspot.md lists
them as assumptions.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping

import attrs

#: Sender addresses no person answers from. ``info@`` and ``sales@`` are left out on
#: purpose: in small companies they are read and written by people.
DEFAULT_AUTOMATED_SENDERS = (
    "noreply@*", "no-reply@*", "no_reply@*", "donotreply@*", "do-not-reply@*",
    "do_not_reply@*", "newsletter@*", "newsletters@*", "news@*", "marketing@*",
    "notifications@*", "notification@*", "notify@*", "mailer-daemon@*", "postmaster@*",
    "bounce@*", "bounces@*", "*@bounce.*",
)  # fmt: skip

#: ``hs_meeting_source`` values of meetings the contact booked through a scheduling
#: link (third-party observations; not in HubSpot's documentation).
DEFAULT_CONTACT_BOOKED_SOURCES = ("MEETINGS_PUBLIC", "MEETINGS_EMBEDDED", "MEETINGS_TOOL")
#: ``hs_meeting_source`` values of meetings a HubSpot user created (logged or
#: scheduled in the CRM).
DEFAULT_USER_BOOKED_SOURCES = ("CRM_UI",)

DEFAULT_TAGS_PROPERTY = "mutuality_tags"
DEFAULT_HASHTAGS = ("ask", "give")
DEFAULT_BULK_RECIPIENT_THRESHOLD = 20

#: Short text fields searched for hashtags; bodies (up to 64 KB) are never fetched.
HASHTAG_FIELDS: Mapping[str, tuple[str, ...]] = {
    "emails": ("hs_email_subject",),
    "calls": ("hs_call_title",),
    "meetings": ("hs_meeting_title",),
}

#: Properties each rule reads, per engagement type (beyond the mapping's own).
_RULE_PROPERTIES: Mapping[str, tuple[str, ...]] = {
    "emails": ("hs_email_from_email", "hs_sequence_id"),
    "meetings": ("hs_meeting_source", "hs_engagement_source", "hs_meeting_created_from_link_id"),
}


def _words(value: object) -> tuple[str, ...]:
    """A list setting given as a TOML array or as one ``;``/``,``-separated string."""
    if value is None:
        return ()
    items: Iterable[object] = re.split(r"[;,]", value) if isinstance(value, str) else value  # type: ignore[assignment]
    return tuple(dict.fromkeys(str(item).strip() for item in items if str(item).strip()))


def split_tags(value: str | None) -> list[str]:
    """A ``;``-separated tag value (a multiple-checkbox property stores this form too)."""
    if not value:
        return []
    return [tag.strip().lower() for tag in value.split(";") if tag.strip()]


@attrs.frozen
class MappingRules:
    """The configurable part of the engagement mapping (see docs/hubspot.md, "Heuristics")."""

    automated_sender_patterns: tuple[str, ...] = attrs.field(
        default=DEFAULT_AUTOMATED_SENDERS,
        converter=lambda v: tuple(p.lower() for p in _words(v)),
    )
    #: An email associated with more contacts than this is bulk mail; 0 switches it off.
    bulk_recipient_threshold: int = DEFAULT_BULK_RECIPIENT_THRESHOLD
    #: An engagement property holding ``;``-separated tags; empty switches it off.
    tags_property: str = DEFAULT_TAGS_PROPERTY
    hashtags: tuple[str, ...] = attrs.field(
        default=DEFAULT_HASHTAGS,
        converter=lambda v: tuple(t.lstrip("#").lower() for t in _words(v)),
    )
    contact_booked_meeting_sources: tuple[str, ...] = attrs.field(
        default=DEFAULT_CONTACT_BOOKED_SOURCES,
        converter=lambda v: tuple(s.upper() for s in _words(v)),
    )
    user_booked_meeting_sources: tuple[str, ...] = attrs.field(
        default=DEFAULT_USER_BOOKED_SOURCES,
        converter=lambda v: tuple(s.upper() for s in _words(v)),
    )
    _hashtag_re: re.Pattern[str] | None = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        pattern = None
        if self.hashtags:
            names = "|".join(re.escape(t) for t in self.hashtags)
            pattern = re.compile(rf"(?<![\w#])#({names})(?![\w-])", re.IGNORECASE)
        object.__setattr__(self, "_hashtag_re", pattern)

    def extra_properties(self, object_type: str) -> tuple[str, ...]:
        """Properties to request beyond the mapping's own (unknown ones are optional)."""
        extra = list(_RULE_PROPERTIES.get(object_type, ()))
        if self._hashtag_re is not None:
            extra.extend(HASHTAG_FIELDS.get(object_type, ()))
        if self.tags_property:
            extra.append(self.tags_property)
        return tuple(dict.fromkeys(extra))

    def is_automated_sender(self, address: str | None) -> bool:
        if not address:
            return False
        address = address.strip().lower()
        return any(fnmatch.fnmatchcase(address, p) for p in self.automated_sender_patterns)

    def is_bulk(self, recipients: int) -> bool:
        return 0 < self.bulk_recipient_threshold < recipients

    def tags(self, object_type: str, props: Mapping[str, str | None]) -> list[str]:
        """Tags from the tags property and from hashtags in short text fields."""
        found = split_tags(props.get(self.tags_property)) if self.tags_property else []
        if self._hashtag_re is not None:
            for field in HASHTAG_FIELDS.get(object_type, ()):
                text = props.get(field)
                if text:
                    found.extend(m.group(1).lower() for m in self._hashtag_re.finditer(text))
        return found

    def meeting_booked_by(self, props: Mapping[str, str | None]) -> str | None:
        """``"contact"``, ``"user"`` or None (not known) for a meeting that was not held."""
        if (props.get("hs_meeting_created_from_link_id") or "").strip():
            return "contact"  # created from a scheduling link
        for name in ("hs_meeting_source", "hs_engagement_source"):
            source = (props.get(name) or "").strip().upper()
            if not source:
                continue
            if source in self.contact_booked_meeting_sources:
                return "contact"
            if source in self.user_booked_meeting_sources:
                return "user"
            return None  # a source we cannot read: not guessed from the other property
        return None


DEFAULT_RULES = MappingRules()
