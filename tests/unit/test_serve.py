"""What `offload-api` tells granian: its RSGI interface with the front, explicit timeouts."""

import json
import logging.config
from pathlib import Path

from offload_api import serve
from offload_shared import logs
from offload_shared.settings import Settings


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_granian_serves_the_front_with_explicit_header_bounds():
    argv = serve.argv(Settings.from_env({"OFFLOAD_API_HEADER_TIMEOUT_SECONDS": "2.5"}))
    assert option(argv, "--interface") == "rsgi"
    assert argv[-1] == "offload_api.wsgi:front"
    assert option(argv, "--http1-header-read-timeout") == "2500"
    assert option(argv, "--http1-buffer-size") == str(serve.HEADER_BUFFER_BYTES)
    assert "--blocking-threads" not in argv  # RSGI: the front's own pool has the threads


def test_a_header_timeout_beyond_granians_range_is_clamped_to_it():
    settings = Settings.from_env({"OFFLOAD_API_HEADER_TIMEOUT_SECONDS": "600"})
    assert option(serve.argv(settings), "--http1-header-read-timeout") == "60000"


def test_granian_logs_through_offload_shared_logs_at_the_configured_level():
    argv = serve.argv(Settings.from_env({"OFFLOAD_LOG_LEVEL": "WARNING"}))
    assert option(argv, "--log-level") == "warning"
    assert "--no-access-log" in argv  # the app writes its own (access_log.py)
    config = json.loads(Path(option(argv, "--log-config")).read_text(encoding="utf-8"))
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    try:
        logging.config.dictConfig(config)  # as granian's processes do
        [handler] = root.handlers
        assert isinstance(handler, logs.StderrHandler)
        assert isinstance(handler.formatter, logs.JsonFormatter)
        assert logging.getLogger("_granian").propagate
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
