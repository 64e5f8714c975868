"""`offload` command: database migrations and API keys."""

from __future__ import annotations

import argparse
import sys

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
    return parser


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
                key = apikeys.create_key(db, args.tenant)
            finally:
                db.close()
            print(f"created an API key for tenant {args.tenant!r}; it is shown only once:")
            print(key)
    except OffloadError as exc:
        print(f"offload: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
