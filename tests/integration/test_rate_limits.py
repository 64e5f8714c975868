"""429s from the token buckets in Redis: per key, per tenant, per client sending bad keys; and
the API taking tasks with no limits at all while Redis is away."""

import logging
import secrets

from offload_shared.apikeys import create_key
from offload_shared.ratelimit import Bucket, RateLimiter
from offload_shared.store import TaskFilter, TaskStore
from tests.conftest import EMAIL, EMAIL_PARAMS

ENQUEUE = {"task_name": EMAIL, "params": EMAIL_PARAMS}


def _get(client, key, addr="10.0.0.1"):
    return client.get(
        "/api/tasks/count/all",
        headers={"Authorization": f"Bearer {key}"},
        environ_base={"REMOTE_ADDR": addr},
    )


def _assert_429(response):
    assert response.status_code == 429
    body = response.get_json()
    assert body["code"] == 429
    assert body["status"] == "Too Many Requests"
    assert "message" in body
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    return retry_after


def test_a_key_over_its_burst_gets_429_with_retry_after(make_api, redis_client, db, tenant):
    app = make_api(OFFLOAD_RATE_LIMIT_PER_KEY="0.5", OFFLOAD_RATE_LIMIT_PER_KEY_BURST="3")
    c = app.test_client()
    key = create_key(db, tenant)
    assert [_get(c, key).status_code for _ in range(3)] == [200, 200, 200]
    assert _assert_429(_get(c, key)) == 2  # one token at 0.5/s: two seconds
    other = create_key(db, tenant)  # another key of the tenant has its own bucket
    assert _get(c, other).status_code == 200


def test_a_tenant_is_limited_across_its_keys(make_api, redis_client, db, tenant):
    app = make_api(OFFLOAD_RATE_LIMIT_PER_TENANT="1", OFFLOAD_RATE_LIMIT_PER_TENANT_BURST="4")
    c = app.test_client()
    keys = [create_key(db, tenant) for _ in range(2)]
    assert [_get(c, keys[i % 2]).status_code for i in range(4)] == [200] * 4
    _assert_429(_get(c, keys[0]))
    _assert_429(_get(c, keys[1]))
    assert _get(c, create_key(db, f"{tenant}-b")).status_code == 200  # other tenants are not


def test_a_refused_request_takes_no_token(redis_client):
    limiter = RateLimiter(redis_client)
    small, big = Bucket("t:small", 1, 1), Bucket("t:big", 1, 2)
    assert limiter.take([small, big]) == 0
    assert limiter.take([small, big]) > 0  # small is empty: big keeps its token
    assert limiter.take([big]) == 0
    assert limiter.take([big]) > 0
    assert redis_client.pttl("offload:ratelimit:t:big") > 0  # buckets expire when idle


def test_a_client_sending_bad_keys_is_throttled_without_lookups(make_api, redis_client, db, tenant):
    app = make_api(OFFLOAD_BAD_AUTH_PER_CLIENT="0.1", OFFLOAD_BAD_AUTH_BURST="3")
    resolver = app.extensions["offload"].keys
    c = app.test_client()
    good = create_key(db, tenant)
    assert _get(c, good).status_code == 200  # cached before the attack begins
    statuses = [_get(c, "ofk_" + secrets.token_urlsafe(32)).status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    lookups = resolver.lookups
    assert _assert_429(_get(c, "ofk_" + secrets.token_urlsafe(32))) == 10
    assert _assert_429(_get(c, "not even a key")) == 10
    assert resolver.lookups == lookups  # the throttled client costs Postgres nothing
    assert _get(c, good).status_code == 200  # a cached good key from there still works
    assert _get(c, "ofk_" + secrets.token_urlsafe(32), addr="10.0.0.2").status_code == 401


def _bad_key(client, addr, forwarded=None):
    headers = {"Authorization": "Bearer not even a key"}
    if forwarded:
        headers["X-Forwarded-For"] = forwarded
    return client.get("/api/tasks/count/all", headers=headers, environ_base={"REMOTE_ADDR": addr})


def test_x_forwarded_for_is_ignored_unless_proxies_are_trusted(make_api, redis_client):
    app = make_api(OFFLOAD_BAD_AUTH_PER_CLIENT="0.1", OFFLOAD_BAD_AUTH_BURST="1")
    c = app.test_client()
    assert _bad_key(c, "10.0.1.1", "198.51.100.1").status_code == 401
    # Another forged client address from the same connection address: the same bucket.
    _assert_429(_bad_key(c, "10.0.1.1", "198.51.100.2"))


def test_behind_trusted_proxies_the_client_is_the_outermost_ones_view(make_api, redis_client):
    app = make_api(
        OFFLOAD_TRUSTED_PROXY_HOPS="2",
        OFFLOAD_BAD_AUTH_PER_CLIENT="0.1",
        OFFLOAD_BAD_AUTH_BURST="1",
    )
    c = app.test_client()
    # forged, then the client the load balancer saw, then the load balancer nginx saw
    chain = "203.0.113.7, 198.51.100.3, 10.0.2.9"
    assert _bad_key(c, "10.0.2.1", chain).status_code == 401
    _assert_429(_bad_key(c, "10.0.2.1", "203.0.113.8, 198.51.100.3, 10.0.2.9"))  # forged part
    assert _bad_key(c, "10.0.2.1", "198.51.100.4, 10.0.2.9").status_code == 401  # another client


def test_with_redis_down_limits_fail_open_and_tasks_wait_in_the_outbox(
    make_api, db, tenant, api_key, caplog
):
    app = make_api(REDIS_URL="redis://127.0.0.1:1/0", OFFLOAD_RATE_LIMIT_PER_KEY_BURST="1")
    c = app.test_client()
    headers = {"Authorization": f"Bearer {api_key}"}
    with caplog.at_level(logging.WARNING, logger="offload_shared.ratelimit"):
        answers = [c.post("/api/tasks/enqueue", json=ENQUEUE, headers=headers) for _ in range(3)]
    assert [r.status_code for r in answers] == [202, 202, 202]
    assert TaskStore(db).count(tenant, TaskFilter()) == 3
    with db.connection() as conn:
        ids = [r.get_json()["task_id"] for r in answers]
        waiting = conn.execute(
            "SELECT count(*) AS n FROM offload.outbox WHERE task_id::text = ANY(%s)", (ids,)
        ).fetchone()
    assert waiting["n"] == 3
    warnings = [r for r in caplog.records if "rate limits not enforced" in r.getMessage()]
    assert len(warnings) == 1  # at most once a minute


def test_the_limiter_retries_redis_after_a_pause(redis_client):
    class Clock:
        now = 0.0

        def __call__(self):
            return self.now

    clock = Clock()
    dead = RateLimiter(redis_client.__class__.from_url("redis://127.0.0.1:1/0"), clock=clock)
    bucket = Bucket("t:pause", 1, 1)
    assert dead.take([bucket]) == 0  # fails open
    live = RateLimiter(redis_client, clock=clock)
    live._skip_until = dead._skip_until  # the same state, on a Redis that answers
    assert live.take([bucket]) == 0
    assert live.take([bucket]) == 0
    clock.now += 5
    assert live.take([bucket]) == 0
    assert live.take([bucket]) > 0


def test_the_limiter_shares_the_brokers_redis_connections(app):
    svc = app.extensions["offload"]
    assert svc.limiter.client is svc.publisher.broker.client
