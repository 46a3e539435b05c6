/*
 * tls.c -- TLS for client connections with OpenSSL (see tls.h).
 *
 * Why not bufferevent_openssl: it owns the buffers (an evbuffer per
 * direction per connection, growing with what the peer does not read)
 * and would put a second buffering layer under our obuf and read
 * buffers, whose bounds (PROTO_OUT_HIGH, read_buf_max, write_timeout) are
 * what keep a slow or hostile client from taking memory.  Driving
 * SSL_read/SSL_write from the connection's own state machine keeps one
 * set of buffers and one set of bounds for both paths (doc/security.md).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "tls.h"

static const char *const version_names[] = { "tlsv1.0", "tlsv1.1", "tlsv1.2", "tlsv1.3" };

const char *
tls_version_name(int v)
{
    return v >= 0 && v <= 3 ? version_names[v] : "unknown";
}

#ifdef HAVE_TLS

#include <openssl/err.h>
#include <openssl/ssl.h>

#define SESSION_ID_CONTEXT "memcached"

static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;   /* leaf */
static SSL_CTX *ctx;                /* ctx_lock: the context new connections get */
static struct tls_options opts;     /* copied at setup; strings owned */
static _Atomic uint64_t n_handshake_errors, n_new_sessions;
static _Atomic int64_t last_refresh;

int
tls_verify_flags(int mode)
{
    switch (mode) {
    case 1: return SSL_VERIFY_PEER;
    case 2: return SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    case 3: return SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT | SSL_VERIFY_CLIENT_ONCE;
    default: return SSL_VERIFY_NONE;
    }
}

static int
proto_version(int v)
{
    static const int vs[] = { TLS1_VERSION, TLS1_1_VERSION, TLS1_2_VERSION, TLS1_3_VERSION };
    return v >= 0 && v <= 3 ? vs[v] : TLS1_2_VERSION;
}

/* memcached's message: "<what>: <file> : <first OpenSSL error>"; the
 * rest of OpenSSL's queue goes to the log. */
static void
fail_msg(char *err, size_t errlen, const char *what, const char *file)
{
    char ebuf[256] = "";
    unsigned long e = ERR_get_error();
    if (e != 0)
        ERR_error_string_n(e, ebuf, sizeof(ebuf));
    if (file != NULL)
        snprintf(err, errlen, "%s: %s : %s", what, file, ebuf);
    else
        snprintf(err, errlen, "%s: %s", what, ebuf);
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, ebuf, sizeof(ebuf));
        log_warn("tls: %s", ebuf);
    }
}

static int
on_new_session(SSL *s, SSL_SESSION *sess)
{
    (void)s;
    (void)sess;
    atomic_fetch_add_explicit(&n_new_sessions, 1, memory_order_relaxed);
    return 0;                       /* we keep no reference */
}

/* A context from opts with every file loaded, or NULL with err. */
static SSL_CTX *
build_ctx(char *err, size_t errlen)
{
    ERR_clear_error();
    SSL_CTX *c = SSL_CTX_new(TLS_server_method());
    if (c == NULL) {
        fail_msg(err, errlen, "Error creating the TLS context", NULL);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(c, proto_version(opts.min_version));
    const char *key = opts.key != NULL ? opts.key : opts.chain_cert;
    if (opts.chain_cert == NULL || !SSL_CTX_use_certificate_chain_file(c, opts.chain_cert)) {
        fail_msg(err, errlen, "Error loading the certificate chain",
                 opts.chain_cert != NULL ? opts.chain_cert : "(null)");
        goto fail;
    }
    if (!SSL_CTX_use_PrivateKey_file(c, key, opts.keyformat)) {
        fail_msg(err, errlen, "Error loading the key", key);
        goto fail;
    }
    if (!SSL_CTX_check_private_key(c)) {
        fail_msg(err, errlen, "Error validating the certificate", NULL);
        goto fail;
    }
    if (opts.ca_cert != NULL) {
        if (!SSL_CTX_load_verify_locations(c, opts.ca_cert, NULL)) {
            fail_msg(err, errlen, "Error loading the CA certificate", opts.ca_cert);
            goto fail;
        }
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(opts.ca_cert);
        if (names != NULL)
            SSL_CTX_set_client_CA_list(c, names);
    }
    SSL_CTX_set_verify(c, tls_verify_flags(opts.verify_mode), NULL);
    if (opts.ciphers != NULL && !SSL_CTX_set_cipher_list(c, opts.ciphers)) {
        ERR_clear_error();
        snprintf(err, errlen, "Error setting the provided cipher(s): %s", opts.ciphers);
        goto fail;
    }
    if (opts.session_cache) {
        SSL_CTX_sess_set_new_cb(c, on_new_session);
        SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER);
        SSL_CTX_set_session_id_context(c, (const unsigned char *)SESSION_ID_CONTEXT,
                                       sizeof(SESSION_ID_CONTEXT) - 1);
    } else {
        SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    }
    long o = SSL_OP_NO_RENEGOTIATION;
#ifdef SSL_OP_ENABLE_KTLS
    if (opts.kernel_tls)
        o |= SSL_OP_ENABLE_KTLS;
#endif
    SSL_CTX_set_options(c, o);
    /* idle connections give their record buffers back; a write may be
     * retried from a moved buffer (ours is re-coalesced) and may return
     * after whole records */
    SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                        SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* read what the socket has in one read(2), not a record header and
     * then its body: a pipelined batch costs one system call, as in
     * plaintext */
    SSL_CTX_set_read_ahead(c, 1);
    return c;
fail:
    SSL_CTX_free(c);
    return NULL;
}

