/*
 * test_heap.c -- the object heap on real (in-process) segments: layout,
 * allocation, handles, reference counts, iterative frees, fullness, fault
 * injection on backing reservation, and the verifier.
 *
 * Each test keeps `ext`, the references it holds from outside the heap (as
 * a session would), and checks gcd_heap_verify() against it.
 *
 * Environment: GCD_TEST_CHAIN (length of the long-chain test, default ten
 * million).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>
#include <pthread.h>

#include "gcclient.h"
#include "heap.h"

#define MiB (1ull << 20)

typedef struct fixture {
  gcd_heap h;
  uint64_t *ext; /* table_cap outside references */
} fixture;

static fixture *fixture_new(uint64_t data_size, uint64_t max_objects,
                            uint64_t slots_cap) {
  gcd_heap_config cfg = {data_size, max_objects, slots_cap};
  fixture *f = calloc(1, sizeof *f);

  assert_non_null(f);
  assert_int_equal(gcd_heap_init(&f->h, &cfg), 0);
  f->ext = calloc(f->h.table_cap, sizeof *f->ext);
  assert_non_null(f->ext);
  return f;
}

static void fixture_free(fixture *f) {
  gcd_heap_destroy(&f->h);
  free(f->ext);
  free(f);
}

static int setup(void **state) {
  *state = fixture_new(16 * MiB, 0, 0);
  return 0;
}

static int teardown(void **state) {
  fixture_free(*state);
  return 0;
}

static uint32_t index_of(const gcd_heap *h, uint64_t handle) {
  uint32_t i = 0;
  assert_int_equal(gcd_heap_resolve(h, handle, &i), 0);
  return i;
}

/* Allocates and records the caller's reference as an outside one. */
static uint64_t new_obj(fixture *f, uint32_t nslots, uint64_t nbytes) {
  uint64_t handle = 0;

  assert_int_equal(gcd_heap_alloc(&f->h, nslots, nbytes, 7, &handle), 0);
  f->ext[index_of(&f->h, handle)]++;
  return handle;
}

/* Drops an outside reference; returns the objects freed. */
static uint64_t drop(fixture *f, uint64_t handle) {
  uint32_t i = index_of(&f->h, handle);

  f->ext[i]--;
  return gcd_heap_decref(&f->h, i);
}

static uint64_t rc(const fixture *f, uint64_t handle) {
  return gcd_heap_refcount(&f->h, index_of(&f->h, handle));
}

static void assert_heap_ok(const fixture *f) {
  char msg[512] = "";

  if (gcd_heap_verify(&f->h, f->ext, msg, sizeof msg) != 0)
    fail_msg("heap verify: %s", msg);
}

static gcd_heap_stats stats(const fixture *f) {
  gcd_heap_stats st;
  gcd_heap_stats_get(&f->h, &st);
  return st;
}

/* ----------------------------------------------------------------- layout */

static void test_heap_init_writes_meta_header(void **state) {
  fixture *f = *state;
  const gcd_meta_header *m = f->h.meta.base;
  uint64_t page = gcd_shm_page_size();

  assert_memory_equal(m->magic, GCD_META_MAGIC, 8);
  assert_int_equal(m->layout_version, GCD_LAYOUT_VERSION);
  assert_int_equal(m->header_size, sizeof(gcd_meta_header));
  assert_int_equal(m->obj_size, sizeof(gcd_obj));
  assert_int_equal(m->state_size, sizeof(gcd_state));
  assert_int_equal(m->data_size, 16 * MiB);
  assert_int_equal(m->table_cap, 16 * MiB / 64 + 1); /* defaults */
  assert_int_equal(m->slots_cap, 16 * MiB / 32);
  assert_true(m->state_off >= GCD_META_HEADER_SIZE && m->state_off % page == 0);
  assert_true(m->table_off >= m->state_off + m->table_cap * sizeof(gcd_state));
  assert_int_equal(m->table_off % page, 0);
  assert_true(m->slots_off >= m->table_off + m->table_cap * sizeof(gcd_obj));
  assert_int_equal(m->slots_off % page, 0);
  assert_int_equal(m->meta_size, f->h.meta.size);
  assert_true(m->meta_size >= m->slots_off + m->slots_cap * 8);
  assert_int_equal(m->data_size, f->h.data.size);
  assert_heap_ok(f);
}

static void test_heap_init_defaults_are_clamped(void **state) {
  fixture *f = fixture_new(64 * 1024, 0, 0);

  assert_int_equal(f->h.table_cap, 1024 + 1);
  assert_int_equal(f->h.hdr->slots_cap, 4096);
  fixture_free(f);
}

static void test_heap_init_rejects_zero_data_size(void **state) {
  gcd_heap_config cfg = {0, 0, 0};
  gcd_heap h;

  assert_int_equal(gcd_heap_init(&h, &cfg), GC_EINVAL);
  cfg = (gcd_heap_config){MiB, (1ull << 31) + 1, 0};
  assert_int_equal(gcd_heap_init(&h, &cfg), GC_EINVAL);
  cfg = (gcd_heap_config){MiB, 0, GCD_SLOTS_CAP_MAX + 1};
  assert_int_equal(gcd_heap_init(&h, &cfg), GC_EINVAL);
}

