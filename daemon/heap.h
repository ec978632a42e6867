/*
 * heap.h -- the object heap: object table, handles, reference counts, frees.
 *
 * Owns the two shared segments (through shm.h) and the two arenas (payload
 * bytes in the data segment, slot arrays in the meta segment). Knows nothing
 * of sessions, names, the wire or libuv: callers pass it handles and counts.
 *
 * Threading: every function here is called from the loop thread only, unless
 * it says otherwise.
 */
#ifndef GCD_HEAP_H
#define GCD_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "gcclient.h"
#include "gcd_layout.h"
#include "shm.h"

typedef struct gcd_heap_config {
  uint64_t data_size;   /* payload capacity in bytes (--heap-size) */
  uint64_t max_objects; /* 0: data_size / 64, clamped to [1024, 2^31] */
  uint64_t slots_cap;   /* 0: data_size / 32 slots, at least 4096, at most
                           GCD_SLOTS_CAP_MAX; more is GC_EINVAL */
} gcd_heap_config;

typedef struct gcd_heap_stats {
  uint64_t objects;      /* live objects */
  uint64_t bytes_used;   /* data arena bytes handed out (size classes) */
  uint64_t bytes_total;  /* data segment capacity */
  uint64_t slots_used;   /* slot arena slots handed out (size classes) */
  uint64_t slots_total;  /* slot arena capacity */
  uint64_t allocs;       /* objects allocated since start */
  uint64_t frees;        /* objects freed since start */
  uint64_t cycle_frees;  /* of frees, those the collector found unreachable */
  uint64_t table_cap;    /* table entries, entry 0 included */
  uint64_t table_hwm;    /* entries ever used, entry 0 included */
  uint64_t bytes_unpurged; /* memory of emptied regions not given back yet
                              (both segments; gcd_heap_trim) */
} gcd_heap_stats;

/* A heap. Fields are private to heap.c; the struct is visible so that callers
 * (and tests) can embed it. It must not move after gcd_heap_init(): the
 * arenas' callbacks hold its address.
 *
 * Iterative frees need no worklist memory: an object whose count reaches
 * zero is unlinked at once (handles stale, payload returned) and, while its
 * slots still wait to be released, chained through its dead entry's
 * data_off field; so freeing any graph can neither recurse nor fail. */
struct gcd_gc;

/* where[i] of a live object: its slot offset << GCD_WHERE_SHIFT | nslots
 * (0 without slots). */
#define GCD_WHERE_SHIFT 26

_Static_assert(GC_SLOTS_MAX < (UINT64_C(1) << GCD_WHERE_SHIFT), "nslots fits in where[]");
_Static_assert(GCD_SLOTS_CAP_MAX <= (UINT64_C(1) << (64 - GCD_WHERE_SHIFT)),
               "a slot offset fits in where[]");

/* inrefs[i] (below): references to i from slots, and i's slots that hold
 * an untracked object. */
#define GCD_INREF_BITS 24
#define GCD_INREF_MAX ((UINT32_C(1) << GCD_INREF_BITS) - 1)
#define GCD_LEAFREFS_MAX (UINT32_MAX >> GCD_INREF_BITS)

static inline uint32_t gcd_inref_of(uint32_t v) { return v & GCD_INREF_MAX; }
static inline uint32_t gcd_leafrefs_of(uint32_t v) { return v >> GCD_INREF_BITS; }

static inline uint64_t gcd_where_off(uint64_t w) { return w >> GCD_WHERE_SHIFT; }
static inline uint32_t gcd_where_n(uint64_t w) {
  return (uint32_t)(w & ((UINT64_C(1) << GCD_WHERE_SHIFT) - 1));
}

