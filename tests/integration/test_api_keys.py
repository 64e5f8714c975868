"""API keys' life: revocation, rotation, expiry, the caches in front of Postgres and last-used
times. Time moves by an injected clock or by dates set in the past, never by sleeping."""

import secrets
from datetime import timedelta

import pytest

from offload_shared import apikeys
from offload_shared.apikeys import KeyResolver, create, create_key, hash_key
from offload_shared.errors import ConfigError, NotFound


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _get(client, key):
    return client.get("/api/tasks/", headers={"Authorization": f"Bearer {key}"})


def _state(db, key_id):
    [info] = [k for k in apikeys.list_keys(db) if k.id == key_id]
    return info


@pytest.fixture
def clock(app) -> Clock:
    """The API's key cache on a clock the test moves."""
    c = Clock()
    app.extensions["offload"].keys.clock = c
    return c


def test_a_revoked_key_is_refused_once_the_cache_bound_has_passed(app, db, tenant, clock):
    made = create(db, tenant)
    c = app.test_client()
    assert _get(c, made.key).status_code == 200
    apikeys.revoke_key(db, made.id)
    ttl = app.extensions["offload"].keys.ttl
    assert ttl == 10.0  # OFFLOAD_API_KEY_CACHE_SECONDS's default: the documented bound
    clock.now += ttl - 0.5
    assert _get(c, made.key).status_code == 200  # still within the bound
    clock.now += 1
    response = _get(c, made.key)
    assert response.status_code == 401
    assert made.key not in response.get_data(as_text=True)
    assert _state(db, made.id).state == "revoked"


def test_revoking_an_unknown_key_is_not_found(db):
    import uuid

    with pytest.raises(NotFound):
        apikeys.revoke_key(db, uuid.uuid4())


def test_rotation_keeps_the_old_secret_for_the_grace_period_only(app, db, tenant, clock):
    made = create(db, tenant, name="deploy")
    c = app.test_client()
    new, _ = apikeys.rotate_key(db, made.id, timedelta(hours=24))
    assert new != made.key
    assert new.startswith("ofk_")
    assert _get(c, made.key).status_code == 200
    assert _get(c, new).status_code == 200
    info = _state(db, made.id)
    assert info.state == "rotating"
    assert info.prefix == new[:8]
    assert info.name == "deploy"
    # the grace period ends (set in the past), and the cache's bound passes
    with db.connection() as conn:
        conn.execute(
            "UPDATE offload.api_keys SET previous_valid_until = now() - interval '1 s' "
            "WHERE id = %s",
            (made.id,),
        )
    clock.now += 11
    assert _get(c, made.key).status_code == 401
    assert _get(c, new).status_code == 200
    assert _state(db, made.id).state == "active"


def test_revoking_a_rotating_key_stops_both_secrets(db, tenant):
    made = create(db, tenant)
    new, _ = apikeys.rotate_key(db, made.id, timedelta(hours=1))
    apikeys.revoke_key(db, made.id)
    resolver = KeyResolver(db)
    assert resolver.resolve(made.key) is None
    assert resolver.resolve(new) is None
    with pytest.raises(NotFound):
        apikeys.rotate_key(db, made.id, timedelta(hours=1))


def test_an_expired_key_is_refused_and_listed_as_expired(db, tenant):
    made = create(db, tenant, expires_in=timedelta(days=90))
    assert made.expires_at is not None
    assert (made.expires_at - made.created_at) == timedelta(days=90)
    assert KeyResolver(db).resolve(made.key).tenant == tenant
    with db.connection() as conn:
        conn.execute(
            "UPDATE offload.api_keys SET expires_at = now() - interval '1 s' WHERE id = %s",
            (made.id,),
        )
    assert KeyResolver(db).resolve(made.key) is None
    assert _state(db, made.id).state == "expired"