/* ------------------------------------------------------------ allocation */

static void test_heap_alloc_resolves_to_live_entry(void **state) {
  fixture *f = *state;
  uint64_t a = new_obj(f, 3, 100), out = 1;
  const gcd_obj *o = gcd_heap_obj(&f->h, index_of(&f->h, a));

  assert_int_equal(gcd_heap_handle(&f->h, index_of(&f->h, a)), a);
  assert_int_equal(o->type, 7);
  assert_int_equal(o->nslots, 3);
  assert_int_equal(o->nbytes, 100);
  assert_int_equal(o->refcount, 1);
  assert_int_equal(gcd_heap_flags(&f->h, index_of(&f->h, a)),
                   GCD_OBJ_LIVE | GCD_OBJ_TRACKED | GCD_OBJ_DATA);
  assert_int_not_equal(o->data_off, 0);
  assert_int_not_equal(o->slots, 0);
  assert_int_equal(o->data_off % 16, 0);
  assert_true(o->data_off + o->nbytes <= f->h.data.size);
  assert_true(o->slots + o->nslots <= f->h.hdr->slots_cap);
  assert_int_equal(gcd_heap_get_ref(&f->h, a, 2, &out), 0);
  assert_int_equal(out, 0);
  assert_int_equal(stats(f).objects, 1);
  assert_heap_ok(f);
}

static void test_heap_alloc_without_slots_is_untracked(void **state) {
  fixture *f = *state;
  uint64_t a = new_obj(f, 0, 8), b = new_obj(f, 1, 0);
  const gcd_obj *oa = gcd_heap_obj(&f->h, index_of(&f->h, a));
  const gcd_obj *ob = gcd_heap_obj(&f->h, index_of(&f->h, b));

  assert_int_equal(gcd_heap_flags(&f->h, index_of(&f->h, a)), GCD_OBJ_LIVE | GCD_OBJ_DATA);
  assert_int_equal(oa->slots, 0);
  assert_int_equal(gcd_heap_flags(&f->h, index_of(&f->h, b)), GCD_OBJ_LIVE | GCD_OBJ_TRACKED);
  assert_int_equal(ob->data_off, 0);
  assert_heap_ok(f);
}

static void test_heap_alloc_zero_size_is_einval(void **state) {
  fixture *f = *state;
  uint64_t handle;

  assert_int_equal(gcd_heap_alloc(&f->h, 0, 0, 0, &handle), GC_EINVAL);
  assert_int_equal(stats(f).objects, 0);
}

static void test_heap_alloc_too_big_is_etoobig(void **state) {
  fixture *f = *state;
  uint64_t handle;

  assert_int_equal(gcd_heap_alloc(&f->h, GC_SLOTS_MAX + 1, 0, 0, &handle),
                   GC_ETOOBIG);
  assert_int_equal(gcd_heap_alloc(&f->h, 0, 16 * MiB + 1, 0, &handle),
                   GC_ETOOBIG);
  assert_int_equal(gcd_heap_alloc(&f->h, 0, UINT64_MAX, 0, &handle), GC_ETOOBIG);
  assert_int_equal(gcd_heap_alloc(&f->h, (uint32_t)f->h.hdr->slots_cap, 0, 0,
                                  &handle), GC_ETOOBIG);
  assert_int_equal(gcd_heap_alloc(&f->h, 1, 16 * MiB + 1, 0, &handle), GC_ETOOBIG);
  assert_int_equal(stats(f).slots_used, 0);
  assert_heap_ok(f);
}

static void test_heap_alloc_large_payload_is_released_on_free(void **state) {
  fixture *f = *state;
  uint64_t a = new_obj(f, 0, 5 * MiB);
  const gcd_obj *o = gcd_heap_obj(&f->h, index_of(&f->h, a));
  unsigned char *p = (unsigned char *)f->h.data.base + o->data_off;

  p[0] = p[5 * MiB - 1] = 0xee;
  assert_true(stats(f).bytes_used >= 5 * MiB);
  assert_int_equal(drop(f, a), 1);
  assert_int_equal(stats(f).bytes_used, 0);
  assert_int_equal(p[0], 0); /* the hole was punched: the pages are gone */
  assert_heap_ok(f);
}

/* Regions emptied by frees stay backed until a trim gives them back. */
static void test_heap_trim_releases_emptied_regions(void **state) {
  enum { N = 48, SIZE = 4096 };
  fixture *f = *state;
  uint64_t per = 65536 / gcd_arena_block_size(&f->h.data_arena, SIZE);
  uint64_t regions = (N + 1 + per - 1) / per; /* unit 0 pins a block */
  uint64_t h[N];
  unsigned char *p[N];
  unsigned gone = 0;

  for (int i = 0; i < N; i++) {
    h[i] = new_obj(f, 0, SIZE);
    p[i] = (unsigned char *)f->h.data.base +
           gcd_heap_obj(&f->h, index_of(&f->h, h[i]))->data_off;
    p[i][0] = 0xee;
  }
  for (int i = 0; i < N; i++)
    drop(f, h[i]);
  /* one region stays as its class's spare, the others wait for the trim */
  assert_true(regions >= 3);
  assert_int_equal(stats(f).bytes_unpurged, (regions - 1) * 65536);
  for (int i = 0; i < N; i++)
    gone += p[i][0] == 0;
  assert_int_equal(gone, 0);
  assert_int_equal(gcd_heap_trim(&f->h, 1), 1);
  assert_int_equal(gcd_heap_trim(&f->h, 100), regions - 2);
  assert_int_equal(stats(f).bytes_unpurged, 0);
  for (int i = 0; i < N; i++)
    gone += p[i][0] == 0;
  assert_true(gone >= N - per); /* the holes were punched */
  assert_heap_ok(f);
}

