"""schemathesis over the whole OpenAPI document, against the real API process with a valid key:
no request it generates may get a server error, and every answer must match the document.

The API runs alone (no workers) on a Redis database of its own, so the tasks the fuzzer enqueues
never run; they are deleted afterwards, so no later scheduler republishes them. A fixed seed
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
EXAMPLES = 60  # per operation and phase: about 40 s on 2 cores
SEED = "20261201"


@pytest.fixture
def fuzzed_api(infra, db, tmp_path):
    tenant = f"fuzz-{os.getpid()}"
    redis_url = infra.other_redis_db(FUZZ_REDIS_DB)
    env = {
        **os.environ,
        "DATABASE_URL": infra.database_url,
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
    try:
        yield url, apikeys.create_key(db, tenant), tmp_path / "api.log"
    finally:
        stop_all([child], timeout=20)
        with db.connection() as conn:
            conn.execute("DELETE FROM offload.tasks WHERE tenant = %s", [tenant])
        redis.Redis.from_url(redis_url).flushdb()


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
            "--workers", "2",
            "--no-color",
        ],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    summary = run.stdout[run.stdout.rfind("SUMMARY") :]
    print(f"schemathesis: {time.monotonic() - started:.0f} s\n{summary}")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "Traceback" not in api_log.read_text(encoding="utf-8", errors="replace")
