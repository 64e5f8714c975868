"""Admin commands that work on Postgres directly: migrate and api-key."""

from __future__ import annotations

import uuid

import click

from offload_shared import apikeys, migrate
from offload_shared.cli.exits import CliFailure
from offload_shared.cli.output import emit_json, emit_lines, json_option, table, when
from offload_shared.cli.postgres import NEEDS_POSTGRES, database, database_url

__all__ = ["api_key", "migrate_command"]


@click.command(
    "migrate", short_help="apply (or roll back) schema migrations (needs Postgres)",
    help=f"Apply every pending schema migration, or roll back to --to. {NEEDS_POSTGRES}",
)  # fmt: skip
@click.option(
    "--to", "target", type=int, default=None, metavar="VERSION",
    help="target version; lower than the current one rolls back (0 removes everything)",
)  # fmt: skip
@click.option(
    "--check", is_flag=True,
    help="change nothing; exit 1 unless the schema is at least this release's version "
    "(an init container runs it, so services wait for the migration job)",
)  # fmt: skip
@json_option
def migrate_command(target: int | None, check: bool, as_json: bool) -> None:
    url = database_url()
    if check:
        current = migrate.current_version(url)
        needed = migrate.available()[-1].version
        if as_json:
            emit_json({"version": current, "needed": needed, "current": current >= needed})
        else:
            click.echo(f"schema at version {current}; this release needs {needed}")
        if current < needed:
            raise click.exceptions.Exit(1)
        return
    done = migrate.migrate(url, target)
    version = migrate.current_version(url)
    if as_json:
        emit_json({"done": done, "version": version})
        return
    for line in done:
        click.echo(line)
    click.echo(f"schema at version {version}")


@click.group("api-key", short_help="manage API keys (needs Postgres)",
             help=f"Create, list, revoke and rotate API keys. {NEEDS_POSTGRES}")  # fmt: skip
def api_key() -> None:
    pass


@api_key.command("create", help="Create a key; it is printed alone on the last line.")
@click.option("--tenant", required=True)
@click.option(
    "--scope", "scopes", multiple=True, metavar="SCOPE",
    help="read, enqueue or admin; repeat it or give a comma list (default: read,enqueue)",
)  # fmt: skip
@click.option("--name", default="", help="what the key is for (shown by list)")
@click.option("--expires-in", metavar="DURATION", help="e.g. 90d, 12h (default: never expires)")
@json_option
def create(
    tenant: str, scopes: tuple[str, ...], name: str, expires_in: str | None, as_json: bool
) -> None:
    expires = apikeys.parse_duration(expires_in) if expires_in else None
    with database() as db:
        created = apikeys.create(
            db, tenant, scopes=list(scopes) or apikeys.DEFAULT_SCOPES, name=name,
            expires_in=expires,
        )  # fmt: skip
    if as_json:
        emit_json({"id": created.id, "tenant": tenant, "name": name, "key": created.key,
                   "created_at": created.created_at, "expires_at": created.expires_at})  # fmt: skip
        return
    until = f", expires {when(created.expires_at)} UTC" if created.expires_at else ""
    click.echo(f"created API key {created.id} for tenant {tenant!r}{until}.")
    click.echo("The key is shown only once:")
    click.echo(created.key)


@api_key.command("list", help="List keys (never their secrets).")
@click.option("--tenant", help="only this tenant's keys")
@json_option
def list_keys(tenant: str | None, as_json: bool) -> None:
    with database() as db:
        keys = apikeys.list_keys(db, tenant)
    if as_json:
        emit_lines({**k.__dict__, "scopes": list(k.scopes)} for k in keys)
        return
    rows = [("ID", "TENANT", "NAME", "PREFIX", "SCOPES", "CREATED", "EXPIRES", "LAST USED",
             "STATE")]  # fmt: skip
    for k in keys:
        rows.append((
            str(k.id), k.tenant, k.name or "-", k.prefix, ",".join(k.scopes),
            when(k.created_at), when(k.expires_at), when(k.last_used_at), k.state,
        ))  # fmt: skip
    table(rows)


@api_key.command("revoke", help="Revoke a key (both secrets, if rotating).")
@click.argument("key_id", metavar="ID", type=click.UUID)
@json_option
def revoke(key_id: uuid.UUID, as_json: bool) -> None:
    with database() as db:
        tenant = apikeys.revoke_key(db, key_id)
    if as_json:
        emit_json({"id": key_id, "tenant": tenant, "state": "revoked"})
        return
    click.echo(f"revoked API key {key_id} of tenant {tenant!r}")


@api_key.command("rotate", help="Give a key a new secret (printed once); the old one works "
                 "for --grace.")  # fmt: skip
@click.argument("key_id", metavar="ID", type=click.UUID)
@click.option("--grace", default="24h", metavar="DURATION", help="default: 24h")
@json_option
def rotate(key_id: uuid.UUID, grace: str, as_json: bool) -> None:
    period = apikeys.parse_duration(grace)
    with database() as db:
        key, old_until = apikeys.rotate_key(db, key_id, period)
    if as_json:
        emit_json({"id": key_id, "key": key, "old_secret_until": old_until})
        return
    click.echo(f"rotated API key {key_id}; the old secret works until {when(old_until)} UTC.")
    click.echo("The new key is shown only once:")
    click.echo(key)


def tenant_name(tenant: str) -> str:
    if not apikeys.TENANT_PATTERN.match(tenant):
        raise CliFailure("tenant must be 1-63 letters, digits, '.', '_' or '-'")
    return tenant
