"""How every Offload process reaches Redis: one URL (REDIS_URL) and a few settings.

    redis://[user:password@]host:port/db         plain TCP; user and password for an ACL user
    rediss://[user:password@]host:port/db        TLS (OFFLOAD_REDIS_TLS_* name the CA and a
                                                 client certificate, if the server asks for one)
    unix:///path/to/redis.sock?db=0              a local socket
    redis+sentinel://[user:password@]host:port[,host:port...]/master/db
                                                 Sentinel: the sentinels' addresses, the master's
                                                 name; user and password are the master's, the
                                                 sentinels' own password is
                                                 OFFLOAD_REDIS_SENTINEL_PASSWORD
    rediss+sentinel://...                        the same over TLS (sentinels and master)

Query parameters of the URL are redis-py's connection options (e.g. `socket_timeout=5`);
Offload sets timeouts of its own unless the URL does, so that a lost server never hangs a
thread. A Sentinel client asks the sentinels for the master on every new connection and drops
its connections when it finds the master moved, so a failover needs no restart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import redis
from redis.connection import URL_QUERY_ARGUMENT_PARSERS
from redis.sentinel import Sentinel

from offload_shared.errors import ConfigError

# Keep a lost server from hanging a thread, and check idle connections before reuse.
TIMEOUTS = {"socket_timeout": "5", "socket_connect_timeout": "2", "health_check_interval": "30"}
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
DEFAULT_SENTINEL_PORT = 26379


@dataclass(frozen=True)
class RedisTarget:
    """A Redis URL and the settings that go with it (README: Configuration)."""

    url: str = field(repr=False)  # may hold a password
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme

    @property
    def tls(self) -> bool:
        return self.scheme in ("rediss", "rediss+sentinel")

    def describe(self) -> str:
        """The URL without its password, for logs."""
        parts = urlsplit(self.url)
        if parts.password is None and "@" not in parts.netloc:
            return self.url
        userinfo, _, hosts = parts.netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        return urlunsplit(parts._replace(netloc=f"{user}:***@{hosts}" if user else f":***@{hosts}"))

    def client(self) -> redis.Redis:
        """A client with its own connection pool."""
        if self.scheme in SENTINEL_SCHEMES:
            return self._sentinel_client()
        if self.scheme not in ("redis", "rediss", "unix"):
            raise ConfigError(
                f"REDIS_URL scheme {self.scheme!r} is not one of redis, rediss, unix, "
                "redis+sentinel, rediss+sentinel"
            )
        parts = urlsplit(self.url)
        query = dict(parse_qsl(parts.query))
        for key, value in TIMEOUTS.items():
            query.setdefault(key, value)
        url = urlunsplit(parts._replace(query=urlencode(query)))
        return redis.Redis.from_url(url, **self._tls_options())

    def _tls_options(self) -> dict[str, Any]:
        if not self.tls:
            return {}
        options: dict[str, Any] = {"ssl_cert_reqs": "required"}
        if self.tls_ca_file:
            options["ssl_ca_certs"] = self.tls_ca_file
        if self.tls_cert_file:
            options["ssl_certfile"] = self.tls_cert_file
        if self.tls_key_file:
            options["ssl_keyfile"] = self.tls_key_file
        return options

    def _sentinel_client(self) -> redis.Redis:
        parts = urlsplit(self.url)
        userinfo, _, hostlist = parts.netloc.rpartition("@")
        username, _, password = userinfo.partition(":")
        sentinels = [_address(h) for h in hostlist.split(",") if h]
        path = [p for p in parts.path.split("/") if p]
        if not sentinels or not path:
            raise ConfigError(
                "a Sentinel REDIS_URL names the sentinels and the master: "
                "redis+sentinel://host:26379,host2:26379/mymaster/0"
            )
        master = unquote(path[0])
        try:
            db = int(path[1]) if len(path) > 1 else 0
        except ValueError:
            raise ConfigError("the database in a Sentinel REDIS_URL must be a number") from None
        options: dict[str, Any] = {k: _option(k, v) for k, v in TIMEOUTS.items()}
        options.update({k: _option(k, v) for k, v in parse_qsl(parts.query)})
        if self.tls:
            options["ssl"] = True
            options.update(self._tls_options())
        sentinel_options = dict(options)
        if self.sentinel_password:
            sentinel_options["password"] = self.sentinel_password
        manager = Sentinel(
            sentinels,
            sentinel_kwargs=sentinel_options,
            username=unquote(username) or None,
            password=unquote(password) or None,
            db=db,
            **options,
        )
        return manager.master_for(master)


def _address(hostport: str) -> tuple[str, int]:
    host, _, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "")
    try:
        return host.strip("[]"), int(port) if port else DEFAULT_SENTINEL_PORT
    except ValueError:
        # Not the text itself: a password with an unencoded "/" or "@" ends up here.
        raise ConfigError("a sentinel address in REDIS_URL is not host:port") from None


def _option(name: str, value: str) -> Any:
    """A URL query option typed the way redis-py types it in from_url (booleans, numbers)."""
    parse: Callable[[str], Any] | None = URL_QUERY_ARGUMENT_PARSERS.get(name)  # type: ignore[assignment]
    if parse is not None:
        try:
            return parse(value)
        except (TypeError, ValueError):
            raise ConfigError(f"REDIS_URL option {name} has a malformed value") from None
    return value
