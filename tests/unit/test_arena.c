/*
 * test_arena.c -- the size-class allocator: classes, reuse, fullness, runs,
 * backing reservation and release, the verifier, and a seeded random stress
 * against a shadow model of every unit.
 *
 * The arena only calls its ops, so these tests give it stub ops that record
 * which regions are backed and can be told to fail.
 *
 * Environment: GCD_TEST_SEED (stress seed), GCD_TEST_ITERS (stress steps).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arena.h"
#include "gcclient.h"

#define R ((uint64_t)1 << GCD_ARENA_REGION_SHIFT)
#define MAX_REGIONS 256

/* Stub ops: which regions are backed, how often each callback ran. */
typedef struct stub {
  uint64_t base;
  uint8_t backed[MAX_REGIONS];
  int fail;
  unsigned reserves, releases;
  uint64_t last_off, last_len;
  const gcd_arena *arena;  /* when set: asked from inside each release */
  int released_in_release; /* gcd_arena_released() of the range released */
} stub;

static int stub_reserve(void *ctx, uint64_t off, uint64_t len) {
  stub *s = ctx;

  if (s->fail)
    return GC_ENOMEM;
  s->reserves++;
  for (uint64_t r = (off - s->base) / R; r <= (off + len - 1 - s->base) / R; r++)
    s->backed[r] = 1;
  return 0;
}

static void stub_release(void *ctx, uint64_t off, uint64_t len) {
  stub *s = ctx;

  s->releases++;
  s->last_off = off;
  s->last_len = len;
  if (s->arena != NULL)
    s->released_in_release = gcd_arena_released(s->arena, off, len);
  for (uint64_t r = (off - s->base) / R; r <= (off + len - 1 - s->base) / R; r++)
    s->backed[r] = 0;
}

static unsigned backed_regions(const stub *s) {
  unsigned n = 0;

  for (unsigned r = 0; r < MAX_REGIONS; r++)
    n += s->backed[r];
  return n;
}

/* Every unit of [off, off+n) lies in a backed region. */
static int is_backed(const stub *s, uint64_t off, uint64_t n) {
  for (uint64_t r = (off - s->base) / R; r <= (off + n - 1 - s->base) / R; r++)
    if (!s->backed[r])
      return 0;
  return 1;
}

static void arena_setup(gcd_arena *a, stub *s, uint64_t base, uint64_t size) {
  gcd_arena_ops ops = {.ctx = s, .reserve = stub_reserve, .release = stub_release};

  memset(s, 0, sizeof *s);
  s->base = base;
  assert_int_equal(gcd_arena_init(a, base, size, &ops), 0);
}

static void assert_verifies(const gcd_arena *a) {
  char msg[256] = "";
  int err = gcd_arena_verify(a, msg, sizeof msg);

  if (err != 0)
    fail_msg("arena verify: %s", msg);
}

static void test_arena_block_size_classes_waste_at_most_25_percent(void **state) {
  gcd_arena a;
  stub s;
  uint64_t prev = 0;

  arena_setup(&a, &s, 0, 4 * R);
  for (uint64_t n = 1; n <= R / 4; n++) {
    uint64_t bs = gcd_arena_block_size(&a, n);
    assert_true(bs >= n && bs >= prev);
    assert_true(bs * 4 <= n * 5);
    assert_int_equal(gcd_arena_block_size(&a, bs), bs);
    prev = bs;
  }
  assert_int_equal(gcd_arena_block_size(&a, R / 4 + 1), R);
  assert_int_equal(gcd_arena_block_size(&a, R + 1), 2 * R);
  /* requests rounded to 16 units get 16-aligned class sizes (payloads) */
  for (uint64_t n = 16; n <= R / 4; n += 16)
    assert_int_equal(gcd_arena_block_size(&a, n) % 16, 0);
  gcd_arena_destroy(&a);
}

static void test_arena_alloc_never_hands_out_unit_zero(void **state) {
  gcd_arena a;
  stub s;
  uint64_t off;

  arena_setup(&a, &s, 0, R);
  for (int i = 0; i < 1000; i++) {
    assert_int_equal(gcd_arena_alloc(&a, 1, &off), 0);
    assert_int_not_equal(off, 0);
  }
  assert_false(gcd_arena_owns(&a, 0, 1));
  /* a run may not start at unit 0 either: the only region holds it */
  assert_int_equal(gcd_arena_alloc(&a, R / 2, &off), GC_ETOOBIG);
  assert_verifies(&a);
  gcd_arena_destroy(&a);
}

