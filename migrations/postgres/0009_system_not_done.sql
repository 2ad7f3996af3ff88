-- What the system does by itself (time limits, empty-candidate rules) is nobody's 已办: the
-- 0006 backfill copied completions by the user `system`, which the code no longer writes.
DELETE FROM inbox_done WHERE user_id = 'system'
