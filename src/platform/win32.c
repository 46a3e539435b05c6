/*
 * win32.c -- platform layer for Windows (see platform.h), built with
 * mingw-w64 (winpthreads gives pthreads; libevent runs on its win32
 * backend).
 *
 * What differs from POSIX, in short:
 *   - sockets are Winsock 2 SOCKETs, used as ints; Winsock errors are
 *     translated to errno (set_errno_from_wsa) so callers stay POSIX;
 *   - no fork: -d is refused and the Service Control Manager takes its
 *     place (platform_service: install, uninstall, run);
 *   - no users to switch to (-u), no core limit (-r), no mlockall (-k):
 *     refused with a sentence saying what to do instead;
 *   - Ctrl+C, Ctrl+Break, console close and service stop all call the
 *     server's stop function (platform_on_control; PARAMCHANGE reloads as SIGHUP);
 *   - the durable rename is MoveFileEx(REPLACE_EXISTING | WRITE_THROUGH)
 *     after FlushFileBuffers on the file;
 *   - logfile=syslog writes to the Application event log.
 */
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include "config.h"
#include "platform.h"

#include <direct.h>
#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <process.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <windows.h>
#include <winsock2.h>
#include <ws2tcpip.h>

#include <event2/thread.h>
#include <event2/util.h>

/* ---- errors ---- */

static void
set_errno_from_wsa(int e)
{
    switch (e) {
    case WSAEWOULDBLOCK:   errno = EAGAIN; break;
    case WSAEINTR:         errno = EINTR; break;
    case WSAECONNRESET:    errno = ECONNRESET; break;
    case WSAECONNABORTED:  errno = ECONNABORTED; break;
    case WSAENOTCONN:      errno = ENOTCONN; break;
    case WSAESHUTDOWN:     errno = EPIPE; break;
    case WSAEADDRINUSE:    errno = EADDRINUSE; break;
    case WSAEADDRNOTAVAIL: errno = EADDRNOTAVAIL; break;
    case WSAEACCES:        errno = EACCES; break;
    case WSAEMFILE:        errno = EMFILE; break;
    case WSAENOBUFS:       errno = ENOBUFS; break;
    case WSAEAFNOSUPPORT:  errno = EAFNOSUPPORT; break;
    case WSAEPROTONOSUPPORT: errno = EPROTONOSUPPORT; break;
    case WSAEMSGSIZE:      errno = EMSGSIZE; break;
    case WSAEINVAL:        errno = EINVAL; break;
    case WSAENOTSOCK:      errno = EBADF; break;
    default:               errno = EIO; break;
    }
}

static void
set_errno_from_win(DWORD e)
{
    switch (e) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND: errno = ENOENT; break;
    case ERROR_ACCESS_DENIED:  errno = EACCES; break;
    case ERROR_DISK_FULL:
    case ERROR_HANDLE_DISK_FULL: errno = ENOSPC; break;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:    errno = ENOMEM; break;
    default:                   errno = EIO; break;
    }
}

static SOCKET S(int fd) { return (SOCKET)(intptr_t)fd; }

/* Winsock must be started before the first socket call; the first
 * platform call that can come first (wake channels, binds) does it. */
static void
wsa_start(void)
{
    static INIT_ONCE once = INIT_ONCE_STATIC_INIT;
    BOOL pending;
    if (InitOnceBeginInitialize(&once, 0, &pending, NULL) && pending) {
        WSADATA d;
        WSAStartup(MAKEWORD(2, 2), &d);
        InitOnceComplete(&once, 0, NULL);
    }
}

/* ---- process lifecycle ---- */

int
platform_daemonize_begin(char *err, size_t errlen)
{
    snprintf(err, errlen, "-d (run as a daemon) is not available on Windows: install "
             "memcached as a service instead (memcached.exe --service install; see doc/service.md)");
    return -1;
}

void platform_daemonize_done(void) { }

char *
platform_cwd(void)
{
    char buf[MAX_PATH * 4];
    if (_getcwd(buf, (int)sizeof(buf)) == NULL)
        return NULL;
    return strdup(buf);
}

static bool
is_sep(char c)
{
    return c == '/' || c == '\\';
}

