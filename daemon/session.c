/*
 * session.c -- session lifetime and the daemon context's bookkeeping.
 *
 * Owns: the session list, the release of a closing session's retains. Must
 * not touch: transport or wire. Threading: loop thread only.
 */
#include "session.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gcclient.h"
#include "ops.h"

void gcd_session_daemon_init(gcd_daemon *d) {
  d->sessions = NULL;
  d->nsessions = 0;
  d->next_session_id = 1;
  d->euid = geteuid();
  d->pid = getpid();
  d->start_time = time(NULL);
  d->sessions_total = d->requests = d->frame_errors = 0;
  memset(d->op_count, 0, sizeof d->op_count);
  memset(d->err_count, 0, sizeof d->err_count);
}

void gcd_session_open(gcd_daemon *d, gcd_session *s, pid_t pid, uid_t uid,
                      gid_t gid) {
  memset(s, 0, sizeof *s);
  s->id = d->next_session_id++;
  s->pid = pid;
  s->uid = uid;
  s->gid = gid;
  gcd_holds_init(&s->holds);
  s->next = d->sessions;
  if (d->sessions != NULL)
    d->sessions->prev = s;
  d->sessions = s;
  d->nsessions++;
  d->sessions_total++;
}

typedef struct release_ctx {
  gcd_heap *heap;
  uint64_t dropped;
} release_ctx;

/* A held handle is live: the hold is one of its references, so neither an
 * earlier decref in this loop nor a cascade can have freed it; the last of
 * its count may free it. */
static void release_one(void *ctx, uint64_t handle, uint64_t count) {
  release_ctx *r = ctx;
  uint32_t index;

  if (gcd_heap_resolve(r->heap, handle, &index) != 0)
    return;
  for (uint64_t k = 0; k < count; k++)
    gcd_heap_decref(r->heap, index);
  r->dropped += count;
}

uint64_t gcd_session_close(gcd_daemon *d, gcd_session *s) {
  release_ctx r = {&d->heap, 0};

  gcd_ops_abandon(s); /* its waiting frame, and the memory kept for frames */
  gcd_holds_each(&s->holds, release_one, &r);
  gcd_holds_destroy(&s->holds);
  if (s->prev != NULL)
    s->prev->next = s->next;
  else
    d->sessions = s->next;
  if (s->next != NULL)
    s->next->prev = s->prev;
  s->prev = s->next = NULL;
  d->nsessions--;
  return r.dropped;
}

int gcd_session_is_admin(const gcd_daemon *d, const gcd_session *s) {
  return s->uid == d->euid || s->uid == 0 || s->admin_group;
}

void gcd_session_count_error(gcd_daemon *d, int code) {
  unsigned k = code <= 0 ? (unsigned)-code : GCD_ERR_KINDS - 1;

  d->err_count[k < GCD_ERR_KINDS ? k : GCD_ERR_KINDS - 1]++;
}

/* The references from outside the heap, per table index: every session's
 * retains, every name, the save-all garbage list's. Sized by the table's
 * high-water mark, not its capacity: it is allocated on every check. An
 * index beyond it (never handed out, so never held) is counted apart and
 * fails the check. */
typedef struct outside {
  uint64_t *ext;
  uint64_t n, beyond;
} outside;

static void count_at(outside *o, uint64_t idx, uint64_t k) {
  if (idx < o->n)
    o->ext[idx] += k;
  else
    o->beyond += k;
}

static void count_hold(void *ctx, uint64_t handle, uint64_t count) {
  count_at(ctx, gcd_handle_index(handle), count);
}

static void count_name(void *ctx, const char *name, size_t len, uint64_t handle) {
  count_at(ctx, gcd_handle_index(handle), 1);
}

static int count_garbage(uint32_t idx, void *ctx) {
  count_at(ctx, idx, 1);
  return 0;
}

int gcd_daemon_verify(gcd_daemon *d, char *msg, size_t len) {
  outside o = {.n = d->heap.table_hwm};
  int err;

  if ((o.ext = calloc(o.n, sizeof *o.ext)) == NULL) {
    snprintf(msg, len, "daemon out of memory for %" PRIu64 " counters", o.n);
    return GC_ENOMEM;
  }
  for (gcd_session *s = d->sessions; s != NULL; s = s->next)
    gcd_holds_each(&s->holds, count_hold, &o);
  gcd_names_each(&d->names, count_name, &o);
  gcd_gc_each(&d->gc, GCD_GC_GARBAGE, 0, count_garbage, &o);
  if (o.beyond > 0) {
    free(o.ext);
    snprintf(msg, len, "%" PRIu64 " references from outside the heap to entries "
             "never handed out", o.beyond);
    return GC_ECORRUPT;
  }
  err = gcd_heap_verify(&d->heap, o.ext, msg, len);
  free(o.ext);
  if (err == 0)
    err = gcd_gc_verify(&d->gc, msg, len);
  return err;
}
