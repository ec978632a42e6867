/*
 * test_ops.c -- the request handlers, end to end without sockets: Requests
 * are built and packed with protobuf-c, run by gcd_ops_handle() against a
 * real in-process heap, and the encoded Response frames are decoded and
 * checked: every error code, each message naming the offending value, the
 * handshake rules, admin-only verify, batches, and the release of a closed
 * session's retains.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "frame.h"
#include "gcclient.h"
#include "gcd.pb-c.h"
#include "log.h"
#include "ops.h"
#include "../ops_drive.h"
#include "session.h"

typedef Gcd__Wire__Op Op;

#define MAX_GARBAGE 65536

typedef struct fixture {
  gcd_daemon d;
  gcd_session a, b;  /* a: admin (our uid), b: another uid; both said hello */
  bool a_open, b_open;
  void *garbage[MAX_GARBAGE]; /* what the op builders allocated */
  size_t ngarbage;
} fixture;

/* What one operation's result said, copied out of the Response. */
typedef struct res {
  int code;
  uint64_t value;
  char msg[512];
  bool close_after, attach_fds;
} res;

static fixture *F; /* the builders' allocations are the current test's */

static void *keep(size_t n) {
  void *p = calloc(1, n);

  assert_non_null(p);
  assert_true(F->ngarbage < MAX_GARBAGE);
  F->garbage[F->ngarbage++] = p;
  return p;
}

/* ------------------------------------------------------------ builders */

static Op *op_new(Gcd__Wire__Op__OpCase kind) {
  Op *o = keep(sizeof *o);

  gcd__wire__op__init(o);
  o->op_case = kind;
  return o;
}

static Op *op_hello(uint32_t version, const char *name) {
  Op *o = op_new(GCD__WIRE__OP__OP_HELLO);

  o->hello = keep(sizeof *o->hello);
  gcd__wire__hello__init(o->hello);
  o->hello->protocol_version = version;
  o->hello->client_name = (char *)name;
  return o;
}

static Op *op_alloc(uint32_t nslots, uint64_t nbytes) {
  Op *o = op_new(GCD__WIRE__OP__OP_ALLOC);

  o->alloc = keep(sizeof *o->alloc);
  gcd__wire__alloc__init(o->alloc);
  o->alloc->nslots = nslots;
  o->alloc->nbytes = nbytes;
  o->alloc->type = 42;
  return o;
}

/* retain, release, refcount */
static Op *op_handle(Gcd__Wire__Op__OpCase kind, uint64_t h) {
  Op *o = op_new(kind);
  Gcd__Wire__HandleOp *m = keep(sizeof *m);

  gcd__wire__handle_op__init(m);
  m->handle = h;
  o->retain = m; /* one union member for the three */
  return o;
}

static Op *op_set_ref(uint64_t obj, uint32_t slot, uint64_t target) {
  Op *o = op_new(GCD__WIRE__OP__OP_SET_REF);

  o->set_ref = keep(sizeof *o->set_ref);
  gcd__wire__set_ref__init(o->set_ref);
  o->set_ref->object = obj;
  o->set_ref->slot = slot;
  o->set_ref->target = target;
  return o;
}

static Op *op_get_ref(uint64_t obj, uint32_t slot) {
  Op *o = op_new(GCD__WIRE__OP__OP_GET_REF);

  o->get_ref = keep(sizeof *o->get_ref);
  gcd__wire__get_ref__init(o->get_ref);
  o->get_ref->object = obj;
  o->get_ref->slot = slot;
  return o;
}

static Op *op_publish(const char *name, uint64_t h) {
  Op *o = op_new(GCD__WIRE__OP__OP_PUBLISH);

  o->publish = keep(sizeof *o->publish);
  gcd__wire__publish__init(o->publish);
  o->publish->name = (char *)name;
  o->publish->handle = h;
  return o;
}

/* lookup, unpublish */
static Op *op_name(Gcd__Wire__Op__OpCase kind, const char *name) {
  Op *o = op_new(kind);
  Gcd__Wire__NameOp *m = keep(sizeof *m);

  gcd__wire__name_op__init(m);
  m->name = (char *)name;
  o->lookup = m;
  return o;
}

/* info, verify */
static Op *op_empty(Gcd__Wire__Op__OpCase kind) {
  Op *o = op_new(kind);
  Gcd__Wire__Empty *m = keep(sizeof *m);

  gcd__wire__empty__init(m);
  o->info = m;
  return o;
}

/* ------------------------------------------------------------ running */

/* gcd_ops_handle()'s rc, through ops_drive(); its disagreements fail the
 * test. */
static int drive(gcd_session *s, int rc, const gcd_room *room, gcd_reply *rep) {
  const char *why;

  rc = ops_drive(&F->d, s, rc, room, rep, &why);
  if (why != NULL)
    fail_msg("%s", why);
  return rc;
}

/* Runs raw frame bytes and decodes the reply, checking its length prefix. */
static Gcd__Wire__Response *run_raw(gcd_session *s, const uint8_t *frame,
                                    size_t len, gcd_reply *rep) {
  static uint8_t space[48]; /* as the server's room: small replies go here */
  gcd_room room = {space, sizeof space};
  Gcd__Wire__Response *resp;
  uint32_t n;

  assert_int_equal(drive(s, gcd_ops_handle(&F->d, s, frame, len, &room, rep), &room, rep), 0);
  assert_non_null(rep->buf);
  assert_true(rep->in_room == (rep->buf == space));
  if (rep->in_room) /* frame-level failures never are: they close anyway */
    assert_true(rep->len <= sizeof space && !rep->attach_fds);
  assert_true(rep->len >= GCD_FRAME_HEADER);
  n = (uint32_t)rep->buf[0] << 24 | (uint32_t)rep->buf[1] << 16 |
      (uint32_t)rep->buf[2] << 8 | rep->buf[3];
  assert_int_equal(n, rep->len - GCD_FRAME_HEADER);
  resp = gcd__wire__response__unpack(NULL, n, rep->buf + GCD_FRAME_HEADER);
  assert_non_null(resp);
  if (!rep->in_room)
    free(rep->buf);
  rep->buf = NULL;
  return resp;
}

