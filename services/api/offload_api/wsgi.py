"""WSGI entry point: `granian --interface wsgi offload_api.wsgi:app` (see serve.py)."""

from offload_api.app import create_app

app = create_app()