def test_a_cached_grant_never_outlives_its_expiry(db, tenant):
    made = create(db, tenant, expires_in=timedelta(seconds=3))
    clock = Clock()
    resolver = KeyResolver(db, ttl_seconds=60, clock=clock)
    assert resolver.resolve(made.key) is not None
    [cached] = resolver._cache.values()
    assert cached.until <= clock.now + 3


def test_keys_made_before_scopes_keep_every_scope(infra, db, tenant):
    """Migration 0006 gives existing keys all scopes (and later ones name theirs)."""
    from offload_shared import migrate

    latest = migrate.available()[-1].version
    migrate.migrate(infra.database_url, 5)
    try:
        key = "ofk_" + secrets.token_urlsafe(32)
        with db.connection() as conn:
            conn.execute(
                "INSERT INTO offload.api_keys (id, tenant, key_hash, prefix) "
                "VALUES (gen_random_uuid(), %s, %s, 'ofk_old')",
                (tenant, hash_key(key)),
            )
    finally:
        migrate.migrate(infra.database_url, latest)
    grant = KeyResolver(db).resolve(key)
    assert grant is not None
    assert grant.scopes == {"read", "enqueue", "admin"}


def test_the_database_refuses_an_unknown_scope(db, tenant):
    from offload_shared.errors import StoreError

    with pytest.raises(StoreError), db.connection() as conn:
        conn.execute(
            "INSERT INTO offload.api_keys (id, tenant, key_hash, prefix, scopes) "
            "VALUES (gen_random_uuid(), %s, 'h-' || gen_random_uuid(), 'p', '{root}')",
            (tenant,),
        )


def test_scopes_are_checked_and_ordered(db, tenant):
    assert apikeys.parse_scopes(["enqueue,read", "read"]) == ("read", "enqueue")
    with pytest.raises(ConfigError, match="unknown scope"):
        create_key(db, tenant, scopes=["root"])
    with pytest.raises(ConfigError, match="at least one"):
        apikeys.parse_scopes([" , "])


def test_a_string_not_shaped_like_a_key_never_reaches_postgres(db):
    resolver = KeyResolver(db)
    for junk in ("", "x", "ofk_short", "Bearer", "ofk_" + "!" * 43, "ofk_" + "a" * 44):
        assert resolver.resolve(junk) is None
    assert resolver.lookups == 0


def test_an_unknown_key_is_looked_up_once(db):
    resolver = KeyResolver(db)
    unknown = "ofk_" + secrets.token_urlsafe(32)
    for _ in range(5):
        assert resolver.resolve(unknown) is None
    assert resolver.lookups == 1


def test_the_bad_key_memory_is_bounded(db):
    resolver = KeyResolver(db, bad_keys_kept=3)
    keys = ["ofk_" + secrets.token_urlsafe(32) for _ in range(4)]
    for key in keys:
        resolver.resolve(key)
    assert resolver.lookups == 4
    resolver.resolve(keys[0])  # the oldest was forgotten
    assert resolver.lookups == 5
    resolver.resolve(keys[3])
    assert resolver.lookups == 5


def test_last_used_is_written_at_most_once_a_minute(db, tenant):
    made = create(db, tenant)
    clock = Clock()
    resolver = KeyResolver(db, clock=clock)
    for _ in range(50):
        assert resolver.resolve(made.key) is not None
    assert _state(db, made.id).last_used_at is None  # 50 uses, no write yet
    assert resolver.lookups == 1
    clock.now += 60
    resolver.resolve(made.key)
    first = _state(db, made.id).last_used_at
    assert first is not None
    clock.now += 30
    resolver.resolve(made.key)
    assert _state(db, made.id).last_used_at == first  # noted, written with the next flush
    resolver.flush()
    assert _state(db, made.id).last_used_at > first


def test_the_api_writes_last_used_times_when_it_closes(make_api, db, tenant):
    made = create(db, tenant)
    app = make_api()
    assert _get(app.test_client(), made.key).status_code == 200
    app.extensions["offload"].close()
    assert _state(db, made.id).last_used_at is not None
