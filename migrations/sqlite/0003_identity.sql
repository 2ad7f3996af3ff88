-- Identity, organisation, access control and audit (issue 4).
-- The organisation tree: the city centre, the 16 districts, the units below them.
-- `district` is the district code a unit belongs to (a district's own code for itself), NULL for
-- the city level. Data scope filters compare against it.
CREATE TABLE org_units (
    id TEXT PRIMARY KEY,
    parent_id TEXT REFERENCES org_units (id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    district TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX org_units_parent ON org_units (parent_id);
ALTER TABLE users ADD COLUMN display_name TEXT;
ALTER TABLE users ADD COLUMN unit_id TEXT REFERENCES org_units (id);
ALTER TABLE users ADD COLUMN kind TEXT NOT NULL DEFAULT 'staff';
ALTER TABLE users ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE users ADD COLUMN failed_logins BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until BIGINT;
ALTER TABLE users ADD COLUMN password_changed_at BIGINT;
ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN phone_index TEXT;
CREATE INDEX users_unit ON users (unit_id);
CREATE UNIQUE INDEX users_phone_index ON users (phone_index);
CREATE TABLE roles (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    data_scope TEXT NOT NULL
);
CREATE TABLE role_permissions (
    role_id TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    PRIMARY KEY (role_id, permission)
);
CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role_id)
);
CREATE TABLE password_history (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    changed_at BIGINT NOT NULL
);
CREATE INDEX password_history_user ON password_history (user_id, changed_at);
-- Server-side sessions, shared by every node. `id` is the SM3 digest of the cookie value, so a
-- copy of this table does not let anyone log in.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    source_ip TEXT,
    second_factor_done BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX sessions_user ON sessions (user_id);
-- API keys of machine clients: `id` is the SM3 digest of the key.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
-- The audit log: append-only, each row's mac = HMAC-SM3(key, previous mac + the row's fields).
-- `audit_head` holds the last sequence number and mac (one row), and serialises appenders.
-- `base_seq` / `base_mac` are the last row removed by retention (0 and empty before any purge):
-- the chain is verified from there, and the purge is itself an audited row naming them.
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    user_id TEXT,
    source_ip TEXT,
    action TEXT NOT NULL,
    target TEXT,
    result TEXT NOT NULL,
    detail TEXT,
    prev_mac TEXT NOT NULL,
    mac TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    mac TEXT NOT NULL,
    base_seq BIGINT NOT NULL,
    base_mac TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, mac, base_seq, base_mac) VALUES (1, 0, '', 0, '');
-- Fixed-window rate limits shared by every node (login and SMS endpoints).
CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    count BIGINT NOT NULL
);
-- SMS verification codes (hashed) and the local SMS outbox gateway.
CREATE TABLE sms_codes (
    id TEXT PRIMARY KEY,
    phone TEXT NOT NULL,
    purpose TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    attempts BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX sms_codes_phone ON sms_codes (phone, created_at);
CREATE TABLE sms_outbox (
    id TEXT PRIMARY KEY,
    phone TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
-- Data scope of engine records: the district and unit that own an instance (set at start from
-- the starting user's unit, or from a validated `district` variable). Its tasks, history and
-- incidents are scoped through their instance.
ALTER TABLE process_instances ADD COLUMN owner_district TEXT;
ALTER TABLE process_instances ADD COLUMN owner_unit TEXT;
CREATE INDEX process_instances_owner_district ON process_instances (owner_district);
CREATE INDEX process_instances_owner_unit ON process_instances (owner_unit);
