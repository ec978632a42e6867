/*
 * heap.c -- the object heap: segments, object table, handles, reference
 * counts and frees, and the verifier of the layout's invariants I1-I5.
 *
 * Owns: the meta header, every entry (state and gcd_obj) and every slot
 * word (through the two arenas it owns: payload bytes in the data segment,
 * slot arrays in the meta segment). Must not touch: payload contents,
 * except to zero a new object's payload; sessions, names and the wire
 * (callers pass handles and counts); the OS (segments come from shm.c
 * only).
 *
 * Clients read entries concurrently through a read-only mapping, and the
 * collector thread reads counts and slots: gen, flags, refcount and slot
 * words are C11 atomics; an entry is filled first and published by a
 * release store of its flags last.
 *
 * The collector (collector.c) is told of every change it must know about:
 * a tracked object allocated (gcd_gc_track), any count or slot changing
 * (gcd_gc_touch), a tracked object dying (gcd_gc_untrack, which may keep its
 * entry as a zombie until the running collection ends).
 *
 * Threading: loop thread only, unless a function says otherwise; "loop
 * thread" means whichever thread holds the heap lock (gcthread.h).
 */
#include "heap.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "gcclient.h"

#define PAYLOAD_ALIGN 16     /* payloads start 16-byte aligned */
#define TABLE_CHUNK 16384u   /* entries whose backing is reserved at a time */
#define MAX_OBJECTS ((uint64_t)1 << 31)

#define RELAXED memory_order_relaxed
#define RELEASE memory_order_release

/* Data-arena units (bytes) a payload of nbytes takes before size classes. */
static uint64_t payload_units(uint64_t nbytes) {
  return (nbytes + PAYLOAD_ALIGN - 1) & ~(uint64_t)(PAYLOAD_ALIGN - 1);
}

static uint64_t round_up(uint64_t x, uint64_t to) {
  return (x + to - 1) / to * to;
}

/* ------------------------------------------------------ arena callbacks */

/* The slot arena counts slots; the meta segment counts bytes from 0. */
static uint64_t slots_byte_off(const gcd_heap *h, uint64_t slot) {
  return (uint64_t)((char *)&h->slots[slot] - (char *)h->meta.base);
}

static int slots_reserve(void *ctx, uint64_t off, uint64_t len) {
  gcd_heap *h = ctx;
  return gcd_shm_reserve(&h->meta, slots_byte_off(h, off), len * sizeof *h->slots);
}

/* Slots whose private copy (edges) fills one huge page. */
#define EDGES_PAGE (GCD_SHM_HUGE_MIN / sizeof(uint32_t))

/* The private copy goes back a whole huge page at a time (discarding part
 * of one splits it), once every slot region under that page is released:
 * regions are released one by one, each a fraction of a page. */
static void slots_release(void *ctx, uint64_t off, uint64_t len) {
  gcd_heap *h = ctx;
  uint64_t cap = h->hdr->slots_cap;

  gcd_shm_release(&h->meta, slots_byte_off(h, off), len * sizeof *h->slots);
  if (h->edges == NULL)
    return;
  for (uint64_t p = off / EDGES_PAGE * EDGES_PAGE; p < off + len; p += EDGES_PAGE) {
    uint64_t n = p + EDGES_PAGE <= cap ? EDGES_PAGE : cap - p; /* not past the array */
    if (gcd_arena_released(&h->slot_arena, p, n))
      gcd_shm_private_discard((void *)h->edges, p * sizeof *h->edges, n * sizeof *h->edges);
  }
}

static int data_reserve(void *ctx, uint64_t off, uint64_t len) {
  gcd_heap *h = ctx;
  return gcd_shm_reserve(&h->data, off, len);
}

static void data_release(void *ctx, uint64_t off, uint64_t len) {
  gcd_heap *h = ctx;
  gcd_shm_release(&h->data, off, len);
}

/* --------------------------------------------------------------- init */

/* Fills in the meta header's geometry from cfg and the page size; the
 * defaults are those documented in heap.h. GC_EINVAL for impossible sizes. */
static int layout_plan(const gcd_heap_config *cfg, gcd_meta_header *m) {
  uint64_t page = gcd_shm_page_size();
  uint64_t objs = cfg->max_objects, slots = cfg->slots_cap;

  if (cfg->data_size == 0 || cfg->data_size > (UINT64_MAX >> 2))
    return GC_EINVAL;
  if (objs == 0)
    objs = cfg->data_size / 64 < 1024 ? 1024 : cfg->data_size / 64;
  if (objs > MAX_OBJECTS)
    objs = cfg->max_objects == 0 ? MAX_OBJECTS : 0;
  if (slots == 0)
    slots = cfg->data_size / 32 < 4096 ? 4096 : cfg->data_size / 32;
  if (slots > GCD_SLOTS_CAP_MAX)
    slots = cfg->slots_cap == 0 ? GCD_SLOTS_CAP_MAX : 0;
  if (objs == 0 || slots == 0)
    return GC_EINVAL;
  *m = (gcd_meta_header){.layout_version = GCD_LAYOUT_VERSION,
                         .header_size = sizeof *m, .obj_size = sizeof(gcd_obj),
                         .state_size = sizeof(gcd_state)};
  memcpy(m->magic, GCD_META_MAGIC, sizeof m->magic);
  m->data_size = round_up(cfg->data_size, page);
  m->table_cap = objs + 1; /* entry 0 is never used */
  m->state_off = round_up(GCD_META_HEADER_SIZE, page);
  m->table_off = round_up(m->state_off + m->table_cap * sizeof(gcd_state), page);
  m->slots_cap = slots;
  m->slots_off = round_up(m->table_off + m->table_cap * sizeof(gcd_obj), page);
  m->meta_size = round_up(m->slots_off + slots * sizeof(uint64_t), page);
  return 0;
}

