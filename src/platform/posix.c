/*
 * posix.c -- platform layer for Linux and macOS (see platform.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE                 /* sendmmsg (Linux) */
#endif
#include "config.h"                 /* HAVE_ACCEPT4 ... (configure.ac: each
                                       Linux-only feature and its fallback) */
#include "platform.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#if HAVE_DECL_SYS_GETTID
#include <sys/syscall.h>
#endif
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <event2/thread.h>

/* Write end of the pipe the waiting parent reads (-d); -1 when not
 * daemonizing or once the parent has been released. */
static int ready_fd = -1;

/*
 * Fork; the parent blocks until the child calls platform_daemonize_done()
 * (exit 0) or exits without doing so (exit with the child's status, at
 * least 1).  So `memcached -d` only returns once the daemon is listening,
 * and a failed bind still reaches the terminal with a non-zero exit.
 */
int
platform_daemonize_begin(char *err, size_t errlen)
{
    int fds[2];
    if (pipe(fds) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid > 0) {
        char c;
        ssize_t n;
        int st = 0;
        close(fds[1]);
        do {
            n = read(fds[0], &c, 1);
        } while (n < 0 && errno == EINTR);
        if (n == 1)
            _exit(0);
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
        _exit(WIFEXITED(st) && WEXITSTATUS(st) != 0 ? WEXITSTATUS(st) : 1);
    }
    close(fds[0]);
    (void)fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    ready_fd = fds[1];
    if (setsid() < 0) {
        snprintf(err, errlen, "setsid: %s", strerror(errno));
        return -1;
    }
    return 0;
}

void
platform_daemonize_done(void)
{
    if (ready_fd < 0)
        return;
    if (chdir("/") != 0) {
        /* harmless: we only lose the ability to unmount the old cwd */
    }
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2)
            close(fd);
    }
    ssize_t w;
    do {
        w = write(ready_fd, "R", 1);
    } while (w < 0 && errno == EINTR);
    close(ready_fd);
    ready_fd = -1;
}

char *
platform_cwd(void)
{
    char buf[4096];
    if (getcwd(buf, sizeof(buf)) == NULL)
        return NULL;
    return strdup(buf);
}

char *
platform_absolute_path(const char *base, const char *path)
{
    if (path == NULL)
        return NULL;
    if (path[0] == '/' || base == NULL)
        return strdup(path);
    size_t bl = strlen(base), pl = strlen(path);
    char *out = malloc(bl + pl + 2);
    if (out == NULL)
        return NULL;
    memcpy(out, base, bl);
    size_t n = bl;
    if (n == 0 || out[n - 1] != '/')
        out[n++] = '/';
    memcpy(out + n, path, pl + 1);
    return out;
}

bool
platform_is_root(void)
{
    return getuid() == 0 || geteuid() == 0;
}

int
platform_drop_privileges(const char *user, char *err, size_t errlen)
{
    if (!platform_is_root())
        return 0;                   /* nothing to drop; -u is ignored */
    struct passwd *pw = getpwnam(user);
    if (pw == NULL) {
        snprintf(err, errlen, "can't find the user %s to switch to", user);
        return -1;
    }
    if (setgroups(0, NULL) != 0 && errno != EPERM) {
        snprintf(err, errlen, "setgroups: %s", strerror(errno));
        return -1;
    }
    if (setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
        snprintf(err, errlen, "failed to assume identity of user %s: %s", user, strerror(errno));
        return -1;
    }
    return 0;
}

int
platform_enable_coredumps(char *err, size_t errlen)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_CORE, &rl) != 0) {
        snprintf(err, errlen, "getrlimit(RLIMIT_CORE): %s", strerror(errno));
        return -1;
    }
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_CORE, &rl) != 0) {
        snprintf(err, errlen, "setrlimit(RLIMIT_CORE): %s", strerror(errno));
        return -1;
    }
    return 0;
}

int
platform_raise_nofile(int maxconns, char *err, size_t errlen)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)maxconns;   /* as memcached: -c counts every descriptor */
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        snprintf(err, errlen, "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
        return -1;
    }
    if (rl.rlim_cur >= want)
        return 0;
    rl.rlim_cur = want;
    if (rl.rlim_max < want)
        rl.rlim_max = want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        snprintf(err, errlen, "failed to set rlimit for open files to %lu (try starting as root or lower -c): %s",
                 (unsigned long)want, strerror(errno));
        return -1;
    }
    return 0;
}

int
platform_lock_memory(char *err, size_t errlen)
{
    if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0) {
        snprintf(err, errlen, "mlockall: %s", strerror(errno));
        return -1;
    }
    return 0;
}

