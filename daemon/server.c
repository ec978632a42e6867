/*
 * server.c -- the libuv loop: listening socket, connections, signals.
 *
 * Owns: every libuv handle and request of the daemon but the metrics
 * endpoint's (httpd.c, started and stopped from here), the listening socket's
 * path, each connection's decoder and write accounting. Must not touch:
 * protobuf (ops.c encodes and decodes), the heap's internals (ops.c and
 * session.c change it; only the segment fds are read here, to pass them).
 *
 * A connection is freed only in its close callback, never inside one of its
 * own read or write callbacks: those call conn_close(), which calls
 * uv_close(); libuv then cancels its pending writes (their callbacks run
 * first) and calls on_closed(), where the session's retains are released.
 *
 * The heap lock (gcthread.h) is held while frames run and while a session
 * closes; a frame that needs the collector thread parks its session (no
 * further frame of it is read or run) until the collector's async wake-up
 * hands the request back and the rest of the session's bytes run.
 *
 * Threading: loop thread only, except gc_notify(), which the collector
 * thread calls.
 */
#include "server.h"

#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "frame.h"
#include "gcclient.h"
#include "gcd_spin.h"
#include "httpd.h"
#include "log.h"
#include "notify.h"
#include "ops.h"

#define READ_BUF_SIZE 65536

/* Emptied arena regions go back to the system a few at a time (a system
 * call each), so that neither a collection's finish nor one tick holds the
 * lock long: 8 regions every 20 ms is at least 25 MiB/s (a payload region
 * is 64 KiB, a slot region 512 KiB). */
#define TRIM_EVERY_MS 20
#define TRIM_REGIONS 8

/* Replies gathered during one read, sent together: uv_try_write, then one
 * uv_write for what the socket did not take at once. The server's own queue
 * (gcd_server.out) serves every read in turn and keeps its arrays: replies
 * are written into its room in place, side by side, so that a read whose
 * replies the socket takes at once allocates nothing. A write request's
 * queue owns every block it holds. */
typedef struct outq {
  uv_buf_t *bufs;
  void **owned;      /* per buffer: the block to free() once sent, or NULL
                        for bytes in the room */
  size_t n, cap;     /* buffers, and the arrays' length */
  uint64_t bytes;    /* in bufs */
  uint8_t *room;     /* the server's queue only: where replies are written */
  size_t room_used, room_cap;
} outq;

#define ROOM_SIZE 32768

struct gcd_server {
  uv_loop_t loop;
  uv_pipe_t listener;
  uv_signal_t sigint, sigterm;
  uv_async_t gc_async;  /* the collector thread finished requests */
  uv_timer_t trim;      /* gives emptied regions back (gcd_heap_trim) */
  bool trim_open;       /* trim initialised and not closed */
  uv_idle_t spin;       /* active while the loop polls for the next request */
  bool spin_open;       /* spin initialised and not closed */
  int64_t spin_max_ns;  /* --spin-us; 0: never poll */
  int64_t spin_ns;      /* the window now, 0..spin_max_ns (gcd_spin_adapt) */
  uint64_t last_read;   /* uv_hrtime() of the latest read */
  uint64_t spin_from;   /* uv_hrtime() of this poll's first turn; 0: none */
  bool gc_running;      /* its thread started and not yet stopped */
  gcd_daemon *d;
  gcd_httpd *httpd; /* the metrics endpoint; NULL when disabled or stopped */
  bool bound;       /* the socket path is ours to unlink */
  bool stopping;
  char rbuf[READ_BUF_SIZE]; /* one read at a time: read_cb consumes it whole */
  outq out;                 /* one read's replies at a time (settle empties it) */
  uint8_t room[ROOM_SIZE];  /* out's room */
};

typedef struct conn {
  uv_pipe_t pipe;
  uv_shutdown_t shutdown;
  gcd_server *srv;
  gcd_session session;
  gcd_frame_decoder dec;
  uint64_t pending;  /* reply bytes handed to uv_write, not yet completed */
  uint8_t *stash;    /* bytes read after a frame that waits on the collector */
  size_t stash_len;
  bool reading;      /* uv_read_start in effect */
  bool paused;       /* reading stopped for backpressure */
  bool waiting;      /* a frame waits on the collector thread */
  bool closing;      /* no more frames are read; shutdown or close under way */
} conn;

typedef struct wreq {
  uv_write_t req;
  conn *c;
  outq q;
} wreq;

#define CONN_OF_SESSION(s) ((conn *)((char *)(s) - offsetof(conn, session)))

static void conn_close(conn *c);
static void conn_finish(conn *c);
static void trim_update(gcd_server *srv);
static void spin_after_read(gcd_server *srv);

/* ------------------------------------------------------------ writing */

/* Empties q, freeing the blocks it owns; its arrays and room stay. */
static void outq_reset(outq *q) {
  for (size_t i = 0; i < q->n; i++)
    free(q->owned[i]);
  q->n = 0;
  q->bytes = 0;
  q->room_used = 0;
}

