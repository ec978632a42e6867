/*
 * test_decode.c -- the request handlers' own reader of the common
 * operations and writer of plain answers (ops.c) against protobuf-c,
 * through gcd_ops_decode_check() and gcd_ops_encode_check(): every frame
 * the reader takes must read as protobuf-c reads it, a frame it does not
 * know it must leave to protobuf-c, and an answer must come out as the
 * bytes protobuf-c writes.
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
#include "ops.h"

enum { MAX_OPS = 32, FRAME_MAX = 16 + MAX_OPS * 64 };

/* A value of 0 to 64 bits, so that varints of every length occur. */
static uint64_t value(uint64_t *s) {
  unsigned bits = (unsigned)(test_next(s) % 65);
  return bits == 0 ? 0 : test_next(s) >> (64 - bits);
}

typedef struct op_store {
  Gcd__Wire__Op op;
  Gcd__Wire__Alloc alloc;
  Gcd__Wire__HandleOp handle;
  Gcd__Wire__SetRef set_ref;
  Gcd__Wire__GetRef get_ref;
  Gcd__Wire__Empty empty;
} op_store;

/* A random operation: a common one, or (with uncommon) sometimes info. */
static void random_op(uint64_t *s, op_store *w, bool uncommon) {
  static const int kinds[] = {2, 3, 4, 5, 6, 7};
  int kind = uncommon && test_next(s) % 8 == 0 ? 11 : kinds[test_next(s) % 6];

  memset(w, 0, sizeof *w);
  w->op = (Gcd__Wire__Op)GCD__WIRE__OP__INIT;
  w->op.op_case = (Gcd__Wire__Op__OpCase)kind;
  w->alloc = (Gcd__Wire__Alloc)GCD__WIRE__ALLOC__INIT;
  w->handle = (Gcd__Wire__HandleOp)GCD__WIRE__HANDLE_OP__INIT;
  w->set_ref = (Gcd__Wire__SetRef)GCD__WIRE__SET_REF__INIT;
  w->get_ref = (Gcd__Wire__GetRef)GCD__WIRE__GET_REF__INIT;
  w->empty = (Gcd__Wire__Empty)GCD__WIRE__EMPTY__INIT;
  w->alloc.nslots = (uint32_t)value(s);
  w->alloc.nbytes = value(s);
  w->alloc.type = (uint32_t)value(s);
  w->handle.handle = value(s);
  w->set_ref.object = value(s);
  w->set_ref.slot = (uint32_t)value(s);
  w->set_ref.target = value(s);
  w->get_ref.object = value(s);
  w->get_ref.slot = (uint32_t)value(s);
  switch (kind) {
  case 2: w->op.alloc = &w->alloc; break;
  case 5: w->op.set_ref = &w->set_ref; break;
  case 6: w->op.get_ref = &w->get_ref; break;
  case 11: w->op.info = &w->empty; break;
  default: w->op.retain = &w->handle; break; /* retain, release, refcount */
  }
}

static size_t random_frame(uint64_t *s, uint8_t *out, bool uncommon) {
  static op_store w[MAX_OPS];
  Gcd__Wire__Op *ptrs[MAX_OPS];
  Gcd__Wire__Request req = GCD__WIRE__REQUEST__INIT;
  size_t n = (size_t)(test_next(s) % MAX_OPS);

  for (size_t i = 0; i < n; i++) {
    random_op(s, &w[i], uncommon);
    ptrs[i] = &w[i].op;
  }
  req.seq = value(s);
  req.quiet = (int)(test_next(s) & 1);
  req.n_ops = n;
  req.ops = ptrs;
  assert_true(gcd__wire__request__get_packed_size(&req) <= FRAME_MAX);
  return gcd__wire__request__pack(&req, out);
}

/* Both readers agree; returns whether the handlers' own took the frame. */
static bool agree(const uint8_t *frame, size_t len) {
  char msg[256] = "";
  bool fast = false;
  int rc = gcd_ops_decode_check(frame, len, &fast, msg, sizeof msg);

  if (rc != 0)
    fail_msg("the readers disagree: %s", msg);
  return fast;
}

/* Frames of common operations only are all the handlers' own. */
static void test_decode_common_frames_read_alike(void **state) {
  uint64_t s = 7;
  uint8_t frame[FRAME_MAX];

  (void)state;
  for (int i = 0; i < 20000; i++)
    assert_true(agree(frame, random_frame(&s, frame, false)));
}

