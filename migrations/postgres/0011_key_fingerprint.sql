-- The fingerprint of the key file a database was set up with (MACs of a fixed label under the
-- audit and index keys, and the SM2 public key): a node started with another key file is
-- refused at start instead of signing and sealing with keys the other nodes do not have.
CREATE TABLE key_fingerprint (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    fingerprint TEXT NOT NULL
)
