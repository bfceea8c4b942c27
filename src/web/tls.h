/* HTTPS: the server's TLS context, and a self-signed certificate made on first start. */
#ifndef TAPBOX_WEB_TLS_H
#define TAPBOX_WEB_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

/* A TLS 1.2+ server context with ALPN h2 and http/1.1; NULL with err on failure. */
SSL_CTX *web_tls_context(const char *cert_file, const char *key_file, char *err, size_t errsize);

/* Make an EC P-256 key (mode 0600) and a self-signed certificate valid 10 years for tapbox,
 * localhost and this host's name, creating dir if needed. Slow on the box: call it off the
 * loop. Returns 0, or -1 with err. */
int web_tls_make_self_signed(const char *dir, const char *cert_file, const char *key_file,
                             char *err, size_t errsize);

#endif