static void outq_free(outq *q) {
  outq_reset(q);
  free(q->bufs);
  free(q->owned);
  memset(q, 0, sizeof *q);
}

/* Where the next reply may be written in q's room. */
static gcd_room outq_room(const outq *q) {
  return (gcd_room){q->room + q->room_used, q->room_cap - q->room_used};
}

/* Takes ownership of owned (NULL: base lies in the room, and extends the
 * buffer before it when they touch); base/len is the part to send. */
static int outq_push(outq *q, void *owned, void *base, size_t len) {
  uv_buf_t *last = q->n > 0 ? &q->bufs[q->n - 1] : NULL;

  if (owned == NULL && last != NULL && q->owned[q->n - 1] == NULL &&
      last->base + last->len == (char *)base) {
    last->len += (unsigned)len;
    q->bytes += len;
    return 0;
  }
  if (q->n == q->cap) {
    size_t cap = q->cap == 0 ? 8 : q->cap * 2;
    uv_buf_t *bufs = realloc(q->bufs, cap * sizeof *bufs);
    if (bufs != NULL)
      q->bufs = bufs;
    void **owned2 = bufs == NULL ? NULL : realloc(q->owned, cap * sizeof *owned2);
    if (owned2 == NULL) {
      free(owned);
      return GC_ENOMEM;
    }
    q->owned = owned2;
    q->cap = cap;
  }
  q->bufs[q->n] = uv_buf_init(base, (unsigned)len);
  q->owned[q->n++] = owned;
  q->bytes += len;
  return 0;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

/* Reads while nothing holds the connection back. */
static void read_update(conn *c) {
  bool want = !c->paused && !c->waiting && !c->closing;

  if (want == c->reading)
    return;
  c->reading = want;
  if (want)
    uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
  else
    uv_read_stop((uv_stream_t *)&c->pipe);
}

/* Reading resumes once half the limit has drained, so that a client that
 * reads slowly does not make the daemon stop and start on every write. */
static void on_written(uv_write_t *req, int status) {
  wreq *w = (wreq *)req;
  conn *c = w->c;

  c->pending -= w->q.bytes;
  outq_free(&w->q);
  free(w);
  if (status < 0 && status != UV_ECANCELED) {
    gcd_log_info("session %" PRIu64 ": write failed: %s", c->session.id,
                 uv_strerror(status));
    conn_close(c);
  } else if (c->paused && !c->closing &&
             c->pending <= c->srv->d->cfg.write_limit / 2) {
    c->paused = false;
    read_update(c);
  }
}

/* Sends as much of q as the socket takes now; *sent gets the bytes. A write
 * that completes at once leaves libuv nothing to finish: no write request,
 * and no re-arming of the connection's poll registration afterwards (one
 * epoll_ctl per reply batch otherwise). libuv refuses (UV_EAGAIN) while
 * earlier writes are queued, so order is kept. 0, or GC_EIO when the
 * connection is broken. */
static int try_send(conn *c, outq *q, size_t *sent) {
  int n = uv_try_write((uv_stream_t *)&c->pipe, q->bufs, (unsigned)q->n);

  *sent = 0;
  if (n == UV_EAGAIN || n == UV_ENOSYS)
    return 0;
  if (n < 0) {
    gcd_log_info("session %" PRIu64 ": write failed: %s", c->session.id,
                 uv_strerror(n));
    return GC_EIO;
  }
  *sent = (size_t)n;
  return 0;
}

/* Moves buffer i of q, but for its first skip bytes, to to: the block
 * itself when q owns it, else a copy of the room's bytes. */
static int outq_take(outq *to, outq *q, size_t i, size_t skip) {
  char *base = q->bufs[i].base + skip;
  size_t len = q->bufs[i].len - skip;
  void *own = q->owned[i];

  if (own == NULL) {
    if ((own = malloc(len)) == NULL)
      return GC_ENOMEM;
    memcpy(own, base, len);
    base = own;
  }
  q->owned[i] = NULL;
  return outq_push(to, own, base, len);
}

/* What the socket did not take of q, all but its first sent bytes, goes to
 * libuv as one write request owning all it sends. */
static int write_rest(conn *c, outq *q, size_t sent) {
  wreq *w = calloc(1, sizeof *w);
  int rc = w == NULL ? GC_ENOMEM : 0;

  for (size_t i = 0; i < q->n && rc == 0; i++) {
    size_t skip = sent < q->bufs[i].len ? sent : q->bufs[i].len;
    sent -= skip;
    if (skip < q->bufs[i].len)
      rc = outq_take(&w->q, q, i, skip);
  }
  if (rc == 0) {
    w->c = c;
    if (uv_write(&w->req, (uv_stream_t *)&c->pipe, w->q.bufs, (unsigned)w->q.n,
                 on_written) != 0)
      rc = GC_EIO;
  }
  if (rc != 0) {
    if (w != NULL)
      outq_free(&w->q);
    free(w);
    return rc;
  }
  c->pending += w->q.bytes;
  return 0;
}

/* Hands q's buffers to the socket, what it does not take at once to libuv;
 * q is emptied either way. */
static int flush(conn *c, outq *q) {
  size_t sent = 0;
  int rc = 0;

  if (q->n > 0 && (rc = try_send(c, q, &sent)) == 0 && sent < q->bytes)
    rc = write_rest(c, q, sent);
  outq_reset(q);
  return rc;
}

/* Backpressure: a client that sends faster than it reads its replies stops
 * being read until they drain, so its replies cannot exhaust memory. */
static void throttle(conn *c) {
  if (!c->paused && !c->closing && c->pending > c->srv->d->cfg.write_limit)
    c->paused = true;
  read_update(c);
}

/* One sendmsg carrying the segment fds on the first byte of buf; *sent gets
 * the bytes the kernel took. */
static int sendmsg_fds(conn *c, const uint8_t *buf, size_t len, size_t *sent) {
  int fds[2] = {c->srv->d->heap.meta.fd, c->srv->d->heap.data.fd};
  union { char b[CMSG_SPACE(sizeof fds)]; struct cmsghdr align; } u;
  struct iovec iov = {(void *)buf, len};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                       .msg_control = u.b, .msg_controllen = sizeof u.b};
  struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
  uv_os_fd_t fd;
  ssize_t n;

  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof fds);
  memcpy(CMSG_DATA(cm), fds, sizeof fds);
  if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0)
    return GC_EIO;
  do
    n = sendmsg(fd, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n <= 0)
    return GC_EIO;
  *sent = (size_t)n;
  return 0;
}