/* 4 KiB pages of a 2 MiB page of the slots' private copy in memory. */
static unsigned edges_resident(const fixture *f, uint64_t page) {
  unsigned char vec[512];
  unsigned n = 0;

  assert_int_equal(mincore((char *)f->h.edges + page * 2 * MiB, 2 * MiB, vec), 0);
  for (int i = 0; i < 512; i++)
    n += vec[i] & 1;
  return n;
}

/* The private copy of the slots goes back a whole 2 MiB page at a time,
 * once every slot region under the page has been released: the regions
 * are released one by one, each an eighth of such a page. Page 0 holds the
 * pinned unit 0, and one emptied region stays its class's spare. */
static void test_heap_edges_given_back_with_their_regions(void **state) {
  enum { SLOTS = 4, PAGES = 4 };
  uint64_t per_page = 2 * MiB / sizeof(uint32_t), n = PAGES * per_page / SLOTS;
  fixture *f = fixture_new(16 * MiB, n + 1024, (PAGES + 1) * per_page);
  uint64_t *h = malloc(n * sizeof *h);
  unsigned back = 0;

  assert_non_null(h);
  for (uint64_t i = 0; i < n; i++)
    h[i] = new_obj(f, SLOTS, 0);
  for (uint64_t p = 1; p < PAGES; p++)
    assert_true(edges_resident(f, p) > 0);
  for (uint64_t i = 0; i < n; i++)
    drop(f, h[i]);
  while (gcd_heap_trim(&f->h, 64) > 0)
    ;
  for (uint64_t p = 1; p < PAGES; p++)
    back += edges_resident(f, p) == 0;
  assert_true(back >= PAGES - 2);
  assert_heap_ok(f);
  for (uint64_t i = 0; i < n; i += 7) /* the pages come back zeroed, as needed */
    h[i] = new_obj(f, SLOTS, 0);
  assert_heap_ok(f);
  for (uint64_t i = 0; i < n; i += 7)
    drop(f, h[i]);
  free(h);
  fixture_free(f);
}

static void test_heap_payload_zeroed_on_reuse(void **state) {
  fixture *f = *state;
  uint64_t a = new_obj(f, 2, 100), b, got;
  const gcd_obj *o = gcd_heap_obj(&f->h, index_of(&f->h, a));
  uint64_t off = o->data_off, soff = o->slots;
  unsigned char *p = (unsigned char *)f->h.data.base + off;

  memset(p, 0xff, 100);
  assert_int_equal(gcd_heap_set_ref(&f->h, a, 1, a), 0);
  assert_int_equal(gcd_heap_set_ref(&f->h, a, 1, 0), 0);
  assert_int_equal(drop(f, a), 1);
  b = new_obj(f, 2, 100);
  o = gcd_heap_obj(&f->h, index_of(&f->h, b));
  assert_int_equal(o->data_off, off); /* the same memory came back */
  assert_int_equal(o->slots, soff);
  for (int k = 0; k < 100; k++)
    assert_int_equal(p[k], 0);
  assert_int_equal(gcd_heap_get_ref(&f->h, b, 1, &got), 0);
  assert_int_equal(got, 0);
  assert_heap_ok(f);
}

/* ---------------------------------------------------------------- handles */

static void test_heap_resolve_stale_after_free(void **state) {
  fixture *f = *state;
  uint64_t a = new_obj(f, 1, 8);
  uint32_t i;

  assert_int_equal(drop(f, a), 1);
  assert_int_equal(gcd_heap_resolve(&f->h, a, &i), GC_ESTALE);
  assert_int_equal(gcd_heap_set_ref(&f->h, a, 0, 0), GC_ESTALE);
  assert_int_equal(stats(f).objects, 0);
  assert_heap_ok(f);
}

static void test_heap_resolve_stale_after_reuse(void **state) {
  fixture *f = *state;
  uint64_t a = new_obj(f, 1, 8), b;
  uint32_t i;

  drop(f, a);
  b = new_obj(f, 1, 8);
  assert_int_equal(gcd_handle_index(b), gcd_handle_index(a)); /* entry reused */
  assert_int_equal(gcd_handle_gen(b), gcd_handle_gen(a) + 1);
  assert_int_equal(gcd_heap_resolve(&f->h, a, &i), GC_ESTALE);
  assert_int_equal(gcd_heap_resolve(&f->h, b, &i), 0);
  assert_heap_ok(f);
}

