/*
 * arena.c -- size-class allocator over a range of units of a shared segment.
 *
 * Owns: the bookkeeping of one arena (region descriptors, block bitmaps,
 * per-class lists, the pool of unassigned regions), all in daemon-private
 * malloc'd memory. Must not touch: the segment itself -- it never reads or
 * writes a unit it hands out, and backs or releases memory only through the
 * reserve/release callbacks. It knows nothing of objects.
 *
 * The range is cut into regions of R = 2^GCD_ARENA_REGION_SHIFT units (the
 * last may be shorter). A region is in one of three states:
 *   FREE   in the pool (freemap bit set), no backing reserved;
 *   SMALL  serves one size class: nblocks blocks of class_size units, a
 *          bitmap of used blocks; listed in its class while it has a free one;
 *   RUN    the first of `run` consecutive regions given whole to one large
 *          block (the others are TAIL).
 * A request of n <= R/4 units takes a block of the smallest class >= n
 * (classes 1..8, then four per doubling: <= 25% waste); a larger one a run.
 * Unit 0 of the segment is never handed out, so 0 can mean "none": when the
 * range starts at 0, region 0 pins its block 0 and never starts a run.
 * Each class keeps at most one empty region (its spare) so that a block
 * freed and allocated again does not reserve and release the region each
 * time; spares are given back when the pool runs dry.
 *
 * A region that falls empty goes back to the pool still backed ("unpurged",
 * a bit in unpurgedmap): giving memory back is a system call per region,
 * which a collection freeing a million objects must not make while it holds
 * the heap lock. gcd_arena_purge() releases them a few at a time, from a
 * timer; a region taken from the pool before that needs no new reservation.
 *
 * Threading: loop thread only.
 */
#include "arena.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "gcclient.h"

#define R ((uint64_t)1 << GCD_ARENA_REGION_SHIFT)
#define SMALL_MAX (R / 4)
#define NCLASSES 52 /* class_of(SMALL_MAX) + 1 */
#define NIL UINT32_MAX

enum { REGION_FREE, REGION_SMALL, REGION_RUN, REGION_TAIL };

struct gcd_arena_region {
  uint64_t *bitmap;   /* SMALL: bit i set = block i used (or pinned) */
  uint8_t state;      /* REGION_* */
  uint8_t pinned;     /* SMALL: block 0 holds unit 0 and is never handed out */
  uint8_t listed;     /* SMALL: on its class list (has a free block) */
  uint8_t cls;        /* SMALL: size class */
  uint32_t nblocks;   /* SMALL: blocks in the region */
  uint32_t used;      /* SMALL: bits set, the pinned one included */
  uint32_t hint;      /* SMALL: no clear bit below bitmap word hint */
  uint32_t run;       /* RUN: regions in the run */
  uint32_t next, prev; /* SMALL and listed: class list links */
};

struct gcd_arena_class {
  uint32_t head;  /* first region with a free block, NIL if none */
  uint32_t spare; /* the class's one empty region, NIL if none */
  uint64_t inv;   /* ceil(2^32 / class size): block numbers without a division */
};

/* ---------------------------------------------------------------- classes */

/* The class of a small request: 1..8 map to themselves, then four classes
 * per power of two, chosen from the two bits below the top bit of n-1. */
static unsigned class_of(uint64_t n) {
  uint64_t w = n - 1;
  unsigned b;

  if (n <= 8)
    return (unsigned)n - 1;
  b = 63u - (unsigned)__builtin_clzll(w);
  return 4 * b + (unsigned)((w >> (b - 2)) & 3) - 4;
}

/* Units in a block of class c; the inverse of class_of on class sizes. */
static uint64_t class_size(unsigned c) {
  unsigned b = c / 4 + 1;

  if (c < 8)
    return c + 1;
  return (uint64_t)(5 + c % 4) << (b - 2);
}

/* Regions a run for a request of n units takes. */
static uint64_t run_regions(uint64_t n) { return (n + R - 1) / R; }

uint64_t gcd_arena_block_size(const gcd_arena *a, uint64_t n) {
  if (n <= SMALL_MAX)
    return class_size(class_of(n));
  return run_regions(n) * R;
}

/* ---------------------------------------------------------------- regions */

static uint64_t region_start(const gcd_arena *a, uint64_t r) {
  return a->base + r * R;
}

