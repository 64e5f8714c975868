"""The `offload` command's pure parts: --param values and the API's error answers as one line."""

import json

import click
import pytest

from offload_shared.cli.api_client import describe_error
from offload_shared.cli.task_commands import parse_param


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("n=5", ("n", 5)),
        ("ok=true", ("ok", True)),
        ('to=["a@example.com"]', ("to", ["a@example.com"])),
        ('spec={"a": 1}', ("spec", {"a": 1})),
        ('body="42"', ("body", "42")),
        ("body=Hello Ada", ("body", "Hello Ada")),
        ("to=ada@example.com", ("to", "ada@example.com")),
        ("formula=a=b", ("formula", "a=b")),
        ("empty=", ("empty", "")),
    ],
)
def test_a_param_value_is_json_when_it_parses_else_text(text, expected):
    assert parse_param(text) == expected


@pytest.mark.parametrize("text", ["novalue", "=5"])
def test_a_param_without_a_key_is_a_usage_error(text):
    with pytest.raises(click.BadParameter):
        parse_param(text)


def test_an_error_answer_names_every_bad_field_and_not_werkzeugs_boilerplate():
    body = json.dumps({
        "code": 422, "status": "Unprocessable Entity", "message": "The request was well-formed",
        "errors": {"json": {"priority": ["Must be 1-10."], "params": {"to": {"0": ["Bad."]}}}},
    }).encode()  # fmt: skip
    assert describe_error(422, body) == (
        "422 Unprocessable Entity; json.priority: Must be 1-10.; json.params.to.0: Bad."
    )


def test_an_error_answer_without_fields_gives_its_message():
    body = b'{"code": 409, "status": "Conflict", "message": "task is completed"}'
    assert describe_error(409, body) == "409 Conflict: task is completed"


def test_an_answer_that_is_not_the_error_shape_gives_the_status_alone():
    assert describe_error(502, b"<html>bad gateway</html>") == "the API answered 502"