/* Backs the header page and writes the header there: the first thing a
 * client checks after mapping the segment. */
static int header_write(gcd_heap *h, const gcd_meta_header *m) {
  int err = gcd_shm_reserve(&h->meta, 0, m->state_off);

  if (err != 0)
    return err;
  h->hdr = h->meta.base;
  memcpy(h->hdr, m, sizeof *m);
  h->states = (gcd_state *)((char *)h->meta.base + m->state_off);
  h->table = (gcd_obj *)((char *)h->meta.base + m->table_off);
  h->slots = (_Atomic uint64_t *)((char *)h->meta.base + m->slots_off);
  h->table_cap = m->table_cap;
  h->table_hwm = 1;
  return 0;
}

/* Both arenas start at unit 0, which they never hand out: slots == 0 and
 * data_off == 0 in an entry mean "none". */
static int arenas_init(gcd_heap *h, const gcd_meta_header *m) {
  gcd_arena_ops slot_ops = {h, slots_reserve, slots_release};
  gcd_arena_ops data_ops = {h, data_reserve, data_release};
  int err = gcd_arena_init(&h->slot_arena, 0, m->slots_cap, &slot_ops);

  if (err != 0)
    return err;
  err = gcd_arena_init(&h->data_arena, 0, m->data_size, &data_ops);
  if (err != 0)
    gcd_arena_destroy(&h->slot_arena);
  return err;
}

/* The private arrays (heap.h), whole: their pages are touched only as the
 * table's high-water mark rises. */
static int private_alloc(gcd_heap *h) {
  size_t cap = (size_t)h->table_cap, slots = (size_t)h->hdr->slots_cap;

  h->counts = gcd_shm_private_alloc(cap * sizeof *h->counts);
  h->where = gcd_shm_private_alloc(cap * sizeof *h->where);
  h->free = gcd_shm_private_alloc(cap * sizeof *h->free);
  h->edges = gcd_shm_private_alloc(slots * sizeof *h->edges);
  h->inrefs = gcd_shm_private_alloc(cap * sizeof *h->inrefs);
  h->inref_max = GCD_INREF_MAX;
  return h->counts && h->where && h->free && h->edges && h->inrefs ? 0 : GC_ENOMEM;
}

static void private_free(gcd_heap *h) {
  size_t cap = (size_t)h->table_cap, slots = h->hdr ? (size_t)h->hdr->slots_cap : 0;

  gcd_shm_private_free((void *)h->counts, cap * sizeof *h->counts);
  gcd_shm_private_free(h->where, cap * sizeof *h->where);
  gcd_shm_private_free(h->free, cap * sizeof *h->free);
  gcd_shm_private_free((void *)h->edges, slots * sizeof *h->edges);
  gcd_shm_private_free((void *)h->inrefs, cap * sizeof *h->inrefs);
  h->inrefs = NULL;
  h->counts = NULL;
  h->where = NULL;
  h->free = NULL;
  h->edges = NULL;
}

/* Loop thread, at start-up. A goto ladder: each step undone in reverse. */
int gcd_heap_init(gcd_heap *h, const gcd_heap_config *cfg) {
  gcd_meta_header m;
  int err;

  memset(h, 0, sizeof *h);
  h->meta.fd = h->data.fd = -1;
  if ((err = layout_plan(cfg, &m)) != 0)
    return err;
  if ((err = gcd_shm_create(&h->meta, "gcd-meta", m.meta_size)) != 0)
    return err;
  if ((err = gcd_shm_create(&h->data, "gcd-data", m.data_size)) != 0)
    goto fail_data;
  if ((err = header_write(h, &m)) != 0)
    goto fail_header;
  if ((err = arenas_init(h, &m)) != 0)
    goto fail_header;
  if ((err = private_alloc(h)) != 0)
    goto fail_private;
  return 0;

fail_private:
  private_free(h);
  gcd_arena_destroy(&h->data_arena);
  gcd_arena_destroy(&h->slot_arena);
fail_header:
  gcd_shm_destroy(&h->data);
fail_data:
  gcd_shm_destroy(&h->meta);
  return err;
}

/* Loop thread, at shutdown (the collector stopped). */
void gcd_heap_destroy(gcd_heap *h) {
  private_free(h);
  gcd_arena_destroy(&h->data_arena);
  gcd_arena_destroy(&h->slot_arena);
  gcd_shm_destroy(&h->data);
  gcd_shm_destroy(&h->meta);
  h->hdr = NULL;
  h->states = NULL;
  h->table = NULL;
  h->slots = NULL;
}

/* ------------------------------------------------------- table entries */

/* Backs the next chunk of never-used entries; the table is sparse until its
 * high-water mark reaches a chunk, so a client reading an entry below the
 * mark never touches an unbacked page. */
static uint64_t meta_off(const gcd_heap *h, const void *p) {
  return (uint64_t)((const char *)p - (const char *)h->meta.base);
}

static int table_grow(gcd_heap *h) {
  uint64_t n = h->table_cap - h->table_reserved, first = h->table_reserved;
  int err;

  if (n > TABLE_CHUNK)
    n = TABLE_CHUNK;
  err = gcd_shm_reserve(&h->meta, meta_off(h, &h->states[first]), n * sizeof(gcd_state));
  if (err == 0)
    err = gcd_shm_reserve(&h->meta, meta_off(h, &h->table[first]), n * sizeof(gcd_obj));
  if (err == 0) {
    /* The arrays filled only when entries are freed or collected, backed
     * now, a chunk at a time, rather than in the collection's finish. */
    gcd_shm_private_populate(h->free, first * sizeof *h->free, n * sizeof *h->free);
    if (h->gc != NULL)
      gcd_gc_reserve(h->gc, first, n);
    h->table_reserved += n;
  }
  return err;
}

