"""The HubSpot adapter's settings: where they come from and what is allowed.

Settings arrive as a plain mapping (CLI flags, ``MUTUALITY_*`` variables and the
``[adapters.hubspot]`` table, already merged by the CLI) plus the process
environment, which is only consulted for the token and the base URL so that a
token never has to sit in a config file.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import attrs

from mutuality_adapters.retry import RENAMED_SETTINGS, RetryPolicy, parse_retry_settings
from mutuality_core.errors import ConfigError

from .rules import MappingRules

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.hubapi.com"
TOKEN_ENV = "HUBSPOT_ACCESS_TOKEN"
BASE_URL_ENV = "MUTUALITY_HUBSPOT_BASE_URL"
#: The first retry's backoff ceiling; it doubles per retry up to max_backoff_seconds.
BACKOFF_BASE_SECONDS = 0.5

#: The score fields written to each contact, in the order ``setup`` creates them.
SCORE_FIELDS = (
    "score", "band", "lean", "strength", "confidence", "reasons", "scored_at", "written_at",
)  # fmt: skip


@attrs.frozen
class PropertyNames:
    """The contact property names the scores are written to (internal names, not labels)."""

    score: str = "mutuality_score"
    band: str = "mutuality_band"
    lean: str = "mutuality_lean"
    strength: str = "mutuality_strength"
    confidence: str = "mutuality_confidence"
    reasons: str = "mutuality_reasons"
    scored_at: str = "mutuality_scored_at"  # the as_of the score was computed for
    written_at: str = "mutuality_written_at"  # when mutuality wrote it (tells our own writes)

    @classmethod
    def with_prefix(cls, prefix: str) -> PropertyNames:
        return cls(**{field: f"{prefix}{field}" for field in SCORE_FIELDS})

    def as_dict(self) -> dict[str, str]:
        return {field: getattr(self, field) for field in SCORE_FIELDS}


#: HubSpot's documented caps, which are also the defaults: page, search and batch sizes.
SIZE_LIMITS = {
    "list_page_size": 100,
    "search_page_size": 200,
    "batch_size": 100,
    "association_batch_size": 1000,
}
#: Settings read into :class:`MappingRules` (see ``_rules``).
RULE_KEYS = frozenset(
    {
        "automated_sender_patterns",
        "bulk_recipient_threshold",
        "tags_property",
        "hashtags",
        "meeting_sources_booked_by_contact",
        "meeting_sources_set_up_by_user",
    }
)


@attrs.frozen(repr=False)
class HubSpotSettings:
    """Everything ``connect`` needs. ``repr`` hides the token so it never reaches a log."""

    access_token: str
    base_url: str = DEFAULT_BASE_URL
    properties: PropertyNames = attrs.field(factory=PropertyNames)
    group_name: str = "mutuality"
    group_label: str = "Mutuality"
    include_tasks: bool = False
    max_requests: int | None = None
    requests_per_window: int = 100  # HubSpot's burst limit: 100 per 10 s (Free/Starter)
    rate_window_seconds: float = 10.0
    search_requests_per_second: float = 5.0
    search_lag_seconds: float = 30.0
    own_write_window_seconds: float = 300.0  # our written_at stamp to its lastmodifieddate
    timeout_seconds: float = 30.0
    max_retries: int = 5
    max_backoff_seconds: float = 30.0
    max_retry_after_seconds: float = 900.0
    list_page_size: int = 100
    search_page_size: int = 200
    batch_size: int = 100
    association_batch_size: int = 1000
    target: str | None = None
    rules: MappingRules = attrs.field(factory=MappingRules)

    def __repr__(self) -> str:
        return f"HubSpotSettings(base_url={self.base_url!r}, token=<hidden>)"

    @property
    def retry_policy(self) -> RetryPolicy:
        """The shared retry policy with these settings; backoff 0.5 s, 1 s, 2 s, ..."""
        return RetryPolicy.from_settings(self, base_seconds=BACKOFF_BASE_SECONDS)

    @classmethod
    def from_mapping(
        cls, settings: Mapping[str, Any], *, environ: Mapping[str, str]
    ) -> HubSpotSettings:
        """Parse and check settings; every problem names its key and what is allowed."""
        fields = attrs.fields_dict(cls)
        known = (set(fields) - {"rules"}) | {"property_prefix"} | RULE_KEYS | set(RENAMED_SETTINGS)
        generic = {"path", "output", "skip_invalid", "rejects"}  # other adapters' flags
        for key in sorted(generic & set(settings)):
            log.warning("the %s setting does not apply to the hubspot adapter; ignored", key)
        settings = {k: v for k, v in settings.items() if k not in generic}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ConfigError(
                f"unknown hubspot setting(s): {', '.join(unknown)}; "
                f"allowed: {', '.join(sorted(known))}"
            )
        token = settings.get("access_token") or environ.get(TOKEN_ENV)
        if not token or not str(token).strip():
            raise ConfigError(
                f"no HubSpot access token: set {TOKEN_ENV} to a private-app token "
                "(or access_token in [adapters.hubspot])"
            )
        base_url = str(
            settings.get("base_url") or environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
        ).rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base_url must start with http:// or https://; got {base_url!r}")

        names = PropertyNames.with_prefix(str(settings.get("property_prefix", "mutuality_")))
        overrides = settings.get("properties") or {}
        if not isinstance(overrides, Mapping):
            raise ConfigError("properties must be a table of field = property name")
        bad = sorted(set(overrides) - set(SCORE_FIELDS))
        if bad:
            raise ConfigError(
                f"unknown score field(s) in properties: {', '.join(bad)}; "
                f"allowed: {', '.join(SCORE_FIELDS)}"
            )
        names = attrs.evolve(names, **{k: str(v) for k, v in overrides.items()})

        def number(
            key: str, default: float | None = None, *, minimum: float, integer: bool = False
        ) -> Any:
            """``settings[key]`` checked; the field's own default when absent."""
            raw: Any = settings.get(key, fields[key].default if default is None else default)
            try:
                value = int(raw) if integer else float(raw)
            except (TypeError, ValueError):
                raise ConfigError(f"{key} must be a number; got {raw!r}") from None
            if value < minimum:
                raise ConfigError(f"{key} must be >= {minimum}; got {raw!r}")
            return value

        max_requests = settings.get("max_requests")
        if max_requests is not None:
            max_requests = number("max_requests", 0, minimum=1, integer=True)
        include_tasks = settings.get("include_tasks", False)
        if isinstance(include_tasks, str):
            include_tasks = include_tasks.strip().lower() in {"1", "true", "yes", "on"}

        sizes = {}
        for key, cap in SIZE_LIMITS.items():
            sizes[key] = value = number(key, minimum=1, integer=True)
            if value > cap:
                raise ConfigError(f"{key} must be <= {cap} (HubSpot's limit); got {value}")

        rules = _rules(settings, number)

        return cls(
            access_token=str(token).strip(),
            base_url=base_url,
            properties=names,
            group_name=str(settings.get("group_name", "mutuality")),
            group_label=str(settings.get("group_label", "Mutuality")),
            include_tasks=bool(include_tasks),
            max_requests=max_requests,
            requests_per_window=number("requests_per_window", minimum=1, integer=True),
            rate_window_seconds=number("rate_window_seconds", minimum=0.01),
            search_requests_per_second=number("search_requests_per_second", minimum=0.1),
            search_lag_seconds=number("search_lag_seconds", minimum=0),
            own_write_window_seconds=number("own_write_window_seconds", minimum=0),
            **parse_retry_settings(settings, adapter="hubspot"),
            **sizes,
            target=settings.get("target"),
            rules=rules,
        )


