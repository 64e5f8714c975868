import pytest

from offload_shared.errors import ConfigError
from offload_shared.settings import Settings


def test_defaults_without_environment():
    s = Settings.from_env({})
    assert s.api_port == 8000
    assert s.smtp.security == "none"
    assert s.smtp.port == 25


def test_reads_every_documented_variable():
    s = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://db/x",
            "REDIS_URL": "redis://r:6379/3",
            "API_PORT": "9000",
            "OFFLOAD_SMTP_HOST": "mail",
            "OFFLOAD_SMTP_SECURITY": "starttls",
            "OFFLOAD_SMTP_USERNAME": "u",
            "OFFLOAD_SMTP_PASSWORD": "secret-pw",
            "OFFLOAD_SMTP_TIMEOUT": "2.5",
            "OFFLOAD_WORKER_THREADS": "8",
        }
    )
    assert (s.database_url, s.redis_url, s.api_port) == (
        "postgresql://db/x",
        "redis://r:6379/3",
        9000,
    )
    assert (s.smtp.host, s.smtp.port, s.smtp.timeout) == ("mail", 587, 2.5)
    assert s.worker_threads == 8


def test_password_never_appears_in_repr():
    s = Settings.from_env({"OFFLOAD_SMTP_PASSWORD": "secret-pw"})
    assert "secret-pw" not in repr(s)


@pytest.mark.parametrize(
    ("name", "value"),
    [("API_PORT", "eighty"), ("OFFLOAD_SMTP_SECURITY", "tls13"), ("OFFLOAD_SMTP_TIMEOUT", "-1")],
)
def test_bad_value_names_the_variable_not_the_value(name, value):
    with pytest.raises(ConfigError) as err:
        Settings.from_env({name: value})
    assert name in str(err.value)
    assert value not in str(err.value)