/* A free entry: the most recently freed one, or a never-used one (whose
 * first gen is 1). GC_ENOMEM when the table is full or cannot be backed. */
static int entry_take(gcd_heap *h, uint32_t *index) {
  int err;

  if (h->nfree > 0) {
    *index = h->free[--h->nfree];
    return 0;
  }
  if (h->table_hwm == h->table_cap)
    return GC_ENOMEM;
  if (h->table_hwm >= h->table_reserved && (err = table_grow(h)) != 0)
    return err;
  *index = (uint32_t)h->table_hwm++;
  atomic_store_explicit(&h->states[*index].gen, 1, RELEASE);
  return 0;
}

/* Pushes an unlinked entry on the free stack. Its gen is already the next
 * one it will hand out (I5); its gcd_obj is left as it was (gcd_layout.h),
 * so that a free writes nothing but the state. */
static void entry_put(gcd_heap *h, uint32_t index) {
  h->free[h->nfree++] = index;
}

/* ---------------------------------------------------------- allocation */

/* The slot array and payload blocks of a new object; on failure nothing
 * stays taken. 0 units means none (offset 0). */
static int blocks_take(gcd_heap *h, uint32_t nslots, uint64_t nbytes,
                       uint64_t *soff, uint64_t *doff) {
  int err;

  *soff = *doff = 0;
  if (nslots > 0 && (err = gcd_arena_alloc(&h->slot_arena, nslots, soff)) != 0)
    return err;
  if (nbytes > 0 &&
      (err = gcd_arena_alloc(&h->data_arena, payload_units(nbytes), doff)) != 0) {
    if (nslots > 0)
      gcd_arena_free(&h->slot_arena, *soff, nslots);
    return err;
  }
  return 0;
}

/* Zeroes a new object's slots and payload: reused memory must not show a
 * new owner what a previous object (perhaps another client's) left there. */
static void blocks_clear(gcd_heap *h, uint64_t soff, uint32_t nslots,
                         uint64_t doff, uint64_t nbytes) {
  for (uint32_t k = 0; k < nslots; k++) {
    atomic_store_explicit(&h->slots[soff + k], 0, RELAXED);
    atomic_store_explicit(&h->edges[soff + k], 0, RELAXED);
  }
  if (nbytes > 0)
    memset((char *)h->data.base + doff, 0, payload_units(nbytes));
}

/* Sizes refused before anything is taken; the arenas refuse the rest of
 * what could never fit (GC_ETOOBIG) themselves. */
static int alloc_check(const gcd_heap *h, uint32_t nslots, uint64_t nbytes) {
  if (nslots == 0 && nbytes == 0)
    return GC_EINVAL;
  if (nslots > GC_SLOTS_MAX || nbytes > h->data.size)
    return GC_ETOOBIG;
  return 0;
}

/* Gives back the blocks of blocks_take() when no entry can hold them. */
static void blocks_put(gcd_heap *h, uint64_t soff, uint32_t nslots,
                       uint64_t doff, uint64_t nbytes) {
  if (nslots > 0)
    gcd_arena_free(&h->slot_arena, soff, nslots);
  if (nbytes > 0)
    gcd_arena_free(&h->data_arena, doff, payload_units(nbytes));
}

/* Loop thread: the only writer of counts, so a load and a store do (no
 * locked read-modify-write). The private copy is the one read back; the
 * table's is published for clients' mappings (invariant I2 holds for it). */
static void count_store(gcd_heap *h, uint32_t i, uint64_t v) {
  atomic_store_explicit(&h->counts[i], v, RELAXED);
  atomic_store_explicit(&h->table[i].refcount, v, RELAXED);
}

/* Fills entry i for a new object and publishes it: flags are stored last
 * with release, so a reader that loads them with acquire and sees LIVE also
 * sees every field before. Collector bits (8 and up) start clear. */
static void entry_publish(gcd_heap *h, uint32_t i, uint32_t type,
                          uint32_t nslots, uint64_t soff, uint64_t doff,
                          uint64_t nbytes) {
  gcd_obj *o = &h->table[i];
  uint32_t flags = GCD_OBJ_LIVE;

  o->type = type;
  o->nslots = nslots;
  o->slots = soff;
  o->data_off = doff;
  o->nbytes = nbytes;
  h->where[i] = nslots > 0 ? soff << GCD_WHERE_SHIFT | nslots : 0;
  atomic_store_explicit(&h->inrefs[i], 0, RELAXED);
  count_store(h, i, 1);
  if (nslots > 0)
    flags |= GCD_OBJ_TRACKED;
  if (nbytes > 0)
    flags |= GCD_OBJ_DATA;
  atomic_store_explicit(&h->states[i].flags, flags, RELEASE);
}

/* Loop thread. Blocks first, entry last: a too-big request answers
 * GC_ETOOBIG even when the table is full. */
int gcd_heap_alloc(gcd_heap *h, uint32_t nslots, uint64_t nbytes, uint32_t type,
                   uint64_t *handle) {
  uint64_t soff, doff;
  uint32_t i;
  int err;

  if ((err = alloc_check(h, nslots, nbytes)) != 0 ||
      (err = blocks_take(h, nslots, nbytes, &soff, &doff)) != 0)
    return err;
  if ((err = entry_take(h, &i)) != 0) {
    blocks_put(h, soff, nslots, doff, nbytes);
    return err;
  }
  blocks_clear(h, soff, nslots, doff, nbytes);
  entry_publish(h, i, type, nslots, soff, doff, nbytes);
  if (nslots > 0 && h->gc != NULL)
    gcd_gc_track(h->gc, i);
  h->objects++;
  h->allocs++;
  *handle = gcd_heap_handle(h, i);
  return 0;
}

