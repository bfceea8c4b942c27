/*
 * h2o on tapboxd's loop: listeners (HTTP, HTTPS), connections, and the bridge between h2o
 * requests and the API's web_call. Static files go to h2o's file handler.
 *
 * Shutting down inside a running loop: h2o_context_dispose() runs the loop itself, which libuv
 * forbids from a callback, so stop only closes the listeners and shuts every connection's
 * socket down (h2o then closes them through its normal error path); h2o's own timers and its
 * async handle are unreferenced at start so that they do not hold the loop; the context is
 * disposed in free, after uv_run has returned.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <h2o.h>
#include <h2o/http1.h>
#include <h2o/http2.h>

#include "core/log.h"
#include "web/api.h"
#include "web/h2o_call.h"
#include "web/pcap_stream.h"
#include "web/tls.h"
#include "web/web_internal.h"

#define WEB_MAX_CONNECTIONS 128
#define WEB_H2O_MAX_ENTITY (1u << 20) /* h2o itself refuses larger bodies (413, text) */
#define CERT_FILE "https-cert.pem"
#define KEY_FILE "https-key.pem"

struct web_conn {
    uv_tcp_t tcp; /* first: h2o's close callback gets this handle */
    struct web_server *srv;
    struct web_conn *prev, *next;
};

struct web_listener {
    uv_tcp_t tcp;
    bool open;
    bool https;
    struct web_server *srv;
};

struct web_server {
    struct web *w;
    h2o_globalconf_t config;
    bool config_inited;
    h2o_context_t ctx;
    bool ctx_inited;
    h2o_accept_ctx_t accept_http, accept_https;
    SSL_CTX *ssl_ctx;
    struct web_listener http, https;
    struct web_conn *conns;
    unsigned conn_count;
    /* the self-signed certificate being made in the pool */
    uv_work_t tls_work;
    char tls_err[300];
    int tls_rc;
    char *cert_file, *key_file;
};

struct web_handler {
    h2o_handler_t super;
    struct web_server *srv;
};

/* ---- requests ---- */

/* All the request's header values we need, joined when repeated (HTTP/2 splits cookies). */
static h2o_iovec_t header_value(h2o_req_t *req, const h2o_token_t *token, const char *name,
                                const char *sep)
{
    h2o_iovec_t out = {NULL, 0};
    ssize_t i = -1;
    for (;;) {
        i = token ? h2o_find_header(&req->headers, token, i)
                  : h2o_find_header_by_str(&req->headers, name, strlen(name), i);
        if (i < 0)
            break;
        h2o_iovec_t v = req->headers.entries[i].value;
        if (!out.base) {
            out = v;
        } else {
            size_t seplen = strlen(sep);
            char *joined = h2o_mem_alloc_pool(&req->pool, out.len + seplen + v.len);
            memcpy(joined, out.base, out.len);
            memcpy(joined + out.len, sep, seplen);
            memcpy(joined + out.len + seplen, v.base, v.len);
            out.base = joined;
            out.len += seplen + v.len;
        }
    }
    return out;
}

/* Copy the pieces into one block owned by the call (the pool may go before the answer). */
struct copy_plan {
    h2o_iovec_t src[10];
    const char **dst[10];
    int n;
};

static void plan(struct copy_plan *p, h2o_iovec_t v, const char **dst)
{
    p->src[p->n] = v;
    p->dst[p->n] = dst;
    p->n++;
}

