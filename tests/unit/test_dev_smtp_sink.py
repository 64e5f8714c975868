"""offload_dev.smtp_sink: one log line per message, never the body; clean stop on SIGTERM."""

import signal
import smtplib
import sys
from email.message import EmailMessage

from offload_dev.procs import free_port, port_open, spawn, stop_all, wait_until


def test_sink_logs_saves_and_stops_cleanly(tmp_path, capfd):
    port = free_port()
    mail_dir = tmp_path / "mail"
    argv = [sys.executable, "-m", "offload_dev.smtp_sink", "--port", str(port)]
    sink = spawn("sink", [*argv, "--save-dir", str(mail_dir)])
    try:
        wait_until(lambda: port_open("127.0.0.1", port), sink, 20, "listening")
        msg = EmailMessage()
        msg["From"] = "app@example.com"
        msg["To"] = "someone@example.com"
        msg["Subject"] = "Your report is ready"
        msg.set_content("the secret body")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.login("any-user", "any-password")  # every login is accepted
            smtp.send_message(msg, to_addrs=["someone@example.com", "other@example.com"])
        sink.signal_leader(signal.SIGTERM)
        assert sink.popen.wait(10) == 0
    finally:
        stop_all([sink])
    out = capfd.readouterr().out
    line = next(line for line in out.splitlines() if "email from=" in line)
    assert "from=app@example.com to=someone@example.com,other@example.com" in line
    assert "subject='Your report is ready'" in line
    assert "size=" in line
    assert "secret body" not in out
    assert "any-password" not in out
    assert "SMTP sink stopped" in out
    saved = list(mail_dir.glob("*.eml"))
    assert len(saved) == 1
    assert b"the secret body" in saved[0].read_bytes()