static void test_arena_alloc_reuses_freed_block(void **state) {
  gcd_arena a;
  stub s;
  uint64_t x, y, z;

  arena_setup(&a, &s, 0, 4 * R);
  assert_int_equal(gcd_arena_alloc(&a, 40, &x), 0);
  assert_int_equal(gcd_arena_alloc(&a, 40, &y), 0);
  assert_int_not_equal(x, y);
  gcd_arena_free(&a, x, 40);
  assert_int_equal(gcd_arena_alloc(&a, 33, &z), 0); /* same class as 40 */
  assert_int_equal(z, x);
  assert_int_equal(a.used, 2 * gcd_arena_block_size(&a, 40));
  assert_verifies(&a);
  gcd_arena_destroy(&a);
}

static void test_arena_alloc_blocks_aligned_to_class(void **state) {
  gcd_arena a;
  stub s;
  uint64_t off;

  arena_setup(&a, &s, 0, 64 * R); /* a region per class */
  for (uint64_t n = 16; n <= 4096; n += 16) {
    assert_int_equal(gcd_arena_alloc(&a, n, &off), 0);
    assert_int_equal(off % 16, 0);
    assert_true(gcd_arena_owns(&a, off, n));
  }
  assert_verifies(&a);
  gcd_arena_destroy(&a);
}

static void test_arena_owns_only_exact_live_blocks(void **state) {
  gcd_arena a;
  stub s;
  uint64_t off, big;

  arena_setup(&a, &s, 0, 4 * R);
  assert_int_equal(gcd_arena_alloc(&a, 24, &off), 0);
  assert_int_equal(gcd_arena_alloc(&a, R + 5, &big), 0);
  assert_true(gcd_arena_owns(&a, off, 24));
  assert_true(gcd_arena_owns(&a, off, 23));  /* same class */
  assert_false(gcd_arena_owns(&a, off, 40)); /* another class */
  assert_false(gcd_arena_owns(&a, off + 1, 24));
  assert_false(gcd_arena_owns(&a, off + 24, 24)); /* next block, never handed out */
  assert_true(gcd_arena_owns(&a, big, R + 5));
  assert_false(gcd_arena_owns(&a, big, 3 * R));
  assert_false(gcd_arena_owns(&a, big + R, R / 2 + 1));
  assert_false(gcd_arena_owns(&a, 4 * R + 1, 1)); /* outside the range */
  gcd_arena_free(&a, off, 24);
  gcd_arena_free(&a, big, R + 5);
  assert_false(gcd_arena_owns(&a, off, 24));
  assert_false(gcd_arena_owns(&a, big, R + 5));
  assert_verifies(&a);
  gcd_arena_destroy(&a);
}

static void test_arena_full_is_enomem_then_recovers_after_free(void **state) {
  gcd_arena a;
  stub s;
  uint64_t off, first = 0, count = 0;
  int err;

  arena_setup(&a, &s, 0, 2 * R);
  while ((err = gcd_arena_alloc(&a, 4096, &off)) == 0)
    if (count++ == 3)
      first = off;
  assert_int_equal(err, GC_ENOMEM);
  assert_int_equal(count, 2 * (R / 4096) - 1); /* unit 0 pins one block */
  assert_int_equal(gcd_arena_alloc(&a, 1, &off), GC_ENOMEM);
  gcd_arena_free(&a, first, 4096);
  assert_int_equal(gcd_arena_alloc(&a, 4096, &off), 0);
  assert_int_equal(off, first);
  assert_verifies(&a);
  gcd_arena_destroy(&a);
}

