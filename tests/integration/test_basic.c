/*
 * test_basic.c -- the client API against a real daemon, one client: alloc,
 * retain/release, slots, payloads, describe, info, names, batches, and
 * freeing cascades. Each test ends with the heap verifier.
 */
#include <string.h>

#include "gcd_layout.h"
#include "harness.h"

typedef struct fixture {
  h_daemon d;
  gc_client *c;
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);

  f->c = h_open(&f->d, "64M", "test_basic");
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;

  h_close(&f->d, f->c);
  free(f);
  return 0;
}

static gc_handle alloc_ok(gc_client *c, uint32_t nslots, uint64_t nbytes, uint32_t type) {
  gc_handle h = 0;

  assert_ok(gc_alloc(c, nslots, nbytes, type, &h), c);
  assert_true(h != 0);
  return h;
}

static uint64_t refcount_of(gc_client *c, gc_handle h) {
  uint64_t n = 0;

  assert_ok(gc_refcount(c, h, &n), c);
  return n;
}

static void test_basic_alloc_describe_and_payload(void **state) {
  fixture *f = *state;
  gc_handle h = alloc_ok(f->c, 3, 100, 42);
  uint32_t type = 0, nslots = 0;
  uint64_t nbytes = 0;
  unsigned char *p, zero[100] = {0};

  assert_ok(gc_describe(f->c, h, &type, &nslots, &nbytes), f->c);
  assert_int_equal(type, 42);
  assert_int_equal(nslots, 3);
  assert_int_equal(nbytes, 100);
  assert_int_equal(refcount_of(f->c, h), 1);
  assert_string_equal(gc_last_error(f->c), "");

  p = gc_data(f->c, h, &nbytes);
  assert_non_null(p);
  assert_int_equal(nbytes, 100);
  assert_memory_equal(p, zero, sizeof zero); /* new payloads are zeroed */
  memset(p, 0xab, 100);

  /* A second connection maps the same bytes. */
  gc_client *c2 = h_connect(&f->d, "reader");
  unsigned char *q = gc_data(c2, h, NULL);
  assert_non_null(q);
  assert_int_equal(q[0], 0xab);
  assert_int_equal(q[99], 0xab);
  gc_close(c2);

  assert_ok(gc_release(f->c, h), f->c);
}

static void test_basic_slots_only_object_has_no_payload(void **state) {
  fixture *f = *state;
  gc_handle h = alloc_ok(f->c, 1, 0, 1);
  uint64_t nbytes = 99;

  assert_null(gc_data(f->c, h, &nbytes));
  assert_int_equal(nbytes, 0);
  assert_true(strlen(gc_last_error(f->c)) > 0);
  assert_ok(gc_release(f->c, h), f->c);
}

static void test_basic_retain_release_refcount(void **state) {
  fixture *f = *state;
  gc_handle h = alloc_ok(f->c, 0, 16, 0);

  assert_ok(gc_retain(f->c, h), f->c);
  assert_int_equal(refcount_of(f->c, h), 2);
  assert_ok(gc_release(f->c, h), f->c);
  assert_int_equal(refcount_of(f->c, h), 1);
  assert_ok(gc_release(f->c, h), f->c);

  /* Freed: every use of the handle is answered, locally and remotely. */
  assert_gc(gc_describe(f->c, h, NULL, NULL, NULL), GC_ESTALE, f->c);
  assert_non_null(strstr(gc_last_error(f->c), "stale"));
  assert_null(gc_data(f->c, h, NULL));
  assert_gc(gc_release(f->c, h), GC_ESTALE, f->c);
  assert_gc(gc_refcount(f->c, h, NULL), GC_ESTALE, f->c);
  assert_true(strlen(gc_last_error(f->c)) > 0);
}