char *
platform_absolute_path(const char *base, const char *path)
{
    if (path == NULL)
        return NULL;
    /* C:\x, C:/x, \x, \\server\share: absolute (a drive-relative "C:x"
     * is left alone too) */
    bool abs = is_sep(path[0]) || (path[0] != '\0' && path[1] == ':');
    if (abs || base == NULL)
        return strdup(path);
    size_t bl = strlen(base), pl = strlen(path);
    char *out = malloc(bl + pl + 2);
    if (out == NULL)
        return NULL;
    memcpy(out, base, bl);
    size_t n = bl;
    if (n == 0 || !is_sep(out[n - 1]))
        out[n++] = '\\';
    memcpy(out + n, path, pl + 1);
    return out;
}

int
platform_drop_privileges(const char *user, char *err, size_t errlen)
{
    snprintf(err, errlen, "-u %s is not available on Windows: run the service under the "
             "account you want (sc.exe config memcached obj= ...)", user);
    return -1;
}

bool platform_is_root(void) { return false; }

int
platform_enable_coredumps(char *err, size_t errlen)
{
    snprintf(err, errlen, "-r is not available on Windows: crash dumps are configured with "
             "Windows Error Reporting (LocalDumps)");
    return -1;
}

int
platform_raise_nofile(int maxconns, char *err, size_t errlen)
{
    (void)maxconns; (void)err; (void)errlen;
    return 0;                       /* sockets are not bounded by a descriptor limit */
}

int
platform_lock_memory(char *err, size_t errlen)
{
    snprintf(err, errlen, "-k (lock memory) is not available on Windows");
    return -1;
}

/* Service state (set when running under the Service Control Manager). */
static SERVICE_STATUS_HANDLE svc_handle;
static SERVICE_STATUS svc_status;

static void
svc_report(DWORD state, DWORD exit_code)
{
    if (svc_handle == NULL)
        return;
    svc_status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
    svc_status.dwCurrentState = state;
    svc_status.dwControlsAccepted = state == SERVICE_RUNNING ?
        SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN | SERVICE_ACCEPT_PARAMCHANGE : 0;
    svc_status.dwWin32ExitCode = exit_code == 0 ? NO_ERROR : ERROR_SERVICE_SPECIFIC_ERROR;
    svc_status.dwServiceSpecificExitCode = exit_code;
    svc_status.dwWaitHint = state == SERVICE_RUNNING || state == SERVICE_STOPPED ? 0 : 30000;
    if (state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING)
        svc_status.dwCheckPoint++;
    else
        svc_status.dwCheckPoint = 0;
    SetServiceStatus(svc_handle, &svc_status);
}

void
platform_notify(const char *state)
{
    if (strcmp(state, "READY=1") == 0)
        svc_report(SERVICE_RUNNING, 0);
    else if (strcmp(state, "STOPPING=1") == 0)
        svc_report(SERVICE_STOP_PENDING, 0);
}

void platform_ignore_sigpipe(void) { }
void platform_ignore_sigxfsz(void) { }

void
platform_background_thread(void)
{
    SetThreadPriority(GetCurrentThread(), THREAD_PRIORITY_BELOW_NORMAL);
}

/* ---- memory ---- */

