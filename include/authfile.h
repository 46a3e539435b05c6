/*
 * authfile.h -- ASCII protocol authentication (-Y <file>), as memcached
 * 1.5.15+: the file holds "user:password" lines; a connection
 * authenticates with "set <any> <any> <any> <len>\r\n<user> <pass>\r\n"
 * (answered STORED) before any other command (src/proto/process.c).
 *
 * The table is replaced whole: authfile_load() builds a new one and swaps
 * it in only when the file read cleanly, so a SIGHUP with a broken file
 * keeps the credentials that work (memcached's rule).  Passwords are
 * compared in time independent of where they differ.
 *
 * Thread safety: authfile_check() from any worker; authfile_load() from
 * the main thread (start, SIGHUP).  table_lock (leaf) guards the table
 * pointer and is held for a check or a swap, nothing else.
 */
#ifndef MC_AUTHFILE_H
#define MC_AUTHFILE_H

#include <stdbool.h>
#include <stddef.h>

/* Read path into a new table and make it current.  0, or -1 with err
 * (memcached's wording) and the current table unchanged. */
int  authfile_load(const char *path, char *err, size_t errlen);
/* Does user/pass match an entry of the current table? */
bool authfile_check(const char *user, size_t ulen, const char *pass, size_t plen);
/* Entries in the current table. */
size_t authfile_entries(void);
void authfile_teardown(void);

#endif