static Gcd__Wire__Response *run(gcd_session *s, Op **ops, size_t n, gcd_reply *rep) {
  Gcd__Wire__Request req = GCD__WIRE__REQUEST__INIT;
  Gcd__Wire__Response *resp;
  uint8_t *buf;
  size_t len;

  req.seq = 77;
  req.n_ops = n;
  req.ops = ops;
  len = gcd__wire__request__get_packed_size(&req);
  buf = malloc(len + 1);
  assert_non_null(buf);
  gcd__wire__request__pack(&req, buf);
  resp = run_raw(s, buf, len, rep);
  free(buf);
  assert_int_equal(resp->seq, 77);
  assert_int_equal(resp->code, 0);
  assert_int_equal(resp->n_results, n);
  return resp;
}

static res result_of(const Gcd__Wire__Result *r, const gcd_reply *rep) {
  res x = {.code = r->code, .value = r->value,
           .close_after = rep->close_after, .attach_fds = rep->attach_fds};

  snprintf(x.msg, sizeof x.msg, "%s", r->message != NULL ? r->message : "");
  return x;
}

/* One operation alone in a request. */
static res run1(gcd_session *s, Op *op) {
  gcd_reply rep;
  Gcd__Wire__Response *resp = run(s, &op, 1, &rep);
  res x = result_of(resp->results[0], &rep);

  gcd__wire__response__free_unpacked(resp, NULL);
  return x;
}

static uint64_t alloc_ok(gcd_session *s, uint32_t nslots, uint64_t nbytes) {
  res x = run1(s, op_alloc(nslots, nbytes));

  assert_int_equal(x.code, 0);
  assert_int_not_equal(x.value, 0);
  return x.value;
}

static uint64_t refcount_of(gcd_session *s, uint64_t h) {
  res x = run1(s, op_handle(GCD__WIRE__OP__OP_REFCOUNT, h));

  assert_int_equal(x.code, 0);
  return x.value;
}

static uint64_t live_objects(void) {
  gcd_heap_stats st;

  gcd_heap_stats_get(&F->d.heap, &st);
  return st.objects;
}

/* The message names the value at fault: as hex for handles. */
static void assert_mentions_handle(const char *msg, uint64_t h) {
  char hex[32];

  snprintf(hex, sizeof hex, "0x%016" PRIx64, h);
  if (strstr(msg, hex) == NULL)
    fail_msg("message \"%s\" does not name handle %s", msg, hex);
}

static void assert_mentions(const char *msg, const char *what) {
  if (strstr(msg, what) == NULL)
    fail_msg("message \"%s\" does not mention \"%s\"", msg, what);
}

/* ------------------------------------------------------------ fixture */

static void session_hello(gcd_session *s, uid_t uid, const char *name) {
  res x;

  gcd_session_open(&F->d, s, getpid(), uid, getgid());
  x = run1(s, op_hello(GCD_PROTOCOL_VERSION, name));
  assert_int_equal(x.code, 0);
}

static int setup(void **state) {
  gcd_heap_config hc = {.data_size = 1 << 20};

  if ((F = calloc(1, sizeof *F)) == NULL)
    return -1;
  F->d.cfg.max_frame = 4 << 20;
  gcd_session_daemon_init(&F->d);
  if (gcd_heap_init(&F->d.heap, &hc) != 0 || gcd_gc_init(&F->d.gc, &F->d.heap) != 0 ||
      gcd_gcthread_init(&F->d.gct, &F->d.gc) != 0)
    return -1;
  gcd_names_init(&F->d.names);
  session_hello(&F->a, F->d.euid, "admin");
  session_hello(&F->b, F->d.euid + 1000, "other");
  F->a_open = F->b_open = true;
  *state = F;
  return 0;
}

/* Everything the sessions and names held goes back; a test that left an
 * object alive otherwise fails here. */
static int teardown(void **state) {
  uint64_t left;

  if (F->a_open)
    gcd_session_close(&F->d, &F->a);
  if (F->b_open)
    gcd_session_close(&F->d, &F->b);
  gcd_names_destroy(&F->d.names, &F->d.heap);
  left = live_objects();
  gcd_gcthread_destroy(&F->d.gct);
  gcd_gc_destroy(&F->d.gc);
  gcd_heap_destroy(&F->d.heap);
  for (size_t i = 0; i < F->ngarbage; i++)
    free(F->garbage[i]);
  free(F);
  return left == 0 ? 0 : -1;
}

/* ----------------------------------------------------------- handshake */

static void test_ops_hello_replies_sizes_and_asks_for_fds(void **state) {
  gcd_session c;
  gcd_reply rep;
  Op *op = op_hello(GCD_PROTOCOL_VERSION, "tester");
  Gcd__Wire__Response *resp;
  const Gcd__Wire__HelloReply *h;

  gcd_session_open(&F->d, &c, 1234, F->d.euid, 0);
  resp = run(&c, &op, 1, &rep);
  assert_int_equal(resp->results[0]->code, 0);
  h = resp->results[0]->hello;
  assert_non_null(h);
  assert_int_equal(h->protocol_version, GCD_PROTOCOL_VERSION);
  assert_int_equal(h->meta_size, F->d.heap.meta.size);
  assert_int_equal(h->data_size, F->d.heap.data.size);
  assert_int_equal(h->client_id, c.id);
  assert_int_equal(h->daemon_pid, (uint32_t)getpid());
  assert_int_equal(h->max_frame, 4 << 20);
  assert_true(rep.attach_fds);
  assert_false(rep.close_after);
  assert_true(c.hello_done);
  assert_string_equal(c.name, "tester");
  gcd__wire__response__free_unpacked(resp, NULL);
  gcd_session_close(&F->d, &c);
}

static void test_ops_before_hello_each_op_is_eproto(void **state) {
  gcd_session c;
  gcd_reply rep;
  Op *ops[2] = {op_alloc(1, 1), op_empty(GCD__WIRE__OP__OP_INFO)};
  Gcd__Wire__Response *resp;

  gcd_session_open(&F->d, &c, 1, F->d.euid, 0);
  resp = run(&c, ops, 2, &rep);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(resp->results[i]->code, GC_EPROTO);
    assert_mentions(resp->results[i]->message, "say hello first");
  }
  assert_false(rep.close_after); /* the connection may still say hello */
  assert_false(rep.attach_fds);
  assert_int_equal(live_objects(), 0);
  gcd__wire__response__free_unpacked(resp, NULL);
  assert_int_equal(run1(&c, op_hello(GCD_PROTOCOL_VERSION, "late")).code, 0);
  gcd_session_close(&F->d, &c);
}

