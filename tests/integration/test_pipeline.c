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

/* This connection's requests and ops as the daemon counts them. */
static void own_counts(gc_client *c, uint64_t *requests, uint64_t *ops) {
  gc_client_info ci[4];
  size_t n = 0;

  assert_ok(gc_clients(c, ci, 4, &n), c);
  assert_int_equal(n, 1);
  *requests = ci[0].requests;
  *ops = ci[0].ops;
}

/* Every rc[0..n) is 0 and h's count is count; then count one-way releases
 * free h, and the heap is empty. */
static void all_ok_then_drop(fixture *f, const int *rc, int n, gc_handle h, uint64_t count) {
  uint64_t got = 0;

  for (int i = 0; i < n; i++)
    assert_int_equal(rc[i], 0);
  assert_ok(gc_refcount(f->c, h, &got), f->c);
  assert_int_equal(got, count);
  for (uint64_t i = 0; i < count; i++)
    assert_ok(gc_release_async(f->c, h, NULL), f->c);
  assert_ok(gc_sync(f->c), f->c);
  assert_int_equal(h_objects(f->c), 0);
}

/* The async ops gathered before a send share one request frame: 64
 * answered retains at depth 64 are one request to the daemon, and each
 * still gets its own result. (The counts include the gc_clients() call
 * that reads them: one request, one op.) */
static void test_pipeline_ops_share_a_frame(void **state) {
  fixture *f = *state;
  enum { N = 64 };
  uint64_t r0, o0, r1, o1;
  gc_handle h = 0;
  int rc[N];

  assert_ok(gc_alloc(f->c, 0, 8, 1, &h), f->c);
  own_counts(f->c, &r0, &o0);
  for (int i = 0; i < N; i++) {
    rc[i] = 99;
    assert_ok(gc_retain_async(f->c, h, &rc[i]), f->c);
  }
  assert_int_equal(gc_inflight(f->c), N);
  assert_ok(gc_sync(f->c), f->c);
  own_counts(f->c, &r1, &o1);
  assert_int_equal(r1 - r0, 2);
  assert_int_equal(o1 - o0, N + 1);
  all_ok_then_drop(f, rc, N, h, N + 1);
}

/* One failing op of a gathered one-way frame: the ops after it in the same
 * frame still run, and the deferred error names the op's place. */
static void test_pipeline_oneway_failure_inside_a_frame(void **state) {
  fixture *f = *state;
  gc_handle h = 0;
  uint64_t n = 0;

  assert_ok(gc_alloc(f->c, 0, 8, 1, &h), f->c);
  assert_ok(gc_retain_async(f->c, h, NULL), f->c);
  assert_ok(gc_release_async(f->c, 0x12345, NULL), f->c);
  assert_ok(gc_retain_async(f->c, h, NULL), f->c);
  assert_true(gc_sync(f->c) < 0);
  assert_non_null(strstr(gc_last_error(f->c), "(operation 1 of 3)"));
  assert_non_null(strstr(gc_last_error(f->c), "release: handle 0x0000000000012345"));
  assert_ok(gc_refcount(f->c, h, &n), f->c);
  assert_int_equal(n, 3);
  for (int i = 0; i < 3; i++)
    assert_ok(gc_release(f->c, h), f->c);
  assert_int_equal(h_objects(f->c), 0);
}

/* Answered and one-way ops in turn: each change of kind starts a frame, and
 * the effects still follow the order of the calls. */
static void test_pipeline_kinds_alternate_in_order(void **state) {
  fixture *f = *state;
  enum { N = 500 };
  gc_handle h = 0;
  int rc[N];

  assert_ok(gc_alloc(f->c, 0, 8, 1, &h), f->c);
  for (int i = 0; i < N; i++) {
    assert_ok(gc_retain_async(f->c, h, &rc[i]), f->c);
    assert_ok(gc_release_async(f->c, h, NULL), f->c);
    assert_ok(gc_retain_async(f->c, h, NULL), f->c);
  }
  assert_ok(gc_sync(f->c), f->c);
  all_ok_then_drop(f, rc, N, h, N + 1);
}

/* A daemon with the smallest frame limit: a full window of gathered ops is
 * split into frames that fit, and every op is answered. */
static void test_pipeline_frames_fit_a_small_limit(void **state) {
  h_daemon d = {0};
  gc_client *c;
  enum { N = 1000 };
  static gc_handle h[N];
  static int rc[N];

  (void)state;
  h_daemon_start(&d, "--heap-size", "64M", "--max-frame", "1K", NULL);
  c = h_connect(&d, "small-frames");
  assert_ok(gc_set_option(c, GC_OPT_PIPELINE_DEPTH, GC_PIPELINE_MAX), c);
  for (int i = 0; i < N; i++)
    assert_ok(gc_set_ref_async(c, 0, 0, 0, NULL), c); /* quiet, each fails */
  for (int i = 0; i < N; i++)
    assert_ok(gc_alloc_async(c, 3, UINT64_C(1) << 40, 0xffffffffu, &h[i], &rc[i]), c);
  assert_int_equal(gc_sync(c), GC_EBADHANDLE); /* the first set_ref's */
  for (int i = 0; i < N; i++)
    assert_int_equal(rc[i], GC_ETOOBIG);
  for (int i = 0; i < N; i++)
    assert_ok(gc_alloc_async(c, 3, 8, 0xffffffffu, &h[i], &rc[i]), c);
  assert_ok(gc_sync(c), c);
  for (int i = 0; i < N; i++) {
    assert_int_equal(rc[i], 0);
    assert_ok(gc_release_async(c, h[i], NULL), c);
  }
  assert_ok(gc_sync(c), c);
  assert_int_equal(h_objects(c), 0);
  h_close(&d, c);
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
      cmocka_unit_test_setup_teardown(test_pipeline_ops_share_a_frame, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pipeline_oneway_failure_inside_a_frame, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_pipeline_kinds_alternate_in_order, setup,
                                      teardown),
      cmocka_unit_test(test_pipeline_frames_fit_a_small_limit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
