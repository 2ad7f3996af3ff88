-- The message centre (SVC-20 消息中心, issue 14): one row per message to one account, with its
-- read state. A message a command or a domain handler sends carries a key derived from what
-- caused it (the instance and operation, the external task), so a command retried or a handler
-- run again after its node died adds no second message; messages without a key never conflict.
CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    link TEXT,
    dedup_key TEXT,
    created_at BIGINT NOT NULL,
    read_at BIGINT
);
CREATE UNIQUE INDEX messages_dedup_key ON messages (dedup_key);
CREATE INDEX messages_account ON messages (account_id, created_at, id);
CREATE INDEX messages_unread ON messages (account_id) WHERE read_at IS NULL
