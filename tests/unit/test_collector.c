/*
 * test_collector.c -- the cycle collector, driven step by step on an
 * in-process heap (no threads unless a test says so).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "collector.h"
#include "gcclient.h"
#include "heap.h"

typedef struct fixture {
  gcd_heap heap;
  gcd_gc gc;
  uint64_t *ext; /* external counts for the verifier, one per table entry */
} fixture;

/* A zeroed external-count array the fixture frees. */
static uint64_t *ext_new(fixture *f) {
  free(f->ext);
  f->ext = calloc(f->heap.table_cap, sizeof *f->ext);
  assert_non_null(f->ext);
  return f->ext;
}

/* The suite runs twice: full collections by the heap's inrefs where they
 * may (no subtract pass), then with every collection subtracting. */
static bool subtract_always;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  gcd_heap_config cfg = {.data_size = 16u << 20, .max_objects = 1u << 20};
  assert_int_equal(gcd_heap_init(&f->heap, &cfg), 0);
  assert_int_equal(gcd_gc_init(&f->gc, &f->heap), 0);
  f->gc.no_inref = subtract_always;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  free(f->ext);
  gcd_gc_destroy(&f->gc);
  gcd_heap_destroy(&f->heap);
  free(f);
  return 0;
}

/* The heap and the collector agree with each other and with `external`
 * (a count per index of references from outside the heap). */
static void verify(fixture *f, const uint64_t *external) {
  char msg[256] = "";
  int rc = gcd_heap_verify(&f->heap, external, msg, sizeof msg);
  if (rc != 0)
    fail_msg("heap verify: %s", msg);
  rc = gcd_gc_verify(&f->gc, msg, sizeof msg);
  if (rc != 0)
    fail_msg("collector verify: %s", msg);
}

static uint64_t obj(fixture *f, uint32_t nslots) {
  uint64_t h;
  assert_int_equal(gcd_heap_alloc(&f->heap, nslots, 8, 7, &h), 0);
  return h;
}

static uint32_t ix(fixture *f, uint64_t h) {
  uint32_t i;
  assert_int_equal(gcd_heap_resolve(&f->heap, h, &i), 0);
  return i;
}

static void link(fixture *f, uint64_t from, uint32_t slot, uint64_t to) {
  assert_int_equal(gcd_heap_set_ref(&f->heap, from, slot, to), 0);
}

static void drop(fixture *f, uint64_t h) { gcd_heap_decref(&f->heap, ix(f, h)); }

static uint64_t live(fixture *f) {
  gcd_heap_stats st;
  gcd_heap_stats_get(&f->heap, &st);
  return st.objects;
}

/* A two-object cycle nothing else holds. */
static void dropped_pair(fixture *f, uint64_t *a, uint64_t *b) {
  *a = obj(f, 1);
  *b = obj(f, 1);
  link(f, *a, 0, *b);
  link(f, *b, 0, *a);
  drop(f, *a);
  drop(f, *b);
}

/* n one-slot objects in h, each linked to the next and the last to the
 * first, nothing else holding them. */
static void dropped_ring(fixture *f, uint64_t *h, int n) {
  for (int i = 0; i < n; i++)
    h[i] = obj(f, 1);
  for (int i = 0; i < n; i++)
    link(f, h[i], 0, h[(i + 1) % n]);
  for (int i = 0; i < n; i++)
    drop(f, h[i]);
}

/* n one-slot objects in h, each linked to the one allocated before it, all
 * still held. */
static void backward_chain(fixture *f, uint64_t *h, int n) {
  for (int i = 0; i < n; i++)
    h[i] = obj(f, 1);
  for (int i = 1; i < n; i++)
    link(f, h[i], 0, h[i - 1]);
}

static gcd_gc_result collect(fixture *f, int gen) {
  gcd_gc_result r;
  gcd_gc_collect(&f->gc, gen, &r);
  return r;
}

/* The last step of a collection run step by step. */
static gcd_gc_result finish(fixture *f) {
  gcd_gc_result r;
  gcd_gc_finish(&f->gc, &r);
  return r;
}

/* Verifies heap and collector with h the one object held from outside. */
static void verify_held(fixture *f, uint64_t h) {
  uint64_t *ext = ext_new(f);
  ext[ix(f, h)] = 1;
  verify(f, ext);
}

static void assert_stale(fixture *f, uint64_t h) {
  uint32_t i;
  assert_int_equal(gcd_heap_resolve(&f->heap, h, &i), GC_ESTALE);
}

/* ---- shapes ---- */

static void test_collector_two_object_cycle_freed(void **state) {
  fixture *f = *state;
  uint64_t a, b;
  dropped_pair(f, &a, &b);
  assert_int_equal(live(f), 2); /* refcounting alone cannot free a cycle */
  gcd_gc_result r = collect(f, 2);
  assert_int_equal(r.unreachable, 2);
  assert_int_equal(live(f), 0);
  assert_stale(f, a);
  assert_stale(f, b);
  verify(f, NULL);
}

static void test_collector_self_reference_freed(void **state) {
  fixture *f = *state;
  uint64_t a = obj(f, 1);
  link(f, a, 0, a);
  drop(f, a);
  assert_int_equal(live(f), 1);
  assert_int_equal(collect(f, 0).unreachable, 1);
  assert_int_equal(live(f), 0);
  verify(f, NULL);
}

static void test_collector_ring_freed(void **state) {
  fixture *f = *state;
  enum { N = 10000 };
  uint64_t *h = malloc(N * sizeof *h);
  dropped_ring(f, h, N);
  assert_int_equal(live(f), N);
  gcd_gc_result r = collect(f, 2);
  assert_int_equal(r.examined, N);
  assert_int_equal(r.unreachable, N);
  assert_int_equal(live(f), 0);
  verify(f, NULL);
  free(h);
}

/* The mark walks the set once, in allocation order: c and a come before b,
 * the only one held from outside, so both are first found unreachable and
 * must be revived when b is reached (CPython's move_unreachable). */
