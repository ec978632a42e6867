/*
 * metrics.h -- the daemon's Prometheus exposition (text format 0.0.4).
 *
 * Two steps kept apart: filling a gcd_metrics_snapshot (plain numbers, taken
 * from the daemon, the collector and /proc/self) and rendering one into a
 * buffer. The renderer knows nothing of the daemon, so tests feed it any
 * struct they like.
 *
 * Owns: metric names, help texts, label sets, number formatting. Must not
 * touch: libuv, protobuf, sockets (httpd.c serves the bytes).
 *
 * Threading: gcd_metrics_fill() on the loop thread with the heap lock held
 * (the collector thread updates the heap's and its own figures under it),
 * gcd_metrics_fill_process() without it; the renderer and the buffer on any
 * thread.
 */
#ifndef GCD_METRICS_H
#define GCD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "session.h"

#define GCD_METRICS_GENERATIONS 3
#define GCD_METRICS_BUCKETS_MAX 20 /* finite bucket bounds of one histogram */
#define GCD_METRICS_OPS_MAX GCD_OP_KINDS

/* A growable text buffer. A failed allocation sets `failed`; later appends
 * do nothing, so a renderer checks once at the end. */
typedef struct gcd_metrics_buf {
  char *data; /* NUL-terminated when not NULL */
  size_t len, cap;
  bool failed;
} gcd_metrics_buf;

/* A histogram as the collector keeps it. counts[i] (i < nbounds) holds the
 * observations v with bounds[i-1] < v <= bounds[i]; counts[nbounds] those
 * above the last bound. The renderer makes the buckets cumulative; _count and
 * the +Inf bucket are the total of counts, so they cannot disagree. */
typedef struct gcd_metrics_histogram {
  size_t nbounds;
  double bounds[GCD_METRICS_BUCKETS_MAX]; /* ascending, finite */
  uint64_t counts[GCD_METRICS_BUCKETS_MAX + 1];
  double sum;                             /* of every observation */
} gcd_metrics_histogram;

/* The collector's figures, index = generation. All zero until the collector
 * fills them in gcd_metrics_fill_gc(). */
typedef struct gcd_metrics_gc {
  uint64_t collections[GCD_METRICS_GENERATIONS];
  uint64_t collected[GCD_METRICS_GENERATIONS];     /* objects freed as garbage */
  uint64_t uncollectable[GCD_METRICS_GENERATIONS];
  uint64_t tracked[GCD_METRICS_GENERATIONS];       /* objects now in the generation */
  uint64_t threshold[GCD_METRICS_GENERATIONS];
  uint64_t frozen;                 /* objects exempt from collection */
  uint64_t garbage;                /* length of the garbage list */
  uint64_t frees_cycle;            /* heap frees caused by the collector */
  bool enabled;                    /* automatic collection on */
  double last_collection_time;     /* Unix seconds; 0 = never */
  gcd_metrics_histogram duration[GCD_METRICS_GENERATIONS]; /* seconds */
  gcd_metrics_histogram stall[GCD_METRICS_GENERATIONS];    /* loop thread's wait, s */
} gcd_metrics_gc;

/* The standard process_* figures; a field that could not be read is < 0
 * and its family is left out. */
typedef struct gcd_metrics_process {
  double cpu_seconds;
  double resident_bytes;
  double virtual_bytes;
  double open_fds;
  double max_fds;
  double start_time;               /* Unix seconds */
} gcd_metrics_process;

typedef struct gcd_metrics_op {
  const char *name;                /* label value, e.g. "alloc" */
  uint64_t count;
} gcd_metrics_op;

typedef struct gcd_metrics_snapshot {
  const char *version;             /* gcd_build_info's label */
  uint64_t heap_size_bytes, heap_used_bytes;
  uint64_t heap_unpurged_bytes;    /* emptied, not given back yet */
  uint64_t objects, table_capacity;
  uint64_t allocations, frees;     /* frees of every cause */
  uint64_t clients, connections, requests;
  uint64_t loop_spin_ns;           /* the loop's polling for requests */
  size_t nops;
  gcd_metrics_op ops[GCD_METRICS_OPS_MAX]; /* every known operation, 0 or not */
  uint64_t errors[GCD_ERR_KINDS];  /* by -code; [0] (success) is not exported */
  gcd_metrics_gc gc;
  gcd_metrics_process process;
} gcd_metrics_snapshot;

/** Empties *b (no allocation yet). */
void gcd_metrics_buf_init(gcd_metrics_buf *b);

/** Frees b's memory and empties it. */
void gcd_metrics_buf_free(gcd_metrics_buf *b);

/** Zeroes *s and sets what is known without a daemon: the version, the
 *  histogram bounds, the process figures as unknown (-1). */
void gcd_metrics_snapshot_init(gcd_metrics_snapshot *s);

/** The default bounds of the duration histograms, seconds (100 us .. 10 s). */
extern const double gcd_metrics_duration_bounds[];
extern const size_t gcd_metrics_duration_nbounds;

/** Adds one observation v to h (a value equal to a bound falls in its bucket). */
void gcd_metrics_observe(gcd_metrics_histogram *h, double v);

/**
 * Fills s from the daemon: heap, sessions, request, operation and error
 * counters, then the collector (gcd_metrics_fill_gc). Loop thread, heap lock
 * held. The process figures are not read here: /proc is I/O, and the
 * collector must not wait on it for the lock (gcd_metrics_fill_process()).
 */
void gcd_metrics_fill(const gcd_daemon *d, gcd_metrics_snapshot *s);

/**
 * Copies the collector's figures into gc: per-generation counts,
 * thresholds, the duration and loop-stall histograms (the stalls caused by
 * collections of each generation; waits on administrative requests are left
 * out), the frees it caused. Heap lock held.
 */
void gcd_metrics_fill_gc(const gcd_daemon *d, gcd_metrics_gc *gc);

/** Reads /proc/self/stat, /proc/self/fd, /proc/stat and RLIMIT_NOFILE. */
void gcd_metrics_fill_process(gcd_metrics_process *p);

/**
 * Appends the exposition of s to b: every family with HELP and TYPE, 0 for
 * every known label set, the last line ending in '\n'. 0, or GC_ENOMEM (b
 * holds a partial text then).
 */
int gcd_metrics_render(const gcd_metrics_snapshot *s, gcd_metrics_buf *b);

/** Appends v, as a label value, with \\, \" and \n escaped. */
void gcd_metrics_escape(gcd_metrics_buf *b, const char *v);

#endif /* GCD_METRICS_H */
