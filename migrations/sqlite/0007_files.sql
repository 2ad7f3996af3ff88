-- Files attached to approval operations (issue 5: 通过 / 驳回 with attachments and a signature
-- image). A user uploads a file first (instance_id NULL, only they can use it), then an
-- operation that names it binds it to the instance, whose participants may then download it.
-- content is sealed with SM4-GCM through the node's crypto provider (aad: file:ID), digest is
-- the SM3 of the plaintext. Unbound files older than a day go at the next upload.
CREATE TABLE files (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    digest TEXT NOT NULL,
    uploaded_by TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL,
    instance_id TEXT,
    content BLOB NOT NULL
);
CREATE INDEX files_instance ON files (instance_id);
CREATE INDEX files_unbound ON files (uploaded_at) WHERE instance_id IS NULL