static void test_collector_back_edges_revive_what_they_reach(void **state) {
  fixture *f = *state;
  uint64_t c = obj(f, 1), a = obj(f, 1), b = obj(f, 1);
  link(f, a, 0, c);
  link(f, b, 0, a);
  drop(f, c);
  drop(f, a);
  gcd_gc_result r = collect(f, 2);
  assert_int_equal(r.unreachable, 0);
  assert_int_equal(live(f), 3);
  verify_held(f, b);
}

/* A chain pointing backwards: every object but the last is revived. */
static void test_collector_long_backward_chain_survives(void **state) {
  fixture *f = *state;
  enum { N = 5000 };
  uint64_t *h = malloc(N * sizeof *h);
  backward_chain(f, h, N);
  link(f, h[0], 0, h[N - 1]); /* and a cycle through all of them */
  for (int i = 0; i < N - 1; i++)
    drop(f, h[i]);
  assert_int_equal(collect(f, 2).unreachable, 0);
  assert_int_equal(live(f), N);
  drop(f, h[N - 1]);
  assert_int_equal(collect(f, 2).unreachable, N);
  assert_int_equal(live(f), 0);
  verify(f, NULL);
  free(h);
}

/* A long stretch of garbage first (the mark's light look-ahead), then a
 * backward chain held at its end: every member of the chain is revived and
 * appended to the walk while the look-ahead switches back to full. */
static void test_collector_chain_after_garbage_survives(void **state) {
  fixture *f = *state;
  enum { G = 3000, N = 2000 };
  uint64_t *g = malloc(G * sizeof *g), *h = malloc(N * sizeof *h);
  dropped_ring(f, g, G);
  backward_chain(f, h, N);
  for (int i = 0; i < N - 1; i++)
    drop(f, h[i]);
  gcd_gc_result r = collect(f, 2);
  assert_int_equal(r.examined, G + N);
  assert_int_equal(r.unreachable, G);
  assert_int_equal(live(f), N);
  for (int i = 0; i < N; i++)
    assert_int_equal(gcd_heap_refcount(&f->heap, ix(f, h[i])), 1);
  uint64_t *ext = ext_new(f);
  ext[ix(f, h[N - 1])] = 1;
  verify(f, ext);
  free(g);
  free(h);
}

/* A count far beyond what slots could explain is a root, not an overflow
 * into the mark bits. */
static void test_collector_huge_count_is_a_root(void **state) {
  fixture *f = *state;
  uint64_t a, b;
  dropped_pair(f, &a, &b);
  _Atomic uint64_t *rc = &f->heap.table[ix(f, a)].refcount, *own = &f->heap.counts[ix(f, a)];
  atomic_fetch_add(rc, UINT64_C(1) << 40);
  atomic_fetch_add(own, UINT64_C(1) << 40);
  assert_int_equal(collect(f, 2).unreachable, 0);
  assert_int_equal(live(f), 2);
  atomic_fetch_sub(rc, UINT64_C(1) << 40);
  atomic_fetch_sub(own, UINT64_C(1) << 40);
  assert_int_equal(collect(f, 2).unreachable, 2);
  assert_int_equal(live(f), 0);
}

/* When the stamps wrap, no entry keeps an old stamp that the new ones will
 * repeat: r, frozen after a collection stamped it 1, must not pass for a
 * member of the collection stamped 1 again. */
static void test_collector_stamp_wrap_forgets_old_members(void **state) {
  fixture *f = *state;
  uint64_t r = obj(f, 1);
  collect(f, 2);
  assert_int_equal(f->gc.stamp, 1);
  gcd_gc_freeze(&f->gc);
  f->gc.stamp = GCD_GC_STAMP_MAX;
  uint64_t a = obj(f, 2), b = obj(f, 1);
  link(f, a, 0, b);
  link(f, b, 0, a);
  link(f, a, 1, r);
  drop(f, a);
  drop(f, b);
  gcd_gc_begin(&f->gc, 2);
  assert_int_equal(f->gc.stamp, 1);
  gcd_gc_update_refs(&f->gc); /* clears the words first */
  uint64_t w = atomic_load(&f->gc.word[ix(f, r)]);
  assert_int_not_equal((uint32_t)(w >> 24), 1);
  gcd_gc_subtract_refs(&f->gc);
  gcd_gc_mark(&f->gc);
  gcd_gc_result res = finish(f);
  assert_int_equal(res.unreachable, 2);
  assert_int_equal(live(f), 1);
  verify_held(f, r);
}

/* A count too large for a 4-byte scan word keeps gc_refs in wide[] (the
 * threshold lowered to 3 here): exact, so a hub referenced only from
 * garbage is garbage, and one that a client also holds survives. */
static void test_collector_wide_counts_stay_exact(void **state) {
  fixture *f = *state;
  f->gc.no_inref = true; /* wide[] is the subtract's */
  f->gc.wide_from = 3;
  uint64_t hub = obj(f, 1), held = obj(f, 1), r[3];
  for (int i = 0; i < 3; i++) { /* each r[i] holds itself, the hub and held */
    r[i] = obj(f, 3);
    link(f, r[i], 0, hub);
    link(f, r[i], 1, held);
    link(f, r[i], 2, r[i]);
  }
  link(f, hub, 0, r[0]);
  drop(f, hub);
  for (int i = 0; i < 3; i++)
    drop(f, r[i]);
  gcd_gc_begin(&f->gc, 2);
  gcd_gc_update_refs(&f->gc);
  assert_int_equal(f->gc.nwide, 2); /* hub (count 3), held (count 4) */
  gcd_gc_subtract_refs(&f->gc);
  gcd_gc_mark(&f->gc);
  gcd_gc_result res = finish(f);
  assert_int_equal(res.unreachable, 4); /* hub and r[0..2] */
  assert_stale(f, hub);
  assert_int_equal(gcd_heap_refcount(&f->heap, ix(f, held)), 1);
  verify_held(f, held);
}

/* Where wide[] cannot grow, a member with a large count is kept as if
 * referenced from outside: a leak for one collection, never a wrong
 * free; the next collection that can count it frees it. */
