/*
 * gcthread.c -- the collector thread: automatic and requested collections,
 * administrative requests, and the figures of how long the loop waited.
 *
 * Owns the heap lock and the thread. The algorithm itself is collector.c;
 * this file only decides when to run it and with which lock held.
 */
#include "gcthread.h"

#include <stdlib.h>
#include <time.h>

#include "gcclient.h"

const uint64_t gcd_pause_bucket_ns[GCD_PAUSE_BUCKETS] = {
    10000,    25000,     50000,     100000,    250000,    500000,
    1000000,  2500000,   5000000,   10000000,  100000000, UINT64_MAX};

const uint64_t gcd_duration_bucket_ns[GCD_DURATION_BUCKETS] = {
    100000,    1000000,    10000000,    50000000,    100000000,
    500000000, 1000000000, 5000000000u, 30000000000u, UINT64_MAX};

/* Referrer scans take the lock for this many table entries at a time. */
#define REFERRER_CHUNK 65536

static uint64_t now_ns(int clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int gcd_gcthread_init(gcd_gcthread *t, gcd_gc *gc) {
  *t = (gcd_gcthread){.gc = gc};
  if (pthread_mutex_init(&t->lock, NULL) != 0)
    return GC_ENOMEM;
  if (pthread_cond_init(&t->wake, NULL) != 0) {
    pthread_mutex_destroy(&t->lock);
    return GC_ENOMEM;
  }
  return 0;
}

/* ---- the loop thread's side ---- */

static int bucket_of(const uint64_t *bounds, uint64_t ns) {
  int b = 0;
  while (ns > bounds[b])
    b++;
  return b;
}

/* Lock held (just taken): the holder field still names who had it. */
static void record_stall(gcd_gcthread *t, uint64_t ns) {
  int h = t->holder;
  t->loop_stalls[h][bucket_of(gcd_pause_bucket_ns, ns)]++;
  t->loop_stall_sum_ns[h] += ns;
  t->loop_stall_count[h]++;
  if (ns > t->loop_stall_max_ns)
    t->loop_stall_max_ns = ns;
}

/* An uncontended lock costs one atomic; only a wait is timed and recorded,
 * and each wait is a stall the collector caused. */
void gcd_gcthread_lock(gcd_gcthread *t) {
  if (pthread_mutex_trylock(&t->lock) == 0)
    return;
  uint64_t t0 = now_ns(CLOCK_MONOTONIC);
  pthread_mutex_lock(&t->lock);
  record_stall(t, now_ns(CLOCK_MONOTONIC) - t0);
}

bool gcd_gcthread_trylock(gcd_gcthread *t) {
  return pthread_mutex_trylock(&t->lock) == 0;
}

void gcd_gcthread_unlock(gcd_gcthread *t) { pthread_mutex_unlock(&t->lock); }

void gcd_gcthread_poke(gcd_gcthread *t) {
  if (t->running && gcd_gc_due(t->gc) >= 0) /* -1 while one runs */
    pthread_cond_signal(&t->wake);
}

void gcd_gcthread_submit(gcd_gcthread *t, gcd_gcreq *r) {
  r->next = NULL;
  if (t->queue_tail != NULL)
    t->queue_tail->next = r;
  else
    t->queue = r;
  t->queue_tail = r;
  pthread_cond_signal(&t->wake);
}

gcd_gcreq *gcd_gcthread_take_done(gcd_gcthread *t) {
  gcd_gcreq *list = NULL;
  while (t->done != NULL) { /* reverse: done is kept newest first */
    gcd_gcreq *r = t->done;
    t->done = r->next;
    r->next = list;
    list = r;
  }
  return list;
}

/* ---- the collector thread's side ---- */

/* Lock held on entry and on return; released for the scan. */
static void collect_locked(gcd_gcthread *t, int gen, gcd_gc_result *out) {
  uint64_t start = now_ns(CLOCK_MONOTONIC);
  t->holder = gen;
  gcd_gc_begin(t->gc, gen);
  pthread_mutex_unlock(&t->lock);
  gcd_gc_scan(t->gc);
  pthread_mutex_lock(&t->lock);
  t->holder = gen;
  gcd_gc_finish(t->gc, out);
  uint64_t end = now_ns(CLOCK_MONOTONIC);
  t->last_collection_ns = end - start;
  t->durations[gen][bucket_of(gcd_duration_bucket_ns, end - start)]++;
  t->duration_sum_ns[gen] += end - start;
  t->last_collection_end_unix_ns = now_ns(CLOCK_REALTIME);
  t->collections_total++;
  if (t->after_collect != NULL)
    t->after_collect(t->after_ctx);
}

/* Walks the table in chunks, dropping the lock between them so that the loop
 * thread never waits for more than one chunk. */
static void find_referrers(gcd_gcthread *t, gcd_gcreq *r) {
  gcd_heap *h = t->gc->heap;
  uint64_t cap = r->limit ? r->limit : 1000, n = 0;
  r->handles = malloc(cap * sizeof *r->handles);
  if (r->handles == NULL) {
    r->code = GC_ENOMEM;
    return;
  }
  for (uint64_t base = 1; n < cap; base += REFERRER_CHUNK) {
    if (base >= h->table_hwm)
      break;
    uint64_t end = base + REFERRER_CHUNK;
    if (end > h->table_hwm)
      end = h->table_hwm;
    for (uint64_t i = base; i < end && n < cap; i++) {
      if (!(gcd_heap_flags(h, (uint32_t)i) & GCD_OBJ_LIVE))
        continue;
      uint64_t w = h->where[i];
      for (uint32_t s = 0; s < gcd_where_n(w); s++) {
        if (atomic_load_explicit(&h->slots[gcd_where_off(w) + s], memory_order_relaxed) ==
            r->handle) {
          r->handles[n++] = gcd_heap_handle(h, (uint32_t)i);
          break;
        }
      }
    }
    pthread_mutex_unlock(&t->lock);
    pthread_mutex_lock(&t->lock);
  }
  r->nhandles = n;
}

void gcd_gcthread_run(gcd_gcthread *t, gcd_gcreq *r) {
  uint64_t start = now_ns(CLOCK_MONOTONIC);
  r->code = 0;
  t->holder = GCD_HOLDER_ADMIN;
  switch (r->kind) {
  case GCD_GCREQ_COLLECT:
    collect_locked(t, r->generation, &r->result);
    break;
  case GCD_GCREQ_FREEZE:
    r->count = t->gc->count[0] + t->gc->count[1] + t->gc->count[2];
    gcd_gc_freeze(t->gc);
    break;
  case GCD_GCREQ_UNFREEZE:
    r->count = t->gc->count[GCD_GC_PERMANENT];
    gcd_gc_unfreeze(t->gc);
    break;
  case GCD_GCREQ_CLEAR_GARBAGE:
    r->count = gcd_gc_clear_garbage(t->gc);
    collect_locked(t, 2, &r->result);
    break;
  case GCD_GCREQ_REFERRERS:
    find_referrers(t, r);
    break;
  case GCD_GCREQ_CALL:
    r->code = r->fn(r->arg);
    break;
  }
  r->duration_ns = now_ns(CLOCK_MONOTONIC) - start;
}

/* Lock held. The next thing to do: a request, else a due collection. */
static bool work_once(gcd_gcthread *t) {
  gcd_gcreq *r = t->queue;
  if (r != NULL) {
    t->queue = r->next;
    if (t->queue == NULL)
      t->queue_tail = NULL;
    gcd_gcthread_run(t, r);
    r->next = t->done;
    t->done = r;
    return true;
  }
  int gen = gcd_gc_due(t->gc);
  if (gen < 0)
    return false;
  collect_locked(t, gen, NULL);
  return true;
}

/* Lock held: whether the loop thread has something to hear of -- finished
 * requests, or memory to give back that it does not know of yet (it trims
 * only while told there is some, so that an idle daemon sleeps). */
static bool loop_news(const gcd_gcthread *t) {
  return t->done != NULL || (!t->trim_armed && gcd_heap_trim_pending(t->gc->heap));
}

static void *thread_main(void *arg) {
  gcd_gcthread *t = arg;
  pthread_mutex_lock(&t->lock);
  while (!t->stop) {
    if (work_once(t)) {
      if (t->notify != NULL && loop_news(t)) {
        pthread_mutex_unlock(&t->lock);
        t->notify(t->notify_ctx);
        pthread_mutex_lock(&t->lock);
      }
      continue;
    }
    pthread_cond_wait(&t->wake, &t->lock);
  }
  pthread_mutex_unlock(&t->lock);
  return NULL;
}

int gcd_gcthread_start(gcd_gcthread *t, void (*notify)(void *), void *ctx) {
  t->notify = notify;
  t->notify_ctx = ctx;
  t->running = true;
  if (pthread_create(&t->thread, NULL, thread_main, t) != 0) {
    t->running = false;
    return GC_ENOMEM;
  }
  return 0;
}

gcd_gcreq *gcd_gcthread_stop(gcd_gcthread *t) {
  if (t->running) {
    pthread_mutex_lock(&t->lock);
    t->stop = true;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    t->running = false;
  }
  for (gcd_gcreq *r = t->queue; r != NULL; r = r->next)
    r->code = GC_ECLOSED;
  gcd_gcreq *list = gcd_gcthread_take_done(t), **tail = &list;
  while (*tail != NULL)
    tail = &(*tail)->next;
  *tail = t->queue;
  t->queue = t->queue_tail = NULL;
  return list;
}

void gcd_gcthread_destroy(gcd_gcthread *t) {
  gcd_gcthread_stop(t);
  pthread_cond_destroy(&t->wake);
  pthread_mutex_destroy(&t->lock);
}
