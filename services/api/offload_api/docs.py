"""/docs: Swagger UI from the installed `swagger_ui_bundle` package, no CDN, no inline script.

flask-smorest's own Swagger page loads Swagger UI from a URL (a CDN by default) and starts it
with an inline <script>, which a strict Content-Security-Policy (script-src 'self') forbids.
This page is static HTML whose scripts and styles are all files served from here: the
package's, and a small initialiser (`/docs/init.js`). It works on a machine without internet
under security_headers.DOCS_POLICY.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, send_from_directory
from swagger_ui_bundle import swagger_ui_path

OPENAPI_URL = "/openapi.json"

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Offload API</title>
  <link rel="stylesheet" href="/docs/static/swagger-ui.css">
  <link rel="stylesheet" href="/docs/page.css">
  <link rel="icon" type="image/png" href="/docs/static/favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/static/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
"""

INIT_JS = f"""window.addEventListener("load", function () {{
  window.ui = SwaggerUIBundle({{
    url: "{OPENAPI_URL}",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    persistAuthorization: false,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  }});
}});
"""

PAGE_CSS = """html { box-sizing: border-box; overflow-y: scroll; }
*, *:before, *:after { box-sizing: inherit; }
body { margin: 0; background: #fafafa; }
"""

blp = Blueprint("docs", __name__)


@blp.get("/docs")
def page() -> Response:
    return Response(PAGE, mimetype="text/html")


@blp.get("/docs/init.js")
def init_js() -> Response:
    return Response(INIT_JS, mimetype="text/javascript")


@blp.get("/docs/page.css")
def page_css() -> Response:
    return Response(PAGE_CSS, mimetype="text/css")


@blp.get("/docs/static/<path:filename>")
def static(filename: str) -> Response:
    """The package's files (send_from_directory refuses paths that leave its folder)."""
    return send_from_directory(swagger_ui_path, filename, max_age=3600)


def init_app(app: Flask) -> None:
    app.register_blueprint(blp)
