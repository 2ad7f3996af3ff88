-- Jobs (timers, async continuations, timer start events), message and signal subscriptions,
-- and external tasks. Each row mirrors a wait in an instance's state (instance_id, wait_id) and
-- is written in the same transaction as that state.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    instance_id TEXT,
    wait_id BIGINT,
    definition_id TEXT NOT NULL,
    definition_key TEXT NOT NULL,
    activity_id TEXT NOT NULL,
    due_at BIGINT NOT NULL,
    retries BIGINT NOT NULL,
    lock_owner TEXT,
    lock_expires_at BIGINT,
    exception_message TEXT,
    payload TEXT,
    created_at BIGINT NOT NULL
) WITHOUT ROWID;
CREATE INDEX jobs_due ON jobs (due_at);
CREATE INDEX jobs_instance ON jobs (instance_id, wait_id);
CREATE INDEX jobs_definition ON jobs (definition_key, kind);
CREATE TABLE event_subscriptions (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    instance_id TEXT,
    wait_id BIGINT,
    definition_id TEXT NOT NULL,
    definition_key TEXT NOT NULL,
    activity_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
) WITHOUT ROWID;
CREATE INDEX event_subscriptions_name ON event_subscriptions (kind, name);
CREATE INDEX event_subscriptions_instance ON event_subscriptions (instance_id, wait_id);
CREATE INDEX event_subscriptions_definition ON event_subscriptions (definition_key);
CREATE TABLE external_tasks (
    id TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL,
    token BIGINT NOT NULL,
    topic TEXT NOT NULL,
    definition_id TEXT NOT NULL,
    definition_key TEXT NOT NULL,
    activity_id TEXT NOT NULL,
    business_key TEXT,
    priority BIGINT NOT NULL,
    worker_id TEXT,
    lock_expires_at BIGINT,
    retries BIGINT,
    error_message TEXT,
    error_details TEXT,
    created_at BIGINT NOT NULL
) WITHOUT ROWID;
CREATE INDEX external_tasks_topic ON external_tasks (topic, priority);
CREATE INDEX external_tasks_instance ON external_tasks (instance_id);