typedef struct gcd_heap {
  gcd_shm meta;                /* meta segment: header, states, table, slot arena */
  gcd_shm data;                /* data segment: payloads */
  gcd_meta_header *hdr;        /* == meta.base */
  gcd_state *states;           /* table_cap entry states (gen, flags) */
  gcd_obj *table;              /* table_cap entries */
  _Atomic uint64_t *slots;     /* slot arena */
  gcd_arena data_arena;        /* byte offsets in data */
  gcd_arena slot_arena;        /* slot indexes in slots (unit: one slot) */
  uint64_t table_cap;
  uint64_t table_hwm;          /* next never-used index */
  uint64_t table_reserved;     /* entries whose backing is reserved */
  /* Private and dense (on huge pages where the system allows), so that the
   * daemon's hot paths and the collector's passes read no shared gcd_obj:
   *   counts[i]  the reference count again: the copy the daemon reads; the
   *              loop thread writes both copies together
   *   where[i]   where the slots are (GCD_WHERE_SHIFT), written at
   *              allocation; a live object's slot array never moves
   *   free[]     the free entries below the high-water mark, a stack: the
   *              last freed is the next handed out (a collection's garbage
   *              goes on last first, so it comes back in scan order)
   * The verifier checks them against the table. */
  _Atomic uint64_t *counts;
  uint64_t *where;
  uint32_t *free;
  uint64_t nfree;
  /* inrefs[i], private and dense like counts (loop thread writes, the
   * collector reads), for a full collection that needs no subtract pass
   * (collector.c): the low GCD_INREF_BITS count the slots of live objects
   * that hold i (its references from objects, of its count); the bits above
   * count i's own slots that hold an untracked object (one without slots),
   * up to GCD_LEAFREFS_MAX, where the field sticks (then: unknown). An inref
   * field that would pass GCD_INREF_MAX sticks there and sets
   * inrefs_lost: the counts are no longer exact, and the collector stops
   * relying on them for good. inref_max is GCD_INREF_MAX but for tests.
   * The verifier recounts both from the slots. */
  _Atomic uint32_t *inrefs;
  uint32_t inref_max;
  bool inrefs_lost;
  /* Each slot's target again, as a table index (0: null), private and
   * dense (4 bytes a slot, on huge pages where the system allows): what the
   * collector's passes and the frees read instead of the shared 8-byte slot
   * words. Written together with the slots (loop thread, or lock held);
   * the verifier checks that a live object's two copies agree. A dead
   * object's slots and edges are left as they were: nothing reads them, and
   * both are cleared when the block is handed out again. Sized by the slot
   * arena's capacity and backed as slots are used; a 2 MiB page of it goes
   * back once every slot region under it is released (heap.c). */
  _Atomic uint32_t *edges;
  uint64_t objects, allocs, frees;
  uint64_t cycle_frees;        /* of frees: objects the collector found unreachable */
  struct gcd_gc *gc;           /* the collector, told of every change; may be NULL */
} gcd_heap;

/** Creates both segments sized from cfg and empties the heap. 0 or GC_E*. */
int gcd_heap_init(gcd_heap *h, const gcd_heap_config *cfg);

/** Unmaps and closes the segments; frees private memory. */
void gcd_heap_destroy(gcd_heap *h);

/**
 * Allocates an object of nslots null slots and nbytes zeroed payload (16-byte
 * aligned in the data segment); its count is 1, owned by the caller. Errors:
 * GC_EINVAL (both sizes 0), GC_ETOOBIG (larger than the heap could ever
 * hold), GC_ENOMEM (full now).
 */
int gcd_heap_alloc(gcd_heap *h, uint32_t nslots, uint64_t nbytes, uint32_t type,
                   uint64_t *handle);

/**
 * Maps a handle to its table index. 0, or GC_EBADHANDLE (null, index out of
 * range, or a generation never handed out), or GC_ESTALE (object freed).
 */
int gcd_heap_resolve(const gcd_heap *h, uint64_t handle, uint32_t *index);

/** The entry at a resolved index. */
static inline gcd_obj *gcd_heap_obj(const gcd_heap *h, uint32_t index) {
  return &h->table[index];
}

/** Its state. */
static inline gcd_state *gcd_heap_state(const gcd_heap *h, uint32_t index) {
  return &h->states[index];
}

/** The private copy of the slot words from slot (an index in the slot
 *  arena) on: each the table index of its target, 0 for null. Any thread,
 *  read atomically, as gcd_heap_refcount(). */
static inline const _Atomic uint32_t *gcd_heap_edges(const gcd_heap *h, uint64_t slot) {
  return &h->edges[slot];
}

/** Its flags (GCD_OBJ_*). */
static inline uint32_t gcd_heap_flags(const gcd_heap *h, uint32_t index) {
  return atomic_load_explicit(&h->states[index].flags, memory_order_relaxed);
}

