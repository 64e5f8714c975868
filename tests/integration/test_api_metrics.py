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


def test_requests_are_counted_per_route_and_code_with_the_gauges(make_api, api_key, db, tenant):
    app = make_api(OFFLOAD_METRICS_TOKEN=TOKEN)
    client = app.test_client()
    tasks = [create_task(db, tenant) for _ in range(2)]
    for task in tasks:
        assert (
            client.get(
                f"/api/tasks/{task.id}", headers={"Authorization": f"Bearer {api_key}"}
            ).status_code
            == 200
        )
    assert client.get(f"/api/tasks/{tasks[0].id}").status_code == 401
    assert client.get("/no/such/route").status_code == 404

    scraped = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert scraped.status_code == 200
    found = samples(scraped.get_data(as_text=True))
    requests = {
        (s.labels["endpoint"], s.labels["code"]): s.value
        for s in found
        if s.name == "offload_http_requests_total" and s.labels["method"] == "GET"
    }
    assert requests[("/api/tasks/<uuid:task_id>", "200")] == 2
    assert requests[("/api/tasks/<uuid:task_id>", "401")] == 1
    assert requests[("unmatched", "404")] == 1
    assert not any(str(t.id) in endpoint for endpoint, _ in requests for t in tasks)
    ready = {s.labels["queue"]: s.value for s in found
             if s.name == "offload_queue_tasks" and s.labels["state"] == "ready"}  # fmt: skip
    assert ready["email"] >= 2
