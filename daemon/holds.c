/*
 * holds.c -- the per-session multiset of retained handles.
 *
 * Owns: the bucket array. Must not touch: the heap. Threading: loop thread.
 *
 * Buckets are keyed by the handle's table index: a held object is live, so
 * no two held handles share an index. The index is spread by Fibonacci
 * hashing (sequential indexes land far apart). The table stays at most 3/4
 * full so linear probes stay short, and halves when it falls under 1/8 so a
 * client that held millions once does not keep the memory.
 */
#include "holds.h"

#include <stdlib.h>
#include <string.h>

#include "gcclient.h"

#define MIN_CAP 16u

void gcd_holds_init(gcd_holds *h) {
  memset(h, 0, sizeof *h);
}

void gcd_holds_destroy(gcd_holds *h) {
  free(h->tab);
  gcd_holds_init(h);
}

static size_t bucket_of(const gcd_holds *h, uint64_t handle) {
  uint64_t x = (uint32_t)handle * UINT64_C(0x9E3779B97F4A7C15);
  return (size_t)(x >> 32) & (h->cap - 1);
}

/* The bucket of handle's index, or the empty bucket where it would go. */
static size_t probe(const gcd_holds *h, uint64_t handle) {
  size_t i = bucket_of(h, handle);

  while (h->tab[i].handle != 0 && (uint32_t)h->tab[i].handle != (uint32_t)handle)
    i = (i + 1) & (h->cap - 1);
  return i;
}

/* Rehashes into cap buckets; on failure the table is left as it was. */
static int resize(gcd_holds *h, size_t cap) {
  gcd_holds old = *h;

  if ((h->tab = calloc(cap, sizeof *h->tab)) == NULL) {
    *h = old;
    return GC_ENOMEM;
  }
  h->cap = cap;
  for (size_t i = 0; i < old.cap; i++)
    if (old.tab[i].handle != 0)
      h->tab[probe(h, old.tab[i].handle)] = old.tab[i];
  free(old.tab);
  return 0;
}

int gcd_holds_add(gcd_holds *h, uint64_t handle) {
  size_t i;

  if ((h->used + 1) * 4 > h->cap * 3 &&
      resize(h, h->cap == 0 ? MIN_CAP : h->cap * 2) != 0)
    return GC_ENOMEM;
  i = probe(h, handle);
  if (h->tab[i].handle == 0) {
    h->tab[i].handle = handle;
    h->used++;
  }
  h->tab[i].count++;
  h->total++;
  return 0;
}

/* Backward-shift deletion: later members of the probe run move into the hole
 * unless their home bucket lies cyclically in (hole, their position]. */
static void bucket_clear(gcd_holds *h, size_t hole) {
  size_t mask = h->cap - 1, j = hole;

  for (;;) {
    j = (j + 1) & mask;
    if (h->tab[j].handle == 0)
      break;
    size_t home = bucket_of(h, h->tab[j].handle);
    if (((j - home) & mask) >= ((j - hole) & mask)) {
      h->tab[hole] = h->tab[j];
      hole = j;
    }
  }
  h->tab[hole].handle = 0;
  h->tab[hole].count = 0;
}

int gcd_holds_remove(gcd_holds *h, uint64_t handle) {
  size_t i;

  if (h->cap == 0 || handle == 0)
    return GC_ENOTHELD;
  i = probe(h, handle);
  if (h->tab[i].handle != handle)
    return GC_ENOTHELD;
  h->total--;
  if (--h->tab[i].count > 0)
    return 0;
  bucket_clear(h, i);
  h->used--;
  if (h->cap > MIN_CAP && h->used * 8 < h->cap)
    resize(h, h->cap / 2); /* a failed shrink only keeps memory longer */
  return 0;
}

uint64_t gcd_holds_count(const gcd_holds *h, uint64_t handle) {
  size_t i;

  if (h->cap == 0 || handle == 0)
    return 0;
  i = probe(h, handle);
  return h->tab[i].handle == handle ? h->tab[i].count : 0;
}

size_t gcd_holds_size(const gcd_holds *h) {
  return h->used;
}

uint64_t gcd_holds_total(const gcd_holds *h) {
  return h->total;
}

void gcd_holds_each(const gcd_holds *h,
                    void (*fn)(void *ctx, uint64_t handle, uint64_t count),
                    void *ctx) {
  for (size_t i = 0; i < h->cap; i++)
    if (h->tab[i].handle != 0)
      fn(ctx, h->tab[i].handle, h->tab[i].count);
}
