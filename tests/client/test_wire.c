/*
 * test_wire.c -- the client's own encoding of gathered async ops
 * (gc__wire_encode_ops) and its reading of plain answers in place
 * (gc__wire_plain_check) against protobuf-c: the same Request must come
 * out as the same bytes, for every kind of op and for values at every
 * varint length, zero included (which proto3 leaves out); an answer read
 * in place must read as protobuf-c reads it, and one that is not plain
 * must be left to protobuf-c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testrand.h"

#include "gcd.pb-c.h"
#include "internal.h"

enum { MAX_OPS = 64 };

/* protobuf-c's side: the Request as its structs, packed. */
typedef struct pb_op {
  Gcd__Wire__Op op;
  Gcd__Wire__Alloc alloc;
  Gcd__Wire__HandleOp handle;
  Gcd__Wire__SetRef set_ref;
  Gcd__Wire__GetRef get_ref;
} pb_op;

static void to_pb(pb_op *w, const gc__op *op) {
  w->op = (Gcd__Wire__Op)GCD__WIRE__OP__INIT;
  w->op.op_case = (Gcd__Wire__Op__OpCase)op->kind;
  switch (op->kind) {
  case GC__OP_ALLOC:
    w->alloc = (Gcd__Wire__Alloc)GCD__WIRE__ALLOC__INIT;
    w->alloc.nslots = op->u32;
    w->alloc.nbytes = op->u64b;
    w->alloc.type = op->type;
    w->op.alloc = &w->alloc;
    break;
  case GC__OP_SET_REF:
    w->set_ref = (Gcd__Wire__SetRef)GCD__WIRE__SET_REF__INIT;
    w->set_ref.object = op->u64a;
    w->set_ref.slot = op->u32;
    w->set_ref.target = op->u64b;
    w->op.set_ref = &w->set_ref;
    break;
  case GC__OP_GET_REF:
    w->get_ref = (Gcd__Wire__GetRef)GCD__WIRE__GET_REF__INIT;
    w->get_ref.object = op->u64a;
    w->get_ref.slot = op->u32;
    w->op.get_ref = &w->get_ref;
    break;
  default:
    w->handle = (Gcd__Wire__HandleOp)GCD__WIRE__HANDLE_OP__INIT;
    w->handle.handle = op->u64a;
    w->op.retain = &w->handle; /* retain, release, refcount share the member type */
    break;
  }
}

static size_t pack_pb(unsigned char *out, uint64_t seq, const gc__op *ops, size_t n, int quiet) {
  static pb_op w[MAX_OPS];
  Gcd__Wire__Op *ptrs[MAX_OPS];
  Gcd__Wire__Request req = GCD__WIRE__REQUEST__INIT;

  for (size_t i = 0; i < n; i++) {
    to_pb(&w[i], &ops[i]);
    ptrs[i] = &w[i].op;
  }
  req.seq = seq;
  req.n_ops = n;
  req.ops = ptrs;
  req.quiet = quiet;
  return gcd__wire__request__pack(&req, out);
}

static void assert_same(uint64_t seq, const gc__op *ops, size_t n, int quiet) {
  unsigned char mine[16 + 40 * MAX_OPS], theirs[16 + 40 * MAX_OPS];
  size_t a = gc__wire_encode_ops(mine, seq, ops, n, quiet);
  size_t b = pack_pb(theirs, seq, ops, n, quiet);

  assert_true(a <= 16 + 40 * n);
  assert_int_equal(a, b);
  assert_memory_equal(mine, theirs, a);
}

/* A value whose varint takes `bytes` bytes (0: the value 0). */
static uint64_t of_length(uint64_t r, int bytes, int bits) {
  uint64_t v;

  if (bytes == 0)
    return 0;
  v = r | (UINT64_C(1) << (bytes * 7 - 7 < bits ? bytes * 7 - 7 : bits - 1));
  if (bytes * 7 < 64)
    v &= (UINT64_C(1) << (bytes * 7)) - 1;
  return bits < 64 ? v & ((UINT64_C(1) << bits) - 1) : v;
}

static gc__op random_op(uint64_t *s) {
  static const uint32_t kinds[] = {GC__OP_ALLOC,   GC__OP_RETAIN,  GC__OP_RELEASE,
                                   GC__OP_SET_REF, GC__OP_GET_REF, GC__OP_REFCOUNT};
  gc__op op = {.kind = kinds[test_next(s) % 6]};

  op.u32 = (uint32_t)of_length(test_next(s), (int)(test_next(s) % 6), 32);
  op.type = (uint32_t)of_length(test_next(s), (int)(test_next(s) % 6), 32);
  op.u64a = of_length(test_next(s), (int)(test_next(s) % 11), 64);
  op.u64b = of_length(test_next(s), (int)(test_next(s) % 11), 64);
  return op;
}

