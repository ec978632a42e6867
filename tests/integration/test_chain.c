/*
 * test_chain.c -- a chain of ten million objects, built with batches, freed
 * by releasing its head: the daemon frees it without recursion (a stack of
 * that depth would overflow), stays up, and the heap verifies.
 *
 * GCD_TEST_CHAIN_LEN overrides the length (e.g. for slow sanitizer builds).
 */
#include <inttypes.h>
#include <string.h>

#include "harness.h"

#define DEFAULT_LEN 10000000ull
#define CHUNK 50000   /* objects per batch pair: well inside a 4 MiB frame */
#define WAIT_MS 120000

static uint64_t chain_len(void) {
  const char *env = getenv("GCD_TEST_CHAIN_LEN");
  uint64_t n = env && *env ? strtoull(env, NULL, 10) : DEFAULT_LEN;

  return n > 1 ? n : 2;
}

/* Runs b, asserts every op succeeded, stores alloc results in out. */
static void run_all_ok(gc_client *c, gc_batch *b, gc_handle *out) {
  assert_ok(gc_batch_run(b), c);
  for (size_t i = 0; i < gc_batch_size(b); i++) {
    int rc = gc_batch_result(b, i, out ? &out[i] : NULL);

    if (rc != 0)
      fail_msg("batch op %zu: %s: %s", i, gc_err_name(rc), gc_last_error(c));
  }
  gc_batch_reset(b);
}

/* Appends n objects: each new one points at the previous head and becomes
 * the head; the previous head's retain is dropped (its count stays 1, the
 * slot). Returns the new head, the only object this client still holds. */
static gc_handle extend(gc_client *c, gc_batch *b, gc_handle head, size_t n,
                        gc_handle *h) {
  for (size_t i = 0; i < n; i++)
    assert_ok(gc_batch_alloc(b, 1, 0, 9), c);
  run_all_ok(c, b, h);
  for (size_t i = 0; i < n; i++) {
    if (head != 0) {
      assert_ok(gc_batch_set_ref(b, h[i], 0, head), c);
      assert_ok(gc_batch_release(b, head), c);
    }
    head = h[i];
  }
  run_all_ok(c, b, NULL);
  return head;
}

/* The first links from the head: each slot names the next, counted once. */
static void check_links(gc_client *c, gc_handle head, uint64_t len) {
  gc_handle h = head, next;
  uint64_t count;

  for (uint64_t i = 0; i < len && i < 1000; i++) {
    assert_ok(gc_refcount(c, h, &count), c);
    assert_int_equal(count, 1);
    assert_ok(gc_get_ref(c, h, 0, &next), c);
    assert_true(i + 1 == len ? next == 0 : next != 0);
    h = next;
  }
}

static void test_chain_ten_million_freed_by_releasing_head(void **state) {
  uint64_t len = chain_len(), base, built = 0;
  gc_handle *h = malloc(CHUNK * sizeof *h), head = 0;
  h_daemon d = {0};
  int64_t t0, t1, t2;
  gc_client *c;
  gc_batch *b;

  /* Collections run while the chain grows; checking the whole heap after
   * each would make the test quadratic. */
  setenv("GCD_VERIFY_COLLECTIONS", "0", 1);
  h_daemon_start(&d, "--heap-size", "2G", "--max-objects", "16000000", NULL);
  c = h_connect(&d, "chain");
  assert_ok(gc_batch_new(c, &b), c);
  base = h_objects(c);
  t0 = h_now_ms();
  while (built < len) {
    size_t n = len - built < CHUNK ? (size_t)(len - built) : CHUNK;

    head = extend(c, b, head, n, h);
    built += n;
  }
  t1 = h_now_ms();
  assert_int_equal(h_objects(c), base + len);
  check_links(c, head, len);

  assert_ok(gc_release(c, head), c);
  t2 = h_now_ms();
  assert_int_equal(h_objects(c), base);
  assert_gc(gc_describe(c, head, NULL, NULL, NULL), GC_ESTALE, c);
  print_message("chain of %" PRIu64 ": built in %" PRId64 " ms, freed in %" PRId64 " ms\n",
                len, t1 - t0, t2 - t1);

  gc_batch_free(b);
  free(h);
  gc_close(c);
  h_verify(&d);
  h_daemon_stop(&d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_chain_ten_million_freed_by_releasing_head),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
