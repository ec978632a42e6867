/*
 * ops.c -- the request handlers of the wire protocol (gcd.wire, proto/gcd.proto).
 *
 * Owns: every protobuf type of the daemon: unpacking a Request, running each
 * operation against the heap, the names and the session's holds, and packing
 * the Response. Must not touch: sockets or libuv (server.c ships the bytes).
 *
 * Every error result carries a message that names the value at fault, so a
 * person reading a client's log can act on it without the daemon's log.
 *
 * Threading: loop thread only.
 */
#include "ops.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcclient.h"
#include "frame.h"
#include "gcd.pb-c.h"
#include "gcd_varint.h"
#include "log.h"

typedef Gcd__Wire__Op Op;
typedef Gcd__Wire__Result Result;

#define HANDLE_FMT "0x%016" PRIx64

/* ------------------------------------------------------------ scratch */

/* Memory for one reply's strings and sub-messages, freed in one go after
 * packing: a batch of a million failing operations costs one free per chunk,
 * not one per message. */
typedef struct chunk {
  struct chunk *next;
  size_t used, cap;
  _Alignas(16) char data[];
} chunk;

/* One request frame being answered. A handler that needs the collector
 * thread fills req and returns DEFER; the batch then waits (the session
 * reads no further frame) and the handler runs again with resumed set once
 * req has completed. req comes first: the collector hands back its address. */
typedef struct batch {
  gcd_gcreq req;
  gcd_daemon *d;
  gcd_session *s;        /* NULL once the session closed while waiting */
  chunk *chunks;
  bool close_after, attach_fds;
  Gcd__Wire__Request *msg;
  Gcd__Wire__Response resp;
  size_t next;           /* the operation running (or to run again) */
  bool resumed;          /* req has completed for operation next */
  bool quiet;            /* answer only a failure (Request.quiet, after hello) */
  char check_msg[256];   /* verify's finding, written on the collector thread */
  bool oom;              /* scratch memory ran out while unpacking */
  gcd_room room;         /* where the reply may go (gcd_ops_handle/resume) */
} batch;

#define DEFER 1          /* a handler's answer: run req, then call me again */

#define CHUNK_SIZE 8192

static void *scratch_alloc(batch *b, size_t n) {
  chunk *c = b->chunks;

  n = (n + 15) & ~(size_t)15;
  if (c == NULL || c->cap - c->used < n) {
    size_t cap = n > CHUNK_SIZE ? n : CHUNK_SIZE;
    if ((c = malloc(sizeof *c + cap)) == NULL)
      return NULL;
    *c = (chunk){.next = b->chunks, .used = 0, .cap = cap};
    b->chunks = c;
  }
  c->used += n;
  return c->data + c->used - n;
}

/* Frees b's chunks but one of the usual size, which it returns emptied
 * (or NULL). */
static chunk *scratch_free(batch *b) {
  chunk *keep = NULL;
  while (b->chunks != NULL) {
    chunk *c = b->chunks;
    b->chunks = c->next;
    if (keep == NULL && c->cap == CHUNK_SIZE) {
      *c = (chunk){.cap = CHUNK_SIZE};
      keep = c;
    } else {
      free(c);
    }
  }
  return keep;
}

/* ------------------------------------------------------------ results */

/* Sets an error result; the message is formatted into scratch memory (on
 * failure the code alone goes out, which the client still understands). */
static int fail(batch *b, Result *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(batch *b, Result *r, int code, const char *fmt, ...) {
  char text[512];
  va_list ap;
  int n;

  va_start(ap, fmt);
  n = vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  r->code = code;
  if (n >= 0 && (r->message = scratch_alloc(b, (size_t)n + 1)) != NULL)
    memcpy(r->message, text, (size_t)n + 1);
  return code;
}

/* A name as a person can read it in a message: printable ASCII as is, the
 * rest as \xNN (messages are proto3 strings, which must be UTF-8). */
static const char *quote(batch *b, const char *name) {
  size_t len = strnlen(name, GC_NAME_MAX + 1), k = 0;
  char *q = scratch_alloc(b, len * 4 + 1);

  if (q == NULL)
    return "?";
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)name[i];
    if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
      q[k++] = (char)ch;
    else
      k += (size_t)sprintf(q + k, "\\x%02x", ch);
  }
  q[k] = '\0';
  return q;
}

/* Resolves a handle or fails r naming it; role says which operand it was. */
static int resolve(batch *b, Result *r, uint64_t handle, const char *role,
                   uint32_t *index) {
  int err = gcd_heap_resolve(&b->d->heap, handle, index);

  if (err == 0)
    return 0;
  if (handle == 0)
    return fail(b, r, err, "%s is the null handle (0)", role);
  if (err == GC_ESTALE)
    return fail(b, r, err, "%s " HANDLE_FMT " is stale: the object was freed",
                role, handle);
  return fail(b, r, err, "%s " HANDLE_FMT " is unknown: no object was ever "
              "allocated with it", role, handle);
}

/* Checks slot against the object at index, naming both on failure. */
static int check_slot(batch *b, Result *r, uint64_t obj, uint32_t index,
                      uint32_t slot) {
  uint32_t nslots = gcd_heap_obj(&b->d->heap, index)->nslots;

  if (slot < nslots)
    return 0;
  return fail(b, r, GC_ERANGE, "slot %" PRIu32 " out of range: object " HANDLE_FMT
              " has %" PRIu32 " slots", slot, obj, nslots);
}

/* Records a retain of the session and takes the heap reference it stands
 * for: both, or neither. */
static int hold(batch *b, Result *r, uint64_t handle, uint32_t index) {
  if (gcd_holds_add(&b->s->holds, handle) != 0)
    return fail(b, r, GC_ENOMEM, "daemon out of memory recording a retain of "
                HANDLE_FMT, handle);
  gcd_heap_incref(&b->d->heap, index);
  return 0;
}

static int name_invalid(batch *b, Result *r, const char *name) {
  return fail(b, r, GC_ENAME, "name of %zu bytes is invalid: a name is 1 to %d "
              "bytes without NUL", strnlen(name, GC_NAME_MAX + 1), GC_NAME_MAX);
}

/* ----------------------------------------------------------- handlers */

/* The heap's figures, for messages that tell the user what to raise. */
static int heap_full(batch *b, Result *r, const Gcd__Wire__Alloc *a) {
  gcd_heap_stats st;

  gcd_heap_stats_get(&b->d->heap, &st);
  return fail(b, r, GC_ENOMEM, "heap full: alloc of %" PRIu32 " slots and %" PRIu64
              " bytes does not fit even after a full collection; %" PRIu64 " of %"
              PRIu64 " payload bytes, %" PRIu64 " of %" PRIu64 " slots, %" PRIu64
              " of %" PRIu64 " objects in use; raise --heap-size (or --max-objects)", a->nslots, a->nbytes,
              st.bytes_used, st.bytes_total, st.slots_used, st.slots_total,
              st.objects, st.table_cap - 1);
}

static int alloc_failed(batch *b, Result *r, const Gcd__Wire__Alloc *a, int err) {
  gcd_heap_stats st;

  if (err == GC_ENOMEM)
    return heap_full(b, r, a);
  if (err == GC_EINVAL)
    return fail(b, r, err, "alloc of 0 slots and 0 bytes: an object needs at "
                "least one slot or one payload byte");
  gcd_heap_stats_get(&b->d->heap, &st);
  return fail(b, r, err, "alloc of %" PRIu32 " slots and %" PRIu64 " bytes can "
              "never fit: the heap holds %" PRIu64 " payload bytes and %" PRIu64
              " slots, at most %u slots an object", a->nslots, a->nbytes,
              st.bytes_total, st.slots_total, (unsigned)GC_SLOTS_MAX);
}

