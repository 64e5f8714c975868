"""A team declares a task of its own: the API validates and accepts it, a worker runs it."""

import dataclasses
import re
import uuid

import pytest

from offload_shared.catalog import CATALOG, load_modules, register
from offload_shared.errors import ConfigError
from offload_shared.store import TaskStore
from offload_shared.worker import task_actor
from tests.conftest import submit_task, wait_for
from tests.own_tasks import RESIZE


@pytest.fixture
def app(make_api):
    return make_api(OFFLOAD_TASK_MODULES="tests.own_tasks")


def test_the_api_accepts_a_registered_task_and_validates_its_params(client):
    ok = client.post(
        "/api/tasks/enqueue",
        json={"task_name": "acme.resize_image", "params": {"image_id": "i-1", "width": 640}},
    )
    assert ok.status_code == 202
    body = ok.get_json()
    assert (body["task_type"], body["queue"], body["priority"], body["max_retries"]) == (
        "images", "images", 6, 2,
    )  # fmt: skip
    bad = client.post(
        "/api/tasks/enqueue", json={"task_name": "acme.resize_image", "params": {"width": 0}}
    )
    assert bad.status_code == 422
    assert set(bad.get_json()["errors"]["json"]["params"]) >= {"image_id", "width"}
    listed = client.get("/api/tasks/?task_type=images").get_json()
    assert [t["task_id"] for t in listed["items"]] == [body["task_id"]]


def test_a_worker_runs_it_with_task_actor(db, tenant, redis_broker, run_worker):
    @task_actor(RESIZE, broker=redis_broker)
    def resize(ctx):
        task = ctx.task
        return {"resized": task.params["image_id"], "width": task.params["width"]}

    run_worker(redis_broker)
    task = submit_task(db, redis_broker, tenant, RESIZE.name, {"image_id": "i-2", "width": 320})
    done = wait_for(lambda: (t := TaskStore(db).get(tenant, task.id)).completed_at and t)
    assert (done.status, done.result) == ("completed", {"resized": "i-2", "width": 320})


@pytest.mark.parametrize(
    ("result", "why"),
    [({"at": {1, 2}}, "not JSON: Type is not JSON serializable: set"),
     ({"text": "a\x00b"}, "it holds a NUL character")],
)  # fmt: skip
def test_a_result_postgres_cannot_store_fails_the_task_and_says_why(
    db, tenant, redis_broker, run_worker, result, why
):
    @task_actor(RESIZE, broker=redis_broker)
    def resize(ctx):
        return result

    run_worker(redis_broker)
    task = submit_task(db, redis_broker, tenant, RESIZE.name, {"image_id": "i-3", "width": 1})
    done = wait_for(lambda: (t := TaskStore(db).get(tenant, task.id)).completed_at and t)
    assert (done.status, done.attempts, done.result) == ("failed", 1, None)  # no retry
    assert done.error_message == f"PermanentTaskError: the result cannot be stored ({why})"


def test_registering_checks_the_entry_and_refuses_a_second_one_under_its_name():
    assert register(RESIZE) is RESIZE  # the same entry again: harmless
    with pytest.raises(ConfigError, match="already in the catalog"):
        register(dataclasses.replace(RESIZE, default_priority=7))
    with pytest.raises(ConfigError, match="name 'Resize' must be dotted"):
        register(dataclasses.replace(RESIZE, name="Resize"))
    with pytest.raises(ConfigError, match=re.escape("queue 'img{s}' must be one word")):
        register(dataclasses.replace(RESIZE, name=f"acme.x{uuid.uuid4().hex}", queue="img{s}"))
    with pytest.raises(ConfigError, match="default_priority 11 must be 1-10"):
        register(dataclasses.replace(RESIZE, name=f"acme.x{uuid.uuid4().hex}", default_priority=11))
    assert CATALOG["acme.resize_image"] is RESIZE


def test_a_missing_task_module_stops_the_service_with_its_name():
    with pytest.raises(ConfigError, match=re.escape("cannot import 'acme.nowhere'")):
        load_modules(["acme.nowhere"])


def test_the_openapi_document_publishes_each_tasks_params_schema(app):
    """One variant of the enqueue body per catalog entry, a team's own task included, told
    apart by task_name; every operation has its own operationId; the probes need no key."""
    spec = app.test_client().get("/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    body = schemas["EnqueueRequest"]
    assert body["discriminator"]["propertyName"] == "task_name"
    assert set(body["discriminator"]["mapping"]) == set(CATALOG)
    resize = body["discriminator"]["mapping"]["acme.resize_image"].rsplit("/", 1)[-1]
    assert schemas[resize]["properties"]["task_name"]["enum"] == ["acme.resize_image"]
    params = schemas[schemas[resize]["properties"]["params"]["$ref"].rsplit("/", 1)[-1]]
    assert set(params["required"]) >= {"image_id", "width"}
    batch = schemas["BatchEnqueueRequest"]["properties"]["tasks"]["items"]
    assert batch == {"$ref": "#/components/schemas/EnqueueRequest"}
    assert set(schemas["ReportRequest"]["discriminator"]["mapping"]) == {"excel", "pdf"}

    operations = [
        op for path in spec["paths"].values() for op in path.values() if "responses" in op
    ]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids)) == len(operations)
    for probe in ("/healthz", "/readyz"):
        assert spec["paths"][probe]["get"]["security"] == []
    assert "security" not in spec["paths"]["/api/tasks/enqueue"]["post"]  # the global bearer
