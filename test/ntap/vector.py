#!/usr/bin/env python3
"""An independent implementation of the nTap v1 test vectors (docs/ntap-protocol.md), written
from the spec with Python's hashlib and the `cryptography` package, not libsodium. It prints
every value; with --check C_TEST [--doc SPEC] it compares them with the vectors in the C unit
test (test/unit/test_ntap_wire.c) and in the spec (docs/ntap-protocol.md, where a value may be
split over lines), printing "ok"/"FAIL" lines and "N passed, N failed"."""
import hashlib
import re
import struct
import sys

try:
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
    from cryptography.hazmat.primitives import serialization
except ImportError as e:
    print("skip vectors: %s (needs python3-cryptography)" % e)
    print("0 passed, 0 failed")
    sys.exit(0)


def argon2id(password, salt, iterations, memory_kib, lanes, length):
    try:  # cryptography >= 44
        from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
        return Argon2id(salt=salt, length=length, iterations=iterations, lanes=lanes,
                        memory_cost=memory_kib).derive(password)
    except ImportError:  # Debian 12: python3-argon2 (the reference C implementation)
        from argon2.low_level import Type, hash_secret_raw
        return hash_secret_raw(password, salt, time_cost=iterations, memory_cost=memory_kib,
                               parallelism=lanes, hash_len=length, type=Type.ID, version=19)

RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw

PASSPHRASE = b"correct horse battery staple"
SALT = b"tapbox-ntap-psk1"
TAP_ID, SESSION, SEQ, TS_NS = 0x0A0B0C0D, 0x655F1A0012345678, 7, 1700000000123456789
FRAME = bytes.fromhex("ffffffffffff020000000001080600010800060400010200000000010a000001"
                      "0000000000000a000002") + bytes(18)


def header(flags):
    return b"nT" + bytes([1, flags]) + struct.pack(">IQQ", TAP_ID, SESSION, SEQ)


def packet_record(direction, ts_ns, wirelen, data):
    return bytes([1, direction]) + struct.pack(">HIQ", 12 + len(data), wirelen, ts_ns) + data


def seal(key, ad, plain):
    nonce = bytes(4) + struct.pack(">Q", SEQ)
    return ad + ChaCha20Poly1305(key).encrypt(nonce, plain, ad)


def vectors():
    v = {}
    try:
        master = argon2id(PASSPHRASE, SALT, 3, 32 * 1024, 1, 32)
    except ImportError as e:
        print("skip vectors: no Argon2id (%s): install python3-argon2" % e)
        print("0 passed, 0 failed")
        sys.exit(0)
    v["VECTOR_PSK_MASTER"] = master
    key = hashlib.blake2b(b"tapbox-ntap-1 session" + struct.pack(">IQ", TAP_ID, SESSION),
                          digest_size=32, key=master).digest()
    v["VECTOR_PSK_SESSION_KEY"] = key
    plain = packet_record(1, TS_NS, 60, FRAME)
    v["VECTOR_PSK_DATAGRAM"] = seal(key, header(0x00), plain)

    collector_sk = bytes(range(0x40, 0x60))
    collector_pk = X25519PrivateKey.from_private_bytes(collector_sk).public_key().public_bytes(*RAW)
    v["VECTOR_PK_COLLECTOR_PK"] = collector_pk
    eph_sk = hashlib.blake2b(bytes(range(0x80, 0xA0)), digest_size=32).digest()
    eph = X25519PrivateKey.from_private_bytes(eph_sk)
    eph_pk = eph.public_key().public_bytes(*RAW)
    v["VECTOR_PK_EPHEMERAL_PK"] = eph_pk
    shared = eph.exchange(X25519PublicKey.from_public_bytes(collector_pk))
    keys = hashlib.blake2b(shared + eph_pk + collector_pk, digest_size=64).digest()
    key = keys[32:]  # crypto_kx: the client's tx key, the server's rx key
    v["VECTOR_PK_SESSION_KEY"] = key
    v["VECTOR_PK_DATAGRAM"] = seal(key, header(0x03) + eph_pk, plain)
    # nTap v2 identity: a tap id is derived from the tap's public key (here the key of 40..5f).
    v["VECTOR_V2_TAP_ID"] = hashlib.blake2b(b"tapbox-ntap-2 tap id" + collector_pk,
                                            digest_size=32).digest()[:4]
    return v


def main():
    v = vectors()
    if "--check" not in sys.argv:
        for k, b in v.items():
            print("%s %s" % (k, b.hex()))
        return 0
    src = open(sys.argv[sys.argv.index("--check") + 1]).read()
    passed = failed = 0
    for k, b in v.items():
        m = re.search(r"%s\s*=\s*((?:\s*\"[0-9a-f]*\")+)" % k, src)
        want = "".join(re.findall(r"\"([0-9a-f]*)\"", m.group(1))) if m else None
        if want == b.hex():
            print("ok   %s" % k)
            passed += 1
        else:
            print("FAIL %s: python %s, C test %s" % (k, b.hex(), want))
            failed += 1
    if "--doc" in sys.argv:
        doc = re.sub(r"\s+", "", open(sys.argv[sys.argv.index("--doc") + 1]).read())
        for k, b in v.items():
            if b.hex() in doc:
                print("ok   spec %s" % k)
                passed += 1
            else:
                print("FAIL spec %s: %s not in the spec" % (k, b.hex()))
                failed += 1
        record = packet_record(1, TS_NS, 60, FRAME)[:16].hex()
        if record in doc:
            print("ok   spec record header")
            passed += 1
        else:
            print("FAIL spec record header: %s not in the spec" % record)
            failed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


sys.exit(main())
