"""The front's WSGI environ, built from a granian RSGI scope (the rest runs against the real
server in tests/e2e/test_slow_clients.py)."""

import asyncio
import json
from types import SimpleNamespace

from offload_api import request_id
from offload_api.front import BODY_REFUSED, BufferedFront


class Headers:
    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = items

    def items(self) -> list[tuple[str, str]]:
        return self._items

    def __contains__(self, name: str) -> bool:
        return any(key == name for key, _ in self._items)

    def get(self, name: str, default: str | None = None) -> str | None:
        return next((value for key, value in self._items if key == name), default)


def scope(headers: list[tuple[str, str]]) -> SimpleNamespace:
    return SimpleNamespace(
        proto="http", http_version="1.1", scheme="http", method="POST", path="/api/t\u00e9",
        query_string="a=1&b=2", server="127.0.0.1:8000", client="10.0.0.7:51234",
        headers=Headers(headers),
    )  # fmt: skip


def test_environ_carries_the_whole_body_and_folds_repeated_headers():
    front = BufferedFront(lambda e, s: [], threads=1, max_body=100, body_timeout=1)
    environ = front._environ(
        scope([("content-type", "application/json"), ("transfer-encoding", "chunked"),
               ("x-forwarded-for", "1.1.1.1"), ("x-forwarded-for", "2.2.2.2"),
               ("cookie", "a=1"), ("cookie", "b=2")]),
        b'{"x": 1}',
        None,
    )  # fmt: skip
    assert environ["CONTENT_LENGTH"] == "8"
    assert environ["wsgi.input"].read() == b'{"x": 1}'
    assert "HTTP_TRANSFER_ENCODING" not in environ  # the body is whole: its length says so
    assert environ["CONTENT_TYPE"] == "application/json"
    assert environ["HTTP_X_FORWARDED_FOR"] == "1.1.1.1, 2.2.2.2"
    assert environ["HTTP_COOKIE"] == "a=1; b=2"
    assert environ["PATH_INFO"] == "/api/t\u00c3\u00a9"  # PEP 3333: UTF-8 bytes as latin-1
    assert (environ["QUERY_STRING"], environ["REMOTE_ADDR"], environ["SERVER_PORT"]) == (
        "a=1&b=2", "10.0.0.7", "8000",
    )  # fmt: skip
    assert BODY_REFUSED not in environ


def test_a_refused_body_reaches_the_app_only_as_its_status():
    front = BufferedFront(lambda e, s: [], threads=1, max_body=100, body_timeout=1)
    environ = front._environ(scope([("content-length", "5000")]), b"", 413)
    assert environ[BODY_REFUSED] == 413
    assert environ["CONTENT_LENGTH"] == "0"


class Answer:
    """granian's protocol object, as far as the front answers through it."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, list[tuple[str, str]], bytes]] = []

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.sent.append((status, headers, body))


def test_what_escapes_the_app_is_a_json_500_not_a_bare_one():
    def app(environ, start_response):
        raise RuntimeError("an error handler that itself failed")

    front = BufferedFront(app, threads=1, max_body=100, body_timeout=1)
    answer = Answer()
    get = scope([])
    get.method = "GET"
    asyncio.run(front.__rsgi__(get, answer))
    [(status, headers, body)] = answer.sent
    assert status == 500
    assert ("content-type", "application/json") in headers
    assert json.loads(body) == {"code": 500, "status": "Internal Server Error",
                                "message": "internal error"}  # fmt: skip


def test_the_front_500_carries_the_request_id_the_app_chose_or_a_fresh_one():
    def app(environ, start_response):
        environ[request_id.ENVIRON_KEY] = "chosen-by-the-app"  # as its before_request hook does
        raise RuntimeError("an error handler that itself failed")

    def early(environ, start_response):
        raise RuntimeError("before the app's hooks ran")

    answers = []
    for wsgi_app, sent in ((app, []), (early, [("x-request-id", "client-1")])):
        front = BufferedFront(wsgi_app, threads=1, max_body=100, body_timeout=1)
        answer = Answer()
        get = scope(sent)
        get.method = "GET"
        asyncio.run(front.__rsgi__(get, answer))
        [(_, headers, _)] = answer.sent
        answers.append([v for k, v in headers if k == "x-request-id"])
    assert answers == [["chosen-by-the-app"], ["client-1"]]