/* Units in region r: R, except for a shorter last region. */
static uint64_t region_len(const gcd_arena *a, uint64_t r) {
  uint64_t left = a->size - r * R;
  return left < R ? left : R;
}

/* The first region a run may start at: not one holding unit 0. */
static uint64_t first_run_region(const gcd_arena *a) {
  return a->base == 0 ? 1 : 0;
}

/* Region index of a unit offset inside the range. */
static uint64_t region_of(const gcd_arena *a, uint64_t off) {
  return (off - a->base) >> GCD_ARENA_REGION_SHIFT;
}

/* ------------------------------------------------------------------- pool */

static int pool_has(const gcd_arena *a, uint64_t r) {
  return (a->freemap[r / 64] >> (r % 64)) & 1;
}

static int unpurged(const gcd_arena *a, uint64_t r) {
  return (a->unpurgedmap[r / 64] >> (r % 64)) & 1;
}

static void pool_put(gcd_arena *a, uint64_t r) {
  a->freemap[r / 64] |= (uint64_t)1 << (r % 64);
  if (r / 64 < a->free_hint)
    a->free_hint = r / 64;
  a->regions[r].state = REGION_FREE;
}

/* An emptied region joins the pool with its backing kept, to be released by
 * gcd_arena_purge(). */
static void pool_put_backed(gcd_arena *a, uint64_t r) {
  pool_put(a, r);
  a->unpurgedmap[r / 64] |= (uint64_t)1 << (r % 64);
  if (r / 64 < a->purge_hint)
    a->purge_hint = r / 64;
  a->unpurged++;
}

/* Takes r from the pool; 1 if it was still backed (nothing to reserve). */
static int pool_take(gcd_arena *a, uint64_t r) {
  int backed = unpurged(a, r);
  a->freemap[r / 64] &= ~((uint64_t)1 << (r % 64));
  a->unpurgedmap[r / 64] &= ~((uint64_t)1 << (r % 64));
  a->unpurged -= (uint64_t)backed;
  return backed;
}

/* The lowest unassigned region, or NIL. Low regions first keeps small
 * classes packed at the bottom, leaving long free stretches for runs. */
static uint32_t pool_lowest(gcd_arena *a) {
  uint64_t words = (a->nregions + 63) / 64;

  for (; a->free_hint < words; a->free_hint++) {
    uint64_t w = a->freemap[a->free_hint];
    if (w != 0)
      return (uint32_t)(a->free_hint * 64 + (uint64_t)__builtin_ctzll(w));
  }
  return NIL;
}

/* ------------------------------------------------------------ class lists */

static void list_push(gcd_arena *a, uint32_t r) {
  gcd_arena_region *g = &a->regions[r];
  gcd_arena_class *k = &a->classes[g->cls];

  g->prev = NIL;
  g->next = k->head;
  if (k->head != NIL)
    a->regions[k->head].prev = r;
  k->head = r;
  g->listed = 1;
}

static void list_remove(gcd_arena *a, uint32_t r) {
  gcd_arena_region *g = &a->regions[r];

  if (g->prev != NIL)
    a->regions[g->prev].next = g->next;
  else
    a->classes[g->cls].head = g->next;
  if (g->next != NIL)
    a->regions[g->next].prev = g->prev;
  g->listed = 0;
}

/* ------------------------------------------------------ small-class regions */

/* Turns pool region r into a SMALL region of class c. Backing is reserved
 * first: no block is handed out until a client can touch it safely. */
static int region_open(gcd_arena *a, uint32_t r, unsigned c) {
  gcd_arena_region *g = &a->regions[r];
  uint64_t nblocks = region_len(a, r) / class_size(c);
  int pinned = region_start(a, r) == 0;
  int err;

  if (nblocks <= (uint64_t)pinned)
    return GC_ENOMEM;
  g->bitmap = calloc((nblocks + 63) / 64, sizeof(uint64_t));
  if (g->bitmap == NULL)
    return GC_ENOMEM;
  err = unpurged(a, r) ? 0
                       : a->ops.reserve(a->ops.ctx, region_start(a, r), region_len(a, r));
  if (err != 0) {
    free(g->bitmap);
    g->bitmap = NULL;
    return err;
  }
  pool_take(a, r);
  *g = (gcd_arena_region){.bitmap = g->bitmap, .state = REGION_SMALL,
                          .pinned = (uint8_t)pinned, .cls = (uint8_t)c,
                          .nblocks = (uint32_t)nblocks, .used = (uint32_t)pinned};
  g->bitmap[0] = (uint64_t)pinned;
  list_push(a, r);
  return 0;
}

