/*
 * names.h -- named roots: name -> handle, each name holding one reference on
 * its object, so that one client can hand a graph to another with no moment
 * at which nothing holds it.
 *
 * Names are byte strings of 1..GC_NAME_MAX bytes without NUL; the table keeps
 * its own copies. Open addressing (linear probing, backward-shift deletion).
 *
 * Owns: the table and the name copies; one heap reference per name. Must not
 * touch: sessions (lookup returns the handle; the caller records the retain
 * of its session in the same loop-thread operation, so an unpublish cannot
 * come between). Threading: loop thread only.
 */
#ifndef GCD_NAMES_H
#define GCD_NAMES_H

#include <stddef.h>
#include <stdint.h>

#include "heap.h"

typedef struct gcd_name_entry {
  char *name;      /* NULL: empty bucket; NUL-terminated copy */
  size_t len;
  uint64_t hash;
  uint64_t handle;
} gcd_name_entry;

typedef struct gcd_names {
  gcd_name_entry *tab;
  size_t cap;      /* 0 or a power of two */
  size_t used;
} gcd_names;

void gcd_names_init(gcd_names *n);

/** Drops every name's reference (objects may be freed), then the table. */
void gcd_names_destroy(gcd_names *n, gcd_heap *heap);

/** 0 when name[0, len) is a valid name, else GC_ENAME. */
int gcd_names_check(const char *name, size_t len);

/**
 * Publishes handle under name, taking a reference on it. Errors: GC_ENAME,
 * GC_EEXIST (*existing, if not NULL, gets the handle already there),
 * GC_EBADHANDLE/GC_ESTALE (handle), GC_ENOMEM (daemon memory).
 */
int gcd_names_publish(gcd_names *n, gcd_heap *heap, const char *name,
                      size_t len, uint64_t handle, uint64_t *existing);

/** The handle published under name. Errors: GC_ENAME, GC_ENOENT. */
int gcd_names_lookup(const gcd_names *n, const char *name, size_t len,
                     uint64_t *handle);

/**
 * Removes name and drops its reference (the object may be freed).
 * Errors: GC_ENAME, GC_ENOENT.
 */
int gcd_names_unpublish(gcd_names *n, gcd_heap *heap, const char *name,
                        size_t len);

/** Names published. */
size_t gcd_names_count(const gcd_names *n);

/** Calls fn for every name; fn must not change n. */
void gcd_names_each(const gcd_names *n,
                    void (*fn)(void *ctx, const char *name, size_t len,
                               uint64_t handle),
                    void *ctx);

#endif /* GCD_NAMES_H */
