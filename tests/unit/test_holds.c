/*
 * test_holds.c -- the per-session multiset of retained handles: counts,
 * not-held answers, iteration, and millions of entries.
 *
 * Environment: GCD_TEST_HOLDS (entries of the large test, default 2000000).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "gcclient.h"
#include "gcd_layout.h"
#include "holds.h"

static void test_holds_add_remove_counts(void **state) {
  gcd_holds h;
  uint64_t a = gcd_handle_make(5, 1), b = gcd_handle_make(6, 3);

  gcd_holds_init(&h);
  assert_int_equal(gcd_holds_add(&h, a), 0);
  assert_int_equal(gcd_holds_add(&h, a), 0);
  assert_int_equal(gcd_holds_add(&h, b), 0);
  assert_int_equal(gcd_holds_count(&h, a), 2);
  assert_int_equal(gcd_holds_count(&h, b), 1);
  assert_int_equal(gcd_holds_size(&h), 2);
  assert_int_equal(gcd_holds_total(&h), 3);
  assert_int_equal(gcd_holds_remove(&h, a), 0);
  assert_int_equal(gcd_holds_count(&h, a), 1);
  assert_int_equal(gcd_holds_remove(&h, a), 0);
  assert_int_equal(gcd_holds_count(&h, a), 0);
  assert_int_equal(gcd_holds_size(&h), 1);
  assert_int_equal(gcd_holds_total(&h), 1);
  gcd_holds_destroy(&h);
}

static void test_holds_remove_not_held(void **state) {
  gcd_holds h;
  uint64_t a = gcd_handle_make(5, 1);

  gcd_holds_init(&h);
  assert_int_equal(gcd_holds_remove(&h, a), GC_ENOTHELD); /* empty table */
  assert_int_equal(gcd_holds_add(&h, a), 0);
  assert_int_equal(gcd_holds_remove(&h, gcd_handle_make(5, 2)), GC_ENOTHELD);
  assert_int_equal(gcd_holds_remove(&h, gcd_handle_make(9, 1)), GC_ENOTHELD);
  assert_int_equal(gcd_holds_remove(&h, 0), GC_ENOTHELD);
  assert_int_equal(gcd_holds_remove(&h, a), 0);
  assert_int_equal(gcd_holds_remove(&h, a), GC_ENOTHELD);
  gcd_holds_destroy(&h);
}

static void sum_each(void *ctx, uint64_t handle, uint64_t count) {
  uint64_t *acc = ctx;

  acc[0] += gcd_handle_index(handle) * count;
  acc[1] += count;
  acc[2]++;
}

static void test_holds_each_visits_every_handle_once(void **state) {
  uint64_t acc[3] = {0, 0, 0}, want = 0;
  gcd_holds h;

  gcd_holds_init(&h);
  for (uint32_t i = 1; i <= 1000; i++) {
    for (uint32_t k = 0; k < i % 3 + 1; k++)
      assert_int_equal(gcd_holds_add(&h, gcd_handle_make(i, 1)), 0);
    want += (uint64_t)i * (i % 3 + 1);
  }
  gcd_holds_each(&h, sum_each, acc);
  assert_int_equal(acc[0], want);
  assert_int_equal(acc[1], gcd_holds_total(&h));
  assert_int_equal(acc[2], 1000);
  gcd_holds_destroy(&h);
}

static size_t env_size(const char *name, size_t dflt) {
  const char *v = getenv(name);

  return v != NULL && v[0] != '\0' ? (size_t)strtoull(v, NULL, 10) : dflt;
}

/* Millions of distinct handles, then every other one removed (which
 * exercises deletion inside probe runs and shrinking); every answer exact. */
static void test_holds_millions_of_entries(void **state) {
  size_t n = env_size("GCD_TEST_HOLDS", 2000000);
  gcd_holds h;

  gcd_holds_init(&h);
  for (size_t i = 1; i <= n; i++)
    assert_int_equal(gcd_holds_add(&h, gcd_handle_make((uint32_t)i, 7)), 0);
  assert_int_equal(gcd_holds_size(&h), n);
  for (size_t i = 2; i <= n; i += 2)
    assert_int_equal(gcd_holds_remove(&h, gcd_handle_make((uint32_t)i, 7)), 0);
  for (size_t i = 1; i <= n; i++)
    assert_int_equal(gcd_holds_count(&h, gcd_handle_make((uint32_t)i, 7)), i % 2);
  for (size_t i = 1; i <= n; i += 2)
    assert_int_equal(gcd_holds_remove(&h, gcd_handle_make((uint32_t)i, 7)), 0);
  assert_int_equal(gcd_holds_size(&h), 0);
  assert_int_equal(gcd_holds_total(&h), 0);
  assert_true(h.cap <= 32); /* the memory went back */
  gcd_holds_destroy(&h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_holds_add_remove_counts),
      cmocka_unit_test(test_holds_remove_not_held),
      cmocka_unit_test(test_holds_each_visits_every_handle_once),
      cmocka_unit_test(test_holds_millions_of_entries),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
