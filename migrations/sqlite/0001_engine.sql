-- Engine core: deployments, definitions, instances (runtime state + instance history),
-- tasks, history, incidents, users. Tables keyed by time-ordered text ids are WITHOUT ROWID:
-- clustered on the key, a new row lands at the end of one b-tree instead of touching a rowid
-- b-tree and a separate key index, which halves the pages each commit writes to the WAL.
CREATE TABLE deployments (
    id TEXT PRIMARY KEY,
    name TEXT,
    source TEXT,
    tenant_id TEXT,
    deployed_at BIGINT NOT NULL
);
CREATE TABLE resources (
    id TEXT PRIMARY KEY,
    deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    content TEXT NOT NULL,
    content_hash TEXT NOT NULL
);
CREATE INDEX resources_deployment ON resources (deployment_id);
CREATE TABLE process_definitions (
    id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    version BIGINT NOT NULL,
    name TEXT,
    version_tag TEXT,
    history_ttl BIGINT,
    deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    resource_id TEXT NOT NULL,
    resource_name TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    suspended BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (key, version)
);
CREATE INDEX process_definitions_deployment ON process_definitions (deployment_id);
CREATE TABLE process_instances (
    id TEXT PRIMARY KEY,
    definition_id TEXT NOT NULL,
    definition_key TEXT NOT NULL,
    business_key TEXT,
    status TEXT NOT NULL,
    state TEXT NOT NULL,
    version BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    start_user TEXT,
    delete_reason TEXT
) WITHOUT ROWID;
CREATE INDEX process_instances_definition ON process_instances (definition_id);
CREATE INDEX process_instances_key ON process_instances (definition_key, status);
CREATE INDEX process_instances_business_key ON process_instances (business_key);
CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL,
    token BIGINT NOT NULL,
    definition_id TEXT NOT NULL,
    definition_key TEXT NOT NULL,
    task_definition_key TEXT NOT NULL,
    name TEXT,
    description TEXT,
    assignee TEXT,
    owner TEXT,
    priority BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    due TEXT,
    follow_up TEXT,
    form_key TEXT
) WITHOUT ROWID;
CREATE INDEX tasks_instance ON tasks (instance_id);
CREATE INDEX tasks_assignee ON tasks (assignee, created_at);
CREATE INDEX tasks_definition_key ON tasks (definition_key, task_definition_key);
CREATE TABLE task_candidates (
    task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (task_id, kind, value)
) WITHOUT ROWID;
CREATE INDEX task_candidates_value ON task_candidates (kind, value);
CREATE TABLE history_activities (
    id TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL,
    definition_id TEXT NOT NULL,
    definition_key TEXT NOT NULL,
    activity_id TEXT NOT NULL,
    activity_name TEXT,
    activity_type TEXT NOT NULL,
    parent_id TEXT,
    task_id TEXT,
    assignee TEXT,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    canceled BOOLEAN NOT NULL DEFAULT FALSE,
    actor TEXT,
    seq BIGINT NOT NULL
) WITHOUT ROWID;
CREATE INDEX history_activities_instance ON history_activities (instance_id, seq);
CREATE TABLE history_tasks (
    id TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL,
    definition_id TEXT NOT NULL,
    definition_key TEXT NOT NULL,
    task_definition_key TEXT NOT NULL,
    activity_instance_id TEXT NOT NULL,
    name TEXT,
    description TEXT,
    assignee TEXT,
    owner TEXT,
    priority BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    ended_at BIGINT,
    delete_reason TEXT,
    due TEXT,
    follow_up TEXT,
    completed_by TEXT
) WITHOUT ROWID;
CREATE INDEX history_tasks_instance ON history_tasks (instance_id);
CREATE INDEX history_tasks_assignee ON history_tasks (assignee, ended_at);
CREATE TABLE history_variables (
    id TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL,
    scope BIGINT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    at BIGINT NOT NULL,
    actor TEXT
) WITHOUT ROWID;
CREATE INDEX history_variables_instance ON history_variables (instance_id, name);
CREATE TABLE incidents (
    id TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL,
    definition_id TEXT NOT NULL,
    activity_id TEXT NOT NULL,
    token BIGINT NOT NULL,
    incident_type TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    resolved_at BIGINT
) WITHOUT ROWID;
CREATE INDEX incidents_instance ON incidents (instance_id);
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    first_name TEXT,
    last_name TEXT,
    email TEXT,
    must_change_password BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);
CREATE TABLE memberships (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_id TEXT NOT NULL,
    PRIMARY KEY (user_id, group_id)
);
-- Always empty. A guarded write inserts changes() of its version-checked UPDATE here inside the
-- same batch, and the CHECK fails (and the whole transaction rolls back) when the UPDATE matched
-- no row, i.e. someone else changed the instance first.
CREATE TABLE version_guard (
    ok INTEGER NOT NULL CHECK (ok = 1)
);