/* The handshake reply goes out with sendmsg (uv_write cannot attach raw
 * fds). Every earlier reply is flushed first and must already be in the
 * kernel, or the fds would overtake it; the rest of a short send is queued
 * behind with uv_write. Takes ownership of buf. */
static int send_with_fds(conn *c, outq *q, uint8_t *buf, size_t len) {
  size_t sent = 0;
  int err = flush(c, q);

  if (err == 0 && uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) != 0) {
    gcd_log_warn("session %" PRIu64 ": earlier replies still unread at hello; "
                 "closing", c->session.id);
    err = GC_EIO;
  }
  if (err == 0)
    err = sendmsg_fds(c, buf, len, &sent);
  if (err != 0 || sent == len) {
    free(buf);
    return err;
  }
  return outq_push(q, buf, buf + sent, len - sent);
}

/* ------------------------------------------------------------ reading */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  conn *c = h->data;

  *buf = uv_buf_init(c->srv->rbuf, sizeof c->srv->rbuf);
}

/* Queues one reply (or sends it with the fds); after a reply that ends the
 * connection, nothing more is read. */
static int queue_reply(conn *c, outq *q, gcd_reply *r) {
  int err;

  if (r->attach_fds)
    err = send_with_fds(c, q, r->buf, r->len);
  else if (r->in_room) {
    q->room_used += r->len;
    err = outq_push(q, NULL, r->buf, r->len);
  } else
    err = outq_push(q, r->buf, r->buf, r->len);
  if (r->close_after)
    c->closing = true;
  return err;
}

/* Why a frame was refused, for the client and the log; closes afterwards. */
static int refuse_frame(conn *c, outq *q, int code) {
  gcd_daemon *d = c->srv->d;
  gcd_reply r;
  char msg[160];

  if (code == GC_EFRAMESIZE)
    snprintf(msg, sizeof msg, "frame of %zu bytes exceeds the limit of %" PRIu32
             " bytes (--max-frame)", gcd_frame_bad_len(&c->dec), d->cfg.max_frame);
  else if (code == GC_EFRAME)
    snprintf(msg, sizeof msg, "frame of length 0: every frame carries one Request");
  else
    snprintf(msg, sizeof msg, "daemon out of memory receiving a frame of %zu bytes",
             gcd_frame_expected(&c->dec));
  gcd_log_warn("session %" PRIu64 " (pid %ld): %s; closing", c->session.id,
               (long)c->session.pid, msg);
  c->closing = true;
  if (gcd_ops_frame_error(d, code, msg, &r) != 0)
    return GC_ENOMEM;
  return queue_reply(c, q, &r);
}

/* Queues the reply to a frame, or parks the connection when the frame
 * waits on the collector thread. */
static int answer(conn *c, outq *q, int rc, gcd_reply *r) {
  if (rc == GCD_OPS_DEFERRED) {
    c->waiting = true;
    return 0;
  }
  if (rc != 0) {
    c->closing = true;
    return GC_ENOMEM;
  }
  return r->buf != NULL ? queue_reply(c, q, r) : 0; /* NULL: quiet, unanswered */
}