/* Gives an empty SMALL region back to the pool; its memory goes back to the
 * system at the next purge. */
static void region_close(gcd_arena *a, uint32_t r) {
  gcd_arena_region *g = &a->regions[r];
  gcd_arena_class *k = &a->classes[g->cls];

  if (g->listed)
    list_remove(a, r);
  if (k->spare == r)
    k->spare = NIL;
  free(g->bitmap);
  g->bitmap = NULL;
  pool_put_backed(a, r);
}

/* Closes every class's spare: called when the pool runs dry, so that an
 * empty region held for one class can serve another. 1 if any was closed. */
static int reclaim_spares(gcd_arena *a) {
  int any = 0;

  for (unsigned c = 0; c < NCLASSES; c++) {
    if (a->classes[c].spare != NIL) {
      region_close(a, a->classes[c].spare);
      any = 1;
    }
  }
  return any;
}

/* Finds (or opens) a region of class c with a free block. */
static int class_region(gcd_arena *a, unsigned c, uint32_t *r) {
  uint64_t bs = class_size(c);

  *r = a->classes[c].head;
  if (*r != NIL)
    return 0;
  *r = pool_lowest(a);
  if (*r == NIL || region_len(a, *r) < bs) {
    if (!reclaim_spares(a))
      return GC_ENOMEM;
    *r = pool_lowest(a);
    if (*r == NIL || region_len(a, *r) < bs)
      return GC_ENOMEM;
  }
  return region_open(a, *r, c);
}

/* Takes the first clear bit at or after the hint; the region is listed, so
 * one exists, and it lies below nblocks because every bit below the hint is
 * set. */
static uint32_t bitmap_take(gcd_arena_region *g) {
  uint32_t w = g->hint;

  while (g->bitmap[w] == UINT64_MAX)
    w++;
  g->hint = w;
  uint32_t bit = (uint32_t)__builtin_ctzll(~g->bitmap[w]);
  g->bitmap[w] |= (uint64_t)1 << bit;
  assert(w * 64 + bit < g->nblocks);
  return w * 64 + bit;
}

static int small_alloc(gcd_arena *a, unsigned c, uint64_t *off) {
  gcd_arena_region *g;
  uint32_t r, i;
  int err = class_region(a, c, &r);

  if (err != 0)
    return err;
  g = &a->regions[r];
  if (a->classes[c].spare == r)
    a->classes[c].spare = NIL;
  i = bitmap_take(g);
  if (++g->used == g->nblocks)
    list_remove(a, r);
  a->used += class_size(c);
  *off = region_start(a, r) + (uint64_t)i * class_size(c);
  return 0;
}

/* Block i of region r, of class c, goes back. A region that falls empty
 * becomes its class's spare, or goes back to the pool if the class already
 * has one. */
static void small_free(gcd_arena *a, uint32_t r, uint64_t i, unsigned c) {
  gcd_arena_region *g = &a->regions[r];

  g->bitmap[i / 64] &= ~((uint64_t)1 << (i % 64));
  if (i / 64 < g->hint)
    g->hint = (uint32_t)(i / 64);
  if (!g->listed)
    list_push(a, r);
  a->used -= class_size(c);
  if (--g->used > g->pinned)
    return;
  if (a->classes[c].spare == NIL)
    a->classes[c].spare = r;
  else
    region_close(a, r);
}

/* ------------------------------------------------------------------- runs */

/* Units in the k regions from s (only the range's last region is short). */
static uint64_t run_units(const gcd_arena *a, uint64_t s, uint64_t k) {
  return (k - 1) * R + region_len(a, s + k - 1);
}

/* The first of k consecutive pool regions holding at least n units, or NIL.
 * First fit; whole empty freemap words are skipped 64 regions at a time. */
static uint32_t find_run(const gcd_arena *a, uint64_t k, uint64_t n) {
  uint64_t r = first_run_region(a), len = 0;

  while (r < a->nregions) {
    if (r % 64 == 0 && a->freemap[r / 64] == 0) {
      r += 64;
      len = 0;
      continue;
    }
    len = pool_has(a, r) ? len + 1 : 0;
    r++;
    if (len == k)
      return run_units(a, r - k, k) >= n ? (uint32_t)(r - k) : NIL;
  }
  return NIL;
}