static void peer_text(h2o_req_t *req, char *out, size_t size)
{
    struct sockaddr_storage ss;
    snprintf(out, size, "unknown");
    socklen_t len = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    if (len == 0)
        return;
    if (ss.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)size);
    } else if (ss.ss_family == AF_INET6) {
        const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a))
            inet_ntop(AF_INET, &a->s6_addr[12], out, (socklen_t)size);
        else
            inet_ntop(AF_INET6, a, out, (socklen_t)size);
    }
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct web_server *srv = ((struct web_handler *)self)->srv;
    char path[1024];
    if (req->path_normalized.len >= sizeof path)
        return -1;
    memcpy(path, req->path_normalized.base, req->path_normalized.len);
    path[req->path_normalized.len] = '\0';
    if (!web_api_owns(path))
        return -1; /* a static file */

    struct h2o_call *hc = calloc(1, sizeof *hc);
    if (!hc)
        return -1;
    struct web_request *r = &hc->call.req;
    struct copy_plan p = {.n = 0};
    h2o_iovec_t query = {NULL, 0};
    if (req->query_at != SIZE_MAX)
        query = h2o_iovec_init(req->path.base + req->query_at + 1,
                               req->path.len - req->query_at - 1);
    plan(&p, req->method, &r->method);
    plan(&p, req->path_normalized, &r->path);
    plan(&p, query, &r->query);
    plan(&p, req->entity.len <= WEB_MAX_BODY ? req->entity : h2o_iovec_init(NULL, 0), &r->body);
    plan(&p, header_value(req, H2O_TOKEN_COOKIE, NULL, "; "), &r->cookie);
    plan(&p, header_value(req, H2O_TOKEN_AUTHORIZATION, NULL, ","), &r->authorization);
    plan(&p, header_value(req, NULL, "x-csrf-token", ","), &r->csrf_token);
    plan(&p, header_value(req, H2O_TOKEN_CONTENT_TYPE, NULL, ","), &r->content_type);
    size_t total = 0;
    for (int i = 0; i < p.n; i++)
        total += p.src[i].len + 1;
    hc->strings = malloc(total);
    if (!hc->strings) {
        free(hc);
        return -1;
    }
    char *s = hc->strings;
    for (int i = 0; i < p.n; i++) {
        if (p.src[i].len)
            memcpy(s, p.src[i].base, p.src[i].len);
        s[p.src[i].len] = '\0';
        /* Absent headers stay NULL; present ones (even empty) point at their copy. */
        *p.dst[i] = p.src[i].base || i < 4 ? s : NULL;
        s += p.src[i].len + 1;
    }
    r->query_len = query.len;
    r->body_len = req->entity.base ? req->entity.len : 0;
    if (r->body_len > WEB_MAX_BODY)
        r->body = NULL;
    r->https = req->scheme == &H2O_URL_SCHEME_HTTPS;
    peer_text(req, r->client, sizeof r->client);
    hc->call.background = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-tapbox-background"),
                                                 -1) >= 0;
    hc->call.done = web_h2o_call_done;
    hc->call.can_stream = true;
    hc->req = req;
    hc->link = h2o_mem_alloc_shared(&req->pool, sizeof *hc->link, web_h2o_req_dispose);
    hc->link->hc = hc;
    web_api_handle(srv->w, &hc->call);
    return 0;
}

/* ---- connections ---- */

static void on_conn_closed(uv_handle_t *h)
{
    struct web_conn *c = (struct web_conn *)h;
    struct web_server *srv = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->conn_count--;
    srv->w->stats.connections = srv->conn_count;
    free(c);
}

static void on_accept(uv_stream_t *listener, int status)
{
    struct web_listener *l = listener->data;
    struct web_server *srv = l->srv;
    if (status != 0)
        return;
    struct web_conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    uv_tcp_init(listener->loop, &c->tcp);
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
        return;
    }
    if (srv->conn_count >= WEB_MAX_CONNECTIONS || srv->w->stopping ||
        (l->https && !srv->ssl_ctx)) {
        srv->w->stats.connections_refused++;
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->srv = srv;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->conn_count++;
    srv->w->stats.connections = srv->conn_count;
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)&c->tcp, on_conn_closed);
    h2o_accept(l->https ? &srv->accept_https : &srv->accept_http, sock);
}

/* Bind ADDR:PORT ("" = every address, IPv6 and IPv4 when the host has IPv6). */
static int listen_on(struct web_server *srv, struct web_listener *l, const char *addr, int port,
                     bool https, char *err, size_t errsize)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    const char *shown = addr[0] ? addr : "*";
    if (!addr[0] || strchr(addr, ':')) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        if (addr[0])
            inet_pton(AF_INET6, addr, &a6->sin6_addr);
        else
            a6->sin6_addr = in6addr_any;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, addr, &a4->sin_addr);
    }
    uv_tcp_init(srv->w->loop, &l->tcp);
    l->tcp.data = l;
    l->open = true;
    l->https = https;
    l->srv = srv;
    int rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, 0);
    if (rc == UV_EAFNOSUPPORT && !addr[0]) { /* no IPv6 on this host: IPv4 only */
        uv_close((uv_handle_t *)&l->tcp, NULL);
        uv_tcp_init(srv->w->loop, &l->tcp);
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        memset(&ss, 0, sizeof ss);
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        a4->sin_addr.s_addr = htonl(INADDR_ANY);
        rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, 0);
    }
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&l->tcp, 128, on_accept);
    if (rc != 0) {
        snprintf(err, errsize, "cannot listen on %s port %d (%s): %s", shown, port,
                 https ? "HTTPS" : "HTTP", uv_strerror(rc));
        uv_close((uv_handle_t *)&l->tcp, NULL);
        l->open = false;
        return rc;
    }
    log_info("web", "%s on %s port %d", https ? "HTTPS" : "HTTP", shown, port);
    return 0;
}

