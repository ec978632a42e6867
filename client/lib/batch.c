/*
 * batch.c -- the batch API: many operations queued, sent as one request,
 * answered with one result each.
 *
 * Owns: struct gc_batch (queued ops and the last run's results). Must not
 * touch: protobuf types (wire.c does the encoding).
 */
#include <stdlib.h>

#include "internal.h"

struct gc_batch {
  gc_client *c;
  gc__op *ops;        /* queued, in order */
  size_t n, cap;
  gc__result *res;    /* the last run's results, nres of them */
  size_t nres, res_cap;
};

GC_EXTERN int gc_batch_new(gc_client *c, gc_batch **out) {
  gc_batch *b;

  if (c == NULL || out == NULL)
    return GC_EINVAL;
  gc__begin(c);
  if ((b = calloc(1, sizeof *b)) == NULL)
    return gc__fail(c, GC_ENOCLIENT, "out of memory for a batch");
  b->c = c;
  *out = b;
  return 0;
}

GC_EXTERN void gc_batch_free(gc_batch *b) {
  if (b == NULL)
    return;
  free(b->ops);
  free(b->res);
  free(b);
}

GC_EXTERN void gc_batch_reset(gc_batch *b) {
  if (b != NULL)
    b->n = b->nres = 0;
}

GC_EXTERN size_t gc_batch_size(const gc_batch *b) {
  return b != NULL ? b->n : 0;
}

/* Appends op, growing the queue geometrically. */
static int push(gc_batch *b, gc__op op) {
  if (b == NULL)
    return GC_EINVAL;
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 64;
    gc__op *p = realloc(b->ops, cap * sizeof *p);

    if (p == NULL)
      return gc__fail(b->c, GC_ENOCLIENT, "out of memory for %zu batched operations", cap);
    b->ops = p;
    b->cap = cap;
  }
  b->ops[b->n++] = op;
  return 0;
}

GC_EXTERN int gc_batch_alloc(gc_batch *b, uint32_t nslots, uint64_t nbytes, uint32_t type) {
  return push(b, (gc__op){.kind = GC__OP_ALLOC, .u32 = nslots, .type = type, .u64b = nbytes});
}

GC_EXTERN int gc_batch_retain(gc_batch *b, gc_handle h) {
  return push(b, (gc__op){.kind = GC__OP_RETAIN, .u64a = h});
}

GC_EXTERN int gc_batch_release(gc_batch *b, gc_handle h) {
  return push(b, (gc__op){.kind = GC__OP_RELEASE, .u64a = h});
}

GC_EXTERN int gc_batch_set_ref(gc_batch *b, gc_handle obj, uint32_t slot, gc_handle target) {
  return push(b, (gc__op){.kind = GC__OP_SET_REF, .u64a = obj, .u32 = slot, .u64b = target});
}

static int res_reserve(gc_batch *b) {
  gc__result *p;

  if (b->n <= b->res_cap)
    return 0;
  if ((p = realloc(b->res, b->n * sizeof *p)) == NULL)
    return gc__fail(b->c, GC_ENOCLIENT, "out of memory for %zu results", b->n);
  b->res = p;
  b->res_cap = b->n;
  return 0;
}

/* An empty batch needs no round trip: zero operations, zero results. */
GC_EXTERN int gc_batch_run(gc_batch *b) {
  int err;

  if (b == NULL)
    return GC_EINVAL;
  b->nres = 0;
  if ((err = gc__begin(b->c)) != 0 || (err = res_reserve(b)) != 0 || b->n == 0)
    return err;
  if ((err = gc__wire_exchange(b->c, b->ops, b->n, b->res, NULL)) == 0)
    b->nres = b->n;
  return err;
}

GC_EXTERN int gc_batch_result(const gc_batch *b, size_t i, uint64_t *value) {
  if (b == NULL || i >= b->nres)
    return GC_EINVAL;
  if (value != NULL)
    *value = b->res[i].value;
  return b->res[i].code;
}