static void test_collector_wide_overflow_keeps_the_member(void **state) {
  fixture *f = *state;
  f->gc.no_inref = true;
  f->gc.wide_from = 2;
  f->gc.wide_max = 0;
  uint64_t hub = obj(f, 1), r[2];
  for (int i = 0; i < 2; i++) { /* each r[i] holds itself and the hub */
    r[i] = obj(f, 2);
    link(f, r[i], 0, hub);
    link(f, r[i], 1, r[i]);
  }
  link(f, hub, 0, r[0]);
  drop(f, hub);
  drop(f, r[0]);
  drop(f, r[1]);
  gcd_gc_result res = collect(f, 2);
  assert_true(f->gc.wide_root);
  /* hub (count 2) and r[0] (count 2) are kept; r[1] is not counted wide
   * and nothing kept reaches it */
  assert_int_equal(res.unreachable, 1);
  assert_int_equal(live(f), 2);
  f->gc.wide_max = 64;
  assert_int_equal(collect(f, 2).unreachable, 2);
  assert_false(f->gc.wide_root);
  assert_int_equal(live(f), 0);
}

/* gc_refs is 22 bits plus a bias; references the loop thread adds between
 * the update and the subtract can take it below the field's floor. The
 * subtract stops there instead of borrowing from the stamp (which would
 * make the member a stranger to its own collection). Set the word to the
 * floor as 2^21 such additions would have. */
static void test_collector_subtract_stops_at_the_floor(void **state) {
  fixture *f = *state;
  uint64_t a, b;
  dropped_pair(f, &a, &b);
  gcd_gc_begin(&f->gc, 2);
  gcd_gc_update_refs(&f->gc);
  uint32_t floor = f->gc.stamp << 24; /* gc_refs + bias = 0 */
  atomic_store(&f->gc.word[ix(f, a)], floor);
  gcd_gc_subtract_refs(&f->gc); /* b's reference to a */
  assert_int_equal(atomic_load(&f->gc.word[ix(f, a)]), floor);
  gcd_gc_mark(&f->gc);
  gcd_gc_result res = finish(f);
  assert_int_equal(res.unreachable, 2);
  verify(f, ext_new(f));
}

static void test_collector_cycle_held_by_retain_survives(void **state) {
  fixture *f = *state;
  uint64_t a = obj(f, 1), b = obj(f, 1);
  link(f, a, 0, b);
  link(f, b, 0, a);
  drop(f, b); /* a keeps the caller's retain */
  gcd_gc_result r = collect(f, 2);
  assert_int_equal(r.unreachable, 0);
  assert_int_equal(r.survivors, 2);
  assert_int_equal(live(f), 2);
  verify_held(f, a);
  drop(f, a);
  assert_int_equal(collect(f, 2).unreachable, 2);
  assert_int_equal(live(f), 0);
}

static void test_collector_cycle_reachable_from_cycle_root_survives(void **state) {
  fixture *f = *state;
  /* root -> (c1 <-> c2): the inner cycle is reachable from a retained root */
  uint64_t root = obj(f, 1), c1 = obj(f, 1), c2 = obj(f, 1);
  link(f, root, 0, c1);
  link(f, c1, 0, c2);
  link(f, c2, 0, c1);
  drop(f, c1);
  drop(f, c2);
  assert_int_equal(collect(f, 2).unreachable, 0);
  assert_int_equal(live(f), 3);
  drop(f, root); /* root freed by refcount; the cycle becomes garbage */
  assert_int_equal(live(f), 2);
  assert_int_equal(collect(f, 2).unreachable, 2);
  assert_int_equal(live(f), 0);
  verify(f, NULL);
}

static void test_collector_cycle_reachable_only_from_garbage_freed(void **state) {
  fixture *f = *state;
  /* (g1 <-> g2) -> (h1 <-> h2) -> leaf (untracked): all garbage */
  uint64_t g1 = obj(f, 2), g2 = obj(f, 1), h1 = obj(f, 2), h2 = obj(f, 1);
  uint64_t leaf = obj(f, 0);
  link(f, g1, 0, g2);
  link(f, g2, 0, g1);
  link(f, g1, 1, h1);
  link(f, h1, 0, h2);
  link(f, h2, 0, h1);
  link(f, h1, 1, leaf);
  uint64_t all[] = {g1, g2, h1, h2, leaf};
  for (int i = 0; i < 5; i++)
    drop(f, all[i]);
  assert_int_equal(live(f), 5);
  gcd_gc_result r = collect(f, 2);
  assert_int_equal(r.unreachable, 4); /* the leaf is untracked: freed by count */
  assert_int_equal(live(f), 0);
  assert_stale(f, leaf);
  verify(f, NULL);
}

/* A full collection takes gc_refs from the heap's inrefs, with no subtract
 * pass: a garbage cycle that holds a leaf and a survivor is freed, and the
 * leaf (listed by its referrer's leaf field) and the survivor (U not
 * closed) each lose exactly the cycle's reference. */
static void test_collector_full_collection_by_inrefs(void **state) {
  fixture *f = *state;
  uint64_t leaf = obj(f, 0), s = obj(f, 1), a = obj(f, 3), b = obj(f, 1);
  link(f, a, 0, b);
  link(f, b, 0, a);
  link(f, a, 1, leaf);
  link(f, a, 2, s);
  link(f, s, 0, leaf);
  drop(f, leaf);
  drop(f, a);
  drop(f, b);
  gcd_gc_begin(&f->gc, 2);
  assert_int_equal(f->gc.by_inref, !subtract_always);
  gcd_gc_scan(&f->gc);
  assert_false(f->gc.unreach_closed); /* a -> s leaves U for a survivor */
  gcd_gc_result r = finish(f);
  assert_int_equal(r.unreachable, 2);
  assert_int_equal(gcd_heap_refcount(&f->heap, ix(f, s)), 1);
  assert_int_equal(gcd_heap_refcount(&f->heap, ix(f, leaf)), 1);
  assert_stale(f, a);
  verify_held(f, s);
  /* a garbage pair holding the leaf only: U closed, the leaf released */
  uint64_t c = obj(f, 2), d = obj(f, 1);
  link(f, c, 0, d);
  link(f, d, 0, c);
  link(f, c, 1, leaf);
  drop(f, c);
  drop(f, d);
  gcd_gc_begin(&f->gc, 2);
  gcd_gc_scan(&f->gc);
  assert_true(f->gc.unreach_closed); /* s survives, held from outside */
  assert_int_equal(f->gc.nouts, 2);  /* c and s, for the leaf */
  assert_int_equal(finish(f).unreachable, 2);
  assert_int_equal(gcd_heap_refcount(&f->heap, ix(f, leaf)), 1);
  verify_held(f, s);
}

