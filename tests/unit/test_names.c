/*
 * test_names.c -- named roots on a real in-process heap: publish, lookup,
 * unpublish, duplicates, unknown names, invalid names, the references they
 * hold, and release of everything at shutdown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gcclient.h"
#include "heap.h"
#include "names.h"

typedef struct fixture {
  gcd_heap heap;
  gcd_names names;
} fixture;

static int setup(void **state) {
  gcd_heap_config cfg = {.data_size = 1 << 20};
  fixture *f = calloc(1, sizeof *f);

  if (f == NULL || gcd_heap_init(&f->heap, &cfg) != 0)
    return -1;
  gcd_names_init(&f->names);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;

  gcd_names_destroy(&f->names, &f->heap);
  gcd_heap_destroy(&f->heap);
  free(f);
  return 0;
}

static uint64_t new_object(fixture *f) {
  uint64_t h;

  assert_int_equal(gcd_heap_alloc(&f->heap, 1, 16, 0, &h), 0);
  return h;
}

static uint64_t refcount(fixture *f, uint64_t h) {
  uint32_t i;

  assert_int_equal(gcd_heap_resolve(&f->heap, h, &i), 0);
  return gcd_heap_refcount(&f->heap, i);
}

static void drop(fixture *f, uint64_t h) {
  uint32_t i;

  assert_int_equal(gcd_heap_resolve(&f->heap, h, &i), 0);
  gcd_heap_decref(&f->heap, i);
}

static void test_names_publish_lookup_unpublish(void **state) {
  fixture *f = *state;
  uint64_t h = new_object(f), got = 0;

  assert_int_equal(gcd_names_publish(&f->names, &f->heap, "cache", 5, h, NULL), 0);
  assert_int_equal(refcount(f, h), 2);
  assert_int_equal(gcd_names_count(&f->names), 1);
  assert_int_equal(gcd_names_lookup(&f->names, "cache", 5, &got), 0);
  assert_int_equal(got, h);
  assert_int_equal(refcount(f, h), 2); /* lookup alone takes nothing */
  assert_int_equal(gcd_names_unpublish(&f->names, &f->heap, "cache", 5), 0);
  assert_int_equal(refcount(f, h), 1);
  assert_int_equal(gcd_names_lookup(&f->names, "cache", 5, &got), GC_ENOENT);
  assert_int_equal(gcd_names_count(&f->names), 0);
  drop(f, h);
}

/* The name's reference alone keeps the object: the publisher can let go. */
static void test_names_reference_keeps_object_alive(void **state) {
  fixture *f = *state;
  uint64_t h = new_object(f);
  uint32_t i;

  assert_int_equal(gcd_names_publish(&f->names, &f->heap, "root", 4, h, NULL), 0);
  drop(f, h);
  assert_int_equal(gcd_heap_resolve(&f->heap, h, &i), 0);
  assert_int_equal(gcd_names_unpublish(&f->names, &f->heap, "root", 4), 0);
  assert_int_equal(gcd_heap_resolve(&f->heap, h, &i), GC_ESTALE);
}

static void test_names_duplicate_is_eexist(void **state) {
  fixture *f = *state;
  uint64_t a = new_object(f), b = new_object(f), there = 0;

  assert_int_equal(gcd_names_publish(&f->names, &f->heap, "x", 1, a, NULL), 0);
  assert_int_equal(gcd_names_publish(&f->names, &f->heap, "x", 1, b, &there),
                   GC_EEXIST);
  assert_int_equal(there, a);
  assert_int_equal(refcount(f, b), 1); /* the failed publish took nothing */
  drop(f, a);
  drop(f, b);
}

static void test_names_unknown_is_enoent(void **state) {
  fixture *f = *state;
  uint64_t got;

  assert_int_equal(gcd_names_lookup(&f->names, "nobody", 6, &got), GC_ENOENT);
  assert_int_equal(gcd_names_unpublish(&f->names, &f->heap, "nobody", 6), GC_ENOENT);
}

