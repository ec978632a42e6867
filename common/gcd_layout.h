/*
 * gcd_layout.h -- the shared-memory layout, read by two kinds of process.
 *
 * The daemon maps both segments read-write; a client maps the meta segment
 * read-only and the data segment read-write. Everything here is therefore an
 * ABI between processes built separately: sizes and offsets are pinned with
 * _Static_assert, and the meta segment starts with a magic and a version.
 *
 * Meta segment (memfd, clients map it PROT_READ):
 *
 *   [0, GCD_META_HEADER_SIZE)          gcd_meta_header
 *   [state_off, + table_cap * 8)       entry states: gcd_state[table_cap]
 *   [table_off, + table_cap * 40)      object table: gcd_obj[table_cap];
 *                                      entry 0 is never used (handle 0 = null)
 *   [slots_off, + slots_cap * 8)       slot arena: _Atomic uint64_t handles
 *
 * Entry i is states[i] and table[i]. The state (gen and flags) is what
 * checks a handle and what a free writes, so it has a dense array of its
 * own: freeing a million objects writes 8 MB of states, not the 48 MB an
 * entry of both would span.
 *
 * Data segment (memfd, clients map it PROT_READ|PROT_WRITE):
 *
 *   [0, data_size)                     payload bytes, handed out by the arena
 *
 * A handle is (gen << 32) | index: index selects the entry, gen must equal
 * the entry's gen while the object lives. Freeing an object bumps the
 * entry's gen, so every handle to it becomes stale at once (O(1) check).
 * A free entry's gcd_obj fields are left as its last object had them: a
 * reader checks the state first, and again after copying the fields.
 *
 * Invariants of an entry (checked by gcd_heap_verify()):
 *   I1. flags & GCD_OBJ_LIVE  <=>  the entry holds an object; then
 *       flags & GCD_OBJ_DATA  <=>  its nbytes > 0.
 *   I2. A live object's refcount == (number of slots, in all live objects,
 *       holding a handle to it) + (client retains on it) + (named roots on it)
 *       and is > 0, except transiently inside one loop-thread operation.
 *   I3. A live object's slots[0..nslots) lie inside the slot arena and
 *       payload [data_off, data_off + nbytes) inside the data segment, in
 *       blocks the arenas hold as allocated to that object alone.
 *   I4. Every non-zero slot holds the handle of a live object (same gen).
 *   I5. gen != 0; a free entry's gen is the next gen it will hand out.
 */
#ifndef GCD_LAYOUT_H
#define GCD_LAYOUT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define GCD_META_MAGIC "GCDHEAP"    /* 7 chars + NUL = 8 bytes */
#define GCD_LAYOUT_VERSION 2u
#define GCD_META_HEADER_SIZE 4096u  /* the header owns the first page */

/* The most slots a heap may have (512 GiB of slot words); the heap's
 * private where[] packs an offset below it beside the slot count (heap.h). */
#define GCD_SLOTS_CAP_MAX ((uint64_t)1 << 36)

/* gcd_state.flags bits. The low byte is the object's state; bits 8.. belong
 * to the daemon and clients ignore them. */
#define GCD_OBJ_LIVE 0x1u     /* the entry holds an object */
#define GCD_OBJ_TRACKED 0x2u  /* has slots: the cycle collector considers it */
#define GCD_OBJ_DATA 0x4u     /* has a payload: a free reads the entry's
                                 offsets only then */
#define GCD_OBJ_ZOMBIE 0x100u /* freed during a collection that still reads its
                                 slot array: entry kept until the collection ends */

/** The state of one entry: whether it holds an object, and which handle
 *  names it. 8 bytes. */
typedef struct gcd_state {
  _Atomic uint32_t gen;      /* handle generation; bumped on free */
  _Atomic uint32_t flags;    /* GCD_OBJ_* */
} gcd_state;

_Static_assert(sizeof(gcd_state) == 8, "gcd_state is shared by processes");
_Static_assert(offsetof(gcd_state, gen) == 0, "gcd_state layout");
_Static_assert(offsetof(gcd_state, flags) == 4, "gcd_state layout");

/** One object-table entry: header of one object. 40 bytes, 8-aligned. */
typedef struct gcd_obj {
  uint32_t type;             /* the user's type tag */
  uint32_t nslots;           /* reference slots */
  _Atomic uint64_t refcount; /* see invariant I2 */
  uint64_t slots;            /* index of slots[0] in the slot arena */
  uint64_t data_off;         /* byte offset of the payload in the data segment */
  uint64_t nbytes;           /* payload size in bytes, as the client asked */
} gcd_obj;

_Static_assert(sizeof(gcd_obj) == 40, "gcd_obj is shared by processes");
_Static_assert(offsetof(gcd_obj, type) == 0, "gcd_obj layout");
_Static_assert(offsetof(gcd_obj, nslots) == 4, "gcd_obj layout");
_Static_assert(offsetof(gcd_obj, refcount) == 8, "gcd_obj layout");
_Static_assert(offsetof(gcd_obj, slots) == 16, "gcd_obj layout");
_Static_assert(offsetof(gcd_obj, data_off) == 24, "gcd_obj layout");
_Static_assert(offsetof(gcd_obj, nbytes) == 32, "gcd_obj layout");
_Static_assert(sizeof(_Atomic uint64_t) == 8, "slots are 8-byte handles");

/** The first page of the meta segment. Written once by the daemon at start. */
typedef struct gcd_meta_header {
  char magic[8];           /* GCD_META_MAGIC */
  uint32_t layout_version; /* GCD_LAYOUT_VERSION */
  uint32_t header_size;    /* sizeof(gcd_meta_header) */
  uint32_t obj_size;       /* sizeof(gcd_obj) */
  uint32_t state_size;     /* sizeof(gcd_state) */
  uint64_t meta_size;      /* bytes in the meta segment */
  uint64_t data_size;      /* bytes in the data segment */
  uint64_t table_off;      /* byte offset of gcd_obj[0] */
  uint64_t table_cap;      /* entries in the table, entry 0 included */
  uint64_t slots_off;      /* byte offset of the slot arena */
  uint64_t slots_cap;      /* slots in the slot arena */
  uint64_t state_off;      /* byte offset of gcd_state[0] */
} gcd_meta_header;

_Static_assert(sizeof(gcd_meta_header) == 80, "gcd_meta_header is shared");
_Static_assert(offsetof(gcd_meta_header, state_size) == 20, "layout");
_Static_assert(offsetof(gcd_meta_header, layout_version) == 8, "layout");
_Static_assert(offsetof(gcd_meta_header, meta_size) == 24, "layout");
_Static_assert(offsetof(gcd_meta_header, slots_cap) == 64, "layout");
_Static_assert(offsetof(gcd_meta_header, state_off) == 72, "layout");
_Static_assert(sizeof(gcd_meta_header) <= GCD_META_HEADER_SIZE, "layout");

/* Handles. */
static inline uint64_t gcd_handle_make(uint32_t index, uint32_t gen) {
  return ((uint64_t)gen << 32) | index;
}
static inline uint32_t gcd_handle_index(uint64_t h) { return (uint32_t)h; }
static inline uint32_t gcd_handle_gen(uint64_t h) { return (uint32_t)(h >> 32); }

#endif /* GCD_LAYOUT_H */
