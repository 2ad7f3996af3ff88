-- 已办 (issue 5): one row per task a user acted on — completed it, or 通过 / 驳回 / 退回 /
-- 转办 / 委派 / 归还 on it — with the operation and time of their latest action ('complete'
-- for a completion without an approval operation, e.g. through /engine-rest). Written in the
-- transaction of the action. The 已办 tab walks (user_id, at), so a page costs the same
-- however much history there is.
CREATE TABLE inbox_done (
    user_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (user_id, task_id)
);
CREATE INDEX inbox_done_user ON inbox_done (user_id, at, task_id);
CREATE INDEX inbox_done_instance ON inbox_done (instance_id);
-- What was done before this table existed: completions, then the latest operation per task.
INSERT INTO inbox_done (user_id, task_id, instance_id, operation, at)
SELECT completed_by, id, instance_id, 'complete', ended_at FROM history_tasks
WHERE completed_by IS NOT NULL AND ended_at IS NOT NULL AND delete_reason = 'completed';
INSERT INTO inbox_done (user_id, task_id, instance_id, operation, at)
SELECT r.actor, r.task_id, r.instance_id, MAX(r.operation), r.at FROM approval_records r
WHERE r.actor IS NOT NULL AND r.actor <> 'system' AND r.task_id IS NOT NULL
  AND r.operation IN ('approve', 'reject', 'return', 'transfer', 'delegate', 'resolve')
  AND r.at = (SELECT MAX(x.at) FROM approval_records x WHERE x.task_id = r.task_id AND x.actor = r.actor
              AND x.operation IN ('approve', 'reject', 'return', 'transfer', 'delegate', 'resolve'))
GROUP BY r.actor, r.task_id, r.instance_id, r.at
ON CONFLICT (user_id, task_id) DO UPDATE SET operation = excluded.operation, at = excluded.at;
-- 已办 no longer reads history_tasks by who completed them.
DROP INDEX history_tasks_completed_by;
-- Fresh statistics, so the first 已办 page walks inbox_done_user from the start.
ANALYZE inbox_done;
