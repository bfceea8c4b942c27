/*
 * nTap keys and AEAD (libsodium): ChaCha20-Poly1305 (IETF), the header as associated data.
 *
 * Passphrase mode: master = Argon2id(passphrase, fixed salt, 3 passes, 32 MiB), computed once
 * at start on both ends; each session's key = BLAKE2b-256(key = master, "tapbox-ntap-1 session"
 * || tap id || session). Public-key mode: the collector's X25519 key pair lives in its data dir;
 * each tap session makes an ephemeral pair and the session key is crypto_kx's (tap = client:
 * its tx key; collector = server: its rx key). docs/ntap-protocol.md gives the details.
 */
#ifndef TAPBOX_NTAP_CRYPTO_H
#define TAPBOX_NTAP_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "ntap/ntap_wire.h"

#define NTAP_PWHASH_SALT "tapbox-ntap-psk1" /* 16 bytes, crypto_pwhash_SALTBYTES */
#define NTAP_PWHASH_OPSLIMIT 3
#define NTAP_PWHASH_MEMLIMIT (32u << 20)
#define NTAP_SESSION_CONTEXT "tapbox-ntap-1 session"
#define NTAP_KEYFILE_NAME "ntap.key"
#define NTAP_PUBFILE_NAME "ntap.pub"

/* sodium_init(); 0 or -1. Safe to call many times. */
int ntap_crypto_init(void);

/* Passphrase -> 32-byte master key (Argon2id; ~0.1 s and 32 MiB here, about 1 s on a
 * Cortex-A8). 0, or -1 when memory is short. */
int ntap_psk_master(const char *passphrase, uint8_t master[NTAP_KEY_LEN]);
/* The session key of a (tap id, session) in passphrase mode. */
void ntap_psk_session_key(const uint8_t master[NTAP_KEY_LEN], uint32_t tap_id, uint64_t session,
                          uint8_t key[NTAP_KEY_LEN]);

/* Public-key mode, tap side: make an ephemeral key pair (from seed when not NULL: test vectors
 * only) and the session key toward the collector's public key. 0, or -1 for a bad public key. */
int ntap_pk_tap_session(const uint8_t collector_pk[NTAP_PUBKEY_LEN], const uint8_t *seed32,
                        uint8_t ephemeral_pk[NTAP_PUBKEY_LEN], uint8_t key[NTAP_KEY_LEN]);
/* Collector side: the session key of a tap's ephemeral public key. 0, or -1 (a low-order or
 * otherwise unusable point). */
int ntap_pk_collector_session(const uint8_t pk[NTAP_PUBKEY_LEN], const uint8_t sk[NTAP_KEY_LEN],
                              const uint8_t ephemeral_pk[NTAP_PUBKEY_LEN],
                              uint8_t key[NTAP_KEY_LEN]);

/* The collector's key pair in DIR/ntap.key (secret, hex, mode 0600), made on first use, with
 * DIR/ntap.pub (public, hex) beside it for operators. *created says it was just made.
 * 0, or -1 with a reason. */
int ntap_keypair_load_or_create(const char *dir, uint8_t pk[NTAP_PUBKEY_LEN],
                                uint8_t sk[NTAP_KEY_LEN], int *created, char *err, size_t errsize);

/* A tap's own static identity (nTap v2, issue 15; the handshake that uses it is not written
 * yet). The secret key is 64 hex digits on the first line of a file of mode 0600, as
 * `tapbox-tap --genkey FILE` writes it; the tap id is derived from the public key, never
 * chosen, so a tap id names exactly one key. */
#define NTAP_TAP_ID_CONTEXT "tapbox-ntap-2 tap id"
/* Make a key pair and write its secret half to path (mode 0600). Refuses to overwrite an
 * existing file: losing a tap's key changes its identity. 0, or -1 with a reason. */
int ntap_identity_create(const char *path, uint8_t pk[NTAP_PUBKEY_LEN], char *err,
                         size_t errsize);
/* Read a key pair back. Refuses a file that group or others may read (a secret key readable by
 * others is no identity). 0, or -1 with a reason. */
int ntap_identity_load(const char *path, uint8_t pk[NTAP_PUBKEY_LEN], uint8_t sk[NTAP_KEY_LEN],
                       char *err, size_t errsize);
/* The tap id of a public key: the first 4 bytes of BLAKE2b-256(NTAP_TAP_ID_CONTEXT || pk),
 * big-endian. */
uint32_t ntap_tap_id_of(const uint8_t pk[NTAP_PUBKEY_LEN]);

/* Seal: out = header || [ephemeral key when h->flags has KEY] || ciphertext || tag.
 * out must hold NTAP_HEADER_LEN + NTAP_PUBKEY_LEN + plain_len + NTAP_TAG_LEN bytes.
 * Returns the datagram's length. */
size_t ntap_seal(const uint8_t key[NTAP_KEY_LEN], const struct ntap_header *h,
                 const uint8_t *ephemeral_pk, const uint8_t *plain, size_t plain_len, uint8_t *out);
/* Open a datagram whose header was decoded into h: plaintext into plain (at least len bytes).
 * Returns the plaintext length, or -1 when authentication fails. */
long ntap_open(const uint8_t key[NTAP_KEY_LEN], const struct ntap_header *h, const uint8_t *dgram,
               size_t len, uint8_t *plain);
/* Where the ciphertext starts (after the header and the key if present). */
size_t ntap_ad_len(const struct ntap_header *h);

#endif