/* A full heap first gets a full collection (on the collector thread), then
 * one more try: cycles waiting for an automatic collection must not make an
 * allocation fail. */
static int op_alloc(batch *b, const Op *op, Result *r) {
  const Gcd__Wire__Alloc *a = op->alloc;
  uint64_t handle;
  uint32_t index;
  int err = gcd_heap_alloc(&b->d->heap, a->nslots, a->nbytes, a->type, &handle);

  if (err == GC_ENOMEM && !b->resumed) {
    b->req = (gcd_gcreq){.kind = GCD_GCREQ_COLLECT, .generation = 2};
    return DEFER;
  }
  if (err != 0)
    return alloc_failed(b, r, a, err);
  gcd_heap_resolve(&b->d->heap, handle, &index);
  if (gcd_holds_add(&b->s->holds, handle) != 0) {
    gcd_heap_decref(&b->d->heap, index); /* undo: nobody else can hold it */
    return fail(b, r, GC_ENOMEM, "daemon out of memory recording the new "
                "object's retain; the allocation was undone");
  }
  r->value = handle;
  return 0;
}

static int op_retain(batch *b, const Op *op, Result *r) {
  uint32_t index;
  int err = resolve(b, r, op->retain->handle, "handle", &index);

  return err != 0 ? err : hold(b, r, op->retain->handle, index);
}

/* The hold is checked before the count drops: a client may only give back
 * what it took, or it could free objects other clients rely on. */
static int op_release(batch *b, const Op *op, Result *r) {
  uint64_t handle = op->release->handle;
  uint32_t index;
  int err = resolve(b, r, handle, "handle", &index);

  if (err != 0)
    return err;
  if (gcd_holds_remove(&b->s->holds, handle) != 0)
    return fail(b, r, GC_ENOTHELD, "handle " HANDLE_FMT " is not held by this "
                "client: release only what alloc, retain or lookup gave you", handle);
  gcd_heap_decref(&b->d->heap, index);
  return 0;
}

/* Operands are checked here, one by one, so the message can say which of
 * them was wrong; the heap then cannot refuse. */
static int op_set_ref(batch *b, const Op *op, Result *r) {
  const Gcd__Wire__SetRef *m = op->set_ref;
  uint32_t oi, ti;
  int err;

  if ((err = resolve(b, r, m->object, "object", &oi)) != 0 ||
      (err = check_slot(b, r, m->object, oi, m->slot)) != 0 ||
      (m->target != 0 && (err = resolve(b, r, m->target, "target", &ti)) != 0))
    return err;
  if ((err = gcd_heap_set_ref(&b->d->heap, m->object, m->slot, m->target)) != 0)
    return fail(b, r, err, "set_ref of slot %" PRIu32 " of " HANDLE_FMT " failed",
                m->slot, m->object);
  return 0;
}

static int op_get_ref(batch *b, const Op *op, Result *r) {
  const Gcd__Wire__GetRef *m = op->get_ref;
  uint32_t oi;
  int err;

  if ((err = resolve(b, r, m->object, "object", &oi)) != 0 ||
      (err = check_slot(b, r, m->object, oi, m->slot)) != 0)
    return err;
  return gcd_heap_get_ref(&b->d->heap, m->object, m->slot, &r->value);
}

static int op_refcount(batch *b, const Op *op, Result *r) {
  uint32_t index;
  int err = resolve(b, r, op->refcount->handle, "handle", &index);

  if (err == 0)
    r->value = gcd_heap_refcount(&b->d->heap, index);
  return err;
}

static int op_publish(batch *b, const Op *op, Result *r) {
  const Gcd__Wire__Publish *m = op->publish;
  uint64_t there = 0;
  uint32_t index;
  int err;

  if (gcd_names_check(m->name, strlen(m->name)) != 0)
    return name_invalid(b, r, m->name);
  if ((err = resolve(b, r, m->handle, "handle", &index)) != 0)
    return err;
  err = gcd_names_publish(&b->d->names, &b->d->heap, m->name, strlen(m->name),
                          m->handle, &there);
  if (err == GC_EEXIST)
    return fail(b, r, err, "name \"%s\" is already published (handle " HANDLE_FMT
                "); unpublish it first", quote(b, m->name), there);
  if (err != 0)
    return fail(b, r, err, "daemon out of memory publishing name \"%s\"",
                quote(b, m->name));
  return 0;
}

static int no_such_name(batch *b, Result *r, const char *name) {
  return fail(b, r, GC_ENOENT, "no object is published under name \"%s\"",
              quote(b, name));
}

/* Lookup and retain in one loop-thread step: no unpublish can come between. */
static int op_lookup(batch *b, const Op *op, Result *r) {
  const char *name = op->lookup->name;
  uint64_t handle;
  uint32_t index;
  int err = gcd_names_lookup(&b->d->names, name, strlen(name), &handle);

  if (err == GC_ENAME)
    return name_invalid(b, r, name);
  if (err != 0)
    return no_such_name(b, r, name);
  if ((err = resolve(b, r, handle, "published handle", &index)) != 0 ||
      (err = hold(b, r, handle, index)) != 0)
    return err;
  r->value = handle;
  return 0;
}

static int op_unpublish(batch *b, const Op *op, Result *r) {
  const char *name = op->unpublish->name;
  int err = gcd_names_unpublish(&b->d->names, &b->d->heap, name, strlen(name));

  if (err == GC_ENAME)
    return name_invalid(b, r, name);
  if (err != 0)
    return no_such_name(b, r, name);
  return 0;
}

static Gcd__Wire__DaemonInfo *daemon_info(batch *b, const gcd_heap_stats *st) {
  Gcd__Wire__DaemonInfo *di = scratch_alloc(b, sizeof *di);
  const gcd_daemon *d = b->d;

  if (di == NULL)
    return NULL;
  gcd__wire__daemon_info__init(di);
  di->pid = (uint32_t)d->pid;
  di->version = GCD_VERSION;
  di->start_time_unix = (uint64_t)d->start_time;
  di->socket_path = (char *)d->cfg.socket_path;
  di->table_cap = st->table_cap - 1;
  di->cycle_frees = st->cycle_frees;
  di->requests = d->requests;
  di->sessions_total = d->sessions_total;
  return di;
}

static int op_info(batch *b, const Op *op, Result *r) {
  Gcd__Wire__HeapInfo *info = scratch_alloc(b, sizeof *info);
  gcd_heap_stats st;

  gcd_heap_stats_get(&b->d->heap, &st);
  if (info == NULL || (r->daemon = daemon_info(b, &st)) == NULL)
    return fail(b, r, GC_ENOMEM, "daemon out of memory answering info");
  gcd__wire__heap_info__init(info);
  gcd_heap_stats_get(&b->d->heap, &st);
  info->objects = st.objects;
  info->bytes_used = st.bytes_used;
  info->bytes_total = st.bytes_total;
  info->clients = b->d->nsessions;
  info->slots_used = st.slots_used;
  info->slots_total = st.slots_total;
  info->allocs = st.allocs;
  info->frees = st.frees;
  r->info = info;
  return 0;
}