/* Reserves only the n units asked for (page-rounded by the callback): the
 * tail of the last region stays sparse. Released whole on free. */
static int run_alloc(gcd_arena *a, uint64_t n, uint64_t *off) {
  uint64_t k = run_regions(n);
  uint32_t s = find_run(a, k, n);
  int err;

  if (s == NIL && reclaim_spares(a))
    s = find_run(a, k, n);
  if (s == NIL)
    return GC_ENOMEM;
  /* Reserving backed pages again is harmless (fallocate keeps them). */
  err = a->ops.reserve(a->ops.ctx, region_start(a, s), n);
  if (err != 0)
    return err;
  for (uint64_t r = s; r < s + k; r++) {
    pool_take(a, r);
    a->regions[r] = (gcd_arena_region){.state = REGION_TAIL};
  }
  a->regions[s].state = REGION_RUN;
  a->regions[s].run = (uint32_t)k;
  a->used += k * R;
  *off = region_start(a, s);
  return 0;
}

/* The regions are in the pool before the release callback runs, so that
 * gcd_arena_released() answers for them there. */
static void run_free(gcd_arena *a, uint64_t off, uint64_t n) {
  uint64_t s = region_of(a, off), k = run_regions(n);

  for (uint64_t r = s; r < s + k; r++)
    pool_put(a, r);
  a->used -= k * R;
  a->ops.release(a->ops.ctx, off, run_units(a, s, k));
}

/* -------------------------------------------------------------- interface */

/* Whether a request of n could ever be met by this arena when empty: a run
 * cannot use a region holding unit 0; a small class needs a region with
 * room for a block besides a pinned one (regions 0 and 1 decide it, as no
 * region after 1 is longer than region 1). */
static int fits_ever(const gcd_arena *a, uint64_t n) {
  uint64_t bs;

  if (n > SMALL_MAX)
    return n <= a->size - first_run_region(a) * R;
  bs = class_size(class_of(n));
  if (region_len(a, 0) / bs > (uint64_t)(region_start(a, 0) == 0))
    return 1;
  return a->nregions > 1 && region_len(a, 1) >= bs;
}

/* Loop thread, at start-up. Every region starts in the pool, unbacked. */
int gcd_arena_init(gcd_arena *a, uint64_t base, uint64_t size,
                   const gcd_arena_ops *ops) {
  uint64_t n = (size + R - 1) / R;

  *a = (gcd_arena){.base = base, .size = size, .ops = *ops, .nregions = n};
  if (size == 0 || n >= NIL || base + size < base)
    return GC_EINVAL;
  a->regions = calloc(n, sizeof *a->regions);
  a->classes = malloc(NCLASSES * sizeof *a->classes);
  a->freemap = calloc((n + 63) / 64, sizeof(uint64_t));
  a->unpurgedmap = calloc((n + 63) / 64, sizeof(uint64_t));
  if (a->regions == NULL || a->classes == NULL || a->freemap == NULL ||
      a->unpurgedmap == NULL) {
    gcd_arena_destroy(a);
    return GC_ENOMEM;
  }
  for (unsigned c = 0; c < NCLASSES; c++)
    a->classes[c] = (gcd_arena_class){
        .head = NIL, .spare = NIL,
        .inv = (((uint64_t)1 << 32) + class_size(c) - 1) / class_size(c)};
  for (uint64_t r = 0; r < n; r++)
    pool_put(a, r);
  return 0;
}

/* Loop thread, at shutdown. Frees private memory only: the segment's
 * backing goes away with the segment. */
void gcd_arena_destroy(gcd_arena *a) {
  for (uint64_t r = 0; a->regions != NULL && r < a->nregions; r++)
    free(a->regions[r].bitmap);
  free(a->regions);
  free(a->classes);
  free(a->freemap);
  free(a->unpurgedmap);
  a->regions = NULL;
  a->classes = NULL;
  a->freemap = NULL;
  a->unpurgedmap = NULL;
}

/* Loop thread. Small requests: O(1) amortised (class list head, bitmap word
 * scan from the region's hint); runs: first fit over the pool bitmap. */
int gcd_arena_alloc(gcd_arena *a, uint64_t n, uint64_t *off) {
  if (n == 0)
    return GC_EINVAL;
  if (!fits_ever(a, n))
    return GC_ETOOBIG;
  if (n <= SMALL_MAX)
    return small_alloc(a, class_of(n), off);
  return run_alloc(a, n, off);
}