static void test_arena_impossible_size_is_etoobig(void **state) {
  gcd_arena a;
  stub s;
  uint64_t off;

  arena_setup(&a, &s, 0, 4 * R);
  assert_int_equal(gcd_arena_alloc(&a, 4 * R + 1, &off), GC_ETOOBIG);
  assert_int_equal(gcd_arena_alloc(&a, 4 * R, &off), GC_ETOOBIG); /* region 0 */
  assert_int_equal(gcd_arena_alloc(&a, UINT64_MAX, &off), GC_ETOOBIG);
  assert_int_equal(gcd_arena_alloc(&a, 0, &off), GC_EINVAL);
  assert_int_equal(gcd_arena_alloc(&a, 3 * R, &off), 0);
  gcd_arena_destroy(&a);

  arena_setup(&a, &s, 1, 4 * R); /* not starting at 0: every region usable */
  assert_int_equal(gcd_arena_alloc(&a, 4 * R, &off), 0);
  assert_int_equal(off, 1);
  gcd_arena_destroy(&a);

  arena_setup(&a, &s, 0, 100); /* one short region */
  assert_int_equal(gcd_arena_alloc(&a, 64, &off), GC_ETOOBIG);
  assert_int_equal(gcd_arena_alloc(&a, 40, &off), 0);
  gcd_arena_destroy(&a);
}

static void test_arena_reserve_failure_is_enomem_and_leaks_nothing(void **state) {
  gcd_arena a;
  stub s;
  uint64_t off;

  arena_setup(&a, &s, 0, 8 * R);
  s.fail = 1;
  assert_int_equal(gcd_arena_alloc(&a, 8, &off), GC_ENOMEM);
  assert_int_equal(gcd_arena_alloc(&a, 2 * R, &off), GC_ENOMEM);
  assert_int_equal(a.used, 0);
  assert_int_equal(backed_regions(&s), 0);
  assert_verifies(&a);
  s.fail = 0;
  /* every region is still in the pool: the largest run still fits */
  assert_int_equal(gcd_arena_alloc(&a, 7 * R, &off), 0);
  assert_int_equal(gcd_arena_alloc(&a, 8, &off), 0);
  assert_true(is_backed(&s, off, 8));
  assert_verifies(&a);
  gcd_arena_destroy(&a);
}

static void test_arena_large_run_free_calls_release(void **state) {
  gcd_arena a;
  stub s;
  uint64_t off, again;

  arena_setup(&a, &s, 0, 8 * R);
  assert_int_equal(gcd_arena_alloc(&a, 2 * R + 1, &off), 0);
  assert_int_equal(off % R, 0);
  assert_true(is_backed(&s, off, 2 * R + 1));
  assert_int_equal(a.used, 3 * R);
  gcd_arena_free(&a, off, 2 * R + 1);
  assert_int_equal(s.releases, 1);
  assert_int_equal(s.last_off, off);
  assert_int_equal(s.last_len, 3 * R);
  assert_int_equal(backed_regions(&s), 0);
  assert_int_equal(a.used, 0);
  assert_int_equal(gcd_arena_alloc(&a, 2 * R + 1, &again), 0);
  assert_int_equal(again, off);
  assert_verifies(&a);
  gcd_arena_destroy(&a);
}

static void test_arena_empty_region_released_keeping_one_spare(void **state) {
  enum { N = 2 * (R / 4096) };
  uint64_t offs[N];
  gcd_arena a;
  stub s;

  arena_setup(&a, &s, 1, 3 * R);
  for (int i = 0; i < N; i++)
    assert_int_equal(gcd_arena_alloc(&a, 4096, &offs[i]), 0);
  assert_int_equal(backed_regions(&s), 2);
  for (int i = 0; i < N; i++)
    gcd_arena_free(&a, offs[i], 4096);
  /* one region kept as spare, one back in the pool, still backed */
  assert_int_equal(s.releases, 0);
  assert_int_equal(gcd_arena_unpurged_units(&a), R);
  assert_verifies(&a);
  assert_int_equal(gcd_arena_purge(&a, 8), 1);
  assert_int_equal(s.releases, 1);
  assert_int_equal(backed_regions(&s), 1);
  assert_int_equal(gcd_arena_unpurged_units(&a), 0);
  assert_int_equal(gcd_arena_purge(&a, 8), 0);
  assert_verifies(&a);
  /* a run that needs every region takes the spare back */
  assert_int_equal(gcd_arena_alloc(&a, 3 * R, &offs[0]), 0);
  assert_true(is_backed(&s, offs[0], 3 * R - 1));
  assert_int_equal(gcd_arena_unpurged_units(&a), 0);
  assert_verifies(&a);
  gcd_arena_free(&a, offs[0], 3 * R);
  assert_int_equal(backed_regions(&s), 0); /* a run goes back at once */
  assert_verifies(&a);
  gcd_arena_destroy(&a);
}

