/*
 * log.h -- leveled logging with timestamps.
 *
 * Levels follow memcached's -v flags: log_error/log_warn always print,
 * log_info at -v, log_debug at -vv (client commands), log_trace at -vvv.
 * Output goes to stderr unless log_open() chose a file or syslog.
 * Thread safety: any thread; a line is written with one write(2).
 */
#ifndef MC_LOG_H
#define MC_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include "sysdeps.h"             /* MC_PRINTF */

enum log_level { LOG_LVL_ERROR = -2, LOG_LVL_WARN = -1, LOG_LVL_NOTICE = 0,
                 LOG_LVL_INFO = 1, LOG_LVL_DEBUG = 2, LOG_LVL_TRACE = 3 };

/* Current verbosity (0 = errors, warnings and notices only). */
void log_set_level(int verbose);
int  log_get_level(void);
bool log_enabled(int level);

/* Send output to a file (path), syslog (path == "syslog") or stderr (NULL).
 * Returns 0, or -1 with errno set (the old destination is kept). */
int  log_open(const char *path);
/* Reopen the current file (after logrotate moved it).  0 or -1. */
int  log_reopen(void);
void log_close(void);

void log_write(int level, const char *fmt, ...) MC_PRINTF(2, 3);
void log_vwrite(int level, const char *fmt, va_list ap);

#define log_error(...)  log_write(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)   log_write(LOG_LVL_WARN, __VA_ARGS__)
#define log_notice(...) log_write(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...)   do { if (log_enabled(LOG_LVL_INFO)) log_write(LOG_LVL_INFO, __VA_ARGS__); } while (0)
#define log_debug(...)  do { if (log_enabled(LOG_LVL_DEBUG)) log_write(LOG_LVL_DEBUG, __VA_ARGS__); } while (0)
#define log_trace(...)  do { if (log_enabled(LOG_LVL_TRACE)) log_write(LOG_LVL_TRACE, __VA_ARGS__); } while (0)

#endif
