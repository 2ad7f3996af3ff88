-- The last TOTP time step a user signed in with: a code is accepted only for a later step, so
-- a code seen on the wire or over a shoulder cannot be used again within its 30 s window.
ALTER TABLE users ADD COLUMN totp_last_step BIGINT
