"""The development API key: reused while still valid, otherwise created with `offload api-key`."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

import psycopg

from offload_dev.procs import ProcessError

log = logging.getLogger("offload_dev")

DEV_TENANT = "dev"
# Keys are stored as the hex SHA-256 of the key string.
_KEY_IS_ACTIVE = (
    "SELECT 1 FROM offload.api_keys"
    " WHERE key_hash = encode(sha256(convert_to(%s, 'UTF8')), 'hex') AND revoked_at IS NULL"
    " AND (expires_at IS NULL OR expires_at > now())"
)


def key_is_active(database_url: str, key: str) -> bool:
    """True if `key` exists, is not revoked and has not expired; False on any database error."""
    try:
        with psycopg.connect(database_url, connect_timeout=5) as conn:
            return conn.execute(_KEY_IS_ACTIVE, (key,)).fetchone() is not None
    except psycopg.Error:
        return False


def create_key(offload: Path, env: Mapping[str, str], tenant: str = DEV_TENANT) -> str:
    """Run `offload api-key create --tenant <tenant>`; the key is the last line it prints."""
    result = subprocess.run(
        [str(offload), "api-key", "create", "--tenant", tenant],
        env=dict(env),
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ProcessError(f"`offload api-key create` failed with exit code {result.returncode}")
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    if not lines:
        raise ProcessError("`offload api-key create` printed no key")
    return lines[-1]


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def dev_api_key(offload: Path, env: Mapping[str, str], key_file: Path) -> str:
    """The key saved in `key_file` if still active in DATABASE_URL, else a new one (saved)."""
    try:
        saved = key_file.read_text(encoding="utf-8").strip()
    except OSError:
        saved = ""
    if saved and key_is_active(env["DATABASE_URL"], saved):
        log.info("reusing the dev API key saved in %s", key_file)
        return saved
    key = create_key(offload, env)
    _write_private(key_file, key + "\n")
    log.info("created a dev API key for tenant %r (saved in %s)", DEV_TENANT, key_file)
    return key