static void test_heap_resolve_rejects_forged_handles(void **state) {
  fixture *f = *state;
  uint64_t a = new_obj(f, 1, 8), b = new_obj(f, 1, 8);
  uint32_t ia = gcd_handle_index(a), ga = gcd_handle_gen(a), i;

  assert_int_equal(gcd_heap_resolve(&f->h, 0, &i), GC_EBADHANDLE);
  assert_int_equal(gcd_heap_resolve(&f->h, gcd_handle_make(0, 1), &i), GC_EBADHANDLE);
  assert_int_equal(gcd_heap_resolve(&f->h, gcd_handle_make(ia, ga + 1), &i),
                   GC_EBADHANDLE); /* gen ahead */
  assert_int_equal(gcd_heap_resolve(&f->h, gcd_handle_make(ia, 0), &i), GC_EBADHANDLE);
  assert_int_equal(gcd_heap_resolve(&f->h, gcd_handle_make(ia + 2, 1), &i),
                   GC_EBADHANDLE); /* entry never used */
  assert_int_equal(gcd_heap_resolve(&f->h,
                                    gcd_handle_make((uint32_t)f->h.table_cap, 1), &i),
                   GC_EBADHANDLE);
  assert_int_equal(gcd_heap_resolve(&f->h, gcd_handle_make(UINT32_MAX, 1), &i),
                   GC_EBADHANDLE);
  drop(f, b); /* b's entry is free: its next gen was never handed out */
  assert_int_equal(gcd_heap_resolve(&f->h, b + (1ull << 32), &i), GC_EBADHANDLE);
  assert_int_equal(gcd_heap_resolve(&f->h, b, &i), GC_ESTALE);
  assert_heap_ok(f);
}

/* ------------------------------------------------------------- references */

static void test_heap_slot_out_of_range_is_erange(void **state) {
  fixture *f = *state;
  uint64_t a = new_obj(f, 2, 0), b = new_obj(f, 0, 8), out;

  assert_int_equal(gcd_heap_set_ref(&f->h, a, 2, b), GC_ERANGE);
  assert_int_equal(gcd_heap_set_ref(&f->h, b, 0, a), GC_ERANGE);
  assert_int_equal(gcd_heap_get_ref(&f->h, a, 2, &out), GC_ERANGE);
  assert_int_equal(gcd_heap_get_ref(&f->h, a, UINT32_MAX, &out), GC_ERANGE);
  assert_int_equal(rc(f, b), 1);
  assert_heap_ok(f);
}

static void test_heap_set_ref_counts_replacing_and_clearing(void **state) {
  fixture *f = *state;
  uint64_t a = new_obj(f, 2, 0), b = new_obj(f, 0, 8), c = new_obj(f, 0, 8), out;

  assert_int_equal(gcd_heap_set_ref(&f->h, a, 0, b), 0);
  assert_int_equal(gcd_heap_set_ref(&f->h, a, 1, b), 0);
  assert_int_equal(rc(f, b), 3);
  assert_heap_ok(f);
  assert_int_equal(gcd_heap_set_ref(&f->h, a, 0, c), 0); /* replace */
  assert_int_equal(rc(f, b), 2);
  assert_int_equal(rc(f, c), 2);
  assert_int_equal(gcd_heap_get_ref(&f->h, a, 0, &out), 0);
  assert_int_equal(out, c);
  assert_heap_ok(f);
  assert_int_equal(gcd_heap_set_ref(&f->h, a, 1, 0), 0); /* clear */
  assert_int_equal(rc(f, b), 1);
  assert_int_equal(gcd_heap_get_ref(&f->h, a, 1, &out), 0);
  assert_int_equal(out, 0);
  assert_heap_ok(f);
  assert_int_equal(drop(f, c), 0); /* a still holds c */
  assert_int_equal(drop(f, a), 2); /* a, and c with it */
  assert_int_equal(stats(f).objects, 1);
  assert_heap_ok(f);
}

static void test_heap_set_ref_bad_target_changes_nothing(void **state) {
  fixture *f = *state;
  uint64_t a = new_obj(f, 1, 0), b = new_obj(f, 0, 8), c = new_obj(f, 0, 8), out;

  assert_int_equal(gcd_heap_set_ref(&f->h, a, 0, b), 0);
  drop(f, c);
  assert_int_equal(gcd_heap_set_ref(&f->h, a, 0, c), GC_ESTALE);
  assert_int_equal(gcd_heap_set_ref(&f->h, a, 0, c + (1ull << 32)), GC_EBADHANDLE);
  assert_int_equal(gcd_heap_get_ref(&f->h, a, 0, &out), 0);
  assert_int_equal(out, b);
  assert_int_equal(rc(f, b), 2);
  assert_heap_ok(f);
}

static void test_heap_set_ref_same_target_again_keeps_it(void **state) {
  fixture *f = *state;
  uint64_t a = new_obj(f, 1, 0), b = new_obj(f, 0, 8);
  uint32_t i;

  assert_int_equal(gcd_heap_set_ref(&f->h, a, 0, b), 0);
  drop(f, b); /* only a's slot holds b now */
  assert_int_equal(gcd_heap_set_ref(&f->h, a, 0, b), 0);
  assert_int_equal(gcd_heap_resolve(&f->h, b, &i), 0);
  assert_int_equal(rc(f, b), 1);
  assert_heap_ok(f);
}