/* ------------------------------------------------------------- handles */

/* Loop thread, or any thread for a hint (values may change under it).
 * A free entry's gen is the next it will hand out, so a handle whose gen is
 * below the entry's was handed out and freed (stale), while one at or above
 * it never was (unknown). After a gen wraps, very old handles read as
 * unknown rather than stale: still an error, never another object. */
int gcd_heap_resolve(const gcd_heap *h, uint64_t handle, uint32_t *index) {
  uint32_t i = gcd_handle_index(handle), gen = gcd_handle_gen(handle);
  const gcd_state *st;
  uint32_t egen;

  if (i == 0 || i >= h->table_hwm || gen == 0)
    return GC_EBADHANDLE;
  st = &h->states[i];
  egen = atomic_load_explicit(&st->gen, RELAXED);
  if (gen == egen && (atomic_load_explicit(&st->flags, RELAXED) & GCD_OBJ_LIVE)) {
    *index = i;
    return 0;
  }
  return gen < egen ? GC_ESTALE : GC_EBADHANDLE;
}

uint64_t gcd_heap_handle(const gcd_heap *h, uint32_t index) {
  return gcd_handle_make(index, atomic_load_explicit(&h->states[index].gen, RELAXED));
}

/* The collector must see every change of a count or of slots made while it
 * scans (the dirty-bit protocol, collector.h). */
static void touch(gcd_heap *h, uint32_t index) {
  if (h->gc != NULL)
    gcd_gc_touch(h->gc, index);
}

/* Whether dying tracked object i must stay as a zombie: the running
 * collection still walks its slot array. */
static bool keep_zombie(gcd_heap *h, uint32_t i, uint32_t flags) {
  return (flags & GCD_OBJ_TRACKED) && h->gc != NULL && gcd_gc_untrack(h->gc, i);
}

/* Loop thread. Relaxed: the count orders nothing else; a collector reading
 * it concurrently relies on the dirty-bit protocol, not on this store. */
void gcd_heap_incref(gcd_heap *h, uint32_t index) {
  assert(gcd_heap_flags(h, index) & GCD_OBJ_LIVE);
  touch(h, index);
  count_store(h, index, gcd_heap_refcount(h, index) + 1);
}

/* ---------------------------------------------------------------- frees */

/* Unlinks live object i, whose count just reached zero: every handle to it
 * goes stale at once (gen bumped, skipping 0), its payload goes back. The
 * gcd_obj is read only for a payload: freeing an object without one writes
 * its 8-byte state and nothing else shared. With slots it joins the dying
 * chain (through data_off, free now) until its children are released;
 * without, its entry is free at once. */
static void obj_retire(gcd_heap *h, uint32_t i, uint32_t flags, uint32_t flags_after) {
  gcd_state *st = &h->states[i];
  uint32_t gen = atomic_load_explicit(&st->gen, RELAXED) + 1;

  atomic_store_explicit(&st->gen, gen == 0 ? 1 : gen, RELEASE);
  atomic_store_explicit(&st->flags, flags_after, RELEASE);
  if (flags & GCD_OBJ_DATA)
    gcd_arena_free(&h->data_arena, h->table[i].data_off,
                   payload_units(h->table[i].nbytes));
}

static void obj_unlink(gcd_heap *h, uint32_t i, uint32_t flags_after) {
  obj_retire(h, i, gcd_heap_flags(h, i), flags_after);
  h->objects--;
  h->frees++;
}

/* A zombie keeps its nslots and slots fields and its slot array (the scan
 * reads them) until gcd_heap_free_entry(); data_off is free for the chain. */
static void obj_kill(gcd_heap *h, uint32_t i, uint32_t *dying) {
  uint32_t fl = gcd_heap_flags(h, i);

  obj_unlink(h, i, keep_zombie(h, i, fl) ? GCD_OBJ_ZOMBIE : 0);
  if (!(fl & GCD_OBJ_TRACKED)) {
    entry_put(h, i);
    return;
  }
  h->table[i].data_off = *dying;
  *dying = i;
}

/* inrefs[i] += d (the inref field, or with d = 1 << GCD_INREF_BITS the
 * leaf field), the caller having checked that the field is not stuck at
 * its ceiling. Loop thread, or the collector under the lock: the only
 * writers, so a load and a store do. */
static void inrefs_add(gcd_heap *h, uint32_t i, uint32_t d) {
  uint32_t v = atomic_load_explicit(&h->inrefs[i], RELAXED);

  atomic_store_explicit(&h->inrefs[i], v + d, RELAXED);
}

/* One slot more (d = 1) or less (d = -1) holds t. A field at its ceiling
 * stays there: the count is lost (heap.h). */
static void inref_move(gcd_heap *h, uint32_t t, int d) {
  uint32_t in = gcd_inref_of(atomic_load_explicit(&h->inrefs[t], RELAXED));

  if (in >= h->inref_max || (d > 0 && in + 1 == h->inref_max)) {
    if (in < h->inref_max)
      inrefs_add(h, t, 1);
    h->inrefs_lost = true;
    return;
  }
  inrefs_add(h, t, (uint32_t)d);
}

/* Object i's slot now holds (d = 1) or no longer holds (d = -1) the
 * untracked object t, which i's leaf field counts; at its ceiling it
 * sticks, meaning "unknown": the collector then reads i's slots, which is
 * always correct. */
static void leafref_move(gcd_heap *h, uint32_t i, uint32_t t, int d) {
  uint32_t leaf;

  if (t == 0 || (gcd_heap_flags(h, t) & GCD_OBJ_TRACKED))
    return;
  leaf = gcd_leafrefs_of(atomic_load_explicit(&h->inrefs[i], RELAXED));
  if (leaf < GCD_LEAFREFS_MAX)
    inrefs_add(h, i, d > 0 ? UINT32_C(1) << GCD_INREF_BITS
                           : (uint32_t)-(UINT32_C(1) << GCD_INREF_BITS));
}