static char *
dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

int
tls_setup(const struct tls_options *o, char *err, size_t errlen)
{
#ifndef SSL_OP_ENABLE_KTLS
    if (o->kernel_tls) {
        snprintf(err, errlen, "Kernel TLS offload is not available");
        return -1;
    }
#endif
    opts = *o;
    opts.chain_cert = dup_or_null(o->chain_cert);
    opts.key = dup_or_null(o->key);
    opts.ca_cert = dup_or_null(o->ca_cert);
    opts.ciphers = dup_or_null(o->ciphers);
    if (opts.wbuf_size < 1024)
        opts.wbuf_size = 1024;
    SSL_CTX *c = build_ctx(err, errlen);
    if (c == NULL) {
        tls_teardown();
        return -1;
    }
    pthread_mutex_lock(&ctx_lock);
    ctx = c;
    pthread_mutex_unlock(&ctx_lock);
    atomic_store(&last_refresh, (int64_t)time(NULL));
    return 0;
}

bool
tls_enabled(void)
{
    pthread_mutex_lock(&ctx_lock);
    bool on = ctx != NULL;
    pthread_mutex_unlock(&ctx_lock);
    return on;
}

bool
tls_refresh(char *err, size_t errlen)
{
    if (!tls_enabled()) {
        snprintf(err, errlen, "Error TLS not enabled");
        return false;
    }
    SSL_CTX *c = build_ctx(err, errlen);
    if (c == NULL)
        return false;
    pthread_mutex_lock(&ctx_lock);
    SSL_CTX *old = ctx;
    ctx = c;
    pthread_mutex_unlock(&ctx_lock);
    SSL_CTX_free(old);              /* live connections hold references */
    atomic_store(&last_refresh, (int64_t)time(NULL));
    return true;
}

void
tls_teardown(void)
{
    pthread_mutex_lock(&ctx_lock);
    SSL_CTX *c = ctx;
    ctx = NULL;
    pthread_mutex_unlock(&ctx_lock);
    SSL_CTX_free(c);
    free((char *)opts.chain_cert);
    free((char *)opts.key);
    free((char *)opts.ca_cert);
    free((char *)opts.ciphers);
    memset(&opts, 0, sizeof(opts));
}

void
tls_stats_get(struct tls_stats *s)
{
    s->handshake_errors = atomic_load_explicit(&n_handshake_errors, memory_order_relaxed);
    s->new_sessions = atomic_load_explicit(&n_new_sessions, memory_order_relaxed);
    s->last_refresh = atomic_load_explicit(&last_refresh, memory_order_relaxed);
}

void
tls_count_handshake_error(void)
{
    atomic_fetch_add_explicit(&n_handshake_errors, 1, memory_order_relaxed);
}

size_t
tls_wbuf_size(void)
{
    return opts.wbuf_size;
}

/* ---- one connection ---- */

struct tls_conn {
    SSL *ssl;
    int  fd;
};

struct tls_conn *
tls_conn_new(int fd)
{
    struct tls_conn *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    pthread_mutex_lock(&ctx_lock);
    t->ssl = ctx != NULL ? SSL_new(ctx) : NULL;
    pthread_mutex_unlock(&ctx_lock);
    if (t->ssl == NULL || !SSL_set_fd(t->ssl, fd)) {
        ERR_clear_error();
        if (t->ssl != NULL)
            SSL_free(t->ssl);
        free(t);
        return NULL;
    }
    t->fd = fd;
    SSL_set_accept_state(t->ssl);
    return t;
}

void
tls_conn_free(struct tls_conn *t)
{
    if (t == NULL)
        return;
    /* no close_notify: the socket is closing either way, and a peer that
     * stopped reading must not block us */
    SSL_set_quiet_shutdown(t->ssl, 1);
    SSL_free(t->ssl);
    free(t);
}

/* What SSL_get_error() says about ret, as what to wait for.  Failures
 * drain OpenSSL's (thread-local) error queue into the log. */
static enum tls_io
io_status(struct tls_conn *t, int ret)
{
    int e = SSL_get_error(t->ssl, ret);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        return TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        return TLS_EOF;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return TLS_WANT_READ;
        return errno == 0 ? TLS_EOF : TLS_FAILED;   /* 0: EOF without close_notify */
    default: {
        unsigned long le;
        char ebuf[256];
        while ((le = ERR_get_error()) != 0) {
            ERR_error_string_n(le, ebuf, sizeof(ebuf));
            log_info("<%d tls: %s", t->fd, ebuf);
        }
        return TLS_FAILED;
    }
    }
}

