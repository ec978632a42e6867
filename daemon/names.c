/*
 * names.c -- the named-root table.
 *
 * Owns: bucket array, name copies, one heap reference per entry. Must not
 * touch: sessions, the wire. Threading: loop thread only.
 */
#include "names.h"

#include <stdlib.h>
#include <string.h>

#include "gcclient.h"

#define MIN_CAP 16u

void gcd_names_init(gcd_names *n) {
  memset(n, 0, sizeof *n);
}

int gcd_names_check(const char *name, size_t len) {
  if (name == NULL || len == 0 || len > GC_NAME_MAX)
    return GC_ENAME;
  return memchr(name, '\0', len) == NULL ? 0 : GC_ENAME;
}

/* FNV-1a, 64-bit: names are short and attacker-chosen only by local users. */
static uint64_t name_hash(const char *name, size_t len) {
  uint64_t x = UINT64_C(0xcbf29ce484222325);

  for (size_t i = 0; i < len; i++)
    x = (x ^ (unsigned char)name[i]) * UINT64_C(0x100000001b3);
  return x;
}

/* The bucket holding name, or the empty bucket where it would go. */
static size_t probe(const gcd_names *n, const char *name, size_t len,
                    uint64_t hash) {
  size_t mask = n->cap - 1, i = (size_t)hash & mask;

  for (; n->tab[i].name != NULL; i = (i + 1) & mask) {
    const gcd_name_entry *e = &n->tab[i];
    if (e->hash == hash && e->len == len && memcmp(e->name, name, len) == 0)
      break;
  }
  return i;
}

static int grow(gcd_names *n) {
  gcd_names old = *n;
  size_t cap = n->cap == 0 ? MIN_CAP : n->cap * 2;

  if ((n->tab = calloc(cap, sizeof *n->tab)) == NULL) {
    *n = old;
    return GC_ENOMEM;
  }
  n->cap = cap;
  for (size_t i = 0; i < old.cap; i++) {
    const gcd_name_entry *e = &old.tab[i];
    if (e->name != NULL)
      n->tab[probe(n, e->name, e->len, e->hash)] = *e;
  }
  free(old.tab);
  return 0;
}

/* Finds name; *slot gets its bucket. 0, GC_ENAME or GC_ENOENT. */
static int find(const gcd_names *n, const char *name, size_t len, size_t *slot) {
  int err = gcd_names_check(name, len);

  if (err != 0)
    return err;
  if (n->cap == 0)
    return GC_ENOENT;
  *slot = probe(n, name, len, name_hash(name, len));
  return n->tab[*slot].name != NULL ? 0 : GC_ENOENT;
}

/* Checks come before any change, so a failed publish changes nothing. */
int gcd_names_publish(gcd_names *n, gcd_heap *heap, const char *name,
                      size_t len, uint64_t handle, uint64_t *existing) {
  uint32_t index;
  size_t i;
  char *copy;
  int err = find(n, name, len, &i);

  if (err == 0) {
    if (existing != NULL)
      *existing = n->tab[i].handle;
    return GC_EEXIST;
  }
  if (err != GC_ENOENT || (err = gcd_heap_resolve(heap, handle, &index)) != 0)
    return err;
  if ((n->used + 1) * 4 > n->cap * 3 && grow(n) != 0)
    return GC_ENOMEM;
  if ((copy = malloc(len + 1)) == NULL)
    return GC_ENOMEM;
  memcpy(copy, name, len);
  copy[len] = '\0';
  uint64_t hash = name_hash(name, len);
  n->tab[probe(n, name, len, hash)] =
      (gcd_name_entry){.name = copy, .len = len, .hash = hash, .handle = handle};
  n->used++;
  gcd_heap_incref(heap, index);
  return 0;
}

int gcd_names_lookup(const gcd_names *n, const char *name, size_t len,
                     uint64_t *handle) {
  size_t i;
  int err = find(n, name, len, &i);

  if (err == 0)
    *handle = n->tab[i].handle;
  return err;
}

/* Backward-shift deletion, as in holds.c: no tombstones to sweep. */
static void bucket_clear(gcd_names *n, size_t hole) {
  size_t mask = n->cap - 1, j = hole;

  for (;;) {
    j = (j + 1) & mask;
    if (n->tab[j].name == NULL)
      break;
    size_t home = (size_t)n->tab[j].hash & mask;
    if (((j - home) & mask) >= ((j - hole) & mask)) {
      n->tab[hole] = n->tab[j];
      hole = j;
    }
  }
  memset(&n->tab[hole], 0, sizeof n->tab[hole]);
}

/* The entry leaves the table before its reference is dropped: the decref
 * may free a graph, and nothing must then find the name. */
int gcd_names_unpublish(gcd_names *n, gcd_heap *heap, const char *name,
                        size_t len) {
  uint32_t index;
  size_t i;
  int err = find(n, name, len, &i);

  if (err != 0)
    return err;
  uint64_t handle = n->tab[i].handle;
  free(n->tab[i].name);
  bucket_clear(n, i);
  n->used--;
  if (gcd_heap_resolve(heap, handle, &index) == 0)
    gcd_heap_decref(heap, index);
  return 0;
}

size_t gcd_names_count(const gcd_names *n) {
  return n->used;
}

void gcd_names_each(const gcd_names *n,
                    void (*fn)(void *ctx, const char *name, size_t len,
                               uint64_t handle),
                    void *ctx) {
  for (size_t i = 0; i < n->cap; i++)
    if (n->tab[i].name != NULL)
      fn(ctx, n->tab[i].name, n->tab[i].len, n->tab[i].handle);
}

/* At shutdown: every reference goes back, so the heap ends empty when no
 * session holds anything either. */
void gcd_names_destroy(gcd_names *n, gcd_heap *heap) {
  uint32_t index;

  for (size_t i = 0; i < n->cap; i++) {
    gcd_name_entry *e = &n->tab[i];
    if (e->name == NULL)
      continue;
    if (heap != NULL && gcd_heap_resolve(heap, e->handle, &index) == 0)
      gcd_heap_decref(heap, index);
    free(e->name);
  }
  free(n->tab);
  gcd_names_init(n);
}