/* What a frozen object or one on the garbage list refers to counts in its
 * inref, yet neither referrer is a member: a full collection with either
 * around subtracts, and keeps what only they hold. */
static void test_collector_inrefs_unused_beside_frozen_or_garbage(void **state) {
  fixture *f = *state;
  uint64_t p = obj(f, 1), x;
  gcd_gc_freeze(&f->gc);
  x = obj(f, 1);
  link(f, p, 0, x);
  drop(f, x); /* held by frozen p alone */
  gcd_gc_begin(&f->gc, 2);
  assert_false(f->gc.by_inref);
  gcd_gc_scan(&f->gc);
  assert_int_equal(finish(f).unreachable, 0);
  verify_held(f, p);
  gcd_gc_unfreeze(&f->gc);
  link(f, p, 0, 0);
  drop(f, p);
  assert_int_equal(live(f), 0);
  /* a garbage pair saved, then given a child only it holds */
  uint64_t a, b, y;
  f->gc.debug = GCD_GC_DEBUG_SAVEALL;
  dropped_pair(f, &a, &b);
  assert_int_equal(collect(f, 2).unreachable, 2);
  f->gc.debug = 0;
  y = obj(f, 1);
  assert_int_equal(gcd_heap_set_ref(&f->heap, a, 0, y), 0); /* a's slot held b */
  drop(f, y);
  gcd_gc_begin(&f->gc, 2);
  assert_false(f->gc.by_inref);
  gcd_gc_scan(&f->gc);
  finish(f);
  assert_int_equal(gcd_heap_refcount(&f->heap, ix(f, y)), 1);
  assert_int_equal(gcd_gc_clear_garbage(&f->gc), 2);
  assert_int_equal(collect(f, 2).unreachable, 0);
  verify(f, NULL);
  /* and with the heap's inrefs lost */
  f->heap.inrefs_lost = true;
  gcd_gc_begin(&f->gc, 2);
  assert_false(f->gc.by_inref);
  finish(f);
}

static void test_collector_outside_child_released(void **state) {
  fixture *f = *state;
  /* a garbage cycle holds the only reference to an older, retained-elsewhere
   * object: collecting frees the cycle and drops that reference exactly. */
  uint64_t old = obj(f, 0), a = obj(f, 2), b = obj(f, 1);
  link(f, a, 0, b);
  link(f, b, 0, a);
  link(f, a, 1, old);
  drop(f, a);
  drop(f, b);
  uint64_t rc;
  assert_int_equal(collect(f, 2).unreachable, 2);
  rc = gcd_heap_refcount(&f->heap, ix(f, old));
  assert_int_equal(rc, 1);
  verify_held(f, old);
}

/* Freeing U reads only the slots of members that refer outside the set
 * when no reference leads from U to a survivor (U is closed). These pin the
 * decision: where it would be wrong, the survivor's count would keep the
 * reference U held, and the verifier (or the count) says so. */

static void test_collector_garbage_reference_to_survivor_released(void **state) {
  fixture *f = *state;
  /* the cycle refers to s, a member that survives: U is not closed */
  uint64_t s = obj(f, 1), a = obj(f, 2), b = obj(f, 1);
  link(f, a, 0, b);
  link(f, b, 0, a);
  link(f, a, 1, s);
  drop(f, a);
  drop(f, b);
  gcd_gc_begin(&f->gc, 2);
  gcd_gc_scan(&f->gc);
  assert_false(f->gc.unreach_closed);
  gcd_gc_result r = finish(f);
  assert_int_equal(r.unreachable, 2);
  assert_int_equal(gcd_heap_refcount(&f->heap, ix(f, s)), 1);
  verify_held(f, s);
}

static void test_collector_closed_garbage_releases_what_lies_outside(void **state) {
  fixture *f = *state;
  /* old is in an older generation, leaf untracked: both outside the young
   * set, so U is closed and a, marked OUT, releases them */
  uint64_t old = obj(f, 1);
  collect(f, 0);
  uint64_t a = obj(f, 3), b = obj(f, 1), leaf = obj(f, 0);
  link(f, a, 0, b);
  link(f, b, 0, a);
  link(f, a, 1, old);
  link(f, a, 2, leaf);
  drop(f, a);
  drop(f, b);
  drop(f, leaf);
  gcd_gc_begin(&f->gc, 0);
  gcd_gc_scan(&f->gc);
  assert_true(f->gc.unreach_closed);
  gcd_gc_result r = finish(f);
  assert_int_equal(r.unreachable, 2);
  assert_int_equal(r.freed, 3); /* a, b, and the leaf by its count */
  assert_stale(f, leaf);
  assert_int_equal(gcd_heap_refcount(&f->heap, ix(f, old)), 1);
  verify_held(f, old);
}

static void test_collector_rescue_reopens_closed_garbage(void **state) {
  fixture *f = *state;
  /* c (which refers to itself) -> (a <-> b), all garbage and closed at
   * the split; a client then retains a, so a and b are rescued and c's
   * reference now leads to a survivor, which freeing c must release */
  uint64_t a, b, c = obj(f, 2);
  dropped_pair(f, &a, &b);
  link(f, c, 0, a);
  link(f, c, 1, c);
  drop(f, c);
  gcd_gc_begin(&f->gc, 2);
  gcd_gc_scan(&f->gc);
  assert_true(f->gc.unreach_closed);
  gcd_heap_incref(&f->heap, ix(f, a));
  gcd_gc_result r = finish(f);
  assert_int_equal(r.rescued, 2);
  assert_int_equal(r.unreachable, 1);
  assert_stale(f, c);
  assert_int_equal(gcd_heap_refcount(&f->heap, ix(f, a)), 2); /* b and the retain */
  verify_held(f, a);
}

