/*
 * log.c -- leveled logging (see log.h).
 */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "platform.h"

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
        if (log_fd > 2) platform_file_close(log_fd);
        log_fd = 2; use_syslog = false; log_path[0] = '\0';
    } else if (strcmp(path, "syslog") == 0) {
        if (log_fd > 2) platform_file_close(log_fd);
        log_fd = 2; use_syslog = true; log_path[0] = '\0';
        platform_syslog_open("memcached");
    } else {
        int fd = platform_file_open(path, PLATFORM_APPEND);
        if (fd < 0) {
            rc = -1;
        } else {
            if (log_fd > 2) platform_file_close(log_fd);
            log_fd = fd; use_syslog = false;
            snprintf(log_path, sizeof(log_path), "%s", path);
        }
    }
    if (was_syslog && !use_syslog)
        platform_syslog_close();
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
    time_t secs = tv.tv_sec;        /* a long in Windows' struct timeval */
    localtime_r(&secs, &tm);
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
        platform_syslog(l, line);
    } else {
        line[n++] = '\n';
        (void)platform_file_write(fd, line, (size_t)n);
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