def _rules(settings: Mapping[str, Any], number: Any) -> MappingRules:
    """The mapping heuristics; a list may be a TOML array or a ``;``-separated string."""
    defaults = MappingRules()

    def words(key: str, default: tuple[str, ...]) -> Any:
        value = settings.get(key, default)
        if not isinstance(value, (str, list, tuple)):
            raise ConfigError(f"{key} must be a list of strings or a ';'-separated string")
        return value

    tags_property = str(settings.get("tags_property", defaults.tags_property) or "").strip()
    if tags_property and not tags_property.replace("_", "").isalnum():
        raise ConfigError(
            f"tags_property must be a HubSpot property's internal name; got {tags_property!r}"
        )
    return MappingRules(
        automated_sender_patterns=words(
            "automated_sender_patterns", defaults.automated_sender_patterns
        ),
        bulk_recipient_threshold=number(
            "bulk_recipient_threshold", defaults.bulk_recipient_threshold, minimum=0, integer=True
        ),
        tags_property=tags_property,
        hashtags=words("hashtags", defaults.hashtags),
        contact_booked_meeting_sources=words(
            "meeting_sources_booked_by_contact", defaults.contact_booked_meeting_sources
        ),
        user_booked_meeting_sources=words(
            "meeting_sources_set_up_by_user", defaults.user_booked_meeting_sources
        ),
    )
