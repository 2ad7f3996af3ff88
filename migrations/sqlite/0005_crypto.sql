-- Personal data encrypted at rest (SM4-GCM through the crypto provider): a user's phone number,
-- next to the blind index (phone_index) that exact-match lookups use. TOTP secrets in
-- users.totp_secret are stored sealed the same way from now on.
ALTER TABLE users ADD COLUMN phone_sealed TEXT;
-- The SM2 signature over a user's access-control record (unit, status, roles), made by the
-- crypto provider whenever the record changes and checked whenever the user is authenticated:
-- a role granted by writing to the database directly does not take effect.
ALTER TABLE users ADD COLUMN acl_signature TEXT;