/* Stores handle, whose index is t, in slot s of the arena and in its
 * private copy, and moves the slot's reference from the index it held to t
 * in inrefs; returns the index the slot held. Loop thread: the only writer
 * of slots, so a load and a store do (no locked exchange, on a path that
 * may run ten million times in a row); release, for clients that read the
 * slot with acquire. */
static uint32_t slot_store(gcd_heap *h, uint64_t s, uint64_t handle, uint32_t t) {
  uint32_t old = atomic_load_explicit(&h->edges[s], RELAXED);

  atomic_store_explicit(&h->slots[s], handle, RELEASE);
  atomic_store_explicit(&h->edges[s], t, RELAXED);
  if (old != 0)
    inref_move(h, old, -1);
  if (t != 0)
    inref_move(h, t, 1);
  return old;
}

/* Drops the reference each slot of dead object i holds, clearing the slot;
 * children whose count reaches zero join the dying chain. Returns them.
 * Reads the private edges; writes both copies. */
static uint64_t release_children(gcd_heap *h, uint32_t i, uint32_t *dying) {
  uint64_t s = gcd_where_off(h->where[i]);
  uint64_t killed = 0;

  for (uint32_t k = 0, n = gcd_where_n(h->where[i]); k < n; k++) {
    uint32_t ci = atomic_load_explicit(&h->edges[s + k], RELAXED);
    if (ci == 0)
      continue;
    slot_store(h, s + k, 0, 0);
    touch(h, ci);
    uint64_t left = gcd_heap_refcount(h, ci) - 1;
    count_store(h, ci, left);
    if (left == 0) {
      obj_kill(h, ci, dying);
      killed++;
    }
  }
  return killed;
}

/* Frees root and everything only it kept alive. The dying chain is the
 * worklist: it lives in the dead entries themselves, so it needs no stack
 * and no memory, and cannot fail. */
static uint64_t free_graph(gcd_heap *h, uint32_t root) {
  uint32_t dying = 0;
  uint64_t freed = 1;

  obj_kill(h, root, &dying);
  while (dying != 0) {
    uint32_t i = dying;
    dying = (uint32_t)h->table[i].data_off;
    freed += release_children(h, i, &dying);
    if (gcd_heap_flags(h, i) & GCD_OBJ_ZOMBIE)
      continue;
    gcd_arena_free(&h->slot_arena, gcd_where_off(h->where[i]),
                   gcd_where_n(h->where[i]));
    entry_put(h, i);
  }
  return freed;
}

/* Collector, lock held: entry index goes (its slot block and its place on
 * the free stack are left to the caller). Returns 1 if it was a live
 * object, which the caller counts as freed by the collector, 0 for a
 * zombie, counted when it died. */
static uint64_t entry_free(gcd_heap *h, uint32_t index) {
  uint32_t fl = gcd_heap_flags(h, index);

  if (fl & GCD_OBJ_LIVE) {
    obj_retire(h, index, fl, 0);
    return 1;
  }
  assert(fl & GCD_OBJ_ZOMBIE);
  atomic_store_explicit(&h->states[index].flags, 0, RELEASE);
  return 0;
}

/* Objects freed by the collector, counted once per batch: in a loop over a
 * million entries, three counters in the heap struct each bumped per entry
 * are a chain of loads and stores the loop waits on. */
static void count_cycle_frees(gcd_heap *h, uint64_t n) {
  h->objects -= n;
  h->frees += n;
  h->cycle_frees += n;
}

void gcd_heap_free_entry(gcd_heap *h, uint32_t index) {
  uint64_t wh = h->where[index];

  count_cycle_frees(h, entry_free(h, index));
  entry_put(h, index);
  if (gcd_where_n(wh) > 0)
    gcd_arena_free(&h->slot_arena, gcd_where_off(wh), gcd_where_n(wh));
}

/* Slot blocks of one size, each right after the one before. */
typedef struct slot_run {
  uint64_t off, step, count;
  uint32_t nslots;
} slot_run;

static void run_flush(gcd_heap *h, slot_run *run) {
  if (run->count > 0)
    gcd_arena_free_run(&h->slot_arena, run->off, run->nslots, run->count);
  run->count = 0;
}

/* Extends the run with the block [soff, nslots) if it follows on, else
 * gives the run back and starts another. */
static void run_add(gcd_heap *h, slot_run *run, uint64_t soff, uint32_t nslots) {
  if (run->count > 0 && nslots == run->nslots && soff == run->off + run->count * run->step) {
    run->count++;
    return;
  }
  run_flush(h, run);
  *run = (slot_run){.off = soff, .nslots = nslots, .count = 1,
                    .step = gcd_arena_block_size(&h->slot_arena, nslots)};
}

/* The entries go on the free stack last first, so that the stack hands
 * them out again in the order given: a graph built from them gets its
 * entries in the order the collector scans (table order), as a fresh
 * table's would be. */
void gcd_heap_free_entries(gcd_heap *h, const uint32_t *index, uint64_t n) {
  slot_run run = {0};
  uint64_t top = h->nfree + n, live = 0;

  for (uint64_t k = 0; k < n; k++) {
    uint64_t wh = h->where[index[k]];

    live += entry_free(h, index[k]);
    h->free[top - 1 - k] = index[k];
    if (gcd_where_n(wh) > 0)
      run_add(h, &run, gcd_where_off(wh), gcd_where_n(wh));
  }
  count_cycle_frees(h, live);
  h->nfree = top;
  run_flush(h, &run);
}

void gcd_heap_warm_state(gcd_heap *h, uint32_t index) {
  atomic_fetch_or_explicit(&h->states[index].flags, 0, RELAXED);
}