enum tls_io
tls_handshake(struct tls_conn *t)
{
    errno = 0;
    int r = SSL_do_handshake(t->ssl);
    if (r == 1)
        return TLS_DONE;
    enum tls_io st = io_status(t, r);
    if (st == TLS_FAILED)
        tls_count_handshake_error();
    return st;
}

size_t
tls_read(struct tls_conn *t, void *buf, size_t n, enum tls_io *st)
{
    size_t got = 0;
    *st = TLS_DONE;
    while (got < n) {
        size_t r = 0;
        errno = 0;
        if (SSL_read_ex(t->ssl, (char *)buf + got, n - got, &r) <= 0) {
            enum tls_io s = io_status(t, 0);
            if (got == 0)
                *st = s;
            break;
        }
        got += r;
        if (!SSL_has_pending(t->ssl))
            break;                  /* the socket will say when there is more */
    }
    return got;
}

size_t
tls_readv(struct tls_conn *t, const struct iovec *iov, int n, enum tls_io *st)
{
    size_t got = 0;
    *st = TLS_DONE;
    for (int i = 0; i < n; i++) {
        enum tls_io s;
        size_t r = tls_read(t, iov[i].iov_base, iov[i].iov_len, &s);
        got += r;
        if (r < iov[i].iov_len) {
            if (got == 0)
                *st = s;
            break;
        }
    }
    return got;
}

bool
tls_pending(struct tls_conn *t)
{
    return SSL_has_pending(t->ssl) == 1;    /* decrypted or read ahead */
}

long
tls_flush(struct tls_conn *t, struct obuf *o, char *scratch, enum tls_io *st)
{
    long total = 0;
    *st = TLS_DONE;
    while (!obuf_empty(o)) {
        /* What to hand SSL_write depends only on what o holds, so the
         * retry after a WANT_WRITE passes the same bytes, as OpenSSL
         * requires: a large (or lone) first piece is encrypted in
         * place, small ones are coalesced into scratch. */
        const struct iovec *v = o->iov + o->iov_done;
        int cnt = o->niov - o->iov_done;
        const char *p;
        size_t len;
        if (v[0].iov_len >= opts.wbuf_size || cnt == 1) {   /* nothing to coalesce */
            p = v[0].iov_base;
            len = v[0].iov_len;
        } else {
            len = 0;
            for (int i = 0; i < cnt && len < opts.wbuf_size; i++) {
                size_t k = v[i].iov_len;
                if (k > opts.wbuf_size - len)
                    k = opts.wbuf_size - len;
                memcpy(scratch + len, v[i].iov_base, k);
                len += k;
            }
            p = scratch;
        }
        size_t w = 0;
        errno = 0;
        if (SSL_write_ex(t->ssl, p, len, &w) <= 0) {
            *st = io_status(t, 0);
            if (*st == TLS_WANT_READ || *st == TLS_WANT_WRITE)
                return total;
            return -1;
        }
        total += (long)w;
        obuf_consume(o, w);
    }
    return total;
}

const char *
tls_conn_version(struct tls_conn *t)
{
    return SSL_get_version(t->ssl);
}

const char *
tls_conn_cipher(struct tls_conn *t)
{
    return SSL_get_cipher_name(t->ssl);
}

#else /* !HAVE_TLS */

int  tls_verify_flags(int mode) { return mode; }
int
tls_setup(const struct tls_options *o, char *err, size_t errlen)
{
    (void)o;
    snprintf(err, errlen, "TLS is not supported by this build (configure found no OpenSSL)");
    return -1;
}
bool tls_enabled(void) { return false; }
bool
tls_refresh(char *err, size_t errlen)
{
    snprintf(err, errlen, "Error TLS not enabled");
    return false;
}
void tls_teardown(void) {}
void tls_stats_get(struct tls_stats *s) { memset(s, 0, sizeof(*s)); }
void tls_count_handshake_error(void) {}
size_t tls_wbuf_size(void) { return 0; }
struct tls_conn *tls_conn_new(int fd) { (void)fd; return NULL; }
void tls_conn_free(struct tls_conn *t) { (void)t; }
enum tls_io tls_handshake(struct tls_conn *t) { (void)t; return TLS_FAILED; }
size_t
tls_read(struct tls_conn *t, void *buf, size_t n, enum tls_io *st)
{
    (void)t; (void)buf; (void)n;
    *st = TLS_FAILED;
    return 0;
}
size_t
tls_readv(struct tls_conn *t, const struct iovec *iov, int n, enum tls_io *st)
{
    (void)t; (void)iov; (void)n;
    *st = TLS_FAILED;
    return 0;
}
bool tls_pending(struct tls_conn *t) { (void)t; return false; }
long
tls_flush(struct tls_conn *t, struct obuf *o, char *scratch, enum tls_io *st)
{
    (void)t; (void)o; (void)scratch;
    *st = TLS_FAILED;
    return -1;
}
const char *tls_conn_version(struct tls_conn *t) { (void)t; return ""; }
const char *tls_conn_cipher(struct tls_conn *t) { (void)t; return ""; }

#endif
