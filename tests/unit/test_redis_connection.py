"""REDIS_URL and its settings become the right redis-py client (no server needed to build one)."""

import pytest
from redis.sentinel import SentinelConnectionPool

from offload_shared.errors import ConfigError
from offload_shared.redis_connection import RedisTarget
from offload_shared.settings import Settings


def kwargs(target: RedisTarget) -> dict:
    return target.client().connection_pool.connection_kwargs


def test_offloads_timeouts_are_added_and_the_urls_own_kept():
    found = kwargs(RedisTarget("redis://localhost:6379/2?socket_timeout=9"))
    assert (found["socket_timeout"], found["socket_connect_timeout"], found["db"]) == (9, 2, 2)


def test_an_acl_user_and_password_come_from_the_url():
    found = kwargs(RedisTarget("redis://offload:s3cret@localhost:6379/0"))
    assert (found["username"], found["password"]) == ("offload", "s3cret")


def test_tls_takes_the_ca_and_client_certificate_settings():
    settings = Settings.from_env(
        {
            "REDIS_URL": "rediss://cache.internal:6380/0",
            "OFFLOAD_REDIS_TLS_CA_FILE": "/etc/offload/ca.pem",
            "OFFLOAD_REDIS_TLS_CERT_FILE": "/etc/offload/client.pem",
            "OFFLOAD_REDIS_TLS_KEY_FILE": "/etc/offload/client.key",
        }
    )
    found = kwargs(settings.redis)
    assert found["ssl_ca_certs"] == "/etc/offload/ca.pem"
    assert (found["ssl_certfile"], found["ssl_keyfile"]) == (
        "/etc/offload/client.pem",
        "/etc/offload/client.key",
    )
    assert found["ssl_cert_reqs"] == "required"


def test_a_sentinel_url_names_the_sentinels_the_master_and_the_database():
    target = RedisTarget(
        "redis+sentinel://app:pw@10.0.0.1:26379,10.0.0.2,[::1]:26380/jobs/3",
        sentinel_password="sentinel-pw",
    )
    pool = target.client().connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "jobs"
    found = pool.connection_kwargs
    assert (found["username"], found["password"], found["db"]) == ("app", "pw", 3)
    manager = pool.sentinel_manager
    assert [
        (s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
        for s in manager.sentinels
    ] == [
        ("10.0.0.1", 26379),
        ("10.0.0.2", 26379),
        ("::1", 26380),
    ]
    assert manager.sentinels[0].connection_pool.connection_kwargs["password"] == "sentinel-pw"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("memcached://localhost", "scheme 'memcached' is not one of"),
        ("redis+sentinel://10.0.0.1:26379", "names the sentinels and the master"),
        ("redis+sentinel://10.0.0.1:x/jobs", "is not host:port"),
        ("redis+sentinel://10.0.0.1/jobs/zero", "must be a number"),
    ],
)
def test_a_bad_url_is_a_config_error_naming_the_problem(url, message):
    with pytest.raises(ConfigError, match=message):
        RedisTarget(url).client()


def test_passwords_stay_out_of_descriptions_and_reprs():
    target = RedisTarget("rediss://app:s3cret@cache:6380/0", sentinel_password="x")
    assert target.describe() == "rediss://app:***@cache:6380/0"
    assert "s3cret" not in repr(target)
    assert RedisTarget("redis://cache:6379/0").describe() == "redis://cache:6379/0"


def test_sentinel_url_options_are_typed_like_redis_py_types_them():
    client = RedisTarget(
        "redis+sentinel://127.0.0.1:26379/mymaster/0?socket_keepalive=false&socket_timeout=1.5"
    ).client()
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["socket_keepalive"], kwargs["socket_timeout"]) == (False, 1.5)


def test_a_malformed_sentinel_address_is_refused_without_echoing_the_url():
    with pytest.raises(ConfigError) as refused:
        RedisTarget("redis+sentinel://app:pa/ss@host:26379/mymaster/0").client()
    assert "pa" not in str(refused.value).replace("address", "")
