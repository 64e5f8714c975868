"""Reject oversized request bodies with a 413 the client can actually read.

A server that answers before reading the body and then closes the socket makes the kernel send
a TCP reset, which can destroy the answer before the client reads it. So a body whose declared
length is over the cap (but not absurdly so) is read and discarded first.
"""

from __future__ import annotations

from flask import Flask, request
from flask_smorest import abort

DRAIN_FACTOR = 8
CHUNK = 65_536


def init_app(app: Flask, max_bytes: int) -> None:
    app.config["MAX_CONTENT_LENGTH"] = max_bytes

    @app.before_request
    def reject_oversized() -> None:
        length = request.content_length
        if length is None or length <= max_bytes:
            return
        if length <= max_bytes * DRAIN_FACTOR:
            stream = request.environ["wsgi.input"]
            remaining = length
            while remaining > 0 and (chunk := stream.read(min(CHUNK, remaining))):
                remaining -= len(chunk)
        abort(413, message=f"request body is larger than {max_bytes} bytes")