static void test_ops_hello_not_alone_is_eproto(void **state) {
  gcd_session c;
  gcd_reply rep;
  Op *ops[2] = {op_hello(GCD_PROTOCOL_VERSION, "x"), op_empty(GCD__WIRE__OP__OP_INFO)};
  Gcd__Wire__Response *resp;

  gcd_session_open(&F->d, &c, 1, F->d.euid, 0);
  resp = run(&c, ops, 2, &rep);
  assert_int_equal(resp->results[0]->code, GC_EPROTO);
  assert_mentions(resp->results[0]->message, "only operation");
  assert_int_equal(resp->results[1]->code, GC_EPROTO);
  assert_false(c.hello_done);
  assert_false(rep.attach_fds);
  gcd__wire__response__free_unpacked(resp, NULL);
  gcd_session_close(&F->d, &c);
}

static void test_ops_hello_twice_is_eproto(void **state) {
  res x = run1(&F->a, op_hello(GCD_PROTOCOL_VERSION, "again"));

  assert_int_equal(x.code, GC_EPROTO);
  assert_mentions(x.msg, "hello again");
  assert_false(x.attach_fds);
  assert_false(x.close_after);
}

static void test_ops_version_mismatch_closes(void **state) {
  gcd_session c;
  res x;

  gcd_session_open(&F->d, &c, 1, F->d.euid, 0);
  x = run1(&c, op_hello(7, "future"));
  assert_int_equal(x.code, GC_EVERSION);
  assert_string_equal(x.msg, "client speaks protocol 7, daemon speaks 2");
  assert_true(x.close_after);
  assert_false(x.attach_fds);
  assert_false(c.hello_done);
  gcd_session_close(&F->d, &c);
}

static void test_ops_malformed_frame_is_eframe_and_closes(void **state) {
  const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
  gcd_reply rep;
  Gcd__Wire__Response *resp = run_raw(&F->a, junk, sizeof junk, &rep);

  assert_int_equal(resp->code, GC_EFRAME);
  assert_string_equal(resp->message, "frame is not a valid gcd.wire.Request");
  assert_int_equal(resp->n_results, 0);
  assert_true(rep.close_after);
  gcd__wire__response__free_unpacked(resp, NULL);
}

static void test_ops_frame_error_encodes_code_and_message(void **state) {
  gcd_reply rep;
  Gcd__Wire__Response *resp;

  assert_int_equal(gcd_ops_frame_error(&F->d, GC_EFRAMESIZE, "too big", &rep), 0);
  assert_true(rep.close_after);
  resp = gcd__wire__response__unpack(NULL, rep.len - 4, rep.buf + 4);
  assert_non_null(resp);
  assert_int_equal(resp->code, GC_EFRAMESIZE);
  assert_string_equal(resp->message, "too big");
  gcd__wire__response__free_unpacked(resp, NULL);
  free(rep.buf);
  assert_int_equal(F->d.err_count[-GC_EFRAMESIZE], 1);
}

/* --------------------------------------------------------- operations */

static void test_ops_alloc_errors(void **state) {
  res x = run1(&F->a, op_alloc(0, 0));
  char big[32];

  assert_int_equal(x.code, GC_EINVAL);
  assert_mentions(x.msg, "0 slots and 0 bytes");
  x = run1(&F->a, op_alloc(0, UINT64_C(1) << 40));
  assert_int_equal(x.code, GC_ETOOBIG);
  snprintf(big, sizeof big, "%" PRIu64 " bytes", UINT64_C(1) << 40);
  assert_mentions(x.msg, big);
  x = run1(&F->a, op_alloc(GC_SLOTS_MAX + 1, 0));
  assert_int_equal(x.code, GC_ETOOBIG);
  assert_mentions(x.msg, "16777217 slots");
}

static void test_ops_heap_full_is_enomem_with_figures(void **state) {
  uint64_t h = alloc_ok(&F->a, 0, 600 << 10);
  res x = run1(&F->a, op_alloc(0, 600 << 10));

  assert_int_equal(x.code, GC_ENOMEM);
  assert_mentions(x.msg, "heap full");
  assert_mentions(x.msg, "614400 bytes");
  assert_mentions(x.msg, "of 1048576 payload bytes");
  assert_mentions(x.msg, "raise --heap-size");
  assert_int_equal(run1(&F->a, op_handle(GCD__WIRE__OP__OP_RELEASE, h)).code, 0);
  assert_int_equal(alloc_ok(&F->a, 0, 600 << 10) != 0, 1); /* room again */
}

static void test_ops_alloc_records_a_hold(void **state) {
  uint64_t h = alloc_ok(&F->a, 2, 64);

  assert_int_equal(gcd_holds_count(&F->a.holds, h), 1);
  assert_int_equal(refcount_of(&F->a, h), 1);
}

static void test_ops_retain_release_balance(void **state) {
  uint64_t h = alloc_ok(&F->a, 0, 8);

  assert_int_equal(run1(&F->b, op_handle(GCD__WIRE__OP__OP_RETAIN, h)).code, 0);
  assert_int_equal(refcount_of(&F->a, h), 2);
  assert_int_equal(gcd_holds_count(&F->b.holds, h), 1);
  assert_int_equal(run1(&F->a, op_handle(GCD__WIRE__OP__OP_RELEASE, h)).code, 0);
  assert_int_equal(refcount_of(&F->b, h), 1);
  assert_int_equal(run1(&F->b, op_handle(GCD__WIRE__OP__OP_RELEASE, h)).code, 0);
  assert_int_equal(live_objects(), 0);
}

/* The reply to one refcount of h, written to room (NULL: none); *rep as
 * gcd_ops_handle() left it. */
static void refcount_into(uint64_t h, const gcd_room *room, gcd_reply *rep) {
  Gcd__Wire__Request req = GCD__WIRE__REQUEST__INIT;
  Op *op = op_handle(GCD__WIRE__OP__OP_REFCOUNT, h);
  uint8_t buf[64];
  size_t len;

  req.seq = 5;
  req.n_ops = 1;
  req.ops = &op;
  len = gcd__wire__request__pack(&req, buf);
  assert_int_equal(drive(&F->a, gcd_ops_handle(&F->d, &F->a, buf, len, room, rep), room, rep),
                   0);
  assert_non_null(rep->buf);
}

/* A reply that fits the caller's room is written there, and only then; it
 * is the same bytes either way. */
