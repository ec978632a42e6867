/*
 * httpd.c -- the metrics endpoint on the libuv loop; see httpd.h.
 *
 * Owns: the metrics listener, its connections, the sweep timer that enforces
 * their deadlines. Must not touch: protobuf, the Unix socket's connections
 * (server.c), the heap (metrics.c reads it through gcd_metrics_fill()).
 *
 * A connection reads one request head into a fixed buffer of
 * GCD_HTTP_HEAD_MAX bytes, answers once, then shuts its side down and keeps
 * reading (and discarding) until the client closes or the linger deadline
 * passes. Closing with unread bytes would make the kernel send a reset that
 * can destroy the response before the client reads it -- the 431 answer to
 * an oversized head most of all.
 *
 * Like server.c, a connection is freed only in its close callback; the
 * gcd_httpd itself once its last handle is closed after gcd_httpd_stop().
 *
 * Threading: loop thread only.
 */
#include "httpd.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "gcclient.h"
#include "http.h"
#include "log.h"
#include "metrics.h"

#define SWEEP_MS 500
#define CONTENT_TYPE_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define CONTENT_TYPE_TEXT "text/plain; charset=utf-8"

typedef struct hconn {
  uv_tcp_t tcp;
  uv_write_t write;
  uv_shutdown_t shutdown;
  gcd_httpd *h;
  struct hconn *prev, *next;
  uint64_t deadline;  /* uv_now() ms: head received / linger over */
  bool answered;      /* the response is queued; reads are discarded */
  char *out;          /* the response, freed when written */
  size_t len;         /* bytes of head[] received */
  char head[GCD_HTTP_HEAD_MAX];
} hconn;

struct gcd_httpd {
  uv_loop_t *loop;
  uv_tcp_t listener;
  uv_timer_t sweep;
  gcd_daemon *d;
  hconn *conns;
  size_t nlive;       /* connections not closing: the cap counts these, as a
                       * closed one is freed only later in the loop iteration */
  int handles;        /* open or closing handles, each conn's included */
  bool stopping;
  int port;
  gcd_metrics_snapshot snap; /* large: kept here, not on the stack */
  char discard[4096];
};

/* ------------------------------------------------------------- closing */

static void httpd_release(gcd_httpd *h) {
  if (--h->handles == 0 && h->stopping)
    free(h);
}

static void on_handle_closed(uv_handle_t *handle) {
  httpd_release(handle->data);
}

static void on_conn_closed(uv_handle_t *handle) {
  hconn *c = handle->data;
  gcd_httpd *h = c->h;

  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    h->conns = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  free(c->out);
  free(c);
  httpd_release(h);
}

/* The sweep runs only while connections are open, so that an idle daemon
 * has no timer to wake it. */
static void conn_close(hconn *c) {
  if (!uv_is_closing((uv_handle_t *)&c->tcp)) {
    if (--c->h->nlive == 0 && !c->h->stopping)
      uv_timer_stop(&c->h->sweep);
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
  }
}

/* ----------------------------------------------------------- answering */

static void on_shutdown(uv_shutdown_t *req, int status) {
  if (status < 0)
    conn_close(req->data);
}

