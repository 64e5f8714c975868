"""Entry points: `app`, the Flask (WSGI) application, and `front`, the RSGI application granian
serves (`granian --interface rsgi offload_api.wsgi:front`, see serve.py and front.py)."""

from offload_api.app import create_app
from offload_api.front import BufferedFront
from offload_shared import logs
from offload_shared.settings import Settings

_settings = Settings.from_env()
logs.configure("api", _settings.log_format, _settings.log_level)  # in each granian worker
app = create_app({"OFFLOAD_SETTINGS": _settings})
front = BufferedFront(
    app,
    threads=_settings.api_threads,
    max_body=_settings.max_body_bytes,
    body_timeout=_settings.api_body_timeout_seconds,
)
