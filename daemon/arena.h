/*
 * arena.h -- a size-class allocator over a range of a shared segment.
 *
 * The arena hands out offsets, never pointers, and keeps all its bookkeeping
 * in daemon-private memory: a client that scribbles over shared memory cannot
 * corrupt it. The range is cut into regions of GCD_ARENA_REGION units; a
 * region serves one size class (a bitmap marks its used blocks), and a request
 * larger than a quarter region takes a run of whole regions. A region's backing
 * is reserved (reserve callback) before any block of it is handed out; a run
 * that is freed is released at once (release callback), a small-class region
 * that falls empty at the next gcd_arena_purge().
 *
 * Units: the arena counts in units (bytes for payloads, slots for slot arrays);
 * the callbacks receive unit offsets and lengths and scale them themselves.
 *
 * Threading: the loop thread, or the collector thread while it holds the
 * heap lock (finish frees what a collection found).
 */
#ifndef GCD_ARENA_H
#define GCD_ARENA_H

#include <stddef.h>
#include <stdint.h>

#define GCD_ARENA_REGION_SHIFT 16 /* 64 Ki units a region */

typedef struct gcd_arena_region gcd_arena_region; /* private to arena.c */
typedef struct gcd_arena_class gcd_arena_class;   /* private to arena.c */

typedef struct gcd_arena_ops {
  void *ctx;
  int (*reserve)(void *ctx, uint64_t off, uint64_t len);  /* 0 or GC_ENOMEM */
  void (*release)(void *ctx, uint64_t off, uint64_t len);
} gcd_arena_ops;

typedef struct gcd_arena {
  uint64_t base;           /* first unit of the range (offset 0 is never handed out) */
  uint64_t size;           /* units in the range */
  gcd_arena_ops ops;
  gcd_arena_region *regions;
  uint64_t nregions;
  uint64_t used;           /* units handed out, rounded to size classes */
  gcd_arena_class *classes; /* private per-class lists */
  uint64_t *freemap;       /* private: bit r set = region r is unassigned */
  uint64_t free_hint;      /* private: no unassigned region below word free_hint */
  uint64_t *unpurgedmap;   /* private: bit r set = region r unassigned, still backed */
  uint64_t unpurged;       /* private: bits set in unpurgedmap */
  uint64_t purge_hint;     /* private: no unpurged region below word purge_hint */
} gcd_arena;

/** Sets up an arena over [base, base+size) units. 0 or GC_ENOMEM (private
 * memory), GC_EINVAL for an empty or unaddressably large range. */
int gcd_arena_init(gcd_arena *a, uint64_t base, uint64_t size, const gcd_arena_ops *ops);

void gcd_arena_destroy(gcd_arena *a);

/**
 * Hands out n >= 1 units; *off receives the first. Never returns a unit that
 * is already handed out. GC_ETOOBIG if n could never fit, GC_ENOMEM if it
 * does not fit now (or backing could not be reserved).
 */
int gcd_arena_alloc(gcd_arena *a, uint64_t n, uint64_t *off);

/** Takes back a block from gcd_arena_alloc(a, n, ...). */
void gcd_arena_free(gcd_arena *a, uint64_t off, uint64_t n);

/**
 * Takes back count blocks from gcd_arena_alloc(a, n, ...) that lie one
 * after another: the k-th at off + k * gcd_arena_block_size(a, n). The same
 * as count calls of gcd_arena_free(), at a bitmap word's cost per 64 small
 * blocks: a collection frees its garbage in allocation order, so its slot
 * arrays come back in such runs.
 */
void gcd_arena_free_run(gcd_arena *a, uint64_t off, uint64_t n, uint64_t count);

/** The units a request of n really takes (its size class). */
uint64_t gcd_arena_block_size(const gcd_arena *a, uint64_t n);

/** 1 if [off, n) is exactly one block handed out for a request of n, else 0. */
int gcd_arena_owns(const gcd_arena *a, uint64_t off, uint64_t n);

/** Gives the backing of up to max emptied regions back to the system (one
 *  release call each); returns how many. */
uint64_t gcd_arena_purge(gcd_arena *a, uint64_t max);

/** 1 if every region [off, off+n) touches inside the range is unassigned
 *  with no backing (given back, or never reserved); else 0. For memory that
 *  shadows the range in larger pieces than a region: the release callback
 *  may ask, the regions it releases already count. */
int gcd_arena_released(const gcd_arena *a, uint64_t off, uint64_t n);

/** Units in emptied regions whose backing is not given back yet. */
uint64_t gcd_arena_unpurged_units(const gcd_arena *a);

/** Checks internal consistency (bitmaps against counts, lists against states). 0 or GC_ECORRUPT with msg. */
int gcd_arena_verify(const gcd_arena *a, char *msg, size_t len);

#endif /* GCD_ARENA_H */