/* Block number of offset rel (< R) in a region of class c. Exact: with
 * inv = ceil(2^32 / size), the error rel * (inv * size - 2^32) / 2^32 stays
 * below 1 / size for every rel < 2^16 and size <= 2^14. */
static uint64_t block_of(const gcd_arena *a, uint64_t rel, unsigned c) {
  return (rel * a->classes[c].inv) >> 32;
}

_Static_assert(R <= ((uint64_t)1 << 16) && SMALL_MAX <= ((uint64_t)1 << 14),
               "block_of is exact for these sizes");

/* Whether [off, n) is block *i of SMALL region *r of n's class, its bit
 * set, and not the pinned block; off lies inside the range. */
static int small_block(const gcd_arena *a, uint64_t off, uint64_t n,
                       uint32_t *r, uint64_t *i) {
  unsigned c = class_of(n);
  uint64_t rel = (off - a->base) & (R - 1);
  const gcd_arena_region *g;

  *r = (uint32_t)region_of(a, off);
  *i = block_of(a, rel, c);
  g = &a->regions[*r];
  if (g->state != REGION_SMALL || g->cls != c || *i * class_size(c) != rel)
    return 0;
  if (*i >= g->nblocks || (g->pinned && *i == 0))
    return 0;
  return (g->bitmap[*i / 64] >> (*i % 64)) & 1;
}

static int in_range(const gcd_arena *a, uint64_t off, uint64_t n) {
  return n != 0 && off >= a->base && off - a->base < a->size;
}

/* Loop thread, or the collector with the heap lock. Freeing what is not
 * handed out is a bug of the daemon, never of a client (clients cannot name
 * arena blocks): assert, and in a release build leave the arena untouched
 * rather than corrupt it. */
void gcd_arena_free(gcd_arena *a, uint64_t off, uint64_t n) {
  uint32_t r;
  uint64_t i;

  if (n <= SMALL_MAX && in_range(a, off, n) && small_block(a, off, n, &r, &i)) {
    small_free(a, r, i, class_of(n));
    return;
  }
  if (n <= SMALL_MAX || !gcd_arena_owns(a, off, n)) {
    assert(!"gcd_arena_free: block not handed out");
    return;
  }
  run_free(a, off, n);
}

/* Whether bits [i, i + k) of a bitmap are all set. */
static int bits_all_set(const uint64_t *bm, uint64_t i, uint64_t k) {
  while (k > 0) {
    uint64_t b = i % 64, m = k < 64 - b ? k : 64 - b;
    uint64_t mask = (m == 64 ? UINT64_MAX : (((uint64_t)1 << m) - 1)) << b;
    if ((bm[i / 64] & mask) != mask)
      return 0;
    i += m;
    k -= m;
  }
  return 1;
}

static void bits_clear(uint64_t *bm, uint64_t i, uint64_t k) {
  while (k > 0) {
    uint64_t b = i % 64, m = k < 64 - b ? k : 64 - b;
    bm[i / 64] &= ~((m == 64 ? UINT64_MAX : (((uint64_t)1 << m) - 1)) << b);
    i += m;
    k -= m;
  }
}

/* Blocks i..i+k of SMALL region r, all handed out, go back at once; what
 * small_free() does for one, counters and lists touched once. */
static void small_free_many(gcd_arena *a, uint32_t r, uint64_t i, uint64_t k, unsigned c) {
  gcd_arena_region *g = &a->regions[r];

  bits_clear(g->bitmap, i, k);
  if (i / 64 < g->hint)
    g->hint = (uint32_t)(i / 64);
  if (!g->listed)
    list_push(a, r);
  a->used -= k * class_size(c);
  g->used -= (uint32_t)k;
  if (g->used > g->pinned)
    return;
  if (a->classes[c].spare == NIL)
    a->classes[c].spare = r;
  else
    region_close(a, r);
}

/* How many of the count blocks from off (request size n) lie in one SMALL
 * region, all handed out: *r and *i then name the region and the first
 * block. 0 when the block at off is not such a one, or a later one in the
 * region's share is not handed out. */
static uint64_t clean_share(const gcd_arena *a, uint64_t off, uint64_t n, uint64_t count,
                            uint32_t *r, uint64_t *i) {
  uint64_t k;

  if (n > SMALL_MAX || !in_range(a, off, n) || !small_block(a, off, n, r, i))
    return 0;
  k = a->regions[*r].nblocks - *i;
  if (k > count)
    k = count;
  return bits_all_set(a->regions[*r].bitmap, *i, k) ? k : 0;
}

