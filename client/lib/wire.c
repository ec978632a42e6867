/*
 * wire.c -- requests and responses: length-prefixed frames over the blocking
 * Unix socket, protobuf packing and unpacking, and the hello.
 *
 * Owns: every send/recv on the socket (shm.c only receives the fds of the
 * hello's first byte) and every protobuf type of libgcclient. Must not
 * touch: mappings.
 *
 * A failure of the exchange itself (EOF, reset, a response that cannot be
 * read or does not answer the request) leaves the stream at an unknown
 * position, so the connection is closed then and every later call answers
 * GC_ECLOSED. Errors of single operations leave it open.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gcd_spin.h"
#include "gcd_varint.h"
#include "wire.h"

#define PROTOCOL_VERSION 2u
/* Until the hello says otherwise: the default of proto/gcd.proto. */
#define DEFAULT_MAX_FRAME (4u << 20)
/* A response may legitimately outgrow its request (an info op is 4 bytes,
 * its answer up to ~80), so responses are allowed this many times the
 * request limit, and no more: the length is checked before allocating. */
#define RESPONSE_FACTOR 32u
#define RESPONSE_MAX_CAP ((size_t)1 << 30)
/* Answers are read in pieces of up to this many bytes. */
#define IN_CAP ((size_t)64 << 10)
/* Quiet frames gathered past this many bytes are sent at once. */
#define OUT_FLUSH ((size_t)64 << 10)
/* An op written directly (gc__wire_encode_ops()) takes at most OP_WIRE_MAX
 * bytes (a SetRef with three 10-byte varints, its Op and the Request's
 * field header: 32), so that a frame of them is known to fit the daemon's
 * limit, however small it is configured, before it is written. */
#define OP_WIRE_MAX 40u
#define REQUEST_WIRE_MAX 16u /* seq and quiet */

_Static_assert((int)GC__OP_ALLOC == (int)GCD__WIRE__OP__OP_ALLOC &&
                   (int)GC__OP_VERIFY == (int)GCD__WIRE__OP__OP_VERIFY,
               "gc__op_kind follows the oneof numbers of gcd.wire.Op");

typedef Gcd__Wire__Request Request;
typedef Gcd__Wire__Response Response;

/* --------------------------------------------------------- the socket */

void gc__wire_kill(gc_client *c) {
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  c->in_off = c->in_len = c->out_len = 0;
  c->quiet_n = 0;
  c->g_n = 0; /* the open frame can no longer leave */
}

/* The connection is gone or desynchronised: close it and say why. A peer
 * that went away (EOF, EPIPE, reset) is GC_ECLOSED; anything else GC_EIO. */
static int conn_lost(gc_client *c, int err, const char *what) {
  int code = (err == 0 || err == EPIPE || err == ECONNRESET) ? GC_ECLOSED : GC_EIO;

  gc__wire_kill(c);
  return gc__fail(c, code, "%s: %s", what,
                  err == 0 ? "the daemon closed the connection" : strerror(err));
}