/* Administrative operations answer GC_EPERM to other peers. */
static int need_admin(batch *b, Result *r, const char *what) {
  if (gcd_session_is_admin(b->d, b->s))
    return 0;
  return fail(b, r, GC_EPERM, "%s is for administrators: peer uid %u is neither "
              "the daemon's uid %u nor root, and not in --admin-group", what,
              (unsigned)b->s->uid, (unsigned)b->d->euid);
}

/* Collector thread, heap lock held, no collection active. */
static int verify_all(void *arg) {
  batch *b = arg;

  return gcd_daemon_verify(b->d, b->check_msg, sizeof b->check_msg);
}

static int op_verify(batch *b, const Op *op, Result *r) {
  int err;

  if (!b->resumed) {
    if ((err = need_admin(b, r, "verify")) != 0)
      return err;
    b->req = (gcd_gcreq){.kind = GCD_GCREQ_CALL, .fn = verify_all, .arg = b};
    return DEFER;
  }
  if (b->req.code != 0)
    return fail(b, r, b->req.code, "heap verification failed: %s", b->check_msg);
  return 0;
}

/* ------------------------------------------------------ the collector */

#define LIST_DEFAULT 1000     /* handles a listing returns when no limit is given */
#define LIST_MAX 100000       /* and at most, whatever the limit */
_Static_assert(GCD_GC_DEBUG_SAVEALL == GC_DEBUG_SAVEALL, "one save-all flag on the wire");

static uint64_t list_limit(uint64_t asked) {
  return asked == 0 ? LIST_DEFAULT : asked > LIST_MAX ? LIST_MAX : asked;
}

static Gcd__Wire__CollectReply *collect_reply(batch *b, const gcd_gc_result *g,
                                             uint64_t duration_ns) {
  Gcd__Wire__CollectReply *c = scratch_alloc(b, sizeof *c);

  if (c == NULL)
    return NULL;
  gcd__wire__collect_reply__init(c);
  c->generation = g->generation;
  c->examined = g->examined;
  c->unreachable = g->unreachable;
  c->freed = g->freed;
  c->survivors = g->survivors;
  c->duration_ns = duration_ns;
  return c;
}

static int collected(batch *b, Result *r) {
  const gcd_gcreq *q = &b->req;

  if ((r->collect = collect_reply(b, &q->result, q->duration_ns)) == NULL)
    return fail(b, r, GC_ENOMEM, "daemon out of memory answering collect");
  r->value = q->result.unreachable;
  return 0;
}

static int op_collect(batch *b, const Op *op, Result *r) {
  int gen = op->collect->generation, err;

  if (b->resumed)
    return collected(b, r);
  if ((err = need_admin(b, r, "collect")) != 0)
    return err;
  if (gen < -1 || gen > 2)
    return fail(b, r, GC_EINVAL, "generation %d does not exist: collect 0, 1 or "
                "2 (-1 is 2, a full collection)", gen);
  b->req = (gcd_gcreq){.kind = GCD_GCREQ_COLLECT, .generation = gen < 0 ? 2 : gen};
  return DEFER;
}

static int op_set_enabled(batch *b, const Op *op, Result *r) {
  int err = need_admin(b, r, op->set_enabled->enabled ? "enable" : "disable");

  if (err == 0) {
    b->d->gc.enabled = op->set_enabled->enabled;
    gcd_log_info("session %" PRIu64 ": automatic collection %s", b->s->id,
                 b->d->gc.enabled ? "enabled" : "disabled");
  }
  return err;
}

static Gcd__Wire__GenStats *gen_stats(batch *b, const gcd_gc *gc, int g) {
  Gcd__Wire__GenStats *st = scratch_alloc(b, sizeof *st);

  if (st == NULL)
    return NULL;
  gcd__wire__gen_stats__init(st);
  st->collections = gc->stats[g].collections;
  st->collected = gc->stats[g].collected;
  st->uncollectable = gc->stats[g].uncollectable;
  st->tracked = gc->count[g];
  st->threshold = gc->threshold[g];
  st->count = gc->gen_count[g];
  return st;
}

static void status_figures(Gcd__Wire__GcStatus *st, const gcd_daemon *d) {
  st->enabled = d->gc.enabled;
  st->debug = d->gc.debug;
  st->frozen = d->gc.count[GCD_GC_PERMANENT];
  st->garbage = d->gc.count[GCD_GC_GARBAGE];
  st->last_end_unix_ns = d->gct.last_collection_end_unix_ns;
  st->collections_total = d->gct.collections_total;
  st->loop_stall_max_ns = d->gct.loop_stall_max_ns;
  st->collecting = d->gc.active;
}

static int op_gc_status(batch *b, const Op *op, Result *r) {
  Gcd__Wire__GcStatus *st = scratch_alloc(b, sizeof *st);
  Gcd__Wire__GenStats **gens = scratch_alloc(b, GCD_GC_GENERATIONS * sizeof *gens);

  if (st == NULL || gens == NULL)
    return fail(b, r, GC_ENOMEM, "daemon out of memory answering gc_status");
  gcd__wire__gc_status__init(st);
  status_figures(st, b->d);
  for (int g = 0; g < GCD_GC_GENERATIONS; g++)
    if ((gens[g] = gen_stats(b, &b->d->gc, g)) == NULL)
      return fail(b, r, GC_ENOMEM, "daemon out of memory answering gc_status");
  st->generations = gens;
  st->n_generations = GCD_GC_GENERATIONS;
  st->last = collect_reply(b, &b->d->gc.last, b->d->gct.last_collection_ns);
  r->gc = st;
  return 0;
}

/* As CPython: any value from 0 to 2^31 - 1; threshold 0 for generation 0
 * turns automatic collection off. */
static int op_set_threshold(batch *b, const Op *op, Result *r) {
  const Gcd__Wire__Thresholds *m = op->set_threshold;
  uint64_t t[GCD_GC_GENERATIONS] = {m->threshold0, m->threshold1, m->threshold2};
  int err = need_admin(b, r, "set_threshold");

  if (err != 0)
    return err;
  for (int g = 0; g < GCD_GC_GENERATIONS; g++)
    if (t[g] > GC_THRESHOLD_MAX)
      return fail(b, r, GC_EINVAL, "threshold %d of %" PRIu64 " is too large: "
                  "thresholds are 0 to %u", g, t[g], GC_THRESHOLD_MAX);
  gcd_gc_set_threshold(&b->d->gc, t);
  return 0;
}

static int op_set_debug(batch *b, const Op *op, Result *r) {
  uint32_t flags = op->set_debug->flags;
  int err = need_admin(b, r, "set_debug");

  if (err != 0)
    return err;
  if (flags & ~(uint32_t)GCD_GC_DEBUG_SAVEALL)
    return fail(b, r, GC_EINVAL, "debug flags 0x%" PRIx32 " unknown: the only "
                "flag is 0x%x (save-all)", flags, GCD_GC_DEBUG_SAVEALL);
  b->d->gc.debug = flags;
  return 0;
}

typedef struct listing {
  const gcd_heap *h;
  uint64_t *handles;
  size_t n;
} listing;

static int list_one(uint32_t idx, void *arg) {
  listing *l = arg;

  l->handles[l->n++] = gcd_heap_handle(l->h, idx);
  return 0;
}

