"""The health port's verdict: healthy only while every expected beacon is fresh."""

import json
import os
import time
import urllib.error
import urllib.request

import pytest

from offload_dev.procs import free_port
from offload_shared.probe import Beacons, beacon_from_env, serve


def age(beacons: Beacons, name: str, seconds: float) -> None:
    path = beacons.directory / name
    path.touch()
    then = time.time() - seconds
    os.utime(path, (then, then))


@pytest.fixture
def beacons(tmp_path):
    return Beacons(tmp_path, expected=2, stale_after=10)


def test_booting_until_every_expected_beacon_appears(beacons):
    assert beacons.report()[0] is False
    beacons.touch("101")
    assert beacons.report()[0] is False
    beacons.touch("102")
    healthy, body = beacons.report()
    assert healthy
    assert set(body["beacon_ages_seconds"]) == {"101", "102"}


def test_one_stale_beacon_makes_it_unhealthy(beacons):
    beacons.touch("101")
    age(beacons, "102", 11)
    healthy, body = beacons.report()
    assert not healthy
    assert body["status"] == "unhealthy"
    assert body["beacon_ages_seconds"]["102"] >= 11


def test_a_worker_process_touches_a_beacon_named_by_its_pid(tmp_path, monkeypatch):
    monkeypatch.setenv("_OFFLOAD_PROBE_DIR", str(tmp_path))
    touch = beacon_from_env()
    assert touch is not None
    touch()
    assert (tmp_path / str(os.getpid())).exists()


def test_no_health_port_no_beacon(monkeypatch):
    monkeypatch.delenv("_OFFLOAD_PROBE_DIR", raising=False)
    assert beacon_from_env() is None


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - local test URL
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_port_answers_200_then_503(beacons):
    server = serve(free_port(), beacons, host="127.0.0.1")
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        beacons.touch("101")
        beacons.touch("102")
        assert get(f"{url}/healthz")[0] == 200
        age(beacons, "101", 60)
        status, body = get(f"{url}/healthz")
        assert status == 503
        assert body["expected"] == 2
        assert get(f"{url}/elsewhere")[0] == 404
    finally:
        server.shutdown()
        server.server_close()
