/*
 * server.h -- the daemon's event loop: the listening Unix socket, one
 * connection per client, signals.
 *
 * server.c and httpd.c (the metrics endpoint, which runs on this loop) are
 * the only files of the daemon that use libuv types; this header keeps them
 * out (gcd_server is opaque). A connection feeds its bytes to a
 * frame decoder, each whole frame to ops, and writes the replies back.
 *
 * Threading: every function here runs on the loop thread (the main thread).
 */
#ifndef GCD_SERVER_H
#define GCD_SERVER_H

#include "session.h"

typedef struct gcd_server gcd_server;

/**
 * Creates the loop and starts listening. A listening socket passed by
 * systemd (socket activation) is used as it is, and d->cfg.socket_path is set
 * to its path. Otherwise at d->cfg.socket_path: creates the
 * socket's directory (0700) when missing, refuses to start when a live daemon
 * answers there (GC_EBUSY), replaces a stale socket, binds with mode 0600
 * (0660 and the configured group with --socket-group). Installs SIGINT and
 * SIGTERM handlers and ignores SIGPIPE. Starts the metrics endpoint on
 * d->cfg.metrics_listen unless it is empty (httpd.h). 0, or GC_EBUSY/GC_EIO/GC_ENOMEM with
 * the reason logged.
 */
int gcd_server_open(gcd_server **out, gcd_daemon *d);

/**
 * Serves clients until SIGINT or SIGTERM: then tells systemd STOPPING=1,
 * stops accepting, stops the metrics endpoint and the collector thread,
 * closes every session (releasing its retains), removes the socket (unless
 * systemd passed it) and returns 0.
 */
int gcd_server_run(gcd_server *srv);

/** Closes whatever is still open, removes the socket if still there, frees. */
void gcd_server_close(gcd_server *srv);

#endif /* GCD_SERVER_H */