static int op_garbage(batch *b, const Op *op, Result *r) {
  uint64_t limit = list_limit(op->garbage->limit), total = b->d->gc.count[GCD_GC_GARBAGE];
  listing l = {.h = &b->d->heap};
  int err = need_admin(b, r, "garbage");

  if (err != 0)
    return err;
  if (limit > total)
    limit = total;
  if (limit > 0 && (l.handles = scratch_alloc(b, limit * sizeof *l.handles)) == NULL)
    return fail(b, r, GC_ENOMEM, "daemon out of memory listing garbage");
  gcd_gc_each(&b->d->gc, GCD_GC_GARBAGE, limit, list_one, &l);
  r->handles = l.handles;
  r->n_handles = l.n;
  r->value = total;
  return 0;
}

/* Freeze, unfreeze and clear-garbage run on the collector thread, so they
 * never meet a collection half done. */
static int admin_deferred(batch *b, Result *r, const char *what, gcd_gcreq_kind kind) {
  int err;

  if (b->resumed) {
    if (kind == GCD_GCREQ_CLEAR_GARBAGE && (err = collected(b, r)) != 0)
      return err;
    r->value = b->req.count;
    return 0;
  }
  if ((err = need_admin(b, r, what)) != 0)
    return err;
  b->req = (gcd_gcreq){.kind = kind};
  return DEFER;
}

static int op_clear_garbage(batch *b, const Op *op, Result *r) {
  return admin_deferred(b, r, "clear_garbage", GCD_GCREQ_CLEAR_GARBAGE);
}

static int op_freeze(batch *b, const Op *op, Result *r) {
  return admin_deferred(b, r, "freeze", GCD_GCREQ_FREEZE);
}

static int op_unfreeze(batch *b, const Op *op, Result *r) {
  return admin_deferred(b, r, "unfreeze", GCD_GCREQ_UNFREEZE);
}

static int op_object_info(batch *b, const Op *op, Result *r) {
  Gcd__Wire__ObjectInfo *oi = scratch_alloc(b, sizeof *oi);
  uint32_t index;
  int err = resolve(b, r, op->object_info->handle, "handle", &index);

  if (err != 0)
    return err;
  if (oi == NULL)
    return fail(b, r, GC_ENOMEM, "daemon out of memory answering object_info");
  const gcd_obj *o = gcd_heap_obj(&b->d->heap, index);
  gcd__wire__object_info__init(oi);
  oi->refcount = gcd_heap_refcount(&b->d->heap, index);
  oi->type = o->type;
  oi->nslots = o->nslots;
  oi->nbytes = o->nbytes;
  oi->generation = gcd_gc_generation(&b->d->gc, index);
  oi->tracked = oi->generation >= 0;
  r->object = oi;
  return 0;
}

static int op_referents(batch *b, const Op *op, Result *r) {
  uint64_t limit = list_limit(op->referents->limit), h;
  uint32_t index;
  int err = resolve(b, r, op->referents->handle, "handle", &index);

  if (err != 0)
    return err;
  uint32_t ns = gcd_heap_obj(&b->d->heap, index)->nslots;
  if (ns > 0 && (r->handles = scratch_alloc(b, ns * sizeof *r->handles)) == NULL)
    return fail(b, r, GC_ENOMEM, "daemon out of memory listing referents");
  for (uint32_t k = 0; k < ns && r->n_handles < limit; k++)
    if (gcd_heap_get_ref(&b->d->heap, op->referents->handle, k, &h) == 0 && h != 0)
      r->handles[r->n_handles++] = h;
  return 0;
}

static int op_referrers(batch *b, const Op *op, Result *r) {
  uint32_t index;
  int err;

  if (!b->resumed) {
    if ((err = resolve(b, r, op->referrers->handle, "handle", &index)) != 0)
      return err;
    b->req = (gcd_gcreq){.kind = GCD_GCREQ_REFERRERS, .handle = op->referrers->handle,
                         .limit = list_limit(op->referrers->limit)};
    return DEFER;
  }
  err = b->req.code;
  if (err == 0 && b->req.nhandles > 0 &&
      (r->handles = scratch_alloc(b, b->req.nhandles * sizeof *r->handles)) != NULL) {
    memcpy(r->handles, b->req.handles, b->req.nhandles * sizeof *r->handles);
    r->n_handles = b->req.nhandles;
  } else if (err == 0 && b->req.nhandles > 0) {
    err = GC_ENOMEM;
  }
  free(b->req.handles);
  b->req.handles = NULL;
  return err == 0 ? 0 : fail(b, r, err, "daemon out of memory listing referrers");
}

static Gcd__Wire__ClientInfo *client_info(batch *b, const gcd_session *s) {
  Gcd__Wire__ClientInfo *ci = scratch_alloc(b, sizeof *ci);
  char *name = scratch_alloc(b, strlen(s->name) + 1);

  if (ci == NULL || name == NULL)
    return NULL;
  gcd__wire__client_info__init(ci);
  ci->id = s->id;
  ci->pid = (uint32_t)s->pid;
  ci->uid = s->uid;
  ci->gid = s->gid;
  ci->name = memcpy(name, s->name, strlen(s->name) + 1);
  ci->held = gcd_holds_total(&s->holds);
  ci->requests = s->requests;
  ci->ops = s->ops;
  ci->errors = s->errors;
  ci->admin = gcd_session_is_admin(b->d, s);
  return ci;
}

static int op_clients(batch *b, const Op *op, Result *r) {
  size_t n = 0;

  r->clients = scratch_alloc(b, (b->d->nsessions + 1) * sizeof *r->clients);
  if (r->clients == NULL)
    return fail(b, r, GC_ENOMEM, "daemon out of memory listing clients");
  for (const gcd_session *s = b->d->sessions; s != NULL; s = s->next)
    if ((r->clients[n++] = client_info(b, s)) == NULL)
      return fail(b, r, GC_ENOMEM, "daemon out of memory listing clients");
  r->n_clients = n;
  return 0;
}

/* Field numbers this daemon does not know arrive as unknown fields of Op. */
static int op_unknown(batch *b, const Op *op, Result *r) {
  if (op->base.n_unknown_fields > 0)
    return fail(b, r, GC_ENOSYS, "operation %" PRIu32 " is not supported by this "
                "daemon (protocol %u)", op->base.unknown_fields[0].tag,
                GCD_PROTOCOL_VERSION);
  return fail(b, r, GC_ENOSYS, "empty operation: no field of Op is set");
}

static int op_hello_again(batch *b, const Op *op, Result *r) {
  return fail(b, r, GC_EPROTO, "hello again: a connection says hello once, alone "
              "in its first request");
}

typedef int (*op_fn)(batch *b, const Op *op, Result *r);

