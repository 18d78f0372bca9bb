"""Airflow DAG: an hourly mutuality sync through the Python API (no shell-out).

Drop this file into your DAGs folder on workers that have ``pip install 'mutuality[hubspot]'``.
``max_active_runs=1`` keeps runs from overlapping (mutuality's lock in the state file is the
second guard: a run that finds it held raises LockHeldError and the task is skipped, not
failed). Each run scores as of the end of its data interval, so a backfilled or retried run
gives the same scores as the original would have.

The access token comes from the worker's environment (``HUBSPOT_ACCESS_TOKEN``, e.g. set
from an Airflow connection or a secrets backend); it is never put in the DAG or its logs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow import DAG
from airflow.exceptions import AirflowSkipException
from airflow.operators.python import PythonOperator

ADAPTER = os.environ.get("MUTUALITY_ADAPTER", "hubspot")
STATE_PATH = os.environ.get("MUTUALITY_STATE", "/var/lib/mutuality/state.sqlite")


def sync_relationship_scores(
    adapter: str = ADAPTER,
    settings: Mapping[str, Any] | None = None,
    state_path: str = STATE_PATH,
    data_interval_end: datetime | None = None,
    **_context: Any,
) -> dict[str, Any]:
    """Run one sync; the run report is returned (and so pushed to XCom)."""
    from importlib.metadata import entry_points

    from mutuality_adapters.sqlite_state import SQLiteStateStore

    from mutuality_core.errors import LockHeldError
    from mutuality_core.sync import SyncOptions, run_sync

    (entry_point,) = [ep for ep in entry_points(group="mutuality.adapters") if ep.name == adapter]
    plugin = entry_point.load()
    connection = plugin.connect(dict(settings or {}), environ=os.environ)
    os.makedirs(os.path.dirname(os.path.abspath(state_path)), exist_ok=True)
    state = SQLiteStateStore(state_path)
    try:
        report = run_sync(
            connection,
            state,
            as_of=data_interval_end or datetime.now(timezone.utc),
            now=lambda: datetime.now(timezone.utc),
            options=SyncOptions(),
        )
    except LockHeldError as error:
        raise AirflowSkipException(str(error)) from error
    finally:
        state.close()
        connection.close()
    if report.failed:
        # Failed records are retried by the next run; failing the task makes them visible.
        raise RuntimeError(f"{report.failed} contact(s) failed to update; see the run report")
    return report.to_dict()


with DAG(
    dag_id="mutuality_sync",
    schedule=timedelta(hours=1),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=10)},
    tags=["crm", "mutuality"],
) as dag:
    PythonOperator(
        task_id="sync_relationship_scores",
        python_callable=sync_relationship_scores,
        op_kwargs={"settings": {"max_requests": 50_000}},
        execution_timeout=timedelta(minutes=55),
    )