/* A full collection that frees more than survives retags the survivors
 * and gives up the range of tags U's entries keep: those entries, free
 * now, must never count as members again, and the survivors are gen 2. */
static void test_collector_full_collection_retags_survivors(void **state) {
  fixture *f = *state;
  uint64_t a, b, c, d, s = obj(f, 1);
  dropped_pair(f, &a, &b);
  dropped_pair(f, &c, &d);
  gcd_gc_begin(&f->gc, 2);
  gcd_gc_scan(&f->gc);
  assert_true(f->gc.retag);
  gcd_gc_result r = finish(f);
  assert_int_equal(r.unreachable, 4);
  assert_int_equal(gcd_gc_generation(&f->gc, ix(f, s)), 2);
  assert_int_equal(collect(f, 2).examined, 1); /* the freed four are not members */
  uint64_t e = obj(f, 1); /* reuses a freed entry */
  assert_int_equal(gcd_gc_generation(&f->gc, ix(f, e)), 0);
  assert_int_equal(collect(f, 0).examined, 1);
  assert_int_equal(collect(f, 2).examined, 2);
  uint64_t *ext = ext_new(f);
  ext[ix(f, s)] = ext[ix(f, e)] = 1;
  verify(f, ext);
}

static void test_collector_mostly_surviving_full_collection_untags_garbage(void **state) {
  fixture *f = *state;
  uint64_t a, b, h[3];
  for (int i = 0; i < 3; i++)
    h[i] = obj(f, 1);
  dropped_pair(f, &a, &b);
  gcd_gc_begin(&f->gc, 2);
  gcd_gc_scan(&f->gc);
  assert_false(f->gc.retag); /* three survive, two are freed */
  gcd_gc_result r = finish(f);
  assert_int_equal(r.unreachable, 2);
  assert_int_equal(collect(f, 2).examined, 3);
  uint64_t *ext = ext_new(f);
  for (int i = 0; i < 3; i++)
    ext[ix(f, h[i])] = 1;
  verify(f, ext);
}

/* Epochs start over before they reach the reserved tags: every tracked
 * object keeps its generation, and a freed entry's stale tag does not
 * come back as a member. */
static void test_collector_epochs_start_over(void **state) {
  fixture *f = *state;
  uint64_t frozen = obj(f, 1);
  gcd_gc_freeze(&f->gc);
  uint64_t old = obj(f, 1);
  collect(f, 1); /* old: generation 2 */
  uint64_t mid = obj(f, 1);
  collect(f, 0); /* mid: generation 1 */
  uint64_t a, b;
  dropped_pair(f, &a, &b);
  collect(f, 2); /* frees the pair, retagging old and mid */
  uint64_t young = obj(f, 1);
  collect(f, 0); /* young: generation 1 */
  uint64_t fresh = obj(f, 1);
  assert_int_equal(gcd_gc_generation(&f->gc, ix(f, mid)), 2);
  f->gc.epoch = GCD_GC_EPOCH_MAX; /* as after ~2^31 collections */
  gcd_gc_begin(&f->gc, 0);
  assert_true(f->gc.epoch < 16);
  gcd_gc_scan(&f->gc);
  gcd_gc_result r = finish(f);
  assert_int_equal(r.examined, 1); /* fresh only */
  assert_int_equal(gcd_gc_generation(&f->gc, ix(f, frozen)), GCD_GC_PERMANENT);
  assert_int_equal(gcd_gc_generation(&f->gc, ix(f, old)), 2);
  assert_int_equal(gcd_gc_generation(&f->gc, ix(f, mid)), 2);
  assert_int_equal(gcd_gc_generation(&f->gc, ix(f, young)), 1);
  assert_int_equal(gcd_gc_generation(&f->gc, ix(f, fresh)), 1);
  assert_int_equal(collect(f, 1).examined, 2);
  assert_int_equal(collect(f, 2).examined, 4); /* all but the frozen one; not a or b */
  gcd_gc_unfreeze(&f->gc);
  assert_int_equal(gcd_gc_generation(&f->gc, ix(f, frozen)), 2);
  assert_int_equal(collect(f, 2).examined, 5);
  uint64_t *ext = ext_new(f);
  uint64_t held[] = {frozen, old, mid, young, fresh};
  for (int i = 0; i < 5; i++)
    ext[ix(f, held[i])] = 1;
  verify(f, ext);
}

/* The mark readies the page of shared state of every object it finds
 * unreachable, once per page, for the frees under the lock; and leaves
 * the states as they were. */
static void test_collector_mark_warms_states_to_be_freed(void **state) {
  fixture *f = *state;
  enum { N = 3000, K = 1024 }; /* about six pages of states, then two */
  uint64_t *h = malloc(N * sizeof *h), *keep = malloc(K * sizeof *keep);
  dropped_ring(f, h, N);
  for (int i = 0; i < K; i++)
    keep[i] = obj(f, 1);
  uint32_t flags = gcd_heap_flags(&f->heap, ix(f, h[0]));
  gcd_gc_begin(&f->gc, 2);
  gcd_gc_scan(&f->gc);
  for (int i = 0; i < N; i++) {
    uint32_t x = ix(f, h[i]); /* the handle still resolves: gen unchanged */
    assert_int_equal(f->gc.warmed[gcd_heap_state_page(&f->heap, x)], f->gc.stamp);
    assert_int_equal(gcd_heap_flags(&f->heap, x), flags);
  }
  assert_int_not_equal(f->gc.warmed[gcd_heap_state_page(&f->heap, ix(f, keep[K - 1]))],
                       f->gc.stamp); /* a page of survivors only */
  gcd_gc_result r = finish(f);
  assert_int_equal(r.unreachable, N);
  uint64_t *ext = ext_new(f);
  for (int i = 0; i < K; i++)
    ext[ix(f, keep[i])] = 1;
  verify(f, ext);
  free(h);
  free(keep);
}