static const struct {
  const char *name;
  op_fn fn;
} op_table[] = {
    [GCD__WIRE__OP__OP__NOT_SET] = {"unknown", op_unknown},
    [GCD__WIRE__OP__OP_HELLO] = {"hello", op_hello_again},
    [GCD__WIRE__OP__OP_ALLOC] = {"alloc", op_alloc},
    [GCD__WIRE__OP__OP_RETAIN] = {"retain", op_retain},
    [GCD__WIRE__OP__OP_RELEASE] = {"release", op_release},
    [GCD__WIRE__OP__OP_SET_REF] = {"set_ref", op_set_ref},
    [GCD__WIRE__OP__OP_GET_REF] = {"get_ref", op_get_ref},
    [GCD__WIRE__OP__OP_REFCOUNT] = {"refcount", op_refcount},
    [GCD__WIRE__OP__OP_PUBLISH] = {"publish", op_publish},
    [GCD__WIRE__OP__OP_LOOKUP] = {"lookup", op_lookup},
    [GCD__WIRE__OP__OP_UNPUBLISH] = {"unpublish", op_unpublish},
    [GCD__WIRE__OP__OP_INFO] = {"info", op_info},
    [GCD__WIRE__OP__OP_VERIFY] = {"verify", op_verify},
    [GCD__WIRE__OP__OP_COLLECT] = {"collect", op_collect},
    [GCD__WIRE__OP__OP_SET_ENABLED] = {"set_enabled", op_set_enabled},
    [GCD__WIRE__OP__OP_GC_STATUS] = {"gc_status", op_gc_status},
    [GCD__WIRE__OP__OP_SET_THRESHOLD] = {"set_threshold", op_set_threshold},
    [GCD__WIRE__OP__OP_SET_DEBUG] = {"set_debug", op_set_debug},
    [GCD__WIRE__OP__OP_GARBAGE] = {"garbage", op_garbage},
    [GCD__WIRE__OP__OP_CLEAR_GARBAGE] = {"clear_garbage", op_clear_garbage},
    [GCD__WIRE__OP__OP_FREEZE] = {"freeze", op_freeze},
    [GCD__WIRE__OP__OP_UNFREEZE] = {"unfreeze", op_unfreeze},
    [GCD__WIRE__OP__OP_OBJECT_INFO] = {"object_info", op_object_info},
    [GCD__WIRE__OP__OP_REFERENTS] = {"referents", op_referents},
    [GCD__WIRE__OP__OP_REFERRERS] = {"referrers", op_referrers},
    [GCD__WIRE__OP__OP_CLIENTS] = {"clients", op_clients},
};

#define OP_KINDS (sizeof op_table / sizeof op_table[0])

_Static_assert(OP_KINDS <= GCD_OP_KINDS, "counters cover every operation");

const char *gcd_ops_name(int kind) {
  if (kind <= 0 || (size_t)kind >= OP_KINDS || op_table[kind].name == NULL)
    return "unknown"; /* numbers 13..31 are unused */
  return op_table[kind].name;
}

/* Counts the outcome per kind and code, for the metrics endpoint. */
static void count(batch *b, unsigned kind, int code) {
  b->d->op_count[kind < OP_KINDS ? kind : 0]++;
  gcd_session_count_error(b->d, code);
  b->s->ops++;
  if (code != 0)
    b->s->errors++;
}

/* Returns DEFER, or 0 once the operation has its result. */
static int run_op(batch *b, const Op *op, Result *r) {
  unsigned kind = (unsigned)op->op_case;
  op_fn fn = kind < OP_KINDS && op_table[kind].fn ? op_table[kind].fn : op_unknown;
  int rc = fn(b, op, r);

  if (rc == DEFER)
    return DEFER;
  count(b, kind, rc);
  return 0;
}

/* --------------------------------------------------------- handshake */

static int hello_reply(batch *b, Result *r) {
  Gcd__Wire__HelloReply *h = scratch_alloc(b, sizeof *h);

  if (h == NULL)
    return fail(b, r, GC_ENOMEM, "daemon out of memory answering hello");
  gcd__wire__hello_reply__init(h);
  h->protocol_version = GCD_PROTOCOL_VERSION;
  h->meta_size = b->d->heap.meta.size;
  h->data_size = b->d->heap.data.size;
  h->client_id = b->s->id;
  h->daemon_pid = (uint32_t)b->d->pid;
  h->daemon_version = GCD_VERSION;
  h->max_frame = b->d->cfg.max_frame;
  r->hello = h;
  return 0;
}

/* The client's name goes into log lines and listings: control bytes and
 * quotes become '?', so no client can forge a line or break a quote. */
static void name_keep(gcd_session *s, const char *name) {
  snprintf(s->name, sizeof s->name, "%s", name);
  for (char *p = s->name; *p != '\0'; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '"')
      *p = '?';
}

/* A wrong version ends the connection: nothing after it could be read
 * reliably. The name is kept for the administrators' listing. */
static int op_hello(batch *b, const Op *op, Result *r) {
  const Gcd__Wire__Hello *m = op->hello;
  int err;

  if (m->protocol_version != GCD_PROTOCOL_VERSION) {
    b->close_after = true;
    return fail(b, r, GC_EVERSION, "client speaks protocol %" PRIu32 ", daemon "
                "speaks %u", m->protocol_version, GCD_PROTOCOL_VERSION);
  }
  if ((err = hello_reply(b, r)) != 0)
    return err;
  name_keep(b->s, m->client_name);
  b->s->hello_done = true;
  b->attach_fds = true;
  gcd_log_info("session %" PRIu64 ": hello from \"%s\" (pid %ld, uid %u)",
               b->s->id, b->s->name, (long)b->s->pid, (unsigned)b->s->uid);
  return 0;
}

static int not_yet(batch *b, const Op *op, Result *r) {
  if (op->op_case == GCD__WIRE__OP__OP_HELLO)
    return fail(b, r, GC_EPROTO, "hello must be the only operation of the first "
                "request");
  return fail(b, r, GC_EPROTO, "say hello first: the first request of a "
              "connection is exactly one hello");
}

/* Before the handshake only a lone hello is answered; anything else gets
 * GC_EPROTO per operation and the connection stays open for a hello. */
static void run_first(batch *b, const Gcd__Wire__Request *req, Result *res) {
  if (req->n_ops == 1 && req->ops[0]->op_case == GCD__WIRE__OP__OP_HELLO) {
    count(b, GCD__WIRE__OP__OP_HELLO, op_hello(b, req->ops[0], &res[0]));
    return;
  }
  for (size_t i = 0; i < req->n_ops; i++)
    count(b, (unsigned)req->ops[i]->op_case, not_yet(b, req->ops[i], &res[i]));
}

/* ---------------------------------------------------------- framing */

/* Packs resp behind a length prefix into out. */
/* ------------------------------------------------------- fast packing */

/* A Response whose results carry only a code, a message and a value (the
 * answers of the common operations, and their failures) is written here,
 * to the bytes protobuf-c writes: its generic packer walks each message's
 * descriptor twice, for the size and for the bytes. Any other Response
 * goes through protobuf-c. gcd_ops_encode_check() compares the two. */
/* Most results carry no message: no strlen() for those. */
static size_t str_len(const char *s) {
  return s != NULL && s[0] != '\0' ? strlen(s) : 0;
}

/* A proto3 field, absent when zero: its size, tag included. */
static size_t uint_size(uint64_t v) {
  return v != 0 ? 1 + gcd_varint_size(v) : 0;
}

static size_t str_size(size_t n) {
  return n != 0 ? 1 + gcd_varint_size(n) + n : 0;
}

static bool result_plain(const Result *r) {
  return r->hello == NULL && r->info == NULL && r->gc == NULL && r->n_handles == 0 &&
         r->object == NULL && r->n_clients == 0 && r->collect == NULL && r->daemon == NULL &&
         r->base.n_unknown_fields == 0;
}

static size_t result_size(const Result *r) {
  return uint_size(gcd_zigzag32(r->code)) + str_size(str_len(r->message)) + uint_size(r->value);
}

