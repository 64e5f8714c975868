"""Flask application factory."""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from offload_api import (
    access_log,
    analytics,
    auth,
    bulk,
    docs,
    errors,
    fanout,
    health,
    limits,
    metrics,
    monitoring,
    openapi,
    reports,
    request_id,
    schedules,
    security_headers,
    services,
    tasks,
    ui,
)
from offload_api.json_codec import OrjsonProvider
from offload_shared.catalog import load_modules
from offload_shared.settings import Settings


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the API. `config` may carry OFFLOAD_SETTINGS (a Settings); else the environment."""
    app = Flask("offload_api")
    app.json = OrjsonProvider(app)
    app.config.update(
        API_TITLE="Offload",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        # No OPENAPI_SWAGGER_UI_PATH: /docs is docs.py's page (packaged files, no inline script).
        API_SPEC_OPTIONS={
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearerAuth": []}],
        },
    )
    app.config.update(config or {})
    settings: Settings = app.config.get("OFFLOAD_SETTINGS") or Settings.from_env()
    load_modules(settings.task_modules)  # a team's own tasks, before any request
    request_id.init_app(app)  # first: every answer and line below has the request's id
    metrics.init_app(app)  # next: its hooks time the others too
    access_log.init_app(app, settings.api_access_log)
    limits.init_app(app, settings.max_body_bytes, settings.api_body_timeout_seconds)

    api = openapi.make_api(app)
    api.register_blueprint(tasks.blp)
    api.register_blueprint(bulk.blp)
    api.register_blueprint(monitoring.blp)
    api.register_blueprint(fanout.blp)
    api.register_blueprint(reports.blp)
    api.register_blueprint(analytics.blp)
    api.register_blueprint(schedules.blp)
    api.register_blueprint(health.blp)
    openapi.publish_task_params(api)
    errors.init_app(app, api)
    docs.init_app(app)
    ui.init_app(app)  # a plain blueprint, outside the OpenAPI document like /docs
    security_headers.init_app(app)
    auth.init_app(app)
    services.init_app(app, settings)
    if settings.trusted_proxy_hops:
        # The client is the address the outermost trusted proxy saw (the hops-th entry from the
        # right of X-Forwarded-For); what a client writes to the left of it is ignored.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxy_hops, x_proto=0)  # type: ignore[method-assign]
    return app