/* ---- generations and policy ---- */

static void test_collector_survivors_promoted(void **state) {
  fixture *f = *state;
  uint64_t a = obj(f, 1);
  assert_int_equal(gcd_gc_generation(&f->gc, ix(f, a)), 0);
  collect(f, 0);
  assert_int_equal(gcd_gc_generation(&f->gc, ix(f, a)), 1);
  uint64_t b = obj(f, 1);
  assert_int_equal(gcd_gc_generation(&f->gc, ix(f, b)), 0);
  collect(f, 1);
  assert_int_equal(gcd_gc_generation(&f->gc, ix(f, a)), 2);
  assert_int_equal(gcd_gc_generation(&f->gc, ix(f, b)), 2);
  collect(f, 2);
  assert_int_equal(gcd_gc_generation(&f->gc, ix(f, a)), 2);
  assert_int_equal(f->gc.count[2], 2);
  uint64_t leaf = obj(f, 0);
  assert_int_equal(gcd_gc_generation(&f->gc, ix(f, leaf)), -1); /* untracked */
}

static void test_collector_young_collection_ignores_old_garbage(void **state) {
  fixture *f = *state;
  uint64_t a = obj(f, 1), b = obj(f, 1);
  link(f, a, 0, b);
  link(f, b, 0, a);
  collect(f, 0); /* both promoted to generation 1 while retained */
  drop(f, a);
  drop(f, b);
  assert_int_equal(collect(f, 0).unreachable, 0); /* gen 1 not scanned */
  assert_int_equal(live(f), 2);
  assert_int_equal(collect(f, 1).unreachable, 2);
  assert_int_equal(live(f), 0);
}

/* A young collection in a heap of many old objects walks the generation's
 * list; a full one reads the tags of the whole table. Both must find the
 * same members: here a young cycle among 100 old objects (some garbage,
 * which only the full collection may free), in both ways. */
static void test_collector_small_and_large_sets_found_alike(void **state) {
  fixture *f = *state;
  uint64_t old[100], a, b;
  for (int i = 0; i < 100; i++)
    old[i] = obj(f, 1);
  for (int i = 0; i < 100; i += 2) {
    link(f, old[i], 0, old[i + 1]);
    link(f, old[i + 1], 0, old[i]);
  }
  collect(f, 0); /* all 100 to generation 1 */
  for (int i = 0; i < 10; i++)
    drop(f, old[i]); /* five old cycles become garbage */
  dropped_pair(f, &a, &b);
  gcd_gc_result r = collect(f, 0); /* 2 members, 102 entries: by list */
  assert_int_equal(r.examined, 2);
  assert_int_equal(r.unreachable, 2);
  assert_int_equal(live(f), 100);
  dropped_pair(f, &a, &b);
  r = collect(f, 2); /* 102 members: by tags */
  assert_int_equal(r.examined, 102);
  assert_int_equal(r.unreachable, 12);
  assert_int_equal(live(f), 90);
  uint64_t *ext = ext_new(f);
  for (int i = 10; i < 100; i++)
    ext[ix(f, old[i])] = 1;
  verify(f, ext);
}

static void test_collector_counts_like_cpython(void **state) {
  fixture *f = *state;
  for (int i = 0; i < 5; i++)
    obj(f, 1);
  obj(f, 0); /* untracked: not counted */
  assert_int_equal(f->gc.gen_count[0], 5);
  collect(f, 0);
  assert_int_equal(f->gc.gen_count[0], 0);
  assert_int_equal(f->gc.gen_count[1], 1);
  collect(f, 1);
  assert_int_equal(f->gc.gen_count[1], 0);
  assert_int_equal(f->gc.gen_count[2], 1);
  assert_int_equal(f->gc.stats[0].collections, 1);
  assert_int_equal(f->gc.stats[1].collections, 1);
}

static void test_collector_threshold_triggers(void **state) {
  fixture *f = *state;
  uint64_t t[3] = {10, 2, 2};
  gcd_gc_set_threshold(&f->gc, t);
  for (int i = 0; i < 10; i++)
    obj(f, 1);
  assert_int_equal(gcd_gc_due(&f->gc), -1); /* count must exceed threshold */
  obj(f, 1);
  assert_int_equal(gcd_gc_due(&f->gc), 0);
  f->gc.enabled = false;
  assert_int_equal(gcd_gc_due(&f->gc), -1);
  f->gc.enabled = true;
  t[0] = 0; /* like CPython: threshold 0 disables */
  gcd_gc_set_threshold(&f->gc, t);
  assert_int_equal(gcd_gc_due(&f->gc), -1);
}

static void test_collector_full_collection_waits_for_25_percent(void **state) {
  fixture *f = *state;
  uint64_t t[3] = {1, 0, 0};
  gcd_gc_set_threshold(&f->gc, t);
  for (int i = 0; i < 100; i++)
    obj(f, 1);
  collect(f, 2); /* 100 long-lived objects */
  assert_int_equal(f->gc.long_lived_total, 100);
  f->gc.gen_count[2] = 5; /* over the gen-2 threshold of 0 */
  f->gc.gen_count[1] = 0;
  f->gc.gen_count[0] = 0;
  assert_int_equal(gcd_gc_due(&f->gc), -1); /* pending 0 < 100 / 4 */
  for (int i = 0; i < 25; i++)
    obj(f, 1);
  collect(f, 1); /* 25 pending long-lived */
  f->gc.gen_count[0] = 0;
  f->gc.gen_count[1] = 0;
  f->gc.gen_count[2] = 5;
  assert_int_equal(f->gc.long_lived_pending, 25);
  assert_int_equal(gcd_gc_due(&f->gc), 2); /* 25 >= 25 */
}

/* ---- save-all and garbage ---- */

static int count_cb(uint32_t idx, void *arg) {
  (void)idx;
  ++*(int *)arg;
  return 0;
}

