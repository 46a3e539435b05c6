/*
 * sysdeps.h -- the system headers and types that differ between operating
 * systems, in one place: sockets, socket addresses, struct iovec, ssize_t.
 *
 * Types only, no calls: every call that differs lives in platform.h.
 * On Windows (mingw-w64) sockets come from Winsock 2 and struct iovec,
 * which Windows lacks, is declared here with POSIX's field names; the
 * platform layer converts it to WSABUF where it hands buffers to Winsock.
 */
#ifndef MC_SYSDEPS_H
#define MC_SYSDEPS_H

#include <stddef.h>
#include <sys/types.h>

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
struct iovec {
    void  *iov_base;
    size_t iov_len;
};
#else
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#endif

/* printf-style format checking: mingw's C99 stdio (__USE_MINGW_ANSI_STDIO)
 * is GNU's format language, not Microsoft's. */
#ifdef __MINGW32__
#define MC_PRINTF(f, a) __attribute__((format(gnu_printf, f, a)))
#else
#define MC_PRINTF(f, a) __attribute__((format(printf, f, a)))
#endif

#endif
