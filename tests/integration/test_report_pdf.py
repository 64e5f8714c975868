"""The PDF report through a worker: stored in Postgres, downloadable, its text extractable."""

import hashlib
import io
from datetime import timedelta

from dramatiq.brokers.stub import StubBroker
from pypdf import PdfReader

from offload_report_worker import actors
from offload_shared.artifacts import PDF, PostgresArtifacts
from offload_shared.catalog import get_spec
from offload_shared.enqueue import new_task, submit
from offload_shared.publisher import Publisher
from offload_shared.store import TaskStore
from offload_shared.worker import task_actor, worker_middleware
from tests.workers import drain

PARAMS = {
    "record_id": "FIR-2026-0042",
    "title": "FIR FIR-2026-0042",
    "fields": {"station": "Central <b>HQ</b>", "offence": "theft", "items": 2},
    "table": {"columns": ["item", "value"], "rows": [["phone", 300], ["wallet", None]]},
}


def test_the_pdf_actor_stores_the_record_pdf_and_records_its_reference(db, infra, tenant):
    broker = StubBroker(middleware=worker_middleware(infra.settings()))
    broker.emit_after("process_boot")
    task_actor("reports.generate_pdf", broker=broker)(actors.generate_pdf)
    spec = get_spec("reports.generate_pdf")
    task = submit(
        TaskStore(db), Publisher(broker), new_task(spec, tenant, spec.load_params(PARAMS))
    )
    drain(broker, "reports")

    done = TaskStore(db).get(tenant, task.id)
    assert done.status == "completed", done.error_message
    store = PostgresArtifacts(db, ttl=timedelta(days=1))
    artifact = store.find(tenant, task.id)
    content = b"".join(store.read(artifact))
    assert (artifact.filename, artifact.content_type) == ("FIR-2026-0042.pdf", PDF)
    assert done.result == {
        "artifact_id": str(artifact.id),
        "filename": "FIR-2026-0042.pdf",
        "size_bytes": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "rows": 2,
        "download": f"/api/tasks/{task.id}/artifact",
    }
    text = PdfReader(io.BytesIO(content)).pages[0].extract_text()
    for expected in ("FIR FIR-2026-0042", "station", "Central <b>HQ</b>", "theft", "wallet"):
        assert expected in text
    assert store.find(f"{tenant}-other", task.id) is None  # another tenant never sees it
