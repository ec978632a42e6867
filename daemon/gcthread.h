/*
 * gcthread.h -- the collector thread and the heap lock.
 *
 * The loop thread holds the heap lock whenever it mutates the heap (one
 * request frame at a time); the collector thread holds it only to begin and
 * to finish a collection and to run the administrative requests, and scans
 * without it. Everything the two threads share goes through this lock or
 * through the atomics documented in collector.h.
 *
 * Requests (collect, freeze, unfreeze, clear garbage, referrers) come from
 * the loop thread and complete on the collector thread; the notify callback
 * then tells the loop thread (the server turns it into a uv_async_send), which
 * collects the finished requests with gcd_gcthread_take_done(). Plain
 * pthreads: no libuv here.
 */
#ifndef GCD_GCTHREAD_H
#define GCD_GCTHREAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "collector.h"

typedef enum {
  GCD_GCREQ_COLLECT,       /* generation */
  GCD_GCREQ_FREEZE,
  GCD_GCREQ_UNFREEZE,
  GCD_GCREQ_CLEAR_GARBAGE, /* then a full collection */
  GCD_GCREQ_REFERRERS,     /* handle, limit */
  GCD_GCREQ_CALL,          /* fn(arg) with the lock held and no collection
                              active: for whole-heap checks */
} gcd_gcreq_kind;

typedef struct gcd_gcreq {
  gcd_gcreq_kind kind;
  int generation;
  uint64_t handle;
  uint64_t limit;
  int (*fn)(void *arg);    /* GCD_GCREQ_CALL */
  void *arg;
  /* results */
  int code;
  gcd_gc_result result;
  uint64_t count;          /* freeze: objects moved; clear: objects released */
  uint64_t duration_ns;
  uint64_t *handles;       /* referrers (malloc'd; the taker frees) */
  uint64_t nhandles;
  void *owner;             /* for the loop thread: who waits */
  struct gcd_gcreq *next;
} gcd_gcreq;

/* Pause histogram bucket bounds, in nanoseconds (the last is +Inf). */
#define GCD_PAUSE_BUCKETS 12

/* Collection duration histogram bounds, in nanoseconds (the last is +Inf). */
#define GCD_DURATION_BUCKETS 10

/* Who held the heap lock when the loop thread had to wait: a collection of
 * generation 0..2, or GCD_HOLDER_ADMIN (freeze, referrers, verify...). */
#define GCD_HOLDER_ADMIN GCD_GC_GENERATIONS
#define GCD_HOLDERS (GCD_GC_GENERATIONS + 1)

typedef struct gcd_gcthread {
  pthread_mutex_t lock;        /* the heap lock */
  pthread_cond_t wake;
  pthread_t thread;
  gcd_gc *gc;
  gcd_gcreq *queue, *queue_tail; /* submitted, lock held */
  gcd_gcreq *done;               /* finished, lock held */
  void (*notify)(void *ctx);     /* collector thread, lock not held */
  void *notify_ctx;
  void (*after_collect)(void *ctx); /* collector thread, lock held; may be NULL */
  void *after_ctx;
  bool stop, running;
  bool trim_armed;               /* lock held: the loop is trimming (gcd_heap_trim) */
  int holder;                    /* collector thread, lock held: GCD_HOLDER_* */
  /* Figures, lock held to read or write. Histograms count per bucket (not
   * cumulative); the exporter accumulates. */
  uint64_t loop_stall_max_ns;
  uint64_t loop_stalls[GCD_HOLDERS][GCD_PAUSE_BUCKETS];
  uint64_t loop_stall_sum_ns[GCD_HOLDERS], loop_stall_count[GCD_HOLDERS];
  uint64_t durations[GCD_GC_GENERATIONS][GCD_DURATION_BUCKETS];
  uint64_t duration_sum_ns[GCD_GC_GENERATIONS];
  uint64_t last_collection_ns, last_collection_end_unix_ns;
  uint64_t collections_total;
} gcd_gcthread;

extern const uint64_t gcd_pause_bucket_ns[GCD_PAUSE_BUCKETS];
extern const uint64_t gcd_duration_bucket_ns[GCD_DURATION_BUCKETS];

/** Initialises the lock; no thread yet. 0 or GC_ENOMEM. */
int gcd_gcthread_init(gcd_gcthread *t, gcd_gc *gc);

/** Starts the collector thread. notify(ctx) runs on it whenever requests
 *  finish, and after a collection that left emptied regions to give back
 *  while trim_armed is false. 0 or GC_ENOMEM. */
int gcd_gcthread_start(gcd_gcthread *t, void (*notify)(void *), void *ctx);

/** Stops and joins the thread (finishing a collection in progress). Returns
 *  every request it did not hand back: finished ones first, then those never
 *  run (code GC_ECLOSED); the caller disposes of them. */
gcd_gcreq *gcd_gcthread_stop(gcd_gcthread *t);

/** Stops the thread if running (dropping leftover requests) and destroys
 *  the lock. */
void gcd_gcthread_destroy(gcd_gcthread *t);

/** Loop thread: takes the heap lock, measuring how long it had to wait. */
void gcd_gcthread_lock(gcd_gcthread *t);

/** Loop thread: takes the heap lock if nobody holds it; true if taken.
 *  For work that can wait for a later turn (trimming). */
bool gcd_gcthread_trylock(gcd_gcthread *t);

/** Loop thread: releases the heap lock. */
void gcd_gcthread_unlock(gcd_gcthread *t);

/** Loop thread, lock held: wakes the collector if a collection is due. */
void gcd_gcthread_poke(gcd_gcthread *t);

/** Loop thread, lock held: queues r for the collector thread. */
void gcd_gcthread_submit(gcd_gcthread *t, gcd_gcreq *r);

/** Loop thread, lock held: the finished requests, oldest first. */
gcd_gcreq *gcd_gcthread_take_done(gcd_gcthread *t);

/** Runs one request on the calling thread (lock handling included); the
 *  collector thread's body, exposed so tests can drive it directly. */
void gcd_gcthread_run(gcd_gcthread *t, gcd_gcreq *r);

#endif /* GCD_GCTHREAD_H */