static void test_ops_reply_in_room_when_it_fits(void **state) {
  uint64_t h = alloc_ok(&F->a, 0, 8);
  uint8_t space[64], first[64];
  gcd_room room = {space, sizeof space};
  gcd_reply rep;
  size_t len;

  refcount_into(h, &room, &rep);
  assert_true(rep.in_room);
  assert_ptr_equal(rep.buf, space);
  len = rep.len;
  memcpy(first, space, len);
  room.len = len; /* exactly enough */
  refcount_into(h, &room, &rep);
  assert_true(rep.in_room);
  assert_memory_equal(space, first, len);
  room.len = len - 1;
  refcount_into(h, &room, &rep);
  assert_false(rep.in_room);
  assert_int_equal(rep.len, len);
  assert_memory_equal(rep.buf, first, len);
  free(rep.buf);
  refcount_into(h, NULL, &rep);
  assert_false(rep.in_room);
  assert_memory_equal(rep.buf, first, len);
  free(rep.buf);
}

/* A client cannot release another client's retain. */
static void test_ops_release_not_held_is_enotheld(void **state) {
  uint64_t h = alloc_ok(&F->a, 0, 8);
  res x = run1(&F->b, op_handle(GCD__WIRE__OP__OP_RELEASE, h));

  assert_int_equal(x.code, GC_ENOTHELD);
  assert_mentions_handle(x.msg, h);
  assert_mentions(x.msg, "is not held by this client");
  assert_int_equal(refcount_of(&F->a, h), 1);
}

static void test_ops_stale_and_unknown_handles(void **state) {
  uint64_t h = alloc_ok(&F->a, 0, 8), forged = gcd_handle_make(999, 5);
  res x;

  assert_int_equal(run1(&F->a, op_handle(GCD__WIRE__OP__OP_RELEASE, h)).code, 0);
  x = run1(&F->a, op_handle(GCD__WIRE__OP__OP_RETAIN, h));
  assert_int_equal(x.code, GC_ESTALE);
  assert_mentions_handle(x.msg, h);
  assert_mentions(x.msg, "is stale: the object was freed");
  x = run1(&F->a, op_handle(GCD__WIRE__OP__OP_REFCOUNT, forged));
  assert_int_equal(x.code, GC_EBADHANDLE);
  assert_mentions_handle(x.msg, forged);
  x = run1(&F->a, op_handle(GCD__WIRE__OP__OP_RELEASE, 0));
  assert_int_equal(x.code, GC_EBADHANDLE);
  assert_mentions(x.msg, "null handle");
  x = run1(&F->a, op_handle(GCD__WIRE__OP__OP_RELEASE, h));
  assert_int_equal(x.code, GC_ESTALE); /* stale beats not-held */
}

static void test_ops_set_ref_and_get_ref(void **state) {
  uint64_t obj = alloc_ok(&F->a, 4, 0), t = alloc_ok(&F->a, 0, 8);
  res x;

  assert_int_equal(run1(&F->a, op_set_ref(obj, 3, t)).code, 0);
  assert_int_equal(refcount_of(&F->a, t), 2);
  x = run1(&F->a, op_get_ref(obj, 3));
  assert_int_equal(x.code, 0);
  assert_int_equal(x.value, t);
  assert_int_equal(run1(&F->a, op_set_ref(obj, 3, 0)).code, 0);
  assert_int_equal(refcount_of(&F->a, t), 1);
  assert_int_equal(run1(&F->a, op_get_ref(obj, 3)).value, 0);
}

static void test_ops_slot_out_of_range_is_erange(void **state) {
  uint64_t obj = alloc_ok(&F->a, 4, 0), t = alloc_ok(&F->a, 0, 8);
  res x = run1(&F->a, op_set_ref(obj, 7, t));

  assert_int_equal(x.code, GC_ERANGE);
  assert_mentions(x.msg, "slot 7 out of range");
  assert_mentions(x.msg, "has 4 slots");
  assert_mentions_handle(x.msg, obj);
  x = run1(&F->a, op_get_ref(obj, 4));
  assert_int_equal(x.code, GC_ERANGE);
  assert_mentions(x.msg, "slot 4 out of range");
  assert_int_equal(refcount_of(&F->a, t), 1);
}

static void test_ops_set_ref_names_the_bad_operand(void **state) {
  uint64_t obj = alloc_ok(&F->a, 1, 0), t = alloc_ok(&F->a, 0, 8);
  res x;

  assert_int_equal(run1(&F->a, op_handle(GCD__WIRE__OP__OP_RELEASE, t)).code, 0);
  x = run1(&F->a, op_set_ref(obj, 0, t));
  assert_int_equal(x.code, GC_ESTALE);
  assert_mentions(x.msg, "target");
  assert_mentions_handle(x.msg, t);
  x = run1(&F->a, op_set_ref(t, 0, obj));
  assert_int_equal(x.code, GC_ESTALE);
  assert_mentions(x.msg, "object");
}

static void test_ops_names(void **state) {
  uint64_t h = alloc_ok(&F->a, 0, 8);
  char toolong[GC_NAME_MAX + 2];
  res x;

  memset(toolong, 'z', sizeof toolong - 1);
  toolong[sizeof toolong - 1] = '\0';
  assert_int_equal(run1(&F->a, op_publish("graph", h)).code, 0);
  x = run1(&F->a, op_publish("graph", h));
  assert_int_equal(x.code, GC_EEXIST);
  assert_mentions(x.msg, "\"graph\"");
  assert_mentions_handle(x.msg, h);
  x = run1(&F->a, op_publish(toolong, h));
  assert_int_equal(x.code, GC_ENAME);
  assert_mentions(x.msg, "256 bytes");
  assert_int_equal(run1(&F->a, op_publish("", h)).code, GC_ENAME);
  x = run1(&F->b, op_name(GCD__WIRE__OP__OP_LOOKUP, "graph"));
  assert_int_equal(x.code, 0);
  assert_int_equal(x.value, h);
  assert_int_equal(gcd_holds_count(&F->b.holds, h), 1); /* lookup retains */
  assert_int_equal(refcount_of(&F->a, h), 3);
  x = run1(&F->b, op_name(GCD__WIRE__OP__OP_LOOKUP, "graff"));
  assert_int_equal(x.code, GC_ENOENT);
  assert_mentions(x.msg, "\"graff\"");
  assert_int_equal(run1(&F->a, op_name(GCD__WIRE__OP__OP_UNPUBLISH, "graph")).code, 0);
  x = run1(&F->a, op_name(GCD__WIRE__OP__OP_UNPUBLISH, "graph"));
  assert_int_equal(x.code, GC_ENOENT);
  assert_int_equal(refcount_of(&F->a, h), 2);
  x = run1(&F->a, op_publish("bad\x01name", 0));
  assert_int_equal(x.code, GC_EBADHANDLE);
}

