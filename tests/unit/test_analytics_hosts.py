"""The SSRF guard: only public addresses, unless an operator allowed the host by name."""

import ipaddress

import pytest

from offload_analytics_worker import hosts
from offload_shared.errors import PermanentTaskError

NOT_PUBLIC = [
    "127.0.0.1",  # loopback
    "127.8.9.10",
    "::1",
    "10.1.2.3",  # private
    "172.16.0.1",
    "192.168.1.1",
    "fd00::1",  # unique local
    "169.254.169.254",  # link-local: cloud metadata
    "fe80::1",
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",  # noqa: S104 - unspecified
    "::",
    "224.0.0.1",  # multicast
    "ff02::1",
    "192.0.2.10",  # documentation
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:10.0.0.1",
    "2002:7f00:1::",  # 6to4 wrapping 127.0.0.1
    "2002:a9fe:a9fe::",  # 6to4 wrapping 169.254.169.254
]
PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "2002:5db8:d822::"]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_non_public_addresses_are_refused(address):
    assert not hosts.is_public(ipaddress.ip_address(address))
    with pytest.raises(hosts.ForbiddenHost) as err:
        hosts.check("metrics.example.com", [address], allowed=())
    assert isinstance(err.value, PermanentTaskError)  # retrying cannot fix it
    assert address not in str(err.value)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address):
    assert hosts.is_public(ipaddress.ip_address(address))
    assert hosts.check("metrics.example.com", [address], allowed=()) == [address]


def test_one_private_answer_among_public_ones_refuses_the_host():
    with pytest.raises(hosts.ForbiddenHost):
        hosts.check("mixed.example.com", ["93.184.216.34", "10.0.0.7"], allowed=())


@pytest.mark.parametrize("name", ["internal.example", "INTERNAL.example.", " internal.example "])
def test_an_allowed_host_passes_whatever_it_resolves_to(name):
    addresses = ["10.0.0.7", "127.0.0.1"]
    assert hosts.check(name, addresses, allowed={"internal.example"}) == addresses


def test_allowing_an_address_does_not_allow_a_name_that_resolves_to_it():
    with pytest.raises(hosts.ForbiddenHost):
        hosts.check("localhost", ["127.0.0.1"], allowed={"127.0.0.1"})


def test_safe_addresses_checks_what_the_resolver_answers():
    asked = []

    def resolver(host, port):
        asked.append((host, port))
        return ["169.254.169.254"]

    with pytest.raises(hosts.ForbiddenHost):
        hosts.safe_addresses("rebind.example.com", 443, allowed=(), resolver=resolver)
    assert asked == [("rebind.example.com", 443)]


def test_a_name_without_addresses_is_unresolved_and_retryable():
    with pytest.raises(hosts.HostUnresolved) as err:
        hosts.safe_addresses("nowhere.example", 80, allowed=(), resolver=lambda h, p: [])
    assert not isinstance(err.value, PermanentTaskError)


def test_resolve_returns_each_address_once():
    assert hosts.resolve("127.0.0.1", 80) == ["127.0.0.1"]
