"""The `offload` command (entry point `offload_shared.cli:main`): see app.py."""

from offload_shared.cli.app import main

__all__ = ["main"]
