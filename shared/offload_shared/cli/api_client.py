"""The `offload` command's HTTP client: JSON to and from the API, with the key from
OFFLOAD_API_KEY. The standard library's urllib is enough for one request at a time and adds no
dependency to every image that carries the command.

An error answer becomes a CliFailure (exit 1) carrying the API's own message and the fields it
names; no answer at all (refused, DNS, timeout) is exit 3. Neither ever shows the key.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from offload_shared.cli.exits import CliFailure, Exit
from offload_shared.settings import ClientSettings

__all__ = ["ApiClient", "describe_error"]

DEFAULT_TIMEOUT = 30.0


def describe_error(status: int, body: bytes) -> str:
    """One line from the API's error shape {code, status, message?, errors?}: the status, the
    message and every named field ("json.priority: Must be ...")."""
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        return f"the API answered {status}"
    line = f"{status} {payload.get('status', '')}".strip()
    named = [f"{field}: {text}" for field, text in _fields(payload.get("errors"), "")]
    if payload.get("message") and not named:  # beside named fields it is werkzeug's boilerplate
        line += f": {payload['message']}"
    return "; ".join([line, *named])


def _fields(errors: Any, prefix: str) -> list[tuple[str, str]]:
    if isinstance(errors, dict):
        found: list[tuple[str, str]] = []
        for key, value in errors.items():
            found += _fields(value, f"{prefix}.{key}" if prefix else str(key))
        return found
    if isinstance(errors, list) and all(isinstance(e, str) for e in errors):
        return [(prefix or "request", " ".join(errors))]
    return [(prefix or "request", str(errors))] if errors else []


class ApiClient:
    def __init__(self, url: str, key: str | None, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url.rstrip("/")
        self.key = key
        self.timeout = timeout

    @classmethod
    def from_env(cls) -> ApiClient:
        settings = ClientSettings.from_env()
        return cls(settings.api_url, settings.api_key)

    def get(self, path: str, query: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", path, query=query)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body=body)

    def request(
        self, method: str, path: str, *, query: Mapping[str, Any] | None = None, body: Any = None
    ) -> Any:
        """The decoded JSON answer (None for an empty one)."""
        return self.exchange(method, path, query=query, body=body)[1]

    def exchange(
        self, method: str, path: str, *, query: Mapping[str, Any] | None = None, body: Any = None
    ) -> tuple[int, Any]:
        """(status, decoded JSON answer) of a successful request."""
        if not self.key:
            raise CliFailure("set OFFLOAD_API_KEY to an API key (offload api-key create)")
        where = urllib.parse.urlsplit(self.url)
        if where.scheme not in ("http", "https") or not where.hostname:
            raise CliFailure("OFFLOAD_API_URL must be an http:// or https:// URL")
        url = self.url + path
        given = {k: v for k, v in (query or {}).items() if v is not None}
        if given:
            url += "?" + urllib.parse.urlencode(given, doseq=True)
        headers = {"Authorization": f"Bearer {self.key}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                status, raw = answer.status, answer.read()
        except urllib.error.HTTPError as err:
            raise CliFailure(describe_error(err.code, err.read())) from None
        except (TimeoutError, urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise CliFailure(
                f"cannot reach the API at {where.scheme}://{where.netloc.rpartition('@')[2]} "
                f"({reason})",
                Exit.UNREACHABLE,
            ) from None
        return status, json.loads(raw) if raw else None