/* Collector, lock held: a slot of an object it frees held index. */
uint64_t gcd_heap_decref_slot(gcd_heap *h, uint32_t index) {
  inref_move(h, index, -1);
  return gcd_heap_decref(h, index);
}

/* Loop thread. */
uint64_t gcd_heap_decref(gcd_heap *h, uint32_t index) {
  uint64_t count = gcd_heap_refcount(h, index), left = count - 1;

  assert(gcd_heap_flags(h, index) & GCD_OBJ_LIVE);
  assert(count > 0);
  touch(h, index);
  count_store(h, index, left);
  if (left != 0)
    return 0;
  return free_graph(h, index);
}

/* ----------------------------------------------------------------- slots */

/* Resolves obj and checks slot against its slots; *at gets the slot's
 * index in the slot arena. */
static int slot_at(const gcd_heap *h, uint64_t obj, uint32_t slot, uint64_t *at) {
  uint32_t i;
  int err = gcd_heap_resolve(h, obj, &i);

  if (err != 0)
    return err;
  if (slot >= gcd_where_n(h->where[i]))
    return GC_ERANGE;
  *at = gcd_where_off(h->where[i]) + slot;
  return 0;
}

/* Loop thread. The target gains its reference before the old occupant
 * loses one, so storing the handle already there never frees it; the old
 * occupant's release may free obj itself (when only it kept obj alive),
 * which is why nothing of obj is touched afterwards. */
int gcd_heap_set_ref(gcd_heap *h, uint64_t obj, uint32_t slot, uint64_t target) {
  uint64_t at;
  uint32_t t = 0, old;
  int err = slot_at(h, obj, slot, &at);

  if (err != 0 || (target != 0 && (err = gcd_heap_resolve(h, target, &t)) != 0))
    return err;
  if (target != 0)
    gcd_heap_incref(h, t);
  touch(h, gcd_handle_index(obj));
  old = slot_store(h, at, target, t);
  leafref_move(h, gcd_handle_index(obj), t, 1);
  leafref_move(h, gcd_handle_index(obj), old, -1);
  if (old != 0)
    gcd_heap_decref(h, old);
  return 0;
}

/* Loop thread. */
int gcd_heap_get_ref(const gcd_heap *h, uint64_t obj, uint32_t slot,
                     uint64_t *out) {
  uint64_t at;
  int err = slot_at(h, obj, slot, &at);

  if (err == 0)
    *out = atomic_load_explicit(&h->slots[at], memory_order_acquire);
  return err;
}

/* Any thread that may read the counters (the loop thread, or under its lock). */
void gcd_heap_stats_get(const gcd_heap *h, gcd_heap_stats *out) {
  *out = (gcd_heap_stats){
      .objects = h->objects,
      .bytes_used = h->data_arena.used,
      .bytes_total = h->data.size,
      .slots_used = h->slot_arena.used,
      .slots_total = h->hdr->slots_cap,
      .allocs = h->allocs,
      .frees = h->frees,
      .cycle_frees = h->cycle_frees,
      .table_cap = h->table_cap,
      .table_hwm = h->table_hwm,
      .bytes_unpurged = gcd_arena_unpurged_units(&h->data_arena) +
                        gcd_arena_unpurged_units(&h->slot_arena) * sizeof *h->slots,
  };
}

uint64_t gcd_heap_trim(gcd_heap *h, uint64_t max) {
  uint64_t n = gcd_arena_purge(&h->data_arena, max);
  return n + gcd_arena_purge(&h->slot_arena, max - n);
}

bool gcd_heap_trim_pending(const gcd_heap *h) {
  return gcd_arena_unpurged_units(&h->data_arena) + gcd_arena_unpurged_units(&h->slot_arena) > 0;
}

/* -------------------------------------------------------------- verifier */

#define FAIL(...) (snprintf(v->msg, v->len, __VA_ARGS__), GC_ECORRUPT)

/* A block a live object holds, for finding two objects holding one block. */
typedef struct vblock {
  uint64_t off;
  uint32_t index;
} vblock;

/* What a verification has counted so far; all private memory. */
typedef struct vstate {
  const gcd_heap *h;
  uint64_t *counts;  /* slot references to each index */
  uint64_t leafrefs; /* of the object verify_slots() read last */
  vblock *sblocks, *dblocks;
  uint64_t ns, nd;   /* entries in sblocks, dblocks */
  uint64_t live, slot_units, data_units;
  char *msg;
  size_t len;
} vstate;

/* The header the clients check against what the heap really is. */
static int verify_header(vstate *v) {
  const gcd_meta_header *m = v->h->hdr;

  if (memcmp(m->magic, GCD_META_MAGIC, sizeof m->magic) != 0 ||
      m->layout_version != GCD_LAYOUT_VERSION || m->header_size != sizeof *m ||
      m->obj_size != sizeof(gcd_obj) || m->state_size != sizeof(gcd_state))
    return FAIL("meta header: bad magic, version or sizes");
  if ((char *)v->h->states != (char *)m + m->state_off ||
      (char *)v->h->table != (char *)m + m->table_off ||
      m->table_off < m->state_off + m->table_cap * sizeof(gcd_state) ||
      m->slots_off < m->table_off + m->table_cap * sizeof(gcd_obj))
    return FAIL("meta header: arrays misplaced or overlapping");
  if (m->meta_size != v->h->meta.size || m->data_size != v->h->data.size ||
      m->table_cap != v->h->table_cap)
    return FAIL("meta header: sizes disagree with the segments");
  if ((v->h->table_hwm > 1 && v->h->table_hwm > v->h->table_reserved) ||
      v->h->table_reserved > v->h->table_cap)
    return FAIL("table: high-water mark %" PRIu64 " beyond backing %" PRIu64,
                v->h->table_hwm, v->h->table_reserved);
  return 0;
}

