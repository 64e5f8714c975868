"""What fetch_json refuses before any connection is made."""

import pytest

from offload_analytics_worker import hosts, http_fetch
from offload_shared.errors import PermanentTaskError


def no_dns(host, port):
    raise AssertionError("must not resolve")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/m.json", "http or https"),
        ("file:///etc/passwd", "http or https"),
        ("https://user:pw@example.com/m", "credentials"),
        ("https://example.com:99999/m", "invalid port"),
        ("https:///m", "no host"),
    ],
)
def test_urls_that_are_not_plain_http_are_refused_without_a_lookup(url, message):
    with pytest.raises(PermanentTaskError, match=message) as err:
        http_fetch.fetch_json(url, timeout=1, max_bytes=10, resolver=no_dns)
    assert "pw" not in str(err.value)


def test_a_private_host_is_refused_before_connecting():
    with pytest.raises(hosts.ForbiddenHost):
        http_fetch.fetch_json(
            "http://intranet.example/m",
            timeout=1,
            max_bytes=10,
            resolver=lambda host, port: ["192.168.0.10"],
        )


def test_a_dns_failure_is_retryable():
    def failing(host, port):
        raise hosts.HostUnresolved("the source host name did not resolve")

    with pytest.raises(http_fetch.SourceUnavailable, match="did not resolve"):
        http_fetch.fetch_json("https://gone.example/m", timeout=1, max_bytes=10, resolver=failing)
