"""The Mutuality custom fields on Contact: names, Tooling metadata, accepted types."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timezone
from typing import Any

import attrs

from mutuality_adapters.salesforce.mapping import parse_sf_datetime
from mutuality_core.model import Band
from mutuality_core.ports import ScoreUpdate, StoredScore

__all__ = ["FIELDS", "FieldSpec", "field_values", "stored_score"]


@attrs.frozen
class FieldSpec:
    name: str  # API name on Contact
    label: str
    metadata: Mapping[str, Any]  # Tooling CustomField Metadata
    accepted_types: frozenset[str]  # describe types an existing field may have
    help: str


def _number(precision: int, scale: int) -> dict[str, Any]:
    return {"type": "Number", "precision": precision, "scale": scale}


_BAND_VALUES = {
    "sorted": False,
    "value": [
        {"fullName": b.value, "label": b.value.replace("_", " "), "default": False} for b in Band
    ],
}

FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(
        "Mutuality_Score__c",
        "Mutuality Score",
        _number(5, 2),
        frozenset({"double"}),
        "0-100: how two-way the relationship is",
    ),
    FieldSpec(
        "Mutuality_Band__c",
        "Mutuality Band",
        {"type": "Picklist", "valueSet": {"restricted": True, "valueSetDefinition": _BAND_VALUES}},
        frozenset({"picklist", "string"}),
        "mutual, you_invest_more, they_invest_more, dormant, insufficient_data",
    ),
    FieldSpec(
        "Mutuality_Lean__c",
        "Mutuality Lean",
        _number(4, 3),
        frozenset({"double"}),
        "-1 (only you invest) to +1 (only they invest)",
    ),
    FieldSpec(
        "Mutuality_Strength__c",
        "Mutuality Strength",
        _number(5, 2),
        frozenset({"double"}),
        "0-100: how active the relationship is",
    ),
    FieldSpec(
        "Mutuality_Confidence__c",
        "Mutuality Confidence",
        _number(3, 2),
        # not Percent: Salesforce shows a percent field's 0.5 as "0.5%"
        frozenset({"double"}),
        "0-1: how much evidence the score rests on",
    ),
    FieldSpec(
        "Mutuality_Reasons__c",
        "Mutuality Reasons",
        {"type": "Text", "length": 255},
        frozenset({"string", "textarea"}),
        "why the score is what it is",
    ),
    FieldSpec(
        "Mutuality_Scored_At__c",
        "Mutuality Scored At",
        {"type": "DateTime"},
        frozenset({"datetime"}),
        "the moment the score describes (the run's --as-of)",
    ),
)

FIELD_NAMES = tuple(f.name for f in FIELDS)


def fls_gaps(described: Mapping[str, Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """(fields the user cannot see, fields it sees but cannot edit), from a Contact describe."""
    hidden = [name for name in FIELD_NAMES if name not in described]
    readonly = [n for n in FIELD_NAMES if n in described and not described[n].get("updateable")]
    return hidden, readonly


def field_values(update: ScoreUpdate) -> dict[str, Any]:
    """The values written for one update, rounded to each field's scale."""
    score = update.score
    return {
        "Mutuality_Score__c": round(score.score, 2),
        "Mutuality_Band__c": score.band.value,
        "Mutuality_Lean__c": round(score.lean, 3),
        "Mutuality_Strength__c": round(score.strength, 2),
        "Mutuality_Confidence__c": round(score.confidence, 2),
        "Mutuality_Reasons__c": score.reasons_text[:255],
        "Mutuality_Scored_At__c": update.scored_at.astimezone(timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%S.000Z"
        ),
    }


def _number_or_none(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def stored_score(record: Mapping[str, Any]) -> StoredScore:
    """The Mutuality fields a Contact row holds now (selected with the contact's own fields)."""
    try:
        scored_at = parse_sf_datetime(record.get("Mutuality_Scored_At__c"))
    except ValueError:
        scored_at = None
    return StoredScore(
        contact_id=str(record["Id"]),
        score=_number_or_none(record.get("Mutuality_Score__c")),
        band=record.get("Mutuality_Band__c") or None,
        lean=_number_or_none(record.get("Mutuality_Lean__c")),
        strength=_number_or_none(record.get("Mutuality_Strength__c")),
        confidence=_number_or_none(record.get("Mutuality_Confidence__c")),
        reasons=record.get("Mutuality_Reasons__c") or None,
        scored_at=scored_at,
    )