static int run_frame(conn *c, outq *q, const gcd_frame *f) {
  gcd_room room = outq_room(q);
  gcd_reply r;

  return answer(c, q, gcd_ops_handle(c->srv->d, &c->session, f->data, f->len, &room, &r),
                &r);
}

/* Keeps the bytes after a waiting frame for when it has been answered. */
static int stash(conn *c, const uint8_t *p, size_t n) {
  if ((c->stash = malloc(n)) == NULL)
    return GC_ENOMEM;
  memcpy(c->stash, p, n);
  c->stash_len = n;
  return 0;
}

/* Heap lock held. Runs the whole frames of p[0, n) until one waits on the
 * collector (the rest is stashed), the connection closes or an error. */
static int run_frames(conn *c, outq *q, const uint8_t *p, size_t n) {
  gcd_frame f;
  size_t used;
  int rc, err = 0;

  while (n > 0 && !c->closing && !c->waiting && err == 0) {
    rc = gcd_frame_feed(&c->dec, p, n, &used, &f);
    p += used;
    n -= used;
    if (rc < 0)
      err = refuse_frame(c, q, rc);
    else if (rc == 1)
      err = run_frame(c, q, &f);
  }
  if (err == 0 && n > 0 && c->waiting && !c->closing)
    err = stash(c, p, n);
  return err;
}

/* Sends what q gathered, then closes, finishes or throttles the connection. */
static void settle(conn *c, outq *q, int err) {
  if (err == 0)
    err = flush(c, q);
  outq_reset(q);
  if (err != 0)
    conn_close(c);
  else if (c->closing)
    conn_finish(c);
  else
    throttle(c);
}

/* Every whole frame of this read is answered (the replies leave in one
 * write) unless one waits on the collector. Each read takes the heap lock
 * once; then the collector is told if a collection became due. */
static void feed(conn *c, const uint8_t *p, size_t n) {
  gcd_gcthread *t = &c->srv->d->gct;
  outq *q = &c->srv->out;
  int err;

  gcd_gcthread_lock(t);
  err = run_frames(c, q, p, n);
  gcd_gcthread_poke(t);
  trim_update(c->srv);
  gcd_gcthread_unlock(t);
  settle(c, q, err);
}

/* Heap lock held. The frame the collector thread finished for one session:
 * its reply goes out, then the bytes that arrived behind it run. */
static void resume_one(gcd_server *srv, gcd_gcreq *r) {
  outq *q = &srv->out;
  gcd_room room = outq_room(q);
  gcd_session *s;
  gcd_reply reply;
  int rc = gcd_ops_resume(srv->d, r, &room, &s, &reply), err;
  conn *c;

  if (s == NULL)
    return; /* the session closed meanwhile */
  c = CONN_OF_SESSION(s);
  c->waiting = false;
  err = answer(c, q, rc, &reply);
  if (err == 0 && !c->waiting && c->stash != NULL) {
    uint8_t *p = c->stash;
    size_t n = c->stash_len;
    c->stash = NULL;
    c->stash_len = 0;
    err = run_frames(c, q, p, n);
    free(p);
  }
  settle(c, q, err);
}

/* Loop thread, woken by gc_notify(): requests finished, or a collection
 * left memory to give back. */
static void on_gc_done(uv_async_t *a) {
  gcd_server *srv = a->data;
  gcd_gcthread *t = &srv->d->gct;

  gcd_gcthread_lock(t);
  for (gcd_gcreq *r = gcd_gcthread_take_done(t), *next; r != NULL; r = next) {
    next = r->next;
    resume_one(srv, r);
  }
  gcd_gcthread_poke(t);
  trim_update(srv);
  gcd_gcthread_unlock(t);
}

/* Collector thread. */
static void gc_notify(void *ctx) {
  gcd_server *srv = ctx;

  uv_async_send(&srv->gc_async);
}

/* EOF inside a frame means the client died or sent a truncated frame. */
static void on_eof(conn *c) {
  if (gcd_frame_partial(&c->dec))
    gcd_log_warn("session %" PRIu64 " (pid %ld): connection closed inside a "
                 "frame (%zu of %zu bytes); closing", c->session.id,
                 (long)c->session.pid, gcd_frame_received(&c->dec),
                 gcd_frame_expected(&c->dec));
  else
    gcd_log_debug("session %" PRIu64 ": client closed", c->session.id);
  c->closing = true;
  conn_finish(c);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  conn *c = st->data;

  if (nread > 0)
    spin_after_read(c->srv);
  if (nread > 0 && !c->closing)
    feed(c, (const uint8_t *)buf->base, (size_t)nread);
  else if (nread == UV_EOF)
    on_eof(c);
  else if (nread < 0) {
    gcd_log_info("session %" PRIu64 ": read failed: %s", c->session.id,
                 uv_strerror((int)nread));
    conn_close(c);
  }
}

