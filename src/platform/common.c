/*
 * common.c -- the platform functions whose code is the same on every
 * system, written on top of the ones that differ (see platform.h).
 */
#include "platform.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int
platform_write_pidfile(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        snprintf(err, errlen, "could not open the pid file %s for writing: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f, "%ld\n", platform_getpid());
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
        platform_unlink(path);
}

int
platform_file_size(const char *path, uint64_t *size)
{
    int fd = platform_file_open(path, PLATFORM_READ);
    if (fd < 0)
        return -1;
    int rc = platform_file_fsize(fd, size);
    int e = errno;
    platform_file_close(fd);
    errno = e;
    return rc;
}