void
platform_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (path == NULL || path[0] == '\0')
        return;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n >= sizeof(sa.sun_path))
        return;
    memcpy(sa.sun_path, path, n);
    if (sa.sun_path[0] == '@') {    /* abstract namespace */
#ifdef HAVE_ABSTRACT_SOCKETS
        sa.sun_path[0] = '\0';
#else
        return;                     /* none here: not a path either */
#endif
    }
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (fd < 0)
        return;
    ssize_t w = sendto(fd, state, strlen(state), 0, (struct sockaddr *)&sa,
                       (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
    (void)w;
    close(fd);
}

void
platform_ignore_sigpipe(void)
{
    signal(SIGPIPE, SIG_IGN);
}

void
platform_ignore_sigxfsz(void)
{
#ifdef SIGXFSZ
    signal(SIGXFSZ, SIG_IGN);
#endif
}

int
platform_rename_durable(const char *src, const char *dst, char *err, size_t errlen)
{
    if (rename(src, dst) != 0) {
        snprintf(err, errlen, "rename %s to %s: %s", src, dst, strerror(errno));
        return -1;
    }
    char *copy = strdup(dst);
    if (copy == NULL)
        return 0;
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    free(copy);
    if (dfd >= 0) {
        if (fsync(dfd) != 0 && errno != EINVAL) {
            snprintf(err, errlen, "fsync of the directory of %s: %s", dst, strerror(errno));
            close(dfd);
            return -1;
        }
        close(dfd);
    }
    return 0;
}

void
platform_background_thread(void)
{
#if HAVE_DECL_SYS_GETTID
    /* On Linux a nice value is per thread (setpriority on the thread id). */
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
#else
    /* Elsewhere setpriority(PRIO_PROCESS, 0) would lower the whole
     * process, request threads included: leave the priority alone. */
#endif
}

/* fd made non-blocking and close-on-exec, unless failed (a step before
 * this one failed, errno set) or that fails: then fd is closed and -1
 * returned with errno kept. */
static int
nonblock_cloexec_or_close(int fd, int failed)
{
    int fl;
    if (failed || (fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int
platform_accept(int lfd)
{
#ifdef HAVE_ACCEPT4
    return accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
    int fd = accept(lfd, NULL, NULL);
    return fd >= 0 ? nonblock_cloexec_or_close(fd, 0) : -1;
#endif
}

ssize_t
platform_read(int fd, void *buf, size_t len)
{
    return read(fd, buf, len);
}

ssize_t
platform_readv(int fd, const struct iovec *iov, int iovcnt)
{
    return readv(fd, iov, iovcnt);
}

ssize_t
platform_send(int fd, const void *buf, size_t len)
{
#if HAVE_DECL_MSG_NOSIGNAL
    return send(fd, buf, len, MSG_NOSIGNAL);
#else
    return send(fd, buf, len, 0);   /* SIGPIPE is ignored (platform_ignore_sigpipe) */
#endif
}

ssize_t
platform_sendv(int fd, const struct iovec *iov, int iovcnt)
{
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = (struct iovec *)iov;
    msg.msg_iovlen = (size_t)iovcnt;
#if HAVE_DECL_MSG_NOSIGNAL
    return sendmsg(fd, &msg, MSG_NOSIGNAL);
#else
    return sendmsg(fd, &msg, 0);    /* SIGPIPE is ignored (platform_ignore_sigpipe) */
#endif
}

ssize_t
platform_udp_recv(int fd, void *buf, size_t len, struct sockaddr_storage *from,
                  socklen_t *fromlen, bool *truncated)
{
    struct iovec iov = { buf, len };
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_name = from;
    msg.msg_namelen = *fromlen;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    ssize_t n;
    do {
        n = recvmsg(fd, &msg, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    *fromlen = msg.msg_namelen;
    *truncated = (msg.msg_flags & MSG_TRUNC) != 0;
    return n;
}

int
platform_udp_send(int fd, const struct sockaddr *to, socklen_t tolen,
                  const struct iovec *dgram, int count)
{
#ifdef HAVE_SENDMMSG
    struct mmsghdr m[64];
    if (count > 64)
        count = 64;
    memset(m, 0, (size_t)count * sizeof(m[0]));
    for (int i = 0; i < count; i++) {
        m[i].msg_hdr.msg_name = (void *)to;
        m[i].msg_hdr.msg_namelen = tolen;
        m[i].msg_hdr.msg_iov = (struct iovec *)&dgram[i];
        m[i].msg_hdr.msg_iovlen = 1;
    }
    int n;
    do {
        n = sendmmsg(fd, m, (unsigned)count, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    return n;
#else
    int sent = 0;
    while (sent < count) {
        ssize_t n = sendto(fd, dgram[sent].iov_base, dgram[sent].iov_len, MSG_DONTWAIT,
                           to, tolen);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return sent > 0 ? sent : -1;
        }
        sent++;
    }
    return sent;
#endif
}

void
platform_udp_sndbuf(int fd, int bytes)
{
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
}

int
platform_dup(int fd)
{
    return fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

void *
platform_reserve(size_t len)
{
#if HAVE_DECL_MAP_NORESERVE
    int fl = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
#else
    int fl = MAP_PRIVATE | MAP_ANONYMOUS;
#endif
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, fl, -1, 0);
    return m == MAP_FAILED ? NULL : m;
}

void
platform_unreserve(void *p, size_t len)
{
    if (p != NULL)
        munmap(p, len);
}

int
platform_fs_space(const char *path, uint64_t *avail, uint64_t *total)
{
    struct statvfs v;
    if (statvfs(path, &v) != 0)
        return -1;
    *avail = (uint64_t)v.f_bavail * (uint64_t)v.f_frsize;
    *total = (uint64_t)v.f_blocks * (uint64_t)v.f_frsize;
    return 0;
}

void
platform_discard(void *p, size_t len)
{
#if HAVE_DECL_MADV_DONTNEED
    madvise(p, len, MADV_DONTNEED);
#else
    (void)p; (void)len;             /* the memory stays; contents are kept */
#endif
}

/* ---- files ---- */

int
platform_file_open(const char *path, enum platform_open mode)
{
    switch (mode) {
    case PLATFORM_READ:   return open(path, O_RDONLY | O_CLOEXEC);
    case PLATFORM_RDWR:   return open(path, O_RDWR | O_CLOEXEC);
    case PLATFORM_CREATE: return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    case PLATFORM_APPEND: return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    }
    errno = EINVAL;
    return -1;
}

ssize_t platform_file_write(int fd, const void *buf, size_t len) { return write(fd, buf, len); }

ssize_t
platform_file_pread(int fd, void *buf, size_t len, uint64_t off)
{
    return pread(fd, buf, len, (off_t)off);
}

ssize_t
platform_file_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
    return pwrite(fd, buf, len, (off_t)off);
}

int platform_file_sync(int fd) { return fsync(fd); }
int platform_file_close(int fd) { return close(fd); }
int platform_unlink(const char *path) { return unlink(path); }

int
platform_file_fsize(int fd, uint64_t *size)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -1;
    *size = (uint64_t)st.st_size;
    return 0;
}

char *
platform_last_separator(char *path)
{
    return strrchr(path, '/');
}

/* ---- system log ---- */

void
platform_syslog_open(const char *ident)
{
    openlog(ident, LOG_PID, LOG_DAEMON);
}

void
platform_syslog(int level, const char *line)
{
    /* log.h's scale: -2 error, -1 warning, 0 notice, 1 info, 2+ debug */
    int pri = level <= -2 ? LOG_ERR : level == -1 ? LOG_WARNING
            : level == 0 ? LOG_NOTICE : level == 1 ? LOG_INFO : LOG_DEBUG;
    syslog(pri, "%s", line);
}

void platform_syslog_close(void) { closelog(); }

/* ---- process ---- */

long platform_getpid(void) { return (long)getpid(); }

bool
platform_process_alive(long pid)
{
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

void
platform_cpu_times(double *user, double *sys)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    *sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

uint64_t
platform_physical_memory(void)
{
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    if (pages > 0 && psize > 0)
        return (uint64_t)pages * (uint64_t)psize;
#endif
    return 0;
}

void platform_yield(void) { sched_yield(); }

/* ---- wake-up channels ---- */

int
platform_wake_open(int fds[2], char *err, size_t errlen)
{
    if (pipe(fds) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    (void)fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    (void)fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    (void)fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
    return 0;
}

void
platform_wake(int wfd, char c)
{
    ssize_t n;
    do {
        n = write(wfd, &c, 1);
    } while (n < 0 && errno == EINTR);
}

ssize_t platform_wake_read(int rfd, char *buf, size_t len) { return read(rfd, buf, len); }

void
platform_wake_close(int rfd, int wfd)
{
    close(rfd);
    close(wfd);
}

void platform_on_control(void (*stop)(void), void (*reload)(void)) { (void)stop; (void)reload; }

void platform_event_threads(void) { evthread_use_pthreads(); }

bool
platform_service(int argc, char **argv, int (*run)(int, char **), int *rc)
{
    (void)run;
    if (argc < 2 || strcmp(argv[1], "--service") != 0)
        return false;
    fprintf(stderr, "--service is for Windows; on this system run memcached under systemd "
            "or launchd (see doc/service.md)\n");
    *rc = 64;
    return true;
}

/* ---- sockets ---- */

int
platform_bind(int family, const struct sockaddr *addr, socklen_t addrlen, int backlog,
              bool *no_family)
{
    *no_family = false;
    int fd = socket(family, backlog >= 0 ? SOCK_STREAM : SOCK_DGRAM, 0);
    if (fd < 0) {
        *no_family = errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT;
        return -1;
    }
    int one = 1;
    /* not for UDP: there it would let a second process bind the same
     * port and take part of the datagrams */
    if (backlog >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    int rc = bind(fd, addr, addrlen) != 0 || (backlog >= 0 && listen(fd, backlog) != 0);
    return nonblock_cloexec_or_close(fd, rc);
}

int
platform_listen_unix(const char *path, int mode, int backlog, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "unix socket path too long: %s", path);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket(AF_UNIX): %s", strerror(errno));
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    /* a stale socket file from an earlier run would make bind fail */
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    mode_t old = umask((mode_t)(~mode & 0777));
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (rc != 0 || listen(fd, backlog) != 0) {
        snprintf(err, errlen, "bind to unix socket %s failed: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
}

void
platform_tcp_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}
