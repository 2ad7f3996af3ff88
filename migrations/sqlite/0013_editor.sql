-- Issue 12, the process administrator's console.
-- The sequence flow a token took to reach an activity: one history row per taken flow, so the
-- diagram paints the path the instance really took. Rows written before this are NULL.
ALTER TABLE history_activities ADD COLUMN arrived_by TEXT;
-- Who deployed (the signed-in account, NULL for deployments made before this, by the demo
-- seeding or by the command line).
ALTER TABLE deployments ADD COLUMN deployed_by TEXT;
-- The BPMN editor's drafts: several per process key, each with its author and its last save.
-- `revision` counts saves, so a save over someone else's newer save is refused.
CREATE TABLE process_drafts (
    id TEXT PRIMARY KEY,
    process_key TEXT NOT NULL,
    name TEXT,
    xml TEXT NOT NULL,
    revision BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    saved_by TEXT NOT NULL,
    saved_at BIGINT NOT NULL,
    deployed_definition_id TEXT
);
CREATE INDEX process_drafts_key ON process_drafts (process_key, saved_at);