/* Released: unassigned with no backing, never reserved included; a spare
 * or an emptied region not yet purged is not; the ranges a release
 * callback gets count as released inside it. */
static void test_arena_released_follows_backing(void **state) {
  enum { N = 2 * (R / 4096) };
  uint64_t offs[N], run;
  gcd_arena a;
  stub s;

  arena_setup(&a, &s, 1, 4 * R);
  s.arena = &a;
  assert_int_equal(gcd_arena_released(&a, 0, 8 * R), 1);
  for (int i = 0; i < N; i++)
    assert_int_equal(gcd_arena_alloc(&a, 4096, &offs[i]), 0);
  assert_int_equal(gcd_arena_released(&a, offs[0], 1), 0);
  assert_int_equal(gcd_arena_released(&a, 1 + 2 * R, 2 * R), 1); /* untouched */
  for (int i = 0; i < N; i++)
    gcd_arena_free(&a, offs[i], 4096);
  assert_int_equal(gcd_arena_released(&a, 1, 2 * R), 0); /* spare, unpurged */
  assert_int_equal(gcd_arena_purge(&a, 8), 1);
  assert_int_equal(s.released_in_release, 1);
  assert_int_equal(gcd_arena_released(&a, s.last_off, s.last_len), 1);
  assert_int_equal(gcd_arena_released(&a, 1, 2 * R), 0); /* the spare */
  assert_int_equal(gcd_arena_alloc(&a, 2 * R + 1, &run), 0);
  assert_int_equal(gcd_arena_released(&a, run + R, 1), 0);
  gcd_arena_free(&a, run, 2 * R + 1);
  assert_int_equal(s.released_in_release, 1);
  assert_int_equal(gcd_arena_released(&a, run, 2 * R + 1), 1);
  assert_int_equal(gcd_arena_released(&a, 10 * R, R), 1); /* outside the range */
  assert_verifies(&a);
  gcd_arena_destroy(&a);
}

/* A region emptied and taken again before a purge is used as it is: no
 * reservation, no release. */
static void test_arena_unpurged_region_reused_without_calls(void **state) {
  enum { N = 3 * (R / 4096) };
  uint64_t offs[N];
  gcd_arena a;
  stub s;

  arena_setup(&a, &s, 1, 4 * R);
  for (int i = 0; i < N; i++)
    assert_int_equal(gcd_arena_alloc(&a, 4096, &offs[i]), 0);
  for (int i = 0; i < N; i++)
    gcd_arena_free(&a, offs[i], 4096);
  assert_int_equal(gcd_arena_unpurged_units(&a), 2 * R);
  unsigned reserves = s.reserves;
  for (int i = 0; i < N; i++)
    assert_int_equal(gcd_arena_alloc(&a, 4096, &offs[i]), 0);
  assert_int_equal(s.reserves, reserves);
  assert_int_equal(s.releases, 0);
  assert_int_equal(gcd_arena_unpurged_units(&a), 0);
  assert_verifies(&a);
  for (int i = 0; i < N; i++)
    gcd_arena_free(&a, offs[i], 4096);
  assert_int_equal(gcd_arena_purge(&a, 1), 1); /* at most max at a time */
  assert_int_equal(gcd_arena_purge(&a, 1), 1);
  assert_int_equal(gcd_arena_purge(&a, 1), 0);
  assert_int_equal(backed_regions(&s), 1);
  assert_verifies(&a);
  gcd_arena_destroy(&a);
}

static void test_arena_spare_of_one_class_serves_another(void **state) {
  uint64_t x, y;
  gcd_arena a;
  stub s;

  arena_setup(&a, &s, 1, R);
  assert_int_equal(gcd_arena_alloc(&a, 8, &x), 0);
  gcd_arena_free(&a, x, 8); /* the region stays, as class 8's spare */
  assert_int_equal(gcd_arena_alloc(&a, 100, &y), 0);
  assert_int_equal(y, 1);
  assert_false(gcd_arena_owns(&a, x, 8));
  assert_verifies(&a);
  gcd_arena_destroy(&a);
}