/* ------------------------------------------------------------ closing */

/* The only place a connection is freed: libuv is done with every handle
 * and request of it. Its retains go back to the heap here. */
static void on_closed(uv_handle_t *h) {
  conn *c = h->data;
  gcd_daemon *d = c->srv->d;
  uint64_t dropped;

  gcd_gcthread_lock(&d->gct);
  dropped = gcd_session_close(d, &c->session); /* abandons its frames too */
  trim_update(c->srv);
  gcd_gcthread_unlock(&d->gct);

  gcd_log_info("session %" PRIu64 " closed (pid %ld, \"%s\"): %" PRIu64 " requests, "
               "%" PRIu64 " ops, %" PRIu64 " errors, %" PRIu64 " retains released",
               c->session.id, (long)c->session.pid, c->session.name,
               c->session.requests, c->session.ops, c->session.errors, dropped);
  gcd_frame_destroy(&c->dec);
  free(c->stash);
  free(c);
}

static void conn_close(conn *c) {
  c->closing = true;
  if (!uv_is_closing((uv_handle_t *)&c->pipe))
    uv_close((uv_handle_t *)&c->pipe, on_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  conn_close(req->data);
}

/* Stops reading and closes once every queued reply is written, so that the
 * client receives the error that explains the close. */
static void conn_finish(conn *c) {
  read_update(c);
  c->shutdown.data = c;
  if (uv_is_closing((uv_handle_t *)&c->pipe) ||
      uv_shutdown(&c->shutdown, (uv_stream_t *)&c->pipe, on_shutdown) != 0)
    conn_close(c);
}

/* ---------------------------------------------------------- accepting */

static int peer_creds(conn *c, struct ucred *cred) {
  socklen_t len = sizeof *cred;
  uv_os_fd_t fd;

  if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0 ||
      getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &len) != 0)
    return GC_EIO;
  return 0;
}

/* Whether the peer has gid among its groups, primary or supplementary. The
 * kernel reports the groups the peer had when it connected (SO_PEERGROUPS),
 * so a later setgroups() in the client changes nothing. */
static bool peer_in_group(conn *c, gid_t primary, gid_t gid) {
  gid_t groups[256];
  socklen_t len = sizeof groups;
  uv_os_fd_t fd;

  if (primary == gid)
    return true;
  if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0 ||
      getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) != 0)
    return false;
  for (size_t i = 0; i < len / sizeof groups[0]; i++)
    if (groups[i] == gid)
      return true;
  return false;
}

/* A refused connection is closed before it has a session. */
static void on_closed_early(uv_handle_t *h) {
  free(h->data);
}

static void accept_one(gcd_server *srv) {
  conn *c = calloc(1, sizeof *c);
  struct ucred cred;

  if (c == NULL || uv_pipe_init(&srv->loop, &c->pipe, 0) != 0) {
    gcd_log_error("out of memory accepting a client");
    free(c);
    return;
  }
  c->srv = srv;
  c->pipe.data = c;
  if (uv_accept((uv_stream_t *)&srv->listener, (uv_stream_t *)&c->pipe) != 0 ||
      peer_creds(c, &cred) != 0) {
    uv_close((uv_handle_t *)&c->pipe, on_closed_early);
    return;
  }
  gcd_gcthread_lock(&srv->d->gct); /* the collector may walk the sessions */
  gcd_session_open(srv->d, &c->session, cred.pid, cred.uid, cred.gid);
  gcd_gcthread_unlock(&srv->d->gct);
  c->session.admin_group = srv->d->cfg.admin_group_set &&
                           peer_in_group(c, cred.gid, srv->d->cfg.admin_gid);
  gcd_frame_init(&c->dec, srv->d->cfg.max_frame);
  gcd_log_debug("session %" PRIu64 " opened: pid %ld uid %u gid %u",
               c->session.id, (long)cred.pid, (unsigned)cred.uid, (unsigned)cred.gid);
  read_update(c);
}

static void on_connection(uv_stream_t *st, int status) {
  gcd_server *srv = st->data;

  if (status < 0) {
    gcd_log_warn("accept failed: %s", uv_strerror(status));
    return;
  }
  if (!srv->stopping)
    accept_one(srv);
}

/* ------------------------------------------------------------ stopping */

static void socket_remove(gcd_server *srv) {
  if (srv->bound && unlink(srv->d->cfg.socket_path) != 0 && errno != ENOENT)
    gcd_log_warn("cannot remove %s: %s", srv->d->cfg.socket_path, strerror(errno));
  srv->bound = false;
}

/* Joins the collector thread (a collection under way finishes first) and
 * drops the frames still waiting on it: their sessions are closing. */
