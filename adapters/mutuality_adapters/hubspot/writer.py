"""The HubSpot :class:`~mutuality_core.ports.ScoreWriter`: batch update, never create.

One ``POST /crm/v3/objects/contacts/batch/update`` per 100 contacts. A 207 names
the failed ids in ``errors[].context.ids``; those records (and any id HubSpot
neither updated nor named) are retried once, on their own, unless their category
says the same write would fail again (:data:`PERMANENT`); whatever still fails is
reported per record: never lost, never silently dropped. Batch update cannot
create records, so an unknown or deleted contact is a per-record failure, reported
as not retryable (``gone``) and not retried in this run. Like every failure, the
engine writes it again on the next run, until a full read shows the contact gone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from mutuality_core.errors import MutualityError
from mutuality_core.ports import ScoreUpdate, StoredScore, WriteResult

from .api import REQUEST_ERROR_HINT, HubSpotApi, HubSpotApiError, HubSpotRequestError
from .clock import NowMs, wall_ms, wall_time
from .mapping import score_properties, stored_score
from .settings import HubSpotSettings

log = logging.getLogger(__name__)

#: Categories a later run cannot fix by writing again.
PERMANENT = frozenset({"OBJECT_NOT_FOUND", "VALIDATION_ERROR", "INVALID_EMAIL", "CONFLICT"})


class HubSpotScoreWriter:
    def __init__(
        self, api: HubSpotApi, settings: HubSpotSettings, *, now_ms: NowMs = wall_ms
    ) -> None:
        self.api = api
        self.now_ms = now_ms
        self.settings = settings
        self.batch_size = settings.batch_size
        self.retried = 0
        self._stop: MutualityError | None = None

    def write(self, updates: Sequence[ScoreUpdate]) -> Sequence[WriteResult]:
        """Write one batch; raise a stop that ended an earlier batch's retry before sending.

        A retry refused by a limit or an outage (daily 429, ``--max-requests``, 5xx) must
        not hide the successes of the batch it retried: those are returned (the engine
        records them), the retried records come back as retryable failures, and the error
        is raised by the next ``write`` instead, so the run still stops there.
        """
        if self._stop is not None:
            raise self._stop
        if len(updates) > self.batch_size:
            raise ValueError(f"at most {self.batch_size} updates per write; got {len(updates)}")
        # ``written_at`` is the write time, not the run's as_of (``scored_at``): the reader
        # tells our own writes from real edits by comparing it with lastmodifieddate, which
        # our write moves to (about) now, whatever as_of a backdated or hour-long run has.
        written_at = wall_time(self.now_ms)
        names = self.settings.properties
        payload = {
            u.contact.id: score_properties(u.score, u.scored_at, names, written_at) for u in updates
        }
        results: dict[str, WriteResult] = {}
        failed = self._send(payload, results)
        # A deleted contact (OBJECT_NOT_FOUND) or a refused value fails the same way again:
        # retrying it would only spend a request.
        retry = [cid for cid, result in failed.items() if result.retryable]
        if retry:
            self.retried += len(retry)
            log.info("retrying %d contact update(s) HubSpot refused", len(retry))
            try:
                again = self._send({cid: payload[cid] for cid in retry}, results)
                failed = {cid: r for cid, r in failed.items() if cid not in results}
                failed.update(again)
            except MutualityError as exc:
                self._stop = exc
                log.warning("the retry of %d contact update(s) stopped: %s", len(retry), exc)
                for cid in retry:
                    failed[cid] = WriteResult(
                        contact_id=cid,
                        ok=False,
                        error=f"not retried ({exc}); the next run writes it"[:500],
                        retryable=True,
                    )
        for cid, result in failed.items():
            results[cid] = result
            log.warning("HubSpot refused the score of contact %s: %s", cid, result.error)
        return [results[u.contact.id] for u in updates]

    def _send(
        self, payload: Mapping[str, Mapping[str, str]], results: dict[str, WriteResult]
    ) -> dict[str, WriteResult]:
        """Write ``payload``; record successes in ``results``; return the failures by id."""
        try:
            body = self.api.update_contacts(list(payload.items()))
        except HubSpotApiError as exc:
            # A 400 for the whole batch: per-record if HubSpot names the ids, else it is ours
            # (e.g. a missing property: run ``mutuality setup hubspot``) and must stop the run.
            named = _ids_in(exc.body)
            if exc.status == 400 and named and set(named) <= set(payload):
                refused = {cid: _failure(cid, exc.category, str(exc)) for cid in named}
                rest = {cid: p for cid, p in payload.items() if cid not in refused}
                if rest:
                    refused.update(self._send(rest, results))
                return refused
            if "PROPERTY_DOESNT_EXIST" in str(exc):
                raise HubSpotRequestError(
                    exc.status,
                    f"{_first_clause(str(exc))}; "
                    "create the score properties with: mutuality setup hubspot",
                    exc.body,
                ) from None
            raise
        for record in body.get("results") or []:
            cid = str(record.get("id"))
            if cid in payload:
                results[cid] = WriteResult(contact_id=cid, ok=True)
        failures: dict[str, WriteResult] = {}
        for error in body.get("errors") or []:
            category = str(error.get("category") or "")
            message = str(error.get("message") or category or "failed")
            for cid in _ids_in(error):
                if cid in payload and cid not in results:
                    failures[cid] = _failure(cid, category, message)
        for cid in payload:
            if cid not in results and cid not in failures:
                failures[cid] = WriteResult(
                    contact_id=cid,
                    ok=False,
                    error="HubSpot returned no result for this contact",
                    retryable=True,
                )
        return failures

    def stored_scores(self) -> Iterator[StoredScore]:
        """Every contact's score properties now: one list request per 100 contacts.

        For ``mutuality verify``; a sync gets the same values with its contact reads.
        """
        names = self.settings.properties
        properties = list(names.as_dict().values())
        after: str | None = None
        while True:
            body = self.api.list_page(
                "contacts", properties=properties, after=after, limit=self.settings.list_page_size
            )
            for record in body.get("results") or []:
                yield stored_score(str(record["id"]), record.get("properties") or {}, names)
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return

    def finish(self) -> None:
        """Raise a stop that ended the last batch's retry, so the run records it.

        The engine calls this after the last batch: without it a daily-limit stop
        during the final retry would end the run as merely "partial".
        """
        if self._stop is not None:
            stop, self._stop = self._stop, None
            raise stop

    def close(self) -> None:
        """Nothing to release: the API object's pools close with the process."""


def _first_clause(message: str) -> str:
    """The message without the generic hint, when a more precise one replaces it."""
    return message.removesuffix(f"; {REQUEST_ERROR_HINT}")


def _ids_in(error: Mapping[str, Any]) -> list[str]:
    context = error.get("context") or {}
    ids = context.get("ids") or context.get("id") or []
    if isinstance(ids, str):
        ids = [ids]
    return [str(i) for i in ids]


def _failure(contact_id: str, category: str, message: str) -> WriteResult:
    text = f"{category}: {message}" if category else message
    return WriteResult(
        contact_id=contact_id,
        ok=False,
        error=text[:500],
        retryable=category not in PERMANENT,
        # deleted or merged, or missing for a moment: retried next run until a full read says
        gone=category == "OBJECT_NOT_FOUND",
    )
