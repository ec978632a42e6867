/*
 * test_pipeline.c -- the asynchronous calls against a real daemon: each
 * operation's own result, deferred failures of one-way releases reported
 * once, and the order of effects. Correctness only: nothing is timed.
 */
#include <string.h>

#include "harness.h"

typedef struct fixture {
  h_daemon d;
  gc_client *c;
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);

  f->c = h_open(&f->d, "64M", "test_pipeline");
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;

  h_close(&f->d, f->c);
  free(f);
  return 0;
}

/* 200 allocs with a window of 16: every handle and code arrives, distinct. */
static void test_pipeline_alloc_results_per_operation(void **state) {
  fixture *f = *state;
  enum { N = 200 };
  gc_handle h[N] = {0};
  int rc[N];

  assert_ok(gc_set_option(f->c, GC_OPT_PIPELINE_DEPTH, 16), f->c);
  for (int i = 0; i < N; i++) {
    rc[i] = 99;
    assert_ok(gc_alloc_async(f->c, 1, 8, 7, &h[i], &rc[i]), f->c);
    assert_true(gc_inflight(f->c) <= 16);
  }
  assert_ok(gc_sync(f->c), f->c);
  assert_int_equal(gc_inflight(f->c), 0);
  for (int i = 0; i < N; i++) {
    assert_int_equal(rc[i], 0);
    assert_true(h[i] != 0);
    if (i > 0)
      assert_true(h[i] != h[i - 1]);
  }
  assert_int_equal(h_objects(f->c), N);
  for (int i = 0; i < N; i++)
    assert_ok(gc_release_async(f->c, h[i], &rc[i]), f->c);
  assert_ok(gc_sync(f->c), f->c);
  for (int i = 0; i < N; i++)
    assert_int_equal(rc[i], 0);
  assert_int_equal(h_objects(f->c), 0);
}

/* A watched failure lands in its rc and nowhere else. */
static void test_pipeline_watched_failure_in_rc(void **state) {
  fixture *f = *state;
  gc_handle h = 0;
  int rc1 = 99, rc2 = 99;

  assert_ok(gc_alloc(f->c, 0, 8, 1, &h), f->c);
  assert_ok(gc_release_async(f->c, h, &rc1), f->c);
  assert_ok(gc_release_async(f->c, h, &rc2), f->c); /* second: not held */
  assert_ok(gc_sync(f->c), f->c);
  assert_int_equal(rc1, 0);
  assert_true(rc2 == GC_ESTALE || rc2 == GC_ENOTHELD);
  assert_int_equal(h_objects(f->c), 0);
}

/* A one-way release goes unanswered unless it fails; its failure is read
 * behind the next synchronous call's answer (that call runs) and reported
 * once, by the call after it, which does not run; the retry runs. */
static void test_pipeline_oneway_failure_deferred_once(void **state) {
  fixture *f = *state;
  gc_handle h = 0, g = 0, k = 0;

  assert_ok(gc_set_option(f->c, GC_OPT_ONEWAY_RELEASE, 1), f->c);
  assert_ok(gc_alloc(f->c, 0, 8, 1, &h), f->c);
  assert_ok(gc_release(f->c, h), f->c);
  assert_ok(gc_release(f->c, h), f->c); /* fails in the daemon, later */
  assert_ok(gc_release(f->c, h), f->c); /* fails too: not reported */
  assert_int_equal(gc_inflight(f->c), 3);
  assert_ok(gc_alloc(f->c, 0, 8, 1, &g), f->c); /* sent behind them: runs */
  assert_int_equal(gc_inflight(f->c), 0);
  int err = gc_alloc(f->c, 0, 8, 1, &k);
  assert_true(err == GC_ESTALE || err == GC_ENOTHELD);
  assert_true(k == 0);
  assert_non_null(strstr(gc_last_error(f->c), "one-way request"));
  assert_non_null(strstr(gc_last_error(f->c), "release: handle"));
  assert_int_equal(h_objects(f->c), 1); /* g; the failed call did not run */
  assert_ok(gc_release(f->c, g), f->c);
  assert_ok(gc_sync(f->c), f->c);
  assert_int_equal(h_objects(f->c), 0);
  assert_ok(gc_set_option(f->c, GC_OPT_ONEWAY_RELEASE, 0), f->c);
  assert_true(gc_release(f->c, g) < 0); /* synchronous again: fails at once */
}

/* Quiet frames are not bounded by the window: a long run of them leaves in
 * pieces while the daemon answers none, and one gc_sync() confirms them
 * all. */
static void test_pipeline_oneway_run_confirmed_by_sync(void **state) {
  fixture *f = *state;
  gc_handle h = 0;
  uint64_t n = 0;

  assert_ok(gc_set_option(f->c, GC_OPT_PIPELINE_DEPTH, 4), f->c);
  assert_ok(gc_alloc(f->c, 0, 8, 1, &h), f->c);
  for (int i = 0; i < 200000; i++)
    assert_ok(gc_retain_async(f->c, h, NULL), f->c);
  for (int i = 0; i < 199999; i++)
    assert_ok(gc_release_async(f->c, h, NULL), f->c);
  assert_int_equal(gc_inflight(f->c), 399999);
  assert_ok(gc_sync(f->c), f->c);
  assert_int_equal(gc_inflight(f->c), 0);
  assert_ok(gc_refcount(f->c, h, &n), f->c);
  assert_int_equal(n, 2);
  assert_ok(gc_release(f->c, h), f->c);
  assert_ok(gc_release(f->c, h), f->c);
  assert_int_equal(h_objects(f->c), 0);
}

