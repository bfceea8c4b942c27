#include "ntap/ntap_crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(sizeof NTAP_PWHASH_SALT - 1 == crypto_pwhash_SALTBYTES, "salt size");
_Static_assert(NTAP_KEY_LEN == crypto_aead_chacha20poly1305_ietf_KEYBYTES, "key size");
_Static_assert(NTAP_NONCE_LEN == crypto_aead_chacha20poly1305_ietf_NPUBBYTES, "nonce size");
_Static_assert(NTAP_TAG_LEN == crypto_aead_chacha20poly1305_ietf_ABYTES, "tag size");
_Static_assert(NTAP_PUBKEY_LEN == crypto_kx_PUBLICKEYBYTES, "public key size");
_Static_assert(NTAP_KEY_LEN == crypto_kx_SESSIONKEYBYTES, "kx key size");

int ntap_crypto_init(void) { return sodium_init() < 0 ? -1 : 0; }

int ntap_psk_master(const char *passphrase, uint8_t master[NTAP_KEY_LEN])
{
    if (ntap_crypto_init() < 0)
        return -1;
    return crypto_pwhash(master, NTAP_KEY_LEN, passphrase, strlen(passphrase),
                         (const unsigned char *)NTAP_PWHASH_SALT, NTAP_PWHASH_OPSLIMIT,
                         NTAP_PWHASH_MEMLIMIT, crypto_pwhash_ALG_ARGON2ID13);
}

void ntap_psk_session_key(const uint8_t master[NTAP_KEY_LEN], uint32_t tap_id, uint64_t session,
                          uint8_t key[NTAP_KEY_LEN])
{
    uint8_t msg[sizeof NTAP_SESSION_CONTEXT - 1 + 12];
    memcpy(msg, NTAP_SESSION_CONTEXT, sizeof NTAP_SESSION_CONTEXT - 1);
    ntap_put32(msg + sizeof NTAP_SESSION_CONTEXT - 1, tap_id);
    ntap_put64(msg + sizeof NTAP_SESSION_CONTEXT - 1 + 4, session);
    crypto_generichash(key, NTAP_KEY_LEN, msg, sizeof msg, master, NTAP_KEY_LEN);
}

int ntap_pk_tap_session(const uint8_t collector_pk[NTAP_PUBKEY_LEN], const uint8_t *seed32,
                        uint8_t ephemeral_pk[NTAP_PUBKEY_LEN], uint8_t key[NTAP_KEY_LEN])
{
    uint8_t sk[crypto_kx_SECRETKEYBYTES], rx[crypto_kx_SESSIONKEYBYTES];
    if (ntap_crypto_init() < 0)
        return -1;
    if (seed32)
        crypto_kx_seed_keypair(ephemeral_pk, sk, seed32);
    else
        crypto_kx_keypair(ephemeral_pk, sk);
    int rc = crypto_kx_client_session_keys(rx, key, ephemeral_pk, sk, collector_pk);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(rx, sizeof rx);
    return rc == 0 ? 0 : -1;
}

int ntap_pk_collector_session(const uint8_t pk[NTAP_PUBKEY_LEN], const uint8_t sk[NTAP_KEY_LEN],
                              const uint8_t ephemeral_pk[NTAP_PUBKEY_LEN],
                              uint8_t key[NTAP_KEY_LEN])
{
    uint8_t tx[crypto_kx_SESSIONKEYBYTES];
    int rc = crypto_kx_server_session_keys(key, tx, pk, sk, ephemeral_pk);
    sodium_memzero(tx, sizeof tx);
    return rc == 0 ? 0 : -1;
}

static int read_hex_file(const char *path, uint8_t *bin, size_t n, char *err, size_t errsize)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errsize, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char line[256] = "";
    if (!fgets(line, sizeof line, f))
        line[0] = '\0';
    fclose(f);
    line[strcspn(line, " \t\r\n")] = '\0';
    int rc = ntap_hex_decode(line, bin, n);
    sodium_memzero(line, sizeof line);
    if (rc < 0) {
        snprintf(err, errsize, "%s: not a key (expected %zu hex digits on the first line)", path,
                 2 * n);
        return -1;
    }
    return 0;
}