/* The packed size, or 0 when protobuf-c must pack it (or it is empty). */
static size_t fast_size(const Gcd__Wire__Response *resp) {
  size_t n = uint_size(resp->seq) + uint_size(gcd_zigzag32(resp->code)) +
             str_size(str_len(resp->message)) + uint_size(resp->quiet != 0);

  if (resp->base.n_unknown_fields != 0)
    return 0;
  for (size_t i = 0; i < resp->n_results; i++) {
    if (!result_plain(resp->results[i]))
      return 0;
    n += 1 + gcd_varint_size(result_size(resp->results[i])) + result_size(resp->results[i]);
  }
  return n;
}

static uint8_t *put_uint(uint8_t *p, unsigned field, uint64_t v) {
  if (v == 0)
    return p;
  *p++ = (uint8_t)(field << 3);
  return gcd_put_varint(p, v);
}

static uint8_t *put_str(uint8_t *p, unsigned field, const char *s) {
  size_t n = str_len(s);

  if (n == 0)
    return p;
  *p++ = (uint8_t)(field << 3 | 2);
  p = gcd_put_varint(p, n);
  memcpy(p, s, n);
  return p + n;
}

static uint8_t *put_result(uint8_t *p, const Result *r) {
  *p++ = 2 << 3 | 2; /* Response.results */
  p = gcd_put_varint(p, result_size(r));
  p = put_uint(p, 1, gcd_zigzag32(r->code));
  p = put_str(p, 2, r->message);
  return put_uint(p, 3, r->value);
}

static void fast_pack(const Gcd__Wire__Response *resp, uint8_t *p) {
  p = put_uint(p, 1, resp->seq);
  for (size_t i = 0; i < resp->n_results; i++)
    p = put_result(p, resp->results[i]);
  p = put_uint(p, 3, gcd_zigzag32(resp->code));
  p = put_str(p, 4, resp->message);
  put_uint(p, 5, resp->quiet != 0);
}

/* A reply frame of len payload bytes, its prefix written: in room when it
 * fits there (room may be NULL), else from malloc. */
static uint8_t *reply_frame(const gcd_room *room, size_t len, gcd_reply *out) {
  out->in_room = room != NULL && room->len >= GCD_FRAME_HEADER &&
                 len <= room->len - GCD_FRAME_HEADER;
  if (!out->in_room)
    return gcd_frame_alloc(len);
  gcd_frame_put_header(room->p, (uint32_t)len);
  return room->p;
}

static int reply_pack(const Gcd__Wire__Response *resp, const gcd_room *room,
                      gcd_reply *out) {
  size_t fast = fast_size(resp);
  size_t len = fast != 0 ? fast : gcd__wire__response__get_packed_size(resp);
  uint8_t *buf = reply_frame(room, len, out);

  if (buf == NULL)
    return GC_ENOMEM;
  if (fast != 0)
    fast_pack(resp, buf + GCD_FRAME_HEADER);
  else
    gcd__wire__response__pack(resp, buf + GCD_FRAME_HEADER);
  out->buf = buf;
  out->len = GCD_FRAME_HEADER + len;
  return 0;
}

int gcd_ops_encode_check(uint64_t seq, bool quiet, size_t n, const int32_t *codes,
                         const uint64_t *values, char *const *messages, char *msg,
                         size_t msglen) {
  static const Result init = GCD__WIRE__RESULT__INIT;
  Gcd__Wire__Response resp = GCD__WIRE__RESPONSE__INIT;
  Result *res = calloc(n + 1, sizeof *res);
  Result **ptrs = calloc(n + 1, sizeof *ptrs);
  size_t fast, len;
  uint8_t *a = NULL, *b = NULL;
  int err = GC_ENOMEM;

  for (size_t i = 0; res != NULL && ptrs != NULL && i < n; i++) {
    res[i] = init;
    res[i].code = codes[i];
    res[i].value = values[i];
    res[i].message = messages[i];
    ptrs[i] = &res[i];
  }
  resp.seq = seq;
  resp.quiet = quiet;
  resp.n_results = n;
  resp.results = ptrs;
  fast = res != NULL && ptrs != NULL ? fast_size(&resp) : 0;
  len = gcd__wire__response__get_packed_size(&resp);
  if (fast != 0 && (a = malloc(fast)) != NULL && (b = malloc(len)) != NULL) {
    fast_pack(&resp, a);
    gcd__wire__response__pack(&resp, b);
    err = fast == len && memcmp(a, b, len) == 0 ? 0 : GC_ECORRUPT;
    if (err != 0)
      snprintf(msg, msglen, "%zu bytes written, protobuf-c writes %zu", fast, len);
  } else if (fast == 0) {
    err = len == 0 ? 0 : GC_ECORRUPT;
    if (err != 0)
      snprintf(msg, msglen, "declined a Response of plain results");
  }
  free(a);
  free(b);
  free(res);
  free(ptrs);
  return err;
}

int gcd_ops_frame_error(gcd_daemon *d, int code, const char *message,
                        gcd_reply *out) {
  Gcd__Wire__Response resp = GCD__WIRE__RESPONSE__INIT;

  memset(out, 0, sizeof *out);
  resp.code = code;
  resp.message = (char *)message;
  out->close_after = true;
  d->frame_errors++;
  gcd_session_count_error(d, code);
  return reply_pack(&resp, NULL, out);
}

/* One Result per operation, in one array, pointed to by a second. */
static int results_make(batch *b, size_t n, Gcd__Wire__Response *resp) {
  static const Result init = GCD__WIRE__RESULT__INIT;
  Result *res;

  if (n == 0)
    return 0;
  if (n > SIZE_MAX / (sizeof *res + sizeof *resp->results) ||
      (res = scratch_alloc(b, n * sizeof *res)) == NULL ||
      (resp->results = scratch_alloc(b, n * sizeof *resp->results)) == NULL)
    return GC_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    res[i] = init;
    resp->results[i] = &res[i];
  }
  resp->n_results = n;
  return 0;
}

/* Runs operations from b->next on; DEFER when one waits on the collector. */
static int run_batch(batch *b, const Gcd__Wire__Request *req, Result *res) {
  if (!b->s->hello_done) {
    run_first(b, req, res);
    return 0;
  }
  for (; b->next < req->n_ops; b->next++) {
    if (run_op(b, req->ops[b->next], &res[b->next]) == DEFER)
      return DEFER;
    b->resumed = false;
  }
  return 0;
}

static int unreadable(gcd_daemon *d, gcd_session *s, gcd_reply *out) {
  gcd_log_warn("session %" PRIu64 " (pid %ld): frame is not a valid "
               "gcd.wire.Request; closing", s->id, (long)s->pid);
  return gcd_ops_frame_error(d, GC_EFRAME, "frame is not a valid gcd.wire.Request",
                             out);
}

/* Not even the results fit in memory: nothing ran, and the client learns
 * why before the connection closes. */
static int too_many(gcd_daemon *d, gcd_session *s, size_t n, gcd_reply *out) {
  char msg[128];

  snprintf(msg, sizeof msg, "daemon out of memory for a batch of %zu operations; "
           "send smaller batches", n);
  gcd_log_error("session %" PRIu64 ": %s", s->id, msg);
  return gcd_ops_frame_error(d, GC_ENOMEM, msg, out);
}

/* Not even the request could be decoded in memory. */
static int no_memory(gcd_daemon *d, gcd_session *s, size_t len, gcd_reply *out) {
  char msg[128];

  snprintf(msg, sizeof msg, "daemon out of memory decoding a frame of %zu bytes", len);
  gcd_log_error("session %" PRIu64 ": %s", s->id, msg);
  return gcd_ops_frame_error(d, GC_ENOMEM, msg, out);
}

