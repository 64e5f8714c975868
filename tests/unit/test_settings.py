from operator import attrgetter
from pathlib import Path

import pytest

from offload_shared import settings
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


README = Path(__file__).resolve().parents[2] / "README.md"


def readme_settings() -> dict[str, str]:
    """The README's configuration table: variable -> its default cell (services' only)."""
    text = README.read_text(encoding="utf-8")
    table = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[0].startswith("`") and "tests" not in cells[2]:
            rows[cells[0].strip("`")] = cells[1]
    return rows


def test_the_readme_table_lists_exactly_the_declared_settings_with_their_defaults():
    documented = readme_settings()
    declared = {spec.env: spec.readme_default(default) for _, spec, default in settings.declared()}
    assert documented == declared


SPECIAL = {
    "DATABASE_URL": "postgresql://elsewhere/db",
    "OFFLOAD_SMTP_SECURITY": "ssl",
    "OFFLOAD_SMTP_PORT": "2525",
    "OFFLOAD_IDEMPOTENCY_TTL_HOURS": "72",
    "OFFLOAD_TASK_LIMITS": "email.*=10/s",
    "OFFLOAD_LOG_FORMAT": "text",
    "OFFLOAD_LOG_LEVEL": "debug",
}


def sample_for(path: str, env: str) -> str:
    """A valid value unlike the default, by the setting's type."""
    if env in SPECIAL:
        return SPECIAL[env]
    default = attrgetter(path)(Settings())
    if isinstance(default, bool):
        return "true"
    if isinstance(default, int):
        return "7777"
    if isinstance(default, float):
        return "7.5"
    return "sample,other"  # text, optional text, comma-separated lists


@pytest.mark.parametrize(("path", "env"), [(p, spec.env) for p, spec, _ in settings.declared()])
def test_every_declared_setting_is_read_from_its_variable(path, env):
    loaded = attrgetter(path)(Settings.from_env({env: sample_for(path, env)}))
    assert loaded != attrgetter(path)(Settings.from_env({})), f"{env} is not read"


def test_a_malformed_database_url_stops_the_service_naming_the_variable():
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"DATABASE_URL": "postgresql://u:pw@host:notaport/db?sslmode=x y"})
    assert "DATABASE_URL" in str(err.value)
    assert "pw" not in str(err.value)


def test_text_is_kept_as_given_and_numbers_are_read_without_blanks():
    s = Settings.from_env({"OFFLOAD_SMTP_PASSWORD": " pass phrase ", "API_PORT": " 9000 "})
    assert (s.smtp.password, s.api_port) == (" pass phrase ", 9000)
