"""A development SMTP server that accepts every message and logs one line per message.

    python -m offload_dev.smtp_sink --host 127.0.0.1 --port 1025 [--save-dir DIR]

Each line gives the envelope sender, the recipients, the subject and the size in bytes; the
body is never printed. With --save-dir, each message is also written there as an .eml file.
Any AUTH credentials are accepted (and not logged). Stops cleanly on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import signal
import sys
import time
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

HOSTNAME = "offload-dev-smtp-sink"


def _accept_any_login(*_args: Any) -> AuthResult:
    return AuthResult(success=True)


def describe(envelope: Envelope, content: bytes) -> str:
    """The log line for one message: sender, recipients, subject, size."""
    headers = BytesHeaderParser(policy=policy.default).parsebytes(content)
    subject = " ".join(str(headers.get("subject", "")).split())
    recipients = ",".join(envelope.rcpt_tos)
    return (
        f"email from={envelope.mail_from} to={recipients} subject={subject!r} size={len(content)}"
    )


class SinkHandler:
    """aiosmtpd handler: log each message and optionally save it."""

    def __init__(self, save_dir: Path | None = None) -> None:
        self.save_dir = save_dir
        self._counter = itertools.count(1)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        print(describe(envelope, content), flush=True)
        if self.save_dir is not None:
            name = f"{time.strftime('%Y%m%d-%H%M%S')}-{next(self._counter):04d}.eml"
            (self.save_dir / name).write_bytes(content)
        return "250 Message accepted for delivery"


async def serve(host: str, port: int, save_dir: Path | None = None) -> None:
    """Serve until SIGINT or SIGTERM."""
    if save_dir is not None:
        save_dir.mkdir(parents=True, exist_ok=True)
    # aiosmtpd warns about its own use of a deprecated attribute on every AUTH.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    loop = asyncio.get_running_loop()
    handler = SinkHandler(save_dir)

    def protocol() -> SMTP:
        return SMTP(
            handler,
            hostname=HOSTNAME,
            enable_SMTPUTF8=True,
            auth_require_tls=False,
            authenticator=_accept_any_login,
            loop=loop,
        )

    server = await loop.create_server(protocol, host, port)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    where = f" (messages saved in {save_dir})" if save_dir is not None else ""
    print(f"SMTP sink listening on {host}:{port}{where}", flush=True)
    async with server:
        await stop.wait()
    print("SMTP sink stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--save-dir", type=Path, default=None, help="also save messages here")
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve(args.host, args.port, args.save_dir))
    except OSError as exc:
        print(f"SMTP sink: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