static void collector_stop(gcd_server *srv) {
  gcd_gcreq *left;

  if (!srv->gc_running)
    return;
  for (gcd_session *s = srv->d->sessions; s != NULL; s = s->next)
    gcd_ops_abandon(s);
  left = gcd_gcthread_stop(&srv->d->gct);
  for (gcd_gcreq *next; left != NULL; left = next) {
    next = left->next;
    gcd_ops_discard(left);
  }
  srv->gc_running = false;
  uv_close((uv_handle_t *)&srv->gc_async, NULL);
}

/* --------------------------------------------------------------- trim */

/* Loop thread. Skips a tick rather than wait for a collection's finish. */
static void on_trim(uv_timer_t *tm) {
  gcd_server *srv = tm->data;
  gcd_gcthread *t = &srv->d->gct;

  if (!gcd_gcthread_trylock(t))
    return;
  gcd_heap_trim(&srv->d->heap, TRIM_REGIONS);
  trim_update(srv);
  gcd_gcthread_unlock(t);
}

/* Loop thread, heap lock held. The timer runs only while emptied regions
 * wait: a daemon with nothing to give back has no timer due and sleeps in
 * epoll_wait without a timeout (no wakeups when idle, and no timer to
 * program on each sleep between requests). trim_armed tells the collector
 * thread whether a collection's frees need reporting. */
static void trim_update(gcd_server *srv) {
  gcd_gcthread *t = &srv->d->gct;
  bool want = srv->trim_open && gcd_heap_trim_pending(&srv->d->heap);

  if (want == t->trim_armed)
    return;
  if (want && uv_timer_start(&srv->trim, on_trim, TRIM_EVERY_MS, TRIM_EVERY_MS) != 0)
    return;
  if (!want)
    uv_timer_stop(&srv->trim);
  t->trim_armed = want;
}

/* The timer does not keep the loop alive: it is closed with the rest. */
static int trim_start(gcd_server *srv) {
  if (uv_timer_init(&srv->loop, &srv->trim) != 0)
    return GC_EIO;
  srv->trim.data = srv;
  srv->trim_open = true;
  uv_unref((uv_handle_t *)&srv->trim);
  return 0;
}

/* After collector_stop(): no other thread reads trim_armed. */
static void trim_stop(gcd_server *srv) {
  if (srv->trim_open)
    uv_close((uv_handle_t *)&srv->trim, NULL);
  srv->trim_open = false;
  srv->d->gct.trim_armed = false;
}

/* --------------------------------------------------------------- spin */

/* A poll ended at now: its time goes to gcd_loop_spin_seconds_total. */
static void spin_count(gcd_server *srv, uint64_t now) {
  if (srv->spin_from != 0)
    srv->d->loop_spin_ns += now - srv->spin_from;
  srv->spin_from = 0;
}

/* Loop thread. After a read the loop polls for the next request for up to
 * the spin window before it sleeps in epoll_wait: an active idle handle
 * makes uv_run poll without blocking, and this callback yields the CPU on
 * each turn, so that a client on the same CPU runs at once. A request that
 * comes within the window needs no wakeup of the loop's CPU, which between
 * processes on different CPUs is most of a round trip and costs the
 * client's send as much CPU time again. The window follows how soon
 * requests come after each other (gcd_spin.h): when clients pause longer
 * than --spin-us the loop soon stops polling, and an idle daemon never
 * polls. */
static void on_spin(uv_idle_t *h) {
  gcd_server *srv = h->data;
  uint64_t now = uv_hrtime();

  if (srv->spin_from == 0)
    srv->spin_from = now;
  if ((int64_t)(now - srv->last_read) < srv->spin_ns) {
    sched_yield();
    return;
  }
  uv_idle_stop(h);
  spin_count(srv, now);
}

/* Loop thread, on every read. A read that finds the loop polling leaves
 * the window as it is; one that woke it resizes the window by the gap. */
static void spin_after_read(gcd_server *srv) {
  uint64_t now;

  if (!srv->spin_open)
    return;
  now = uv_hrtime();
  spin_count(srv, now);
  if (!uv_is_active((uv_handle_t *)&srv->spin)) {
    srv->spin_ns = gcd_spin_adapt(srv->spin_ns, srv->spin_max_ns,
                                  (int64_t)(now - srv->last_read));
    if (srv->spin_ns != 0)
      uv_idle_start(&srv->spin, on_spin);
  }
  srv->last_read = now;
}

/* Polling keeps nothing alive: the handle is unreferenced and closed with
 * the rest. */
static int spin_start(gcd_server *srv) {
  if (srv->d->cfg.spin_us == 0)
    return 0;
  if (uv_idle_init(&srv->loop, &srv->spin) != 0)
    return GC_EIO;
  srv->spin.data = srv;
  srv->spin_max_ns = srv->spin_ns = (int64_t)srv->d->cfg.spin_us * 1000;
  srv->last_read = uv_hrtime();
  srv->spin_open = true;
  uv_unref((uv_handle_t *)&srv->spin);
  return 0;
}

