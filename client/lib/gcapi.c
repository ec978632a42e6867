/*
 * gcapi.c -- the collector calls of gcclient.h (gc.collect(), thresholds,
 * stats, garbage, freeze, object info, referents/referrers, clients, daemon
 * info). Each call is one request with one op; the status readers all send
 * gc_status and pick their fields from Result.gc.
 *
 * Owns: argument checks the daemon would refuse anyway (refused here without
 * a round trip) and the copying of Result sub-messages into the public
 * structs. Must not touch: the socket or framing (wire.c), mappings (shm.c).
 */
#include <stdio.h>
#include <string.h>

#include "wire.h"

typedef Gcd__Wire__Op Op;
typedef Gcd__Wire__Response Response;
typedef Gcd__Wire__Result Result;


/* ------------------------------------------------------------ plumbing */

/* Sends op; on 0, *resp holds the answer (results[0]) for the caller to read
 * and free. */
static int send_op(gc_client *c, Op *op, Response **resp) {
  int err;

  if ((err = gc__begin(c)) != 0)
    return err;
  return gc__wire_call(c, op, resp);
}

static void done(Response *resp) {
  gcd__wire__response__free_unpacked(resp, NULL);
}

/* A successful answer without the sub-message its op promises. */
static int missing(gc_client *c, Response *resp, const char *what) {
  done(resp);
  return gc__fail(c, GC_EPROTO, "daemon's answer lacks %s", what);
}

/* Sends op and stores the result's value in *value (may be NULL). */
static int value_call(gc_client *c, Op *op, uint64_t *value) {
  Response *resp;
  int err;

  if ((err = send_op(c, op, &resp)) != 0)
    return err;
  if (value != NULL)
    *value = resp->results[0]->value;
  done(resp);
  return 0;
}

/* An op whose payload is Empty (gc_status, clear_garbage, freeze, unfreeze,
 * clients, info); every Empty member of the oneof shares one type, and the
 * static Empty is only read while packing. */
static int empty_op(gc_client *c, Gcd__Wire__Op__OpCase kind, Response **resp) {
  static Gcd__Wire__Empty e = GCD__WIRE__EMPTY__INIT;
  Op op = GCD__WIRE__OP__INIT;

  op.op_case = kind;
  op.freeze = &e;
  return send_op(c, &op, resp);
}

static int empty_value(gc_client *c, Gcd__Wire__Op__OpCase kind, uint64_t *value) {
  Response *resp;
  int err;

  if ((err = empty_op(c, kind, &resp)) != 0)
    return err;
  if (value != NULL)
    *value = resp->results[0]->value;
  done(resp);
  return 0;
}

/* Copies up to cap handles of the answer into out. */
static size_t take_handles(const Result *r, gc_handle *out, size_t cap) {
  size_t n = r->n_handles < cap ? r->n_handles : cap;

  if (n > 0)
    memcpy(out, r->handles, n * sizeof *out);
  return n;
}

/* ----------------------------------------------------------- collecting */

static void copy_collect(gc_collect_info *out, const Gcd__Wire__CollectReply *in) {
  out->generation = in->generation;
  out->examined = in->examined;
  out->unreachable = in->unreachable;
  out->freed = in->freed;
  out->survivors = in->survivors;
  out->duration_ns = in->duration_ns;
}

GC_EXTERN int gc_collect_info_get(gc_client *c, int generation, gc_collect_info *out) {
  Gcd__Wire__Collect m = GCD__WIRE__COLLECT__INIT;
  Op op = GCD__WIRE__OP__INIT;
  Response *resp;
  int err;

  if ((err = gc__begin(c)) != 0)
    return err;
  if (generation < -1 || generation > 2)
    return gc__fail(c, GC_EINVAL, "generation %d does not exist: collect 0, 1 or 2 "
                    "(-1 is 2, a full collection)", generation);
  m.generation = generation;
  op.op_case = GCD__WIRE__OP__OP_COLLECT;
  op.collect = &m;
  if ((err = send_op(c, &op, &resp)) != 0)
    return err;
  if (resp->results[0]->collect == NULL)
    return missing(c, resp, "the collection's figures");
  if (out != NULL)
    copy_collect(out, resp->results[0]->collect);
  done(resp);
  return 0;
}

