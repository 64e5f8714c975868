"""The API's GET /metrics in-process: off without a token, one series per route (not per task),
refusals counted, and the Postgres gauges beside the counts."""

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import create_task

TOKEN = "a-metrics-token"


def samples(text: str) -> list:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def test_metrics_are_off_without_a_token(app, client):
    response = client.get("/metrics")
    assert response.status_code == 404
    assert response.json["message"] == "metrics are off: set OFFLOAD_METRICS_TOKEN to serve them"


def get_requests(client) -> tuple[dict[tuple[str, str], float], list]:
    scraped = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert scraped.status_code == 200
    found = samples(scraped.get_data(as_text=True))
    counts = {
        (s.labels["endpoint"], s.labels["code"]): s.value
        for s in found
        if s.name == "offload_http_requests_total" and s.labels["method"] == "GET"
    }
    return counts, found


def test_requests_are_counted_per_route_and_code_with_the_gauges(make_api, api_key, db, tenant):
    """(The counts are this test process's, so earlier tests' requests are in them too.)"""
    app = make_api(OFFLOAD_METRICS_TOKEN=TOKEN)
    client = app.test_client()
    tasks = [create_task(db, tenant) for _ in range(2)]
    before, _ = get_requests(client)
    for task in tasks:
        key = {"Authorization": f"Bearer {api_key}"}
        assert client.get(f"/api/tasks/{task.id}", headers=key).status_code == 200
    assert client.get(f"/api/tasks/{tasks[0].id}").status_code == 401
    assert client.get("/no/such/route").status_code == 404

    after, found = get_requests(client)
    added = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
    assert added == {
        ("/api/tasks/<uuid:task_id>", "200"): 2,
        ("/api/tasks/<uuid:task_id>", "401"): 1,
        ("unmatched", "404"): 1,
        ("/metrics", "200"): 1,  # the first scrape
    }
    ready = {s.labels["queue"]: s.value for s in found
             if s.name == "offload_queue_tasks" and s.labels["state"] == "ready"}  # fmt: skip
    assert ready["email"] >= 2