/* Write text to path atomically (a temporary file renamed over it) with the given mode. */
static int write_file_atomic(const char *path, const char *text, mode_t mode, char *err,
                             size_t errsize)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        snprintf(err, errsize, "cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    size_t len = strlen(text);
    int ok = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) < 0) {
        snprintf(err, errsize, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int ntap_keypair_load_or_create(const char *dir, uint8_t pk[NTAP_PUBKEY_LEN],
                                uint8_t sk[NTAP_KEY_LEN], int *created, char *err, size_t errsize)
{
    char path[4096], pub_path[4096];
    *created = 0;
    if (ntap_crypto_init() < 0) {
        snprintf(err, errsize, "libsodium failed to initialise");
        return -1;
    }
    snprintf(path, sizeof path, "%s/%s", dir, NTAP_KEYFILE_NAME);
    snprintf(pub_path, sizeof pub_path, "%s/%s", dir, NTAP_PUBFILE_NAME);
    char hex[2 * NTAP_KEY_LEN + 2];
    if (access(path, F_OK) == 0) {
        if (read_hex_file(path, sk, NTAP_KEY_LEN, err, errsize) < 0)
            return -1;
        crypto_scalarmult_base(pk, sk);
    } else {
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
            snprintf(err, errsize, "cannot create %s: %s", dir, strerror(errno));
            return -1;
        }
        crypto_kx_keypair(pk, sk);
        ntap_hex_encode(sk, NTAP_KEY_LEN, hex);
        strcat(hex, "\n");
        int rc = write_file_atomic(path, hex, 0600, err, errsize);
        sodium_memzero(hex, sizeof hex);
        if (rc < 0)
            return -1;
        *created = 1;
    }
    /* The public half, for operators to copy (rewritten if missing or stale). */
    ntap_hex_encode(pk, NTAP_PUBKEY_LEN, hex);
    strcat(hex, "\n");
    char old[sizeof hex] = "";
    FILE *f = fopen(pub_path, "r");
    if (f) {
        if (!fgets(old, sizeof old, f))
            old[0] = '\0';
        fclose(f);
    }
    if (strcmp(old, hex) != 0) {
        char ignored[256];
        write_file_atomic(pub_path, hex, 0644, ignored, sizeof ignored); /* best effort */
    }
    return 0;
}

int ntap_identity_create(const char *path, uint8_t pk[NTAP_PUBKEY_LEN], char *err,
                         size_t errsize)
{
    uint8_t sk[NTAP_KEY_LEN];
    char hex[2 * NTAP_KEY_LEN + 2];
    if (ntap_crypto_init() < 0) {
        snprintf(err, errsize, "libsodium failed to initialise");
        return -1;
    }
    /* O_EXCL, not a rename over: an existing identity is never replaced by accident. The mode
     * is given at creation so the secret is never readable by others, not even briefly. */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errsize, errno == EEXIST ? "%s exists already (a tap's key is its identity; "
                 "remove the file first to make a new one)" : "cannot create %s: %s", path,
                 strerror(errno));
        return -1;
    }
    crypto_box_keypair(pk, sk);
    ntap_hex_encode(sk, NTAP_KEY_LEN, hex);
    strcat(hex, "\n");
    size_t len = strlen(hex);
    int ok = fchmod(fd, 0600) == 0 && write(fd, hex, len) == (ssize_t)len && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    sodium_memzero(hex, sizeof hex);
    sodium_memzero(sk, sizeof sk);
    if (!ok) {
        snprintf(err, errsize, "cannot write %s: %s", path, strerror(errno));
        unlink(path);
        return -1;
    }
    return 0;
}

int ntap_identity_load(const char *path, uint8_t pk[NTAP_PUBKEY_LEN], uint8_t sk[NTAP_KEY_LEN],
                       char *err, size_t errsize)
{
    struct stat st;
    if (ntap_crypto_init() < 0) {
        snprintf(err, errsize, "libsodium failed to initialise");
        return -1;
    }
    if (stat(path, &st) < 0) {
        snprintf(err, errsize, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    if (st.st_mode & 077) {
        snprintf(err, errsize, "%s: mode %03o lets others read the tap's secret key (chmod 600 "
                 "it, and make a new key if others may have read it)", path,
                 (unsigned)(st.st_mode & 0777));
        return -1;
    }
    if (read_hex_file(path, sk, NTAP_KEY_LEN, err, errsize) < 0)
        return -1;
    crypto_scalarmult_base(pk, sk);
    return 0;
}

uint32_t ntap_tap_id_of(const uint8_t pk[NTAP_PUBKEY_LEN])
{
    uint8_t msg[sizeof NTAP_TAP_ID_CONTEXT - 1 + NTAP_PUBKEY_LEN], h[32];
    memcpy(msg, NTAP_TAP_ID_CONTEXT, sizeof NTAP_TAP_ID_CONTEXT - 1);
    memcpy(msg + sizeof NTAP_TAP_ID_CONTEXT - 1, pk, NTAP_PUBKEY_LEN);
    crypto_generichash(h, sizeof h, msg, sizeof msg, NULL, 0);
    return ntap_get32(h);
}

size_t ntap_ad_len(const struct ntap_header *h)
{
    return NTAP_HEADER_LEN + ((h->flags & NTAP_FLAG_KEY) ? NTAP_PUBKEY_LEN : 0);
}

size_t ntap_seal(const uint8_t key[NTAP_KEY_LEN], const struct ntap_header *h,
                 const uint8_t *ephemeral_pk, const uint8_t *plain, size_t plain_len, uint8_t *out)
{
    ntap_header_encode(h, out);
    size_t ad = ntap_ad_len(h);
    if (h->flags & NTAP_FLAG_KEY)
        memcpy(out + NTAP_HEADER_LEN, ephemeral_pk, NTAP_PUBKEY_LEN);
    uint8_t nonce[NTAP_NONCE_LEN];
    ntap_nonce(h->seq, nonce);
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(out + ad, out + ad + plain_len, NULL, plain,
                                                       plain_len, out, ad, NULL, nonce, key);
    return ad + plain_len + NTAP_TAG_LEN;
}

long ntap_open(const uint8_t key[NTAP_KEY_LEN], const struct ntap_header *h, const uint8_t *dgram,
               size_t len, uint8_t *plain)
{
    size_t ad = ntap_ad_len(h);
    if (len < ad + NTAP_TAG_LEN)
        return -1;
    size_t clen = len - ad - NTAP_TAG_LEN;
    uint8_t nonce[NTAP_NONCE_LEN];
    ntap_nonce(h->seq, nonce);
    if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(plain, NULL, dgram + ad, clen,
                                                           dgram + ad + clen, dgram, ad, nonce,
                                                           key) != 0)
        return -1;
    return (long)clen;
}
