"""WSGI entry point: `gunicorn offload_api.wsgi:app`."""

from offload_api.app import create_app

app = create_app()
