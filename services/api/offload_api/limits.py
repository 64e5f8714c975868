"""Reject oversized or unfinished request bodies with an answer the client can actually read.

In production the front (front.py) reads every body before the app sees it and marks one it
refused in the environ: over the cap (413, chunked or not), still arriving at the body read
deadline (408) or shorter than its declared length (400); a request target or header block
over the front's bounds (414, 431). Without the front (Flask's test
client, another WSGI server) the declared length is checked here, and werkzeug's
MAX_CONTENT_LENGTH caps a chunked body as it is read.

A server that answers before reading the body and then closes the socket makes the kernel send
a TCP reset, which can destroy the answer before the client reads it. So a body whose declared
length is over the cap (but not absurdly so) is read and discarded first.
"""

from __future__ import annotations

from flask import Flask, request
from flask_smorest import abort

from offload_api.front import BODY_REFUSED, DRAIN_FACTOR, MAX_HEAD_BYTES, MAX_TARGET_BYTES

CHUNK = 65_536


def init_app(app: Flask, max_bytes: int, body_seconds: float) -> None:
    app.config["MAX_CONTENT_LENGTH"] = max_bytes

    @app.before_request
    def reject_oversized() -> None:
        refused = request.environ.get(BODY_REFUSED)
        if refused == 408:
            abort(408, message=f"the request body did not arrive within {body_seconds:g} s")
        if refused == 400:
            abort(400, message="the request body ended before its declared Content-Length")
        if refused == 414:
            abort(414, message=f"the request target is longer than {MAX_TARGET_BYTES} bytes")
        if refused == 431:
            abort(431, message=f"the request headers are larger than {MAX_HEAD_BYTES} bytes")
        length = request.content_length
        if refused is None and (length is None or length <= max_bytes):
            return
        if refused is None and length is not None and length <= max_bytes * DRAIN_FACTOR:
            stream = request.environ["wsgi.input"]
            remaining = length
            while remaining > 0 and (chunk := stream.read(min(CHUNK, remaining))):
                remaining -= len(chunk)
        abort(413, message=f"request body is larger than {max_bytes} bytes")
