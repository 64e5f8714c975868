"""Masking of task params (offload_shared/masking.py): the rule, at every depth."""

import pytest
from marshmallow import Schema, fields

from offload_shared.masking import MASK, looks_secret, mask, masked_params


@pytest.mark.parametrize(
    "name",
    ["password", "db_password", "X-Api-Key", "api_key", "apikey", "AUTH_TOKEN", "secret",
     "client_secret", "Authorization", "private_key", "key", "pin", "otp", "session_id",
     "refresh-token", "auth"],
)  # fmt: skip
def test_names_that_look_secret(name):
    assert looks_secret(name)


@pytest.mark.parametrize("name", ["monkey", "keys", "author", "subject", "to", "report_name"])
def test_names_that_do_not(name):
    assert not looks_secret(name)


def test_values_are_masked_at_every_depth_and_urls_lose_their_credentials():
    params = {
        "to": ["a@example.com"],
        "context": {"name": "Ada", "reset_token": "abc", "nested": [{"password": 123}]},
        "source_url": "https://user:hunter2@metrics.example.com:8443/v1?x=1",
        "plain_url": "https://metrics.example.com/v1",
    }
    shown = masked_params("email.send_notification", params)
    assert shown["to"] == ["a@example.com"]
    assert shown["context"] == {"name": "Ada", "reset_token": MASK, "nested": [{"password": MASK}]}
    assert shown["source_url"] == f"https://{MASK}@metrics.example.com:8443/v1?x=1"
    assert shown["plain_url"] == "https://metrics.example.com/v1"
    assert params["context"]["reset_token"] == "abc"  # the task's own params are untouched


class _SignParams(Schema):
    document = fields.String()
    seed_phrase = fields.String(metadata={"secret": True})


def test_a_field_the_schema_marks_secret_is_masked_whatever_its_name():
    shown = mask({"document": "d1", "seed_phrase": "correct horse"}, _SignParams())
    assert shown == {"document": "d1", "seed_phrase": MASK}


def test_a_task_not_in_the_catalog_is_masked_by_names_alone():
    assert masked_params("gone.task", {"token": "t", "n": 1}) == {"token": MASK, "n": 1}