void *
platform_reserve(size_t len)
{
    /* committed but not touched: Windows backs pages when first written */
    return VirtualAlloc(NULL, len, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
}

void
platform_unreserve(void *p, size_t len)
{
    (void)len;
    if (p != NULL)
        VirtualFree(p, 0, MEM_RELEASE);
}

void
platform_discard(void *p, size_t len)
{
    VirtualAlloc(p, len, MEM_RESET, PAGE_READWRITE);
}

/* ---- files ---- */

int
platform_rename_durable(const char *src, const char *dst, char *err, size_t errlen)
{
    if (!MoveFileExA(src, dst, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
        DWORD e = GetLastError();
        set_errno_from_win(e);
        snprintf(err, errlen, "rename %s to %s: Windows error %lu", src, dst, (unsigned long)e);
        return -1;
    }
    return 0;
}

int
platform_file_open(const char *path, enum platform_open mode)
{
    int fl = _O_BINARY | _O_NOINHERIT;
    switch (mode) {
    case PLATFORM_READ:   return _open(path, fl | _O_RDONLY);
    case PLATFORM_RDWR:   return _open(path, fl | _O_RDWR);
    case PLATFORM_CREATE: return _open(path, fl | _O_WRONLY | _O_CREAT | _O_TRUNC, _S_IREAD | _S_IWRITE);
    case PLATFORM_APPEND: return _open(path, fl | _O_WRONLY | _O_APPEND | _O_CREAT, _S_IREAD | _S_IWRITE);
    }
    errno = EINVAL;
    return -1;
}

ssize_t
platform_file_write(int fd, const void *buf, size_t len)
{
    if (len > INT_MAX)
        len = INT_MAX;
    return _write(fd, buf, (unsigned)len);
}

static ssize_t
file_at(int fd, void *buf, size_t len, uint64_t off, bool write)
{
    HANDLE h = (HANDLE)_get_osfhandle(fd);
    if (h == INVALID_HANDLE_VALUE) {
        errno = EBADF;
        return -1;
    }
    OVERLAPPED ov;
    memset(&ov, 0, sizeof(ov));
    ov.Offset = (DWORD)off;
    ov.OffsetHigh = (DWORD)(off >> 32);
    DWORD n = 0, want = len > 0x40000000 ? 0x40000000 : (DWORD)len;
    BOOL ok = write ? WriteFile(h, buf, want, &n, &ov) : ReadFile(h, buf, want, &n, &ov);
    if (!ok) {
        DWORD e = GetLastError();
        if (e == ERROR_HANDLE_EOF)
            return 0;
        set_errno_from_win(e);
        return -1;
    }
    return (ssize_t)n;
}

ssize_t
platform_file_pread(int fd, void *buf, size_t len, uint64_t off)
{
    return file_at(fd, buf, len, off, false);
}

ssize_t
platform_file_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
    return file_at(fd, (void *)buf, len, off, true);
}

int
platform_file_sync(int fd)
{
    HANDLE h = (HANDLE)_get_osfhandle(fd);
    if (h == INVALID_HANDLE_VALUE || !FlushFileBuffers(h)) {
        set_errno_from_win(GetLastError());
        return -1;
    }
    return 0;
}

int platform_file_close(int fd) { return _close(fd); }
int platform_unlink(const char *path) { return _unlink(path); }

int
platform_file_fsize(int fd, uint64_t *size)
{
    struct _stat64 st;
    if (_fstat64(fd, &st) != 0)
        return -1;
    *size = (uint64_t)st.st_size;
    return 0;
}

int
platform_fs_space(const char *path, uint64_t *avail, uint64_t *total)
{
    ULARGE_INTEGER a, t;
    if (!GetDiskFreeSpaceExA(path, &a, &t, NULL)) {
        set_errno_from_win(GetLastError());
        return -1;
    }
    *avail = a.QuadPart;
    *total = t.QuadPart;
    return 0;
}

char *
platform_last_separator(char *path)
{
    char *a = strrchr(path, '/'), *b = strrchr(path, '\\');
    return a > b ? a : b;
}

/* ---- event log (logfile=syslog) ---- */

static HANDLE event_source;

void
platform_syslog_open(const char *ident)
{
    if (event_source == NULL)
        event_source = RegisterEventSourceA(NULL, ident);
}

void
platform_syslog(int level, const char *line)
{
    if (event_source == NULL)
        return;
    WORD type = level <= -2 ? EVENTLOG_ERROR_TYPE : level == -1 ? EVENTLOG_WARNING_TYPE
              : EVENTLOG_INFORMATION_TYPE;
    const char *strings[1] = { line };
    ReportEventA(event_source, type, 0, 0, NULL, 1, 0, strings, NULL);
}

void
platform_syslog_close(void)
{
    if (event_source != NULL)
        DeregisterEventSource(event_source);
    event_source = NULL;
}

/* ---- process ---- */

long platform_getpid(void) { return (long)GetCurrentProcessId(); }

bool
platform_process_alive(long pid)
{
    HANDLE h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, (DWORD)pid);
    if (h == NULL)
        return GetLastError() == ERROR_ACCESS_DENIED;
    DWORD code = 0;
    bool alive = GetExitCodeProcess(h, &code) && code == STILL_ACTIVE;
    CloseHandle(h);
    return alive;
}

static double
filetime_secs(FILETIME f)
{
    ULARGE_INTEGER u;
    u.LowPart = f.dwLowDateTime;
    u.HighPart = f.dwHighDateTime;
    return (double)u.QuadPart / 1e7;   /* 100 ns units */
}

void
platform_cpu_times(double *user, double *sys)
{
    FILETIME c, e, k, u;
    *user = *sys = 0;
    if (GetProcessTimes(GetCurrentProcess(), &c, &e, &k, &u)) {
        *user = filetime_secs(u);
        *sys = filetime_secs(k);
    }
}

