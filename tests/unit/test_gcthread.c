/*
 * test_gcthread.c -- the collector thread against a mutating "loop thread".
 *
 * A seeded mutator plays the loop thread: under the heap lock it allocates,
 * links, relinks, retains and releases random objects, keeping its own model
 * of the retains it holds, while the collector thread collects continuously.
 * Whenever no collection is active the mutator checks every invariant: counts
 * exact against its retains, no slot pointing at a freed object (so nothing
 * reachable was freed). At the end, with every retain dropped and a full
 * collection done, the heap must be empty. Run it under TSan too.
 *
 * GCD_STRESS_SEED and GCD_STRESS_OPS override the seed and the length.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "collector.h"
#include "gcclient.h"
#include "gcthread.h"
#include "heap.h"

#define MAX_ROOTS 512

typedef struct world {
  gcd_heap heap;
  gcd_gc gc;
  gcd_gcthread t;
  uint64_t roots[MAX_ROOTS]; /* retained handles (one retain each) */
  int nroots;
  uint64_t *ext;
  uint64_t rng;
  int notified;
} world;

static uint64_t rnd(world *w) { /* xorshift64* */
  w->rng ^= w->rng >> 12;
  w->rng ^= w->rng << 25;
  w->rng ^= w->rng >> 27;
  return w->rng * 2685821657736338717ull;
}

static long env_long(const char *name, long dflt) {
  const char *s = getenv(name);
  return s != NULL && *s != '\0' ? strtol(s, NULL, 0) : dflt;
}

static void notify(void *ctx) { (void)ctx; }

static void verify_model(world *w) {
  char msg[256];
  memset(w->ext, 0, w->heap.table_cap * sizeof *w->ext);
  for (int i = 0; i < w->nroots; i++) {
    uint32_t x;
    assert_int_equal(gcd_heap_resolve(&w->heap, w->roots[i], &x), 0);
    w->ext[x]++;
  }
  if (gcd_heap_verify(&w->heap, w->ext, msg, sizeof msg) != 0)
    fail_msg("heap: %s", msg);
  if (gcd_gc_verify(&w->gc, msg, sizeof msg) != 0)
    fail_msg("collector: %s", msg);
}

static uint32_t idx_of(world *w, uint64_t h) {
  uint32_t x;
  int rc = gcd_heap_resolve(&w->heap, h, &x);
  if (rc != 0)
    fail_msg("retained handle 0x%llx failed to resolve: %d (freed while held)",
             (unsigned long long)h, rc);
  return x;
}

/* A random handle reachable from the roots: a root, or a slot of one. */
static uint64_t pick(world *w) {
  if (w->nroots == 0)
    return 0;
  uint64_t h = w->roots[rnd(w) % (uint64_t)w->nroots];
  uint32_t x = idx_of(w, h);
  const gcd_obj *o = gcd_heap_obj(&w->heap, x);
  if (o->nslots > 0 && rnd(w) % 2) {
    uint64_t s = atomic_load(&w->heap.slots[o->slots + rnd(w) % o->nslots]);
    if (s != 0)
      return s;
  }
  return h;
}

static void op_alloc(world *w) {
  uint64_t h;
  if (w->nroots == MAX_ROOTS)
    return;
  if (gcd_heap_alloc(&w->heap, (uint32_t)(rnd(w) % 4), 16, 1, &h) == GC_EINVAL)
    assert_int_equal(gcd_heap_alloc(&w->heap, 1, 16, 1, &h), 0);
  w->roots[w->nroots++] = h;
}

static void op_release(world *w) {
  if (w->nroots == 0)
    return;
  int i = (int)(rnd(w) % (uint64_t)w->nroots);
  uint32_t x = idx_of(w, w->roots[i]);
  w->roots[i] = w->roots[--w->nroots];
  gcd_heap_decref(&w->heap, x);
}

static void op_link(world *w) {
  uint64_t from = pick(w), to = rnd(w) % 5 ? pick(w) : 0;
  if (from == 0)
    return;
  uint32_t x = idx_of(w, from);
  uint32_t n = gcd_heap_obj(&w->heap, x)->nslots;
  if (n > 0)
    assert_int_equal(gcd_heap_set_ref(&w->heap, from, (uint32_t)(rnd(w) % n), to), 0);
}

/* A client read a handle from a slot and retains it. */
static void op_retain(world *w) {
  uint64_t h = pick(w);
  if (h == 0 || w->nroots == MAX_ROOTS)
    return;
  gcd_heap_incref(&w->heap, idx_of(w, h));
  w->roots[w->nroots++] = h;
}

static void mutate(world *w) {
  switch (rnd(w) % 8) {
  case 0: case 1: op_alloc(w); break;
  case 2: case 3: op_release(w); break;
  case 4: case 5: case 6: op_link(w); break;
  default: op_retain(w); break;
  }
}