GC_EXTERN int gc_collect(gc_client *c, int generation, uint64_t *found) {
  gc_collect_info ci;
  int err = gc_collect_info_get(c, generation, &ci);

  if (err == 0 && found != NULL)
    *found = ci.unreachable;
  return err;
}

static int set_enabled(gc_client *c, int on) {
  Gcd__Wire__SetEnabled m = GCD__WIRE__SET_ENABLED__INIT;
  Op op = GCD__WIRE__OP__INIT;

  m.enabled = on;
  op.op_case = GCD__WIRE__OP__OP_SET_ENABLED;
  op.set_enabled = &m;
  return value_call(c, &op, NULL);
}

GC_EXTERN int gc_enable(gc_client *c) {
  return set_enabled(c, 1);
}

GC_EXTERN int gc_disable(gc_client *c) {
  return set_enabled(c, 0);
}

/* ------------------------------------------------------------- settings */

/* As CPython: 0..2^31-1 each. t0 == 0 turns automatic collection off;
 * t1 or t2 == 0 collects that generation whenever the younger one is. */
static int check_thresholds(gc_client *c, const uint64_t t[3]) {
  for (int g = 0; g < 3; g++)
    if (t[g] > GC_THRESHOLD_MAX)
      return gc__fail(c, GC_EINVAL, "threshold %d of %llu is too large: thresholds are "
                      "0 to %u", g, (unsigned long long)t[g], GC_THRESHOLD_MAX);
  return 0;
}

GC_EXTERN int gc_set_threshold(gc_client *c, uint64_t t0, uint64_t t1, uint64_t t2) {
  Gcd__Wire__Thresholds m = GCD__WIRE__THRESHOLDS__INIT;
  Op op = GCD__WIRE__OP__INIT;
  const uint64_t t[3] = {t0, t1, t2};
  int err;

  if ((err = gc__begin(c)) != 0 || (err = check_thresholds(c, t)) != 0)
    return err;
  m.threshold0 = t0;
  m.threshold1 = t1;
  m.threshold2 = t2;
  op.op_case = GCD__WIRE__OP__OP_SET_THRESHOLD;
  op.set_threshold = &m;
  return value_call(c, &op, NULL);
}

GC_EXTERN int gc_set_debug(gc_client *c, unsigned flags) {
  Gcd__Wire__SetDebug m = GCD__WIRE__SET_DEBUG__INIT;
  Op op = GCD__WIRE__OP__INIT;
  int err;

  if ((err = gc__begin(c)) != 0)
    return err;
  if (flags & ~(unsigned)GC_DEBUG_SAVEALL)
    return gc__fail(c, GC_EINVAL, "debug flags 0x%x unknown: the only flag is 0x%x "
                    "(GC_DEBUG_SAVEALL)", flags, GC_DEBUG_SAVEALL);
  m.flags = flags;
  op.op_case = GCD__WIRE__OP__OP_SET_DEBUG;
  op.set_debug = &m;
  return value_call(c, &op, NULL);
}

/* --------------------------------------------------------------- status */

static void copy_gen(gc_gen_stats *out, const Gcd__Wire__GenStats *in) {
  out->collections = in->collections;
  out->collected = in->collected;
  out->uncollectable = in->uncollectable;
  out->tracked = in->tracked;
  out->threshold = in->threshold;
  out->count = in->count;
}

static void copy_status(gc_stats *out, const Gcd__Wire__GcStatus *in) {
  memset(out, 0, sizeof *out);
  for (size_t g = 0; g < 3 && g < in->n_generations; g++)
    copy_gen(&out->gen[g], in->generations[g]);
  out->enabled = in->enabled;
  out->debug = in->debug;
  out->frozen = in->frozen;
  out->garbage = in->garbage;
  if (in->last != NULL)
    copy_collect(&out->last, in->last);
  out->last_end_unix_ns = in->last_end_unix_ns;
  out->collections_total = in->collections_total;
  out->loop_stall_max_ns = in->loop_stall_max_ns;
  out->collecting = in->collecting;
}