/* ---- TLS ---- */

static void tls_ready(struct web_server *srv)
{
    char err[400];
    srv->ssl_ctx = web_tls_context(srv->cert_file, srv->key_file, err, sizeof err);
    if (!srv->ssl_ctx) {
        log_error("web", "HTTPS off: %s", err);
        return;
    }
    srv->accept_https.ssl_ctx = srv->ssl_ctx;
}

static void tls_work(uv_work_t *w)
{
    struct web_server *srv = w->data;
    srv->tls_rc = web_tls_make_self_signed(srv->w->opts.data_dir, srv->cert_file, srv->key_file,
                                           srv->tls_err, sizeof srv->tls_err);
}

static void tls_after(uv_work_t *w, int status)
{
    struct web_server *srv = w->data;
    if (status != 0 || srv->tls_rc != 0) {
        log_error("web", "HTTPS off: no certificate: %s",
                  status ? "cancelled" : srv->tls_err);
        return;
    }
    log_info("web", "made a self-signed HTTPS certificate: %s", srv->cert_file);
    if (!srv->w->stopping)
        tls_ready(srv);
}

static int tls_start(struct web_server *srv, char *err, size_t errsize)
{
    const struct web_options *o = &srv->w->opts;
    if (o->https_cert) {
        srv->cert_file = strdup(o->https_cert);
        srv->key_file = strdup(o->https_key);
        srv->ssl_ctx = web_tls_context(srv->cert_file, srv->key_file, err, errsize);
        if (!srv->ssl_ctx)
            return -1;
        srv->accept_https.ssl_ctx = srv->ssl_ctx;
        return 0;
    }
    if (asprintf(&srv->cert_file, "%s/" CERT_FILE, o->data_dir) < 0 ||
        asprintf(&srv->key_file, "%s/" KEY_FILE, o->data_dir) < 0) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    struct stat st;
    if (stat(srv->cert_file, &st) == 0 && stat(srv->key_file, &st) == 0) {
        char why[400];
        srv->ssl_ctx = web_tls_context(srv->cert_file, srv->key_file, why, sizeof why);
        if (srv->ssl_ctx) {
            srv->accept_https.ssl_ctx = srv->ssl_ctx;
            return 0;
        }
        log_warn("web", "%s; making a new self-signed certificate", why);
    }
    srv->tls_work.data = srv;
    if (uv_queue_work(srv->w->loop, &srv->tls_work, tls_work, tls_after) != 0) {
        snprintf(err, errsize, "cannot queue the certificate generation");
        return -1;
    }
    return 0;
}

/* ---- start, stop, free ---- */

static void unref_timeout(h2o_timeout_t *t) { uv_unref((uv_handle_t *)&t->_backend.timer); }

/* Entries still linked when the loop has ended belong to the context itself (timers are
 * unreferenced, so one may not have fired): unlink them, h2o asserts on dispose otherwise. */
static void drain_timeout(h2o_timeout_t *t)
{
    while (!h2o_linklist_is_empty(&t->_entries))
        h2o_timeout_unlink(H2O_STRUCT_FROM_MEMBER(h2o_timeout_entry_t, _link, t->_entries.next));
}

static void unref_h2o_queue(uv_handle_t *h, void *arg)
{
    /* h2o's thread message queue begins with its uv_async_t: found by address. */
    if (h == arg && h->type == UV_ASYNC)
        uv_unref(h);
}

