/*
 * posix.c -- platform layer for Linux and macOS (see platform.h).
 */
#include "platform.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int
platform_daemonize(char *err, size_t errlen)
{
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid > 0)
        _exit(0);
    if (setsid() < 0) {
        snprintf(err, errlen, "setsid: %s", strerror(errno));
        return -1;
    }
    if (chdir("/") != 0) {
        snprintf(err, errlen, "chdir /: %s", strerror(errno));
        return -1;
    }
    int fd = open("/dev/null", O_RDWR);
    if (fd < 0) {
        snprintf(err, errlen, "open /dev/null: %s", strerror(errno));
        return -1;
    }
    dup2(fd, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    if (fd > 2)
        close(fd);
    return 0;
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
    rlim_t want = (rlim_t)maxconns + 64;
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

int
platform_write_pidfile(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        snprintf(err, errlen, "could not open the pid file %s for writing: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f, "%ld\n", (long)getpid());
    if (fclose(f) != 0) {
        snprintf(err, errlen, "could not write the pid file %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

void
platform_remove_pidfile(const char *path)
{
    if (path != NULL)
        unlink(path);
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
    if (sa.sun_path[0] == '@')      /* abstract namespace */
        sa.sun_path[0] = '\0';
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
