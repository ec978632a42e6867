/*
 * fuzz_ops.c -- the request handlers under arbitrary client input, with
 * the daemon's own invariants checked after every input.
 *
 * An input is a program: each byte picks an operation (alloc, retain,
 * release, set_ref, names, collections, freeze, save-all, listings, ...)
 * and the bytes after it its operands, handles taken from those the daemon
 * handed out, from freed ones, or forged; operations gather into Request
 * frames (some quiet) that gcd_ops_handle() runs for one of two sessions,
 * one an administrator and one not; a frame may also be raw bytes. Every
 * answer must echo its seq and hold one result per operation, a quiet
 * frame must go unanswered unless it failed; every frame goes through the
 * session's frame decoder in small pieces, and after the input, with
 * every session closed, every name dropped and the garbage cleared, the
 * heap must verify and hold nothing: whatever the client sent, nothing
 * held was freed and nothing dropped leaked.
 *
 * Built two ways (tests/CMakeLists.txt): with a main() that runs inputs
 * from a fixed pseudo-random sequence (a ctest, under every sanitizer
 * build), and with -DGCD_FUZZ=ON under clang as a libFuzzer target.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "gcclient.h"
#include "gcd.pb-c.h"
#include "log.h"
#include "ops.h"
#include "../ops_drive.h"
#include "session.h"

typedef Gcd__Wire__Op Op;

#define MAX_OPS 16     /* operations gathered before a frame must leave */
#define POOL 64        /* handles remembered */
#define NAME_MAX_FUZZ 8

/* The input, read a byte at a time; past its end every read is 0. */
typedef struct input {
  const uint8_t *p;
  size_t n, at;
} input;

static uint8_t next(input *in) {
  return in->at < in->n ? in->p[in->at++] : 0;
}

static uint64_t next64(input *in) {
  uint64_t v = 0;

  for (int i = 0; i < 8; i++)
    v = v << 8 | next(in);
  return v;
}

/* Everything one input runs against, built fresh for it. */
typedef struct world {
  gcd_daemon d;
  gcd_session s[2];      /* 0: an administrator; 1: another user */
  gcd_frame_decoder dec[2]; /* each session's stream, as the server keeps it */
  bool open[2];
  uint64_t pool[POOL];   /* handles seen, live or not */
  size_t npool;
  uint64_t seq;
  /* the frame being gathered */
  Op ops[MAX_OPS];
  Op *ptrs[MAX_OPS];
  union {
    Gcd__Wire__Alloc alloc;
    Gcd__Wire__HandleOp handle;
    Gcd__Wire__SetRef set_ref;
    Gcd__Wire__GetRef get_ref;
    Gcd__Wire__Publish publish;
    Gcd__Wire__NameOp name;
    Gcd__Wire__Empty empty;
    Gcd__Wire__Collect collect;
    Gcd__Wire__SetEnabled enabled;
    Gcd__Wire__Thresholds thresholds;
    Gcd__Wire__SetDebug debug;
    Gcd__Wire__ListOp list;
  } sub[MAX_OPS];
  char names[MAX_OPS][NAME_MAX_FUZZ + 1];
  size_t nops;
  bool quiet;
  int who;               /* the session the frame goes to */
} world;

/* What the inputs did, so that a run that exercised nothing fails. */
static struct {
  uint64_t frames, ok, failed, quiet_silent, cycle_frees;
} seen;

