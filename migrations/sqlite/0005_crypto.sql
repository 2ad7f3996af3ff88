-- Personal data encrypted at rest (SM4-GCM through the crypto provider): a user's phone number,
-- next to the blind index (phone_index) that exact-match lookups use. TOTP secrets in
-- users.totp_secret are stored sealed the same way from now on.
ALTER TABLE users ADD COLUMN phone_sealed TEXT;