/* A stale handle in a published name, and a name with unprintable bytes,
 * are quoted readably in messages. */
static void test_ops_name_messages_escape_bytes(void **state) {
  res x = run1(&F->a, op_name(GCD__WIRE__OP__OP_LOOKUP, "tab\there"));

  assert_int_equal(x.code, GC_ENOENT);
  assert_mentions(x.msg, "\"tab\\x09here\"");
}

static void test_ops_info_counts_clients(void **state) {
  gcd_reply rep;
  Op *op = op_empty(GCD__WIRE__OP__OP_INFO);
  Gcd__Wire__Response *resp;

  alloc_ok(&F->a, 1, 100);
  resp = run(&F->a, &op, 1, &rep);
  assert_non_null(resp->results[0]->info);
  assert_int_equal(resp->results[0]->info->clients, 2);
  assert_int_equal(resp->results[0]->info->objects, 1);
  assert_int_equal(resp->results[0]->info->bytes_total, F->d.heap.data.size);
  assert_true(resp->results[0]->info->bytes_used >= 100);
  gcd__wire__response__free_unpacked(resp, NULL);
}

static void test_ops_unknown_and_empty_ops_are_enosys(void **state) {
  /* Request{seq=1, ops=[Op{field 63 = 1}, Op{}]} */
  const uint8_t raw[] = {0x08, 0x01, 0x12, 0x03, 0xf8, 0x03, 0x01, 0x12, 0x00};
  gcd_reply rep;
  Gcd__Wire__Response *resp = run_raw(&F->a, raw, sizeof raw, &rep);

  assert_int_equal(resp->n_results, 2);
  assert_int_equal(resp->results[0]->code, GC_ENOSYS);
  assert_mentions(resp->results[0]->message, "operation 63");
  assert_int_equal(resp->results[1]->code, GC_ENOSYS);
  assert_mentions(resp->results[1]->message, "empty operation");
  assert_false(rep.close_after);
  gcd__wire__response__free_unpacked(resp, NULL);
}

/* One failing operation does not stop the others; results keep order. */
static void test_ops_batch_failures_are_per_op(void **state) {
  gcd_reply rep;
  Op *ops[4] = {op_handle(GCD__WIRE__OP__OP_RELEASE, gcd_handle_make(3, 3)),
                op_alloc(0, 16), op_alloc(0, 0), op_alloc(1, 0)};
  Gcd__Wire__Response *resp = run(&F->a, ops, 4, &rep);

  assert_int_equal(resp->results[0]->code, GC_EBADHANDLE);
  assert_int_equal(resp->results[1]->code, 0);
  assert_int_equal(resp->results[2]->code, GC_EINVAL);
  assert_int_equal(resp->results[3]->code, 0);
  assert_int_not_equal(resp->results[1]->value, resp->results[3]->value);
  assert_int_equal(gcd_holds_size(&F->a.holds), 2);
  gcd__wire__response__free_unpacked(resp, NULL);
}

static void test_ops_large_batch(void **state) {
  enum { N = 5000 };
  Op **ops = keep(2 * N * sizeof *ops);
  gcd_reply rep;
  Gcd__Wire__Response *resp;

  for (int i = 0; i < N; i++)
    ops[i] = op_alloc(0, 8);
  resp = run(&F->a, ops, N, &rep);
  for (int i = 0; i < N; i++) {
    assert_int_equal(resp->results[i]->code, 0);
    ops[N + i] = op_handle(GCD__WIRE__OP__OP_RELEASE, resp->results[i]->value);
  }
  assert_int_equal(live_objects(), N);
  gcd__wire__response__free_unpacked(resp, NULL);
  resp = run(&F->a, ops + N, N, &rep);
  for (int i = 0; i < N; i++)
    assert_int_equal(resp->results[i]->code, 0);
  assert_int_equal(live_objects(), 0);
  gcd__wire__response__free_unpacked(resp, NULL);
}

/* A quiet request's reply, or NULL when it went unanswered. */
static Gcd__Wire__Response *run_quiet(gcd_session *s, Op *op) {
  Gcd__Wire__Request req = GCD__WIRE__REQUEST__INIT;
  Gcd__Wire__Response *resp = NULL;
  gcd_reply rep;
  uint8_t buf[256];
  size_t len;

  req.seq = 99;
  req.n_ops = 1;
  req.ops = &op;
  req.quiet = 1;
  len = gcd__wire__request__pack(&req, buf);
  assert_int_equal(drive(s, gcd_ops_handle(&F->d, s, buf, len, NULL, &rep), NULL, &rep), 0);
  assert_false(rep.in_room);
  if (rep.buf == NULL)
    return NULL;
  resp = gcd__wire__response__unpack(NULL, rep.len - GCD_FRAME_HEADER,
                                     rep.buf + GCD_FRAME_HEADER);
  free(rep.buf);
  assert_non_null(resp);
  assert_int_equal(resp->seq, 99);
  return resp;
}

/* Quiet requests run unanswered; a failure is answered once, named by its
 * operation, until an ordinary answer; before the hello quiet is ignored. */
static void test_ops_quiet_answers_first_failure_only(void **state) {
  uint64_t h = alloc_ok(&F->a, 0, 8);
  Gcd__Wire__Response *resp;
  gcd_session c;

  assert_null(run_quiet(&F->a, op_handle(GCD__WIRE__OP__OP_RETAIN, h)));
  assert_int_equal(refcount_of(&F->a, h), 2);
  assert_null(run_quiet(&F->a, op_handle(GCD__WIRE__OP__OP_RELEASE, h)));
  assert_null(run_quiet(&F->a, op_handle(GCD__WIRE__OP__OP_RELEASE, h)));
  assert_int_equal(live_objects(), 0);
  resp = run_quiet(&F->a, op_handle(GCD__WIRE__OP__OP_RELEASE, h));
  assert_non_null(resp);
  assert_true(resp->quiet);
  assert_int_equal(resp->results[0]->code, GC_ESTALE);
  assert_true(strncmp(resp->results[0]->message, "release: handle 0x", 18) == 0);
  gcd__wire__response__free_unpacked(resp, NULL);
  assert_null(run_quiet(&F->a, op_handle(GCD__WIRE__OP__OP_RETAIN, h))); /* not again */
  assert_int_equal(F->a.errors, 2);
  assert_int_equal(run1(&F->a, op_empty(GCD__WIRE__OP__OP_INFO)).code, 0);
  resp = run_quiet(&F->a, op_handle(GCD__WIRE__OP__OP_RETAIN, h)); /* answered again */
  assert_non_null(resp);
  assert_true(strncmp(resp->results[0]->message, "retain: ", 8) == 0);
  gcd__wire__response__free_unpacked(resp, NULL);
  gcd_session_open(&F->d, &c, 1234, F->d.euid, 0);
  resp = run_quiet(&c, op_handle(GCD__WIRE__OP__OP_RETAIN, h)); /* before hello */
  assert_non_null(resp);
  assert_false(resp->quiet);
  assert_int_equal(resp->results[0]->code, GC_EPROTO);
  gcd__wire__response__free_unpacked(resp, NULL);
  gcd_session_close(&F->d, &c);
}