static void test_arena_verify_catches_wrong_count(void **state) {
  char msg[256] = "";
  gcd_arena a;
  stub s;
  uint64_t off;

  arena_setup(&a, &s, 0, 4 * R);
  assert_int_equal(gcd_arena_alloc(&a, 8, &off), 0);
  a.used += 8;
  assert_int_equal(gcd_arena_verify(&a, msg, sizeof msg), GC_ECORRUPT);
  assert_non_null(strstr(msg, "used says 16"));
  gcd_arena_destroy(&a);
}

/* Runs bad(a, off) in a child, as a freeing bug of the daemon would: a
 * debug build stops on it (assert), a release build leaves the arena
 * consistent with `used` units still handed out. */
static void expect_caught(gcd_arena *a, void (*bad)(gcd_arena *, const uint64_t *),
                          const uint64_t *off, uint64_t used) {
  int status;
  pid_t pid = fork();

  assert_true(pid >= 0);
  if (pid == 0) {
    close(2); /* keep the assert's message out of the test log */
    bad(a, off);
    _exit(gcd_arena_verify(a, NULL, 0) == 0 && a->used == used ? 0 : 1);
  }
  assert_int_equal(waitpid(pid, &status, 0), pid);
#ifdef NDEBUG
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
#else
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
#endif
}

/* The block after the one at *off, which was never handed out. */
static void free_next_block(gcd_arena *a, const uint64_t *off) {
  gcd_arena_free(a, off[0] + 8, 8);
}

/* Five blocks of 8 from off[0], the third of them already free. */
static void free_run_of_five(gcd_arena *a, const uint64_t *off) {
  gcd_arena_free_run(a, off[0], 8, 5);
}

static void test_arena_free_of_unallocated_block_is_caught(void **state) {
  gcd_arena a;
  stub s;
  uint64_t off;

  arena_setup(&a, &s, 0, 4 * R);
  assert_int_equal(gcd_arena_alloc(&a, 8, &off), 0);
  expect_caught(&a, free_next_block, &off, 8);
  gcd_arena_destroy(&a);
}

/* A run of blocks allocated in a row, across a region boundary, goes back
 * in one call: the arena is empty again, consistent, and hands the same
 * blocks out again. */
static void test_arena_free_run_across_regions(void **state) {
  gcd_arena a;
  stub s;
  uint64_t n = R / 2 + 100, *off = malloc(n * sizeof *off); /* blocks of 2 units */

  arena_setup(&a, &s, 0, 8 * R);
  for (uint64_t k = 0; k < n; k++)
    assert_int_equal(gcd_arena_alloc(&a, 2, &off[k]), 0);
  for (uint64_t k = 1; k < n; k++)
    assert_int_equal(off[k], off[k - 1] + 2); /* in a row, region 0 then 1 */
  gcd_arena_free_run(&a, off[1], 2, n - 2); /* all but the first and last */
  assert_int_equal(a.used, 4);
  assert_verifies(&a);
  assert_true(gcd_arena_owns(&a, off[0], 2) && gcd_arena_owns(&a, off[n - 1], 2));
  assert_false(gcd_arena_owns(&a, off[1], 2) || gcd_arena_owns(&a, off[n - 2], 2));
  gcd_arena_free_run(&a, off[0], 2, 1);
  gcd_arena_free(&a, off[n - 1], 2);
  assert_int_equal(a.used, 0);
  assert_verifies(&a);
  for (uint64_t k = 0; k < n; k++) /* every block is free again, lowest first */
    assert_int_equal(gcd_arena_alloc(&a, 2, &off[k]), 0);
  assert_int_equal(off[n - 1], off[0] + 2 * (n - 1));
  assert_verifies(&a);
  free(off);
  gcd_arena_destroy(&a);
}

/* A run with a block in it that is not handed out: the blocks that are go
 * back, that one is left alone (and a debug build stops on it, as
 * gcd_arena_free() does). */