static void test_collector_saveall_keeps_garbage(void **state) {
  fixture *f = *state;
  f->gc.debug = GCD_GC_DEBUG_SAVEALL;
  uint64_t a, b;
  dropped_pair(f, &a, &b);
  gcd_gc_result r = collect(f, 2);
  assert_int_equal(r.unreachable, 2);
  assert_int_equal(live(f), 2); /* kept */
  assert_int_equal(f->gc.count[GCD_GC_GARBAGE], 2);
  assert_int_equal(f->gc.stats[2].uncollectable, 2);
  int n = 0;
  gcd_gc_each(&f->gc, GCD_GC_GARBAGE, 0, count_cb, &n);
  assert_int_equal(n, 2);
  assert_int_equal(gcd_gc_generation(&f->gc, ix(f, a)), GCD_GC_GARBAGE);
  uint64_t *ext = ext_new(f);
  ext[ix(f, a)] = ext[ix(f, b)] = 1; /* the garbage list's references */
  verify(f, ext);
  /* Collecting again finds nothing new: the list keeps them alive. */
  assert_int_equal(collect(f, 2).unreachable, 0);
  f->gc.debug = 0;
  assert_int_equal(gcd_gc_clear_garbage(&f->gc), 2);
  assert_int_equal(f->gc.count[GCD_GC_GARBAGE], 0);
  assert_int_equal(collect(f, 0).unreachable, 2);
  assert_int_equal(live(f), 0);
  verify(f, NULL);
}

/* ---- freeze ---- */

static void test_collector_freeze_hides_objects(void **state) {
  fixture *f = *state;
  uint64_t a = obj(f, 1), b = obj(f, 1);
  link(f, a, 0, b);
  link(f, b, 0, a);
  gcd_gc_freeze(&f->gc);
  assert_int_equal(f->gc.count[GCD_GC_PERMANENT], 2);
  assert_int_equal(gcd_gc_generation(&f->gc, ix(f, a)), GCD_GC_PERMANENT);
  drop(f, a);
  drop(f, b);
  assert_int_equal(collect(f, 2).unreachable, 0); /* never scanned */
  assert_int_equal(live(f), 2);
  uint64_t c = obj(f, 1); /* allocated after the freeze: young */
  assert_int_equal(gcd_gc_generation(&f->gc, ix(f, c)), 0);
  drop(f, c);
  gcd_gc_unfreeze(&f->gc);
  assert_int_equal(f->gc.count[GCD_GC_PERMANENT], 0);
  assert_int_equal(gcd_gc_generation(&f->gc, ix(f, a)), 2);
  assert_int_equal(collect(f, 2).unreachable, 2);
  assert_int_equal(live(f), 0);
  verify(f, NULL);
}

/* ---- concurrency protocol, stepped by hand ---- */

static void test_collector_dirty_object_rescued(void **state) {
  fixture *f = *state;
  uint64_t a, b;
  dropped_pair(f, &a, &b);
  gcd_gc_begin(&f->gc, 2);
  gcd_gc_scan(&f->gc); /* both look unreachable */
  /* Meanwhile a client retains a (e.g. it read the handle from a slot). */
  gcd_heap_incref(&f->heap, ix(f, a));
  gcd_gc_result r = finish(f);
  assert_int_equal(r.unreachable, 0);
  assert_int_equal(r.rescued, 2); /* a, and b which a reaches */
  assert_int_equal(live(f), 2);
  verify_held(f, a);
}

static void test_collector_new_reference_during_scan_rescues(void **state) {
  fixture *f = *state;
  uint64_t a, b;
  dropped_pair(f, &a, &b);
  gcd_gc_begin(&f->gc, 2);
  uint64_t holder = obj(f, 1); /* allocated during the collection */
  gcd_gc_scan(&f->gc);
  link(f, holder, 0, b); /* b gains a referrer the scan did not see */
  gcd_gc_result r = finish(f);
  assert_int_equal(r.unreachable, 0);
  assert_int_equal(live(f), 3);
  assert_int_equal(gcd_gc_generation(&f->gc, ix(f, holder)), 0);
  verify_held(f, holder);
}

/* References added between reading the counts and subtracting make a
 * gc_refs negative. Such an object (a, dirty) is no root and stays in the
 * unreachable set until the rescue, which takes it and everything it
 * reaches, here b, which is clean: b must survive. */
static void test_collector_negative_gc_refs_rescue_what_they_reach(void **state) {
  fixture *f = *state;
  uint64_t a = obj(f, 1), b = obj(f, 1), c = obj(f, 2), d = obj(f, 2);
  link(f, a, 0, b);
  drop(f, b);                 /* b: only a refers to it */
  link(f, c, 0, d);
  link(f, d, 0, c);
  drop(f, c);
  drop(f, d);                 /* c <-> d: garbage; a: retained */
  gcd_gc_begin(&f->gc, 2);
  gcd_gc_update_refs(&f->gc); /* a read as 1 */
  link(f, c, 1, a);
  link(f, d, 1, a);           /* a: 3 now, 2 of them from inside the set */
  gcd_gc_subtract_refs(&f->gc);
  gcd_gc_mark(&f->gc);
  gcd_gc_result r = finish(f);
  assert_int_equal(r.unreachable, 0);
  assert_int_equal(live(f), 4);
  verify_held(f, a);
  link(f, c, 1, 0);           /* c <-> d garbage again, a and b retained */
  link(f, d, 1, 0);
  assert_int_equal(collect(f, 2).unreachable, 2);
  assert_int_equal(live(f), 2);
}

/* An entry freed and reused over and over during one collection is listed
 * as touched once, so touched[] (one place per entry) never overflows. */
static void test_collector_reused_entry_touched_once(void **state) {
  fixture *f = *state;
  gcd_gc_begin(&f->gc, 2);
  for (uint64_t i = 0; i < f->gc.cap + 10; i++)
    drop(f, obj(f, 1));
  assert_true(f->gc.ntouched <= 1);
  gcd_gc_scan(&f->gc);
  finish(f);
  assert_int_equal(live(f), 0);
  verify(f, NULL);
}