uint64_t
platform_physical_memory(void)
{
    MEMORYSTATUSEX m;
    m.dwLength = sizeof(m);
    return GlobalMemoryStatusEx(&m) ? (uint64_t)m.ullTotalPhys : 0;
}

void platform_yield(void) { SwitchToThread(); }

void
platform_event_threads(void)
{
    wsa_start();
    evthread_use_windows_threads();
}

/* ---- wake-up channels: a loopback socket pair ---- */

int
platform_wake_open(int fds[2], char *err, size_t errlen)
{
    evutil_socket_t sv[2];
    wsa_start();
    if (evutil_socketpair(AF_INET, SOCK_STREAM, 0, sv) != 0) {
        snprintf(err, errlen, "socketpair: Winsock error %d", WSAGetLastError());
        return -1;
    }
    evutil_make_socket_nonblocking(sv[0]);
    evutil_make_socket_closeonexec(sv[0]);
    evutil_make_socket_closeonexec(sv[1]);
    fds[0] = (int)sv[0];
    fds[1] = (int)sv[1];
    return 0;
}

void
platform_wake(int wfd, char c)
{
    send(S(wfd), &c, 1, 0);
}

ssize_t
platform_wake_read(int rfd, char *buf, size_t len)
{
    return recv(S(rfd), buf, (int)len, 0);
}

void
platform_wake_close(int rfd, int wfd)
{
    closesocket(S(rfd));
    closesocket(S(wfd));
}

/* ---- stop requests: console control events and the service ---- */

static void (*stop_fn)(void), (*reload_fn)(void);

static BOOL WINAPI
on_console(DWORD ev)
{
    switch (ev) {
    case CTRL_C_EVENT:
    case CTRL_BREAK_EVENT:
    case CTRL_CLOSE_EVENT:
    case CTRL_SHUTDOWN_EVENT:
        if (stop_fn != NULL) {
            stop_fn();
            if (ev == CTRL_CLOSE_EVENT || ev == CTRL_SHUTDOWN_EVENT)
                Sleep(5000);        /* the process ends when we return */
            return TRUE;
        }
        return FALSE;
    default:
        return FALSE;
    }
}

void
platform_on_control(void (*stop)(void), void (*reload)(void))
{
    stop_fn = stop;
    reload_fn = reload;
    SetConsoleCtrlHandler(on_console, TRUE);
}

/* ---- sockets ---- */

ssize_t
platform_read(int fd, void *buf, size_t len)
{
    int n = recv(S(fd), buf, len > INT_MAX ? INT_MAX : (int)len, 0);
    if (n == SOCKET_ERROR) {
        set_errno_from_wsa(WSAGetLastError());
        return -1;
    }
    return n;
}

#define MAX_WSABUF 64

ssize_t
platform_readv(int fd, const struct iovec *iov, int iovcnt)
{
    WSABUF b[MAX_WSABUF];
    if (iovcnt > MAX_WSABUF)
        iovcnt = MAX_WSABUF;        /* a short read is within the contract */
    for (int i = 0; i < iovcnt; i++) {
        b[i].buf = iov[i].iov_base;
        b[i].len = (ULONG)iov[i].iov_len;
    }
    DWORD got = 0, flags = 0;
    if (WSARecv(S(fd), b, (DWORD)iovcnt, &got, &flags, NULL, NULL) == SOCKET_ERROR) {
        set_errno_from_wsa(WSAGetLastError());
        return -1;
    }
    return (ssize_t)got;
}

int
platform_accept(int lfd)
{
    SOCKET s = accept(S(lfd), NULL, NULL);
    if (s == INVALID_SOCKET) {
        set_errno_from_wsa(WSAGetLastError());
        return -1;
    }
    u_long one = 1;
    ioctlsocket(s, FIONBIO, &one);
    SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0);
    return (int)s;
}

ssize_t
platform_send(int fd, const void *buf, size_t len)
{
    int n = send(S(fd), buf, len > INT_MAX ? INT_MAX : (int)len, 0);
    if (n == SOCKET_ERROR) {
        set_errno_from_wsa(WSAGetLastError());
        return -1;
    }
    return n;
}

