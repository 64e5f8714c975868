"""`offload` command: database migrations and API keys."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from datetime import UTC, datetime

from offload_shared import apikeys, migrate
from offload_shared.db import Database
from offload_shared.errors import OffloadError
from offload_shared.settings import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="offload", description="Offload administration.")
    sub = parser.add_subparsers(dest="command", required=True)

    mig = sub.add_parser("migrate", help="apply (or roll back) schema migrations")
    mig.add_argument(
        "--to",
        type=int,
        default=None,
        metavar="VERSION",
        help="target version; lower than the current one rolls back (0 removes everything)",
    )
    mig.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 unless the schema is at least this release's version "
        "(an init container runs it, so services wait for the migration job)",
    )

    keys = sub.add_parser("api-key", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="action", required=True)
    create = keys_sub.add_parser("create", help="create a key; prints it alone on the last line")
    create.add_argument("--tenant", required=True)
    create.add_argument(
        "--scope",
        action="append",
        metavar="SCOPE",
        help="read, enqueue or admin; repeat it or give a comma list (default: read,enqueue)",
    )
    create.add_argument("--name", default="", help="what the key is for (shown by list)")
    create.add_argument(
        "--expires-in", metavar="DURATION", help="e.g. 90d, 12h (default: never expires)"
    )
    listing = keys_sub.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--tenant", help="only this tenant's keys")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    revoke = keys_sub.add_parser("revoke", help="revoke a key (both secrets, if rotating)")
    revoke.add_argument("id", type=uuid.UUID)
    rotate = keys_sub.add_parser(
        "rotate", help="give a key a new secret (printed once); the old one works for --grace"
    )
    rotate.add_argument("id", type=uuid.UUID)
    rotate.add_argument("--grace", default="24h", metavar="DURATION", help="default: 24h")
    return parser


def _when(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if at else "-"


def _json(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _api_key(db: Database, args: argparse.Namespace) -> None:
    if args.action == "create":
        expires = apikeys.parse_duration(args.expires_in) if args.expires_in else None
        created = apikeys.create(
            db, args.tenant, scopes=args.scope or apikeys.DEFAULT_SCOPES, name=args.name,
            expires_in=expires,
        )  # fmt: skip
        until = f", expires {_when(created.expires_at)} UTC" if created.expires_at else ""
        print(f"created API key {created.id} for tenant {args.tenant!r}{until}.")
        print("The key is shown only once:")
        print(created.key)
    elif args.action == "list":
        keys = apikeys.list_keys(db, args.tenant)
        if args.json:
            for k in keys:
                print(json.dumps({**k.__dict__, "scopes": list(k.scopes)}, default=_json))
            return
        rows = [("ID", "TENANT", "NAME", "PREFIX", "SCOPES", "CREATED", "EXPIRES", "LAST USED",
                 "STATE")]  # fmt: skip
        for k in keys:
            rows.append((
                str(k.id), k.tenant, k.name or "-", k.prefix, ",".join(k.scopes),
                _when(k.created_at), _when(k.expires_at), _when(k.last_used_at), k.state,
            ))  # fmt: skip
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    elif args.action == "revoke":
        tenant = apikeys.revoke_key(db, args.id)
        print(f"revoked API key {args.id} of tenant {tenant!r}")
    elif args.action == "rotate":
        key, old_until = apikeys.rotate_key(db, args.id, apikeys.parse_duration(args.grace))
        print(f"rotated API key {args.id}; the old secret works until {_when(old_until)} UTC.")
        print("The new key is shown only once:")
        print(key)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.command == "migrate" and args.check:
            current = migrate.current_version(settings.database_url)
            needed = migrate.available()[-1].version
            print(f"schema at version {current}; this release needs {needed}")
            return 0 if current >= needed else 1
        if args.command == "migrate":
            for line in migrate.migrate(settings.database_url, args.to):
                print(line)
            print(f"schema at version {migrate.current_version(settings.database_url)}")
        elif args.command == "api-key":
            db = Database(settings.database_url, max_size=1)
            try:
                _api_key(db, args)
            finally:
                db.close()
    except OffloadError as exc:
        print(f"offload: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