int web_http_start(struct web *w, char *err, size_t errsize)
{
    struct web_server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    w->server = srv;
    srv->w = w;
    h2o_config_init(&srv->config);
    srv->config_inited = true;
    srv->config.server_name = h2o_iovec_init(H2O_STRLIT("tapbox"));
    srv->config.max_request_entity_size = WEB_H2O_MAX_ENTITY;
    h2o_hostconf_t *host =
        h2o_config_register_host(&srv->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *root = h2o_config_register_path(host, "/", 0);
    struct web_handler *handler = (void *)h2o_create_handler(root, sizeof *handler);
    handler->super.on_req = on_req;
    handler->srv = srv;
    struct stat st;
    if (stat(w->opts.http_root, &st) < 0 || !S_ISDIR(st.st_mode))
        log_warn("web", "no static files: %s is not a directory (--http-root)", w->opts.http_root);
    h2o_file_register(root, w->opts.http_root, NULL, NULL, H2O_FILE_FLAG_SEND_COMPRESSED);
    h2o_compress_args_t gz = {.min_size = 1024, .gzip = {.quality = 1}, .brotli = {.quality = -1}};
    h2o_compress_register(root, &gz);
    /* On every answer, static files too: no MIME sniffing, no framing by other sites. */
    static h2o_iovec_t xcto = {"x-content-type-options", 22}, xfo = {"x-frame-options", 15},
                       refpol = {"referrer-policy", 15};
    static h2o_headers_command_t safety[] = {
        {H2O_HEADERS_CMD_SETIFEMPTY, &xcto, {"nosniff", 7}},
        {H2O_HEADERS_CMD_SETIFEMPTY, &xfo, {"DENY", 4}},
        {H2O_HEADERS_CMD_SETIFEMPTY, &refpol, {"same-origin", 11}},
        {H2O_HEADERS_CMD_NULL, NULL, {NULL, 0}},
    };
    h2o_headers_register(root, safety);

    h2o_context_init(&srv->ctx, w->loop, &srv->config);
    srv->ctx_inited = true;
    unref_timeout(&srv->ctx.zero_timeout);
    unref_timeout(&srv->ctx.one_sec_timeout);
    unref_timeout(&srv->ctx.hundred_ms_timeout);
    unref_timeout(&srv->ctx.handshake_timeout);
    unref_timeout(&srv->ctx.http1.req_timeout);
    unref_timeout(&srv->ctx.http2.idle_timeout);
    unref_timeout(&srv->ctx.http2.graceful_shutdown_timeout);
    unref_timeout(&srv->ctx.proxy.io_timeout);
    uv_walk(w->loop, unref_h2o_queue, srv->ctx.queue);
    srv->accept_http.ctx = srv->accept_https.ctx = &srv->ctx;
    srv->accept_http.hosts = srv->accept_https.hosts = srv->config.hosts;

    const struct web_options *o = &w->opts;
    int rc;
    if (o->http_port) {
        rc = listen_on(srv, &srv->http, o->http_addr, o->http_port, false, err, errsize);
        if (rc == UV_EADDRINUSE && !o->http_set)
            log_warn("web", "%s; HTTP off (give -w to make this an error)", err);
        else if (rc)
            return -1;
    }
    if (o->https_port) {
        rc = listen_on(srv, &srv->https, o->https_addr, o->https_port, true, err, errsize);
        if (rc == UV_EADDRINUSE && !o->https_set)
            log_warn("web", "%s; HTTPS off (give -W to make this an error)", err);
        else if (rc)
            return -1;
        else if (tls_start(srv, err, errsize) < 0)
            return -1;
    }
    return 0;
}

void web_http_stop(struct web *w)
{
    struct web_server *srv = w->server;
    if (!srv)
        return;
    if (srv->http.open) {
        uv_close((uv_handle_t *)&srv->http.tcp, NULL);
        srv->http.open = false;
    }
    if (srv->https.open) {
        uv_close((uv_handle_t *)&srv->https.tcp, NULL);
        srv->https.open = false;
    }
    /* No keep-alive from now on. (Not h2o_context_request_shutdown: its HTTP/2 GOAWAY timer
     * would outlive the loop.) */
    if (srv->ctx_inited)
        srv->ctx.shutdown_requested = 1;
    web_pcap_stop_all(w); /* the downloads end with what they have */
}

void web_http_drop_conns(struct web *w)
{
    struct web_server *srv = w->server;
    if (!srv)
        return;
    /* Every open connection sees end-of-file (or a failed write) and h2o closes it. */
    for (struct web_conn *c = srv->conns; c; c = c->next) {
        uv_os_fd_t fd;
        if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
            shutdown(fd, SHUT_RDWR);
    }
}

void web_http_free(struct web *w)
{
    struct web_server *srv = w->server;
    if (!srv)
        return;
    if (srv->ctx_inited) {
        h2o_context_t *x = &srv->ctx;
        h2o_timeout_t *all[] = {&x->zero_timeout,        &x->one_sec_timeout,
                                &x->hundred_ms_timeout,  &x->handshake_timeout,
                                &x->http1.req_timeout,   &x->http2.idle_timeout,
                                &x->http2.graceful_shutdown_timeout, &x->proxy.io_timeout};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            drain_timeout(all[i]);
        h2o_context_dispose(x); /* runs the loop once: only after uv_run has ended */
    }
    if (srv->config_inited)
        h2o_config_dispose(&srv->config);
    if (srv->ssl_ctx)
        SSL_CTX_free(srv->ssl_ctx);
    free(srv->cert_file);
    free(srv->key_file);
    free(srv);
    w->server = NULL;
}