static void test_ops_counters(void **state) {
  uint64_t allocs = F->d.op_count[GCD__WIRE__OP__OP_ALLOC];
  uint64_t notheld = F->d.err_count[-GC_ENOTHELD];
  uint64_t h = alloc_ok(&F->a, 0, 8);

  run1(&F->b, op_handle(GCD__WIRE__OP__OP_RELEASE, h));
  assert_int_equal(F->d.op_count[GCD__WIRE__OP__OP_ALLOC], allocs + 1);
  assert_int_equal(F->d.err_count[-GC_ENOTHELD], notheld + 1);
  assert_int_equal(F->b.errors, 1);
  assert_string_equal(gcd_ops_name(GCD__WIRE__OP__OP_SET_REF), "set_ref");
}

/* ------------------------------------------------------------- verify */

static void test_ops_verify_admin_counts_holds_and_names(void **state) {
  uint64_t x = alloc_ok(&F->a, 1, 8), y = alloc_ok(&F->a, 0, 8);
  uint32_t i;
  res r;

  assert_int_equal(run1(&F->a, op_set_ref(x, 0, y)).code, 0);
  assert_int_equal(run1(&F->b, op_handle(GCD__WIRE__OP__OP_RETAIN, y)).code, 0);
  assert_int_equal(run1(&F->a, op_publish("x", x)).code, 0);
  r = run1(&F->a, op_empty(GCD__WIRE__OP__OP_VERIFY));
  assert_int_equal(r.code, 0);
  /* A reference nobody accounts for is found. */
  assert_int_equal(gcd_heap_resolve(&F->d.heap, y, &i), 0);
  gcd_heap_incref(&F->d.heap, i);
  r = run1(&F->a, op_empty(GCD__WIRE__OP__OP_VERIFY));
  assert_int_equal(r.code, GC_ECORRUPT);
  assert_mentions(r.msg, "heap verification failed");
  gcd_heap_decref(&F->d.heap, i);
}

static void test_ops_verify_non_admin_is_eperm(void **state) {
  res r = run1(&F->b, op_empty(GCD__WIRE__OP__OP_VERIFY));
  char uid[32];

  assert_int_equal(r.code, GC_EPERM);
  snprintf(uid, sizeof uid, "uid %u", (unsigned)F->b.uid);
  assert_mentions(r.msg, uid);
}

/* ------------------------------------------------------ session close */

/* Closing a session frees what only it held, graphs included, and keeps
 * what another client holds. */
