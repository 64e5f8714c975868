"""schemathesis over the whole OpenAPI document, against the real API process with a valid key:
no request it generates may get a server error, and every answer must match the document.

The API runs alone (no workers) on a Redis database and a Postgres database of its own, so the
tasks the fuzzer enqueues never run and the schedules it creates never fire (no scheduler reads
that database: the e2e stack's would fire them otherwise); both are dropped afterwards. The key
has every scope, so the admin routes (schedules) are fuzzed too, not only refused. A fixed seed
makes a failure reproducible: the output names the case and prints its curl command.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest
import redis

from offload_dev.procs import stop_all
from offload_shared import apikeys
from offload_shared.db import Database
from tests import services

pytestmark = pytest.mark.e2e

FUZZ_REDIS_DB = 9
CHECKS = ",".join((
    "not_a_server_error",  # no 5xx, whatever the input
    "response_schema_conformance",  # every answer's body is what the document says
    "status_code_conformance",  # ... and its status code is one the document lists
    "content_type_conformance",
    "response_headers_conformance",
    "unsupported_method",  # a method the path lacks: 405 with its Allow header
))  # fmt: skip
EXAMPLES = 40  # per operation and phase: about 80 s on 2 cores, mostly generating the cases
SEED = "20261201"


@pytest.fixture
def fuzz_database(infra):
    """A database of the fuzzer's own on the test server, migrated; dropped afterwards."""
    with services.own_database(infra.database_url, f"offload_fuzz_{os.getpid()}") as url:
        yield url


@pytest.fixture
def fuzzed_api(infra, fuzz_database, tmp_path):
    tenant = f"fuzz-{os.getpid()}"
    redis_url = infra.other_redis_db(FUZZ_REDIS_DB)
    env = {
        **os.environ,
        "DATABASE_URL": fuzz_database,
        "REDIS_URL": redis_url,
        "OFFLOAD_API_HOST": "127.0.0.1",
        "OFFLOAD_API_WORKERS": "1",
        # The fuzzer sends ~150 requests a second, some without a key: limits would answer most
        # of them with 429 (documented, so no failure) before they reach the code under test.
        "OFFLOAD_RATE_LIMIT_PER_KEY": "100000",
        "OFFLOAD_RATE_LIMIT_PER_KEY_BURST": "100000",
        "OFFLOAD_RATE_LIMIT_PER_TENANT": "100000",
        "OFFLOAD_RATE_LIMIT_PER_TENANT_BURST": "100000",
        "OFFLOAD_BAD_AUTH_BURST": "100000",
    }
    child, url = services.start_api(env, tmp_path / "api.log")
    db = Database(fuzz_database, max_size=1)
    try:
        yield url, apikeys.create_key(db, tenant, scopes=apikeys.SCOPES), tmp_path / "api.log"
    finally:
        db.close()
        stop_all([child], timeout=20)
        redis.Redis.from_url(redis_url).flushdb()


@pytest.mark.timeout(600)  # beyond the run's own 540 s, so that its output is what fails
def test_schemathesis_finds_no_server_error_and_no_schema_violation(fuzzed_api):
    url, key, api_log = fuzzed_api
    started = time.monotonic()
    run = subprocess.run(
        [
            str(services.BIN / "schemathesis"), "run", f"{url}/openapi.json",
            "--header", f"Authorization: Bearer {key}",
            "--checks", CHECKS,
            "--phases", "examples,coverage,fuzzing",
            "--max-examples", str(EXAMPLES),
            "--seed", SEED,
            # A task's event stream stays open until the task finishes, and these tasks never
            # run: schemathesis reuses the ids of tasks it enqueued, and each such request sat
            # out its 10 s timeout (20 of them made this test 294 s instead of 80).
            # tests/integration/test_task_stream.py and tests/e2e/test_event_stream.py cover it.
            "--exclude-path-regex", "/stream$",
            "--workers", "2",
            "--no-color",
        ],
        capture_output=True, text=True, timeout=540, check=False,
    )  # fmt: skip
    summary = run.stdout[run.stdout.rfind("SUMMARY") :]
    print(f"schemathesis: {time.monotonic() - started:.0f} s\n{summary}")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "Traceback" not in api_log.read_text(encoding="utf-8", errors="replace")
