"""The adapter's settings: where they come from, what they mean, and their checks.

Keys (``[adapters.salesforce]`` in mutuality.toml, CLI flags or ``MUTUALITY_*``);
credentials fall back to the ``SALESFORCE_*`` environment variables:

* ``username`` (SALESFORCE_USERNAME), ``password`` (SALESFORCE_PASSWORD),
  ``security_token`` (SALESFORCE_SECURITY_TOKEN; "" when the IP range is trusted):
  the password flow.
* ``instance_url`` (SALESFORCE_INSTANCE_URL) + ``session_id`` (SALESFORCE_SESSION_ID):
  an existing session.
* ``username`` + ``consumer_key`` (SALESFORCE_CONSUMER_KEY) + ``private_key_file``
  (SALESFORCE_PRIVATE_KEY_FILE), or a ``jwt`` table with the last two: the JWT flow.
* ``sandbox`` (SALESFORCE_SANDBOX): log in at test.salesforce.com; ``domain``
  (SALESFORCE_DOMAIN): a My Domain login host prefix, overrides ``sandbox``.
* ``api_version`` (59.0); ``max_share_per_run`` (0.25) and ``max_share_total`` (0.80)
  of the daily API allowance; ``max_requests`` per run (none); ``bulk_threshold``
  (2000 changed contacts; 0 = never use Bulk API 2.0); ``bulk_batch_size`` (10000);
  ``lookback_seconds`` (300); ``page_size`` (2000, 200-2000); ``bulk_poll_seconds``
  (2): the first wait before a Bulk API 2.0 job's status check, doubled after each check up to
  ``bulk_poll_max_seconds`` (30); ``bulk_max_wait_seconds`` (3600): how long to wait
  for one job before giving up on it (every status check is an API call).
* the retry settings every CRM adapter shares (:mod:`mutuality_adapters.retry`):
  ``timeout_seconds`` per request (60); ``max_retries`` (4) of a 5xx, timeout or
  lock error; ``max_backoff_seconds`` (30), the longest wait between two attempts
  (1 s, 2 s, 4 s ... with full jitter); ``max_retry_after_seconds`` (900), the
  longest ``Retry-After`` honoured. The old names ``timeout`` and ``retries`` are
  still accepted, with a deprecation warning.
* ``tags_field`` (``Mutuality_Tags__c``; "" = none): a custom field on Task, Event and
  EmailMessage holding ``;``-separated tags, read where describe shows it.
* ``meeting_outcome_field`` (``Mutuality_Meeting_Outcome__c``; "" = none): a custom
  Event field saying whether the meeting was held (Held, Canceled, No Show, ...).
* ``booking_user_ids`` (none): ids of users whose Events the contact booked
  (scheduling tools' integration users); such meetings are the contact's initiative.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from mutuality_adapters.retry import RENAMED_SETTINGS, RetryPolicy, parse_retry_settings
from mutuality_core.errors import ConfigError

__all__ = ["SalesforceSettings"]

#: The first retry's backoff ceiling; it doubles per retry up to max_backoff_seconds.
BACKOFF_BASE_SECONDS = 1.0
_SECRET_KEYS = ("password", "security_token", "session_id")
ENVIRONMENT = {
    "username": "SALESFORCE_USERNAME",
    "password": "SALESFORCE_PASSWORD",
    "security_token": "SALESFORCE_SECURITY_TOKEN",
    "instance_url": "SALESFORCE_INSTANCE_URL",
    "session_id": "SALESFORCE_SESSION_ID",
    "consumer_key": "SALESFORCE_CONSUMER_KEY",
    "private_key_file": "SALESFORCE_PRIVATE_KEY_FILE",
    "sandbox": "SALESFORCE_SANDBOX",
    "domain": "SALESFORCE_DOMAIN",
}

_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_RECORD_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


def _field_name(key: str, value: Any) -> str | None:
    """A field API name, or None for "" (the feature switched off)."""
    text = str(value).strip()
    if not text:
        return None
    if not _API_NAME.match(text):
        raise ConfigError(
            f"salesforce setting {key} must be a field API name such as "
            f"Mutuality_Tags__c (or empty to switch it off); got {value!r}"
        )
    return text


def _record_ids(key: str, value: Any) -> tuple[str, ...]:
    """15- or 18-character ids, from a list or a comma/semicolon/space separated text."""
    items = value if isinstance(value, (list, tuple)) else re.split(r"[,;\s]+", str(value))
    ids = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        if not _RECORD_ID.match(text):
            raise ConfigError(
                f"salesforce setting {key} must list 15- or 18-character record ids "
                f"(e.g. 005xx000001Sv6A); got {text!r}"
            )
        ids.append(text)
    return tuple(ids)


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise ConfigError(f"salesforce setting {key} must be true or false; got {value!r}")


def _number(key: str, value: Any, kind: type, low: float, high: float | None = None) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"salesforce setting {key} must be a number; got {value!r}") from None
    if number < low or (high is not None and number > high):
        span = f"between {low} and {high}" if high is not None else f">= {low}"
        raise ConfigError(f"salesforce setting {key} must be {span}; got {value!r}")
    return number


@attrs.frozen
class SalesforceSettings:
    username: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    security_token: str | None = attrs.field(default=None, repr=False)
    instance_url: str | None = None
    session_id: str | None = attrs.field(default=None, repr=False)
    consumer_key: str | None = None
    private_key_file: str | None = None
    sandbox: bool = False
    domain: str | None = None
    api_version: str = "59.0"
    max_share_per_run: float = 0.25
    max_share_total: float = 0.80
    max_requests: int | None = None
    bulk_threshold: int = 2000
    bulk_batch_size: int = 10_000
    timeout_seconds: float = 60.0
    max_retries: int = 4
    max_backoff_seconds: float = 30.0
    max_retry_after_seconds: float = 900.0
    lookback_seconds: float = 300.0
    page_size: int = 2000
    bulk_poll_seconds: float = 2.0
    bulk_poll_max_seconds: float = 30.0
    bulk_max_wait_seconds: float = 3600.0
    tags_field: str | None = "Mutuality_Tags__c"
    meeting_outcome_field: str | None = "Mutuality_Meeting_Outcome__c"
    booking_user_ids: tuple[str, ...] = ()

    @property
    def retry_policy(self) -> RetryPolicy:
        """The shared retry policy with these settings; backoff 1 s, 2 s, 4 s, ..."""
        return RetryPolicy.from_settings(self, base_seconds=BACKOFF_BASE_SECONDS)

    @property
    def booking_users(self) -> frozenset[str]:
        """The booking users' ids in their 15-character form (case-sensitive, as SOQL returns)."""
        return frozenset(i[:15] for i in self.booking_user_ids)

    @property
    def auth_mode(self) -> str:
        """``session``, ``password`` or ``jwt``; ConfigError when none is complete."""
        if self.session_id and self.instance_url:
            return "session"
        if self.username and self.password is not None and self.security_token is not None:
            return "password"
        if self.username and self.consumer_key and self.private_key_file:
            return "jwt"
        raise ConfigError(
            "Salesforce credentials are incomplete: set SALESFORCE_USERNAME + "
            "SALESFORCE_PASSWORD + SALESFORCE_SECURITY_TOKEN, or SALESFORCE_INSTANCE_URL + "
            "SALESFORCE_SESSION_ID, or SALESFORCE_USERNAME + SALESFORCE_CONSUMER_KEY + "
            "SALESFORCE_PRIVATE_KEY_FILE (JWT flow); the same keys work in "
            "[adapters.salesforce] of mutuality.toml"
        )

    @property
    def login_domain(self) -> str:
        if self.domain:
            return self.domain
        return "test" if self.sandbox else "login"

    @classmethod
    def from_mapping(
        cls, settings: Mapping[str, Any], environ: Mapping[str, str]
    ) -> SalesforceSettings:
        fields = set(attrs.fields_dict(cls))
        # the [adapters.salesforce.jwt] table, and the retry settings' old names
        unknown = sorted(set(settings) - fields - {"jwt", *RENAMED_SETTINGS})
        if unknown:
            raise ConfigError(
                f"unknown salesforce setting(s): {', '.join(unknown)}; known: "
                + ", ".join(sorted(fields))
            )
        merged: dict[str, Any] = {}
        for key, env in ENVIRONMENT.items():
            if env in environ and environ[env] != "":
                merged[key] = environ[env]
            elif key == "security_token" and env in environ:
                merged[key] = ""
        jwt = settings.get("jwt")
        if isinstance(jwt, Mapping):
            merged.update(
                {k: v for k, v in jwt.items() if k in ("consumer_key", "private_key_file")}
            )
        merged.update({k: v for k, v in settings.items() if v is not None and k != "jwt"})
        kwargs: dict[str, Any] = {}
        for key in (
            "username",
            "password",
            "security_token",
            "instance_url",
            "session_id",
            "consumer_key",
            "private_key_file",
            "domain",
            "api_version",
        ):
            if key in merged:
                kwargs[key] = str(merged[key])
        if "sandbox" in merged:
            kwargs["sandbox"] = _bool("sandbox", merged["sandbox"])
        numbers = {
            "max_share_per_run": (float, 0.0, 1.0),
            "max_share_total": (float, 0.0, 1.0),
            "max_requests": (int, 1, None),
            "bulk_threshold": (int, 0, None),
            "bulk_batch_size": (int, 200, 150_000),
            "lookback_seconds": (float, 0.0, 86_400.0),
            "page_size": (int, 200, 2000),
            "bulk_poll_seconds": (float, 0.0, 600.0),
            "bulk_poll_max_seconds": (float, 0.0, 600.0),
            "bulk_max_wait_seconds": (float, 1.0, 86_400.0),
        }
        for key, (kind, low, high) in numbers.items():
            if key in merged:
                kwargs[key] = _number(key, merged[key], kind, low, high)
        kwargs.update(parse_retry_settings(merged, adapter="salesforce"))
        for key in ("tags_field", "meeting_outcome_field"):
            if key in merged:
                kwargs[key] = _field_name(key, merged[key])
        if "booking_user_ids" in merged:
            kwargs["booking_user_ids"] = _record_ids("booking_user_ids", merged["booking_user_ids"])
        instance = kwargs.get("instance_url")
        if instance and not instance.startswith(("https://", "http://")):
            raise ConfigError(
                f"SALESFORCE_INSTANCE_URL must start with https:// (got {instance!r}), "
                "e.g. https://yourorg.my.salesforce.com"
            )
        result = cls(**kwargs)
        result.auth_mode  # noqa: B018 - fail early with the list of accepted credential sets
        return result

    def redacted(self) -> dict[str, Any]:
        """The settings for logs and run reports: secrets never leave this object."""
        out = attrs.asdict(self)
        for key in _SECRET_KEYS:
            if out.get(key):
                out[key] = "***"
        return out