/* I3 for one block: exactly an arena block held as allocated. */
static int verify_block(vstate *v, uint32_t i, const gcd_arena *a, uint64_t off,
                        uint64_t n, const char *what) {
  if (!gcd_arena_owns(a, off, n))
    return FAIL("object %u (handle 0x%016" PRIx64 "): %s block at %" PRIu64
                " of %" PRIu64 " units is not one the arena handed out",
                i, gcd_heap_handle(v->h, i), what, off, n);
  return 0;
}

/* I1's flags, and the private where[], against the entry. */
static int verify_copies(vstate *v, uint32_t i) {
  const gcd_obj *o = &v->h->table[i];
  uint32_t fl = gcd_heap_flags(v->h, i);
  uint64_t w = v->h->where[i];

  if (!(fl & GCD_OBJ_TRACKED) != (o->nslots == 0) ||
      !(fl & GCD_OBJ_DATA) != (o->nbytes == 0))
    return FAIL("object %u: flags 0x%x disagree with %u slots, %" PRIu64 " bytes",
                i, fl, o->nslots, o->nbytes);
  if (gcd_where_n(w) != o->nslots || (o->nslots > 0 && gcd_where_off(w) != o->slots))
    return FAIL("object %u: slots at %" PRIu64 "+%u, the daemon's copy says %" PRIu64
                "+%u", i, o->slots, o->nslots, gcd_where_off(w), gcd_where_n(w));
  return 0;
}

/* I3 for object i: its blocks, recorded for the sharing check; 0 units
 * must come with offset 0. */
static int verify_blocks(vstate *v, uint32_t i) {
  const gcd_obj *o = &v->h->table[i];
  int err;

  if ((o->nslots == 0 && o->slots != 0) || (o->nbytes == 0 && o->data_off != 0))
    return FAIL("object %u: offsets without sizes", i);
  if ((err = verify_copies(v, i)) != 0)
    return err;
  if (o->nslots > 0) {
    if ((err = verify_block(v, i, &v->h->slot_arena, o->slots, o->nslots, "slot")))
      return err;
    v->sblocks[v->ns++] = (vblock){o->slots, i};
    v->slot_units += gcd_arena_block_size(&v->h->slot_arena, o->nslots);
  }
  if (o->nbytes > 0) {
    uint64_t n = payload_units(o->nbytes);
    if ((err = verify_block(v, i, &v->h->data_arena, o->data_off, n, "payload")))
      return err;
    v->dblocks[v->nd++] = (vblock){o->data_off, i};
    v->data_units += gcd_arena_block_size(&v->h->data_arena, n);
  }
  return 0;
}

/* I4 for object i: every non-null slot holds a live handle; counted. */
static int verify_slots(vstate *v, uint32_t i) {
  const gcd_obj *o = &v->h->table[i];
  uint32_t t;

  v->leafrefs = 0;
  for (uint32_t k = 0; k < o->nslots; k++) {
    uint64_t c = atomic_load_explicit(&v->h->slots[o->slots + k], RELAXED);
    uint32_t e = atomic_load_explicit(&v->h->edges[o->slots + k], RELAXED);
    int err = c != 0 ? gcd_heap_resolve(v->h, c, &t) : 0;
    if (err != 0)
      return FAIL("object %u slot %u: handle 0x%016" PRIx64 " is %s", i, k, c,
                  err == GC_ESTALE ? "stale" : "unknown");
    if (c == 0)
      t = 0;
    else
      v->counts[t]++;
    if (t != 0 && !(gcd_heap_flags(v->h, t) & GCD_OBJ_TRACKED))
      v->leafrefs++;
    if (e != t)
      return FAIL("object %u slot %u: holds index %u, the daemon's copy says %u",
                  i, k, t, e);
  }
  return 0;
}

/* inrefs (heap.h), second half: i's leaf field against its slots, exact
 * below the ceiling (at it, unknown). */
static int verify_leafrefs(vstate *v, uint32_t i) {
  uint32_t leaf = gcd_leafrefs_of(atomic_load_explicit(&v->h->inrefs[i], RELAXED));

  if (leaf < GCD_LEAFREFS_MAX && leaf != v->leafrefs)
    return FAIL("object %u: %" PRIu64 " slots hold untracked objects, inrefs says %u",
                i, v->leafrefs, leaf);
  return 0;
}

/* I1, I3, I4, I5 for entry i below the high-water mark. */
static int verify_entry(vstate *v, uint32_t i) {
  int err;

  if (atomic_load_explicit(&v->h->states[i].gen, RELAXED) == 0)
    return FAIL("entry %u: gen 0", i);
  if (!(gcd_heap_flags(v->h, i) & GCD_OBJ_LIVE))
    return 0;
  if (++v->live > v->h->objects) /* and the block lists would overflow */
    return FAIL("heap: more live entries than the %" PRIu64 " objects counted",
                v->h->objects);
  if ((err = verify_blocks(v, i)) != 0 || (err = verify_slots(v, i)) != 0)
    return err;
  return verify_leafrefs(v, i);
}

/* inrefs (heap.h): i's inref field is its references from slots, unless
 * it is stuck at the ceiling (then inrefs_lost says so). */
static int verify_inref(vstate *v, uint32_t i) {
  uint32_t in = gcd_inref_of(atomic_load_explicit(&v->h->inrefs[i], RELAXED));

  if (in >= v->h->inref_max && v->h->inrefs_lost)
    return 0;
  if (in != v->counts[i])
    return FAIL("object %u (handle 0x%016" PRIx64 "): %" PRIu64 " references from "
                "slots, inrefs says %u", i, gcd_heap_handle(v->h, i), v->counts[i], in);
  return 0;
}