static int64_t now_ms(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The moment a wait of c->timeout_ms that starts now runs out, on the
 * monotonic clock in ms; 0 when there is no limit. */
static int64_t deadline_of(const gc_client *c) {
  return c->timeout_ms == 0 ? 0 : now_ms() + c->timeout_ms;
}

/* Waits until the socket is ready for events or the deadline passes. With
 * no deadline there is nothing to wait for here: the blocking call that
 * follows waits. On expiry the connection is closed: a late answer would
 * leave the stream out of step. */
static int await(gc_client *c, short events, int64_t deadline, const char *what) {
  struct pollfd p = {.fd = c->fd, .events = events};
  int r;

  if (deadline == 0)
    return 0;
  do {
    int64_t left = deadline - now_ms();
    r = poll(&p, 1, left > 0 ? (left > INT_MAX ? INT_MAX : (int)left) : 0);
  } while (r < 0 && errno == EINTR);
  if (r > 0)
    return 0;
  if (r < 0)
    return conn_lost(c, errno, what);
  gc__wire_kill(c);
  return gc__fail(c, GC_ETIMEDOUT, "%s: no progress within %u ms; connection closed",
                  what, c->timeout_ms);
}

/* MSG_NOSIGNAL: a daemon that died must be an error code, never SIGPIPE.
 * Under a timeout the send does not block (MSG_DONTWAIT) but waits in
 * await(), so that a daemon that stopped reading cannot hold the caller. */
static int send_all(gc_client *c, const unsigned char *p, size_t n) {
  int64_t deadline = deadline_of(c);
  int flags = MSG_NOSIGNAL | (deadline != 0 ? MSG_DONTWAIT : 0), err;

  while (n > 0) {
    ssize_t w = send(c->fd, p, n, flags);

    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && deadline != 0) {
      if ((err = await(c, POLLOUT, deadline, "sending a request")) != 0)
        return err;
      continue;
    }
    if (w < 0)
      return conn_lost(c, errno, "sending a request");
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* The hello's first read, which also takes the SCM_RIGHTS fds. */
static int recv_fds(gc_client *c, unsigned char *buf, size_t n, int64_t deadline, int *fds,
                    int *nfds, size_t *got) {
  int err = await(c, POLLIN, deadline, "reading a response");
  long k;

  if (err != 0)
    return err;
  if ((k = gc__shm_recv_fds(c->fd, buf, n, fds, nfds)) <= 0)
    return conn_lost(c, (int)-k, "reading a response");
  *got = (size_t)k;
  return 0;
}

/* ------------------------------------------------------ spin-waiting */

static int64_t now_ns(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Polls the socket for up to the spin window from t0, yielding the CPU
 * between polls so that a daemon woken on this CPU runs first. The bytes
 * received (> 0), 0 at EOF, -errno, or -EAGAIN once the window passed. */
static long spin_recv(gc_client *c, void *p, size_t cap, int64_t t0) {
  for (;;) {
    long k = recv(c->fd, p, cap, MSG_DONTWAIT);

    if (k >= 0)
      return k;
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      return -errno;
    if (now_ns() - t0 >= c->spin_ns)
      return -EAGAIN;
    sched_yield();
  }
}

/* Receives what the socket has, up to cap bytes, waiting for it within the
 * deadline (spinning first under GC_OPT_SPIN_US): *got > 0 on success.
 * Returns 0 or the error, the connection then closed. */
static int recv_some(gc_client *c, void *p, size_t cap, int64_t deadline, size_t *got) {
  int64_t t0 = c->spin_max_ns != 0 ? now_ns() : 0;
  long k = c->spin_ns != 0 ? spin_recv(c, p, cap, t0) : -EAGAIN;
  int err;

  if (k == -EAGAIN) {
    do {
      if ((err = await(c, POLLIN, deadline, "reading a response")) != 0)
        return err;
      k = recv(c->fd, p, cap, 0);
      k = k < 0 ? -errno : k;
    } while (k == -EINTR);
    if (c->spin_max_ns != 0)
      c->spin_ns = gcd_spin_adapt(c->spin_ns, c->spin_max_ns, now_ns() - t0);
  }
  if (k <= 0)
    return conn_lost(c, (int)-k, "reading a response");
  *got = (size_t)k;
  return 0;
}

/* Reads exactly n bytes, within the deadline (0: none). With fds, the
 * first read also takes the SCM_RIGHTS fds, which the daemon attaches to
 * the first byte of the frame. */
static int read_exact(gc_client *c, unsigned char *buf, size_t n, int64_t deadline,
                      int *fds, int *nfds) {
  size_t got = 0, r;
  int err;

  while (got < n) {
    if (c->in_len > c->in_off) { /* what an earlier recv brought */
      r = c->in_len - c->in_off < n - got ? c->in_len - c->in_off : n - got;
      memcpy(buf + got, c->in + c->in_off, r);
      c->in_off += r;
    } else if (fds != NULL && got == 0) {
      if ((err = recv_fds(c, buf, n, deadline, fds, nfds, &r)) != 0)
        return err;
    } else if (n - got >= IN_CAP || (c->in == NULL && (c->in = malloc(IN_CAP)) == NULL)) {
      if ((err = recv_some(c, buf + got, n - got, deadline, &r)) != 0)
        return err;
    } else { /* refill: as much as the socket has, up to IN_CAP */
      if ((err = recv_some(c, c->in, IN_CAP, deadline, &r)) != 0)
        return err;
      c->in_off = 0;
      c->in_len = r;
      continue;
    }
    got += r;
  }
  return 0;
}

static int buf_reserve(gc_client *c, size_t n) {
  unsigned char *p;

  if (n <= c->buf_cap)
    return 0;
  p = realloc(c->buf, n);
  if (p == NULL)
    return gc__fail(c, GC_ENOCLIENT, "no memory for a frame of %zu bytes", n);
  c->buf = p;
  c->buf_cap = n;
  return 0;
}

/* ------------------------------------------------------------- frames */

static uint32_t frame_limit(const gc_client *c) {
  return c->max_frame != 0 ? c->max_frame : DEFAULT_MAX_FRAME;
}

/* Packs a frame at the end of c->out, to leave with the next flush. An
 * oversize request is refused here, before a byte is sent, so the
 * connection survives it. */
static int out_reserve(gc_client *c, size_t n) {
  if (c->out_len + n > c->out_cap) {
    size_t cap = (c->out_len + n) * 2;
    unsigned char *p = realloc(c->out, cap);

    if (p == NULL)
      return gc__fail(c, GC_ENOCLIENT, "no memory for %zu bytes of requests", cap);
    c->out = p;
    c->out_cap = cap;
  }
  return 0;
}

/* The 4-byte length before the frame of n bytes just written at the end of
 * c->out, which then joins what is gathered. */
static void out_commit(gc_client *c, size_t n) {
  uint32_t be = htonl((uint32_t)n);

  memcpy(c->out + c->out_len, &be, 4);
  c->out_len += n + 4;
}

static int queue_request(gc_client *c, Request *req, uint64_t seq) {
  size_t n;
  int err;

  req->seq = seq;
  n = gcd__wire__request__get_packed_size(req);
  if (n > frame_limit(c))
    return gc__fail(c, GC_EFRAMESIZE, "request of %zu bytes (%zu ops) exceeds the "
                    "daemon's frame limit of %u bytes", n, req->n_ops, frame_limit(c));
  if ((err = out_reserve(c, n + 4)) != 0)
    return err;
  gcd__wire__request__pack(req, c->out + c->out_len + 4);
  out_commit(c, n);
  return 0;
}

static size_t response_limit(const gc_client *c) {
  size_t lim = (size_t)frame_limit(c) * RESPONSE_FACTOR;

  return lim < RESPONSE_MAX_CAP ? lim : RESPONSE_MAX_CAP;
}

/* Reads one frame into c->buf, *n bytes; the length is checked before
 * anything is allocated for it. */
static int recv_frame(gc_client *c, int *fds, int *nfds, uint32_t *len) {
  unsigned char hdr[4];
  uint32_t n;
  int64_t deadline = deadline_of(c);
  int err;

  if ((err = read_exact(c, hdr, 4, deadline, fds, nfds)) != 0)
    return err;
  memcpy(&n, hdr, 4);
  n = ntohl(n);
  if (n == 0 || n > response_limit(c)) {
    gc__wire_kill(c);
    return gc__fail(c, GC_EPROTO, "daemon sent a frame of %u bytes (limit %zu)", n,
                    response_limit(c));
  }
  if ((err = buf_reserve(c, n)) != 0 ||
      (err = read_exact(c, c->buf, n, deadline, NULL, NULL)) != 0) {
    gc__wire_kill(c);
    return err;
  }
  *len = n;
  return 0;
}

/* The frame of n bytes in c->buf, unpacked. */
static int unpack_response(gc_client *c, uint32_t n, Response **out) {
  *out = gcd__wire__response__unpack(NULL, n, c->buf);
  if (*out == NULL) {
    gc__wire_kill(c);
    return gc__fail(c, GC_EPROTO, "daemon sent %u bytes that are not a Response", n);
  }
  return 0;
}

/* A code from the daemon, as the library returns it: the wire carries the
 * GC_E* numbers themselves; anything positive is not one. */
static int wire_code(int32_t code) {
  return code > 0 ? GC_EPROTO : code;
}

/* A quiet frame failed: its first failed result becomes the deferred error,
 * unless one is kept already (only the first is). */
static void quiet_failure(gc_client *c, const Response *resp) {
  for (size_t i = 0; i < resp->n_results && c->deferred == 0; i++) {
    const Gcd__Wire__Result *r = resp->results[i];
    int code = wire_code(r->code);

    if (code == 0)
      continue;
    c->deferred = code;
    snprintf(c->deferred_msg, sizeof c->deferred_msg,
             "one-way request %llu (operation %zu of %zu) failed: %s",
             (unsigned long long)resp->seq, i, resp->n_results,
             r->message && r->message[0] ? r->message : gc_strerror(code));
  }
}

/* The next answer that is not a quiet frame's failure. Those are kept as
 * deferred errors on the way; any other answer confirms every quiet frame
 * sent before it, since the daemon runs a connection's frames in order. */
/* What a plain answer must answer, to be read in place: the frame of seq
 * with n ops, whose results go to res (NULL: to the ops of the oldest
 * async frame, in the ring). */
typedef struct plain_want {
  uint64_t seq;
  size_t n;
  gc__result *res;
} plain_want;

static bool take_plain(gc_client *c, const unsigned char *p, size_t len,
                       const plain_want *want);

/* With plain given, a plain answer to it is read in place (take_plain())
 * and *out is NULL. */
static int recv_answer(gc_client *c, int *fds, int *nfds, const plain_want *plain,
                       Response **out) {
  uint32_t n = 0;
  int err;

  for (;;) {
    *out = NULL;
    if ((err = recv_frame(c, fds, nfds, &n)) != 0)
      return err;
    if (plain != NULL && take_plain(c, c->buf, n, plain))
      break;
    if ((err = unpack_response(c, n, out)) != 0)
      return err;
    if (!(*out)->quiet || (*out)->code != 0)
      break;
    quiet_failure(c, *out);
    gcd__wire__response__free_unpacked(*out, NULL);
    *out = NULL;
  }
  c->quiet_n = 0;
  return 0;
}

/* The response answers req: no frame-level failure, same seq, one result per
 * op. Otherwise the daemon is closing the connection or the stream is out
 * of step; either way the connection is over. */
static int check_response(gc_client *c, const Request *req, const Response *resp) {
  if (resp->code != 0) {
    gc__wire_kill(c);
    return gc__fail(c, wire_code(resp->code), "daemon closed the connection: %s",
                    resp->message && resp->message[0] ? resp->message
                                                      : gc_strerror(resp->code));
  }
  if (resp->seq != req->seq || resp->n_results != req->n_ops) {
    gc__wire_kill(c);
    return gc__fail(c, GC_EPROTO, "response (seq %llu, %zu results) does not answer "
                    "request (seq %llu, %zu ops)", (unsigned long long)resp->seq,
                    resp->n_results, (unsigned long long)req->seq, req->n_ops);
  }
  return 0;
}

static int close_open(gc_client *c);

/* req sent behind what is gathered, and its answer read: the frames in
 * flight must have been completed. */
static int exchange(gc_client *c, Request *req, int *fds, int *nfds, Response **out) {
  int err;

  if (c->fd < 0)
    return gc__fail(c, GC_ECLOSED, "the connection to the daemon is closed");
  if ((err = close_open(c)) != 0 || (err = queue_request(c, req, ++c->seq)) != 0 ||
      (err = gc__wire_flush(c)) != 0 || (err = recv_answer(c, fds, nfds, NULL, out)) != 0)
    return err;
  if ((err = check_response(c, req, *out)) != 0) {
    gcd__wire__response__free_unpacked(*out, NULL);
    *out = NULL;
  }
  return err;
}

/* One request, one response, after the frames in flight and any deferred
 * failure (which is returned instead). fds (when not NULL) receives the
 * hello's. On success *out must be freed with
 * gcd__wire__response__free_unpacked(). */
static int roundtrip(gc_client *c, Request *req, int *fds, int *nfds, Response **out) {
  int err;

  if ((c->fl_n > 0 || c->deferred != 0) && (err = gc__wire_settle(c)) != 0)
    return err;
  return exchange(c, req, fds, nfds, out);
}

/* ---------------------------------------------------------- operations */

/* An Op with room for whichever sub-message its kind needs. */
typedef struct wire_op {
  Gcd__Wire__Op op;
  union {
    Gcd__Wire__Alloc alloc;
    Gcd__Wire__HandleOp handle;
    Gcd__Wire__SetRef set_ref;
    Gcd__Wire__GetRef get_ref;
    Gcd__Wire__Publish publish;
    Gcd__Wire__NameOp name;
    Gcd__Wire__Empty empty;
  } u;
} wire_op;

static void encode_handle_op(wire_op *w, const gc__op *op) {
  w->u.handle = (Gcd__Wire__HandleOp)GCD__WIRE__HANDLE_OP__INIT;
  w->u.handle.handle = op->u64a;
  /* retain, release and refcount share one member type */
  w->op.retain = &w->u.handle;
}

static void encode_ref_op(wire_op *w, const gc__op *op) {
  if (op->kind == GC__OP_SET_REF) {
    w->u.set_ref = (Gcd__Wire__SetRef)GCD__WIRE__SET_REF__INIT;
    w->u.set_ref.object = op->u64a;
    w->u.set_ref.slot = op->u32;
    w->u.set_ref.target = op->u64b;
    w->op.set_ref = &w->u.set_ref;
  } else {
    w->u.get_ref = (Gcd__Wire__GetRef)GCD__WIRE__GET_REF__INIT;
    w->u.get_ref.object = op->u64a;
    w->u.get_ref.slot = op->u32;
    w->op.get_ref = &w->u.get_ref;
  }
}

static void encode_name_op(wire_op *w, const gc__op *op) {
  if (op->kind == GC__OP_PUBLISH) {
    w->u.publish = (Gcd__Wire__Publish)GCD__WIRE__PUBLISH__INIT;
    w->u.publish.name = (char *)op->name; /* packing only reads it */
    w->u.publish.handle = op->u64a;
    w->op.publish = &w->u.publish;
  } else {
    w->u.name = (Gcd__Wire__NameOp)GCD__WIRE__NAME_OP__INIT;
    w->u.name.name = (char *)op->name;
    w->op.lookup = &w->u.name; /* lookup and unpublish share one type */
  }
}

static void encode_op(wire_op *w, const gc__op *op) {
  w->op = (Gcd__Wire__Op)GCD__WIRE__OP__INIT;
  w->op.op_case = (Gcd__Wire__Op__OpCase)op->kind;
  switch (op->kind) {
  case GC__OP_ALLOC:
    w->u.alloc = (Gcd__Wire__Alloc)GCD__WIRE__ALLOC__INIT;
    w->u.alloc.nslots = op->u32;
    w->u.alloc.nbytes = op->u64b;
    w->u.alloc.type = op->type;
    w->op.alloc = &w->u.alloc;
    break;
  case GC__OP_RETAIN:
  case GC__OP_RELEASE:
  case GC__OP_REFCOUNT:
    encode_handle_op(w, op);
    break;
  case GC__OP_SET_REF:
  case GC__OP_GET_REF:
    encode_ref_op(w, op);
    break;
  case GC__OP_PUBLISH:
  case GC__OP_LOOKUP:
  case GC__OP_UNPUBLISH:
    encode_name_op(w, op);
    break;
  default: /* info, verify */
    w->u.empty = (Gcd__Wire__Empty)GCD__WIRE__EMPTY__INIT;
    w->op.info = &w->u.empty;
    break;
  }
}

static void copy_info(gc_heap_info *out, const Gcd__Wire__HeapInfo *in) {
  out->objects = in->objects;
  out->bytes_used = in->bytes_used;
  out->bytes_total = in->bytes_total;
  out->clients = in->clients;
}

/* Copies each op's answer out; the first failure's message becomes the
 * connection's last error, prefixed with its position in a batch. */
static void take_result(gc_client *c, size_t i, size_t n, int32_t wire, uint64_t value,
                        const char *msg, gc__result *res, int *failed) {
  res[i].code = wire_code(wire);
  res[i].value = value;
  if (res[i].code == 0 || (*failed)++)
    return;
  msg = msg != NULL && msg[0] ? msg : gc_strerror(res[i].code);
  if (n == 1)
    gc__fail(c, res[i].code, "%s", msg);
  else
    gc__fail(c, res[i].code, "operation %zu: %s", i, msg);
}

static void take_results(gc_client *c, const gc__op *ops, const Response *resp,
                         gc__result *res, gc_heap_info *info) {
  int failed = 0;

  for (size_t i = 0; i < resp->n_results; i++) {
    const Gcd__Wire__Result *r = resp->results[i];

    if (info != NULL && ops[i].kind == GC__OP_INFO && r->info != NULL)
      copy_info(info, r->info);
    take_result(c, i, resp->n_results, r->code, r->value, r->message, res, &failed);
  }
}

/* Room for n encoded ops followed by the array of n pointers to them that
 * a Request holds; one block, reused for the connection's lifetime. */
static wire_op *enc_reserve(gc_client *c, size_t n, Gcd__Wire__Op ***ptrs) {
  const size_t each = sizeof(wire_op) + sizeof(Gcd__Wire__Op *);
  void *p;

  _Static_assert(sizeof(wire_op) % _Alignof(Gcd__Wire__Op *) == 0,
                 "the pointer array after the ops is aligned");
  if (n > c->enc_cap) {
    if (n > SIZE_MAX / each || (p = realloc(c->enc, n * each)) == NULL) {
      gc__fail(c, GC_ENOCLIENT, "no memory to encode %zu operations", n);
      return NULL;
    }
    c->enc = p;
    c->enc_cap = n;
  }
  *ptrs = (Gcd__Wire__Op **)((wire_op *)c->enc + n);
  return c->enc;
}

/* How many ops written directly fit one frame, whatever their values. */
static size_t ops_fit(const gc_client *c) {
  return (frame_limit(c) - REQUEST_WIRE_MAX) / OP_WIRE_MAX;
}

static int exchange_plain(gc_client *c, const gc__op *ops, size_t n, gc__result *res);

/* Whether ops[0..n) are written directly and fit the daemon's frame limit
 * however their values fall. */
static bool plain_ops(const gc_client *c, const gc__op *ops, size_t n) {
  if (n == 0 || n > ops_fit(c))
    return false;
  for (size_t i = 0; i < n; i++)
    if (ops[i].kind < GC__OP_ALLOC || ops[i].kind > GC__OP_REFCOUNT)
      return false;
  return true;
}

int gc__wire_exchange(gc_client *c, const gc__op *ops, size_t n, gc__result *res,
                      gc_heap_info *info) {
  Request req = GCD__WIRE__REQUEST__INIT;
  Response *resp = NULL;
  Gcd__Wire__Op **ptrs;
  wire_op *w;
  int err;

  if (plain_ops(c, ops, n))
    return exchange_plain(c, ops, n, res);
  if ((w = enc_reserve(c, n ? n : 1, &ptrs)) == NULL)
    return GC_ENOCLIENT;
  for (size_t i = 0; i < n; i++) {
    encode_op(&w[i], &ops[i]);
    ptrs[i] = &w[i].op;
  }
  req.n_ops = n;
  req.ops = ptrs;
  if ((err = roundtrip(c, &req, NULL, NULL, &resp)) == 0) {
    take_results(c, ops, resp, res, info);
    gcd__wire__response__free_unpacked(resp, NULL);
  }
  return err;
}

int gc__wire_call(gc_client *c, Gcd__Wire__Op *op, Response **out) {
  Request req = GCD__WIRE__REQUEST__INIT;
  const Gcd__Wire__Result *r;
  int err, code;

  *out = NULL;
  req.n_ops = 1;
  req.ops = &op;
  if ((err = roundtrip(c, &req, NULL, NULL, out)) != 0)
    return err;
  r = (*out)->results[0];
  if ((code = wire_code(r->code)) == 0)
    return 0;
  gc__fail(c, code, "%s", r->message && r->message[0] ? r->message : gc_strerror(code));
  gcd__wire__response__free_unpacked(*out, NULL);
  *out = NULL;
  return code;
}

void gc__wire_free(gc_client *c) {
  free(c->buf);
  free(c->enc);
  free(c->g_ops);
  free(c->fl);
  free(c->out);
  free(c->in);
  c->buf = c->enc = NULL;
  c->g_ops = NULL;
  c->g_n = c->g_cap = 0;
  c->fl = NULL;
  c->out = c->in = NULL;
  c->out_len = c->in_len = c->in_off = 0;
  c->buf_cap = c->enc_cap = c->fl_cap = c->fl_n = 0;
}

/* ----------------------------------------------------- frames in flight */

/* The async ops gathered since the last send share one request frame, as a
 * batch does: the daemon's cost per frame (and both ends' protobuf cost per
 * Request) is paid once for them all. */
#define GATHER_MAX ((size_t)GC_PIPELINE_MAX)

/* That frame is protobuf written directly, and so is the frame of a
 * synchronous call or a batch of those kinds, get_ref and refcount
 * (plain_ops()): the ops are messages of a few varints each, and
 * protobuf-c's generic packer, which walks each message's descriptor twice
 * (its size, then its bytes), was a tenth of a pipelined client's time.
 * The bytes are those protobuf-c writes for the same Request
 * (tests/client/test_wire.c compares them). */

/* A varint field (number < 16) as proto3 writes it: absent when 0. */
static size_t put_uint(unsigned char *p, unsigned field, uint64_t v) {
  if (v == 0)
    return 0;
  p[0] = (unsigned char)(field << 3); /* wire type 0 */
  return (size_t)(gcd_put_varint(p + 1, v) - p);
}

/* The op's own message: Alloc, SetRef, GetRef or HandleOp. */
static size_t put_body(unsigned char *p, const gc__op *op) {
  size_t n = 0;

  switch (op->kind) {
  case GC__OP_ALLOC:
    n += put_uint(p + n, 1, op->u32);
    n += put_uint(p + n, 2, op->u64b);
    n += put_uint(p + n, 3, op->type);
    return n;
  case GC__OP_SET_REF:
    n += put_uint(p + n, 1, op->u64a);
    n += put_uint(p + n, 2, op->u32);
    n += put_uint(p + n, 3, op->u64b);
    return n;
  case GC__OP_GET_REF:
    n += put_uint(p + n, 1, op->u64a);
    n += put_uint(p + n, 2, op->u32);
    return n;
  default: /* retain, release, refcount */
    return put_uint(p, 1, op->u64a);
  }
}

/* Request.ops (field 2) holding an Op, which holds the body in the oneof
 * field numbered as the op's kind. Bodies are under 128 bytes, so each
 * length is one byte. */
static size_t put_op(unsigned char *p, const gc__op *op) {
  size_t body = put_body(p + 4, op);

  p[0] = 2 << 3 | 2; /* wire type 2: length-delimited */
  p[1] = (unsigned char)(body + 2);
  p[2] = (unsigned char)(op->kind << 3 | 2);
  p[3] = (unsigned char)body;
  return body + 4;
}

size_t gc__wire_encode_ops(unsigned char *p, uint64_t seq, const gc__op *ops, size_t n,
                           int quiet) {
  size_t len = put_uint(p, 1, seq);

  for (size_t i = 0; i < n; i++)
    len += put_op(p + len, &ops[i]);
  if (quiet) {
    p[len++] = 3 << 3; /* Request.quiet */
    p[len++] = 1;
  }
  return len;
}

static size_t gather_max(const gc_client *c) {
  size_t n = ops_fit(c);

  return n < GATHER_MAX ? n : GATHER_MAX;
}

/* The open frame's answered ops are the last g_n entries of the ring. */
static gc__inflight *ring_from_tail(gc_client *c, size_t back) {
  return &c->fl[(c->fl_head + c->fl_n - 1 - back) % c->fl_cap];
}

/* An unwatched async op failed: the first such failure is kept for the
 * next synchronous call or gc_sync(); later ones only add to its count. */
static void defer_failure(gc_client *c, const gc__inflight *f, int code, const char *msg) {
  if (c->deferred != 0)
    return;
  c->deferred = code;
  snprintf(c->deferred_msg, sizeof c->deferred_msg,
           "one-way %s of handle 0x%llx (request %llu) failed: %.400s",
           f->kind == GC__OP_RELEASE ? "release" : f->kind == GC__OP_RETAIN ? "retain"
           : f->kind == GC__OP_SET_REF ? "set_ref" : "alloc",
           (unsigned long long)f->handle, (unsigned long long)f->seq,
           msg != NULL ? msg : gc_strerror(code));
}

/* The open frame could not be queued (no memory): its ops never reach the
 * daemon. Answered ones learn it in their rc (or as the deferred error),
 * one-way ones as the deferred error. */
static void drop_open(gc_client *c, int err) {
  if (c->g_quiet) {
    c->quiet_n -= c->g_n;
    if (c->deferred == 0) {
      c->deferred = err;
      snprintf(c->deferred_msg, sizeof c->deferred_msg, "%zu one-way operations were "
               "not sent: %.400s", c->g_n, c->err);
    }
  } else {
    for (; c->g_n > 0; c->g_n--, c->fl_n--) {
      gc__inflight *f = ring_from_tail(c, 0);

      if (f->rc != NULL)
        *f->rc = err;
      else
        defer_failure(c, f, err, c->err);
    }
  }
  c->g_n = 0;
}

/* Encodes the open frame behind what is gathered in c->out. Every frame
 * queued closes it first, so frames leave in the order their ops were
 * called. */
static int close_open(gc_client *c) {
  size_t n;
  int err;

  if (c->g_n == 0)
    return 0;
  if ((err = out_reserve(c, 4 + REQUEST_WIRE_MAX + c->g_n * OP_WIRE_MAX)) != 0) {
    drop_open(c, err);
    return err;
  }
  n = gc__wire_encode_ops(c->out + c->out_len + 4, ++c->seq, c->g_ops, c->g_n, c->g_quiet);
  assert(n <= frame_limit(c)); /* gather_max() */
  out_commit(c, n);
  for (size_t i = 0; i < c->g_n && !c->g_quiet; i++)
    ring_from_tail(c, i)->seq = c->seq;
  c->g_n = 0;
  return 0;
}

int gc__wire_flush(gc_client *c) {
  int err = close_open(c);
  size_t n = c->out_len;

  if (err != 0)
    return err;
  c->out_len = 0;
  return n > 0 ? send_all(c, c->out, n) : 0;
}

static int gather_reserve(gc_client *c) {
  gc__op *p;

  if (c->g_cap > 0)
    return 0;
  if ((p = malloc(GATHER_MAX * sizeof *p)) == NULL)
    return gc__fail(c, GC_ENOCLIENT, "out of memory for gathering async operations");
  c->g_ops = p;
  c->g_cap = GATHER_MAX;
  return 0;
}

int gc__wire_send_async(gc_client *c, const gc__op *op, gc_handle *out, int *rc) {
  int quiet = out == NULL && rc == NULL, err;

  if (c->fd < 0)
    return gc__fail(c, GC_ECLOSED, "the connection to the daemon is closed");
  if ((err = gather_reserve(c)) != 0)
    return err;
  /* An answered frame is answered whole, a quiet one only on failure: a
   * change of kind starts a new frame. */
  if (c->g_n > 0 && (quiet != c->g_quiet || c->g_n >= gather_max(c)) &&
      (err = close_open(c)) != 0)
    return err;
  c->g_ops[c->g_n++] = *op;
  c->g_quiet = quiet;
  if (quiet) {
    c->quiet_n++;
    /* Nothing else bounds a run of quiet ops: they leave in pieces. */
    return c->out_len >= OUT_FLUSH ? gc__wire_flush(c) : 0;
  }
  c->fl_n++;
  *ring_from_tail(c, 0) = (gc__inflight){.kind = op->kind, .handle = op->u64a, .out = out,
                                         .rc = rc};
  return 0;
}

/* The answered ops of the oldest frame in flight: the entries at the
 * ring's head that share its seq. */
static size_t head_frame_ops(const gc_client *c) {
  uint64_t seq = c->fl[c->fl_head].seq;
  size_t k = 1;

  while (k < c->fl_n && c->fl[(c->fl_head + k) % c->fl_cap].seq == seq)
    k++;
  return k;
}

/* Stores one op's answer where its async call asked, and pops its entry;
 * msg (NULL or empty: none) is the daemon's message on failure. */
static void complete_op(gc_client *c, int32_t wire, uint64_t value, const char *msg) {
  gc__inflight f = c->fl[c->fl_head];
  int code = wire_code(wire);

  c->fl_head = (c->fl_head + 1) % c->fl_cap;
  c->fl_n--;
  if (code == 0 && f.out != NULL)
    *f.out = value;
  if (f.rc != NULL)
    *f.rc = code;
  else if (code != 0)
    defer_failure(c, &f, code, msg != NULL && msg[0] ? msg : NULL);
}

/* ------------------------------------------------------ plain answers */

/* The answer to a frame of async ops is read in place when it is plain: a
 * seq and results of a code, a value and perhaps a message, nothing else.
 * protobuf-c's unpack allocated each Result and each message and
 * free_unpacked freed them, a tenth of a pipelined client's time. Anything
 * else (a quiet frame's failure, a frame-level error, another field, a
 * wire type out of place, a tag in more than one byte) is left to
 * protobuf-c, which then also judges a malformed answer. */
typedef struct plain_result {
  int32_t code;
  uint64_t value;
  const uint8_t *msg; /* the message's bytes, or NULL */
  size_t msg_len;
} plain_result;

static bool plain_result_read(gcd_reader r, plain_result *out) {
  unsigned field, type;
  uint64_t v;
  bool nz;
  gcd_reader text;

  *out = (plain_result){0};
  while (r.p < r.end) {
    if (!gcd_read_tag(&r, &field, &type))
      return false;
    if (field == 2 && type == 2 && gcd_read_bytes(&r, &text)) {
      out->msg = text.p;
      out->msg_len = (size_t)(text.end - text.p);
    } else if ((field == 1 || field == 3) && type == 0 && gcd_read_varint(&r, &v, &nz)) {
      if (field == 1)
        out->code = gcd_unzigzag32(v);
      else
        out->value = v;
    } else {
      return false;
    }
  }
  return true;
}

/* The next of the Response's own fields: seq (1), taken into *seq, or a
 * plain result (2) into *res. 1 for a result, 0 at the end, -1 for
 * anything else. */
static int plain_next(gcd_reader *r, uint64_t *seq, plain_result *res) {
  unsigned field, type;
  bool nz;
  gcd_reader one;

  while (r->p < r->end) {
    if (!gcd_read_tag(r, &field, &type))
      return -1;
    if (field == 2 && type == 2)
      return gcd_read_bytes(r, &one) && plain_result_read(one, res) ? 1 : -1;
    if (field != 1 || type != 0 || !gcd_read_varint(r, seq, &nz))
      return -1;
  }
  return 0;
}

/* Whether the frame is a plain answer: its seq, and its results counted. */
static bool plain_scan(const unsigned char *p, size_t len, uint64_t *seq, size_t *n) {
  gcd_reader r = {p, p + len};
  plain_result res;
  int more;

  *seq = 0;
  for (*n = 0; (more = plain_next(&r, seq, &res)) == 1;)
    ++*n;
  return more == 0;
}

/* A plain result's message as the C string protobuf-c would make of it
 * (cut at a NUL byte), into buf, shortened to fit. */
static const char *plain_message(const plain_result *r, char *buf, size_t cap) {
  size_t n;

  if (r->msg == NULL)
    return NULL;
  n = strnlen((const char *)r->msg, r->msg_len);
  n = n < cap - 1 ? n : cap - 1;
  memcpy(buf, r->msg, n);
  buf[n] = '\0';
  return buf;
}

/* Takes the results of the frame of len bytes at p where want says, if
 * it is a plain answer to want's frame; false leaves it to protobuf-c. */
static bool take_plain(gc_client *c, const unsigned char *p, size_t len,
                       const plain_want *want) {
  gcd_reader r = {p, p + len};
  uint64_t seq;
  size_t n, i = 0;
  char msg[GC__ERR_MAX];
  plain_result res;
  int failed = 0;

  if (!plain_scan(p, len, &seq, &n) || n != want->n || seq != want->seq)
    return false;
  for (; plain_next(&r, &seq, &res) == 1; i++)
    if (want->res != NULL)
      take_result(c, i, n, res.code, res.value, plain_message(&res, msg, sizeof msg),
                  want->res, &failed);
    else
      complete_op(c, res.code, res.value, plain_message(&res, msg, sizeof msg));
  return true;
}

/* One plain result against protobuf-c's Result. */
static bool same_result(const plain_result *mine, const Gcd__Wire__Result *pb) {
  const char *text = pb->message != NULL ? pb->message : "";
  size_t n = mine->msg != NULL ? strnlen((const char *)mine->msg, mine->msg_len) : 0;

  return pb->code == mine->code && pb->value == mine->value && strlen(text) == n &&
         memcmp(text, mine->msg != NULL ? (const char *)mine->msg : "", n) == 0 &&
         !pb->hello && !pb->info && !pb->gc && !pb->n_handles && !pb->object &&
         !pb->n_clients && !pb->collect && !pb->daemon;
}

int gc__wire_plain_check(const unsigned char *frame, size_t len, bool *fast, char *msg,
                         size_t msglen) {
  gcd_reader r = {frame, frame + len};
  uint64_t seq;
  size_t n, i = 0;
  plain_result res;
  Response *pb;
  int err = 0;

  if (!(*fast = plain_scan(frame, len, &seq, &n)))
    return 0;
  if ((pb = gcd__wire__response__unpack(NULL, len, frame)) == NULL) {
    snprintf(msg, msglen, "read in place an answer protobuf-c refuses");
    return GC_EPROTO;
  }
  if (pb->seq != seq || pb->n_results != n || pb->code != 0 || pb->quiet ||
      (pb->message != NULL && pb->message[0])) {
    snprintf(msg, msglen, "seq %llu/%llu, results %zu/%zu", (unsigned long long)seq,
             (unsigned long long)pb->seq, n, pb->n_results);
    err = GC_EPROTO;
  }
  for (; err == 0 && plain_next(&r, &seq, &res) == 1; i++)
    if (!same_result(&res, pb->results[i])) {
      snprintf(msg, msglen, "result %zu differs", i);
      err = GC_EPROTO;
    }
  gcd__wire__response__free_unpacked(pb, NULL);
  return err;
}

int gc__wire_complete_one(gc_client *c) {
  Request req = GCD__WIRE__REQUEST__INIT; /* what check_response compares */
  Response *resp = NULL;
  int err;

  plain_want want;

  /* First the open frame goes: its ops get their seq as it is queued. */
  if ((err = gc__wire_flush(c)) != 0)
    return err;
  want = (plain_want){.seq = c->fl[c->fl_head].seq, .n = head_frame_ops(c)};
  if ((err = recv_answer(c, NULL, NULL, &want, &resp)) != 0)
    return err;
  if (resp == NULL) /* taken in place */
    return 0;
  req.seq = c->fl[c->fl_head].seq;
  req.n_ops = head_frame_ops(c);
  if ((err = check_response(c, &req, resp)) != 0) {
    gcd__wire__response__free_unpacked(resp, NULL);
    return err;
  }
  for (size_t i = 0; i < resp->n_results; i++)
    complete_op(c, resp->results[i]->code, resp->results[i]->value,
                resp->results[i]->message);
  gcd__wire__response__free_unpacked(resp, NULL);
  return 0;
}

/* A synchronous call or batch of ops written directly, behind the frames
 * in flight and any deferred failure as roundtrip(), its answer read in
 * place when plain. */
static int exchange_plain(gc_client *c, const gc__op *ops, size_t n, gc__result *res) {
  Request req = GCD__WIRE__REQUEST__INIT; /* what check_response compares */
  plain_want want = {.n = n, .res = res};
  Response *resp = NULL;
  int err;

  if ((c->fl_n > 0 || c->deferred != 0) && (err = gc__wire_settle(c)) != 0)
    return err;
  if (c->fd < 0)
    return gc__fail(c, GC_ECLOSED, "the connection to the daemon is closed");
  if ((err = close_open(c)) != 0 ||
      (err = out_reserve(c, 4 + REQUEST_WIRE_MAX + n * OP_WIRE_MAX)) != 0)
    return err;
  want.seq = ++c->seq;
  out_commit(c, gc__wire_encode_ops(c->out + c->out_len + 4, want.seq, ops, n, 0));
  if ((err = gc__wire_flush(c)) != 0 || (err = recv_answer(c, NULL, NULL, &want, &resp)) != 0 ||
      resp == NULL)
    return err;
  req.seq = want.seq;
  req.n_ops = n;
  if ((err = check_response(c, &req, resp)) == 0)
    take_results(c, ops, resp, res, NULL);
  gcd__wire__response__free_unpacked(resp, NULL);
  return err;
}

void gc__wire_abandon(gc_client *c, int err) {
  c->g_n = 0; /* its answered ops are in the ring */
  for (; c->fl_n > 0; c->fl_n--, c->fl_head = (c->fl_head + 1) % c->fl_cap)
    if (c->fl[c->fl_head].rc != NULL)
      *c->fl[c->fl_head].rc = err;
}

/* An empty request: its answer comes after any failure of the quiet frames
 * sent before it. */
static int confirm_quiet(gc_client *c) {
  Request req = GCD__WIRE__REQUEST__INIT;
  Response *resp = NULL;
  int err = exchange(c, &req, NULL, NULL, &resp);

  if (resp != NULL)
    gcd__wire__response__free_unpacked(resp, NULL);
  return err;
}

int gc__wire_settle(gc_client *c) {
  int err, code;

  while (c->fl_n > 0)
    if ((err = gc__wire_complete_one(c)) != 0) {
      gc__wire_abandon(c, err);
      return err;
    }
  if (c->quiet_n > 0 && (err = confirm_quiet(c)) != 0)
    return err;
  if ((code = c->deferred) == 0)
    return 0;
  c->deferred = 0;
  return gc__fail(c, code, "%s", c->deferred_msg);
}

/* ---------------------------------------------------------------- hello */

/* The hello's answer: accepted, for this protocol, with segment sizes and
 * both fds. */
static int hello_check(gc_client *c, const Response *resp, int nfds) {
  const Gcd__Wire__Result *r = resp->results[0];

  if (r->code != 0)
    return gc__fail(c, wire_code(r->code), "daemon refused the hello: %s",
                    r->message && r->message[0] ? r->message : gc_strerror(r->code));
  if (r->hello == NULL || r->hello->protocol_version != PROTOCOL_VERSION)
    return gc__fail(c, GC_EVERSION, "daemon answered protocol version %u, this library "
                    "speaks %u", r->hello ? r->hello->protocol_version : 0,
                    PROTOCOL_VERSION);
  if (nfds != 2)
    return gc__fail(c, GC_EPROTO, "daemon passed %d segment fds with the hello, not 2",
                    nfds);
  return 0;
}

int gc__wire_hello(gc_client *c, const char *client_name) {
  Gcd__Wire__Hello hello = GCD__WIRE__HELLO__INIT;
  Gcd__Wire__Op op = GCD__WIRE__OP__INIT, *ptr = &op;
  Request req = GCD__WIRE__REQUEST__INIT;
  Response *resp = NULL;
  int fds[2] = {-1, -1}, nfds = 0, err;
  unsigned timeout = c->timeout_ms;

  hello.protocol_version = PROTOCOL_VERSION;
  hello.client_name = (char *)(client_name ? client_name : "");
  op.op_case = GCD__WIRE__OP__OP_HELLO;
  op.hello = &hello;
  req.n_ops = 1;
  req.ops = &ptr;
  if (timeout == 0) /* bounded even without a timeout: see gc_connect() */
    c->timeout_ms = GC_HELLO_TIMEOUT_MS;
  err = roundtrip(c, &req, fds, &nfds, &resp);
  c->timeout_ms = timeout;
  if (err == 0 && (err = hello_check(c, resp, nfds)) == 0) {
    const Gcd__Wire__HelloReply *h = resp->results[0]->hello;

    c->max_frame = h->max_frame;
    c->client_id = h->client_id;
    err = gc__shm_map(c, fds[0], fds[1], h->meta_size, h->data_size);
    nfds = 0; /* gc__shm_map() closed them */
  }
  while (nfds > 0)
    close(fds[--nfds]);
  if (resp != NULL)
    gcd__wire__response__free_unpacked(resp, NULL);
  return err;
}
