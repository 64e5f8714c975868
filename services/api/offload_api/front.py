"""The asynchronous front: granian's RSGI interface reads every request body on its event loop,
and only a whole, bounded body reaches the WSGI app in one of its threads.

Measured with granian 2.8 (tests/e2e/test_slow_clients.py): under its WSGI interface granian
calls the app as soon as the headers are in, and `wsgi.input.read()` then blocks a Python thread
for as long as the client takes to send the body; granian has no body read timeout, so a client
that declares a length it never sends, or opens a chunked body it never ends, holds a thread
until it hangs up (two such clients stalled a two-thread API, /healthz included). It also hands
the app whatever part of a body arrived before a disconnect, as if it were the whole body.

Here a slow body costs a pending read on the event loop, not a thread. A body is read up to
`max_body` bytes within `body_timeout` seconds; a larger one (chunked or not), one that is
still arriving at the deadline, or one whose client hung up is never given to the app as a
request: the app sees only `BODY_REFUSED` in its environ (limits.py answers 413, 408 or 400 in
the one error shape; 414 and 431 too, for a request target or header block over this module's
bounds). Slow headers are granian's (`--http1-header-read-timeout`, serve.py).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from typing import Any, Protocol

from granian.rsgi import ProtocolClosed as RSGIProtocolClosed

from offload_api import request_id
from offload_api.stream import MIMETYPE, PACED, POLL_SECONDS
from offload_shared import logs

log = logging.getLogger(__name__)

# The environ key the app reads: the status (413, 408, 400, 414 or 431) a request was refused with.
BODY_REFUSED = "offload.body_refused"
# A body over the cap is still read (and dropped) up to this multiple of it, so the client is
# reading when the 413 arrives rather than getting a TCP reset that may destroy it (limits.py).
DRAIN_FACTOR = 8

# A request target or header block over these is answered here, in the one JSON error shape
# (414, 431); granian's own buffer (serve.HEADER_BUFFER_BYTES) sits above them and answers what
# is larger still with an empty body.
MAX_TARGET_BYTES = 8_192
MAX_HEAD_BYTES = 16_384

# The one error shape, for what escapes the app itself (its own 500s come from Flask).
INTERNAL_ERROR = b'{"code":500,"status":"Internal Server Error","message":"internal error"}'
INTERNAL_ERROR_HEADERS = [
    ("content-type", "application/json"),
    ("content-security-policy", "default-src 'none'; frame-ancestors 'none'"),
    ("x-content-type-options", "nosniff"),
]

# An answer up to this size is read whole in the app's thread and sent in one piece.
READ_AHEAD_BYTES = 65_536

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _Proto(Protocol):  # granian's RSGIHTTPProtocol, as far as this module uses it
    def __aiter__(self) -> Any: ...
    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None: ...
    def response_stream(self, status: int, headers: list[tuple[str, str]]) -> Any: ...


class BufferedFront:
    """An RSGI application (`__rsgi__`) serving `app` from a pool of `threads` threads."""

    def __init__(self, app: WSGIApp, *, threads: int, max_body: int, body_timeout: float) -> None:
        self.app = app
        self.max_body = max_body
        self.body_timeout = body_timeout
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="offload-api")

    async def __rsgi__(self, scope: Any, proto: _Proto) -> None:
        if scope.proto != "http":  # no websockets (serve.py passes --no-ws)
            return
        body: bytes = b""
        refused: int | None = None
        if _has_body(scope):
            try:
                async with asyncio.timeout(self.body_timeout):
                    body, refused = await self._read_body(scope, proto)
            except TimeoutError:
                body, refused = b"", 408
        refused = _oversized_head(scope) or refused
        environ = self._environ(scope, body, refused)
        loop = asyncio.get_running_loop()
        try:
            status, headers, chunks = await loop.run_in_executor(self.pool, self._call, environ)
        except Exception:  # Flask answers a view's errors; this is what escaped it
            rid = request_id.of_environ(environ)
            log.exception(
                "the app raised outside its error handlers", extra={logs.EXTRA: {"request_id": rid}}
            )
            headers = [*INTERNAL_ERROR_HEADERS, (request_id.HEADER.lower(), rid)]
            proto.response_bytes(500, headers, INTERNAL_ERROR)
            return
        if isinstance(chunks, list):
            proto.response_bytes(status, headers, b"".join(chunks))
            return
        # A streamed answer (an artifact): produced chunk by chunk in the pool, sent on the loop,
        # so a slow reader holds no thread either. An event stream (stream.py) is sent as it
        # is produced; its empty chunks mean "nothing new": the loop waits POLL_SECONDS (no
        # thread held) and stops early if the client hangs up.
        iterator = iter(chunks)
        paced = _is_event_stream(headers)
        gone: asyncio.Future[Any] | None = None
        try:
            stream = proto.response_stream(status, headers)
            if paced:
                gone = asyncio.ensure_future(proto.client_disconnect())  # type: ignore[attr-defined]
            while (
                chunk := await loop.run_in_executor(self.pool, next, iterator, None)
            ) is not None:
                if chunk:
                    await stream.send_bytes(chunk)
                elif gone is not None:
                    await asyncio.wait([gone], timeout=POLL_SECONDS)
                    if gone.done():
                        break
        finally:
            if gone is not None and not gone.done():
                gone.cancel()
            close = getattr(chunks, "close", None)
            if close is not None:
                await loop.run_in_executor(self.pool, close)

    async def _read_body(self, scope: Any, proto: _Proto) -> tuple[bytes, int | None]:
        """The whole body; or b"" and 413 once it passes the cap (drained up to DRAIN_FACTOR
        times the cap first), or 400 when it ends before its declared length."""
        declared = _content_length(scope)
        if declared is not None:
            if declared > self.max_body * DRAIN_FACTOR:
                return b"", 413
            if declared > self.max_body:  # drained chunk by chunk, never held whole
                async for _ in proto:
                    pass
                return b"", 413
            # Bounded by the declared length; unlike the chunk iterator, a whole-body read
            # fails when the body ends short (the client hung up or half-closed).
            try:
                body = await proto()  # type: ignore[operator]
            except RSGIProtocolClosed:
                return b"", 400
            return (b"", 413) if len(body) > self.max_body else (body, None)
        # Chunked: read chunk by chunk so the cap bounds the memory too. granian 2.8 ends this
        # iteration silently on a malformed or truncated chunked body (README, "Slow clients").
        buffer = bytearray()
        seen = 0
        async for chunk in proto:
            seen += len(chunk)
            if seen > self.max_body * DRAIN_FACTOR:
                return b"", 413
            if seen <= self.max_body:
                buffer += chunk
        if seen > self.max_body:
            return b"", 413
        return bytes(buffer), None

    def _call(self, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], Iterable[bytes]]:
        """Run the WSGI app in a pool thread; a list body is joined here, an iterator later."""
        answer: dict[str, Any] = {}

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            answer["status"] = int(status.split(" ", 1)[0])
            answer["headers"] = headers
            return lambda data: None

        result = self.app(environ, start_response)
        if isinstance(result, list):
            return answer["status"], answer["headers"], result
        # Flask answers with an iterator even for a small JSON body: read ahead here, in the
        # thread, so that such an answer goes back in one piece (one hop to the loop, not one
        # per chunk plus a stream); only a large one (an artifact) is streamed.
        iterator: Iterator[bytes] = iter(result)
        head: list[bytes] = []
        size = 0
        for chunk in iterator:  # the first one runs the app up to start_response
            head.append(chunk)
            size += len(chunk)
            if size > READ_AHEAD_BYTES or _is_event_stream(answer["headers"]):
                return answer["status"], answer["headers"], _Prepended(head, iterator, result)
        if hasattr(result, "close"):
            result.close()
        return answer["status"], answer["headers"], head

    def _environ(self, scope: Any, body: bytes, refused: int | None) -> dict[str, Any]:
        server_host, _, server_port = scope.server.rpartition(":")
        client_host, _, client_port = scope.client.rpartition(":")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": scope.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": scope.path.encode("utf-8", "surrogateescape").decode("latin-1"),
            "QUERY_STRING": scope.query_string,
            "SERVER_NAME": server_host,
            "SERVER_PORT": server_port,
            "SERVER_PROTOCOL": f"HTTP/{scope.http_version}",
            "REMOTE_ADDR": client_host,
            "REMOTE_PORT": client_port,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": scope.scheme,
            "wsgi.input": BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "CONTENT_LENGTH": str(len(body)),
            PACED: True,
        }
        for name, value in scope.headers.items():
            key = name.upper().replace("-", "_")
            if key in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
                continue  # the body is whole now: its length is CONTENT_LENGTH above
            if key == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = value
                continue
            key = f"HTTP_{key}"
            if key in environ:
                value = environ[key] + ("; " if key == "HTTP_COOKIE" else ", ") + value
            environ[key] = value
        if refused is not None:
            environ[BODY_REFUSED] = refused
        return environ


class _Prepended:
    """An iterator over the chunks already read, then the rest, closing the WSGI result."""

    def __init__(self, head: list[bytes], rest: Iterator[bytes], result: Iterable[bytes]) -> None:
        self._head = head
        self._rest = rest
        self._result = result

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._head:
            return self._head.pop(0)
        return next(self._rest)

    def close(self) -> None:
        close = getattr(self._result, "close", None)
        if close is not None:
            close()


def _is_event_stream(headers: list[tuple[str, str]]) -> bool:
    """Whether an answer is an event stream (text/event-stream): sent as it is produced."""
    return any(
        name.lower() == "content-type" and value.startswith(MIMETYPE) for name, value in headers
    )


def _content_length(scope: Any) -> int | None:
    value = scope.headers.get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _has_body(scope: Any) -> bool:
    return "content-length" in scope.headers or "transfer-encoding" in scope.headers


def _oversized_head(scope: Any) -> int | None:
    """414 for a request target over MAX_TARGET_BYTES, 431 for headers over MAX_HEAD_BYTES."""
    if len(scope.path) + len(scope.query_string) > MAX_TARGET_BYTES:
        return 414
    if sum(len(name) + len(value) + 4 for name, value in scope.headers.items()) > MAX_HEAD_BYTES:
        return 431
    return None
