"""The log formats (offload_shared/logs.py): one JSON object per line with the bound fields,
or readable text; `configure` puts them on the root logger."""

import io
import logging
import sys
import threading
import uuid
import warnings
from datetime import UTC, datetime

import orjson
import pytest

from offload_shared import logs
from tests.conftest import make_task


def record(message="hello %s", args=("world",), level=logging.INFO, exc_info=None, **extra):
    rec = logging.LogRecord("offload.test", level, __file__, 1, message, args, exc_info)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def as_json(formatter, rec):
    line = formatter.format(rec)
    assert "\n" not in line
    return orjson.loads(line)


def test_a_line_has_the_base_fields():
    line = as_json(logs.JsonFormatter("api"), record())
    assert line.keys() == {"ts", "level", "logger", "message", "service"}
    assert (line["level"], line["logger"], line["message"], line["service"]) == (
        "INFO", "offload.test", "hello world", "api",
    )  # fmt: skip


def test_the_timestamp_is_iso_8601_utc():
    rec = record()
    rec.created = datetime(2026, 12, 2, 6, 45, 1, 234567, tzinfo=UTC).timestamp()
    assert as_json(logs.JsonFormatter("api"), rec)["ts"] == "2026-12-02T06:45:01.234Z"


def test_bound_fields_are_on_every_line_until_unbound():
    formatter = logs.JsonFormatter("email-worker")
    token = logs.bind({"request_id": "r-1"})
    try:
        assert as_json(formatter, record())["request_id"] == "r-1"
    finally:
        logs.unbind(token)
    assert "request_id" not in as_json(formatter, record())


def test_task_fields_name_the_attempt_and_its_request():
    task = make_task(attempts=2, request_id="r-9")
    fields = logs.task_fields(task)
    assert fields == {
        "task_id": str(task.id), "task_name": task.task_name, "tenant": task.tenant,
        "attempt": 2, "queue": task.queue, "request_id": "r-9",
    }  # fmt: skip
    assert "request_id" not in logs.task_fields(make_task())


def test_fields_given_with_the_line_win_over_the_bound_ones():
    token = logs.bind({"request_id": "bound"})
    try:
        line = as_json(logs.JsonFormatter("x"), record(**{logs.EXTRA: {"task_id": "t-1"}}))
    finally:
        logs.unbind(token)
    assert line["task_id"] == "t-1"
    assert "request_id" not in line


def test_fields_are_per_thread():
    token = logs.bind({"request_id": "main"})
    seen = []
    try:
        thread = threading.Thread(target=lambda: seen.append(logs.current_fields()))
        thread.start()
        thread.join()
    finally:
        logs.unbind(token)
    assert seen == [None]


def test_an_exception_is_one_field_with_its_traceback():
    try:
        raise ValueError("boom")
    except ValueError:
        rec = record(level=logging.ERROR, exc_info=sys.exc_info())
    line = as_json(logs.JsonFormatter("x"), rec)
    assert line["exc"].startswith("Traceback (most recent call last)")
    assert line["exc"].rstrip().endswith("ValueError: boom")


def test_a_lone_surrogate_is_escaped_not_lost():
    line = as_json(logs.JsonFormatter("x"), record("path %s", ("/a\udcff",)))
    assert line["message"] == "path /a\\udcff"


def test_values_json_cannot_encode_are_written_as_text():
    line = as_json(
        logs.JsonFormatter("x"), record("n", (), **{logs.EXTRA: {"id": uuid.UUID(int=1)}})
    )
    assert line["id"] == str(uuid.UUID(int=1))
    line = as_json(logs.JsonFormatter("x"), record("n", (), **{logs.EXTRA: {"o": object}}))
    assert line["o"] == str(object)


def test_text_is_readable_with_the_fields_after_the_message():
    token = logs.bind({"task_id": "t-1", "attempt": 1})
    try:
        text = logs.TextFormatter().format(record())
    finally:
        logs.unbind(token)
    assert text.endswith("INFO offload.test: hello world [task_id=t-1 attempt=1]")
    assert text[:4].isdigit()


def test_text_puts_the_fields_before_a_traceback():
    try:
        raise ValueError("boom")
    except ValueError:
        rec = record(exc_info=sys.exc_info(), **{logs.EXTRA: {"task_id": "t-1"}})
    first, *rest = logs.TextFormatter().format(rec).splitlines()
    assert first.endswith("hello world [task_id=t-1]")
    assert rest[-1] == "ValueError: boom"


@pytest.fixture
def root_logging():
    """configure() changes the process's logging: put it back afterwards."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, sys.excepthook, threading.excepthook)
    yield root
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    sys.excepthook, threading.excepthook = saved[2], saved[3]
    logging.captureWarnings(False)


def test_configure_writes_json_to_stderr_as_it_is_at_each_line(root_logging, monkeypatch):
    logs.configure("scheduler", "json", "warning")
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    logging.getLogger("some.library").warning("one")
    logging.getLogger("some.library").info("dropped: below the level")
    monkeypatch.setattr(sys, "stderr", second)  # as Dramatiq's worker processes do
    logging.getLogger("some.library").error("two")
    assert [orjson.loads(x)["message"] for x in first.getvalue().splitlines()] == ["one"]
    assert orjson.loads(second.getvalue())["service"] == "scheduler"


def test_configure_replaces_earlier_handlers_and_takes_warnings_and_crashes(
    root_logging, monkeypatch
):
    logging.basicConfig(stream=io.StringIO())
    logs.configure("api", "json", "info")
    logs.configure("api", "json", "info")
    assert len(root_logging.handlers) == 1
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # the suite makes warnings errors
        warnings.warn("careful", UserWarning, stacklevel=1)
    thread = threading.Thread(target=lambda: 1 / 0, name="doomed")
    thread.start()
    thread.join()
    lines = [orjson.loads(x) for x in err.getvalue().splitlines()]
    assert [line["logger"] for line in lines] == ["py.warnings", "offload"]
    assert "careful" in lines[0]["message"]
    assert lines[1]["message"] == "Exception in thread doomed: uncaught ZeroDivisionError"
    assert "ZeroDivisionError" in lines[1]["exc"]


def test_configure_text_with_its_own_line_format_and_stream(root_logging):
    out = io.StringIO()
    logs.configure("offload-dev", "text", text_format="dev | %(message)s", stream=out)
    logging.getLogger("offload_dev").info("started")
    assert out.getvalue() == "dev | started\n"


def test_granian_gets_the_format_from_the_environment(monkeypatch):
    monkeypatch.setenv("OFFLOAD_LOG_FORMAT", "text")
    assert isinstance(logs.granian_formatter("api"), logs.TextFormatter)
    monkeypatch.delenv("OFFLOAD_LOG_FORMAT")
    assert isinstance(logs.granian_formatter("api"), logs.JsonFormatter)