static void test_arena_free_run_with_a_hole_frees_the_rest(void **state) {
  gcd_arena a;
  stub s;
  uint64_t off[5];

  arena_setup(&a, &s, 0, 4 * R);
  for (int k = 0; k < 5; k++)
    assert_int_equal(gcd_arena_alloc(&a, 8, &off[k]), 0);
  gcd_arena_free(&a, off[2], 8);
  expect_caught(&a, free_run_of_five, off, 0);
  gcd_arena_destroy(&a);
}

/* ------------------------------------------------------------------ stress */

#define STRESS_REGIONS 64
#define STRESS_UNITS (STRESS_REGIONS * R)
#define STRESS_LIVE 4096

typedef struct block {
  uint64_t off, n;
} block;

static uint64_t env_u64(const char *name, uint64_t dflt) {
  const char *v = getenv(name);
  return v != NULL && *v != '\0' ? strtoull(v, NULL, 0) : dflt;
}

/* xorshift64*: a seeded, reproducible generator. */
static uint64_t rnd(uint64_t *x) {
  *x ^= *x >> 12;
  *x ^= *x << 25;
  *x ^= *x >> 27;
  return *x * 0x2545F4914F6CDD1DULL;
}

/* Mostly small sizes spread over all classes, sometimes a run. */
static uint64_t random_size(uint64_t *x) {
  uint64_t r = rnd(x);

  if (r % 64 == 0)
    return R / 4 + 1 + rnd(x) % (3 * R);
  return 1 + rnd(x) % ((uint64_t)1 << (1 + rnd(x) % 14));
}

/* Marks [off, off + block size) in the shadow map, asserting that no unit
 * of it is already handed out, that it is in range and backed. */
static void shadow_take(uint8_t *map, const gcd_arena *a, const stub *s,
                        uint64_t off, uint64_t n) {
  uint64_t bs = gcd_arena_block_size(a, n);

  assert_true(off >= 1 && off + n <= STRESS_UNITS);
  assert_true(is_backed(s, off, n));
  for (uint64_t u = off; u < off + bs && u < STRESS_UNITS; u++) {
    if (map[u])
      fail_msg("unit %llu handed out twice", (unsigned long long)u);
    map[u] = 1;
  }
}

static void shadow_drop(uint8_t *map, const gcd_arena *a, uint64_t off,
                        uint64_t n) {
  uint64_t bs = gcd_arena_block_size(a, n);

  for (uint64_t u = off; u < off + bs && u < STRESS_UNITS; u++)
    map[u] = 0;
}

/* The live block at off of request size n, or -1. */
static long find_live(const block *live, unsigned nlive, uint64_t off, uint64_t n) {
  for (unsigned j = 0; j < nlive; j++)
    if (live[j].off == off && live[j].n == n)
      return (long)j;
  return -1;
}

static unsigned long long runs_of_many; /* free_run_from() calls with count > 1 */

/* Frees live[i] and the live blocks of its size that follow it one after
 * another, with one gcd_arena_free_run(). */
static void free_run_from(gcd_arena *a, uint8_t *map, block *live, unsigned *nlive,
                          unsigned i) {
  uint64_t off = live[i].off, n = live[i].n, bs = gcd_arena_block_size(a, n), count = 1;

  while (find_live(live, *nlive, off + count * bs, n) >= 0)
    count++;
  for (uint64_t k = 0; k < count; k++)
    assert_true(gcd_arena_owns(a, off + k * bs, n));
  runs_of_many += count > 1;
  gcd_arena_free_run(a, off, n, count);
  for (uint64_t k = 0; k < count; k++) {
    long j = find_live(live, *nlive, off + k * bs, n);
    assert_false(gcd_arena_owns(a, off + k * bs, n));
    shadow_drop(map, a, off + k * bs, n);
    live[j] = live[--*nlive];
  }
}

/* One step: allocate (while under the live cap and not full) or free a
 * random live block (one time in eight with the live blocks of its size
 * right after it, as one run). Returns 1 when an allocation found the arena
 * full. */