static void test_collector_free_during_scan_deferred(void **state) {
  fixture *f = *state;
  uint64_t a = obj(f, 1), child = obj(f, 1);
  link(f, a, 0, child);
  drop(f, child);
  gcd_gc_begin(&f->gc, 2);
  gcd_gc_scan(&f->gc);
  uint32_t ai = ix(f, a);
  gcd_heap_decref(&f->heap, ai); /* frees a and child while the set is live */
  assert_stale(f, a);
  assert_stale(f, child);
  assert_int_equal(live(f), 0);
  /* The entries are not reused before the collection ends. */
  uint64_t n = obj(f, 1);
  assert_int_not_equal(ix(f, n), ai);
  gcd_gc_result r = finish(f);
  assert_int_equal(r.unreachable, 0);
  verify_held(f, n);
}

/* A collection leaves its garbage's scan words as they were (stamp, TENT):
 * an entry reused by an object without slots, which is never tracked,
 * keeps that word, and the next collection must neither count it as a
 * member nor free it. */
static void test_collector_reused_untracked_entry_not_a_member(void **state) {
  fixture *f = *state;
  uint64_t a, b;
  dropped_pair(f, &a, &b);
  assert_int_equal(collect(f, 2).unreachable, 2);
  uint64_t p = obj(f, 0), q = obj(f, 0); /* take a's and b's entries */
  assert_int_equal(ix(f, p) + ix(f, q), gcd_handle_index(a) + gcd_handle_index(b));
  assert_int_not_equal(ix(f, p), ix(f, q));
  uint64_t holder = obj(f, 2), c, d;
  link(f, holder, 0, p);
  link(f, holder, 1, q);
  dropped_pair(f, &c, &d);
  gcd_gc_result r = collect(f, 2);
  assert_int_equal(r.examined, 3); /* holder, c, d */
  assert_int_equal(r.unreachable, 2);
  assert_stale(f, c);
  assert_int_equal(gcd_heap_refcount(&f->heap, ix(f, p)), 2);
  uint64_t *ext = ext_new(f);
  ext[ix(f, p)] = ext[ix(f, q)] = ext[ix(f, holder)] = 1;
  verify(f, ext);
}

/* Garbage goes back to the table so that a graph built next gets the
 * entries in table order, the order the next full collection scans: a
 * stack would hand them out backwards, and a chain built on them would be
 * walked from its far end. */
static void test_collector_freed_entries_handed_out_in_scan_order(void **state) {
  fixture *f = *state;
  enum { N = 8 };
  uint64_t h[N];
  dropped_ring(f, h, N);
  assert_int_equal(collect(f, 2).unreachable, N);
  for (int i = 0; i < N; i++)
    assert_int_equal(ix(f, obj(f, 1)), gcd_handle_index(h[i]));
}

/* ---- introspection ---- */

static void test_collector_each_lists_generation(void **state) {
  fixture *f = *state;
  for (int i = 0; i < 7; i++)
    obj(f, 1);
  int n = 0;
  assert_int_equal(gcd_gc_each(&f->gc, 0, 3, count_cb, &n), 3);
  assert_int_equal(n, 3);
  n = 0;
  gcd_gc_each(&f->gc, 0, 0, count_cb, &n);
  assert_int_equal(n, 7);
}

static void test_collector_verify_catches_broken_list(void **state) {
  fixture *f = *state;
  uint64_t a = obj(f, 1);
  char msg[256];
  assert_int_equal(gcd_gc_verify(&f->gc, msg, sizeof msg), 0);
  f->gc.count[0]++;
  assert_int_equal(gcd_gc_verify(&f->gc, msg, sizeof msg), GC_ECORRUPT);
  f->gc.count[0]--;
  (void)a;
}

int main(void) {
  const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
      T(test_collector_two_object_cycle_freed),
      T(test_collector_self_reference_freed),
      T(test_collector_ring_freed),
      T(test_collector_back_edges_revive_what_they_reach),
      T(test_collector_long_backward_chain_survives),
      T(test_collector_chain_after_garbage_survives),
      T(test_collector_huge_count_is_a_root),
      T(test_collector_stamp_wrap_forgets_old_members),
      T(test_collector_wide_counts_stay_exact),
      T(test_collector_wide_overflow_keeps_the_member),
      T(test_collector_subtract_stops_at_the_floor),
    T(test_collector_cycle_held_by_retain_survives),
      T(test_collector_cycle_reachable_from_cycle_root_survives),
      T(test_collector_cycle_reachable_only_from_garbage_freed),
      T(test_collector_outside_child_released),
      T(test_collector_full_collection_by_inrefs),
      T(test_collector_inrefs_unused_beside_frozen_or_garbage),
    T(test_collector_garbage_reference_to_survivor_released),
    T(test_collector_closed_garbage_releases_what_lies_outside),
    T(test_collector_rescue_reopens_closed_garbage),
    T(test_collector_full_collection_retags_survivors),
    T(test_collector_mostly_surviving_full_collection_untags_garbage),
    T(test_collector_epochs_start_over),
    T(test_collector_mark_warms_states_to_be_freed),
      T(test_collector_survivors_promoted),
      T(test_collector_young_collection_ignores_old_garbage),
      T(test_collector_small_and_large_sets_found_alike),
      T(test_collector_counts_like_cpython),
      T(test_collector_threshold_triggers),
      T(test_collector_full_collection_waits_for_25_percent),
      T(test_collector_saveall_keeps_garbage),
      T(test_collector_freeze_hides_objects),
      T(test_collector_dirty_object_rescued),
      T(test_collector_new_reference_during_scan_rescues),
      T(test_collector_negative_gc_refs_rescue_what_they_reach),
      T(test_collector_reused_entry_touched_once),
      T(test_collector_free_during_scan_deferred),
      T(test_collector_reused_untracked_entry_not_a_member),
      T(test_collector_freed_entries_handed_out_in_scan_order),
      T(test_collector_each_lists_generation),
      T(test_collector_verify_catches_broken_list),
#undef T
  };
  int failed = cmocka_run_group_tests_name("by inrefs where possible", tests, NULL, NULL);
  subtract_always = true;
  return failed + cmocka_run_group_tests_name("always subtracting", tests, NULL, NULL);
}
