-- API keys expire and have a public id to list and revoke them by (issue 10). Keys made before
-- this get the default lifetime from their creation, and the public id of an old key is the start
-- of its digest.
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
ALTER TABLE api_keys ADD COLUMN public_id TEXT;
UPDATE api_keys SET expires_at = created_at + 7776000000, public_id = substr(id, 1, 16);
CREATE UNIQUE INDEX api_keys_public_id ON api_keys (public_id);
-- Failed logins counted per name and source address (`name` newline `address`), for names
-- that exist and names that do not alike: a guesser locks only itself out, and a locked name
-- answers as an unknown one does.
CREATE TABLE login_failures (
    subject TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    failures BIGINT NOT NULL,
    locked_until BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX login_failures_user ON login_failures (user_id)
