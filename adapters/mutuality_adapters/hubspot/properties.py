"""``mutuality setup hubspot``: the property group and the contact properties scores go to.

Idempotent: existing matching properties are left alone, a missing band option
is added, and a property that exists with another type is an error naming it
(never overwritten: it may hold someone else's data). Everything is checked
before anything is created, so a conflict leaves the portal untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from mutuality_core.errors import ConfigError
from mutuality_core.model import Band

from .api import HubSpotApi
from .settings import SCORE_FIELDS, HubSpotSettings

#: field -> (type, fieldType, label, description)
SPECS: Mapping[str, tuple[str, str, str, str]] = {
    "score": ("number", "number", "Mutuality score",
              "How mutual the relationship is, 0-100 (written by mutuality)."),
    "band": ("enumeration", "select", "Mutuality band",
             "The one-word verdict: mutual, you invest more, they invest more, dormant."),
    "lean": ("number", "number", "Mutuality lean",
             "-1 = only you invest, +1 = only they invest."),
    "strength": ("number", "number", "Mutuality strength",
                 "How active the relationship is, 0-100, apart from balance."),
    "confidence": ("number", "number", "Mutuality confidence",
                   "0-1: how much evidence the score rests on."),
    "reasons": ("string", "textarea", "Mutuality reasons", "Why the score is what it is."),
    "scored_at": ("datetime", "date", "Mutuality scored at",
                  "The moment the score describes (the run's --as-of)."),
    "written_at": ("datetime", "date", "Mutuality written at",
                   "When mutuality last wrote these properties."),
}  # fmt: skip

BAND_LABELS = {
    Band.MUTUAL: "Mutual",
    Band.YOU_INVEST_MORE: "You invest more",
    Band.THEY_INVEST_MORE: "They invest more",
    Band.DORMANT: "Dormant",
    Band.INSUFFICIENT_DATA: "Insufficient data",
}


def band_options() -> list[dict[str, Any]]:
    return [
        {"label": BAND_LABELS[band], "value": band.value, "displayOrder": i, "hidden": False}
        for i, band in enumerate(Band)
    ]


@attrs.frozen
class SetupAction:
    kind: str  # "create-group", "create-property", "add-options", "ok"
    name: str
    detail: str = ""

    def describe(self) -> str:
        verbs = {
            "create-group": "create property group",
            "create-property": "create contact property",
            "add-options": "add options to",
            "ok": "already in place:",
        }
        return f"{verbs[self.kind]} {self.name}" + (f" ({self.detail})" if self.detail else "")


def plan_setup(api: HubSpotApi, settings: HubSpotSettings) -> list[SetupAction]:
    """What setup would do; raises ConfigError listing every conflicting property."""
    actions: list[SetupAction] = []
    if api.get_group("contacts", settings.group_name) is None:
        actions.append(SetupAction("create-group", settings.group_name, settings.group_label))
    conflicts: list[str] = []
    names = settings.properties.as_dict()
    for field in SCORE_FIELDS:
        name = names[field]
        type_, field_type, _, _ = SPECS[field]
        existing = api.get_property("contacts", name)
        if existing is None:
            actions.append(SetupAction("create-property", name, f"{type_}/{field_type}"))
            continue
        if existing.get("type") != type_:
            conflicts.append(f"{name} exists as type {existing.get('type')!r}, expected {type_!r}")
            continue
        if field == "band":
            have = {o.get("value") for o in existing.get("options") or []}
            missing = [o["value"] for o in band_options() if o["value"] not in have]
            if missing:
                actions.append(SetupAction("add-options", name, ", ".join(missing)))
                continue
        actions.append(SetupAction("ok", name, f"{type_}/{existing.get('fieldType')}"))
    if conflicts:
        raise ConfigError(
            "HubSpot contact properties with the wrong type (left untouched): "
            + "; ".join(conflicts)
            + ". Choose other names (setup --prefix, or [adapters.hubspot.properties]) "
            "or fix them in HubSpot."
        )
    return actions


def apply_setup(
    api: HubSpotApi, settings: HubSpotSettings, actions: list[SetupAction]
) -> list[SetupAction]:
    fields_by_name = {v: k for k, v in settings.properties.as_dict().items()}
    for action in actions:
        if action.kind == "create-group":
            api.create_group("contacts", settings.group_name, settings.group_label)
        elif action.kind == "create-property":
            field = fields_by_name[action.name]
            type_, field_type, label, description = SPECS[field]
            spec: dict[str, Any] = {
                "name": action.name,
                "label": label,
                "type": type_,
                "fieldType": field_type,
                "groupName": settings.group_name,
                "description": description,
            }
            if field == "band":
                spec["options"] = band_options()
            api.create_property("contacts", spec)
        elif action.kind == "add-options":
            existing = api.get_property("contacts", action.name) or {}
            have = list(existing.get("options") or [])
            values = {o.get("value") for o in have}
            merged = [
                {k: o[k] for k in ("label", "value", "displayOrder", "hidden") if k in o}
                for o in have
            ] + [o for o in band_options() if o["value"] not in values]
            api.update_property_options("contacts", action.name, merged)
    return actions


def setup_properties(
    api: HubSpotApi, settings: HubSpotSettings, *, dry_run: bool = False
) -> list[SetupAction]:
    actions = plan_setup(api, settings)
    if not dry_run:
        apply_setup(api, settings, actions)
    return actions