/* Loop thread, or the collector with the heap lock. Each region's share of
 * the run is checked whole (every block handed out) before any goes back;
 * where it is not, blocks go one by one through gcd_arena_free(), which
 * catches the culprit. */
void gcd_arena_free_run(gcd_arena *a, uint64_t off, uint64_t n, uint64_t count) {
  uint64_t bs = gcd_arena_block_size(a, n);

  while (count > 0) {
    uint32_t r;
    uint64_t i, k = clean_share(a, off, n, count, &r, &i);

    if (k == 0) {
      gcd_arena_free(a, off, n);
      k = 1;
    } else {
      small_free_many(a, r, i, k, class_of(n));
    }
    off += k * bs;
    count -= k;
  }
}

/* Any caller that holds the arena still (loop thread, or the verifier). */
int gcd_arena_owns(const gcd_arena *a, uint64_t off, uint64_t n) {
  const gcd_arena_region *g;
  uint32_t r;
  uint64_t i;

  if (!in_range(a, off, n))
    return 0;
  if (n <= SMALL_MAX)
    return small_block(a, off, n, &r, &i);
  g = &a->regions[region_of(a, off)];
  return g->state == REGION_RUN && (off - a->base) % R == 0 &&
         g->run == run_regions(n);
}

/* Loop thread (or the heap lock held). Releases the backing of up to max
 * emptied regions, lowest first; returns how many. */
uint64_t gcd_arena_purge(gcd_arena *a, uint64_t max) {
  uint64_t words = (a->nregions + 63) / 64, done = 0;

  for (; done < max && a->purge_hint < words; a->purge_hint++) {
    uint64_t *w = &a->unpurgedmap[a->purge_hint];
    while (*w != 0 && done < max) {
      uint64_t r = a->purge_hint * 64 + (uint64_t)__builtin_ctzll(*w);
      *w &= *w - 1;
      a->ops.release(a->ops.ctx, region_start(a, r), region_len(a, r));
      a->unpurged--;
      done++;
    }
    if (*w != 0)
      break;
  }
  return done;
}

int gcd_arena_released(const gcd_arena *a, uint64_t off, uint64_t n) {
  uint64_t lo = off > a->base ? off : a->base;
  uint64_t hi = off + n < a->base + a->size ? off + n : a->base + a->size;

  if (lo >= hi)
    return 1; /* nothing of the range */
  for (uint64_t r = region_of(a, lo); r <= region_of(a, hi - 1); r++)
    if (!pool_has(a, r) || unpurged(a, r))
      return 0;
  return 1;
}

uint64_t gcd_arena_unpurged_units(const gcd_arena *a) {
  return a->unpurged * R;
}

/* --------------------------------------------------------------- verifier */

#define FAIL(...) (snprintf(msg, len, __VA_ARGS__), GC_ECORRUPT)

/* A SMALL region: geometry, pin, bitmap against its count, hint, listing. */
static int verify_small(const gcd_arena *a, uint64_t r, char *msg, size_t len) {
  const gcd_arena_region *g = &a->regions[r];
  uint64_t bs = class_size(g->cls), words = ((uint64_t)g->nblocks + 63) / 64;
  uint64_t bits = 0;

  if (g->cls >= NCLASSES || g->bitmap == NULL ||
      g->nblocks != region_len(a, r) / bs)
    return FAIL("arena region %" PRIu64 ": bad class geometry", r);
  if (g->pinned != (region_start(a, r) == 0) || (g->pinned && !(g->bitmap[0] & 1)))
    return FAIL("arena region %" PRIu64 ": unit 0 not pinned", r);
  for (uint64_t w = 0; w < words; w++) {
    if (w < g->hint && g->bitmap[w] != UINT64_MAX)
      return FAIL("arena region %" PRIu64 ": free block below hint", r);
    bits += (uint64_t)__builtin_popcountll(g->bitmap[w]);
  }
  if (g->nblocks % 64 && g->bitmap[words - 1] >> (g->nblocks % 64))
    return FAIL("arena region %" PRIu64 ": bits beyond its blocks", r);
  if (bits != g->used || g->used > g->nblocks)
    return FAIL("arena region %" PRIu64 ": %" PRIu64 " bits set, used %u", r,
                bits, g->used);
  if (g->listed != (g->used < g->nblocks))
    return FAIL("arena region %" PRIu64 ": listed %d with %u of %u used", r,
                g->listed, g->used, g->nblocks);
  if (g->used == g->pinned && a->classes[g->cls].spare != r)
    return FAIL("arena region %" PRIu64 ": empty but not its class's spare", r);
  return 0;
}