/** The live object's handle. */
uint64_t gcd_heap_handle(const gcd_heap *h, uint32_t index);

/** Adds one reference to a live object. */
void gcd_heap_incref(gcd_heap *h, uint32_t index);

/**
 * Drops one reference from a live object. At zero the object is freed and
 * the objects its slots reference are released in turn, with an explicit
 * worklist (a chain of any length uses no stack). Returns the number of
 * objects freed.
 */
uint64_t gcd_heap_decref(gcd_heap *h, uint32_t index);

/** gcd_heap_decref() for a reference held by a slot of an object the
 *  collector frees without clearing its slots: inrefs follows. */
uint64_t gcd_heap_decref_slot(gcd_heap *h, uint32_t index);

/**
 * Stores target (0 clears) in slot of obj; the target gains a reference and
 * the previous occupant loses one (possibly freeing it). Errors:
 * GC_EBADHANDLE/GC_ESTALE for obj or target, GC_ERANGE for the slot.
 */
int gcd_heap_set_ref(gcd_heap *h, uint64_t obj, uint32_t slot, uint64_t target);

/** Reads slot of obj. Errors as gcd_heap_set_ref(). */
int gcd_heap_get_ref(const gcd_heap *h, uint64_t obj, uint32_t slot,
                     uint64_t *out);

/** The live object's reference count. Any thread: the collector reads it
 *  while the loop thread may change it (the dirty protocol covers that). */
static inline uint64_t gcd_heap_refcount(const gcd_heap *h, uint32_t index) {
  return atomic_load_explicit(&h->counts[index], memory_order_relaxed);
}

/**
 * Collector, heap lock held: hands back object index's entry and slot array.
 * A live object (one the collector found unreachable, its slots already
 * cleared) is freed first and counted as a cycle free; a zombie (freed during
 * the collection, GCD_OBJ_ZOMBIE) only gives back what it kept.
 */
void gcd_heap_free_entry(gcd_heap *h, uint32_t index);

/** gcd_heap_free_entry() for index[0..n); slot arrays that lie one after
 *  another in the slot arena (as objects allocated in a row do) go back a
 *  run at a time (gcd_arena_free_run). */
void gcd_heap_free_entries(gcd_heap *h, const uint32_t *index, uint64_t n);

/** Loop thread, or the heap lock held: gives the memory of up to max
 *  emptied arena regions back to the system (a system call each). Frees
 *  leave emptied regions backed so that a collection freeing millions of
 *  objects makes no system call under the lock; the daemon trims a few at a
 *  time from a timer. Returns the regions given back. */
uint64_t gcd_heap_trim(gcd_heap *h, uint64_t max);

/** Loop thread, or the heap lock held: whether emptied regions wait for
 *  gcd_heap_trim(). */
bool gcd_heap_trim_pending(const gcd_heap *h);

/** Collector thread, lock not held: readies the shared state of object
 *  index for the write that frees it, without changing it (an atomic
 *  no-op). Some hosts (shadow paging) charge the first write a thread makes
 *  to each 4 KiB page of shared memory, a few microseconds; a collection
 *  freeing a million objects paid that for some 2,000 pages under the
 *  lock. Called for one object of each page during the scan, it is paid
 *  there instead. Clients reading the state meanwhile see no change. */
void gcd_heap_warm_state(gcd_heap *h, uint32_t index);

/** Which 4 KiB page of the state array holds index's state (0 for the
 *  first), for gcd_heap_warm_state()'s callers. */
static inline uint64_t gcd_heap_state_page(const gcd_heap *h, uint32_t index) {
  return ((uintptr_t)&h->states[index] >> 12) - ((uintptr_t)h->states >> 12);
}

/** Fills *out. */
void gcd_heap_stats_get(const gcd_heap *h, gcd_heap_stats *out);

/**
 * Checks every invariant of gcd_layout.h and of both arenas. external, if not
 * NULL, holds at least table_hwm counts: the references to each index from
 * outside the heap (client retains, named roots, the collector's garbage
 * list); NULL means none. Returns 0, or
 * GC_ECORRUPT with the first problem described in msg (len bytes).
 */
int gcd_heap_verify(const gcd_heap *h, const uint64_t *external, char *msg,
                    size_t len);

#endif /* GCD_HEAP_H */
