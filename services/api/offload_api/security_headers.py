"""Security headers on every response the app produces, set in one after_request hook.

The API answers JSON and files, never pages a browser should render or frame, so its policy
forbids everything (`default-src 'none'`); /docs and the dashboard (/ui) are the pages, and may
load only their own files (Swagger UI served from the installed package, docs.py; the
dashboard's templates, script and styles, ui/). Answers under /api are private
to the key that asked, so no cache keeps them. `Server` carries no version: granian sends
`server: granian` on what the app answers and nothing on its own errors.
"""

from __future__ import annotations

from flask import Flask, Response, request

API_POLICY = "default-src 'none'; frame-ancestors 'none'"
# What Swagger UI needs in Chromium, checked by tests/e2e/test_docs_browser.py (no console
# error, no CSP violation): its own scripts and styles, `data:` images (its icons), and fetches
# to this origin (the OpenAPI document, "Try it out"). No inline script or style.
DOCS_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
DOCS_PREFIX = "/docs"
# The dashboard (ui/): its own script, styles and images, its event streams and fetches of its
# own pages, forms posted to itself only; no inline script or style (its charts are inline SVG
# coloured by classes). Its pages are private to the session, so no cache keeps them.
UI_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
UI_PREFIX = "/ui"

ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def init_app(app: Flask) -> None:
    @app.after_request
    def secure(response: Response) -> Response:
        path = request.path
        docs = path == DOCS_PREFIX or path.startswith(DOCS_PREFIX + "/")
        dashboard = path == UI_PREFIX or path.startswith(UI_PREFIX + "/")
        response.headers["Content-Security-Policy"] = (
            DOCS_POLICY if docs else UI_POLICY if dashboard else API_POLICY
        )
        for name, value in ALWAYS.items():
            response.headers[name] = value
        if dashboard:
            # Not no-referrer: under it Chromium sends `Origin: null` with the dashboard's own
            # form posts, and the CSRF check (ui/session.py) needs the real origin. Other
            # sites still learn nothing.
            response.headers["Referrer-Policy"] = "same-origin"
        private = path.startswith("/api/") or (
            dashboard and not path.startswith(UI_PREFIX + "/static/")
        )
        if private and "Cache-Control" not in response.headers:
            response.headers["Cache-Control"] = "no-store"
        return response