GC_EXTERN int gc_get_stats(gc_client *c, gc_stats *out) {
  Response *resp;
  int err;

  if ((err = empty_op(c, GCD__WIRE__OP__OP_GC_STATUS, &resp)) != 0)
    return err;
  if (resp->results[0]->gc == NULL || resp->results[0]->gc->n_generations != 3)
    return missing(c, resp, "the collector's status for three generations");
  if (out != NULL)
    copy_status(out, resp->results[0]->gc);
  done(resp);
  return 0;
}

GC_EXTERN int gc_isenabled(gc_client *c, int *enabled) {
  gc_stats st;
  int err = gc_get_stats(c, &st);

  if (err == 0 && enabled != NULL)
    *enabled = st.enabled;
  return err;
}

GC_EXTERN int gc_get_threshold(gc_client *c, uint64_t threshold[3]) {
  gc_stats st;
  int err = gc_get_stats(c, &st);

  for (int g = 0; err == 0 && threshold != NULL && g < 3; g++)
    threshold[g] = st.gen[g].threshold;
  return err;
}

GC_EXTERN int gc_get_count(gc_client *c, int64_t count[3]) {
  gc_stats st;
  int err = gc_get_stats(c, &st);

  for (int g = 0; err == 0 && count != NULL && g < 3; g++)
    count[g] = st.gen[g].count;
  return err;
}

GC_EXTERN int gc_get_debug(gc_client *c, unsigned *flags) {
  gc_stats st;
  int err = gc_get_stats(c, &st);

  if (err == 0 && flags != NULL)
    *flags = st.debug;
  return err;
}

GC_EXTERN int gc_get_freeze_count(gc_client *c, uint64_t *count) {
  gc_stats st;
  int err = gc_get_stats(c, &st);

  if (err == 0 && count != NULL)
    *count = st.frozen;
  return err;
}

/* ---------------------------------------------------- garbage and freeze */

/* A listing op (garbage, referents, referrers) asking for at most cap
 * handles; the daemon reads limit 0 as "its default", so cap 0 asks for one
 * and keeps none. */
static int list_call(gc_client *c, Gcd__Wire__Op__OpCase kind, gc_handle h,
                     gc_handle *out, size_t cap, size_t *n, uint64_t *total) {
  Gcd__Wire__ListOp m = GCD__WIRE__LIST_OP__INIT;
  Op op = GCD__WIRE__OP__INIT;
  Response *resp;
  size_t got;
  int err;

  if ((err = gc__begin(c)) != 0)
    return err;
  if (out == NULL && cap > 0)
    return gc__fail(c, GC_EINVAL, "room for %zu handles at NULL", cap);
  m.handle = h;
  m.limit = cap > 0 ? cap : 1;
  op.op_case = kind;
  op.garbage = &m; /* garbage, referents and referrers share ListOp */
  if ((err = send_op(c, &op, &resp)) != 0)
    return err;
  got = take_handles(resp->results[0], out, cap);
  if (n != NULL)
    *n = got;
  if (total != NULL)
    *total = resp->results[0]->value;
  done(resp);
  return 0;
}

GC_EXTERN int gc_garbage(gc_client *c, gc_handle *out, size_t cap, size_t *n,
                         uint64_t *total) {
  return list_call(c, GCD__WIRE__OP__OP_GARBAGE, 0, out, cap, n, total);
}

GC_EXTERN int gc_clear_garbage(gc_client *c, uint64_t *released) {
  return empty_value(c, GCD__WIRE__OP__OP_CLEAR_GARBAGE, released);
}

GC_EXTERN int gc_freeze(gc_client *c, uint64_t *moved) {
  return empty_value(c, GCD__WIRE__OP__OP_FREEZE, moved);
}

GC_EXTERN int gc_unfreeze(gc_client *c, uint64_t *moved) {
  return empty_value(c, GCD__WIRE__OP__OP_UNFREEZE, moved);
}

/* -------------------------------------------------------------- objects */

