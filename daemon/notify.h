/*
 * notify.h -- what gcd tells its service manager, and the listening socket
 * it may be handed: the only daemon file with sd_* calls (libsystemd).
 *
 * Without systemd every call here is harmless: sd_notify() does nothing when
 * $NOTIFY_SOCKET is unset, and no socket is inherited without $LISTEN_FDS.
 * Must not touch: libuv (server.c wraps the inherited fd). Threading: loop
 * thread only.
 */
#ifndef GCD_NOTIFY_H
#define GCD_NOTIFY_H

#include <stddef.h>

/** READY=1, MAINPID and STATUS=status: call once the socket listens. */
void gcd_notify_ready(const char *status);

/** STOPPING=1: shutdown has begun. */
void gcd_notify_stopping(void);

/**
 * The listening socket passed by socket activation ($LISTEN_FDS and
 * $LISTEN_PID, both then unset so that children do not see them).
 * 0 with *fd the socket (3) and its path in path ("" when it has none, "@"
 * first for an abstract name), or with *fd -1 when no socket was passed.
 * GC_EINVAL, with the reason logged, when what was passed is not exactly one
 * listening AF_UNIX stream socket.
 */
int gcd_notify_listen_fd(int *fd, char *path, size_t len);

#endif /* GCD_NOTIFY_H */