static void die(const char *what, const char *detail) {
  fprintf(stderr, "fuzz_ops: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  abort();
}

/* ------------------------------------------------------------ handles */

static void remember(world *w, uint64_t h) {
  if (h == 0)
    return;
  if (w->npool < POOL)
    w->pool[w->npool++] = h;
  else
    w->pool[h % POOL] = h;
}

/* One known handle most of the time; else the null handle, a forged one,
 * or a known one with its generation or index bent. */
static uint64_t pick(world *w, input *in) {
  uint8_t b = next(in);

  if (b < 200 && w->npool > 0)
    return w->pool[b % w->npool];
  if (b < 210)
    return 0;
  if (b < 230 || w->npool == 0)
    return next64(in);
  return w->pool[b % w->npool] ^ ((uint64_t)1 << (next(in) % 64));
}

/* ------------------------------------------------------------ running */

/* The client went away, or the server closed the connection. */
static void close_session(world *w, int who) {
  if (!w->open[who])
    return;
  gcd_session_close(&w->d, &w->s[who]);
  gcd_frame_destroy(&w->dec[who]);
  w->open[who] = false;
}

/* gcd_ops_handle()'s rc, through ops_drive(). */
static int drive(world *w, gcd_session *s, int rc, const gcd_room *room, gcd_reply *rep) {
  const char *why;

  rc = ops_drive(&w->d, s, rc, room, rep, &why);
  if (why != NULL)
    die(why, NULL);
  return rc;
}

/* Checks an answer against the frame it answers and remembers the handles
 * it gave. A frame-level failure closes the session, as the server would. */
static void take_reply(world *w, int who, const gcd_reply *rep, size_t nops, bool quiet) {
  Gcd__Wire__Response *resp;
  uint32_t n;

  seen.frames++;
  if (rep->buf == NULL) { /* a raw frame (nops unknown) may be a quiet one */
    if (!quiet && nops != SIZE_MAX)
      die("an ordinary frame went unanswered", NULL);
    seen.quiet_silent++;
    return;
  }
  n = (uint32_t)rep->buf[0] << 24 | (uint32_t)rep->buf[1] << 16 |
      (uint32_t)rep->buf[2] << 8 | rep->buf[3];
  if (rep->len < GCD_FRAME_HEADER || n != rep->len - GCD_FRAME_HEADER)
    die("an answer's length prefix is wrong", NULL);
  if ((resp = gcd__wire__response__unpack(NULL, n, rep->buf + GCD_FRAME_HEADER)) == NULL)
    die("an answer does not decode", NULL);
  if (resp->code != 0 || rep->close_after) {
    close_session(w, who);
  } else if (nops != SIZE_MAX && (resp->seq != w->seq || resp->n_results != nops)) {
    die("an answer does not match its frame", NULL);
  } else if (resp->quiet && !quiet && nops != SIZE_MAX) {
    die("an ordinary frame was answered as a quiet one", NULL);
  }
  for (size_t i = 0; i < resp->n_results; i++) {
    if (resp->results[i]->code != 0) {
      seen.failed++;
      continue;
    }
    seen.ok++;
    remember(w, resp->results[i]->value);
  }
  gcd__wire__response__free_unpacked(resp, NULL);
}

static void hello(world *w, int who);

/* A session closed by an earlier frame (or by the program) opens again, as
 * a client would reconnect. */
static void reopen(world *w, int who) {
  if (!w->open[who])
    hello(w, who);
}

static void run_bytes(world *w, int who, const uint8_t *frame, size_t len, size_t nops,
                      bool quiet) {
  gcd_session *s = &w->s[who];
  uint8_t space[64]; /* as the server's room: small replies are written here */
  gcd_room room = {space, (size_t)(w->seq % 2 ? sizeof space : 0)};
  gcd_reply rep;
  char msg[256];
  bool fast;
  int rc;

  if (gcd_ops_decode_check(frame, len, &fast, msg, sizeof msg) != 0)
    die("the handlers' reader and protobuf-c disagree", msg);
  rc = drive(w, s, gcd_ops_handle(&w->d, s, frame, len, &room, &rep), &room, &rep);
  if (rc != 0) { /* no reply could be built: the server closes */
    close_session(w, who);
    return;
  }
  if (rep.buf != NULL && rep.in_room != (rep.buf == space))
    die("a reply's in_room says otherwise than its buffer", NULL);
  take_reply(w, who, &rep, nops, quiet);
  if (!rep.in_room)
    free(rep.buf);
}

/* Bytes of session who's stream, through its frame decoder in pieces of
 * 1 to 64 bytes, as a socket may deliver them; each whole frame runs. A refused frame is answered and closes the session, and so
 * does a frame left unfinished at the end (the client hung up in it). */
static void feed(world *w, int who, const uint8_t *p, size_t n, size_t nops, bool quiet) {
  uint32_t lcg = (uint32_t)w->seq;

  while (n > 0 && w->open[who]) {
    size_t piece = 1 + ((lcg = lcg * 1103515245u + 12345u) >> 16) % 64;
    size_t used = 0, take = piece < n ? piece : n;
    gcd_frame f;
    gcd_reply rep;
    int rc = gcd_frame_feed(&w->dec[who], p, take, &used, &f);

    p += used;
    n -= used;
    if (rc == 1) {
      run_bytes(w, who, f.data, f.len, nops, quiet);
    } else if (rc < 0) {
      if (gcd_ops_frame_error(&w->d, rc, "refused", &rep) != 0)
        die("no answer for a refused frame", NULL);
      take_reply(w, who, &rep, SIZE_MAX, false);
      free(rep.buf);
      close_session(w, who);
    }
  }
  if (w->open[who] && gcd_frame_partial(&w->dec[who]))
    close_session(w, who);
}

/* Sends one payload behind its length prefix. */
static void send_payload(world *w, int who, const uint8_t *payload, size_t len,
                         size_t nops, bool quiet) {
  uint8_t *buf = malloc(GCD_FRAME_HEADER + len);

  if (buf == NULL)
    die("out of memory", NULL);
  gcd_frame_put_header(buf, (uint32_t)len);
  memcpy(buf + GCD_FRAME_HEADER, payload, len);
  feed(w, who, buf, GCD_FRAME_HEADER + len, nops, quiet);
  free(buf);
}

/* Sends the gathered operations as one frame. */
static void flush(world *w) {
  Gcd__Wire__Request req = GCD__WIRE__REQUEST__INIT;
  uint8_t *buf;
  size_t len;

  if (w->nops == 0)
    return;
  reopen(w, w->who);
  req.seq = ++w->seq;
  req.n_ops = w->nops;
  req.ops = w->ptrs;
  req.quiet = w->quiet;
  len = gcd__wire__request__get_packed_size(&req);
  if ((buf = malloc(len + 1)) == NULL)
    die("out of memory", NULL);
  gcd__wire__request__pack(&req, buf);
  send_payload(w, w->who, buf, len, w->nops, w->quiet);
  free(buf);
  w->nops = 0;
}

/* Raw bytes, decodable or not: a payload behind a true length prefix, or
 * the stream itself, length prefixes and all. */
static void raw_frame(world *w, input *in) {
  uint8_t buf[256];
  bool prefixed = next(in) & 1;
  size_t len = next(in);

  for (size_t i = 0; i < len; i++)
    buf[i] = next(in);
  flush(w);
  reopen(w, w->who);
  if (prefixed)
    send_payload(w, w->who, buf, len, SIZE_MAX, false);
  else
    feed(w, w->who, buf, len, SIZE_MAX, false);
}

/* ------------------------------------------------------ building ops */

static Op *op_new(world *w, Gcd__Wire__Op__OpCase kind) {
  Op *o = &w->ops[w->nops];

  gcd__wire__op__init(o);
  o->op_case = kind;
  w->ptrs[w->nops] = o;
  return o;
}

static void op_done(world *w) {
  if (++w->nops == MAX_OPS)
    flush(w);
}

static const char *name_of(world *w, input *in) {
  char *n = w->names[w->nops];
  size_t len = next(in) % 4; /* a few names, so that they collide */

  for (size_t i = 0; i < len; i++)
    n[i] = (char)('a' + next(in) % 3);
  n[len] = '\0'; /* "" is a bad name, on purpose */
  return n;
}

static void add_alloc(world *w, input *in) {
  Op *o = op_new(w, GCD__WIRE__OP__OP_ALLOC);
  Gcd__Wire__Alloc *m = &w->sub[w->nops].alloc;
  uint8_t b = next(in);

  gcd__wire__alloc__init(m);
  m->nslots = b < 250 ? b % 5 : (uint32_t)next64(in);
  m->nbytes = b % 3 == 0 ? 0 : b < 240 ? next(in) * 8u : next64(in);
  m->type = next(in);
  o->alloc = m;
  op_done(w);
}

static void add_handle_op(world *w, input *in, Gcd__Wire__Op__OpCase kind) {
  Op *o = op_new(w, kind);
  Gcd__Wire__HandleOp *m = &w->sub[w->nops].handle;

  gcd__wire__handle_op__init(m);
  m->handle = pick(w, in);
  o->retain = m; /* one union member for every HandleOp */
  op_done(w);
}

static void add_set_ref(world *w, input *in) {
  Op *o = op_new(w, GCD__WIRE__OP__OP_SET_REF);
  Gcd__Wire__SetRef *m = &w->sub[w->nops].set_ref;

  gcd__wire__set_ref__init(m);
  m->object = pick(w, in);
  m->slot = next(in) % 6;
  m->target = next(in) % 4 == 0 ? 0 : pick(w, in);
  o->set_ref = m;
  op_done(w);
}

static void add_get_ref(world *w, input *in) {
  Op *o = op_new(w, GCD__WIRE__OP__OP_GET_REF);
  Gcd__Wire__GetRef *m = &w->sub[w->nops].get_ref;

  gcd__wire__get_ref__init(m);
  m->object = pick(w, in);
  m->slot = next(in) % 6;
  o->get_ref = m;
  op_done(w);
}

static void add_publish(world *w, input *in) {
  Op *o = op_new(w, GCD__WIRE__OP__OP_PUBLISH);
  Gcd__Wire__Publish *m = &w->sub[w->nops].publish;

  gcd__wire__publish__init(m);
  m->name = (char *)name_of(w, in);
  m->handle = pick(w, in);
  o->publish = m;
  op_done(w);
}

static void add_name_op(world *w, input *in, Gcd__Wire__Op__OpCase kind) {
  Op *o = op_new(w, kind);
  Gcd__Wire__NameOp *m = &w->sub[w->nops].name;

  gcd__wire__name_op__init(m);
  m->name = (char *)name_of(w, in);
  o->lookup = m; /* lookup and unpublish */
  op_done(w);
}

static void add_empty(world *w, Gcd__Wire__Op__OpCase kind) {
  Op *o = op_new(w, kind);
  Gcd__Wire__Empty *m = &w->sub[w->nops].empty;

  gcd__wire__empty__init(m);
  o->info = m; /* one union member for every Empty */
  op_done(w);
}

static void add_collect(world *w, input *in) {
  Op *o = op_new(w, GCD__WIRE__OP__OP_COLLECT);
  Gcd__Wire__Collect *m = &w->sub[w->nops].collect;

  gcd__wire__collect__init(m);
  m->generation = (int8_t)next(in) % 4; /* -3..3: some invalid */
  o->collect = m;
  op_done(w);
}

static void add_list(world *w, input *in, Gcd__Wire__Op__OpCase kind) {
  Op *o = op_new(w, kind);
  Gcd__Wire__ListOp *m = &w->sub[w->nops].list;

  gcd__wire__list_op__init(m);
  m->handle = pick(w, in);
  m->limit = next(in) % 5;
  o->garbage = m; /* garbage, referents, referrers */
  op_done(w);
}

static void add_admin(world *w, input *in) {
  uint8_t b = next(in) % 6;
  Op *o;

  switch (b) {
  case 0:
    o = op_new(w, GCD__WIRE__OP__OP_SET_DEBUG);
    gcd__wire__set_debug__init(&w->sub[w->nops].debug);
    w->sub[w->nops].debug.flags = next(in) & 1 ? GC_DEBUG_SAVEALL : next(in);
    o->set_debug = &w->sub[w->nops].debug;
    break;
  case 1:
    o = op_new(w, GCD__WIRE__OP__OP_SET_THRESHOLD);
    gcd__wire__thresholds__init(&w->sub[w->nops].thresholds);
    w->sub[w->nops].thresholds.threshold0 = next(in) % 8;
    w->sub[w->nops].thresholds.threshold1 = next(in);
    w->sub[w->nops].thresholds.threshold2 = next64(in);
    o->set_threshold = &w->sub[w->nops].thresholds;
    break;
  case 2:
    o = op_new(w, GCD__WIRE__OP__OP_SET_ENABLED);
    gcd__wire__set_enabled__init(&w->sub[w->nops].enabled);
    w->sub[w->nops].enabled.enabled = next(in) & 1;
    o->set_enabled = &w->sub[w->nops].enabled;
    break;
  default: {
    static const Gcd__Wire__Op__OpCase kinds[] = {GCD__WIRE__OP__OP_FREEZE,
                                                  GCD__WIRE__OP__OP_UNFREEZE,
                                                  GCD__WIRE__OP__OP_CLEAR_GARBAGE};
    add_empty(w, kinds[b - 3]);
    return;
  }
  }
  op_done(w);
}

/* One step of the program. */
static void step(world *w, input *in) {
  static const Gcd__Wire__Op__OpCase info_ops[] = {GCD__WIRE__OP__OP_REFCOUNT,
                                                   GCD__WIRE__OP__OP_OBJECT_INFO};
  static const Gcd__Wire__Op__OpCase empty_ops[] = {
      GCD__WIRE__OP__OP_INFO, GCD__WIRE__OP__OP_GC_STATUS, GCD__WIRE__OP__OP_CLIENTS,
      GCD__WIRE__OP__OP_VERIFY};
  static const Gcd__Wire__Op__OpCase list_ops[] = {
      GCD__WIRE__OP__OP_GARBAGE, GCD__WIRE__OP__OP_REFERENTS, GCD__WIRE__OP__OP_REFERRERS};
  uint8_t op = next(in) % 20;

  switch (op) {
  case 0: case 1: case 2: add_alloc(w, in); break;
  case 3: add_handle_op(w, in, GCD__WIRE__OP__OP_RETAIN); break;
  case 4: case 5: add_handle_op(w, in, GCD__WIRE__OP__OP_RELEASE); break;
  case 6: case 7: add_set_ref(w, in); break;
  case 8: add_handle_op(w, in, info_ops[next(in) % 2]); break;
  case 9: add_get_ref(w, in); break;
  case 10: add_publish(w, in); break;
  case 11: add_name_op(w, in, next(in) & 1 ? GCD__WIRE__OP__OP_LOOKUP
                                           : GCD__WIRE__OP__OP_UNPUBLISH); break;
  case 12: add_empty(w, empty_ops[next(in) % 4]); break;
  case 13: add_collect(w, in); break;
  case 14: add_list(w, in, list_ops[next(in) % 3]); break;
  case 15: add_admin(w, in); break;
  case 16: flush(w); w->quiet = next(in) & 1; break;
  case 17: flush(w); w->who = next(in) & 1; break;
  case 18: raw_frame(w, in); break;
  default: /* a session goes away and comes back */
    flush(w);
    close_session(w, w->who);
    break;
  }
}

/* ------------------------------------------------------------ the world */

static void hello(world *w, int who) {
  Op o = GCD__WIRE__OP__INIT, *p = &o;
  Gcd__Wire__Hello h = GCD__WIRE__HELLO__INIT;
  Gcd__Wire__Request req = GCD__WIRE__REQUEST__INIT;
  uint8_t buf[64];
  size_t len;

  gcd_session_open(&w->d, &w->s[who], getpid(), who == 0 ? w->d.euid : w->d.euid + 1000,
                   getgid());
  gcd_frame_init(&w->dec[who], w->d.cfg.max_frame);
  w->open[who] = true;
  h.protocol_version = GCD_PROTOCOL_VERSION;
  h.client_name = "fuzz";
  o.op_case = GCD__WIRE__OP__OP_HELLO;
  o.hello = &h;
  req.seq = ++w->seq;
  req.n_ops = 1;
  req.ops = &p;
  len = gcd__wire__request__pack(&req, buf);
  send_payload(w, who, buf, len, 1, false);
}

static void world_init(world *w) {
  gcd_heap_config hc = {.data_size = 1 << 20, .max_objects = 1024, .slots_cap = 4096};

  memset(w, 0, sizeof *w);
  w->d.cfg.max_frame = 1 << 16;
  gcd_session_daemon_init(&w->d);
  if (gcd_heap_init(&w->d.heap, &hc) != 0 || gcd_gc_init(&w->d.gc, &w->d.heap) != 0 ||
      gcd_gcthread_init(&w->d.gct, &w->d.gc) != 0)
    die("cannot set up a heap", NULL);
  gcd_names_init(&w->d.names);
  hello(w, 0);
  hello(w, 1);
}

static void verify(world *w, const char *when) {
  char msg[256];

  if (gcd_daemon_verify(&w->d, msg, sizeof msg) == GC_ECORRUPT)
    die(when, msg);
}

/* Everything outside the heap lets go; a full collection then finds
 * whatever cycles are left, and nothing may remain. */
static void world_end(world *w) {
  gcd_heap_stats st;

  flush(w);
  verify(w, "heap inconsistent after the input");
  for (int who = 0; who < 2; who++)
    close_session(w, who);
  gcd_names_destroy(&w->d.names, &w->d.heap);
  gcd_names_init(&w->d.names);
  w->d.gc.debug = 0;
  gcd_gc_clear_garbage(&w->d.gc);
  gcd_gc_unfreeze(&w->d.gc);
  gcd_gc_collect(&w->d.gc, 2, NULL);
  verify(w, "heap inconsistent once every client went away");
  gcd_heap_stats_get(&w->d.heap, &st);
  seen.cycle_frees += st.cycle_frees;
  if (st.objects != 0) {
    char n[32];
    snprintf(n, sizeof n, "%" PRIu64 " objects", st.objects);
    die("objects left once every client went away and a collection ran", n);
  }
  gcd_names_destroy(&w->d.names, &w->d.heap);
  gcd_gcthread_destroy(&w->d.gct);
  gcd_gc_destroy(&w->d.gc);
  gcd_heap_destroy(&w->d.heap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static world w;
  input in = {data, size, 0};

  gcd_log_set_level(GCD_LOG_ERROR); /* the handlers' warnings are expected */
  world_init(&w);
  while (in.at < in.n)
    step(&w, &in);
  world_end(&w);
  return 0;
}

#ifdef GCD_FUZZ_MAIN
/* Inputs from a fixed sequence (splitmix64): the same every run. argv[1]
 * is how many (default 2000). */
static uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15u);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

int main(int argc, char **argv) {
  long runs = argc > 1 ? atol(argv[1]) : 2000;
  uint64_t seed = 1;
  uint8_t buf[4096];

  for (long r = 0; r < runs; r++) {
    size_t n = (size_t)(splitmix(&seed) % sizeof buf);

    for (size_t i = 0; i < n; i++)
      buf[i] = (uint8_t)splitmix(&seed);
    LLVMFuzzerTestOneInput(buf, n);
  }
  printf("fuzz_ops: %ld inputs, %" PRIu64 " frames (%" PRIu64 " quiet, unanswered), "
         "%" PRIu64 " operations succeeded, %" PRIu64 " failed, %" PRIu64 " objects "
         "freed by collections; every invariant held\n", runs, seen.frames,
         seen.quiet_silent, seen.ok, seen.failed, seen.cycle_frees);
  /* Inputs that reached none of this would prove nothing. */
  return seen.ok > 10 * (uint64_t)runs && seen.failed > (uint64_t)runs &&
                 seen.quiet_silent > 0 && seen.cycle_frees > 0
             ? 0
             : 1;
}
#endif
