"""One Bulk API 2.0 update job, driven step by step.

simple-salesforce's ``bulk2.<Object>.update`` runs the whole job (create, upload,
close, poll every ``max(wait, 2)`` s for up to a day) as one call: a session that
expires while it polls makes a re-login run the *whole job* again, and a slow job
spends an API call every 2 s. Here every step is its own client call, so a re-login
repeats only the request that failed, and the status poll backs off from
``bulk_poll_seconds`` to ``bulk_poll_max_seconds`` and gives up after
``bulk_max_wait_seconds`` (the job keeps running in Salesforce; its outcome is then
unknown and the engine writes those contacts again next run, with the same values).

Creating the job is a POST, which the transport never repeats by itself: a retried
create could leave an orphan job. Closing it is checked against the job's state
when the request fails, for the same reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from mutuality_adapters.retry import capped_exponential
from mutuality_adapters.salesforce.client import SalesforceClient, import_simple_salesforce
from mutuality_core.errors import ConfigError, CrmUnavailableError, MutualityError

__all__ = ["run_update_job"]

logger = logging.getLogger(__name__)

_DONE = frozenset({"JobComplete", "Failed", "Aborted"})
_ACCEPTED = frozenset({"UploadComplete", "InProgress", *_DONE})
#: A safety net for a zero poll interval (tests, benchmarks against the fake).
MAX_POLLS = 10_000


def run_update_job(
    client: SalesforceClient,
    obj: str,
    csv_data: bytes,
    *,
    sleep: Callable[[float], None],
) -> Mapping[str, Any]:
    """Create, upload, close and wait for an update job; return its final job info.

    Raises :class:`ConfigError` when the job failed because a column names no field
    the integration user can see (the fields are missing: run setup), and
    :class:`CrmUnavailableError` for any other failed, aborted or unfinished job.
    """
    settings = client.settings
    spec = {
        "object": obj,
        "operation": "update",
        "contentType": "CSV",
        "columnDelimiter": "COMMA",
        "lineEnding": "LF",
    }
    job = client.call(
        lambda sf: sf.restful("jobs/ingest", method="POST", json=spec),
        what="creating a Bulk API 2.0 update job",
    )
    job_id = str(job["id"])
    try:
        client.call(
            lambda sf: _put_csv(sf, f"jobs/ingest/{job_id}/batches", csv_data),
            what=f"uploading the scores to Bulk API 2.0 job {job_id}",
        )
        _close(client, job_id)
    except MutualityError:
        _abort(client, job_id)
        raise
    waited = 0.0
    polls = 0
    while True:
        if waited >= settings.bulk_max_wait_seconds or polls >= MAX_POLLS:
            raise CrmUnavailableError(
                f"Bulk API 2.0 job {job_id} was still running after {waited:.0f} s "
                f"({polls} status checks; bulk_max_wait_seconds="
                f"{settings.bulk_max_wait_seconds:.0f}). Its outcome is unknown, so these "
                "contacts are written again on the next run (same values). See the job in "
                "Setup > Bulk Data Load Jobs; raise bulk_max_wait_seconds if the org is "
                "often this slow"
            )
        # no jitter: a poll competes with no other client, and a slow job should not
        # wait longer than bulk_poll_max_seconds past its end
        delay = capped_exponential(
            settings.bulk_poll_seconds, polls, settings.bulk_poll_max_seconds
        )
        step = min(delay, settings.bulk_max_wait_seconds - waited)
        sleep(step)
        waited += step
        polls += 1
        info = _job_info(client, job_id)
        state = info.get("state")
        if state in _DONE:
            break
    logger.info("Bulk API 2.0 job %s: %s after %d status checks", job_id, state, polls)
    if state == "JobComplete":
        return info
    message = str(info.get("errorMessage") or "no error message")
    if "Field name not found" in message:
        raise ConfigError(
            f"Salesforce failed Bulk API 2.0 job {job_id}: {message}. The Mutuality fields "
            "are missing on Contact or the integration user cannot see them; run "
            "`mutuality setup salesforce` (see --grant-permission-set). Nothing was written"
        )
    raise CrmUnavailableError(
        f"Bulk API 2.0 job {job_id} ended {state}: {message}. Nothing is recorded as "
        "written; if it persists, look at the job in Setup > Bulk Data Load Jobs or set "
        "bulk_threshold = 0 to write through sObject Collections"
    )


def _put_csv(sf: Any, path: str, data: bytes) -> None:
    """PUT a CSV (``restful`` would try to parse the empty 201 answer as JSON)."""
    response = sf.session.request(
        "PUT", sf.base_url + path, data=data, headers={**sf.headers, "Content-Type": "text/csv"}
    )
    if response.status_code >= 300:
        import_simple_salesforce().util.exception_handler(response, name=path)


def _set_state(client: SalesforceClient, job_id: str, state: str, *, what: str) -> None:
    client.call(
        lambda sf: sf.restful(f"jobs/ingest/{job_id}", method="PATCH", json={"state": state}),
        what=f"{what} Bulk API 2.0 job {job_id}",
    )


def _job_info(client: SalesforceClient, job_id: str) -> Any:
    return client.call(
        lambda sf: sf.restful(f"jobs/ingest/{job_id}", method="GET"),
        what=f"checking Bulk API 2.0 job {job_id}",
    )


def _close(client: SalesforceClient, job_id: str) -> None:
    """Mark the upload complete; if that request fails, believe the job's own state."""
    try:
        _set_state(client, job_id, "UploadComplete", what="closing")
    except MutualityError:
        info = _job_info(client, job_id)
        if info.get("state") not in _ACCEPTED:
            raise
        logger.info("Bulk API 2.0 job %s was closed after all (%s)", job_id, info["state"])


def _abort(client: SalesforceClient, job_id: str) -> None:
    """Best effort: an open job that is never closed is not run, but shows in Setup."""
    try:
        _set_state(client, job_id, "Aborted", what="aborting")
    except MutualityError as error:
        logger.warning("could not abort Bulk API 2.0 job %s: %s", job_id, error)