/* I2: each live count equals what was counted plus the outside references;
 * a dead entry has no outside references. */
static int verify_count(vstate *v, uint32_t i, const uint64_t *external) {
  const gcd_obj *o = &v->h->table[i];
  uint64_t rc = atomic_load_explicit(&o->refcount, RELAXED);
  uint64_t ext = external != NULL ? external[i] : 0, in = v->counts[i];

  if (!(gcd_heap_flags(v->h, i) & GCD_OBJ_LIVE)) {
    if (ext != 0)
      return FAIL("entry %u: free, yet %" PRIu64 " references from outside", i, ext);
    return 0;
  }
  if (rc != in + ext || rc == 0)
    return FAIL("object %u (handle 0x%016" PRIx64 "): refcount %" PRIu64
                ", counted %" PRIu64 " (slots %" PRIu64 ", external %" PRIu64 ")",
                i, gcd_heap_handle(v->h, i), rc, in + ext, in, ext);
  if (gcd_heap_refcount(v->h, i) != rc)
    return FAIL("object %u (handle 0x%016" PRIx64 "): refcount %" PRIu64
                " in the table, %" PRIu64 " in the daemon's copy",
                i, gcd_heap_handle(v->h, i), rc, gcd_heap_refcount(v->h, i));
  return verify_inref(v, i);
}

static int vblock_cmp(const void *x, const void *y) {
  const vblock *a = x, *b = y;
  return a->off < b->off ? -1 : a->off > b->off;
}

/* No two live objects hold one block: blocks are exact (I3), so sharing
 * shows as equal offsets once sorted. */
static int verify_unshared(vstate *v, vblock *b, uint64_t n, const char *what) {
  qsort(b, n, sizeof *b, vblock_cmp);
  for (uint64_t k = 1; k < n; k++)
    if (b[k].off == b[k - 1].off)
      return FAIL("objects %u and %u share the %s block at %" PRIu64,
                  b[k - 1].index, b[k].index, what, b[k].off);
  return 0;
}

/* The free stack holds exactly the dead entries below the mark, once each
 * (v->counts, done with, marks the ones seen). */
static int verify_free_list(vstate *v) {
  const gcd_heap *h = v->h;

  for (uint64_t k = 0; k < h->nfree; k++) {
    uint32_t i = h->free[k];
    if (i == 0 || i >= h->table_hwm)
      return FAIL("free stack: entry %u at %" PRIu64 " out of range", i, k);
    if (gcd_heap_flags(h, i) != 0)
      return FAIL("free stack: entry %u has flags 0x%x", i, gcd_heap_flags(h, i));
    if (v->counts[i] == UINT64_MAX)
      return FAIL("free stack: entry %u listed twice", i);
    v->counts[i] = UINT64_MAX;
  }
  if (h->nfree + v->live != h->table_hwm - 1)
    return FAIL("table: %" PRIu64 " free + %" PRIu64 " live entries, %" PRIu64
                " used", h->nfree, v->live, h->table_hwm - 1);
  return 0;
}

/* Counters against the recount; arenas' units against the live blocks. */
static int verify_totals(vstate *v) {
  const gcd_heap *h = v->h;

  if (v->live != h->objects || h->objects != h->allocs - h->frees)
    return FAIL("heap: %" PRIu64 " live objects, counter says %" PRIu64
                " (allocs %" PRIu64 ", frees %" PRIu64 ")",
                v->live, h->objects, h->allocs, h->frees);
  if (v->slot_units != h->slot_arena.used)
    return FAIL("slot arena: %" PRIu64 " slots handed out, live objects hold %"
                PRIu64, h->slot_arena.used, v->slot_units);
  if (v->data_units != h->data_arena.used)
    return FAIL("data arena: %" PRIu64 " bytes handed out, live objects hold %"
                PRIu64, h->data_arena.used, v->data_units);
  return 0;
}

/* The checks in order, each pass relying on the ones before. */
static int verify_all(vstate *v, const uint64_t *external) {
  const gcd_heap *h = v->h;
  int err;

  if ((err = verify_header(v)) != 0)
    return err;
  for (uint32_t i = 1; i < h->table_hwm; i++)
    if ((err = verify_entry(v, i)) != 0)
      return err;
  for (uint32_t i = 1; i < h->table_hwm; i++)
    if ((err = verify_count(v, i, external)) != 0)
      return err;
  if ((err = verify_unshared(v, v->sblocks, v->ns, "slot")) != 0 ||
      (err = verify_unshared(v, v->dblocks, v->nd, "payload")) != 0 ||
      (err = verify_free_list(v)) != 0 || (err = verify_totals(v)) != 0)
    return err;
  if ((err = gcd_arena_verify(&h->slot_arena, v->msg, v->len)) != 0)
    return err;
  return gcd_arena_verify(&h->data_arena, v->msg, v->len);
}

/* Loop thread (or with the loop stopped); between operations, when I2 holds
 * exactly. O(table + slots) time; private memory for the recount. */
int gcd_heap_verify(const gcd_heap *h, const uint64_t *external, char *msg,
                    size_t len) {
  vstate v = {.h = h, .msg = msg, .len = len};
  int err = GC_ENOMEM;

  v.counts = calloc(h->table_hwm, sizeof *v.counts);
  v.sblocks = malloc((h->objects + 1) * sizeof *v.sblocks);
  v.dblocks = malloc((h->objects + 1) * sizeof *v.dblocks);
  if (v.counts == NULL || v.sblocks == NULL || v.dblocks == NULL)
    snprintf(msg, len, "verify: out of private memory");
  else
    err = verify_all(&v, external);
  if (err == 0 && len > 0)
    msg[0] = '\0';
  free(v.counts);
  free(v.sblocks);
  free(v.dblocks);
  return err;
}
