"""Fetch one JSON document over HTTP(S) with urllib, defensively.

- http and https only, no credentials in the URL, no proxies (the connection must go to the
  address the SSRF guard checked), redirects never followed (a 3xx is refused).
- The host is resolved once and checked by `hosts`; the connection goes to those addresses,
  while TLS still verifies the certificate against the host name.
- `timeout` bounds the connection and every read (each read returns what has arrived); the
  whole exchange is also bounded by a deadline of TRANSFER_DEADLINE_FACTOR x timeout, so a
  server trickling bytes cannot hold the worker.
- The body is read incrementally and refused past `max_bytes` (a larger Content-Length is
  refused before reading); the Content-Type must be JSON, and the body valid JSON (NaN and
  Infinity, which Postgres cannot store, are refused).

Errors: a 5xx, 408 or 429 answer, a timeout, a refused or reset connection or a DNS failure raise
SourceUnavailable, a RetryLater (the task is retried, after the answer's Retry-After seconds if
it gave them). Everything retrying cannot fix raises
PermanentTaskError. Messages never echo the response body, the URL or an address.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Collection, Sequence
from typing import Any
from urllib.parse import urlsplit

from offload_analytics_worker import hosts
from offload_shared.errors import OffloadError, PermanentTaskError, RetryLater

TRANSFER_DEADLINE_FACTOR = 6
READ_CHUNK = 65_536
RETRYABLE_STATUS = frozenset({408, 429})
USER_AGENT = "offload-analytics-worker"


class SourceUnavailable(RetryLater):
    """The source could not be reached or answered with a temporary error (retryable)."""


def fetch_json(
    url: str,
    *,
    timeout: float,
    max_bytes: int,
    allowed_hosts: Collection[str] = frozenset(),
    resolver: hosts.Resolver = hosts.resolve,
) -> Any:
    """GET `url` and return its decoded JSON body."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise PermanentTaskError("the source URL must use http or https")
    if parts.username is not None or parts.password is not None:
        raise PermanentTaskError("the source URL must not contain credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise PermanentTaskError("the source URL has an invalid port") from None
    if not parts.hostname:
        raise PermanentTaskError("the source URL has no host")
    try:
        addresses = hosts.safe_addresses(parts.hostname, port, allowed_hosts, resolver)
    except hosts.HostUnresolved as exc:
        raise SourceUnavailable(str(exc)) from exc
    body = _get(url, addresses, timeout=timeout, max_bytes=max_bytes)
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise PermanentTaskError("the source did not answer with valid JSON") from None


def _get(url: str, addresses: Sequence[str], *, timeout: float, max_bytes: int) -> bytes:
    opener = _opener(addresses)
    request = urllib.request.Request(  # noqa: S310 - scheme checked by fetch_json
        url, headers={"Accept": "application/json", "User-Agent": USER_AGENT}
    )
    deadline = time.monotonic() + timeout * TRANSFER_DEADLINE_FACTOR
    try:
        with opener.open(request, timeout=timeout) as response:
            _check_headers(response, max_bytes)
            return _read_capped(response, max_bytes, deadline)
    except urllib.error.HTTPError as exc:
        retry_after = exc.headers.get("Retry-After") if exc.headers else None
        exc.close()
        raise _status_error(exc.code, retry_after) from None
    except urllib.error.URLError as exc:
        raise _connection_error(exc.reason) from None
    except (OSError, http.client.HTTPException) as exc:
        raise _connection_error(exc) from None


def _check_headers(response: http.client.HTTPResponse, max_bytes: int) -> None:
    media_type = response.headers.get_content_type()
    if not (media_type == "application/json" or media_type.endswith("+json")):
        raise PermanentTaskError("the source's Content-Type is not JSON")
    length = response.headers.get("Content-Length")
    if length is not None and length.strip().isdigit() and int(length) > max_bytes:
        raise PermanentTaskError(f"the source's answer is larger than {max_bytes} bytes")


def _read_capped(response: http.client.HTTPResponse, max_bytes: int, deadline: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := response.read1(min(READ_CHUNK, max_bytes + 1 - size)):
        size += len(chunk)
        if size > max_bytes:
            raise PermanentTaskError(f"the source's answer is larger than {max_bytes} bytes")
        if time.monotonic() > deadline:
            raise SourceUnavailable("the source took too long to send its answer")
        chunks.append(chunk)
    return b"".join(chunks)


def _status_error(code: int, retry_after: str | None = None) -> OffloadError:
    if code >= 500 or code in RETRYABLE_STATUS:
        # Retry-After in seconds is honoured (the task type's cap still bounds it); its date
        # form is left to the backoff.
        delay = float(retry_after) if retry_after and retry_after.strip().isdigit() else None
        return SourceUnavailable(f"the source answered HTTP {code}", delay_seconds=delay)
    if 300 <= code < 400:
        return PermanentTaskError(f"the source answered HTTP {code}; redirects are not followed")
    return PermanentTaskError(f"the source answered HTTP {code}")


def _connection_error(reason: object) -> OffloadError:
    if isinstance(reason, ssl.SSLCertVerificationError):
        return PermanentTaskError("the source's TLS certificate could not be verified")
    if isinstance(reason, TimeoutError | socket.timeout):
        return SourceUnavailable("the source did not answer in time")
    return SourceUnavailable(f"could not reach the source ({type(reason).__name__})")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# -- connections pinned to the checked addresses -----------------------------------------------


def _connect(addresses: Sequence[str], port: int, timeout: float | None) -> socket.socket:
    """Connect to the first checked address that answers (like socket.create_connection)."""
    error: OSError = OSError("no address to connect to")
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as exc:
            error = exc
    raise error


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, *, addresses: Sequence[str], **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self._addresses = addresses

    def connect(self) -> None:
        self.sock = _connect(self._addresses, self.port, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(
        self, host: str, *, addresses: Sequence[str], tls: ssl.SSLContext, **kwargs: Any
    ) -> None:
        super().__init__(host, context=tls, **kwargs)
        self._addresses = addresses
        self._tls = tls

    def connect(self) -> None:
        sock = _connect(self._addresses, self.port, self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


class _PinnedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, addresses: Sequence[str]) -> None:
        super().__init__()
        self._addresses = addresses

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        def connection(host: str, **kwargs: Any) -> http.client.HTTPConnection:
            return _PinnedHTTPConnection(host, addresses=self._addresses, **kwargs)

        return self.do_open(connection, req)


class _PinnedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, addresses: Sequence[str]) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(context=self._tls)
        self._addresses = addresses

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        def connection(host: str, **kwargs: Any) -> http.client.HTTPConnection:
            return _PinnedHTTPSConnection(host, addresses=self._addresses, tls=self._tls, **kwargs)

        return self.do_open(connection, req)


def _opener(addresses: Sequence[str]) -> urllib.request.OpenerDirector:
    """Only what one GET needs: no proxy, redirect, file, ftp or data handlers."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        _PinnedHTTPHandler(addresses),
        _PinnedHTTPSHandler(addresses),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener
