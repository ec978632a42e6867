/*
 * httpd.h -- the metrics endpoint: a minimal HTTP/1.1 responder on the
 * daemon's event loop serving GET and HEAD of /metrics.
 *
 * httpd.c and server.c are the only daemon files that use libuv; this header
 * keeps its types out (gcd_httpd is opaque, the loop is passed untyped).
 * Requests are parsed by http.c and answered with metrics.c's exposition.
 *
 * Every response closes the connection (Connection: close): a scrape every
 * few seconds gains nothing from keep-alive, and a server that never reads
 * a second request has no pipelining to get wrong.
 *
 * Threading: loop thread only.
 */
#ifndef GCD_HTTPD_H
#define GCD_HTTPD_H

#include "session.h"

#define GCD_HTTPD_CONN_MAX 16      /* concurrent metrics connections */
#define GCD_HTTPD_IDLE_MS 10000    /* a whole request head must arrive in this */
#define GCD_HTTPD_LINGER_MS 2000   /* reading on after a response, before close */

typedef struct gcd_httpd gcd_httpd;

/**
 * Listens on d->cfg.metrics_listen (see gcd_http_parse_listen) on loop, a
 * uv_loop_t, and logs the address it bound at info level ("metrics on
 * http://127.0.0.1:9478/metrics"). An empty address disables the endpoint:
 * 0 with *out NULL. Otherwise 0, or GC_EINVAL (bad address) / GC_EIO (cannot
 * bind or listen) / GC_ENOMEM with the reason logged and *out NULL.
 */
int gcd_httpd_open(gcd_httpd **out, void *loop, gcd_daemon *d);

/** The TCP port actually bound (useful with port 0). */
int gcd_httpd_port(const gcd_httpd *h);

/**
 * Stops listening and closes every metrics connection. h is freed by the
 * loop once libuv has closed its handles: the caller must not use it again,
 * and must run the loop. NULL is allowed.
 */
void gcd_httpd_stop(gcd_httpd *h);

#endif /* GCD_HTTPD_H */
