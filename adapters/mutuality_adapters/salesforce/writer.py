"""The ScoreWriter: PATCH only materially changed contacts, never create one.

Small batches go through sObject Collections (200 records a request,
``allOrNone=false``, results in request order). A batch of at least
``bulk_threshold`` updates goes through a Bulk API 2.0 update job built from a CSV
we write ourselves (``Id`` then the fields in a fixed order, ``#N/A`` for a value
to clear), run step by step by :mod:`.bulk`: create, upload, close, then status
polls that back off (see there), plus one request per result file it needs.
Before the first write, one describe checks that the integration user can edit the
fields, so a first sync before setup stops at once with the setup hint. In bulk
mode the writer asks the engine for batches of ``bulk_batch_size`` so large runs
reach the threshold.

Per record: ``UNABLE_TO_LOCK_ROW`` is retried (through Collections, up to
``max_retries`` times, waiting as the shared retry policy says);
if it persists the record is reported ``retryable``, as are rows a bulk job left
unprocessed. Any other error is reported with its code. A failure that leaves the
fate of a batch unknown raises, so the engine does not record it as written. When a batch took
several Collections requests and a later one fails (5xx after retries, the
allowance guard, an expired session), the write returns what the earlier requests
did plus retryable failures for the rest, and the *next* write (or ``close``, when
it was the run's last write) raises the error: contacts already written are
recorded, so none is written twice.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from mutuality_adapters.salesforce.bulk import run_update_job
from mutuality_adapters.salesforce.client import SalesforceClient
from mutuality_adapters.salesforce.fields import (
    FIELD_NAMES,
    field_values,
    fls_gaps,
    stored_score,
)
from mutuality_adapters.salesforce.reader import query_records
from mutuality_core.errors import ConfigError, CrmUnavailableError, MutualityError
from mutuality_core.ports import ScoreUpdate, StoredScore, WriteResult

__all__ = ["SalesforceWriter"]

logger = logging.getLogger(__name__)

COLLECTION_SIZE = 200
LOCK_ERROR = "UNABLE_TO_LOCK_ROW"
#: Errors worth another attempt on a later run.
RETRYABLE = frozenset({LOCK_ERROR, "UNPROCESSED", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG"})


class SalesforceWriter:
    def __init__(
        self, client: SalesforceClient, *, sleep: Callable[[float], None] | None = None
    ) -> None:
        self.client = client
        self.settings = client.settings
        self.sleep = sleep or client.sleep
        self.batch_size = (
            max(self.settings.bulk_batch_size, COLLECTION_SIZE)
            if self.settings.bulk_threshold
            else COLLECTION_SIZE
        )
        self.stats = {"collections_requests": 0, "bulk_jobs": 0, "lock_retries": 0}
        #: An error that cut a write short after some requests had succeeded: that
        #: write returned what it knew, and the next write raises it.
        self._deferred: MutualityError | None = None

        self._fields_checked = False

    def close(self) -> None:
        self.finish()

    def finish(self) -> None:
        """Raise an error kept from the run's last write, so that the run records it."""
        if self._deferred is not None:
            error, self._deferred = self._deferred, None
            logger.warning("the last score write stopped part-way: %s", error)
            raise error

    def stored_scores(self) -> Iterator[StoredScore]:
        """Every contact's Mutuality fields now: one query (``page_size`` rows a request).

        For ``mutuality verify``; a sync gets the same values with its contact reads.
        """
        soql = f"SELECT Id, {', '.join(FIELD_NAMES)} FROM Contact WHERE IsDeleted = false"
        for record in query_records(self.client, soql):
            yield stored_score(record)

    def write(self, updates: Sequence[ScoreUpdate]) -> Sequence[WriteResult]:
        if self._deferred is not None:
            error, self._deferred = self._deferred, None
            raise error
        if not updates:
            return []
        if not self._fields_checked:
            self._check_fields()
            self._fields_checked = True
        rows = {u.contact.id: field_values(u) for u in updates}
        threshold = self.settings.bulk_threshold
        if threshold and len(rows) >= threshold:
            results = self._bulk(rows)
        else:
            results = self._collections(rows)
        return [results[contact_id] for contact_id in rows]

    def _check_fields(self) -> None:
        """One describe before the first write: without the fields every row would fail.

        A Collections update would fail each record with INVALID_FIELD and a Bulk job
        would fail as a whole; neither says to run setup.
        """
        described = self.client.call(
            lambda sf: sf.Contact.describe(), what="checking the Mutuality fields on Contact"
        )
        fields = {f.get("name"): f for f in (described or {}).get("fields", [])}
        hidden, readonly = fls_gaps(fields)
        if hidden or readonly:
            parts = []
            if hidden:
                parts.append(f"missing or invisible: {', '.join(hidden)}")
            if readonly:
                parts.append(f"not editable: {', '.join(readonly)}")
            raise ConfigError(
                "the integration user cannot write the Mutuality fields on Contact ("
                + "; ".join(parts)
                + "); run `mutuality setup salesforce` (with --grant-permission-set NAME to "
                "grant field-level security). Nothing was written"
            )

    # -- sObject Collections

    def _collections(self, rows: Mapping[str, Mapping[str, Any]]) -> dict[str, WriteResult]:
        results: dict[str, WriteResult] = {}
        pending = list(rows)
        attempt = 0
        while pending:
            locked: list[str] = []
            for start in range(0, len(pending), COLLECTION_SIZE):
                chunk = pending[start : start + COLLECTION_SIZE]
                try:
                    answers = self._patch(chunk, rows)
                except MutualityError as error:
                    if not results:
                        raise  # nothing written yet: the whole batch's fate is known
                    # Report what was written; the rest is retried by the next run,
                    # and the error ends this run at the next write.
                    logger.warning("writing scores stopped part-way: %s", error)
                    self._deferred = error
                    for contact_id in rows:
                        if contact_id not in results:
                            results[contact_id] = WriteResult(
                                contact_id, False, error=f"not written: {error}", retryable=True
                            )
                    return results
                for contact_id, (ok, code, message) in answers.items():
                    if ok:
                        results[contact_id] = WriteResult(contact_id, True)
                    elif code == LOCK_ERROR and attempt < self.settings.max_retries:
                        locked.append(contact_id)
                    else:
                        results[contact_id] = _failure(contact_id, code, message)
            if locked:
                attempt += 1
                # the transport's retry policy: writers that collided should not collide again
                delay = self.client.session.backoff(attempt)
                self.stats["lock_retries"] += len(locked)
                logger.info(
                    "%d contacts were locked by other writes; retrying in %.1f s",
                    len(locked),
                    delay,
                )
                self.sleep(delay)
            pending = locked
        return results

    def _patch(
        self, chunk: Sequence[str], rows: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, tuple[bool, str, str]]:
        payload = {
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Contact"}, "id": contact_id, **rows[contact_id]}
                for contact_id in chunk
            ],
        }
        self.stats["collections_requests"] += 1
        answer = self.client.call(
            lambda sf: sf.restful("composite/sobjects", method="PATCH", json=payload),
            what="writing scores (sObject Collections)",
        )
        if not isinstance(answer, list) or len(answer) != len(chunk):
            raise CrmUnavailableError(
                f"Salesforce answered a Collections update of {len(chunk)} contacts with "
                f"{len(answer) if isinstance(answer, list) else 'no'} results; the batch is "
                "written again on the next run"
            )
        out: dict[str, tuple[bool, str, str]] = {}
        for contact_id, item in zip(chunk, answer, strict=True):
            if item.get("success"):
                out[contact_id] = (True, "", "")
            else:
                errors = item.get("errors") or [{}]
                out[contact_id] = (
                    False,
                    str(errors[0].get("statusCode") or "UNKNOWN"),
                    str(errors[0].get("message") or ""),
                )
        return out

    # -- Bulk API 2.0

    def _bulk(self, rows: Mapping[str, Mapping[str, Any]]) -> dict[str, WriteResult]:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["Id", *FIELD_NAMES])
        for contact_id, values in rows.items():
            writer.writerow([contact_id, *(_csv_value(values[f]) for f in FIELD_NAMES)])
        self.stats["bulk_jobs"] += 1
        job = run_update_job(self.client, "Contact", out.getvalue().encode(), sleep=self.sleep)
        job_id = str(job["id"])
        failed: dict[str, tuple[str, str]] = {}
        unprocessed: set[str] = set()
        if int(job.get("numberRecordsFailed") or 0):
            text = self.client.call(
                lambda sf: sf.bulk2.Contact.get_failed_records(job_id),
                what="reading the bulk job's failures",
            )
            for row in csv.DictReader(text.splitlines()):
                code, _, message = (row.get("sf__Error") or "UNKNOWN").partition(":")
                failed[row["Id"]] = (code, message.rstrip(":-"))
        if int(job.get("numberRecordsProcessed") or 0) < len(rows):
            text = self.client.call(
                lambda sf: sf.bulk2.Contact.get_unprocessed_records(job_id),
                what="reading the bulk job's unprocessed rows",
            )
            unprocessed.update(r["Id"] for r in csv.DictReader(text.splitlines()) if r.get("Id"))
        results: dict[str, WriteResult] = {}
        retry = [c for c, (code, _m) in failed.items() if code == LOCK_ERROR]
        for contact_id in rows:
            if contact_id in unprocessed:
                results[contact_id] = _failure(
                    contact_id, "UNPROCESSED", "the bulk job did not process this row"
                )
            elif contact_id in failed:
                results[contact_id] = _failure(contact_id, *failed[contact_id])
            else:
                results[contact_id] = WriteResult(contact_id, True)
        if retry:
            logger.info("%d contacts were locked during the bulk job; retrying them", len(retry))
            self.stats["lock_retries"] += len(retry)
            self.sleep(1.0)
            results.update(self._collections({c: rows[c] for c in retry}))
        return results


def _csv_value(value: Any) -> str:
    """A Bulk API 2.0 cell: an empty cell would leave the field as it was, ``#N/A`` clears it."""
    return "#N/A" if value is None or value == "" else str(value)


def _failure(contact_id: str, code: str, message: str) -> WriteResult:
    return WriteResult(
        contact_id,
        False,
        error=f"{code}: {message}".strip().rstrip(":"),
        retryable=code in RETRYABLE,
        # deleted, merged or purged (our fields hold no lookups, so an unknown
        # cross-reference can only be the contact itself): forgotten once a read shows it
        gone=code in ("ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY"),
    )
