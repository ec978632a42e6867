/*
 * test_spin.c -- the adaptive window of a wait that polls before it sleeps
 * (common/gcd_spin.h), which libgcclient's answers and the daemon's loop
 * both use.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gcd_spin.h"

/* The spin window: kept while it catches answers, grown (from the start,
 * doubling, capped) by answers a longer one would have caught, halved to 0
 * by answers slower than the option. */
static void test_spin_window_adapts(void **state) {
  const int64_t max = 50000, start = GCD_SPIN_START_NS;

  (void)state;
  assert_int_equal(gcd_spin_adapt(max, max, 3000), max);       /* caught */
  assert_int_equal(gcd_spin_adapt(20000, max, 30000), 40000); /* just missed */
  assert_int_equal(gcd_spin_adapt(40000, max, 45000), max);   /* capped */
  assert_int_equal(gcd_spin_adapt(max, max, 15000000), max / 2); /* a collection */
  assert_int_equal(gcd_spin_adapt(max / 2, max, 15000000), 12500);
  assert_int_equal(gcd_spin_adapt(12500, max, 15000000), 0);  /* below the start */
  assert_int_equal(gcd_spin_adapt(0, max, 15000000), 0);
  assert_int_equal(gcd_spin_adapt(0, max, 30000), start);     /* back from 0 */
  assert_int_equal(gcd_spin_adapt(0, 5000, 4000), 5000);      /* a small option */
  assert_int_equal(gcd_spin_adapt(0, 5000, 6000), 0);
}

/* The daemon's loop as it uses the window: a run of requests each 20 us
 * after the last is caught once the window has grown to them, and a pause
 * of a second between bursts does not leave it polling. */
static void test_spin_window_follows_a_rhythm(void **state) {
  const int64_t max = 50000;
  int64_t w = 0;

  (void)state;
  for (int i = 0; i < 3; i++)
    w = gcd_spin_adapt(w, max, 20000);
  assert_true(w >= 20000 && w <= max);
  assert_int_equal(gcd_spin_adapt(w, max, 20000), w); /* caught from now on */
  for (int i = 0; i < 4; i++)
    w = gcd_spin_adapt(w, max, 1000000000);
  assert_int_equal(w, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_spin_window_adapts),
      cmocka_unit_test(test_spin_window_follows_a_rhythm),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
