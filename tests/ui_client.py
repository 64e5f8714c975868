"""A browser's view of the dashboard for the Flask test client: log in with a key, read the
CSRF token a page carries, post its forms."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    def __init__(self, app: Flask, remote_addr: str | None = None) -> None:
        self.client: FlaskClient = app.test_client()
        if remote_addr is not None:  # a client of its own for the bad-authentication limit
            self.client.environ_base["REMOTE_ADDR"] = remote_addr
        self.csrf = ""

    def login(self, key: str, next_page: str = "/ui/") -> TestResponse:
        response = self.client.post("/ui/login", data={"api_key": key, "next": next_page})
        if response.status_code == 303:
            self.csrf = self.token("/ui/")
        return response

    def token(self, page: str) -> str:
        match = CSRF.search(self.client.get(page).get_data(as_text=True))
        assert match, f"no CSRF token on {page}"
        return match.group(1)

    def get(self, url: str, **kwargs: Any) -> TestResponse:
        return self.client.get(url, **kwargs)

    def text(self, url: str) -> str:
        response = self.client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return response.get_data(as_text=True)

    def post(self, url: str, data: dict[str, str] | None = None, **kwargs: Any) -> TestResponse:
        """A form post carrying the session's CSRF token (unless `data` sets its own)."""
        return self.client.post(url, data={"csrf_token": self.csrf, **(data or {})}, **kwargs)
