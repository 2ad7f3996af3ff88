-- Files of form records (issue 13: file and image fields). An upload is bound to the record
-- whose save names it first, in that save's transaction (record_id), and is then served to
-- whoever may read the record. A bound file is never removed with the stale unbound uploads.
ALTER TABLE files ADD COLUMN record_id TEXT;
CREATE INDEX files_record ON files (record_id)
