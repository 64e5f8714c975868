"""The `offload` command: the operator's CLI (on Click).

Task commands talk to the API (OFFLOAD_API_URL, OFFLOAD_API_KEY); admin commands (migrate,
api-key, cleanup, schedules install-defaults) work on Postgres (DATABASE_URL) and say so.
`main` turns every failure into one line on stderr and an exit code of exits.py.
"""

from __future__ import annotations

import logging
import sys

import click

from offload_shared.cli.admin_commands import api_key, migrate_command
from offload_shared.cli.cleanup_command import cleanup
from offload_shared.cli.exits import EXIT_CODES_HELP, CliFailure, Exit
from offload_shared.cli.ops_commands import stats, workers
from offload_shared.cli.schedule_commands import schedules
from offload_shared.cli.task_commands import cancel, enqueue, list_tasks, retry, status, tail
from offload_shared.errors import OffloadError, Unavailable

__all__ = ["cli", "main"]

HELP = f"""Offload's operator command.

Task commands (enqueue, status, list, cancel, retry, tail, stats, workers, schedules list,
pause, resume, run-now) talk to the API at OFFLOAD_API_URL with the key in OFFLOAD_API_KEY.
Admin commands (migrate, api-key, cleanup, schedules install-defaults) need Postgres
(DATABASE_URL) instead. Every command takes --json.

\b
{EXIT_CODES_HELP}
"""


@click.group(
    help=HELP,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
def cli() -> None:
    pass


for command in (enqueue, status, list_tasks, cancel, retry, tail, stats, workers, schedules,
                migrate_command, api_key, cleanup):  # fmt: skip
    cli.add_command(command)


def main(argv: list[str] | None = None) -> int:
    # The pool's own retries would print the driver's text; the failure is reported once, below.
    logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)
    try:
        code = cli.main(argv, prog_name="offload", standalone_mode=False)
    except click.ClickException as exc:  # usage errors: 2
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("offload: interrupted", err=True)
        return Exit.ERROR
    except CliFailure as exc:
        click.echo(f"offload: {exc}", err=True)
        return exc.code
    except OffloadError as exc:
        click.echo(f"offload: {exc}", err=True)
        return Exit.UNREACHABLE if isinstance(exc, Unavailable) else Exit.ERROR
    return code if isinstance(code, int) else Exit.OK


if __name__ == "__main__":
    sys.exit(main())