static void test_basic_set_ref_get_ref(void **state) {
  fixture *f = *state;
  gc_handle parent = alloc_ok(f->c, 2, 0, 1);
  gc_handle child = alloc_ok(f->c, 0, 8, 2);
  gc_handle got = 1;

  assert_ok(gc_get_ref(f->c, parent, 0, &got), f->c);
  assert_int_equal(got, 0); /* slots start null */
  assert_ok(gc_set_ref(f->c, parent, 0, child), f->c);
  assert_int_equal(refcount_of(f->c, child), 2);
  assert_ok(gc_get_ref(f->c, parent, 0, &got), f->c);
  assert_int_equal(got, child);
  assert_ok(gc_get_ref(f->c, parent, 1, &got), f->c);
  assert_int_equal(got, 0);

  assert_gc(gc_get_ref(f->c, parent, 2, &got), GC_ERANGE, f->c);
  assert_non_null(strstr(gc_last_error(f->c), "2"));
  assert_gc(gc_set_ref(f->c, parent, 2, child), GC_ERANGE, f->c);

  /* Storing the same target twice counts once; clearing drops it. */
  assert_ok(gc_set_ref(f->c, parent, 0, child), f->c);
  assert_int_equal(refcount_of(f->c, child), 2);
  assert_ok(gc_set_ref(f->c, parent, 0, 0), f->c);
  assert_int_equal(refcount_of(f->c, child), 1);

  assert_ok(gc_release(f->c, child), f->c);
  assert_ok(gc_release(f->c, parent), f->c);
}

/* parent -> {a, b}, a -> leaf, b -> leaf: releasing the parent frees all. */
static void test_basic_release_cascades_to_children(void **state) {
  fixture *f = *state;
  uint64_t base = h_objects(f->c);
  gc_handle parent = alloc_ok(f->c, 2, 32, 1);
  gc_handle a = alloc_ok(f->c, 1, 0, 2), b = alloc_ok(f->c, 1, 0, 2);
  gc_handle leaf = alloc_ok(f->c, 0, 64, 3);

  assert_ok(gc_set_ref(f->c, parent, 0, a), f->c);
  assert_ok(gc_set_ref(f->c, parent, 1, b), f->c);
  assert_ok(gc_set_ref(f->c, a, 0, leaf), f->c);
  assert_ok(gc_set_ref(f->c, b, 0, leaf), f->c);
  assert_ok(gc_release(f->c, a), f->c);
  assert_ok(gc_release(f->c, b), f->c);
  assert_ok(gc_release(f->c, leaf), f->c);
  assert_int_equal(h_objects(f->c), base + 4); /* all kept by parent */
  assert_int_equal(refcount_of(f->c, leaf), 2);

  assert_ok(gc_release(f->c, parent), f->c);
  assert_int_equal(h_objects(f->c), base);
  assert_gc(gc_describe(f->c, a, NULL, NULL, NULL), GC_ESTALE, f->c);
  assert_gc(gc_describe(f->c, leaf, NULL, NULL, NULL), GC_ESTALE, f->c);
  assert_gc(gc_refcount(f->c, b, NULL), GC_ESTALE, f->c);
}

static void test_basic_info_counts(void **state) {
  fixture *f = *state;
  gc_heap_info before, after;
  gc_handle h;

  assert_ok(gc_info(f->c, &before), f->c);
  assert_true(before.bytes_total >= 64u << 20);
  assert_true(before.clients >= 1);
  h = alloc_ok(f->c, 0, 4096, 0);
  assert_ok(gc_info(f->c, &after), f->c);
  assert_int_equal(after.objects, before.objects + 1);
  assert_true(after.bytes_used >= before.bytes_used + 4096);
  assert_ok(gc_release(f->c, h), f->c);
}

static void test_basic_publish_lookup_unpublish(void **state) {
  fixture *f = *state;
  gc_handle h = alloc_ok(f->c, 0, 8, 0), got = 0;

  assert_ok(gc_publish(f->c, "basic/root", h), f->c);
  assert_int_equal(refcount_of(f->c, h), 2);
  assert_ok(gc_lookup(f->c, "basic/root", &got), f->c);
  assert_int_equal(got, h);
  assert_int_equal(refcount_of(f->c, h), 3); /* lookup retains */
  assert_ok(gc_release(f->c, h), f->c);
  assert_ok(gc_release(f->c, h), f->c);
  assert_int_equal(refcount_of(f->c, h), 1); /* the name keeps it */
  assert_ok(gc_unpublish(f->c, "basic/root"), f->c);
  assert_gc(gc_describe(f->c, h, NULL, NULL, NULL), GC_ESTALE, f->c);
  assert_gc(gc_lookup(f->c, "", &got), GC_ENAME, f->c);
}

