"""The SSRF guard: which hosts a metrics sync may connect to.

A tenant names the URL, but the worker makes the request from inside our network, so a host
is refused when ANY address it resolves to is not public: loopback, private (RFC 1918, unique
local), link-local (cloud metadata at 169.254.169.254), carrier-grade NAT, unspecified,
reserved, documentation, multicast, and IPv6 forms that embed such an IPv4 address
(IPv4-mapped, 6to4, Teredo). An operator can allow named hosts anyway with
OFFLOAD_SYNC_ALLOWED_HOSTS (exact host names or IP literals, case-insensitive).

The caller connects only to the addresses checked here (never resolves the name again), so a
DNS answer that changes between the check and the connection cannot slip past the guard.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Collection, Sequence

from offload_shared.errors import PermanentTaskError, RetryLater

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]


class ForbiddenHost(PermanentTaskError):
    """The source's host is not public and not in the allowed hosts."""


class HostUnresolved(RetryLater):
    """The source's host name did not resolve (retryable: DNS outages pass)."""


def normalize(host: str) -> str:
    return host.strip().rstrip(".").lower()


def is_public(address: IPAddress) -> bool:
    """True only for a globally routable unicast address, looking inside IPv6 wrappings."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
        if any(inner is not None and not is_public(inner) for inner in embedded):
            return False
    return address.is_global and not address.is_multicast


def check(host: str, addresses: Sequence[str], allowed: Collection[str]) -> list[str]:
    """Return the addresses to connect to, or raise ForbiddenHost (pure: no DNS here)."""
    if not addresses:
        raise HostUnresolved("the source host has no address")
    if normalize(host) in {normalize(a) for a in allowed}:
        return list(addresses)
    for text in addresses:
        if not is_public(ipaddress.ip_address(text.split("%", 1)[0])):
            raise ForbiddenHost(
                "the source host resolves to a non-public address; an operator can allow it "
                "with OFFLOAD_SYNC_ALLOWED_HOSTS"
            )
    return list(addresses)


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to for a TCP connection, in the resolver's order."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise HostUnresolved("the source host name did not resolve") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def safe_addresses(
    host: str, port: int, allowed: Collection[str], resolver: Resolver = resolve
) -> list[str]:
    """Resolve once and check: the only addresses the request may connect to."""
    return check(host, resolver(host, port), allowed)
