/*
 * holds.h -- one session's retains: a multiset of handles.
 *
 * Every retain a client takes (alloc, retain, lookup) is recorded here and
 * every release must find one; on disconnect the session gives back what is
 * left. An open-addressing hash table keyed by the handle's table index
 * (linear probing, deletion by backward shift, no tombstones), so adding and
 * removing stay O(1) with millions of distinct handles.
 *
 * Owns: the table memory. Must not touch: the heap (the caller increfs and
 * decrefs). Threading: loop thread only.
 */
#ifndef GCD_HOLDS_H
#define GCD_HOLDS_H

#include <stddef.h>
#include <stdint.h>

typedef struct gcd_holds_entry {
  uint64_t handle; /* 0: empty bucket */
  uint64_t count;  /* retains on handle, >= 1 */
} gcd_holds_entry;

typedef struct gcd_holds {
  gcd_holds_entry *tab;
  size_t cap;      /* buckets: 0 or a power of two */
  size_t used;     /* distinct handles */
  uint64_t total;  /* sum of counts */
} gcd_holds;

void gcd_holds_init(gcd_holds *h);
void gcd_holds_destroy(gcd_holds *h);

/** Records one more retain on handle (non-zero). 0 or GC_ENOMEM. */
int gcd_holds_add(gcd_holds *h, uint64_t handle);

/** Removes one retain on handle. 0, or GC_ENOTHELD when none is recorded. */
int gcd_holds_remove(gcd_holds *h, uint64_t handle);

/** Retains recorded on handle (0 when none). */
uint64_t gcd_holds_count(const gcd_holds *h, uint64_t handle);

/** Distinct handles held. */
size_t gcd_holds_size(const gcd_holds *h);

/** Retains held, all handles together. */
uint64_t gcd_holds_total(const gcd_holds *h);

/** Calls fn for every handle held, with its count; fn must not change h. */
void gcd_holds_each(const gcd_holds *h,
                    void (*fn)(void *ctx, uint64_t handle, uint64_t count),
                    void *ctx);

#endif /* GCD_HOLDS_H */