static void test_names_invalid_names_are_ename(void **state) {
  fixture *f = *state;
  char longest[GC_NAME_MAX + 1];
  uint64_t h = new_object(f), got;

  memset(longest, 'n', sizeof longest);
  assert_int_equal(gcd_names_publish(&f->names, &f->heap, "", 0, h, NULL), GC_ENAME);
  assert_int_equal(gcd_names_publish(&f->names, &f->heap, "a\0b", 3, h, NULL),
                   GC_ENAME);
  assert_int_equal(gcd_names_publish(&f->names, &f->heap, longest, GC_NAME_MAX + 1,
                                     h, NULL), GC_ENAME);
  assert_int_equal(gcd_names_lookup(&f->names, longest, GC_NAME_MAX + 1, &got),
                   GC_ENAME);
  assert_int_equal(gcd_names_unpublish(&f->names, &f->heap, "", 0), GC_ENAME);
  assert_int_equal(refcount(f, h), 1);
  assert_int_equal(gcd_names_publish(&f->names, &f->heap, longest, GC_NAME_MAX, h,
                                     NULL), 0);
  assert_int_equal(gcd_names_lookup(&f->names, longest, GC_NAME_MAX, &got), 0);
  assert_int_equal(got, h);
  drop(f, h);
}

static void test_names_bad_handles_refused(void **state) {
  fixture *f = *state;
  uint64_t h = new_object(f);

  drop(f, h);
  assert_int_equal(gcd_names_publish(&f->names, &f->heap, "s", 1, h, NULL), GC_ESTALE);
  assert_int_equal(gcd_names_publish(&f->names, &f->heap, "s", 1, 0, NULL),
                   GC_EBADHANDLE);
  assert_int_equal(gcd_names_count(&f->names), 0);
}

/* Thousands of names: growth, deletion inside probe runs, exact answers. */
static void test_names_many(void **state) {
  fixture *f = *state;
  uint64_t h = new_object(f), got;
  char name[32];
  int n = 5000;

  for (int i = 0; i < n; i++) {
    int len = snprintf(name, sizeof name, "name-%d", i);
    assert_int_equal(gcd_names_publish(&f->names, &f->heap, name, (size_t)len, h,
                                       NULL), 0);
  }
  for (int i = 0; i < n; i += 2) {
    int len = snprintf(name, sizeof name, "name-%d", i);
    assert_int_equal(gcd_names_unpublish(&f->names, &f->heap, name, (size_t)len), 0);
  }
  for (int i = 0; i < n; i++) {
    int len = snprintf(name, sizeof name, "name-%d", i);
    assert_int_equal(gcd_names_lookup(&f->names, name, (size_t)len, &got),
                     i % 2 ? 0 : GC_ENOENT);
  }
  assert_int_equal(refcount(f, h), 1 + n / 2);
  drop(f, h);
}

static void test_names_destroy_releases_every_name(void **state) {
  fixture *f = *state;
  uint64_t a = new_object(f), b = new_object(f);
  gcd_heap_stats st;

  assert_int_equal(gcd_names_publish(&f->names, &f->heap, "a", 1, a, NULL), 0);
  assert_int_equal(gcd_names_publish(&f->names, &f->heap, "b", 1, b, NULL), 0);
  drop(f, a);
  drop(f, b);
  gcd_heap_stats_get(&f->heap, &st);
  assert_int_equal(st.objects, 2);
  gcd_names_destroy(&f->names, &f->heap);
  gcd_heap_stats_get(&f->heap, &st);
  assert_int_equal(st.objects, 0);
  assert_int_equal(gcd_names_count(&f->names), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_names_publish_lookup_unpublish, setup, teardown),
      cmocka_unit_test_setup_teardown(test_names_reference_keeps_object_alive, setup, teardown),
      cmocka_unit_test_setup_teardown(test_names_duplicate_is_eexist, setup, teardown),
      cmocka_unit_test_setup_teardown(test_names_unknown_is_enoent, setup, teardown),
      cmocka_unit_test_setup_teardown(test_names_invalid_names_are_ename, setup, teardown),
      cmocka_unit_test_setup_teardown(test_names_bad_handles_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_names_many, setup, teardown),
      cmocka_unit_test_setup_teardown(test_names_destroy_releases_every_name, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
