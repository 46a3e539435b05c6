/*
 * platform.h -- every call that differs between operating systems.
 *
 * POSIX (Linux, macOS) lives in src/platform/posix.c, Windows in
 * src/platform/win32.c, with the same contract; no other file makes a call
 * that differs between systems.  Functions with err/errlen return 0 or -1
 * with a message in err naming what failed and why; the others return -1
 * with errno set (Windows socket errors are translated to errno values, so
 * callers test EAGAIN/EINTR/ECONNRESET alike everywhere).
 *
 * Descriptors are ints everywhere: a socket on Windows is a SOCKET handle
 * (small, kernel-assigned) that libevent and this layer accept as an int,
 * and a file is a C runtime descriptor.
 */
#ifndef MC_PLATFORM_H
#define MC_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sysdeps.h"

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
/* Reserve len bytes of zeroed address space; pages cost memory only once
 * written (NULL on failure).  platform_unreserve() gives it back. */
void *platform_reserve(size_t len);
void  platform_unreserve(void *p, size_t len);
/* Tell the system the contents of [p, p+len) inside a reservation are no
 * longer needed: the memory goes back to it, and the range reads as zeros
 * or as the old bytes afterwards (callers must not care which). */
void  platform_discard(void *p, size_t len);
/* Durable rename: the caller has synced the file (platform_file_sync);
 * rename over dst, replacing it atomically, and make the rename itself
 * durable (fsync of the directory; MoveFileEx with write-through). */
int  platform_rename_durable(const char *src, const char *dst, char *err, size_t errlen);

/* Files (snapshots, the log file): descriptors from platform_file_open,
 * close-on-exec, binary mode; -1 with errno on failure. */
enum platform_open {
    PLATFORM_READ,                  /* existing file, read only */
    PLATFORM_RDWR,                  /* existing file, read and write */
    PLATFORM_CREATE,                /* create or truncate, write only, owner-only (0600) */
    PLATFORM_APPEND                 /* create or append, write only (0644) */
};
int     platform_file_open(const char *path, enum platform_open mode);
ssize_t platform_file_write(int fd, const void *buf, size_t len);
/* Read / write at an absolute offset without moving the file position. */
ssize_t platform_file_pread(int fd, void *buf, size_t len, uint64_t off);
ssize_t platform_file_pwrite(int fd, const void *buf, size_t len, uint64_t off);
/* Flush the file's data to stable storage (fsync, FlushFileBuffers). */
int     platform_file_sync(int fd);
int     platform_file_close(int fd);
int     platform_file_fsize(int fd, uint64_t *size);
int     platform_unlink(const char *path);
/* The last directory separator in path ('/', and '\\' on Windows), or
 * NULL when it has none. */
char   *platform_last_separator(char *path);

/* The system log (-o logfile=syslog): syslog(3) on POSIX, the Application
 * event log on Windows.  level is log.h's scale (LOG_LVL_*). */
void platform_syslog_open(const char *ident);
void platform_syslog(int level, const char *line);
void platform_syslog_close(void);

/* Process facts for "stats" and snapshot temp files. */
long platform_getpid(void);
/* True if a process with this id exists (a stale snapshot temp file's
 * writer); false when it is gone or cannot be asked. */
bool platform_process_alive(long pid);
/* CPU time used by this process so far, user and system, in seconds. */
void platform_cpu_times(double *user, double *sys);
/* Physical memory in bytes, 0 if unknown (-L / large pages sizing). */
uint64_t platform_physical_memory(void);
/* Give the CPU to another thread (a lock holder) before trying again. */
void platform_yield(void);
/* One step of a spin wait: tells the CPU we are spinning (x86 PAUSE,
 * ARM YIELD), nothing elsewhere. */
static inline void
platform_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Make libevent thread-safe with the system's threads (pthreads, or
 * Windows threads); before any event base is created. */
void platform_event_threads(void);

/* Wake-up channels: a pair of descriptors, [0] to watch for reading in
 * an event loop and [1] to write single bytes to from any thread (a pipe
 * on POSIX, a loopback socket pair on Windows, where libevent cannot
 * watch pipes).  Both ends are close-on-exec; the read end is
 * non-blocking. */
int     platform_wake_open(int fds[2], char *err, size_t errlen);
/* Send byte c (never blocks for long: one byte per request) */
void    platform_wake(int wfd, char c);
/* Read what is waiting (up to len bytes): count, or <= 0 when nothing. */
ssize_t platform_wake_read(int rfd, char *buf, size_t len);
void    platform_wake_close(int rfd, int wfd);

/* Stop and reload requests that arrive outside the event loop's signals:
 * on Windows Ctrl+C, Ctrl+Break, the console closing and the service's
 * stop call stop(), the service's PARAMCHANGE (sc.exe control memcached
 * paramchange: SIGHUP's equivalent) calls reload().  Both run on another
 * thread and must only hand the work to the main loop, as the server's
 * request_stop/request_reload do.  No-op on POSIX, where
 * SIGTERM/SIGINT/SIGHUP arrive as libevent signal events. */
void platform_on_control(void (*stop)(void), void (*reload)(void));

/* Service mode, before anything else in main(): when argv[1] is
 * "--service", carry out the service command (Windows: install, uninstall,
 * run under the Service Control Manager, which calls run(argc, argv) with
 * the service's own arguments), set *rc to the exit status and return
 * true; otherwise return false.  POSIX has no such mode: "--service" is
 * answered with a pointer to systemd/launchd (doc/service.md). */
bool platform_service(int argc, char **argv, int (*run)(int, char **), int *rc);

/* Socket reads for the connection layer: bytes read, 0 at EOF, -1 with
 * errno (EAGAIN when nothing is there). */
ssize_t platform_read(int fd, void *buf, size_t len);
ssize_t platform_readv(int fd, const struct iovec *iov, int iovcnt);
/* A socket of the given family bound to addr: with backlog >= 0 a
 * listening stream socket (SO_REUSEADDR where that means "restart
 * quickly", exclusive use on Windows), with backlog < 0 a datagram socket;
 * IPv6 sockets are v6-only; non-blocking and close-on-exec.  -1 with
 * errno; *no_family set when the system lacks the address family (the
 * caller skips that address). */
int platform_bind(int family, const struct sockaddr *addr, socklen_t addrlen, int backlog,
                  bool *no_family);
/* A listening unix-domain socket at path with permissions mode (-s, -a);
 * a stale socket file is replaced.  Windows: refused with a message. */
int platform_listen_unix(const char *path, int mode, int backlog, char *err, size_t errlen);
/* Disable Nagle on an accepted TCP socket (best effort). */
void platform_tcp_nodelay(int fd);
/* Accept a connection on listening socket lfd, already non-blocking and
 * close-on-exec (one accept4(2) where there is one); -1 with errno. */
int platform_accept(int lfd);
/* Write to a stream socket without raising SIGPIPE; -1 with errno
 * (EAGAIN when it is full). */
ssize_t platform_send(int fd, const void *buf, size_t len);
/* The same for iovcnt buffers gathered in one call (sendmsg, WSASend);
 * iovcnt is at most IOV_MAX. */
ssize_t platform_sendv(int fd, const struct iovec *iov, int iovcnt);

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
