"""``mutuality setup hubspot`` and ``mutuality fake hubspot`` (mounted by the CLI)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from mutuality_adapters.command_settings import adapter_settings, option_flag

from .settings import HubSpotSettings

#: The fakes' default ports differ, so the HubSpot and Salesforce demos run side by side.
FAKE_HUBSPOT_PORT = 8765


@click.command("hubspot")
@click.option("--dry-run", is_flag=True, help="Show what would be created; change nothing.")
@click.option("--group", "group_name", help="Property group name (default: mutuality).")
@click.option("--group-label", help="Property group label (default: Mutuality).")
@click.option("--prefix", help="Property name prefix (default: mutuality_).")
@click.option("--base-url", help="API base URL (default: https://api.hubapi.com).")
@click.option("--config", "config_path", help="mutuality.toml to read [adapters.hubspot] from.")
@option_flag()
def setup_command(
    dry_run: bool,
    group_name: str | None,
    group_label: str | None,
    prefix: str | None,
    base_url: str | None,
    config_path: str | None,
    options: tuple[str, ...],
) -> None:
    """Create the Mutuality property group and contact properties in HubSpot (idempotent).

    Needs HUBSPOT_ACCESS_TOKEN with the crm.schemas.contacts.read/write scopes.
    """
    from .api import HubSpotApi
    from .properties import setup_properties

    table = adapter_settings("hubspot", config_path, options)
    for key, value in (
        ("group_name", group_name),
        ("group_label", group_label),
        ("property_prefix", prefix),
        ("base_url", base_url),
    ):
        if value is not None:
            table[key] = value
    settings = HubSpotSettings.from_mapping(table, environ=os.environ)
    api = HubSpotApi(settings)
    actions = setup_properties(api, settings, dry_run=dry_run)
    changes = [a for a in actions if a.kind != "ok"]
    for action in actions:
        prefix_text = "would " if dry_run and action.kind != "ok" else ""
        click.echo(f"{prefix_text}{action.describe()}")
    if dry_run:
        click.echo(f"dry run: {len(changes)} change(s) not made")
    else:
        click.echo(f"done: {len(changes)} change(s) made; {len(actions) - len(changes)} in place")


def _parse_rate(text: str | None) -> tuple[int | None, float]:
    if not text:
        return None, 10.0
    try:
        count, _, window = text.partition("/")
        return int(count), float(window or 10)
    except ValueError:
        raise click.BadParameter(f"expected COUNT/SECONDS such as 100/10; got {text!r}") from None


@click.command("hubspot")
@click.option(
    "--port",
    default=FAKE_HUBSPOT_PORT,
    show_default=True,
    help="Port on 127.0.0.1 (0: any free; the Salesforce fake defaults to another).",
)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, exists=True),
    help="A files-adapter folder (contacts.csv, activities.csv) to seed from.",
)
@click.option(
    "--demo", is_flag=True, help="Seed a small generated portal when --data is not given."
)
@click.option("--rate-limit", help="Requests per window, e.g. 100/10 (HubSpot's burst limit).")
@click.option("--daily-limit", type=int, help="Requests per day before 429 DAILY.")
@click.option("--search-rate", type=int, help="Search requests per second (HubSpot: 5).")
@click.option(
    "--retry-after",
    is_flag=True,
    help="Send a Retry-After header on rate-limit 429s (HubSpot documents none).",
)
@click.option(
    "--day-seconds",
    type=click.FloatRange(min=0.001),
    help="Length of a day for --daily-limit (default: until POST /_fake/new-day).",
)
@click.option("--token", help="Accept only this bearer token (default: any).")
def fake_command(
    port: int,
    data_dir: str | None,
    demo: bool,
    rate_limit: str | None,
    daily_limit: int | None,
    search_rate: int | None,
    retry_after: bool,
    day_seconds: float | None,
    token: str | None,
) -> None:
    """Run a fake HubSpot CRM API in memory on 127.0.0.1 until Ctrl-C."""
    from .fake import FakeHubSpotApp, FakeHubSpotServer, Portal, RateLimits, seed_example
    from .fake.seed import seed_from_files

    per_window, window = _parse_rate(rate_limit)
    portal = Portal()
    if data_dir:
        seed_from_files(portal, Path(data_dir))
    elif demo:
        seed_example(portal)
    limits = RateLimits(
        per_window=per_window,
        window_seconds=window,
        search_per_second=search_rate,
        per_day=daily_limit,
        retry_after=retry_after,
        day_seconds=day_seconds,
    )
    try:
        server = FakeHubSpotServer(FakeHubSpotApp(portal, token=token, limits=limits), port=port)
    except OSError as error:
        raise click.ClickException(
            f"cannot listen on 127.0.0.1:{port} ({error.strerror}); pick another --port "
            "(0: any free port)"
        ) from None
    counts = ", ".join(f"{n} {t}" for t, n in portal.counts().items() if n)
    click.echo(f"fake HubSpot on {server.base_url} ({counts or 'empty'})")
    click.echo(
        f"  export MUTUALITY_HUBSPOT_BASE_URL={server.base_url} "
        f"HUBSPOT_ACCESS_TOKEN={token or 'fake-token'}"
    )
    click.echo(
        "  stats: GET /_fake/stats; faults: POST /_fake/faults; "
        "a new day: POST /_fake/new-day; Ctrl-C to stop"
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