static void on_written(uv_write_t *req, int status) {
  hconn *c = req->data;

  free(c->out);
  c->out = NULL;
  if (status < 0 ||
      uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
    conn_close(c);
}

/* Sends head and, unless HEAD was asked, the body; then lingers. */
static void respond(hconn *c, int status, const char *type, const char *body,
                    size_t len, bool send_body) {
  char head[512];
  int n = gcd_http_response_head(head, sizeof head, status, type, len);
  size_t total = (size_t)n + (send_body ? len : 0);
  uv_buf_t buf;

  c->answered = true;
  c->deadline = uv_now(c->h->loop) + GCD_HTTPD_LINGER_MS;
  if (n < 0 || (c->out = malloc(total)) == NULL) {
    conn_close(c);
    return;
  }
  memcpy(c->out, head, (size_t)n);
  if (send_body)
    memcpy(c->out + n, body, len);
  buf = uv_buf_init(c->out, (unsigned)total);
  c->write.data = c;
  if (uv_write(&c->write, (uv_stream_t *)&c->tcp, &buf, 1, on_written) != 0)
    conn_close(c);
}

static void respond_text(hconn *c, int status, const char *text) {
  respond(c, status, CONTENT_TYPE_TEXT, text, strlen(text), true);
}

static void respond_metrics(hconn *c, bool send_body) {
  gcd_httpd *h = c->h;
  gcd_metrics_buf b;

  gcd_metrics_buf_init(&b);
  gcd_gcthread_lock(&h->d->gct);
  gcd_metrics_fill(h->d, &h->snap);
  gcd_gcthread_unlock(&h->d->gct);
  gcd_metrics_fill_process(&h->snap.process);
  if (gcd_metrics_render(&h->snap, &b) != 0)
    respond_text(c, 500, "out of memory rendering the metrics\n");
  else
    respond(c, 200, CONTENT_TYPE_METRICS, b.data, b.len, send_body);
  gcd_metrics_buf_free(&b);
}

/* A whole head (rc > 0, req parsed) or a refusal (rc < 0). */
static void answer(hconn *c, int rc, const gcd_http_request *req) {
  int status = rc < 0 ? -rc : gcd_http_route(c->head, req);

  if (status == 431)
    respond_text(c, 431, "request head over 8192 bytes\n");
  else if (status == 400)
    respond_text(c, 400, "malformed request\n");
  else if (status == 404)
    respond_text(c, 404, "not found: the metrics are at /metrics\n");
  else if (status == 405)
    respond_text(c, 405, "only GET and HEAD are allowed\n");
  else
    respond_metrics(c, req->method == GCD_HTTP_GET);
}

/* ------------------------------------------------------------- reading */

static void on_alloc(uv_handle_t *handle, size_t hint, uv_buf_t *buf) {
  hconn *c = handle->data;

  if (c->answered)
    *buf = uv_buf_init(c->h->discard, sizeof c->h->discard);
  else
    *buf = uv_buf_init(c->head + c->len, (unsigned)(sizeof c->head - c->len));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  hconn *c = st->data;
  gcd_http_request req;
  int rc;

  if (nread < 0) {
    conn_close(c); /* EOF or error: before an answer, nobody waits for one */
    return;
  }
  if (nread == 0 || c->answered)
    return;
  c->len += (size_t)nread;
  if ((rc = gcd_http_parse(c->head, c->len, &req)) != GCD_HTTP_INCOMPLETE)
    answer(c, rc, &req);
}

/* ----------------------------------------------------------- accepting */

static void on_sweep(uv_timer_t *t);

static void on_connection(uv_stream_t *st, int status) {
  gcd_httpd *h = st->data;
  hconn *c;

  if (status < 0 || h->stopping || (c = calloc(1, sizeof *c)) == NULL)
    return;
  uv_tcp_init(h->loop, &c->tcp);
  c->tcp.data = c;
  c->h = h;
  c->next = h->conns;
  if (h->conns != NULL)
    h->conns->prev = c;
  h->conns = c;
  if (h->nlive++ == 0)
    uv_timer_start(&h->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
  h->handles++;
  c->deadline = uv_now(h->loop) + GCD_HTTPD_IDLE_MS;
  if (uv_accept(st, (uv_stream_t *)&c->tcp) != 0) {
    conn_close(c);
  } else if (h->nlive > GCD_HTTPD_CONN_MAX) {
    gcd_log_debug("metrics: %d connections open, refusing another", GCD_HTTPD_CONN_MAX);
    conn_close(c);
  } else {
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  }
}

/* Closes connections past their deadline: a head that never completes, or
 * a client that does not close after its answer. */
static void on_sweep(uv_timer_t *t) {
  gcd_httpd *h = t->data;
  uint64_t now = uv_now(h->loop);

  for (hconn *c = h->conns; c != NULL; c = c->next)
    if (now >= c->deadline) {
      gcd_log_debug("metrics: closing a connection %s", c->answered
                    ? "that did not close after its answer" : "that sent no whole request");
      conn_close(c);
    }
}

/* ------------------------------------------------------------- opening */

static void log_address(gcd_httpd *h) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  char ip[INET6_ADDRSTRLEN] = "?";

  if (uv_tcp_getsockname(&h->listener, (struct sockaddr *)&ss, &len) != 0)
    return;
  if (ss.ss_family == AF_INET6) {
    uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
    h->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    gcd_log_info("metrics on http://[%s]:%d/metrics", ip, h->port);
  } else {
    uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
    h->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    gcd_log_info("metrics on http://%s:%d/metrics", ip, h->port);
  }
}

static int listen_metrics(gcd_httpd *h, const char *addr) {
  struct sockaddr_storage ss;
  int rc;

  if (gcd_http_parse_listen(addr, &ss) != 0) {
    gcd_log_error("metrics address '%s' is not IPv4:PORT, [IPv6]:PORT or "
                  "localhost:PORT", addr);
    return GC_EINVAL;
  }
  if ((rc = uv_tcp_bind(&h->listener, (struct sockaddr *)&ss, 0)) != 0 ||
      (rc = uv_listen((uv_stream_t *)&h->listener, 64, on_connection)) != 0) {
    gcd_log_error("cannot serve metrics on %s: %s (--metrics-listen; '' disables "
                  "the endpoint)", addr, uv_strerror(rc));
    return GC_EIO;
  }
  log_address(h);
  return 0;
}

/* Loop thread, at start-up. Both handles exist before anything can fail,
 * so gcd_httpd_stop() undoes any stage. */
int gcd_httpd_open(gcd_httpd **out, void *loop, gcd_daemon *d) {
  gcd_httpd *h;
  int err;

  *out = NULL;
  if (d->cfg.metrics_listen[0] == '\0') {
    gcd_log_info("metrics endpoint disabled");
    return 0;
  }
  if ((h = calloc(1, sizeof *h)) == NULL)
    return GC_ENOMEM;
  h->loop = loop;
  h->d = d;
  uv_tcp_init(h->loop, &h->listener);
  uv_timer_init(h->loop, &h->sweep);
  h->listener.data = h->sweep.data = h;
  h->handles = 2;
  if ((err = listen_metrics(h, d->cfg.metrics_listen)) != 0) {
    gcd_httpd_stop(h);
    return err;
  }
  *out = h;
  return 0;
}

int gcd_httpd_port(const gcd_httpd *h) {
  return h->port;
}

void gcd_httpd_stop(gcd_httpd *h) {
  if (h == NULL || h->stopping)
    return;
  h->stopping = true;
  uv_close((uv_handle_t *)&h->listener, on_handle_closed);
  uv_close((uv_handle_t *)&h->sweep, on_handle_closed);
  for (hconn *c = h->conns; c != NULL; c = c->next)
    conn_close(c);
}
