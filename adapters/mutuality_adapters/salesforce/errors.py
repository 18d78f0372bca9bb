"""What Salesforce's refusals mean, in words that say what to do next.

Shared by :mod:`.transport` (which sees the raw HTTP answer) and :mod:`.client`
(which sees simple-salesforce's exceptions); neither imports the other for them.
No third-party import: this module loads without the ``salesforce`` extra.
"""

from __future__ import annotations

from typing import Any

__all__ = ["error_codes", "error_messages", "limit_exceeded_message", "next_step"]


def limit_exceeded_message(content: Any) -> str:
    """REQUEST_LIMIT_EXCEEDED is two different limits; say which one was hit.

    ``TotalRequests Limit exceeded`` is the rolling 24-hour allowance; other
    messages (``ConcurrentPerOrgLongTxn Limit exceeded``) mean too many requests of
    20 s or more are running at once in the org, which clears within minutes.
    """
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
    if "TotalRequests" in text:
        return (
            "Salesforce refused the request: the org's daily API allowance is exhausted "
            "(REQUEST_LIMIT_EXCEEDED: TotalRequests). State is saved; rerun when the rolling "
            "24-hour usage has dropped (Setup > Company Information shows it)"
        )
    return (
        "Salesforce refused the request: too many concurrent long-running requests in the "
        f"org (REQUEST_LIMIT_EXCEEDED: {text[:200]}). State is saved; rerun in a few "
        "minutes, or at a time when other integrations are quieter"
    )


def next_step(codes: list[str]) -> str:
    """What to do about a 400 answer, by its error code."""
    if "QUERY_TIMEOUT" in codes:
        return (
            "The query ran too long on Salesforce's side; state is saved, so rerun "
            "(ideally off-peak). If it recurs, lower page_size (e.g. 500) so each request "
            "does less work"
        )
    if "INVALID_FIELD" in codes:
        return (
            "The integration user cannot see a field mutuality reads (field-level "
            "security): grant it Read on that field (Setup > Permission Sets > Object "
            "Settings), then rerun; state is saved"
        )
    return "State is saved; if a rerun fails the same way, report it with this message"


def error_codes(content: Any) -> list[str]:
    """The ``errorCode`` of each error in a REST error body (a JSON list)."""
    if isinstance(content, list):
        return [str(item.get("errorCode")) for item in content if isinstance(item, dict)]
    return []


def error_messages(content: Any) -> str:
    """A REST error body as one line: ``CODE: message; CODE: message``."""
    if isinstance(content, list):
        return "; ".join(
            f"{item.get('errorCode')}: {item.get('message')}"
            for item in content
            if isinstance(item, dict)
        )
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
    return text[:300]
