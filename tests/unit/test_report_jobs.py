"""The report jobs with a recording artifact store: what is stored, progress, cancellation."""

import datetime as dt
import hashlib
import io
import tempfile
import uuid

import openpyxl
import pytest
from pypdf import PdfReader

from offload_report_worker import jobs
from offload_report_worker.excel import SHEET
from offload_shared import artifacts
from offload_shared.context import TaskContext
from offload_shared.db import Database
from offload_shared.errors import TaskCancelled
from offload_shared.models import Artifact
from offload_shared.settings import Settings
from tests.conftest import make_task


class RecordingStore:
    def __init__(self):
        self.saved = []

    def save(self, task, *, filename, content_type, content):
        data = content if isinstance(content, bytes) else content.read()
        self.saved.append((filename, content_type, data))
        now = dt.datetime.now(dt.UTC)
        digest = hashlib.sha256(data).hexdigest()
        return Artifact(uuid.uuid4(), task.id, task.tenant, filename, content_type, len(data),
                        digest, 1, now, None)  # fmt: skip


def running(task_name, raw_params):
    return make_task(task_name, raw_params, tenant="acme", priority=5)


@pytest.fixture
def store():
    return RecordingStore()


def context(task, store, progress):
    # Inline rows and PDFs never touch the database: this pool is never opened.
    db = Database("postgresql://unused.invalid/none")
    return TaskContext(task=task, db=db, settings=Settings(), artifacts=store, checkpoint=progress)


INLINE = {
    "report_name": "q3 sales",
    "columns": ["who", "n"],
    "rows": [[f"p{i}", i] for i in range(25)],
}


def test_an_inline_report_is_stored_once_with_its_result(store):
    progress: list[int] = []
    task = running("reports.generate_excel", INLINE)
    result = jobs.excel_report(context(task, store, progress.append), chunk_rows=10)
    [(filename, content_type, data)] = store.saved
    assert (filename, content_type) == ("q3 sales.xlsx", artifacts.XLSX)
    sheet = openpyxl.load_workbook(io.BytesIO(data))[SHEET]
    assert [list(r) for r in sheet.iter_rows(values_only=True)] == [["who", "n"], *INLINE["rows"]]
    assert result == {
        "artifact_id": result["artifact_id"],
        "filename": "q3 sales.xlsx",
        "size_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "rows": 25,
        "download": f"/api/tasks/{task.id}/artifact",
    }
    assert progress == [38, 76, 95, 97]  # after each chunk of 10, then before storing


def test_a_cancel_at_a_checkpoint_stops_the_report_and_stores_nothing(store, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    seen = []

    def checkpoint(percent):
        seen.append(percent)
        if len(seen) == 2:
            raise TaskCancelled("cancel requested")

    task = running("reports.generate_excel", INLINE)
    with pytest.raises(TaskCancelled):
        jobs.excel_report(context(task, store, checkpoint), chunk_rows=10)
    assert store.saved == []
    assert len(seen) == 2
    assert list(tmp_path.iterdir()) == []  # the half-built workbook is gone too


def test_a_pdf_report_is_stored_as_record_id_dot_pdf(store):
    params = {
        "record_id": "FIR-7",
        "title": "FIR 7",
        "fields": {"station": "North"},
        "table": {"columns": ["a"], "rows": [["x"], ["y"]]},
    }
    task = running("reports.generate_pdf", params)
    result = jobs.pdf_report(context(task, store, lambda _: None))
    [(filename, content_type, data)] = store.saved
    assert (filename, content_type) == ("FIR-7.pdf", artifacts.PDF)
    assert "North" in PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert (result["filename"], result["rows"], result["size_bytes"]) == ("FIR-7.pdf", 2, len(data))


def test_progress_is_proportional_with_a_total_and_approaches_95_without_one():
    assert [jobs.progress_percent(n, 1000) for n in (1, 500, 1000)] == [1, 47, 95]
    unknown = [jobs.progress_percent(n, None) for n in (1, 10_000, 100_000, 10**6, 10**9)]
    assert unknown == sorted(unknown)
    assert unknown[0] >= 1
    assert unknown[2] == 47
    assert unknown[-1] == 94