static int stress_step(gcd_arena *a, stub *s, uint8_t *map, block *live,
                        unsigned *nlive, uint64_t *x) {
  uint64_t n = random_size(x), off;
  unsigned i;
  int full = 0;

  if (*nlive < STRESS_LIVE && rnd(x) % 100 < 55) {
    int err = gcd_arena_alloc(a, n, &off);
    if (err == 0) {
      shadow_take(map, a, s, off, n);
      live[(*nlive)++] = (block){off, n};
      return 0;
    }
    assert_int_equal(err, GC_ENOMEM);
    full = 1;
  }
  if (*nlive == 0)
    return full;
  i = (unsigned)(rnd(x) % *nlive);
  assert_true(gcd_arena_owns(a, live[i].off, live[i].n));
  if (rnd(x) % 8 == 0) {
    free_run_from(a, map, live, nlive, i);
    return full;
  }
  gcd_arena_free(a, live[i].off, live[i].n);
  shadow_drop(map, a, live[i].off, live[i].n);
  live[i] = live[--*nlive];
  return full;
}

static void test_arena_stress_random_against_shadow_model(void **state) {
  uint64_t seed = env_u64("GCD_TEST_SEED", 0x9e3779b97f4a7c15ULL) | 1;
  uint64_t iters = env_u64("GCD_TEST_ITERS", 400000), x = seed, off;
  uint8_t *map = calloc(STRESS_UNITS, 1);
  block *live = calloc(STRESS_LIVE, sizeof *live);
  unsigned nlive = 0, full = 0;
  gcd_arena a;
  stub s;

  print_message("seed 0x%llx, %llu steps\n", (unsigned long long)seed,
                (unsigned long long)iters);
  assert_non_null(map);
  assert_non_null(live);
  arena_setup(&a, &s, 0, STRESS_UNITS);
  for (uint64_t it = 0; it < iters; it++) {
    full += (unsigned)stress_step(&a, &s, map, live, &nlive, &x);
    if (it % 20000 == 0)
      assert_verifies(&a);
  }
  print_message("%u allocations found the arena full, %llu runs of several blocks freed\n",
                full, runs_of_many);
  assert_true(full > 0); /* the model was checked at the edge, too */
  assert_true(runs_of_many > 0);
  while (nlive > 0) {
    nlive--;
    gcd_arena_free(&a, live[nlive].off, live[nlive].n);
  }
  assert_int_equal(a.used, 0);
  assert_verifies(&a);
  /* every freed block is reusable: the whole arena fits one run again */
  assert_int_equal(gcd_arena_alloc(&a, STRESS_UNITS - R, &off), 0);
  gcd_arena_purge(&a, UINT64_MAX); /* the spares it reclaimed, region 0 among them */
  assert_int_equal(backed_regions(&s), STRESS_REGIONS - 1);
  gcd_arena_free(&a, off, STRESS_UNITS - R);
  assert_int_equal(backed_regions(&s), 0);
  gcd_arena_destroy(&a);
  free(map);
  free(live);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_arena_block_size_classes_waste_at_most_25_percent),
      cmocka_unit_test(test_arena_alloc_never_hands_out_unit_zero),
      cmocka_unit_test(test_arena_alloc_reuses_freed_block),
      cmocka_unit_test(test_arena_alloc_blocks_aligned_to_class),
      cmocka_unit_test(test_arena_owns_only_exact_live_blocks),
      cmocka_unit_test(test_arena_released_follows_backing),
      cmocka_unit_test(test_arena_full_is_enomem_then_recovers_after_free),
      cmocka_unit_test(test_arena_impossible_size_is_etoobig),
      cmocka_unit_test(test_arena_reserve_failure_is_enomem_and_leaks_nothing),
      cmocka_unit_test(test_arena_large_run_free_calls_release),
      cmocka_unit_test(test_arena_empty_region_released_keeping_one_spare),
      cmocka_unit_test(test_arena_unpurged_region_reused_without_calls),
      cmocka_unit_test(test_arena_spare_of_one_class_serves_another),
      cmocka_unit_test(test_arena_verify_catches_wrong_count),
      cmocka_unit_test(test_arena_free_of_unallocated_block_is_caught),
      cmocka_unit_test(test_arena_free_run_across_regions),
      cmocka_unit_test(test_arena_free_run_with_a_hole_frees_the_rest),
      cmocka_unit_test(test_arena_stress_random_against_shadow_model),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