static void spin_stop(gcd_server *srv) {
  if (srv->spin_open)
    uv_close((uv_handle_t *)&srv->spin, NULL);
  srv->spin_open = false;
}

/* ------------------------------------------------------------- metrics */

static int metrics_start(gcd_server *srv) {
  return gcd_httpd_open(&srv->httpd, &srv->loop, srv->d);
}

/* The endpoint closes its own handles (and frees itself) as the loop runs. */
static void metrics_stop(gcd_server *srv) {
  gcd_httpd_stop(srv->httpd);
  srv->httpd = NULL;
}

/* Stops accepting and closes every session; uv_run returns once the last
 * close callback has run. The socket goes first, so a new daemon may start. */
static void server_stop(gcd_server *srv) {
  if (srv->stopping)
    return;
  srv->stopping = true;
  gcd_notify_stopping();
  collector_stop(srv);
  uv_close((uv_handle_t *)&srv->listener, NULL);
  socket_remove(srv);
  metrics_stop(srv);
  uv_close((uv_handle_t *)&srv->sigint, NULL);
  uv_close((uv_handle_t *)&srv->sigterm, NULL);
  trim_stop(srv);
  spin_stop(srv);
  for (gcd_session *s = srv->d->sessions; s != NULL; s = s->next)
    conn_close(CONN_OF_SESSION(s));
}

static void on_signal(uv_signal_t *sig, int signum) {
  gcd_server *srv = sig->data;

  gcd_log_info("%s: stopping (%zu clients connected)", strsignal(signum),
               srv->d->nsessions);
  server_stop(srv);
}

/* ------------------------------------------------------------- opening */

/* Creates the socket's directory when missing: private, or traversable by
 * the socket's group when one is configured. */
static int dir_ensure(const gcd_config *cfg) {
  char path[GCD_SOCKET_PATH_MAX];
  const char *dir;

  snprintf(path, sizeof path, "%s", cfg->socket_path);
  dir = dirname(path);
  if (mkdir(dir, 0700) != 0) {
    if (errno == EEXIST)
      return 0;
    gcd_log_error("cannot create directory %s: %s", dir, strerror(errno));
    return GC_EIO;
  }
  gcd_log_info("created directory %s", dir);
  if (cfg->group_set && (chown(dir, (uid_t)-1, cfg->socket_gid) != 0 ||
                         chmod(dir, 0710) != 0))
    gcd_log_warn("cannot open directory %s to group %u: %s", dir,
                 (unsigned)cfg->socket_gid, strerror(errno));
  return 0;
}

/* 1 when a daemon accepts connections at path, 0 when nobody does. */
static int socket_alive(const char *path) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), rc;

  if (fd < 0)
    return 1; /* cannot tell: do not remove anything */
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
  rc = rc == 0 || (errno != ECONNREFUSED && errno != ENOENT);
  close(fd);
  return rc;
}

/* A socket left by a daemon that died is removed; a live one, or anything
 * that is not a socket, is left alone and refused. */
static int path_claim(const char *path) {
  struct stat st;

  if (lstat(path, &st) != 0) {
    if (errno == ENOENT)
      return 0;
    gcd_log_error("cannot inspect %s: %s", path, strerror(errno));
    return GC_EIO;
  }
  if (!S_ISSOCK(st.st_mode)) {
    gcd_log_error("%s exists and is not a socket; not touching it", path);
    return GC_EIO;
  }
  if (socket_alive(path)) {
    gcd_log_error("another gcd is listening on %s", path);
    return GC_EBUSY;
  }
  gcd_log_info("removing stale socket %s", path);
  if (unlink(path) != 0 && errno != ENOENT) {
    gcd_log_error("cannot remove stale socket %s: %s", path, strerror(errno));
    return GC_EIO;
  }
  return 0;
}

/* Binds with umask 0177 so the socket is 0600 from its first instant; a
 * group, when configured, is given access afterwards. */
static int socket_bind(gcd_server *srv) {
  const gcd_config *cfg = &srv->d->cfg;
  mode_t old = umask(0177);
  int rc = uv_pipe_bind(&srv->listener, cfg->socket_path);

  umask(old);
  if (rc != 0) {
    gcd_log_error("cannot bind %s: %s", cfg->socket_path, uv_strerror(rc));
    return GC_EIO;
  }
  srv->bound = true;
  if (cfg->group_set && (chown(cfg->socket_path, (uid_t)-1, cfg->socket_gid) != 0 ||
                         chmod(cfg->socket_path, 0660) != 0)) {
    gcd_log_error("cannot give %s to group %u: %s", cfg->socket_path,
                  (unsigned)cfg->socket_gid, strerror(errno));
    return GC_EIO;
  }
  return 0;
}

/* Socket activation: a listening socket passed by systemd is used as it is.
 * Its path, mode and group are systemd's, and it is never unlinked here
 * (srv->bound stays false). 1 when one was taken, 0 when none was passed. */