static void test_gcthread_concurrent_stress(void **state) {
  (void)state;
  world *w = calloc(1, sizeof *w);
  gcd_heap_config cfg = {.data_size = 64u << 20, .max_objects = 1u << 18};
  assert_int_equal(gcd_heap_init(&w->heap, &cfg), 0);
  assert_int_equal(gcd_gc_init(&w->gc, &w->heap), 0);
  assert_int_equal(gcd_gcthread_init(&w->t, &w->gc), 0);
  w->ext = calloc(w->heap.table_cap, sizeof *w->ext);
  w->rng = (uint64_t)env_long("GCD_STRESS_SEED", 12345) | 1;
  long ops = env_long("GCD_STRESS_OPS", 400000);
  uint64_t t[3] = {50, 3, 3};
  gcd_gc_set_threshold(&w->gc, t);
  assert_int_equal(gcd_gcthread_start(&w->t, notify, w), 0);
  uint64_t verified = 0;
  for (long i = 0; i < ops; i++) {
    gcd_gcthread_lock(&w->t);
    for (int k = 0; k < 16; k++)
      mutate(w);
    if (!w->gc.active && i % 64 == 0) {
      verify_model(w);
      verified++;
    }
    gcd_gcthread_poke(&w->t);
    gcd_gcthread_unlock(&w->t);
  }
  gcd_gcthread_lock(&w->t);
  while (w->nroots > 0)
    op_release(w);
  gcd_gcthread_unlock(&w->t);
  gcd_gcthread_destroy(&w->t); /* joins; no collection runs after this */
  gcd_gc_result r;
  gcd_gc_collect(&w->gc, 2, &r);
  gcd_heap_stats st;
  gcd_heap_stats_get(&w->heap, &st);
  assert_int_equal(st.objects, 0);
  assert_true(w->gc.stats[0].collections > 0);
  assert_true(verified > 0);
  verify_model(w);
  printf("stress: %ld rounds, %llu verified, %llu collections, %llu freed by cycles\n",
         ops, (unsigned long long)verified,
         (unsigned long long)(w->gc.stats[0].collections + w->gc.stats[1].collections +
                              w->gc.stats[2].collections),
         (unsigned long long)(w->gc.stats[0].collected + w->gc.stats[1].collected +
                              w->gc.stats[2].collected));
  free(w->ext);
  gcd_gc_destroy(&w->gc);
  gcd_heap_destroy(&w->heap);
  free(w);
}

/* Requests run on the collector thread and come back through the done list
 * in order. */
static void test_gcthread_requests_complete_in_order(void **state) {
  (void)state;
  world *w = calloc(1, sizeof *w);
  gcd_heap_config cfg = {.data_size = 1u << 20, .max_objects = 4096};
  assert_int_equal(gcd_heap_init(&w->heap, &cfg), 0);
  assert_int_equal(gcd_gc_init(&w->gc, &w->heap), 0);
  assert_int_equal(gcd_gcthread_init(&w->t, &w->gc), 0);
  assert_int_equal(gcd_gcthread_start(&w->t, notify, w), 0);
  gcd_gcreq reqs[3] = {{.kind = GCD_GCREQ_FREEZE},
                       {.kind = GCD_GCREQ_UNFREEZE},
                       {.kind = GCD_GCREQ_COLLECT, .generation = 2}};
  gcd_gcthread_lock(&w->t);
  uint64_t a, b;
  assert_int_equal(gcd_heap_alloc(&w->heap, 1, 0, 0, &a), 0);
  assert_int_equal(gcd_heap_alloc(&w->heap, 1, 0, 0, &b), 0);
  assert_int_equal(gcd_heap_set_ref(&w->heap, a, 0, b), 0);
  assert_int_equal(gcd_heap_set_ref(&w->heap, b, 0, a), 0);
  gcd_heap_decref(&w->heap, idx_of(w, a));
  gcd_heap_decref(&w->heap, idx_of(w, b));
  for (int i = 0; i < 3; i++)
    gcd_gcthread_submit(&w->t, &reqs[i]);
  gcd_gcthread_unlock(&w->t);
  int got = 0;
  gcd_gcreq *order[3];
  while (got < 3) {
    gcd_gcthread_lock(&w->t);
    for (gcd_gcreq *r = gcd_gcthread_take_done(&w->t); r != NULL; r = r->next)
      order[got++] = r;
    gcd_gcthread_unlock(&w->t);
  }
  assert_ptr_equal(order[0], &reqs[0]);
  assert_ptr_equal(order[2], &reqs[2]);
  assert_int_equal(reqs[0].count, 2);             /* froze both */
  assert_int_equal(reqs[1].count, 2);             /* and back */
  assert_int_equal(reqs[2].result.unreachable, 2); /* then freed the cycle */
  gcd_gcthread_destroy(&w->t);
  gcd_gc_destroy(&w->gc);
  gcd_heap_destroy(&w->heap);
  free(w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gcthread_requests_complete_in_order),
      cmocka_unit_test(test_gcthread_concurrent_stress),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
