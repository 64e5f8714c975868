"""Building the emails: headers, body parts, templates, and what reaches the wire."""

import email
import uuid
from email import policy

import pytest

from offload_email_worker import messages
from offload_shared.catalog import get_spec

SENDER = "Offload <noreply@example.com>"
MESSAGE_ID = "<0f9c2d3e-0000-4000-8000-000000000000@offload>"


def notification(**params):
    loaded = get_spec("email.send_notification").load_params(params)
    return messages.build_notification(loaded, sender=SENDER, message_id=MESSAGE_ID)


def confirmation(**params):
    loaded = get_spec("email.send_confirmation").load_params(params)
    return messages.build_confirmation(loaded, sender=SENDER, message_id=MESSAGE_ID)


def on_the_wire(msg):
    """The message as a server receives it."""
    return email.message_from_bytes(msg.as_bytes(), policy=policy.default)


def parts(msg):
    return [(part.get_content_type(), part.get_content()) for part in msg.iter_parts()]


def test_a_text_notification_has_every_header_and_one_text_part():
    msg = on_the_wire(
        notification(
            to=["a@example.com", "b@example.com"],
            cc=["c@example.com"],
            reply_to="help@example.com",
            subject="Hello",
            body="Hi there",
        )
    )
    assert msg["From"] == SENDER
    assert msg["To"] == "a@example.com, b@example.com"
    assert msg["Cc"] == "c@example.com"
    assert msg["Reply-To"] == "help@example.com"
    assert msg["Subject"] == "Hello"
    assert msg["Message-ID"] == MESSAGE_ID
    assert msg["Date"] is not None
    assert not msg.is_multipart()
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content() == "Hi there\n"


def test_optional_headers_are_left_out_when_not_given():
    msg = on_the_wire(notification(to="a@example.com", subject="s", body="b"))
    assert (msg["Cc"], msg["Reply-To"], msg["Bcc"]) == (None, None, None)


def test_text_and_html_make_a_multipart_alternative_plain_first():
    msg = on_the_wire(
        notification(to="a@example.com", subject="s", body="plain", html="<p>rich</p>")
    )
    assert msg.get_content_type() == "multipart/alternative"
    assert parts(msg) == [("text/plain", "plain\n"), ("text/html", "<p>rich</p>\n")]


def test_html_alone_is_one_html_part():
    msg = on_the_wire(notification(to="a@example.com", subject="s", html="<p>rich</p>"))
    assert not msg.is_multipart()
    assert (msg.get_content_type(), msg.get_content()) == ("text/html", "<p>rich</p>\n")


def test_a_template_supplies_subject_text_and_html():
    msg = on_the_wire(notification(to="a@example.com", template="welcome", context={"name": "Ada"}))
    assert msg["Subject"] == "Welcome, Ada"
    [(text_type, text), (html_type, html)] = parts(msg)
    assert (text_type, html_type) == ("text/plain", "text/html")
    assert text.startswith("Hello Ada,")
    assert "<p>Hello Ada,</p>" in html


def test_an_explicit_subject_overrides_the_templates():
    msg = notification(
        to="a@example.com", subject="Mine", template="welcome", context={"name": "Ada"}
    )
    assert msg["Subject"] == "Mine"


def test_hostile_context_is_escaped_in_html_and_cannot_add_headers():
    hostile = '<script>alert("x")</script>\r\nBcc: victim@example.com\u2028Cc: c@example.com\x85'
    msg = on_the_wire(
        notification(
            to="a@example.com",
            template="notification",
            context={"title": hostile, "message": "<img src=x onerror=alert(1)> & more"},
        )
    )
    assert msg["Bcc"] is None
    assert "\n" not in msg["Subject"]
    assert "\r" not in msg["Subject"]
    assert msg["Cc"] is None
    assert not {"\u2028", "\x85"} & set(str(msg["Subject"]))
    assert msg["Subject"].startswith("<script>")  # a subject is text: shown, never run
    [(_, text), (_, html)] = parts(msg)
    assert "<script>" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; more" in html
    assert "<img src=x onerror=alert(1)> & more" in text  # the text part is plain text


def test_a_confirmation_renders_the_record_and_its_summary():
    msg = on_the_wire(
        confirmation(
            record_id="ORD-42",
            recipient="buyer@example.com",
            record_title="Order",
            record_summary={"total": "12.50 EUR", "items": 3, "note": "<b>fragile</b>"},
        )
    )
    assert msg["To"] == "buyer@example.com"
    assert msg["From"] == SENDER
    assert msg["Subject"] == "Confirmation: Order ORD-42"
    assert msg["Message-ID"] == MESSAGE_ID
    [(_, text), (_, html)] = parts(msg)
    assert "This confirms Order ORD-42." in text
    assert "  total: 12.50 EUR\n" in text
    assert "  items: 3\n" in text
    assert "<strong>ORD-42</strong>" in html
    assert "<td>&lt;b&gt;fragile&lt;/b&gt;</td>" in html


def test_a_confirmation_without_summary_uses_the_defaults():
    msg = on_the_wire(confirmation(record_id="7", recipient="b@example.com"))
    assert msg["Subject"] == "Confirmation: record 7"
    [(_, text), (_, html)] = parts(msg)
    assert "Summary" not in text
    assert "<table>" not in html


def test_a_message_needs_a_body():
    with pytest.raises(ValueError, match="body"):
        messages.compose(
            messages.Content("s"), sender=SENDER, to=["a@example.com"], message_id=MESSAGE_ID
        )


def test_message_id_is_derived_from_the_task_id():
    task_id = uuid.uuid4()
    assert messages.message_id_for(task_id) == f"<{task_id}@offload>"
    assert messages.message_id_for(task_id) == messages.message_id_for(uuid.UUID(str(task_id)))
    assert messages.message_id_for(task_id) != messages.message_id_for(uuid.uuid4())