ssize_t
platform_sendv(int fd, const struct iovec *iov, int iovcnt)
{
    WSABUF b[MAX_WSABUF];
    if (iovcnt > MAX_WSABUF)
        iovcnt = MAX_WSABUF;        /* the caller sends the rest next */
    for (int i = 0; i < iovcnt; i++) {
        b[i].buf = iov[i].iov_base;
        b[i].len = (ULONG)iov[i].iov_len;
    }
    DWORD sent = 0;
    if (WSASend(S(fd), b, (DWORD)iovcnt, &sent, 0, NULL, NULL) == SOCKET_ERROR) {
        set_errno_from_wsa(WSAGetLastError());
        return -1;
    }
    return (ssize_t)sent;
}

ssize_t
platform_udp_recv(int fd, void *buf, size_t len, struct sockaddr_storage *from,
                  socklen_t *fromlen, bool *truncated)
{
    *truncated = false;
    int fl = (int)*fromlen;
    int n = recvfrom(S(fd), buf, (int)len, 0, (struct sockaddr *)from, &fl);
    if (n == SOCKET_ERROR) {
        int e = WSAGetLastError();
        if (e == WSAEMSGSIZE) {     /* the first len bytes were delivered */
            *truncated = true;
            *fromlen = (socklen_t)fl;
            return (ssize_t)len;
        }
        set_errno_from_wsa(e);
        return -1;
    }
    *fromlen = (socklen_t)fl;
    return n;
}

int
platform_udp_send(int fd, const struct sockaddr *to, socklen_t tolen,
                  const struct iovec *dgram, int count)
{
    int sent = 0;
    for (; sent < count; sent++) {
        int n = sendto(S(fd), dgram[sent].iov_base, (int)dgram[sent].iov_len, 0, to, (int)tolen);
        if (n == SOCKET_ERROR) {
            if (sent > 0)
                break;
            set_errno_from_wsa(WSAGetLastError());
            return -1;
        }
    }
    return sent;
}

void
platform_udp_sndbuf(int fd, int bytes)
{
    setsockopt(S(fd), SOL_SOCKET, SO_SNDBUF, (const char *)&bytes, sizeof(bytes));
}

