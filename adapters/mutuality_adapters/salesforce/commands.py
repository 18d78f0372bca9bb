"""The click commands the CLI mounts as ``mutuality setup/fake salesforce``."""

from __future__ import annotations

import os
import sys

import click

from mutuality_adapters.command_settings import adapter_settings, option_flag

#: Not the HubSpot fake's 8765, so the two demos run side by side.
FAKE_SALESFORCE_PORT = 8766

__all__ = ["fake_command", "setup_command"]


@click.command("salesforce")
@click.option("--dry-run", is_flag=True, help="Show what would be created; change nothing.")
@click.option(
    "--grant-permission-set",
    metavar="NAME",
    help="Create/reuse permission set NAME granting Read+Edit on the fields, assigned to you.",
)
@click.option("--sandbox", is_flag=True, default=None, help="Log in at test.salesforce.com.")
@click.option("--config", type=click.Path(dir_okay=False), help="mutuality.toml to read.")
@option_flag()
def setup_command(
    dry_run: bool,
    grant_permission_set: str | None,
    sandbox: bool | None,
    config: str | None,
    options: tuple[str, ...],
) -> None:
    """Create the Mutuality fields on Contact (Tooling API) and check field-level security.

    Credentials come from SALESFORCE_* variables or [adapters.salesforce] in
    mutuality.toml, as for `mutuality sync --adapter salesforce`.
    """
    from mutuality_adapters.salesforce.client import open_client
    from mutuality_adapters.salesforce.settings import SalesforceSettings
    from mutuality_adapters.salesforce.setup import run_setup

    settings = adapter_settings("salesforce", config, options)
    if sandbox:
        settings["sandbox"] = True
    client = open_client(SalesforceSettings.from_mapping(settings, os.environ))
    try:
        report = run_setup(client, dry_run=dry_run, grant_permission_set=grant_permission_set)
    finally:
        client.session.close()
    for line in report.lines:
        click.echo(line)
    if not dry_run and not report.ready:
        sys.exit(1)


@click.command("salesforce")
@click.option(
    "--port",
    type=int,
    default=FAKE_SALESFORCE_PORT,
    show_default=True,
    help="Port on 127.0.0.1 (the HubSpot fake defaults to 8765).",
)
@click.option(
    "--data",
    type=click.Path(exists=True, file_okay=False),
    help="A files-adapter folder (contacts.csv, activities.csv) to seed the org with.",
)
@click.option("--daily-limit", type=int, default=100_000, show_default=True)
@click.option(
    "--with-fields/--without-fields",
    default=True,
    show_default=True,
    help="Create the Mutuality fields (visible) so sync works without setup.",
)
def fake_command(port: int, data: str | None, daily_limit: int, with_fields: bool) -> None:
    """Run a fake Salesforce org on 127.0.0.1 until Ctrl-C (for demos and your own tests)."""
    from mutuality_adapters.salesforce.fake import FakeSalesforce, seed_folder
    from mutuality_adapters.salesforce.fake.seed import BOOKING_USER_ID
    from mutuality_adapters.salesforce.fields import FIELDS

    try:
        fake = FakeSalesforce(port=port, daily_limit=daily_limit)
    except OSError as error:
        raise click.ClickException(
            f"cannot listen on 127.0.0.1:{port} ({error.strerror}); pick another --port"
        ) from None
    if data:
        ids = seed_folder(fake.org, data)
        click.echo(f"seeded {len(ids)} contacts from {data}", err=True)
    if with_fields:
        for spec in FIELDS:
            fake.org.add_custom_field(f"Contact.{spec.name}", spec.metadata, visible=True)
    click.echo(f"fake Salesforce on {fake.url} (Ctrl-C stops it). In another shell:", err=True)
    click.echo(f"export SALESFORCE_INSTANCE_URL={fake.url}")
    click.echo(f"export SALESFORCE_SESSION_ID={fake.session_id}")
    # the fake's scheduling-tool user: meetings it created were booked by the contact
    click.echo(f"export MUTUALITY_SALESFORCE_BOOKING_USER_IDS={BOOKING_USER_ID}")
    try:
        fake.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        fake.close()
