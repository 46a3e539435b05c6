/*
 * log.c -- leveled logging (see log.h).
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static _Atomic int level;                 /* current verbosity */
static pthread_mutex_t dest_lock = PTHREAD_MUTEX_INITIALIZER;
static int  log_fd = 2;                   /* dest_lock; 2 = stderr */
static bool use_syslog;                   /* dest_lock */
static char log_path[4096];               /* dest_lock; "" = stderr */

void log_set_level(int v) { atomic_store(&level, v); }
int  log_get_level(void) { return atomic_load(&level); }
bool log_enabled(int l) { return l <= atomic_load_explicit(&level, memory_order_relaxed); }

static const char *
level_name(int l)
{
    switch (l) {
    case LOG_LVL_ERROR: return "ERROR";
    case LOG_LVL_WARN:  return "WARN";
    case LOG_LVL_NOTICE: return "NOTICE";
    case LOG_LVL_INFO:  return "INFO";
    case LOG_LVL_DEBUG: return "DEBUG";
    default:            return "TRACE";
    }
}

int
log_open(const char *path)
{
    int rc = 0;
    pthread_mutex_lock(&dest_lock);
    bool was_syslog = use_syslog;
    if (path == NULL || path[0] == '\0') {
        if (log_fd > 2) close(log_fd);
        log_fd = 2; use_syslog = false; log_path[0] = '\0';
    } else if (strcmp(path, "syslog") == 0) {
        if (log_fd > 2) close(log_fd);
        log_fd = 2; use_syslog = true; log_path[0] = '\0';
        openlog("memcached", LOG_PID, LOG_DAEMON);
    } else {
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            rc = -1;
        } else {
            if (log_fd > 2) close(log_fd);
            log_fd = fd; use_syslog = false;
            snprintf(log_path, sizeof(log_path), "%s", path);
        }
    }
    if (was_syslog && !use_syslog)
        closelog();
    pthread_mutex_unlock(&dest_lock);
    return rc;
}

int
log_reopen(void)
{
    char path[sizeof(log_path)];
    pthread_mutex_lock(&dest_lock);
    memcpy(path, log_path, sizeof(path));
    pthread_mutex_unlock(&dest_lock);
    if (path[0] == '\0')
        return 0;
    return log_open(path);
}

void
log_close(void)
{
    log_open(NULL);
}

void
log_vwrite(int l, const char *fmt, va_list ap)
{
    if (!log_enabled(l))
        return;
    char line[2048];
    int n = 0;
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    pthread_mutex_lock(&dest_lock);
    bool sys = use_syslog;
    int fd = log_fd;
    if (!sys) {
        n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
        n += snprintf(line + n, sizeof(line) - (size_t)n, ".%03d %s ",
                      (int)(tv.tv_usec / 1000), level_name(l));
    }
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    if (m < 0) m = 0;
    n += m;
    if (n > (int)sizeof(line) - 2) n = (int)sizeof(line) - 2;
    if (sys) {
        line[n] = '\0';
        int pri = l <= LOG_LVL_ERROR ? LOG_ERR : l == LOG_LVL_WARN ? LOG_WARNING
                : l == LOG_LVL_NOTICE ? LOG_NOTICE : l == LOG_LVL_INFO ? LOG_INFO : LOG_DEBUG;
        syslog(pri, "%s", line);
    } else {
        line[n++] = '\n';
        ssize_t w = write(fd, line, (size_t)n);
        (void)w;
    }
    pthread_mutex_unlock(&dest_lock);
}

void
log_write(int l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(l, fmt, ap);
    va_end(ap);
}