GC_EXTERN int gc_object_info_get(gc_client *c, gc_handle h, gc_object_info *out) {
  Gcd__Wire__HandleOp m = GCD__WIRE__HANDLE_OP__INIT;
  Op op = GCD__WIRE__OP__INIT;
  const Gcd__Wire__ObjectInfo *oi;
  Response *resp;
  int err;

  m.handle = h;
  op.op_case = GCD__WIRE__OP__OP_OBJECT_INFO;
  op.object_info = &m;
  if ((err = send_op(c, &op, &resp)) != 0)
    return err;
  if ((oi = resp->results[0]->object) == NULL)
    return missing(c, resp, "the object's figures");
  if (out != NULL)
    *out = (gc_object_info){.refcount = oi->refcount, .type = oi->type,
                            .nslots = oi->nslots, .nbytes = oi->nbytes,
                            .tracked = oi->tracked, .generation = oi->generation};
  done(resp);
  return 0;
}

GC_EXTERN int gc_is_tracked(gc_client *c, gc_handle h, int *tracked, int *generation) {
  gc_object_info oi;
  int err = gc_object_info_get(c, h, &oi);

  if (err == 0 && tracked != NULL)
    *tracked = oi.tracked;
  if (err == 0 && generation != NULL)
    *generation = oi.generation;
  return err;
}

GC_EXTERN int gc_get_referents(gc_client *c, gc_handle h, gc_handle *out, size_t cap,
                               size_t *n) {
  return list_call(c, GCD__WIRE__OP__OP_REFERENTS, h, out, cap, n, NULL);
}

GC_EXTERN int gc_get_referrers(gc_client *c, gc_handle h, gc_handle *out, size_t cap,
                               size_t *n) {
  return list_call(c, GCD__WIRE__OP__OP_REFERRERS, h, out, cap, n, NULL);
}

/* --------------------------------------------------- clients and daemon */

static void copy_client(gc_client_info *out, const Gcd__Wire__ClientInfo *in) {
  memset(out, 0, sizeof *out);
  out->id = in->id;
  out->pid = in->pid;
  out->uid = in->uid;
  out->gid = in->gid;
  if (in->name != NULL)
    snprintf(out->name, sizeof out->name, "%s", in->name);
  out->held = in->held;
  out->requests = in->requests;
  out->ops = in->ops;
  out->errors = in->errors;
  out->admin = in->admin;
}

GC_EXTERN int gc_clients(gc_client *c, gc_client_info *out, size_t cap, size_t *n) {
  const Result *r;
  Response *resp;
  size_t i;
  int err;

  if (c != NULL && out == NULL && cap > 0)
    return gc__fail(c, GC_EINVAL, "room for %zu clients at NULL", cap);
  if ((err = empty_op(c, GCD__WIRE__OP__OP_CLIENTS, &resp)) != 0)
    return err;
  r = resp->results[0];
  for (i = 0; i < r->n_clients && i < cap; i++)
    copy_client(&out[i], r->clients[i]);
  if (n != NULL)
    *n = i;
  done(resp);
  return 0;
}

static void copy_daemon(gc_daemon_info *out, const Gcd__Wire__DaemonInfo *d,
                        const Gcd__Wire__HeapInfo *h) {
  memset(out, 0, sizeof *out);
  out->pid = d->pid;
  snprintf(out->version, sizeof out->version, "%s", d->version ? d->version : "");
  out->start_time_unix = d->start_time_unix;
  snprintf(out->socket_path, sizeof out->socket_path, "%s",
           d->socket_path ? d->socket_path : "");
  out->max_objects = d->table_cap;
  out->cycle_frees = d->cycle_frees;
  out->requests = d->requests;
  out->sessions_total = d->sessions_total;
  out->allocs = h->allocs;
  out->frees = h->frees;
  out->slots_used = h->slots_used;
  out->slots_total = h->slots_total;
}

GC_EXTERN int gc_daemon_info_get(gc_client *c, gc_daemon_info *out) {
  const Result *r;
  Response *resp;
  int err;

  if ((err = empty_op(c, GCD__WIRE__OP__OP_INFO, &resp)) != 0)
    return err;
  r = resp->results[0];
  if (r->daemon == NULL || r->info == NULL)
    return missing(c, resp, "the daemon's identity");
  if (out != NULL)
    copy_daemon(out, r->daemon, r->info);
  done(resp);
  return 0;
}