int
platform_dup(int fd)
{
    WSAPROTOCOL_INFOW info;
    if (WSADuplicateSocketW(S(fd), GetCurrentProcessId(), &info) != 0) {
        set_errno_from_wsa(WSAGetLastError());
        return -1;
    }
    SOCKET s = WSASocketW(FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO, &info, 0,
                          WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    if (s == INVALID_SOCKET) {
        set_errno_from_wsa(WSAGetLastError());
        return -1;
    }
    u_long one = 1;
    ioctlsocket(s, FIONBIO, &one);
    return (int)s;
}

int
platform_bind(int family, const struct sockaddr *addr, socklen_t addrlen, int backlog,
              bool *no_family)
{
    wsa_start();
    *no_family = false;
    SOCKET s = WSASocketW(family, backlog >= 0 ? SOCK_STREAM : SOCK_DGRAM, 0, NULL, 0,
                          WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    if (s == INVALID_SOCKET) {
        int e = WSAGetLastError();
        *no_family = e == WSAEAFNOSUPPORT || e == WSAEPROTONOSUPPORT;
        set_errno_from_wsa(e);
        return -1;
    }
    int one = 1;
    /* SO_REUSEADDR on Windows lets another process steal the port; the
     * quick restart it buys on POSIX is Windows' default.  Ask for the
     * port to ourselves instead. */
    setsockopt(s, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&one, sizeof(one));
    if (family == AF_INET6)
        setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, (const char *)&one, sizeof(one));
    u_long nb = 1;
    if (bind(s, addr, (int)addrlen) != 0 || (backlog >= 0 && listen(s, backlog) != 0) ||
        ioctlsocket(s, FIONBIO, &nb) != 0) {
        int e = WSAGetLastError();
        closesocket(s);
        set_errno_from_wsa(e);
        return -1;
    }
    return (int)s;
}

int
platform_listen_unix(const char *path, int mode, int backlog, char *err, size_t errlen)
{
    (void)mode; (void)backlog;
    snprintf(err, errlen, "unix sockets (-s %s) are not available on Windows: listen on "
             "127.0.0.1 instead (-l 127.0.0.1)", path);
    return -1;
}

void
platform_tcp_nodelay(int fd)
{
    int one = 1;
    setsockopt(S(fd), IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof(one));
}

/* ---- the Windows service ---- */

#define SERVICE_NAME "memcached"

static int (*svc_run)(int, char **);
static int svc_argc;
static char **svc_argv;
static char svc_log[MAX_PATH + 32];

static DWORD WINAPI
svc_control(DWORD ctl, DWORD type, void *data, void *ctx)
{
    (void)type; (void)data; (void)ctx;
    switch (ctl) {
    case SERVICE_CONTROL_STOP:
    case SERVICE_CONTROL_SHUTDOWN:
        svc_report(SERVICE_STOP_PENDING, 0);
        if (stop_fn != NULL)
            stop_fn();              /* graceful: flush clients, final snapshot */
        return NO_ERROR;
    case SERVICE_CONTROL_PARAMCHANGE:  /* SIGHUP's reload */
        if (reload_fn != NULL)
            reload_fn();
        return NO_ERROR;
    case SERVICE_CONTROL_INTERROGATE:
        return NO_ERROR;
    default:
        return ERROR_CALL_NOT_IMPLEMENTED;
    }
}

static void WINAPI
svc_main(DWORD argc, char **argv)
{
    (void)argc; (void)argv;         /* start parameters: we keep the installed ones */
    svc_handle = RegisterServiceCtrlHandlerExA(SERVICE_NAME, svc_control, NULL);
    if (svc_handle == NULL)
        return;
    svc_report(SERVICE_START_PENDING, 0);
    /* a service has no console: stderr (startup errors, and the log when
     * no logfile is configured) goes to %ProgramData%\memcached\service.log */
    int fd = _open(svc_log, _O_WRONLY | _O_APPEND | _O_CREAT | _O_BINARY | _O_NOINHERIT,
                   _S_IREAD | _S_IWRITE);
    if (fd >= 0) {
        if (fd != 2) {
            _dup2(fd, 2);           /* the C runtime's stderr writes to fd 2 */
            _close(fd);
        }
        SetStdHandle(STD_ERROR_HANDLE, (HANDLE)_get_osfhandle(2));
        setvbuf(stderr, NULL, _IONBF, 0);
    }
    int rc = svc_run(svc_argc, svc_argv);
    svc_report(SERVICE_STOPPED, (DWORD)rc);
}

/* %ProgramData%\memcached, created if missing; static storage. */
static const char *
data_dir(void)
{
    static char dir[MAX_PATH];
    const char *pd = getenv("ProgramData");
    snprintf(dir, sizeof(dir), "%s\\memcached", pd != NULL ? pd : "C:\\ProgramData");
    CreateDirectoryA(dir, NULL);
    return dir;
}

/* The command line argument a, quoted for CreateProcess's parser. */
static void
append_arg(char *cmd, size_t size, const char *a)
{
    size_t n = strlen(cmd);
    bool quote = a[0] == '\0' || strpbrk(a, " \t\"") != NULL;
    if (n + 1 < size)
        cmd[n++] = ' ';
    if (quote && n + 1 < size)
        cmd[n++] = '"';
    for (const char *p = a; *p != '\0' && n + 2 < size; p++) {
        if (*p == '"')
            cmd[n++] = '\\';
        cmd[n++] = *p;
    }
    if (quote && n + 1 < size)
        cmd[n++] = '"';
    cmd[n] = '\0';
}

/* A first configuration file for the service, only if there is none. */
static void
write_default_config(const char *dir, const char *conf)
{
    FILE *f = fopen(conf, "r");
    if (f != NULL) {
        fclose(f);
        return;
    }
    f = fopen(conf, "w");
    if (f == NULL)
        return;
    fprintf(f, "# memcached service configuration (see memcached.conf.example)\n"
               "listen = 127.0.0.1\n"
               "port = 11211\n"
               "memory-limit = 64\n"
               "logfile = %s\\memcached.log\n"
               "snapshot_path = %s\\memcached.snapshot\n", dir, dir);
    fclose(f);
}

static int
service_install(int argc, char **argv)
{
    char exe[MAX_PATH], cmd[8192];
    if (GetModuleFileNameA(NULL, exe, sizeof(exe)) == 0) {
        fprintf(stderr, "GetModuleFileName failed: Windows error %lu\n", GetLastError());
        return 1;
    }
    cmd[0] = '\0';
    append_arg(cmd, sizeof(cmd), exe);
    append_arg(cmd, sizeof(cmd), "--service");
    append_arg(cmd, sizeof(cmd), "run");
    if (argc > 3) {
        for (int i = 3; i < argc; i++)
            append_arg(cmd, sizeof(cmd), argv[i]);
    } else {
        const char *dir = data_dir();
        char conf[MAX_PATH + 32], opt[MAX_PATH + 48];
        snprintf(conf, sizeof(conf), "%s\\memcached.conf", dir);
        write_default_config(dir, conf);
        snprintf(opt, sizeof(opt), "--config=%s", conf);
        append_arg(cmd, sizeof(cmd), opt);
    }
    memmove(cmd, cmd + 1, strlen(cmd));   /* the leading space */
    SC_HANDLE scm = OpenSCManagerA(NULL, NULL, SC_MANAGER_CREATE_SERVICE);
    if (scm == NULL) {
        fprintf(stderr, "can't open the service manager (run as Administrator): Windows error %lu\n",
                GetLastError());
        return 1;
    }
    SC_HANDLE svc = CreateServiceA(scm, SERVICE_NAME, "memcached", SERVICE_ALL_ACCESS,
                                   SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START,
                                   SERVICE_ERROR_NORMAL, cmd, NULL, NULL, NULL, NULL, NULL);
    if (svc == NULL) {
        DWORD e = GetLastError();
        fprintf(stderr, "%s\n", e == ERROR_SERVICE_EXISTS ?
                "the memcached service is already installed (--service uninstall first)" :
                "CreateService failed");
        CloseServiceHandle(scm);
        return 1;
    }
    SERVICE_DESCRIPTIONA d = { "memcached-compatible cache server" };
    ChangeServiceConfig2A(svc, SERVICE_CONFIG_DESCRIPTION, &d);
    printf("installed service %s: %s\n", SERVICE_NAME, cmd);
    CloseServiceHandle(svc);
    CloseServiceHandle(scm);
    return 0;
}

static int
service_uninstall(void)
{
    SC_HANDLE scm = OpenSCManagerA(NULL, NULL, SC_MANAGER_CONNECT);
    if (scm == NULL) {
        fprintf(stderr, "can't open the service manager (run as Administrator): Windows error %lu\n",
                GetLastError());
        return 1;
    }
    SC_HANDLE svc = OpenServiceA(scm, SERVICE_NAME, SERVICE_STOP | SERVICE_QUERY_STATUS | DELETE);
    if (svc == NULL) {
        fprintf(stderr, "the memcached service is not installed\n");
        CloseServiceHandle(scm);
        return 1;
    }
    SERVICE_STATUS st;
    if (ControlService(svc, SERVICE_CONTROL_STOP, &st)) {
        for (int i = 0; i < 300 && QueryServiceStatus(svc, &st) &&
                        st.dwCurrentState != SERVICE_STOPPED; i++)
            Sleep(100);
    }
    int rc = 0;
    if (!DeleteService(svc)) {
        fprintf(stderr, "DeleteService failed: Windows error %lu\n", GetLastError());
        rc = 1;
    } else {
        printf("removed service %s\n", SERVICE_NAME);
    }
    CloseServiceHandle(svc);
    CloseServiceHandle(scm);
    return rc;
}

bool
platform_service(int argc, char **argv, int (*run)(int, char **), int *rc)
{
    if (argc < 2 || strcmp(argv[1], "--service") != 0)
        return false;
    const char *verb = argc > 2 ? argv[2] : "";
    if (strcmp(verb, "install") == 0) {
        *rc = service_install(argc, argv);
    } else if (strcmp(verb, "uninstall") == 0) {
        *rc = service_uninstall();
    } else if (strcmp(verb, "run") == 0) {
        /* the service's own arguments: argv[0] then what follows "run" */
        svc_run = run;
        svc_argc = argc - 2;
        svc_argv = argv + 2;
        svc_argv[0] = argv[0];
        snprintf(svc_log, sizeof(svc_log), "%s\\service.log", data_dir());
        SERVICE_TABLE_ENTRYA table[] = { { (char *)SERVICE_NAME, svc_main }, { NULL, NULL } };
        if (!StartServiceCtrlDispatcherA(table)) {
            if (GetLastError() == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) {
                fprintf(stderr, "--service run is what the service manager starts; start the "
                        "service with: sc.exe start memcached\n");
                *rc = 1;
                return true;
            }
            fprintf(stderr, "StartServiceCtrlDispatcher failed: Windows error %lu\n",
                    GetLastError());
            *rc = 1;
            return true;
        }
        *rc = 0;
    } else {
        fprintf(stderr, "usage: memcached --service install [options...] | uninstall | run "
                "[options...]\n");
        *rc = 64;
    }
    return true;
}
