"""Response schemas of /api/stats, /api/workers and the transitions feed /api/transitions."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from offload_api.schemas import STATUSES

MAX_EVENTS = 500


class QueueThroughputSchema(Schema):
    completed_per_minute = fields.Float(metadata={"description": "mean over the last hour"})
    failed_per_minute = fields.Float(metadata={"description": "mean over the last hour"})


class QueueStatsSchema(Schema):
    queue = fields.String()
    ready = fields.Integer(metadata={"description": "pending and due now"})
    delayed = fields.Integer(metadata={"description": "pending, due later (delay or backoff)"})
    waiting = fields.Integer(metadata={"description": "pending, held back by a task limit"})
    running = fields.Integer()
    completed_last_hour = fields.Integer()
    failed_last_hour = fields.Integer()
    cancelled_last_hour = fields.Integer()
    oldest_ready_age_seconds = fields.Float(allow_none=True)
    throughput = fields.Nested(QueueThroughputSchema)


class ThroughputBucketSchema(Schema):
    start = fields.DateTime()
    queue = fields.String()
    completed = fields.Integer()
    failed = fields.Integer()


class StatsSchema(Schema):
    queues = fields.List(fields.Nested(QueueStatsSchema), metadata={"description": "by name"})
    throughput = fields.List(
        fields.Nested(ThroughputBucketSchema),
        metadata={"description": "finished tasks per minute and queue, oldest first"},
    )
    window_seconds = fields.Integer()
    bucket_seconds = fields.Integer()


class RunningTaskSchema(Schema):
    task_id = fields.UUID(attribute="id")
    task_name = fields.String()
    progress = fields.Integer()
    started_at = fields.DateTime(allow_none=True)


class WorkerSchema(Schema):
    worker_id = fields.UUID(attribute="id")
    queue = fields.String()
    hostname = fields.String()
    pid = fields.Integer()
    threads = fields.Integer()
    started_at = fields.DateTime()
    seen_at = fields.DateTime(metadata={"description": "its latest heartbeat"})
    alive = fields.Boolean()
    running = fields.List(
        fields.Nested(RunningTaskSchema), metadata={"description": "the tenant's tasks only"}
    )


class WorkerListSchema(Schema):
    items = fields.List(fields.Nested(WorkerSchema), metadata={"description": "alive first"})


class TransitionFeedQuerySchema(Schema):
    after = fields.Integer(
        validate=validate.Range(0, 2**63 - 1),  # task_events.id is a bigint
        metadata={"description": "the `next` of the previous page; omitted: from now on"},
    )
    limit = fields.Integer(load_default=100, validate=validate.Range(1, MAX_EVENTS))


class FeedEventSchema(Schema):
    event_id = fields.Integer(attribute="id")
    task_id = fields.UUID()
    task_name = fields.String()
    queue = fields.String()
    status = fields.String(metadata={"enum": STATUSES})
    attempt = fields.Integer()
    detail = fields.String(allow_none=True)
    at = fields.DateTime()


class TransitionFeedSchema(Schema):
    items = fields.List(fields.Nested(FeedEventSchema), metadata={"description": "oldest first"})
    next = fields.Integer(metadata={"description": "pass it as `after` for what follows"})