static void test_heap_self_reference_keeps_object_alive(void **state) {
  fixture *f = *state;
  uint64_t a = new_obj(f, 1, 8);
  uint32_t i;

  assert_int_equal(gcd_heap_set_ref(&f->h, a, 0, a), 0);
  assert_int_equal(rc(f, a), 2);
  assert_int_equal(drop(f, a), 0);
  assert_int_equal(rc(f, a), 1);
  assert_heap_ok(f);
  /* clearing the slot drops the last reference: a frees itself */
  assert_int_equal(gcd_heap_set_ref(&f->h, a, 0, 0), 0);
  assert_int_equal(gcd_heap_resolve(&f->h, a, &i), GC_ESTALE);
  assert_int_equal(stats(f).objects, 0);
  assert_heap_ok(f);
}

static void test_heap_two_object_cycle_stays_alive(void **state) {
  fixture *f = *state;
  uint64_t a = new_obj(f, 1, 8), b = new_obj(f, 1, 8);

  assert_int_equal(gcd_heap_set_ref(&f->h, a, 0, b), 0);
  assert_int_equal(gcd_heap_set_ref(&f->h, b, 0, a), 0);
  assert_int_equal(drop(f, a), 0);
  assert_int_equal(drop(f, b), 0);
  assert_int_equal(rc(f, a), 1);
  assert_int_equal(rc(f, b), 1);
  assert_int_equal(stats(f).objects, 2);
  assert_heap_ok(f);
}

static void test_heap_decref_frees_what_only_it_held(void **state) {
  fixture *f = *state;
  uint64_t root = new_obj(f, 3, 0), kid = new_obj(f, 1, 16);
  uint64_t shared = new_obj(f, 0, 16), leaf = new_obj(f, 0, 16);
  gcd_heap_stats st;
  uint32_t i;

  assert_int_equal(gcd_heap_set_ref(&f->h, root, 0, kid), 0);
  assert_int_equal(gcd_heap_set_ref(&f->h, root, 1, shared), 0);
  assert_int_equal(gcd_heap_set_ref(&f->h, root, 2, shared), 0);
  assert_int_equal(gcd_heap_set_ref(&f->h, kid, 0, leaf), 0);
  drop(f, kid);
  drop(f, leaf);
  assert_int_equal(drop(f, root), 3); /* root, kid, leaf; shared is held */
  assert_int_equal(rc(f, shared), 1);
  assert_int_equal(gcd_heap_resolve(&f->h, leaf, &i), GC_ESTALE);
  st = stats(f);
  assert_int_equal(st.objects, 1);
  assert_int_equal(st.allocs, 4);
  assert_int_equal(st.frees, 3);
  assert_int_equal(st.slots_used, 0);
  assert_heap_ok(f);
}

/* ------------------------------------------------------------ long chain */

typedef struct chain_job {
  gcd_heap *h;
  uint32_t head;
  uint64_t freed;
} chain_job;

static void *chain_release(void *arg) {
  chain_job *j = arg;
  j->freed = gcd_heap_decref(j->h, j->head);
  return NULL;
}

/* Runs the release of the chain's head on a thread with a 64 KiB stack: any
 * recursion over the chain would overflow it. */
