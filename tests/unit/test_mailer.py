"""The mailer's decisions that need no server: who receives a message, and retry or give up."""

import pytest

from offload_email_worker import mailer, messages
from offload_shared.errors import PermanentTaskError


def test_the_envelope_has_to_cc_and_bcc_once_each_in_order():
    msg = messages.compose(
        messages.Content("s", text="b"),
        sender="app@example.com",
        to=["a@example.com", "b@example.com"],
        cc=["c@example.com", "a@example.com"],
        message_id="<m@offload>",
    )
    msg["Bcc"] = "hidden@example.com"
    assert mailer.envelope_recipients(msg) == [
        "a@example.com",
        "b@example.com",
        "c@example.com",
        "hidden@example.com",
    ]


def test_a_quoted_address_with_a_comma_stays_one_recipient():
    msg = messages.compose(
        messages.Content("s", text="b"),
        sender="app@example.com",
        to=['"doe, jane"@example.com', "b@example.com"],
        message_id="<m@offload>",
    )
    assert mailer.envelope_recipients(msg) == ['"doe, jane"@example.com', "b@example.com"]


def test_reply_text_puts_code_and_reply_on_one_line():
    assert mailer.reply_text(451, b"4.3.0 try\nlater") == "SMTP 451 4.3.0 try later"
    assert mailer.reply_text(550, "5.1.1 no such user") == "SMTP 550 5.1.1 no such user"


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (421, mailer.TemporarySmtpError),
        (451, mailer.TemporarySmtpError),
        (454, mailer.TemporarySmtpError),
        (-1, mailer.TemporarySmtpError),
        (500, PermanentTaskError),
        (535, PermanentTaskError),
        (554, PermanentTaskError),
    ],
)
def test_a_reply_is_permanent_only_when_it_is_5xx(code, kind):
    error = mailer.reply_error(code, b"reply text")
    assert type(error) is kind
    assert str(error) == f"SMTP {code} reply text"


def test_recipients_all_refused_for_good_is_permanent():
    error = mailer.refused_error(
        {"a@example.com": (550, b"5.1.1 no such user"), "b@example.com": (553, b"5.1.3 bad")}
    )
    assert isinstance(error, PermanentTaskError)
    assert str(error) == "SMTP 550 5.1.1 no such user (2 recipient(s) refused)"


def test_any_temporary_refusal_makes_it_retryable_and_names_that_reply():
    error = mailer.refused_error(
        {"a@example.com": (550, b"5.1.1 no such user"), "b@example.com": (450, b"4.2.1 busy")}
    )
    assert isinstance(error, mailer.TemporarySmtpError)
    assert str(error) == "SMTP 450 4.2.1 busy (2 recipient(s) refused)"
