/*
 * pipeline.c -- the asynchronous calls: each op is gathered into the open
 * request frame (wire.c) and sent without waiting, with up to the
 * connection's depth of answered ops in flight. Their answers are read in
 * order, when the window is full, at gc_sync(), or before any synchronous
 * call (wire.c's roundtrip settles first).
 *
 * Owns: the window of ops in flight (its size and the options that govern
 * it). Must not touch: protobuf types (wire.c encodes and decodes).
 */
#include <stdlib.h>

#include "internal.h"

/* Grows the ring to hold the connection's depth; nothing is in flight. */
static int ring_reserve(gc_client *c) {
  gc__inflight *p;

  if (c->fl_cap >= c->depth)
    return 0;
  if ((p = realloc(c->fl, c->depth * sizeof *p)) == NULL)
    return gc__fail(c, GC_ENOCLIENT, "out of memory for %u frames in flight", c->depth);
  c->fl = p;
  c->fl_cap = c->depth;
  c->fl_head = 0;
  return 0;
}

/* Gathers op once the window has room, completing the oldest frames if
 * not. */
static int send_async(gc_client *c, const gc__op *op, gc_handle *out, int *rc) {
  int err;

  if ((err = gc__begin(c)) != 0)
    return err;
  if (c->fl_n == 0 && (err = ring_reserve(c)) != 0)
    return err;
  /* A full window is drained to half, so that ops leave in groups (one
   * frame and one send each) rather than one at a time as answers come
   * back. */
  if (c->fl_n >= c->depth || c->fl_n >= c->fl_cap)
    while (c->fl_n > c->depth / 2)
      if ((err = gc__wire_complete_one(c)) != 0) {
        gc__wire_abandon(c, err);
        return err;
      }
  return gc__wire_send_async(c, op, out, rc);
}

GC_EXTERN int gc_alloc_async(gc_client *c, uint32_t nslots, uint64_t nbytes, uint32_t type,
                             gc_handle *out, int *rc) {
  gc__op op = {.kind = GC__OP_ALLOC, .u32 = nslots, .type = type, .u64b = nbytes};

  return send_async(c, &op, out, rc);
}

GC_EXTERN int gc_retain_async(gc_client *c, gc_handle h, int *rc) {
  gc__op op = {.kind = GC__OP_RETAIN, .u64a = h};

  return send_async(c, &op, NULL, rc);
}

GC_EXTERN int gc_release_async(gc_client *c, gc_handle h, int *rc) {
  gc__op op = {.kind = GC__OP_RELEASE, .u64a = h};

  return send_async(c, &op, NULL, rc);
}

GC_EXTERN int gc_set_ref_async(gc_client *c, gc_handle obj, uint32_t slot, gc_handle target,
                               int *rc) {
  gc__op op = {.kind = GC__OP_SET_REF, .u64a = obj, .u32 = slot, .u64b = target};

  return send_async(c, &op, NULL, rc);
}

GC_EXTERN int gc_sync(gc_client *c) {
  int err;

  if ((err = gc__begin(c)) != 0)
    return err;
  return gc__wire_settle(c);
}

GC_EXTERN int gc_flush(gc_client *c) {
  int err;

  if ((err = gc__begin(c)) != 0)
    return err;
  if (c->fd < 0)
    return gc__fail(c, GC_ECLOSED, "the connection to the daemon is closed");
  return gc__wire_flush(c);
}

GC_EXTERN size_t gc_inflight(const gc_client *c) {
  return c != NULL ? c->fl_n + (size_t)c->quiet_n : 0;
}

GC_EXTERN int gc_set_option(gc_client *c, int option, uint64_t value) {
  int err;

  if ((err = gc__begin(c)) != 0)
    return err;
  switch (option) {
  case GC_OPT_PIPELINE_DEPTH:
    if (value < 1 || value > GC_PIPELINE_MAX)
      return gc__fail(c, GC_EINVAL, "pipeline depth %llu: it is 1..%u",
                      (unsigned long long)value, GC_PIPELINE_MAX);
    if ((err = gc__wire_settle(c)) != 0)
      return err;
    c->depth = (unsigned)value;
    return 0;
  case GC_OPT_ONEWAY_RELEASE:
    if (value > 1)
      return gc__fail(c, GC_EINVAL, "one-way release is 0 (off) or 1 (on)");
    c->oneway_release = (int)value;
    return 0;
  case GC_OPT_TIMEOUT_MS:
    if (value > GC_TIMEOUT_MAX_MS)
      return gc__fail(c, GC_EINVAL, "timeout %llu ms: it is 0 (none) to %u",
                      (unsigned long long)value, GC_TIMEOUT_MAX_MS);
    c->timeout_ms = (unsigned)value;
    return 0;
  case GC_OPT_SPIN_US:
    if (value > GC_SPIN_MAX_US)
      return gc__fail(c, GC_EINVAL, "spin %llu us: it is 0 (never) to %u",
                      (unsigned long long)value, GC_SPIN_MAX_US);
    c->spin_max_ns = c->spin_ns = (int64_t)value * 1000;
    return 0;
  default:
    return gc__fail(c, GC_EINVAL, "unknown option %d", option);
  }
}