static int socket_inherit(gcd_server *srv) {
  gcd_config *cfg = &srv->d->cfg;
  char path[GCD_SOCKET_PATH_MAX];
  int fd, rc = gcd_notify_listen_fd(&fd, path, sizeof path);

  if (rc != 0 || fd < 0)
    return rc;
  if ((rc = uv_pipe_open(&srv->listener, fd)) != 0) {
    gcd_log_error("cannot use the socket passed by systemd: %s", uv_strerror(rc));
    return GC_EIO;
  }
  if (path[0] != '\0' && strcmp(path, cfg->socket_path) != 0) {
    gcd_log_warn("systemd passed the socket %s, not %s; serving %s", path,
                 cfg->socket_path, path);
    memcpy(cfg->socket_path, path, strlen(path) + 1);
  }
  gcd_log_info("using the socket %s passed by systemd (fd %d); systemd owns its file",
               cfg->socket_path, fd);
  return 1;
}

static int listen_start(gcd_server *srv) {
  int rc = socket_inherit(srv);

  if (rc < 0)
    return rc;
  if (rc == 0 && ((rc = dir_ensure(&srv->d->cfg)) != 0 ||
                  (rc = path_claim(srv->d->cfg.socket_path)) != 0 ||
                  (rc = socket_bind(srv)) != 0))
    return rc;
  if ((rc = uv_listen((uv_stream_t *)&srv->listener, SOMAXCONN, on_connection)) != 0) {
    gcd_log_error("cannot listen on %s: %s", srv->d->cfg.socket_path,
                  uv_strerror(rc));
    return GC_EIO;
  }
  return 0;
}

static int signals_start(gcd_server *srv) {
  signal(SIGPIPE, SIG_IGN); /* a vanished client is an EPIPE, not a death */
  srv->sigint.data = srv->sigterm.data = srv;
  if (uv_signal_init(&srv->loop, &srv->sigint) != 0 ||
      uv_signal_init(&srv->loop, &srv->sigterm) != 0 ||
      uv_signal_start(&srv->sigint, on_signal, SIGINT) != 0 ||
      uv_signal_start(&srv->sigterm, on_signal, SIGTERM) != 0)
    return GC_EIO;
  return 0;
}

/* The collector thread wakes the loop through gc_async. */
static int collector_start(gcd_server *srv) {
  if (uv_async_init(&srv->loop, &srv->gc_async, on_gc_done) != 0)
    return GC_EIO;
  srv->gc_async.data = srv;
  if (gcd_gcthread_start(&srv->d->gct, gc_notify, srv) != 0) {
    gcd_log_error("cannot start the collector thread");
    uv_close((uv_handle_t *)&srv->gc_async, NULL);
    return GC_ENOMEM;
  }
  srv->gc_running = true;
  return 0;
}

/* Main thread, at start-up. The handles are initialised before anything can
 * fail, so that gcd_server_close() can close them all in any case. */
int gcd_server_open(gcd_server **out, gcd_daemon *d) {
  gcd_server *srv = calloc(1, sizeof *srv);
  int err;

  if (srv == NULL)
    return GC_ENOMEM;
  srv->d = d;
  srv->out.room = srv->room;
  srv->out.room_cap = sizeof srv->room;
  if (uv_loop_init(&srv->loop) != 0) {
    free(srv);
    return GC_EIO;
  }
  uv_pipe_init(&srv->loop, &srv->listener, 0);
  srv->listener.data = srv;
  *out = srv;
  if ((err = signals_start(srv)) != 0 || (err = listen_start(srv)) != 0 ||
      (err = collector_start(srv)) != 0 || (err = trim_start(srv)) != 0 ||
      (err = spin_start(srv)) != 0 || (err = metrics_start(srv)) != 0)
    return err;
  return 0;
}

int gcd_server_run(gcd_server *srv) {
  int rc = uv_run(&srv->loop, UV_RUN_DEFAULT);

  return rc < 0 ? GC_EIO : 0;
}

static void close_any(uv_handle_t *h, void *arg) {
  if (!uv_is_closing(h))
    uv_close(h, h->type == UV_NAMED_PIPE && h->data != arg ? on_closed : NULL);
}

/* Main thread, at shutdown or after a failed open: closes what is left
 * (connections included, their retains released), then the loop. */
void gcd_server_close(gcd_server *srv) {
  if (srv == NULL)
    return;
  collector_stop(srv);
  trim_stop(srv);
  spin_stop(srv);
  socket_remove(srv);
  metrics_stop(srv);
  srv->stopping = true;
  uv_walk(&srv->loop, close_any, srv);
  uv_run(&srv->loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&srv->loop) != 0)
    gcd_log_warn("event loop closed with handles still open");
  outq_free(&srv->out);
  free(srv);
}
