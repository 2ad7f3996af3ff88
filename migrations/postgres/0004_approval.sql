-- Approval operations (issue 5): every 通过, 驳回, 退回, 转办, 委派, 撤回, 抄送 and 催办 is a row
-- here, written in the same transaction as the instance change it describes. detail is JSON
-- (target element, users, attachments, signature image reference).
CREATE TABLE approval_records (
    id TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL,
    task_id TEXT,
    element_id TEXT,
    task_name TEXT,
    operation TEXT NOT NULL,
    actor TEXT,
    at BIGINT NOT NULL,
    comment TEXT,
    detail TEXT
);
CREATE INDEX approval_records_instance ON approval_records (instance_id, at);
CREATE INDEX approval_records_task ON approval_records (task_id, operation, at);
-- 抄送: an instance copied to a user or to a role (kind user or role). A role copy reaches the
-- holders of the role who can see the instance by their data scope.
CREATE TABLE approval_cc (
    instance_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    by_user TEXT,
    at BIGINT NOT NULL,
    PRIMARY KEY (instance_id, kind, value)
);
CREATE INDEX approval_cc_value ON approval_cc (kind, value, at);
-- Camunda delegation state of a task: PENDING while a delegate works on it, RESOLVED after.
ALTER TABLE tasks ADD COLUMN delegation TEXT;
CREATE INDEX tasks_created ON tasks (created_at);
-- 已办: covering, so a user's list and count need no table rows.
CREATE INDEX history_tasks_completed_by ON history_tasks (completed_by, ended_at, delete_reason, instance_id);
CREATE INDEX process_instances_start_user ON process_instances (start_user, started_at);
-- 加签: signers added to a task, before, after or alongside its holder (position before,
-- after, alongside, or holder for the holder's own vote among alongside signers), in seq
-- order. state is pending until the signer approves.
CREATE TABLE approval_signers (
    task_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    position TEXT NOT NULL,
    seq BIGINT NOT NULL,
    state TEXT NOT NULL,
    added_by TEXT,
    at BIGINT NOT NULL,
    PRIMARY KEY (task_id, user_id)
);
CREATE INDEX approval_signers_user ON approval_signers (user_id, state)