static int batch_pack(batch *b, const Gcd__Wire__Request *req,
                      Gcd__Wire__Response *resp, gcd_reply *out) {
  int err;

  /* The reply that carries the fds is sent on its own (server.c): never
   * in the room, which holds replies sent together. */
  if ((err = reply_pack(resp, b->attach_fds ? NULL : &b->room, out)) != 0) {
    gcd_log_error("session %" PRIu64 ": out of memory packing the answer to "
                  "%zu operations; closing", b->s->id, req->n_ops);
    return err;
  }
  out->close_after = b->close_after;
  out->attach_fds = b->attach_fds;
  return 0;
}

/* The decoded request lives in the batch's scratch memory too: unpacking
 * costs a few chunk allocations instead of one malloc per message, and the
 * whole goes in one scratch_free(). A session's frames are answered one
 * after another, so its last batch and one chunk are kept for the next
 * (gcd_session.spare): a zeroed batch and an 8 KiB chunk from malloc, and
 * both freed, for every frame cost 6-15 % of the rate at pipeline depth 16
 * (each side on one CPU). Loop thread. */
static batch *batch_new(gcd_daemon *d, gcd_session *s) {
  static const Gcd__Wire__Response init = GCD__WIRE__RESPONSE__INIT;
  batch *b = s->spare;
  chunk *keep = NULL;

  if (b != NULL) {
    s->spare = NULL;
    keep = b->chunks;
  } else if ((b = malloc(sizeof *b)) == NULL) {
    return NULL;
  }
  *b = (batch){.d = d, .s = s, .resp = init, .chunks = keep};
  return b;
}

static void batch_free(batch *b) {
  chunk *keep = scratch_free(b);

  if (b->s != NULL && b->s->spare == NULL) {
    b->chunks = keep;
    b->s->spare = b;
    return;
  }
  free(keep);
  free(b);
}

static void *pb_alloc(void *data, size_t size) {
  batch *b = data;
  void *p = scratch_alloc(b, size);

  b->oom |= p == NULL;
  return p;
}

static void pb_free(void *data, void *p) {
  (void)data; /* freed with the batch */
  (void)p;
}

/* The failed result of a quiet request names its operation, since the
 * client keeps no record of what it sent quietly. */
static void quiet_name(batch *b, const Op *op, Result *r) {
  const char *kind = gcd_ops_name((int)op->op_case);
  const char *msg = r->message != NULL ? r->message : "";
  size_t n = strlen(kind) + 2 + strlen(msg) + 1;
  char *m = scratch_alloc(b, n);

  if (m != NULL) {
    snprintf(m, n, "%s: %s", kind, msg);
    r->message = m;
  }
}

/* Whether b goes unanswered: a quiet request that succeeded, or whose
 * failure would follow another one the client has not yet been answered
 * past (it keeps only the first). Any other answer ends that wait. */
static bool quiet_silent(batch *b) {
  if (!b->quiet) {
    b->s->quiet_failed = false;
    return false;
  }
  for (size_t i = 0; i < b->resp.n_results; i++) {
    if (b->resp.results[i]->code == 0)
      continue;
    if (b->s->quiet_failed)
      return true;
    quiet_name(b, b->msg->ops[i], b->resp.results[i]);
    b->s->quiet_failed = true;
    b->resp.quiet = 1;
    return false;
  }
  return true;
}

/* Runs what is left of b: packs the reply and frees b, or parks b on the
 * collector thread's queue (GCD_OPS_DEFERRED). */
static int batch_go(batch *b, gcd_reply *out) {
  Result *res = b->resp.results == NULL ? NULL : b->resp.results[0];
  int err;

  if (run_batch(b, b->msg, res) == DEFER) {
    b->s->pending = b;
    gcd_gcthread_submit(&b->d->gct, &b->req);
    return GCD_OPS_DEFERRED;
  }
  b->s->pending = NULL;
  err = quiet_silent(b) ? 0 : batch_pack(b, b->msg, &b->resp, out);
  batch_free(b);
  return err;
}

/* ------------------------------------------------------ fast unpacking */

/* Requests of the common operations are unpacked here, into the structs
 * protobuf-c builds, from the batch's scratch: protobuf-c's generic unpack,
 * which walks each message's descriptor and allocates each message, was a
 * tenth of a pipelined daemon's time. Anything else -- another operation,
 * an unknown field, an Op with other than one field, a wire type out of
 * place, a tag in more than one byte -- is left to protobuf-c (NULL here),
 * which then also gives the verdict on a malformed frame.
 * gcd_ops_decode_check() compares the two, for the tests and the fuzzer. */

/* Up to three varint fields of an operation's message into v[1..3]; fields
 * past nfields, or not varints, decline. */
static bool read_fields(gcd_reader r, uint64_t v[4], unsigned nfields) {
  unsigned field, type;
  bool nz;

  v[1] = v[2] = v[3] = 0;
  while (r.p < r.end)
    if (!gcd_read_tag(&r, &field, &type) || type != 0 || field > nfields ||
        !gcd_read_varint(&r, &v[field], &nz))
      return false;
  return true;
}

/* An Op and the message it holds, from one scratch block. */
typedef struct fast_op {
  Op op;
  union {
    Gcd__Wire__Alloc alloc;
    Gcd__Wire__HandleOp handle;
    Gcd__Wire__SetRef set_ref;
    Gcd__Wire__GetRef get_ref;
  } u;
} fast_op;

static void fill_op(fast_op *f, unsigned kind, const uint64_t v[4]) {
  f->op = (Op)GCD__WIRE__OP__INIT;
  f->op.op_case = (Gcd__Wire__Op__OpCase)kind;
  switch (kind) {
  case GCD__WIRE__OP__OP_ALLOC:
    f->u.alloc = (Gcd__Wire__Alloc)GCD__WIRE__ALLOC__INIT;
    f->u.alloc.nslots = (uint32_t)v[1];
    f->u.alloc.nbytes = v[2];
    f->u.alloc.type = (uint32_t)v[3];
    f->op.alloc = &f->u.alloc;
    break;
  case GCD__WIRE__OP__OP_SET_REF:
    f->u.set_ref = (Gcd__Wire__SetRef)GCD__WIRE__SET_REF__INIT;
    f->u.set_ref.object = v[1];
    f->u.set_ref.slot = (uint32_t)v[2];
    f->u.set_ref.target = v[3];
    f->op.set_ref = &f->u.set_ref;
    break;
  case GCD__WIRE__OP__OP_GET_REF:
    f->u.get_ref = (Gcd__Wire__GetRef)GCD__WIRE__GET_REF__INIT;
    f->u.get_ref.object = v[1];
    f->u.get_ref.slot = (uint32_t)v[2];
    f->op.get_ref = &f->u.get_ref;
    break;
  default: /* retain, release, refcount: one HandleOp member each */
    f->u.handle = (Gcd__Wire__HandleOp)GCD__WIRE__HANDLE_OP__INIT;
    f->u.handle.handle = v[1];
    f->op.retain = &f->u.handle;
    break;
  }
}

/* The fields each common operation's message has. */
static unsigned fast_fields(unsigned kind) {
  switch (kind) {
  case GCD__WIRE__OP__OP_ALLOC:
  case GCD__WIRE__OP__OP_SET_REF:
    return 3;
  case GCD__WIRE__OP__OP_GET_REF:
    return 2;
  case GCD__WIRE__OP__OP_RETAIN:
  case GCD__WIRE__OP__OP_RELEASE:
  case GCD__WIRE__OP__OP_REFCOUNT:
    return 1;
  default:
    return 0;
  }
}