/* A run head and its tails, which must all follow it. */
static int verify_run(const gcd_arena *a, uint64_t r, char *msg, size_t len) {
  const gcd_arena_region *g = &a->regions[r];

  if (g->run == 0 || r + g->run > a->nregions || r < first_run_region(a))
    return FAIL("arena region %" PRIu64 ": bad run of %u regions", r, g->run);
  for (uint64_t t = r + 1; t < r + g->run; t++)
    if (a->regions[t].state != REGION_TAIL)
      return FAIL("arena region %" PRIu64 ": run of %u broken at %" PRIu64, r,
                  g->run, t);
  return 0;
}

/* One region against the pool bitmap; *next is the region to check next
 * (past a run's tails) and *units the units it has handed out. */
static int verify_region(const gcd_arena *a, uint64_t r, uint64_t *next,
                         uint64_t *units, char *msg, size_t len) {
  const gcd_arena_region *g = &a->regions[r];

  *next = r + 1;
  *units = 0;
  if (pool_has(a, r) != (g->state == REGION_FREE))
    return FAIL("arena region %" PRIu64 ": pool bit disagrees with state %u", r,
                g->state);
  if (unpurged(a, r) && g->state != REGION_FREE)
    return FAIL("arena region %" PRIu64 ": in use but marked unpurged", r);
  if (g->state == REGION_SMALL) {
    *units = (uint64_t)(g->used - g->pinned) * class_size(g->cls);
    return verify_small(a, r, msg, len);
  }
  if (g->state == REGION_RUN) {
    *next = r + g->run;
    *units = (uint64_t)g->run * R;
    return verify_run(a, r, msg, len);
  }
  if (g->state == REGION_TAIL)
    return FAIL("arena region %" PRIu64 ": run tail without a head", r);
  return 0;
}

/* Class c's list: members are listed SMALL regions of c, links agree, no
 * cycle; *count gets its length. Its spare, if any, is an empty region of c. */
static int verify_class(const gcd_arena *a, unsigned c, uint64_t *count,
                        char *msg, size_t len) {
  const gcd_arena_class *k = &a->classes[c];
  uint32_t prev = NIL;

  *count = 0;
  for (uint32_t r = k->head; r != NIL; prev = r, r = a->regions[r].next) {
    const gcd_arena_region *g = &a->regions[r];
    if (r >= a->nregions || ++*count > a->nregions)
      return FAIL("arena class %u: list broken", c);
    if (g->state != REGION_SMALL || g->cls != c || !g->listed || g->prev != prev)
      return FAIL("arena class %u: region %u listed wrongly", c, r);
  }
  if (k->spare != NIL &&
      (k->spare >= a->nregions || a->regions[k->spare].state != REGION_SMALL ||
       a->regions[k->spare].cls != c ||
       a->regions[k->spare].used != a->regions[k->spare].pinned))
    return FAIL("arena class %u: spare %u is not an empty region of it", c,
                k->spare);
  return 0;
}

/* Loop thread (or with the loop stopped). */
int gcd_arena_verify(const gcd_arena *a, char *msg, size_t len) {
  uint64_t units = 0, listed = 0, count, u, backed = 0;
  int err;

  for (uint64_t r = 0, next; r < a->nregions; r = next) {
    if ((err = verify_region(a, r, &next, &u, msg, len)) != 0)
      return err;
    units += u;
    listed += a->regions[r].state == REGION_SMALL && a->regions[r].listed;
  }
  if (units != a->used)
    return FAIL("arena: regions hold %" PRIu64 " units, used says %" PRIu64,
                units, a->used);
  for (uint64_t r = 0; r < a->nregions; r++)
    backed += (uint64_t)unpurged(a, r);
  if (backed != a->unpurged)
    return FAIL("arena: %" PRIu64 " regions unpurged, counted %" PRIu64, backed,
                a->unpurged);
  for (unsigned c = 0; c < NCLASSES; c++) {
    if ((err = verify_class(a, c, &count, msg, len)) != 0)
      return err;
    listed -= count;
  }
  if (listed != 0)
    return FAIL("arena: listed regions missing from their class lists");
  return 0;
}