/* gc_sync() reports a deferred failure too, and only once: with nothing in
 * flight but a quiet frame, it asks the daemon for an answer to read past. */
static void test_pipeline_sync_reports_deferred(void **state) {
  fixture *f = *state;

  assert_ok(gc_release_async(f->c, 0x12345, NULL), f->c);
  assert_true(gc_sync(f->c) < 0);
  assert_non_null(strstr(gc_last_error(f->c), "one-way request"));
  assert_non_null(strstr(gc_last_error(f->c), "release: handle 0x0000000000012345"));
  assert_ok(gc_sync(f->c), f->c);
}

/* Effects follow the order sent: links made in flight are seen by a later
 * synchronous call, and a retain before a release keeps the object. */
static void test_pipeline_order_of_effects(void **state) {
  fixture *f = *state;
  gc_handle a = 0, b = 0, got = 0;
  int rc[4];
  uint64_t n = 0;

  assert_ok(gc_alloc_async(f->c, 1, 0, 1, &a, &rc[0]), f->c);
  assert_ok(gc_alloc_async(f->c, 0, 8, 1, &b, &rc[1]), f->c);
  assert_ok(gc_sync(f->c), f->c);
  assert_ok(gc_set_ref_async(f->c, a, 0, b, &rc[2]), f->c);
  assert_ok(gc_release_async(f->c, b, &rc[3]), f->c);
  assert_ok(gc_refcount(f->c, b, &n), f->c); /* synchronous: after both */
  assert_int_equal(n, 1);
  assert_int_equal(rc[2], 0);
  assert_int_equal(rc[3], 0);
  assert_ok(gc_get_ref(f->c, a, 0, &got), f->c);
  assert_true(got == b);
  assert_ok(gc_retain_async(f->c, a, NULL), f->c);
  assert_ok(gc_release_async(f->c, a, NULL), f->c);
  assert_ok(gc_release_async(f->c, a, NULL), f->c);
  assert_ok(gc_sync(f->c), f->c);
  assert_int_equal(h_objects(f->c), 0); /* a, then b by cascade */
}

/* Bad options are refused; a batch after async calls still answers. */
static void test_pipeline_options_and_batch(void **state) {
  fixture *f = *state;
  gc_batch *b = NULL;
  gc_handle h = 0, g = 0;
  int rc = 99;

  assert_int_equal(gc_set_option(f->c, GC_OPT_PIPELINE_DEPTH, 0), GC_EINVAL);
  assert_int_equal(gc_set_option(f->c, GC_OPT_PIPELINE_DEPTH, GC_PIPELINE_MAX + 1),
                   GC_EINVAL);
  assert_int_equal(gc_set_option(f->c, 77, 1), GC_EINVAL);
  assert_int_equal(gc_set_option(NULL, GC_OPT_PIPELINE_DEPTH, 1), GC_EINVAL);
  assert_int_equal(gc_inflight(NULL), 0);
  assert_ok(gc_alloc_async(f->c, 0, 8, 1, &h, &rc), f->c);
  assert_ok(gc_batch_new(f->c, &b), f->c);
  assert_ok(gc_batch_alloc(b, 0, 8, 1), f->c);
  assert_ok(gc_batch_run(b), f->c);
  assert_int_equal(rc, 0);
  assert_int_equal(gc_batch_result(b, 0, &g), 0);
  assert_true(g != 0 && g != h);
  gc_batch_free(b);
  assert_ok(gc_release(f->c, h), f->c);
  assert_ok(gc_release(f->c, g), f->c);
}

/* gc_flush() sends gathered frames: another connection sees the effect
 * without this one waiting for the answer. */
static void test_pipeline_flush_sends_without_waiting(void **state) {
  fixture *f = *state;
  gc_client *other = h_connect(&f->d, "observer");
  gc_handle h = 0;

  assert_ok(gc_alloc(f->c, 0, 8, 1, &h), f->c);
  assert_ok(gc_release_async(f->c, h, NULL), f->c);
  assert_int_equal(gc_inflight(f->c), 1);
  assert_ok(gc_flush(f->c), f->c);
  h_wait_objects(other, 0, 5000);
  assert_ok(gc_sync(f->c), f->c);
  assert_int_equal(gc_inflight(f->c), 0);
  gc_close(other);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_pipeline_alloc_results_per_operation, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_pipeline_watched_failure_in_rc, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pipeline_oneway_failure_deferred_once, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_pipeline_oneway_run_confirmed_by_sync, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_pipeline_sync_reports_deferred, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pipeline_order_of_effects, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pipeline_options_and_batch, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pipeline_flush_sends_without_waiting, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
