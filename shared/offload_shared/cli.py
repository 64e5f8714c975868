"""`offload` command: database migrations, API keys and schedules."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from offload_shared import apikeys, migrate
from offload_shared.catalog import get_spec
from offload_shared.db import Database
from offload_shared.errors import ConfigError, OffloadError
from offload_shared.schedules import DEFAULTS, Schedule, ScheduleStore
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

    schedules = sub.add_parser("schedules", help="a tenant's schedules (needs Postgres)")
    schedules_sub = schedules.add_subparsers(dest="action", required=True)
    install = schedules_sub.add_parser(
        "install-defaults",
        help="create the default schedules a tenant lacks (by name): cleanup-old-records "
        "(cleanup.old_records, days_to_keep 90, daily at 02:00 UTC) and update-dashboard "
        "(analytics.update_dashboard every 5 minutes); one it has is left as it is",
    )
    listed = schedules_sub.add_parser("list", help="list a tenant's schedules")
    for command in (install, listed):
        command.add_argument("--tenant", required=True)
        command.add_argument("--json", action="store_true", help="one JSON object per line")
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
        _table(rows)
    elif args.action == "revoke":
        tenant = apikeys.revoke_key(db, args.id)
        print(f"revoked API key {args.id} of tenant {tenant!r}")
    elif args.action == "rotate":
        key, old_until = apikeys.rotate_key(db, args.id, apikeys.parse_duration(args.grace))
        print(f"rotated API key {args.id}; the old secret works until {_when(old_until)} UTC.")
        print("The new key is shown only once:")
        print(key)


def _rule(s: Schedule) -> str:
    return f"cron {s.cron!r} {s.timezone}" if s.cron else f"every {s.every_seconds} s"


def _schedule_json(s: Schedule, **extra: object) -> str:
    fields = ("id", "name", "task_name", "params", "priority", "cron", "every_seconds",
              "timezone", "misfire", "enabled", "next_run_at", "last_run_at",
              "last_task_status")  # fmt: skip
    return json.dumps({**{f: getattr(s, f) for f in fields}, **extra}, default=_json)


def _schedules(db: Database, args: argparse.Namespace) -> None:
    if not apikeys.TENANT_PATTERN.match(args.tenant):
        raise ConfigError("tenant must be 1-63 letters, digits, '.', '_' or '-'")
    store = ScheduleStore(db)
    if args.action == "install-defaults":
        created = 0
        now = datetime.now(UTC)
        for default in DEFAULTS:
            params = get_spec(default.task_name).load_params(default.params)
            schedule = store.create_missing(args.tenant, replace(default, params=params), now)
            created += schedule is not None
            if args.json:
                shown = schedule or _by_name(store, args.tenant, default.name)
                print(_schedule_json(shown, created=schedule is not None))
            elif schedule is not None:
                print(f"created schedule {schedule.name!r} ({schedule.task_name}, "
                      f"{_rule(schedule)}) for tenant {args.tenant!r}, "
                      f"next run {_when(schedule.next_run_at)} UTC")  # fmt: skip
            else:
                print(f"schedule {default.name!r} exists for tenant {args.tenant!r}: left as it is")
        if not args.json:
            print(f"{created} schedule(s) created" if created else "nothing changed")
    elif args.action == "list":
        found = _all(store, args.tenant)
        if args.json:
            for s in found:
                print(_schedule_json(s))
            return
        rows = [("ID", "NAME", "TASK", "RULE", "MISFIRE", "ENABLED", "NEXT RUN", "LAST RUN",
                 "LAST STATUS")]  # fmt: skip
        for s in found:
            rows.append((
                str(s.id), s.name, s.task_name, _rule(s), s.misfire, "yes" if s.enabled else "no",
                _when(s.next_run_at), _when(s.last_run_at), s.last_task_status or "-",
            ))  # fmt: skip
        _table(rows)


def _all(store: ScheduleStore, tenant: str) -> list[Schedule]:
    found: list[Schedule] = []
    while page := store.find(tenant, limit=200, offset=len(found)):
        found += page
    return found


def _by_name(store: ScheduleStore, tenant: str, name: str) -> Schedule:
    return next(s for s in _all(store, tenant) if s.name == name)


def _table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


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
        elif args.command in ("api-key", "schedules"):
            db = Database(settings.database_url, max_size=1)
            try:
                (_api_key if args.command == "api-key" else _schedules)(db, args)
            finally:
                db.close()
    except OffloadError as exc:
        print(f"offload: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