static void test_wire_each_kind_at_the_extremes(void **state) {
  const uint32_t kinds[] = {GC__OP_ALLOC,   GC__OP_RETAIN,  GC__OP_RELEASE,
                            GC__OP_SET_REF, GC__OP_GET_REF, GC__OP_REFCOUNT};

  (void)state;
  for (size_t k = 0; k < 6; k++) {
    gc__op zero = {.kind = kinds[k]};
    gc__op max = {.kind = kinds[k], .u32 = UINT32_MAX, .type = UINT32_MAX,
                  .u64a = UINT64_MAX, .u64b = UINT64_MAX};

    assert_same(0, &zero, 1, 0);
    assert_same(UINT64_MAX, &max, 1, 1);
  }
  assert_same(1, NULL, 0, 0); /* no ops at all */
}

static void test_wire_random_requests(void **state) {
  uint64_t s = 42;
  gc__op ops[MAX_OPS];

  (void)state;
  for (int round = 0; round < 20000; round++) {
    size_t n = (size_t)(test_next(&s) % MAX_OPS) + 1;
    uint64_t seq;

    for (size_t i = 0; i < n; i++)
      ops[i] = random_op(&s);
    seq = of_length(test_next(&s), (int)(test_next(&s) % 11), 64);
    assert_same(seq, ops, n, (int)(test_next(&s) & 1));
  }
}

/* A random Response: plain results, or (with other) sometimes a result
 * with a sub-message, a quiet or a frame-level code. */
static size_t random_answer(uint64_t *s, unsigned char *out, bool other, bool *plain) {
  static Gcd__Wire__Result res[MAX_OPS];
  static Gcd__Wire__HeapInfo info;
  static char text[MAX_OPS][64];
  Gcd__Wire__Result *ptrs[MAX_OPS];
  Gcd__Wire__Response resp = GCD__WIRE__RESPONSE__INIT;
  size_t n = (size_t)(test_next(s) % MAX_OPS);

  *plain = true;
  for (size_t i = 0; i < n; i++) {
    size_t len = (size_t)(test_next(s) % 4 == 0 ? test_next(s) % sizeof text[i] : 0);

    res[i] = (Gcd__Wire__Result)GCD__WIRE__RESULT__INIT;
    res[i].code = (int32_t)(test_next(s) % 3 == 0 ? (int64_t)(test_next(s) % 40) - 20
                                             : (int32_t)(uint32_t)of_length(test_next(s), 5, 32));
    res[i].value = of_length(test_next(s), (int)(test_next(s) % 11), 64);
    memset(text[i], 'a' + (int)(i % 26), len);
    text[i][len] = '\0';
    res[i].message = text[i];
    if (other && test_next(s) % 16 == 0) {
      info = (Gcd__Wire__HeapInfo)GCD__WIRE__HEAP_INFO__INIT;
      info.objects = test_next(s) % 100;
      res[i].info = &info;
      *plain = false;
    }
    ptrs[i] = &res[i];
  }
  resp.seq = of_length(test_next(s), (int)(test_next(s) % 11), 64);
  resp.n_results = n;
  resp.results = ptrs;
  if (other && test_next(s) % 8 == 0) {
    resp.quiet = 1;
    *plain = false;
  }
  if (other && test_next(s) % 8 == 0) {
    resp.code = -10;
    *plain = false;
  }
  return gcd__wire__response__pack(&resp, out);
}

static bool read_alike(const unsigned char *frame, size_t len) {
  char msg[256] = "";
  bool fast = false;

  if (gc__wire_plain_check(frame, len, &fast, msg, sizeof msg) != 0)
    fail_msg("read in place and by protobuf-c differently: %s", msg);
  return fast;
}

static void test_wire_plain_answers_read_in_place(void **state) {
  static unsigned char frame[MAX_OPS * 128 + 64];
  uint64_t s = 43;
  bool plain;
  int others = 0;

  (void)state;
  for (int round = 0; round < 20000; round++) {
    size_t len = random_answer(&s, frame, round % 2 == 1, &plain);

    assert_true(len <= sizeof frame);
    if (plain)
      assert_true(read_alike(frame, len));
    else
      others += !read_alike(frame, len);
  }
  assert_true(others > 1000);
}

/* Answers cut short, with a bit flipped or a byte inserted: whatever is
 * read in place reads as protobuf-c reads it. */
static void test_wire_damaged_answers_agree(void **state) {
  static unsigned char frame[MAX_OPS * 128 + 64 + 1];
  uint64_t s = 44;
  bool plain;

  (void)state;
  for (int round = 0; round < 50000; round++) {
    size_t len = random_answer(&s, frame, false, &plain);

    len = test_damage(&s, frame, len);
    read_alike(frame, len);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_wire_plain_answers_read_in_place),
      cmocka_unit_test(test_wire_damaged_answers_agree),
      cmocka_unit_test(test_wire_each_kind_at_the_extremes),
      cmocka_unit_test(test_wire_random_requests),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
