/*
 * platform.h -- every call that differs between operating systems.
 *
 * POSIX (Linux, macOS) lives in src/platform/posix.c; a Windows port adds
 * src/platform/win32.c with the same contract.  Each function returns 0 or
 * -1 with a message in err (size errlen) naming what failed and why.
 */
#ifndef MC_PLATFORM_H
#define MC_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Detach from the terminal (-d) in two steps.  _begin() forks before any
 * thread starts; the parent waits and exits 0 once the child calls _done()
 * (after binding and writing the pid file), or with the child's exit code
 * if it dies first.  _done() chdirs to "/", points stdio at /dev/null and
 * releases the parent; a no-op when _begin() was not called.  Relative
 * paths must be made absolute (platform_absolute_path) before _done(). */
int  platform_daemonize_begin(char *err, size_t errlen);
void platform_daemonize_done(void);
/* The current directory, malloc'd; NULL on error. */
char *platform_cwd(void);
/* path made absolute against directory base (path itself if already
 * absolute or base is NULL), malloc'd; NULL for a NULL path or no memory. */
char *platform_absolute_path(const char *base, const char *path);
/* Switch to user (-u) after binding; drops supplementary groups. */
int  platform_drop_privileges(const char *user, char *err, size_t errlen);
/* True if running as the superuser. */
bool platform_is_root(void);
/* Raise the core file limit to the maximum (-r). */
int  platform_enable_coredumps(char *err, size_t errlen);
/* Make sure maxconns + reserve descriptors can be open. */
int  platform_raise_nofile(int maxconns, char *err, size_t errlen);
/* Lock all memory (-k). */
int  platform_lock_memory(char *err, size_t errlen);
/* Write / remove the pid file (-P). */
int  platform_write_pidfile(const char *path, char *err, size_t errlen);
void platform_remove_pidfile(const char *path);
/* Tell a service manager our state: "READY=1", "STOPPING=1", ... via the
 * $NOTIFY_SOCKET datagram protocol (no-op when unset; "@name", the
 * abstract namespace, only where configure found one: ignored elsewhere). */
void platform_notify(const char *state);
/* Ignore SIGPIPE (dead clients are handled by the send path). */
void platform_ignore_sigpipe(void);
/* Ignore SIGXFSZ, so exceeding a file size limit makes write() fail with
 * EFBIG (a failed snapshot) instead of killing the process.  No-op where
 * the signal does not exist. */
void platform_ignore_sigxfsz(void);
/* Lower the calling thread's CPU priority (background work such as
 * snapshots, so that request latency suffers less).  Best effort. */
void platform_background_thread(void);
/* Durable rename: fsync(file) done by caller; rename over dst and fsync
 * the directory. */
/* Reserve len bytes of zeroed address space; pages cost memory only once
 * written (NULL on failure).  platform_unreserve() gives it back. */
void *platform_reserve(size_t len);
void  platform_unreserve(void *p, size_t len);
int  platform_rename_durable(const char *src, const char *dst, char *err, size_t errlen);

/* Socket reads for the connection layer: bytes read, 0 at EOF, -1 with
 * errno (EAGAIN when nothing is there). */
ssize_t platform_read(int fd, void *buf, size_t len);
ssize_t platform_readv(int fd, const struct iovec *iov, int iovcnt);
/* Accept a connection on listening socket lfd, already non-blocking and
 * close-on-exec (one accept4(2) where there is one); -1 with errno. */
int platform_accept(int lfd);
/* Write to a stream socket without raising SIGPIPE; -1 with errno
 * (EAGAIN when it is full). */
ssize_t platform_send(int fd, const void *buf, size_t len);

/* Datagram sockets (UDP, src/net/udp.c). */
/* Receive one datagram into buf[0..len): its length, or -1 with errno
 * (EAGAIN when none is waiting).  The sender's address goes to from, its
 * length to fromlen (which holds the size of from on entry); truncated
 * says the datagram was longer than len (the rest is lost). */
ssize_t platform_udp_recv(int fd, void *buf, size_t len, struct sockaddr_storage *from,
                          socklen_t *fromlen, bool *truncated);
/* Send count datagrams, dgram[i] being the whole of datagram i, in order
 * to the same destination, as many as the socket takes without blocking
 * (sendmmsg where the system has it).  Returns how many went out (at
 * least 1), or -1 with errno when the first could not (EAGAIN: the
 * socket's send buffer is full). */
int     platform_udp_send(int fd, const struct sockaddr *to, socklen_t tolen,
                          const struct iovec *dgram, int count);
/* Ask for a send buffer of `bytes` (the system may grant less); best effort. */
void    platform_udp_sndbuf(int fd, int bytes);
/* A second descriptor for the same socket (close-on-exec); -1 with errno. */
int     platform_dup(int fd);

/* Disk use (snapshot state for monitoring).  Size in bytes of the file
 * at path: 0 with *size set, -1 with errno (ENOENT: no file). */
int     platform_file_size(const char *path, uint64_t *size);
/* Space of the filesystem holding path (a file or directory): bytes
 * available to an unprivileged writer and its total size.  0, or -1 with
 * errno. */
int     platform_fs_space(const char *path, uint64_t *avail, uint64_t *total);

#endif
