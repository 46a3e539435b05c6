/*
 * tls.h -- TLS for client connections (src/net/tls.c, OpenSSL).
 *
 * One process-wide server context, built from memcached's ssl_* options
 * at start (tls_setup) and rebuilt whole by tls_refresh() ("refresh_certs",
 * SIGHUP): a new context replaces the old one only when every file of it
 * loaded, so a bad certificate on disk never breaks the running server;
 * connections keep the context they started with (OpenSSL counts its
 * references).
 *
 * A TLS connection is driven by the worker's own event loop, never by a
 * bufferevent: tls_handshake(), tls_read() and tls_flush() are
 * non-blocking and say what the socket must wait for (enum tls_io).  Our
 * buffers stay ours: input is decrypted straight into the buffers the
 * plaintext path uses, and output is taken from the connection's obuf a
 * record at a time (small replies coalesced into the worker's scratch
 * buffer of ssl_wbuf_size bytes, large ones encrypted in place), so a
 * stalled TLS peer holds what a stalled plaintext peer holds plus one
 * OpenSSL record buffer (released when idle: SSL_MODE_RELEASE_BUFFERS).
 *
 * Thread safety: tls_setup/tls_teardown on the main thread before workers
 * start / after they stop.  tls_refresh and tls_conn_new may run on any
 * thread (the context pointer is swapped under ctx_lock, a leaf lock held
 * only for the swap or an SSL_new).  A struct tls_conn belongs to its
 * connection's worker.  Counters are atomics.
 */
#ifndef MC_TLS_H
#define MC_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "sysdeps.h"

#include "obuf.h"

struct tls_options {
    const char *chain_cert;         /* PEM certificate chain (required) */
    const char *key;                /* private key (NULL: in chain_cert) */
    int         keyformat;          /* 1 PEM, 2 ASN1/DER (OpenSSL's numbers) */
    int         verify_mode;        /* 0 none, 1 request, 2 require, 3 once */
    const char *ca_cert;            /* client CAs (PEM), NULL = none */
    const char *ciphers;            /* TLS <= 1.2 cipher list, NULL = default */
    int         min_version;        /* 0..3: TLS 1.0 .. 1.3 */
    bool        session_cache;      /* server-side session cache */
    bool        kernel_tls;         /* SSL_OP_ENABLE_KTLS */
    size_t      wbuf_size;          /* bytes coalesced per record write */
};

/* Build the server context.  0, or -1 with err holding memcached's
 * message ("Error loading the certificate chain: <file> : <openssl>").
 * The rest of OpenSSL's error queue goes to the log. */
int  tls_setup(const struct tls_options *o, char *err, size_t errlen);
/* Is TLS set up? */
bool tls_enabled(void);
/* Re-read the certificate files into a new context; on any failure the
 * running one stays.  true, or false with err (memcached's message,
 * without "\r\n"). */
bool tls_refresh(char *err, size_t errlen);
void tls_teardown(void);

/* OpenSSL's SSL_VERIFY_* bits for verify mode 0..3 ("stats settings"
 * shows them, as memcached does). */
int  tls_verify_flags(int mode);
/* "tlsv1.0" .. "tlsv1.3" for min_version 0..3. */
const char *tls_version_name(int v);

struct tls_stats {
    uint64_t handshake_errors;      /* handshakes failed or timed out */
    uint64_t new_sessions;          /* sessions added to the cache */
    int64_t  last_refresh;          /* unix time the certificates loaded */
};
void tls_stats_get(struct tls_stats *s);
/* A handshake that timed out (counted as a handshake error). */
void tls_count_handshake_error(void);

/* ---- one connection ---- */

struct tls_conn;

enum tls_io {
    TLS_DONE,                       /* handshake complete / progress made */
    TLS_WANT_READ,                  /* wait until the socket is readable */
    TLS_WANT_WRITE,                 /* ... writable */
    TLS_EOF,                        /* the peer closed */
    TLS_FAILED,                     /* protocol or socket error: close */
};

/* A server-side TLS state for accepted socket fd; NULL if out of memory. */
struct tls_conn *tls_conn_new(int fd);
void tls_conn_free(struct tls_conn *t);
/* Drive the handshake. */
enum tls_io tls_handshake(struct tls_conn *t);
/* Decrypt into buf[0..n) as many records as are ready.  Returns the
 * bytes given (> 0, *st = TLS_DONE), or 0 with *st saying why. */
size_t tls_read(struct tls_conn *t, void *buf, size_t n, enum tls_io *st);
/* Like tls_read, into the iovecs in order (a large value straight into
 * item memory). */
size_t tls_readv(struct tls_conn *t, const struct iovec *iov, int n, enum tls_io *st);
/* Bytes OpenSSL holds that no read has taken yet, decrypted or read
 * ahead from the socket (which will not signal them). */
bool tls_pending(struct tls_conn *t);
/* Encrypt and send what o holds, scratch (wbuf_size bytes) for
 * coalescing.  Returns bytes of o sent (>= 0), or -1 on failure; *st says
 * what to wait for when o is not empty. */
long tls_flush(struct tls_conn *t, struct obuf *o, char *scratch, enum tls_io *st);
/* Protocol and cipher names, for logs and "stats conns". */
const char *tls_conn_version(struct tls_conn *t);
const char *tls_conn_cipher(struct tls_conn *t);

/* Bytes of the coalescing buffer each worker needs (wbuf_size). */
size_t tls_wbuf_size(void);

#endif
