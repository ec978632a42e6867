/*
 * view.c -- reads of the shared heap without a round trip: gc_data(),
 * gc_get_ref(), gc_describe().
 *
 * Owns: the client's interpretation of table entries and slot words. Must
 * not touch: the socket, the mappings' lifetime.
 *
 * Any handle may arrive here, forged ones included, and the daemon may free
 * the entry while we read it. So: the index is checked against the table
 * size copied at connect time (never re-read from shared memory), the
 * entry's state (LIVE and gen) is loaded with acquire (the daemon publishes
 * an entry's fields before its flags, with release), the fields are copied,
 * the state is loaded again to be sure they belong to the same object, and
 * only then are the copied offsets bounds-checked and used.
 */
#include <stdatomic.h>

#include "internal.h"

/* A consistent copy of one live entry's fields. */
typedef struct obj_view {
  uint32_t type;
  uint32_t nslots;
  uint64_t slots;
  uint64_t data_off;
  uint64_t nbytes;
} obj_view;

#define HFMT "0x%016llx"
#define HARG(h) ((unsigned long long)(h))

/* As the daemon decides: a free entry's gen is the next one it will hand
 * out, so a lower gen was handed out and freed, a higher one never was. */
static int not_live(gc_client *c, gc_handle h, uint32_t egen) {
  if (gcd_handle_gen(h) < egen)
    return gc__fail(c, GC_ESTALE, "handle " HFMT " is stale: object %u was freed", HARG(h),
                    gcd_handle_index(h));
  return gc__fail(c, GC_EBADHANDLE, "handle " HFMT " is unknown: generation %u of "
                  "entry %u was never handed out", HARG(h), gcd_handle_gen(h),
                  gcd_handle_index(h));
}

static int is_live(const gcd_state *st, uint32_t gen, uint32_t *egen) {
  uint32_t flags = atomic_load_explicit(&st->flags, memory_order_acquire);

  *egen = atomic_load_explicit(&st->gen, memory_order_acquire);
  return *egen == gen && (flags & GCD_OBJ_LIVE);
}

/* Offsets of a live entry lie inside the segments (invariant I3); if they
 * do not, the heap is inconsistent and nothing may be dereferenced. */
static int check_bounds(gc_client *c, gc_handle h, const obj_view *v) {
  const gc__heap *hp = &c->heap;

  if (v->slots > hp->slots_cap || v->nslots > hp->slots_cap - v->slots ||
      v->data_off > hp->data_size || v->nbytes > hp->data_size - v->data_off)
    return gc__fail(c, GC_ECORRUPT, "object " HFMT " lies outside the heap "
                    "(slots %llu+%u, payload %llu+%llu)", HARG(h),
                    (unsigned long long)v->slots, v->nslots,
                    (unsigned long long)v->data_off, (unsigned long long)v->nbytes);
  return 0;
}

static int obj_read(gc_client *c, gc_handle h, obj_view *v) {
  const gc__heap *hp = &c->heap;
  uint32_t i = gcd_handle_index(h), gen = gcd_handle_gen(h), egen;
  const gcd_state *st;
  const gcd_obj *o;

  if (i == 0 || gen == 0 || i >= hp->table_cap)
    return gc__fail(c, GC_EBADHANDLE, "handle " HFMT " is unknown: no entry %u in a "
                    "table of %llu", HARG(h), i, (unsigned long long)hp->table_cap);
  st = &hp->states[i];
  o = &hp->table[i];
  if (!is_live(st, gen, &egen))
    return not_live(c, h, egen);
  *v = (obj_view){.type = o->type, .nslots = o->nslots, .slots = o->slots,
                  .data_off = o->data_off, .nbytes = o->nbytes};
  atomic_thread_fence(memory_order_acquire);
  if (!is_live(st, gen, &egen))
    return not_live(c, h, egen);
  return check_bounds(c, h, v);
}

GC_EXTERN int gc_get_ref(gc_client *c, gc_handle obj, uint32_t slot, gc_handle *out) {
  obj_view v = {0};
  int err;

  if ((err = gc__begin(c)) != 0 || (err = obj_read(c, obj, &v)) != 0)
    return err;
  if (slot >= v.nslots)
    return gc__fail(c, GC_ERANGE, "slot %u out of range: object " HFMT " has %u slots",
                    slot, HARG(obj), v.nslots);
  if (out != NULL)
    *out = atomic_load_explicit(&c->heap.slots[v.slots + slot], memory_order_acquire);
  return 0;
}

GC_EXTERN void *gc_data(gc_client *c, gc_handle h, uint64_t *nbytes) {
  obj_view v = {0};

  if (nbytes != NULL)
    *nbytes = 0;
  if (gc__begin(c) != 0 || obj_read(c, h, &v) != 0)
    return NULL;
  if (nbytes != NULL)
    *nbytes = v.nbytes;
  if (v.nbytes == 0) {
    gc__fail(c, GC_EINVAL, "object " HFMT " has no payload", HARG(h));
    return NULL;
  }
  return c->heap.data + v.data_off;
}

GC_EXTERN int gc_describe(gc_client *c, gc_handle h, uint32_t *type, uint32_t *nslots,
                          uint64_t *nbytes) {
  obj_view v = {0};
  int err;

  if ((err = gc__begin(c)) != 0 || (err = obj_read(c, h, &v)) != 0)
    return err;
  if (type != NULL)
    *type = v.type;
  if (nslots != NULL)
    *nslots = v.nslots;
  if (nbytes != NULL)
    *nbytes = v.nbytes;
  return 0;
}
