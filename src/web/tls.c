#include "web/tls.h"

#include "core/atomic_file.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <h2o.h>
#include <h2o/http2.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>


static void ssl_error(char *err, size_t errsize, const char *what)
{
    char text[200] = "";
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, text, sizeof text);
    ERR_clear_error();
    snprintf(err, errsize, "%s%s%s", what, text[0] ? ": " : "", text);
}

SSL_CTX *web_tls_context(const char *cert_file, const char *key_file, char *err, size_t errsize)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        ssl_error(err, errsize, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_RENEGOTIATION);
    char what[600];
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        snprintf(what, sizeof what, "cannot use the certificate %s", cert_file);
        ssl_error(err, errsize, what);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(what, sizeof what, "cannot use the key %s with %s", key_file, cert_file);
        ssl_error(err, errsize, what);
        SSL_CTX_free(ctx);
        return NULL;
    }
    h2o_ssl_register_alpn_protocols(ctx, h2o_http2_alpn_protocols);
    return ctx;
}

static int add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (!ext)
        return -1;
    int rc = X509_add_ext(x, ext, -1) == 1 ? 0 : -1;
    X509_EXTENSION_free(ext);
    return rc;
}

/* Write through a temporary file and rename, so that a crash never leaves half a key. */
static int write_pem(const char *path, mode_t mode, EVP_PKEY *key, X509 *cert, char *err,
                     size_t errsize)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        snprintf(err, errsize, "cannot write %s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)
                 : PEM_write_X509(f, cert);
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (fclose(f) != 0)
        ok = 0;
    if (!ok || rename(tmp, path) < 0) {
        snprintf(err, errsize, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int web_tls_make_self_signed(const char *dir, const char *cert_file, const char *key_file,
                             char *err, size_t errsize)
{
    if (make_dirs(dir, 0700) < 0) {
        snprintf(err, errsize, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    int rc = -1;
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = X509_new();
    if (!key || !x) {
        ssl_error(err, errsize, "cannot make a key");
        goto out;
    }
    unsigned char serial[16];
    if (RAND_bytes(serial, sizeof serial) != 1) {
        ssl_error(err, errsize, "no randomness");
        goto out;
    }
    serial[0] &= 0x7f; /* positive */
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    ASN1_INTEGER *sn = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    BN_free(bn);
    char host[256] = "tapbox";
    if (gethostname(host, sizeof host - 1) < 0 || !host[0])
        snprintf(host, sizeof host, "tapbox");
    host[sizeof host - 1] = '\0';
    char san[400];
    snprintf(san, sizeof san, "DNS:tapbox,DNS:localhost%s%s,IP:127.0.0.1,IP:::1",
             strcmp(host, "tapbox") && strcmp(host, "localhost") ? ",DNS:" : "",
             strcmp(host, "tapbox") && strcmp(host, "localhost") ? host : "");
    X509_NAME *name = X509_get_subject_name(x);
    bool ok = sn && X509_set_serialNumber(x, sn) == 1 && X509_set_version(x, 2) == 1 &&
              X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
              X509_time_adj_ex(X509_getm_notAfter(x), 3650, 0, NULL) &&
              X509_set_pubkey(x, key) == 1 &&
              X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                         (const unsigned char *)"tapbox", -1, -1, 0) == 1 &&
              X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)host,
                                         -1, -1, 0) == 1 &&
              X509_set_issuer_name(x, name) == 1 &&
              add_ext(x, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
              add_ext(x, NID_key_usage, "critical,digitalSignature") == 0 &&
              add_ext(x, NID_ext_key_usage, "serverAuth") == 0 &&
              add_ext(x, NID_subject_alt_name, san) == 0 && X509_sign(x, key, EVP_sha256()) > 0;
    ASN1_INTEGER_free(sn);
    if (!ok) {
        ssl_error(err, errsize, "cannot make the certificate");
        goto out;
    }
    if (write_pem(key_file, 0600, key, NULL, err, errsize) < 0 ||
        write_pem(cert_file, 0644, NULL, x, err, errsize) < 0)
        goto out;
    rc = 0;
out:
    X509_free(x);
    EVP_PKEY_free(key);
    ERR_clear_error();
    return rc;
}