static uint64_t release_on_small_stack(gcd_heap *h, uint32_t head) {
  chain_job job = {h, head, 0};
  pthread_attr_t attr;
  pthread_t t;

  assert_int_equal(pthread_attr_init(&attr), 0);
  assert_int_equal(pthread_attr_setstacksize(&attr, 64 * 1024), 0);
  assert_int_equal(pthread_create(&t, &attr, chain_release, &job), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  pthread_attr_destroy(&attr);
  return job.freed;
}

static void test_heap_chain_of_ten_million_freed_on_small_stack(void **state) {
  const char *env = getenv("GCD_TEST_CHAIN");
  uint64_t n = env != NULL && *env != '\0' ? strtoull(env, NULL, 0) : 10000000;
  fixture *f = fixture_new(MiB, n + 1, n + 2 * 65536);
  uint64_t head = new_obj(f, 1, 0), prev = head, next;

  print_message("chain of %llu objects\n", (unsigned long long)n);
  for (uint64_t k = 1; k < n; k++) {
    assert_int_equal(gcd_heap_alloc(&f->h, 1, 0, 0, &next), 0);
    assert_int_equal(gcd_heap_set_ref(&f->h, prev, 0, next), 0);
    gcd_heap_decref(&f->h, gcd_handle_index(next)); /* only prev holds it */
    prev = next;
  }
  assert_int_equal(stats(f).objects, n);
  f->ext[gcd_handle_index(head)] = 0;
  assert_int_equal(release_on_small_stack(&f->h, gcd_handle_index(head)), n);
  assert_int_equal(stats(f).objects, 0);
  assert_int_equal(stats(f).slots_used, 0);
  assert_heap_ok(f);
  fixture_free(f);
}

/* -------------------------------------------------------------- fullness */

static void test_heap_full_table_is_enomem_and_recovers(void **state) {
  fixture *f = fixture_new(MiB, 16, 0);
  uint64_t h[16], extra;
  gcd_heap_stats before;

  for (int k = 0; k < 16; k++)
    h[k] = new_obj(f, 1, 24);
  before = stats(f);
  assert_int_equal(gcd_heap_alloc(&f->h, 1, 24, 0, &extra), GC_ENOMEM);
  assert_int_equal(stats(f).slots_used, before.slots_used); /* nothing leaked */
  assert_int_equal(stats(f).bytes_used, before.bytes_used);
  assert_heap_ok(f);
  drop(f, h[5]);
  extra = new_obj(f, 1, 24);
  assert_int_equal(gcd_handle_index(extra), gcd_handle_index(h[5]));
  assert_heap_ok(f);
  fixture_free(f);
}

static void test_heap_full_data_is_enomem_and_recovers(void **state) {
  fixture *f = fixture_new(256 * 1024, 0, 0);
  uint64_t h[64], extra;
  int n = 0, err;

  while ((err = gcd_heap_alloc(&f->h, 0, 4096, 0, &h[n])) == 0) {
    f->ext[index_of(&f->h, h[n])]++;
    assert_true(++n < 64);
  }
  assert_int_equal(err, GC_ENOMEM);
  assert_int_equal(n, 63); /* four regions of 16 blocks, unit 0 pinned */
  assert_int_equal(stats(f).objects, 63);
  assert_heap_ok(f);
  drop(f, h[10]);
  extra = new_obj(f, 0, 4096);
  assert_int_equal(index_of(&f->h, extra), gcd_handle_index(h[10]));
  assert_heap_ok(f);
  fixture_free(f);
}

/* Every reservation an allocation makes (state chunk, table chunk, slot
 * region, payload region) fails in turn: each failure is GC_ENOMEM and
 * leaves nothing taken. */
static void test_heap_reserve_failure_is_enomem_and_leaks_nothing(void **state) {
  int failures = 0;

  for (long after = 0; after < 8; after++) {
    fixture *f = fixture_new(16 * MiB, 0, 0);
    uint64_t handle;
    int err;

    gcd_shm_fail_reserve(after);
    err = gcd_heap_alloc(&f->h, 4, 100, 0, &handle);
    gcd_shm_fail_reserve(-1);
    if (err == 0) {
      f->ext[index_of(&f->h, handle)]++;
    } else {
      assert_int_equal(err, GC_ENOMEM);
      assert_int_equal(stats(f).objects, 0);
      assert_int_equal(stats(f).slots_used, 0);
      assert_int_equal(stats(f).bytes_used, 0);
      failures++;
    }
    assert_heap_ok(f);
    handle = new_obj(f, 4, 100); /* and the heap carries on */
    assert_heap_ok(f);
    fixture_free(f);
  }
  assert_int_equal(failures, 4);
}

static void test_heap_init_reserve_failure_is_enomem(void **state) {
  gcd_heap_config cfg = {MiB, 0, 0};
  gcd_heap h;

  gcd_shm_fail_reserve(0);
  assert_int_equal(gcd_heap_init(&h, &cfg), GC_ENOMEM);
  gcd_shm_fail_reserve(-1);
  assert_int_equal(h.meta.fd, -1);
  assert_null(h.meta.base);
  assert_null(h.data.base);
}

/* -------------------------------------------------------------- verifier */

static void test_heap_verify_catches_corrupt_refcount(void **state) {
  fixture *f = *state;
  uint64_t a = new_obj(f, 1, 0), b = new_obj(f, 0, 8);
  gcd_obj *ob = gcd_heap_obj(&f->h, index_of(&f->h, b));
  char msg[512], want[256];

  assert_int_equal(gcd_heap_set_ref(&f->h, a, 0, b), 0);
  assert_heap_ok(f);
  atomic_store(&ob->refcount, 3);
  assert_int_equal(gcd_heap_verify(&f->h, f->ext, msg, sizeof msg), GC_ECORRUPT);
  snprintf(want, sizeof want,
           "object %u (handle 0x%016llx): refcount 3, counted 2 (slots 1, external 1)",
           index_of(&f->h, b), (unsigned long long)b);
  assert_string_equal(msg, want);
  atomic_store(&ob->refcount, 2);
  assert_heap_ok(f);
  f->ext[index_of(&f->h, a)] = 0; /* an outside reference the count lacks */
  assert_int_equal(gcd_heap_verify(&f->h, f->ext, msg, sizeof msg), GC_ECORRUPT);
  assert_non_null(strstr(msg, "refcount 1, counted 0"));
  f->ext[index_of(&f->h, a)] = 1;
  assert_heap_ok(f);
  atomic_store(&f->h.counts[index_of(&f->h, b)], 5); /* the two copies disagree */
  assert_int_equal(gcd_heap_verify(&f->h, f->ext, msg, sizeof msg), GC_ECORRUPT);
  assert_non_null(strstr(msg, "refcount 2 in the table, 5 in the daemon's copy"));
  atomic_store(&f->h.counts[index_of(&f->h, b)], 2);
  assert_heap_ok(f);
}

static uint32_t inref(const fixture *f, uint64_t handle) {
  return gcd_inref_of(atomic_load(&f->h.inrefs[index_of(&f->h, handle)]));
}

static uint32_t leafrefs(const fixture *f, uint64_t handle) {
  return gcd_leafrefs_of(atomic_load(&f->h.inrefs[index_of(&f->h, handle)]));
}

/* inrefs follows every slot: set, replaced, cleared, released by a free;
 * the leaf field counts the slots holding untracked objects and sticks at
 * its ceiling (unknown from then on), which the verifier accepts. */
static void test_heap_inrefs_follow_the_slots(void **state) {
  fixture *f = *state;
  uint64_t a = new_obj(f, 300, 0), b = new_obj(f, 1, 0), leaf = new_obj(f, 0, 8);

  for (uint32_t k = 0; k < 300; k++)
    assert_int_equal(gcd_heap_set_ref(&f->h, a, k, leaf), 0);
  assert_int_equal(inref(f, leaf), 300);
  assert_int_equal(leafrefs(f, a), GCD_LEAFREFS_MAX);
  assert_heap_ok(f);
  for (uint32_t k = 0; k < 100; k++)
    assert_int_equal(gcd_heap_set_ref(&f->h, a, k, b), 0);
  assert_int_equal(inref(f, leaf), 200);
  assert_int_equal(inref(f, b), 100);
  assert_int_equal(leafrefs(f, a), GCD_LEAFREFS_MAX); /* stuck: 200 unknown */
  assert_heap_ok(f);
  assert_int_equal(gcd_heap_set_ref(&f->h, b, 0, leaf), 0);
  assert_int_equal(leafrefs(f, b), 1);
  assert_int_equal(gcd_heap_set_ref(&f->h, b, 0, 0), 0);
  assert_int_equal(leafrefs(f, b), 0);
  assert_int_equal(drop(f, a), 1); /* its slots go: leaf and b lose them */
  assert_int_equal(inref(f, leaf), 0);
  assert_int_equal(inref(f, b), 0);
  assert_false(f->h.inrefs_lost);
  assert_heap_ok(f);
}

/* An inref that reaches the ceiling sticks there and says the counts are
 * lost for good; the verifier then leaves that field alone. */
static void test_heap_inref_ceiling_loses_the_counts(void **state) {
  fixture *f = *state;
  uint64_t t = new_obj(f, 0, 8), r[4];

  f->h.inref_max = 3;
  for (int i = 0; i < 4; i++) {
    r[i] = new_obj(f, 1, 0);
    assert_int_equal(gcd_heap_set_ref(&f->h, r[i], 0, t), 0);
  }
  assert_true(f->h.inrefs_lost);
  assert_int_equal(inref(f, t), 3);
  assert_heap_ok(f);
  drop(f, r[0]);
  assert_int_equal(inref(f, t), 3); /* stuck */
  assert_heap_ok(f);
}

static void test_heap_verify_catches_corrupt_slot(void **state) {
  fixture *f = *state;
  uint64_t a = new_obj(f, 2, 0), b = new_obj(f, 0, 8), c = new_obj(f, 0, 8);
  const gcd_obj *oa = gcd_heap_obj(&f->h, index_of(&f->h, a));
  _Atomic uint64_t *slot = &f->h.slots[oa->slots + 1];
  char msg[512];

  drop(f, c);
  atomic_store(slot, c); /* a freed object's handle */
  assert_int_equal(gcd_heap_verify(&f->h, f->ext, msg, sizeof msg), GC_ECORRUPT);
  assert_non_null(strstr(msg, "slot 1"));
  assert_non_null(strstr(msg, "stale"));
  atomic_store(slot, b); /* a live handle the count does not know of */
  assert_int_equal(gcd_heap_verify(&f->h, f->ext, msg, sizeof msg), GC_ECORRUPT);
  assert_non_null(strstr(msg, "slot 1: holds index")); /* its private copy lags */
  atomic_store(&f->h.edges[oa->slots + 1], index_of(&f->h, b));
  assert_int_equal(gcd_heap_verify(&f->h, f->ext, msg, sizeof msg), GC_ECORRUPT);
  assert_non_null(strstr(msg, "1 slots hold untracked objects, inrefs says 0"));
  atomic_store(&f->h.inrefs[index_of(&f->h, a)], UINT32_C(1) << GCD_INREF_BITS);
  assert_int_equal(gcd_heap_verify(&f->h, f->ext, msg, sizeof msg), GC_ECORRUPT);
  assert_non_null(strstr(msg, "refcount 1, counted 2 (slots 1, external 1)"));
  atomic_store(&f->h.counts[index_of(&f->h, b)], 2);
  atomic_store(&f->h.table[index_of(&f->h, b)].refcount, 2);
  assert_int_equal(gcd_heap_verify(&f->h, f->ext, msg, sizeof msg), GC_ECORRUPT);
  assert_non_null(strstr(msg, "1 references from slots, inrefs says 0"));
  atomic_store(&f->h.counts[index_of(&f->h, b)], 1);
  atomic_store(&f->h.table[index_of(&f->h, b)].refcount, 1);
  atomic_store(&f->h.inrefs[index_of(&f->h, a)], 0);
  atomic_store(slot, 0);
  atomic_store(&f->h.edges[oa->slots + 1], 0);
  assert_heap_ok(f);
}

/* The daemon's private copies (where[], the free stack) and the DATA flag
 * must agree with the shared entries. */
static void test_heap_verify_catches_stale_private_copies(void **state) {
  fixture *f = *state;
  uint64_t a = new_obj(f, 2, 0), b = new_obj(f, 0, 8), c = new_obj(f, 0, 8);
  uint32_t ia = index_of(&f->h, a), ib = index_of(&f->h, b);
  uint64_t saved = f->h.where[ia];
  char msg[512];

  f->h.where[ia] = saved + (UINT64_C(1) << GCD_WHERE_SHIFT); /* slots moved */
  assert_int_equal(gcd_heap_verify(&f->h, f->ext, msg, sizeof msg), GC_ECORRUPT);
  assert_non_null(strstr(msg, "the daemon's copy says"));
  f->h.where[ia] = saved;
  assert_heap_ok(f);
  atomic_store(&gcd_heap_state(&f->h, ib)->flags, GCD_OBJ_LIVE); /* DATA lost */
  assert_int_equal(gcd_heap_verify(&f->h, f->ext, msg, sizeof msg), GC_ECORRUPT);
  assert_non_null(strstr(msg, "disagree with 0 slots, 8 bytes"));
  atomic_store(&gcd_heap_state(&f->h, ib)->flags, GCD_OBJ_LIVE | GCD_OBJ_DATA);
  assert_heap_ok(f);
  drop(f, c);
  f->h.free[f->h.nfree++] = gcd_handle_index(c); /* freed once, listed twice */
  assert_int_equal(gcd_heap_verify(&f->h, f->ext, msg, sizeof msg), GC_ECORRUPT);
  assert_non_null(strstr(msg, "listed twice"));
  f->h.free[f->h.nfree - 1] = ib; /* a live entry listed as free */
  assert_int_equal(gcd_heap_verify(&f->h, f->ext, msg, sizeof msg), GC_ECORRUPT);
  assert_non_null(strstr(msg, "has flags"));
  f->h.nfree--;
  assert_heap_ok(f);
}

static void test_heap_verify_catches_shared_or_foreign_blocks(void **state) {
  fixture *f = *state;
  uint64_t a = new_obj(f, 0, 8), b = new_obj(f, 0, 8);
  gcd_obj *oa = gcd_heap_obj(&f->h, index_of(&f->h, a));
  gcd_obj *ob = gcd_heap_obj(&f->h, index_of(&f->h, b));
  uint64_t saved = ob->data_off;
  char msg[512];

  ob->data_off = oa->data_off;
  assert_int_equal(gcd_heap_verify(&f->h, f->ext, msg, sizeof msg), GC_ECORRUPT);
  assert_non_null(strstr(msg, "share the payload block"));
  ob->data_off = saved + 16; /* a block never handed out */
  assert_int_equal(gcd_heap_verify(&f->h, f->ext, msg, sizeof msg), GC_ECORRUPT);
  assert_non_null(strstr(msg, "not one the arena handed out"));
  ob->data_off = saved;
  f->h.objects++;
  assert_int_equal(gcd_heap_verify(&f->h, f->ext, msg, sizeof msg), GC_ECORRUPT);
  assert_non_null(strstr(msg, "2 live objects, counter says 3"));
  f->h.objects -= 2;
  assert_int_equal(gcd_heap_verify(&f->h, f->ext, msg, sizeof msg), GC_ECORRUPT);
  assert_non_null(strstr(msg, "more live entries than the 1 objects counted"));
  f->h.objects++;
  assert_heap_ok(f);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_heap_init_writes_meta_header),
      cmocka_unit_test(test_heap_init_defaults_are_clamped),
      cmocka_unit_test(test_heap_init_rejects_zero_data_size),
      T(test_heap_alloc_resolves_to_live_entry),
      T(test_heap_alloc_without_slots_is_untracked),
      T(test_heap_alloc_zero_size_is_einval),
      T(test_heap_alloc_too_big_is_etoobig),
      T(test_heap_alloc_large_payload_is_released_on_free),
      T(test_heap_trim_releases_emptied_regions),
      cmocka_unit_test(test_heap_edges_given_back_with_their_regions),
      T(test_heap_payload_zeroed_on_reuse),
      T(test_heap_resolve_stale_after_free),
      T(test_heap_resolve_stale_after_reuse),
      T(test_heap_resolve_rejects_forged_handles),
      T(test_heap_slot_out_of_range_is_erange),
      T(test_heap_set_ref_counts_replacing_and_clearing),
      T(test_heap_set_ref_bad_target_changes_nothing),
      T(test_heap_set_ref_same_target_again_keeps_it),
      T(test_heap_self_reference_keeps_object_alive),
      T(test_heap_two_object_cycle_stays_alive),
      T(test_heap_decref_frees_what_only_it_held),
      cmocka_unit_test(test_heap_chain_of_ten_million_freed_on_small_stack),
      cmocka_unit_test(test_heap_full_table_is_enomem_and_recovers),
      cmocka_unit_test(test_heap_full_data_is_enomem_and_recovers),
      cmocka_unit_test(test_heap_reserve_failure_is_enomem_and_leaks_nothing),
      cmocka_unit_test(test_heap_init_reserve_failure_is_enomem),
      T(test_heap_verify_catches_corrupt_refcount),
      T(test_heap_verify_catches_corrupt_slot),
      T(test_heap_inrefs_follow_the_slots),
      T(test_heap_inref_ceiling_loses_the_counts),
      T(test_heap_verify_catches_stale_private_copies),
      T(test_heap_verify_catches_shared_or_foreign_blocks),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
