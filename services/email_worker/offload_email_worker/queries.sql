-- The email worker's statements: one row per task in offload.email_deliveries, written once the
-- SMTP server has accepted the message, so a redelivered task never sends it again.

-- name: delivery_for_task
SELECT message_id, accepted, refused FROM offload.email_deliveries WHERE task_id = %(task_id)s;

-- name: record_delivery
INSERT INTO offload.email_deliveries (task_id, message_id, accepted, refused)
VALUES (%(task_id)s, %(message_id)s, %(accepted)s, %(refused)s)
ON CONFLICT (task_id) DO NOTHING;
