"""Independent known answers for the HMAC-SM3 and PBKDF2-HMAC-SM3 tests in tests/it/.

Every value is computed twice, without the Rust crates under test:
  A. OpenSSL's SM3 through Python's hashlib / hmac (OpenSSL 1.1.1 or later with SM3 enabled);
  B. the pure-Python SM3 of the `gmssl` package, with HMAC (RFC 2104) and PBKDF2 (RFC 8018)
     written out below.
The script fails if the two disagree, and prints the values the Rust tests expect.

    python3 -m venv target/pyvenv && target/pyvenv/bin/pip install gmssl
    target/pyvenv/bin/python crypto/tests/known_answers.py
"""

import hashlib
import hmac
import struct

from gmssl import sm3


def sm3_b(data: bytes) -> bytes:
    return bytes.fromhex(sm3.sm3_hash(list(data)))


def hmac_b(key: bytes, msg: bytes) -> bytes:
    if len(key) > 64:
        key = sm3_b(key)
    key = key.ljust(64, b"\0")
    inner = bytes(k ^ 0x36 for k in key)
    outer = bytes(k ^ 0x5C for k in key)
    return sm3_b(outer + sm3_b(inner + msg))


def pbkdf2_b(password: bytes, salt: bytes, iterations: int, length: int) -> bytes:
    out = b""
    block = 1
    while len(out) < length:
        u = hmac_b(password, salt + struct.pack(">I", block))
        t = bytearray(u)
        for _ in range(iterations - 1):
            u = hmac_b(password, u)
            for j in range(32):
                t[j] ^= u[j]
        out += bytes(t)
        block += 1
    return out[:length]


def both_hmac(name: str, key: bytes, msg: bytes) -> None:
    a = hmac.new(key, msg, "sm3").hexdigest()
    b = hmac_b(key, msg).hex()
    assert a == b, name
    print("HMAC-SM3", name, a)


def main() -> None:
    # HMAC-SM3 with RFC 4231's input shapes (cases 1-4, 6) and the empty case.
    both_hmac("case 1", b"\x0b" * 20, b"Hi There")
    both_hmac("case 2", b"Jefe", b"what do ya want for nothing?")
    both_hmac("case 3", b"\xaa" * 20, b"\xdd" * 50)
    both_hmac("case 4", bytes(range(1, 26)), b"\xcd" * 50)
    both_hmac("case 6", b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First")
    both_hmac("empty", b"", b"")

    # Through the provider, with the fixed keys of tests/it/main.rs `fixed_config`.
    index_key = bytes(range(32))
    audit_key = bytes(range(32, 64))
    domain = b"person.id_number"
    both_hmac("provider mac", audit_key, b"shuangyong audit")
    both_hmac("blind index", index_key, struct.pack(">I", len(domain)) + domain + b"11010519491231002X")
    # crypto::audit: every part length-prefixed (u64 big-endian): the format tag, the previous
    # link (as stored, hex text), then the record's fields.
    frame = lambda part: struct.pack(">Q", len(part)) + part
    parts = [b"audit-v1", b"", struct.pack(">q", 1), struct.pack(">q", 1700000000000), b"admin", b"\0", b"user.create"]
    both_hmac("audit link 1", audit_key, b"".join(frame(part) for part in parts))

    # PBKDF2-HMAC-SM3 with RFC 6070's inputs.
    for password, salt, iterations, length in [
        (b"password", b"salt", 1, 32),
        (b"password", b"salt", 2, 32),
        (b"password", b"salt", 4096, 32),
        (b"passwordPASSWORDpassword", b"saltSALTsaltSALTsaltSALTsaltSALTsalt", 4096, 40),
    ]:
        a = hashlib.pbkdf2_hmac("sm3", password, salt, iterations, length).hex()
        b = pbkdf2_b(password, salt, iterations, length).hex()
        assert a == b, (password, iterations)
        print("PBKDF2-HMAC-SM3", password, salt, iterations, length, a)


if __name__ == "__main__":
    main()