static void test_basic_batch_results_per_op(void **state) {
  fixture *f = *state;
  gc_batch *b = NULL;
  uint64_t parent = 0, child = 0, v = 0;

  assert_ok(gc_batch_new(f->c, &b), f->c);
  assert_ok(gc_batch_alloc(b, 1, 0, 10), f->c);
  assert_ok(gc_batch_alloc(b, 0, 24, 11), f->c);
  assert_ok(gc_batch_alloc(b, 0, 0, 12), f->c);         /* fails: GC_EINVAL */
  assert_ok(gc_batch_release(b, gcd_handle_make(5, 77)), f->c); /* unknown */
  assert_int_equal(gc_batch_size(b), 4);
  assert_ok(gc_batch_run(b), f->c);
  /* the first failure's message, with its place in the batch */
  assert_non_null(strstr(gc_last_error(f->c), "operation 2: "));
  assert_int_equal(gc_batch_result(b, 0, &parent), 0);
  assert_int_equal(gc_batch_result(b, 1, &child), 0);
  assert_true(parent != 0 && child != 0 && parent != child);
  assert_int_equal(gc_batch_result(b, 2, &v), GC_EINVAL);
  assert_int_equal(gc_batch_result(b, 3, NULL), GC_EBADHANDLE);
  assert_int_equal(gc_batch_result(b, 4, NULL), GC_EINVAL); /* no such op */
  assert_true(strlen(gc_last_error(f->c)) > 0);

  /* Reuse: link, then release both; the later ops see the earlier ones. */
  gc_batch_reset(b);
  assert_int_equal(gc_batch_size(b), 0);
  assert_int_equal(gc_batch_result(b, 0, NULL), GC_EINVAL);
  assert_ok(gc_batch_set_ref(b, parent, 0, child), f->c);
  assert_ok(gc_batch_retain(b, child), f->c);
  assert_ok(gc_batch_release(b, child), f->c);
  assert_ok(gc_batch_release(b, child), f->c);
  assert_ok(gc_batch_release(b, child), f->c);         /* fails: not held */
  assert_ok(gc_batch_run(b), f->c);
  for (size_t i = 0; i < 4; i++)
    assert_int_equal(gc_batch_result(b, i, NULL), 0);
  assert_int_equal(gc_batch_result(b, 4, NULL), GC_ENOTHELD);
  assert_int_equal(refcount_of(f->c, child), 1); /* the slot only */

  gc_batch_reset(b);
  assert_ok(gc_batch_release(b, parent), f->c);
  assert_ok(gc_batch_run(b), f->c);
  assert_int_equal(gc_batch_result(b, 0, NULL), 0);
  assert_gc(gc_describe(f->c, child, NULL, NULL, NULL), GC_ESTALE, f->c);
  gc_batch_free(b);
}

/* Handles nobody handed out are answered with errors, never a crash. */
static void test_basic_forged_handles_are_refused(void **state) {
  fixture *f = *state;
  const gc_handle forged[] = {0, 1, gcd_handle_make(0, 1),
                              gcd_handle_make(0xffffffffu, 1),
                              gcd_handle_make(1, 0xfffffff0u), UINT64_MAX};
  gc_handle out;

  for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
    assert_gc(gc_describe(f->c, forged[i], NULL, NULL, NULL), GC_EBADHANDLE, f->c);
    assert_gc(gc_get_ref(f->c, forged[i], 0, &out), GC_EBADHANDLE, f->c);
    assert_null(gc_data(f->c, forged[i], NULL));
    assert_gc(gc_retain(f->c, forged[i]), GC_EBADHANDLE, f->c);
    assert_true(strlen(gc_last_error(f->c)) > 0);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_basic_alloc_describe_and_payload, setup, teardown),
      cmocka_unit_test_setup_teardown(test_basic_slots_only_object_has_no_payload, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_basic_retain_release_refcount, setup, teardown),
      cmocka_unit_test_setup_teardown(test_basic_set_ref_get_ref, setup, teardown),
      cmocka_unit_test_setup_teardown(test_basic_release_cascades_to_children, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_basic_info_counts, setup, teardown),
      cmocka_unit_test_setup_teardown(test_basic_publish_lookup_unpublish, setup, teardown),
      cmocka_unit_test_setup_teardown(test_basic_batch_results_per_op, setup, teardown),
      cmocka_unit_test_setup_teardown(test_basic_forged_handles_are_refused, setup, teardown),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
