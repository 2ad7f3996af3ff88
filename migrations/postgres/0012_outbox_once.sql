-- Messages sent by domain handlers carry a key derived from their task: a handler that runs
-- again after its node died (effect done, task not yet completed) adds no second message.
-- Messages without a key (login codes, 催办) are not deduplicated: NULLs never conflict.
ALTER TABLE sms_outbox ADD COLUMN dedup_key TEXT;
CREATE UNIQUE INDEX sms_outbox_dedup_key ON sms_outbox (dedup_key)