/* A frame with any other operation is left to protobuf-c. */
static void test_decode_other_operations_declined(void **state) {
  uint64_t s = 8;
  uint8_t frame[FRAME_MAX];
  int declined = 0;

  (void)state;
  for (int i = 0; i < 5000; i++)
    declined += !agree(frame, random_frame(&s, frame, true));
  assert_true(declined > 1000);
}

/* Frames cut short, bytes changed, bytes inserted: whatever the handlers'
 * reader takes, protobuf-c takes and reads the same. */
static void test_decode_damaged_frames_agree(void **state) {
  uint64_t s = 9;
  uint8_t frame[FRAME_MAX + 8];

  (void)state;
  for (int i = 0; i < 50000; i++) {
    size_t len = random_frame(&s, frame, false);

    len = test_damage(&s, frame, len);
    agree(frame, len);
  }
}

/* Encodings protobuf-c reads its own way: a field twice (the last wins),
 * a bool whose only set bit lies past 64, a uint32 from a 10-byte varint,
 * an Op with two fields, an empty Op, a tag in two bytes. */
static void test_decode_edge_encodings(void **state) {
  static const struct {
    uint8_t bytes[32];
    size_t len;
    bool fast;
  } cases[] = {
      /* seq 1, then seq 2 */
      {{0x08, 0x01, 0x08, 0x02}, 4, true},
      /* quiet as a 10-byte varint whose only set bit is bit 64 */
      {{0x18, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02}, 11, true},
      /* alloc {nslots: 2^32 + 3 in 10 bytes, read as 3; nbytes 5} */
      {{0x12, 0x0f, 0x12, 0x0d, 0x08, 0x83, 0x80, 0x80, 0x80, 0x90, 0x80, 0x80, 0x80, 0x80,
        0x00, 0x10, 0x05},
       17, true},
      /* retain {handle 1, handle 2} */
      {{0x12, 0x06, 0x1a, 0x04, 0x08, 0x01, 0x08, 0x02}, 8, true},
      /* an Op holding retain twice */
      {{0x12, 0x08, 0x1a, 0x02, 0x08, 0x01, 0x1a, 0x02, 0x08, 0x02}, 10, false},
      /* an empty Op */
      {{0x12, 0x00}, 2, false},
      /* seq with its tag in two bytes */
      {{0x88, 0x00, 0x05}, 3, false},
      /* an unknown field of the Request */
      {{0x08, 0x01, 0x48, 0x01}, 4, false},
  };

  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    assert_int_equal(agree(cases[i].bytes, cases[i].len), cases[i].fast);
}

/* Answers of every size of code, value and message, message-less ones
 * (NULL or empty) among them, as protobuf-c writes them. */
static void test_encode_answers_as_protobuf_c(void **state) {
  enum { N = 40 };
  static char text[N][300];
  uint64_t s = 10, values[N];
  int32_t codes[N];
  char *messages[N], msg[256] = "";

  (void)state;
  for (int round = 0; round < 5000; round++) {
    size_t n = (size_t)(test_next(&s) % N);

    for (size_t i = 0; i < n; i++) {
      size_t len = (size_t)(test_next(&s) % 3 == 0 ? test_next(&s) % sizeof text[i] : 0);
      codes[i] = (int32_t)(test_next(&s) % 4 == 0 ? (int64_t)(test_next(&s) % 80) - 40
                                             : (int32_t)(uint32_t)value(&s));
      values[i] = value(&s);
      memset(text[i], 'a' + (int)(i % 26), len);
      text[i][len] = '\0';
      messages[i] = test_next(&s) % 4 == 0 ? NULL : text[i];
    }
    if (gcd_ops_encode_check(value(&s), test_next(&s) & 1, n, codes, values, messages, msg,
                             sizeof msg) != 0)
      fail_msg("round %d: %s", round, msg);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_encode_answers_as_protobuf_c),
      cmocka_unit_test(test_decode_common_frames_read_alike),
      cmocka_unit_test(test_decode_other_operations_declined),
      cmocka_unit_test(test_decode_damaged_frames_agree),
      cmocka_unit_test(test_decode_edge_encodings),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