static void test_ops_session_close_releases_holds(void **state) {
  uint64_t x = alloc_ok(&F->a, 1, 8), y = alloc_ok(&F->a, 0, 8);
  uint64_t z = alloc_ok(&F->a, 0, 8);
  uint32_t i;

  assert_int_equal(run1(&F->a, op_set_ref(x, 0, y)).code, 0);
  assert_int_equal(run1(&F->a, op_handle(GCD__WIRE__OP__OP_RELEASE, y)).code, 0);
  assert_int_equal(run1(&F->a, op_handle(GCD__WIRE__OP__OP_RETAIN, x)).code, 0);
  assert_int_equal(run1(&F->b, op_handle(GCD__WIRE__OP__OP_RETAIN, z)).code, 0);
  assert_int_equal(live_objects(), 3);
  assert_int_equal(gcd_session_close(&F->d, &F->a), 3); /* x twice, z once */
  F->a_open = false;
  assert_int_equal(gcd_heap_resolve(&F->d.heap, x, &i), GC_ESTALE);
  assert_int_equal(gcd_heap_resolve(&F->d.heap, y, &i), GC_ESTALE);
  assert_int_equal(gcd_heap_resolve(&F->d.heap, z, &i), 0);
  assert_int_equal(refcount_of(&F->b, z), 1);
  assert_int_equal(F->d.nsessions, 1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* ------------------------------------------------------- the collector */

static Op *op_collect(int gen) {
  Op *o = op_new(GCD__WIRE__OP__OP_COLLECT);

  o->collect = keep(sizeof *o->collect);
  gcd__wire__collect__init(o->collect);
  o->collect->generation = gen;
  return o;
}

static Op *op_list(Gcd__Wire__Op__OpCase kind, uint64_t h, uint64_t limit) {
  Op *o = op_new(kind);
  Gcd__Wire__ListOp *m = keep(sizeof *m);

  gcd__wire__list_op__init(m);
  m->handle = h;
  m->limit = limit;
  o->garbage = m; /* one union member for the three */
  return o;
}

static Op *op_threshold(uint64_t t0, uint64_t t1, uint64_t t2) {
  Op *o = op_new(GCD__WIRE__OP__OP_SET_THRESHOLD);

  o->set_threshold = keep(sizeof *o->set_threshold);
  gcd__wire__thresholds__init(o->set_threshold);
  o->set_threshold->threshold0 = t0;
  o->set_threshold->threshold1 = t1;
  o->set_threshold->threshold2 = t2;
  return o;
}

static Op *op_debug(uint32_t flags) {
  Op *o = op_new(GCD__WIRE__OP__OP_SET_DEBUG);

  o->set_debug = keep(sizeof *o->set_debug);
  gcd__wire__set_debug__init(o->set_debug);
  o->set_debug->flags = flags;
  return o;
}

/* A two-object cycle the session no longer holds. */
static void drop_cycle(gcd_session *s, uint64_t *a, uint64_t *b) {
  *a = alloc_ok(s, 1, 0);
  *b = alloc_ok(s, 1, 0);
  assert_int_equal(run1(s, op_set_ref(*a, 0, *b)).code, 0);
  assert_int_equal(run1(s, op_set_ref(*b, 0, *a)).code, 0);
  assert_int_equal(run1(s, op_handle(GCD__WIRE__OP__OP_RELEASE, *a)).code, 0);
  assert_int_equal(run1(s, op_handle(GCD__WIRE__OP__OP_RELEASE, *b)).code, 0);
}

static void test_ops_collect_finds_a_dropped_cycle(void **state) {
  uint64_t a, b, kept = alloc_ok(&F->a, 1, 0);
  gcd_reply rep;
  Op *op = op_collect(-1);
  Gcd__Wire__Response *resp;

  assert_int_equal(run1(&F->a, op_set_ref(kept, 0, kept)).code, 0);
  drop_cycle(&F->a, &a, &b);
  assert_int_equal(live_objects(), 3);
  resp = run(&F->a, &op, 1, &rep);
  assert_int_equal(resp->results[0]->code, 0);
  assert_int_equal(resp->results[0]->value, 2);
  assert_non_null(resp->results[0]->collect);
  assert_int_equal(resp->results[0]->collect->generation, 2);
  assert_int_equal(resp->results[0]->collect->examined, 3);
  assert_int_equal(resp->results[0]->collect->freed, 2);
  gcd__wire__response__free_unpacked(resp, NULL);
  assert_int_equal(live_objects(), 1); /* the retained self-cycle survives */
  assert_int_equal(run1(&F->a, op_handle(GCD__WIRE__OP__OP_REFCOUNT, a)).code,
                   GC_ESTALE);
  assert_int_equal(run1(&F->a, op_empty(GCD__WIRE__OP__OP_VERIFY)).code, 0);
  assert_int_equal(run1(&F->a, op_set_ref(kept, 0, 0)).code, 0); /* for teardown */
}

static void test_ops_collect_checks_generation_and_admin(void **state) {
  res x = run1(&F->a, op_collect(3));

  assert_int_equal(x.code, GC_EINVAL);
  assert_mentions(x.msg, "generation 3");
  x = run1(&F->b, op_collect(0));
  assert_int_equal(x.code, GC_EPERM);
  assert_mentions(x.msg, "administrators");
  assert_int_equal(run1(&F->b, op_threshold(1, 1, 1)).code, GC_EPERM);
  assert_int_equal(run1(&F->b, op_debug(0)).code, GC_EPERM);
  assert_int_equal(run1(&F->b, op_empty(GCD__WIRE__OP__OP_FREEZE)).code, GC_EPERM);
  assert_int_equal(run1(&F->b, op_list(GCD__WIRE__OP__OP_GARBAGE, 0, 0)).code,
                   GC_EPERM);
}

/* The cycle is what fills the heap: the allocation collects, then fits. */
static void test_ops_heap_full_collects_first(void **state) {
  uint64_t a = alloc_ok(&F->a, 1, 300 << 10), b = alloc_ok(&F->a, 1, 300 << 10);

  assert_int_equal(run1(&F->a, op_set_ref(a, 0, b)).code, 0);
  assert_int_equal(run1(&F->a, op_set_ref(b, 0, a)).code, 0);
  assert_int_equal(run1(&F->a, op_handle(GCD__WIRE__OP__OP_RELEASE, a)).code, 0);
  assert_int_equal(run1(&F->a, op_handle(GCD__WIRE__OP__OP_RELEASE, b)).code, 0);
  alloc_ok(&F->a, 0, 600 << 10);
  assert_int_equal(F->d.gc.stats[2].collected, 2);
}

static void test_ops_thresholds_and_debug_validated(void **state) {
  gcd_reply rep;
  Op *op = op_empty(GCD__WIRE__OP__OP_GC_STATUS);
  Gcd__Wire__Response *resp;
  res x = run1(&F->a, op_threshold(1u << 31, 10, 10));

  assert_int_equal(x.code, GC_EINVAL);
  assert_mentions(x.msg, "too large");
  assert_int_equal(run1(&F->a, op_threshold(500, 5, 0)).code, 0);
  x = run1(&F->a, op_debug(0x1));
  assert_int_equal(x.code, GC_EINVAL);
  assert_mentions(x.msg, "save-all");
  assert_int_equal(run1(&F->a, op_debug(0x20)).code, 0);
  resp = run(&F->b, &op, 1, &rep); /* reading is for everyone */
  assert_non_null(resp->results[0]->gc);
  assert_int_equal(resp->results[0]->gc->n_generations, 3);
  assert_int_equal(resp->results[0]->gc->generations[0]->threshold, 500);
  assert_int_equal(resp->results[0]->gc->generations[1]->threshold, 5);
  assert_int_equal(resp->results[0]->gc->generations[2]->threshold, 0);
  assert_int_equal(resp->results[0]->gc->debug, 0x20);
  assert_true(resp->results[0]->gc->enabled);
  gcd__wire__response__free_unpacked(resp, NULL);
}

static void test_ops_saveall_garbage_listed_then_cleared(void **state) {
  uint64_t a, b;
  gcd_reply rep;
  Op *op = op_list(GCD__WIRE__OP__OP_GARBAGE, 0, 1);
  Gcd__Wire__Response *resp;

  assert_int_equal(run1(&F->a, op_debug(0x20)).code, 0);
  drop_cycle(&F->a, &a, &b);
  assert_int_equal(run1(&F->a, op_collect(2)).value, 2);
  assert_int_equal(live_objects(), 2);
  /* The list's references are counted like any other. */
  assert_int_equal(run1(&F->a, op_empty(GCD__WIRE__OP__OP_VERIFY)).code, 0);
  resp = run(&F->a, &op, 1, &rep);
  assert_int_equal(resp->results[0]->value, 2);  /* the list's length */
  assert_int_equal(resp->results[0]->n_handles, 1); /* the limit */
  assert_true(resp->results[0]->handles[0] == a || resp->results[0]->handles[0] == b);
  gcd__wire__response__free_unpacked(resp, NULL);
  assert_int_equal(run1(&F->a, op_debug(0)).code, 0);
  assert_int_equal(run1(&F->a, op_empty(GCD__WIRE__OP__OP_CLEAR_GARBAGE)).value, 2);
  assert_int_equal(live_objects(), 0);
}

static void test_ops_object_info_referents_referrers(void **state) {
  uint64_t a = alloc_ok(&F->a, 2, 16), b = alloc_ok(&F->a, 0, 8);
  gcd_reply rep;
  Op *ops[3] = {op_handle(GCD__WIRE__OP__OP_OBJECT_INFO, a),
                op_list(GCD__WIRE__OP__OP_REFERENTS, a, 0),
                op_list(GCD__WIRE__OP__OP_REFERRERS, b, 0)};
  Gcd__Wire__Response *resp;

  assert_int_equal(run1(&F->a, op_set_ref(a, 1, b)).code, 0);
  resp = run(&F->b, ops, 3, &rep);
  assert_int_equal(resp->results[0]->object->nslots, 2);
  assert_int_equal(resp->results[0]->object->nbytes, 16);
  assert_int_equal(resp->results[0]->object->refcount, 1);
  assert_true(resp->results[0]->object->tracked);
  assert_int_equal(resp->results[0]->object->generation, 0);
  assert_int_equal(resp->results[1]->n_handles, 1);
  assert_int_equal(resp->results[1]->handles[0], b);
  assert_int_equal(resp->results[2]->n_handles, 1);
  assert_int_equal(resp->results[2]->handles[0], a);
  gcd__wire__response__free_unpacked(resp, NULL);
  assert_int_equal(run1(&F->a, op_collect(0)).code, 0);
  ops[0] = op_handle(GCD__WIRE__OP__OP_OBJECT_INFO, a);
  ops[1] = op_handle(GCD__WIRE__OP__OP_OBJECT_INFO, b);
  resp = run(&F->a, ops, 2, &rep);
  assert_int_equal(resp->results[0]->object->generation, 1); /* promoted */
  assert_false(resp->results[1]->object->tracked);
  assert_int_equal(resp->results[1]->object->generation, -1);
  gcd__wire__response__free_unpacked(resp, NULL);
}

static void test_ops_freeze_hides_from_collections(void **state) {
  uint64_t a, b;

  drop_cycle(&F->a, &a, &b);
  assert_int_equal(run1(&F->a, op_empty(GCD__WIRE__OP__OP_FREEZE)).value, 2);
  assert_int_equal(run1(&F->a, op_collect(2)).value, 0);
  assert_int_equal(live_objects(), 2);
  assert_int_equal(run1(&F->a, op_empty(GCD__WIRE__OP__OP_UNFREEZE)).value, 2);
  assert_int_equal(run1(&F->a, op_collect(2)).value, 2);
  assert_int_equal(live_objects(), 0);
}

static void test_ops_clients_lists_sessions(void **state) {
  gcd_reply rep;
  Op *op = op_empty(GCD__WIRE__OP__OP_CLIENTS);
  Gcd__Wire__Response *resp;

  alloc_ok(&F->b, 0, 8);
  resp = run(&F->b, &op, 1, &rep);
  assert_int_equal(resp->results[0]->n_clients, 2);
  for (size_t i = 0; i < 2; i++) {
    const Gcd__Wire__ClientInfo *ci = resp->results[0]->clients[i];
    bool other = strcmp(ci->name, "other") == 0;
    assert_true(other || strcmp(ci->name, "admin") == 0);
    assert_int_equal(ci->held, other ? 1 : 0);
    assert_int_equal(ci->admin, !other);
    assert_int_equal(ci->pid, getpid());
  }
  gcd__wire__response__free_unpacked(resp, NULL);
}

/* A session that closes while its frame waits: the frame is dropped when
 * the collector hands it back, and nothing it held leaks. */
static void test_ops_session_closes_while_waiting(void **state) {
  Op *op = op_collect(2);
  Gcd__Wire__Request req = GCD__WIRE__REQUEST__INIT;
  uint8_t buf[64];
  gcd_reply rep;
  gcd_session *back;
  gcd_gcreq *r;

  alloc_ok(&F->b, 1, 8);
  op = op_collect(2);
  req.n_ops = 1;
  req.ops = &op;
  gcd__wire__request__pack(&req, buf);
  assert_int_equal(gcd_ops_handle(&F->d, &F->a, buf,
                                  gcd__wire__request__get_packed_size(&req), NULL, &rep),
                   GCD_OPS_DEFERRED);
  r = F->d.gct.queue;
  assert_non_null(r);
  gcd_ops_abandon(&F->a);
  gcd_session_close(&F->d, &F->a);
  F->a_open = false;
  F->d.gct.queue = F->d.gct.queue_tail = NULL;
  pthread_mutex_lock(&F->d.gct.lock);
  gcd_gcthread_run(&F->d.gct, r);
  pthread_mutex_unlock(&F->d.gct.lock);
  assert_int_equal(gcd_ops_resume(&F->d, r, NULL, &back, &rep), 0);
  assert_null(back);
  assert_null(rep.buf);
}

int main(void) {
  gcd_log_set_level(GCD_LOG_ERROR); /* the handlers' info lines are noise here */
  const struct CMUnitTest tests[] = {
      T(test_ops_hello_replies_sizes_and_asks_for_fds),
      T(test_ops_before_hello_each_op_is_eproto),
      T(test_ops_hello_not_alone_is_eproto),
      T(test_ops_hello_twice_is_eproto),
      T(test_ops_version_mismatch_closes),
      T(test_ops_malformed_frame_is_eframe_and_closes),
      T(test_ops_frame_error_encodes_code_and_message),
      T(test_ops_alloc_errors),
      T(test_ops_heap_full_is_enomem_with_figures),
      T(test_ops_alloc_records_a_hold),
      T(test_ops_retain_release_balance),
      T(test_ops_reply_in_room_when_it_fits),
      T(test_ops_release_not_held_is_enotheld),
      T(test_ops_stale_and_unknown_handles),
      T(test_ops_set_ref_and_get_ref),
      T(test_ops_slot_out_of_range_is_erange),
      T(test_ops_set_ref_names_the_bad_operand),
      T(test_ops_names),
      T(test_ops_name_messages_escape_bytes),
      T(test_ops_info_counts_clients),
      T(test_ops_unknown_and_empty_ops_are_enosys),
      T(test_ops_batch_failures_are_per_op),
      T(test_ops_large_batch),
      T(test_ops_quiet_answers_first_failure_only),
      T(test_ops_counters),
      T(test_ops_verify_admin_counts_holds_and_names),
      T(test_ops_verify_non_admin_is_eperm),
      T(test_ops_session_close_releases_holds),
      T(test_ops_collect_finds_a_dropped_cycle),
      T(test_ops_collect_checks_generation_and_admin),
      T(test_ops_heap_full_collects_first),
      T(test_ops_thresholds_and_debug_validated),
      T(test_ops_saveall_garbage_listed_then_cleared),
      T(test_ops_object_info_referents_referrers),
      T(test_ops_freeze_hides_from_collections),
      T(test_ops_clients_lists_sessions),
      T(test_ops_session_closes_while_waiting),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
