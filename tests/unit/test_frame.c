/*
 * test_frame.c -- the frame decoder and encoder, without sockets: bytes fed
 * in every split, several frames in one buffer, lengths refused before any
 * allocation, truncation reporting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frame.h"
#include "gcclient.h"

/* A whole frame (prefix + payload) of len bytes of a counting pattern. */
static uint8_t *frame_make(size_t len, uint8_t seed) {
  uint8_t *f = gcd_frame_alloc(len);

  assert_non_null(f);
  for (size_t i = 0; i < len; i++)
    f[GCD_FRAME_HEADER + i] = (uint8_t)(seed + i);
  return f;
}

static void test_frame_encoder_writes_big_endian_length(void **state) {
  uint8_t *f = gcd_frame_alloc(0x010203);

  assert_non_null(f);
  assert_int_equal(f[0], 0x00);
  assert_int_equal(f[1], 0x01);
  assert_int_equal(f[2], 0x02);
  assert_int_equal(f[3], 0x03);
  free(f);
}

static void test_frame_byte_by_byte(void **state) {
  gcd_frame_decoder d;
  uint8_t *f = frame_make(300, 7);
  gcd_frame out;
  size_t used;

  gcd_frame_init(&d, 1024);
  for (size_t i = 0; i < GCD_FRAME_HEADER + 299; i++) {
    assert_int_equal(gcd_frame_feed(&d, f + i, 1, &used, &out), 0);
    assert_int_equal(used, 1);
    assert_true(gcd_frame_partial(&d));
  }
  assert_int_equal(gcd_frame_expected(&d), 300);
  assert_int_equal(gcd_frame_received(&d), 299);
  assert_int_equal(gcd_frame_feed(&d, f + GCD_FRAME_HEADER + 299, 1, &used, &out), 1);
  assert_int_equal(used, 1);
  assert_int_equal(out.len, 300);
  assert_memory_equal(out.data, f + GCD_FRAME_HEADER, 300);
  assert_false(gcd_frame_partial(&d));
  gcd_frame_destroy(&d);
  free(f);
}

static void test_frame_two_frames_in_one_buffer(void **state) {
  uint8_t *a = frame_make(10, 1), *b = frame_make(20, 100);
  uint8_t buf[64];
  gcd_frame_decoder d;
  gcd_frame out;
  size_t used, n = 0;

  memcpy(buf, a, 14);
  memcpy(buf + 14, b, 24);
  n = 38;
  gcd_frame_init(&d, 1024);
  assert_int_equal(gcd_frame_feed(&d, buf, n, &used, &out), 1);
  assert_int_equal(used, 14);
  assert_int_equal(out.len, 10);
  assert_ptr_equal(out.data, buf + 4); /* whole in the input: no copy */
  assert_memory_equal(out.data, a + 4, 10);
  assert_int_equal(gcd_frame_feed(&d, buf + 14, n - 14, &used, &out), 1);
  assert_int_equal(used, 24);
  assert_int_equal(out.len, 20);
  assert_memory_equal(out.data, b + 4, 20);
  assert_false(gcd_frame_partial(&d));
  gcd_frame_destroy(&d);
  free(a);
  free(b);
}

/* A frame split inside its payload, then the next frame's header in the
 * same piece as the first frame's end. */
static void test_frame_split_payload_then_next_header(void **state) {
  uint8_t *a = frame_make(100, 3), *b = frame_make(5, 9);
  uint8_t piece[200];
  gcd_frame_decoder d;
  gcd_frame out;
  size_t used;

  gcd_frame_init(&d, 1024);
  assert_int_equal(gcd_frame_feed(&d, a, 50, &used, &out), 0);
  assert_int_equal(used, 50);
  memcpy(piece, a + 50, 54);
  memcpy(piece + 54, b, 6); /* b's header and 2 payload bytes */
  assert_int_equal(gcd_frame_feed(&d, piece, 60, &used, &out), 1);
  assert_int_equal(used, 54);
  assert_memory_equal(out.data, a + 4, 100);
  assert_int_equal(gcd_frame_feed(&d, piece + 54, 6, &used, &out), 0);
  assert_int_equal(used, 6);
  assert_int_equal(gcd_frame_feed(&d, b + 6, 3, &used, &out), 1);
  assert_memory_equal(out.data, b + 4, 5);
  gcd_frame_destroy(&d);
  free(a);
  free(b);
}

/* The refusal comes with the fourth header byte, before a payload buffer
 * exists: a peer announcing 4 GiB costs the daemon nothing. */
static void test_frame_oversize_rejected_before_allocation(void **state) {
  uint8_t hdr[4];
  gcd_frame_decoder d;
  gcd_frame out;
  size_t used;

  gcd_frame_put_header(hdr, 0xffffffffu);
  gcd_frame_init(&d, 1 << 20);
  assert_int_equal(gcd_frame_feed(&d, hdr, 3, &used, &out), 0);
  assert_int_equal(gcd_frame_feed(&d, hdr + 3, 1, &used, &out), GC_EFRAMESIZE);
  assert_null(d.buf);
  assert_int_equal(gcd_frame_bad_len(&d), 0xffffffffu);
  gcd_frame_destroy(&d);
}

static void test_frame_limit_is_inclusive(void **state) {
  uint8_t *ok = frame_make(64, 0), *big = frame_make(65, 0);
  gcd_frame_decoder d;
  gcd_frame out;
  size_t used;

  gcd_frame_init(&d, 64);
  assert_int_equal(gcd_frame_feed(&d, ok, 68, &used, &out), 1);
  assert_int_equal(gcd_frame_feed(&d, big, 69, &used, &out), GC_EFRAMESIZE);
  assert_int_equal(gcd_frame_bad_len(&d), 65);
  gcd_frame_destroy(&d);
  free(ok);
  free(big);
}

static void test_frame_zero_length_is_malformed(void **state) {
  uint8_t hdr[4] = {0, 0, 0, 0};
  gcd_frame_decoder d;
  gcd_frame out;
  size_t used;

  gcd_frame_init(&d, 1024);
  assert_int_equal(gcd_frame_feed(&d, hdr, 4, &used, &out), GC_EFRAME);
  assert_null(d.buf);
  gcd_frame_destroy(&d);
}

/* A split frame's buffer stays valid until the next feed, and a decoder
 * reused for many split frames does not leak (ASan checks). */
static void test_frame_split_frames_repeatedly(void **state) {
  uint8_t *f = frame_make(1000, 42);
  gcd_frame_decoder d;
  gcd_frame out;
  size_t used;

  gcd_frame_init(&d, 4096);
  for (int round = 0; round < 50; round++) {
    assert_int_equal(gcd_frame_feed(&d, f, 500, &used, &out), 0);
    assert_int_equal(gcd_frame_feed(&d, f + 500, 504, &used, &out), 1);
    assert_ptr_equal(out.data, d.buf);
    assert_memory_equal(out.data, f + 4, 1000);
  }
  gcd_frame_destroy(&d);
  free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_frame_encoder_writes_big_endian_length),
      cmocka_unit_test(test_frame_byte_by_byte),
      cmocka_unit_test(test_frame_two_frames_in_one_buffer),
      cmocka_unit_test(test_frame_split_payload_then_next_header),
      cmocka_unit_test(test_frame_oversize_rejected_before_allocation),
      cmocka_unit_test(test_frame_limit_is_inclusive),
      cmocka_unit_test(test_frame_zero_length_is_malformed),
      cmocka_unit_test(test_frame_split_frames_repeatedly),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