/* One Op: exactly one field, a common operation's message. */
static bool read_op(batch *b, gcd_reader r, Op **out) {
  unsigned kind, type, nfields;
  uint64_t v[4];
  gcd_reader body;
  fast_op *f;

  if (!gcd_read_tag(&r, &kind, &type) || type != 2 || (nfields = fast_fields(kind)) == 0 ||
      !gcd_read_bytes(&r, &body) || r.p != r.end || !read_fields(body, v, nfields) ||
      (f = scratch_alloc(b, sizeof *f)) == NULL)
    return false;
  fill_op(f, kind, v);
  *out = &f->op;
  return true;
}

/* Whether an Op's first byte tags a common operation's message: the first
 * walk over the Request declines the others before anything is built. */
static bool common_op(gcd_reader op) {
  return op.p < op.end && (*op.p & 7) == 2 && fast_fields(*op.p >> 3) > 0 &&
         !(*op.p & 0x80);
}

/* The Request's own fields: seq (1), ops (2), quiet (3). The ops are
 * counted on a first walk (req->ops NULL), read on a second. */
static bool read_request(batch *b, gcd_reader r, Gcd__Wire__Request *req, size_t *nops) {
  unsigned field, type;
  uint64_t v;
  bool nz;
  gcd_reader op;

  while (r.p < r.end) {
    if (!gcd_read_tag(&r, &field, &type))
      return false;
    if (field == 2 && type == 2) {
      if (!gcd_read_bytes(&r, &op) || !common_op(op) ||
          (req->ops != NULL && !read_op(b, op, &req->ops[*nops])))
        return false;
      ++*nops;
    } else if ((field == 1 || field == 3) && type == 0 && gcd_read_varint(&r, &v, &nz)) {
      if (field == 1)
        req->seq = v;
      else
        req->quiet = nz;
    } else {
      return false;
    }
  }
  return true;
}

static Gcd__Wire__Request *fast_unpack(batch *b, const uint8_t *frame, size_t len) {
  static const Gcd__Wire__Request init = GCD__WIRE__REQUEST__INIT;
  gcd_reader r = {frame, frame + len};
  Gcd__Wire__Request *req = scratch_alloc(b, sizeof *req);
  size_t n = 0;

  if (req == NULL)
    return NULL;
  *req = init;
  if (!read_request(b, r, req, &n))
    return NULL;
  if (n > 0 && (req->ops = scratch_alloc(b, n * sizeof *req->ops)) == NULL)
    return NULL;
  req->n_ops = 0;
  return n == 0 || read_request(b, r, req, &req->n_ops) ? req : NULL;
}

/* Whether two unpacked operations say the same. */
static bool same_op(const Op *a, const Op *b) {
  if (a->op_case != b->op_case)
    return false;
  switch (a->op_case) {
  case GCD__WIRE__OP__OP_ALLOC:
    return a->alloc->nslots == b->alloc->nslots && a->alloc->nbytes == b->alloc->nbytes &&
           a->alloc->type == b->alloc->type;
  case GCD__WIRE__OP__OP_SET_REF:
    return a->set_ref->object == b->set_ref->object && a->set_ref->slot == b->set_ref->slot &&
           a->set_ref->target == b->set_ref->target;
  case GCD__WIRE__OP__OP_GET_REF:
    return a->get_ref->object == b->get_ref->object && a->get_ref->slot == b->get_ref->slot;
  default: /* retain, release, refcount */
    return a->retain->handle == b->retain->handle;
  }
}

static int check_against(const Gcd__Wire__Request *fast, const Gcd__Wire__Request *pb,
                         char *msg, size_t len) {
  if (pb == NULL) {
    snprintf(msg, len, "the fast path read a frame protobuf-c refuses");
    return GC_ECORRUPT;
  }
  if (fast->seq != pb->seq || fast->quiet != pb->quiet || fast->n_ops != pb->n_ops) {
    snprintf(msg, len, "seq %" PRIu64 "/%" PRIu64 ", quiet %d/%d, ops %zu/%zu", fast->seq,
             pb->seq, fast->quiet, pb->quiet, fast->n_ops, pb->n_ops);
    return GC_ECORRUPT;
  }
  for (size_t i = 0; i < fast->n_ops; i++)
    if (!same_op(fast->ops[i], pb->ops[i])) {
      snprintf(msg, len, "operation %zu differs (kinds %d/%d)", i, (int)fast->ops[i]->op_case,
               (int)pb->ops[i]->op_case);
      return GC_ECORRUPT;
    }
  return 0;
}

int gcd_ops_decode_check(const uint8_t *frame, size_t len, bool *fast, char *msg,
                         size_t msglen) {
  batch b = {0};
  Gcd__Wire__Request *mine = fast_unpack(&b, frame, len), *pb;
  int err = 0;

  *fast = mine != NULL;
  if (mine != NULL) {
    pb = gcd__wire__request__unpack(NULL, len, frame);
    err = check_against(mine, pb, msg, msglen);
    if (pb != NULL)
      gcd__wire__request__free_unpacked(pb, NULL);
  }
  free(scratch_free(&b));
  return err;
}

int gcd_ops_handle(gcd_daemon *d, gcd_session *s, const uint8_t *frame,
                   size_t len, const gcd_room *room, gcd_reply *out) {
  batch *b = batch_new(d, s);
  ProtobufCAllocator pa = {.alloc = pb_alloc, .free = pb_free, .allocator_data = b};
  int err;

  memset(out, 0, sizeof *out);
  if (b == NULL)
    return no_memory(d, s, len, out);
  if ((b->msg = fast_unpack(b, frame, len)) == NULL &&
      (b->msg = gcd__wire__request__unpack(&pa, len, frame)) == NULL) {
    err = b->oom ? no_memory(d, s, len, out) : unreadable(d, s, out);
    batch_free(b);
    return err;
  }
  s->requests++;
  d->requests++;
  b->room = room != NULL ? *room : (gcd_room){0};
  b->resp.seq = b->msg->seq;
  b->quiet = b->msg->quiet && s->hello_done;
  if (results_make(b, b->msg->n_ops, &b->resp) != 0) {
    err = too_many(d, s, b->msg->n_ops, out);
    batch_free(b);
    return err;
  }
  return batch_go(b, out);
}

int gcd_ops_resume(gcd_daemon *d, gcd_gcreq *req, const gcd_room *room,
                   gcd_session **s, gcd_reply *out) {
  batch *b = (batch *)req;

  memset(out, 0, sizeof *out);
  *s = b->s;
  if (b->s == NULL) {
    gcd_ops_discard(req);
    return 0;
  }
  b->room = room != NULL ? *room : (gcd_room){0};
  b->resumed = true;
  return batch_go(b, out);
}

void gcd_ops_abandon(gcd_session *s) {
  batch *b = s->pending, *spare = s->spare;

  if (b != NULL)
    b->s = NULL;
  s->pending = NULL;
  s->spare = NULL;
  if (spare != NULL) {
    spare->s = NULL;
    batch_free(spare);
  }
}

void gcd_ops_discard(gcd_gcreq *req) {
  batch *b = (batch *)req;

  free(b->req.handles);
  batch_free(b);
}
