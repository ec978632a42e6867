/*
 * metrics.c -- the Prometheus exposition: filling a snapshot from the
 * daemon and /proc/self, and rendering it as text format 0.0.4.
 *
 * Owns: metric names and help texts, the label sets exported with 0, the
 * number format (integers, or the shortest of %.15g / %.17g that reads back
 * as the same double). Must not touch: libuv, protobuf, sockets.
 *
 * Names follow the Prometheus conventions and Python's python_gc_*: counters
 * end in _total, base units (bytes, seconds), no label by handle, pid or
 * client.
 */
#include "metrics.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "gcclient.h"
#include "ops.h"

/* ------------------------------------------------------------- buffer */

void gcd_metrics_buf_init(gcd_metrics_buf *b) {
  memset(b, 0, sizeof *b);
}

void gcd_metrics_buf_free(gcd_metrics_buf *b) {
  free(b->data);
  gcd_metrics_buf_init(b);
}

static bool buf_reserve(gcd_metrics_buf *b, size_t more) {
  size_t cap = b->cap == 0 ? 4096 : b->cap;
  char *p;

  if (b->failed)
    return false;
  if (b->len + more + 1 <= b->cap)
    return true;
  while (cap < b->len + more + 1)
    cap *= 2;
  if ((p = realloc(b->data, cap)) == NULL) {
    b->failed = true;
    return false;
  }
  b->data = p;
  b->cap = cap;
  return true;
}

static void buf_add(gcd_metrics_buf *b, const char *s, size_t n) {
  if (!buf_reserve(b, n))
    return;
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

static void buf_puts(gcd_metrics_buf *b, const char *s) {
  buf_add(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3)))
static void buf_printf(gcd_metrics_buf *b, const char *fmt, ...) {
  char tmp[256];
  va_list ap;
  int n;

  va_start(ap, fmt);
  n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof tmp) {
    b->failed = true; /* every line printed here is short */
    return;
  }
  buf_add(b, tmp, (size_t)n);
}

void gcd_metrics_escape(gcd_metrics_buf *b, const char *v) {
  for (; *v != '\0'; v++) {
    if (*v == '\\')
      buf_puts(b, "\\\\");
    else if (*v == '"')
      buf_puts(b, "\\\"");
    else if (*v == '\n')
      buf_puts(b, "\\n");
    else
      buf_add(b, v, 1);
  }
}

/* Exact and short: 0.00025 rather than 0.00025000000000000001. */
static void format_double(char *out, size_t n, double v) {
  snprintf(out, n, "%.15g", v);
  if (strtod(out, NULL) != v)
    snprintf(out, n, "%.17g", v);
}

/* ----------------------------------------------------------- families */

static void family(gcd_metrics_buf *b, const char *name, const char *type,
                   const char *help) {
  buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample_u64(gcd_metrics_buf *b, const char *name, uint64_t v) {
  buf_printf(b, "%s %" PRIu64 "\n", name, v);
}

static void sample_double(gcd_metrics_buf *b, const char *name, double v) {
  char num[40];

  format_double(num, sizeof num, v);
  buf_printf(b, "%s %s\n", name, num);
}

/* One-sample families. */
static void gauge(gcd_metrics_buf *b, const char *name, const char *help, uint64_t v) {
  family(b, name, "gauge", help);
  sample_u64(b, name, v);
}

static void counter(gcd_metrics_buf *b, const char *name, const char *help, uint64_t v) {
  family(b, name, "counter", help);
  sample_u64(b, name, v);
}

/* name{generation="0"} v[0] ... for each generation. */
static void per_generation(gcd_metrics_buf *b, const char *name, const char *type,
                           const char *help, const uint64_t *v) {
  family(b, name, type, help);
  for (int g = 0; g < GCD_METRICS_GENERATIONS; g++)
    buf_printf(b, "%s{generation=\"%d\"} %" PRIu64 "\n", name, g, v[g]);
}

static void histogram_one(gcd_metrics_buf *b, const char *name, int gen,
                          const gcd_metrics_histogram *h) {
  char num[40];
  uint64_t cum = 0;

  for (size_t i = 0; i < h->nbounds; i++) {
    cum += h->counts[i];
    format_double(num, sizeof num, h->bounds[i]);
    buf_printf(b, "%s_bucket{generation=\"%d\",le=\"%s\"} %" PRIu64 "\n", name, gen,
               num, cum);
  }
  cum += h->counts[h->nbounds];
  buf_printf(b, "%s_bucket{generation=\"%d\",le=\"+Inf\"} %" PRIu64 "\n", name, gen, cum);
  format_double(num, sizeof num, h->sum);
  buf_printf(b, "%s_sum{generation=\"%d\"} %s\n", name, gen, num);
  buf_printf(b, "%s_count{generation=\"%d\"} %" PRIu64 "\n", name, gen, cum);
}

static void histogram(gcd_metrics_buf *b, const char *name, const char *help,
                      const gcd_metrics_histogram *h) {
  family(b, name, "histogram", help);
  for (int g = 0; g < GCD_METRICS_GENERATIONS; g++)
    histogram_one(b, name, g, &h[g]);
}

/* ------------------------------------------------------------ sections */

static void render_heap(const gcd_metrics_snapshot *s, gcd_metrics_buf *b) {
  uint64_t cycle = s->gc.frees_cycle <= s->frees ? s->gc.frees_cycle : s->frees;

  gauge(b, "gcd_heap_size_bytes", "Payload capacity of the heap.", s->heap_size_bytes);
  gauge(b, "gcd_heap_used_bytes", "Payload bytes handed out to objects.",
        s->heap_used_bytes);
  gauge(b, "gcd_heap_free_bytes", "Payload bytes not handed out.",
        s->heap_size_bytes - (s->heap_used_bytes <= s->heap_size_bytes
                                  ? s->heap_used_bytes : s->heap_size_bytes));
  gauge(b, "gcd_heap_unpurged_bytes",
        "Memory of emptied regions not yet given back to the system.",
        s->heap_unpurged_bytes);
  gauge(b, "gcd_heap_objects", "Live objects in the heap.", s->objects);
  gauge(b, "gcd_heap_object_table_capacity", "Objects the object table can hold.",
        s->table_capacity);
  counter(b, "gcd_heap_allocations_total", "Objects allocated since start.",
          s->allocations);
  family(b, "gcd_heap_frees_total", "counter",
         "Objects freed since start, by cause: a count reaching zero or the cycle "
         "collector.");
  buf_printf(b, "gcd_heap_frees_total{cause=\"refcount\"} %" PRIu64 "\n",
             s->frees - cycle);
  buf_printf(b, "gcd_heap_frees_total{cause=\"cycle\"} %" PRIu64 "\n", cycle);
}

static void render_gc(const gcd_metrics_gc *gc, gcd_metrics_buf *b) {
  per_generation(b, "gcd_gc_collections_total", "counter",
                 "Collections run, by generation.", gc->collections);
  per_generation(b, "gcd_gc_objects_collected_total", "counter",
                 "Objects found unreachable and freed by collections, by generation.",
                 gc->collected);
  per_generation(b, "gcd_gc_objects_uncollectable_total", "counter",
                 "Unreachable objects the collector could not free, by generation.",
                 gc->uncollectable);
  per_generation(b, "gcd_gc_objects_tracked", "gauge",
                 "Objects tracked in each generation.", gc->tracked);
  per_generation(b, "gcd_gc_threshold", "gauge",
                 "Collection threshold of each generation.", gc->threshold);
  gauge(b, "gcd_gc_objects_frozen", "Objects exempt from collection.", gc->frozen);
  gauge(b, "gcd_gc_enabled", "1 when automatic collection is on, else 0.",
        gc->enabled ? 1 : 0);
  gauge(b, "gcd_gc_garbage_objects", "Objects on the garbage list.", gc->garbage);
  histogram(b, "gcd_gc_duration_seconds", "Time a collection took, by generation.",
            gc->duration);
  histogram(b, "gcd_gc_loop_stall_seconds",
            "Longest wait of the loop thread for the heap lock during a collection, "
            "by generation.", gc->stall);
  family(b, "gcd_gc_last_collection_timestamp_seconds", "gauge",
         "Unix time the last collection ended; 0 if none has run.");
  sample_double(b, "gcd_gc_last_collection_timestamp_seconds", gc->last_collection_time);
}

/* The GC_ERRNO_MAP names, indexed by -code. */
#define ERR_NAME_ENTRY(name, value, text) [-(value)] = "GC_" #name,
static const char *const err_names[GCD_ERR_KINDS] = {GC_ERRNO_MAP(ERR_NAME_ENTRY)};
#undef ERR_NAME_ENTRY

static void render_server(const gcd_metrics_snapshot *s, gcd_metrics_buf *b) {
  uint64_t unknown = 0;

  gauge(b, "gcd_clients_connected", "Clients connected now.", s->clients);
  counter(b, "gcd_connections_total", "Client connections accepted since start.",
          s->connections);
  counter(b, "gcd_requests_total", "Request frames answered since start.", s->requests);
  family(b, "gcd_loop_spin_seconds_total", "counter",
         "Time the loop thread spent polling for the next request instead of sleeping "
         "(--spin-us).");
  sample_double(b, "gcd_loop_spin_seconds_total", (double)s->loop_spin_ns / 1e9);
  family(b, "gcd_operations_total", "counter", "Operations run, by operation.");
  for (size_t i = 0; i < s->nops; i++) {
    buf_puts(b, "gcd_operations_total{op=\"");
    gcd_metrics_escape(b, s->ops[i].name);
    buf_printf(b, "\"} %" PRIu64 "\n", s->ops[i].count);
  }
  family(b, "gcd_errors_total", "counter",
         "Failed operations and refused frames, by error code.");
  for (int k = 1; k < GCD_ERR_KINDS; k++) {
    if (err_names[k] == NULL)
      unknown += s->errors[k];
    else
      buf_printf(b, "gcd_errors_total{code=\"%s\"} %" PRIu64 "\n", err_names[k],
                 s->errors[k]);
  }
  buf_printf(b, "gcd_errors_total{code=\"unknown\"} %" PRIu64 "\n", unknown);
  family(b, "gcd_build_info", "gauge", "Always 1; the labels describe the build.");
  buf_puts(b, "gcd_build_info{version=\"");
  gcd_metrics_escape(b, s->version != NULL ? s->version : "");
  buf_puts(b, "\"} 1\n");
}

static void process_family(gcd_metrics_buf *b, const char *name, const char *type,
                           const char *help, double v) {
  if (v < 0)
    return;
  family(b, name, type, help);
  sample_double(b, name, v);
}

static void render_process(const gcd_metrics_process *p, gcd_metrics_buf *b) {
  process_family(b, "process_cpu_seconds_total", "counter",
                 "Total user and system CPU time spent in seconds.", p->cpu_seconds);
  process_family(b, "process_resident_memory_bytes", "gauge",
                 "Resident memory size in bytes.", p->resident_bytes);
  process_family(b, "process_virtual_memory_bytes", "gauge",
                 "Virtual memory size in bytes.", p->virtual_bytes);
  process_family(b, "process_open_fds", "gauge", "Number of open file descriptors.",
                 p->open_fds);
  process_family(b, "process_max_fds", "gauge",
                 "Maximum number of open file descriptors.", p->max_fds);
  process_family(b, "process_start_time_seconds", "gauge",
                 "Start time of the process since unix epoch in seconds.",
                 p->start_time);
}

int gcd_metrics_render(const gcd_metrics_snapshot *s, gcd_metrics_buf *b) {
  render_heap(s, b);
  render_gc(&s->gc, b);
  render_server(s, b);
  render_process(&s->process, b);
  return b->failed ? GC_ENOMEM : 0;
}

/* ------------------------------------------------------------- filling */

const double gcd_metrics_duration_bounds[] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5, 5, 10};
const size_t gcd_metrics_duration_nbounds =
    sizeof gcd_metrics_duration_bounds / sizeof gcd_metrics_duration_bounds[0];

_Static_assert(sizeof gcd_metrics_duration_bounds / sizeof(double) <=
                   GCD_METRICS_BUCKETS_MAX, "the default bounds fit a histogram");

static void histogram_init(gcd_metrics_histogram *h) {
  memset(h, 0, sizeof *h);
  h->nbounds = gcd_metrics_duration_nbounds;
  memcpy(h->bounds, gcd_metrics_duration_bounds, sizeof gcd_metrics_duration_bounds);
}

void gcd_metrics_observe(gcd_metrics_histogram *h, double v) {
  size_t i = 0;

  while (i < h->nbounds && v > h->bounds[i])
    i++;
  h->counts[i]++;
  h->sum += v;
}

void gcd_metrics_snapshot_init(gcd_metrics_snapshot *s) {
  memset(s, 0, sizeof *s);
  s->version = GCD_VERSION;
  for (int g = 0; g < GCD_METRICS_GENERATIONS; g++) {
    histogram_init(&s->gc.duration[g]);
    histogram_init(&s->gc.stall[g]);
  }
  s->process = (gcd_metrics_process){-1, -1, -1, -1, -1, -1};
}

/* Every operation ops.c names, 0 or not; the rest under "unknown". */
static void fill_ops(const gcd_daemon *d, gcd_metrics_snapshot *s) {
  uint64_t unknown = d->op_count[0];

  s->nops = 0;
  for (int k = 1; k < GCD_OP_KINDS; k++) {
    const char *name = gcd_ops_name(k);

    if (strcmp(name, "unknown") == 0) {
      unknown += d->op_count[k];
      continue;
    }
    s->ops[s->nops++] = (gcd_metrics_op){name, d->op_count[k]};
  }
  s->ops[s->nops++] = (gcd_metrics_op){"unknown", unknown};
}

/* The collector keeps per-bucket counts in nanoseconds with a last bound
 * of UINT64_MAX (+Inf); the snapshot wants seconds and finite bounds. */
static void histogram_from(gcd_metrics_histogram *h, const uint64_t *bounds_ns,
                           const uint64_t *counts, size_t nbuckets, uint64_t sum_ns) {
  h->nbounds = nbuckets - 1;
  for (size_t i = 0; i < nbuckets; i++) {
    if (i < h->nbounds)
      h->bounds[i] = (double)bounds_ns[i] / 1e9;
    h->counts[i] = counts[i];
  }
  h->sum = (double)sum_ns / 1e9;
}

_Static_assert(GCD_PAUSE_BUCKETS - 1 <= GCD_METRICS_BUCKETS_MAX &&
               GCD_DURATION_BUCKETS - 1 <= GCD_METRICS_BUCKETS_MAX,
               "the snapshot holds the collector's histograms");

/* Heap lock held (the collector thread writes these under it). */
void gcd_metrics_fill_gc(const gcd_daemon *d, gcd_metrics_gc *gc) {
  const gcd_gcthread *t = &d->gct;

  for (int g = 0; g < GCD_METRICS_GENERATIONS; g++) {
    gc->collections[g] = d->gc.stats[g].collections;
    gc->collected[g] = d->gc.stats[g].collected;
    gc->uncollectable[g] = d->gc.stats[g].uncollectable;
    gc->tracked[g] = d->gc.count[g];
    gc->threshold[g] = d->gc.threshold[g];
    histogram_from(&gc->duration[g], gcd_duration_bucket_ns, t->durations[g],
                   GCD_DURATION_BUCKETS, t->duration_sum_ns[g]);
    histogram_from(&gc->stall[g], gcd_pause_bucket_ns, t->loop_stalls[g],
                   GCD_PAUSE_BUCKETS, t->loop_stall_sum_ns[g]);
  }
  gc->frozen = d->gc.count[GCD_GC_PERMANENT];
  gc->garbage = d->gc.count[GCD_GC_GARBAGE];
  gc->frees_cycle = d->heap.cycle_frees;
  gc->enabled = d->gc.enabled && d->gc.threshold[0] > 0;
  gc->last_collection_time = (double)t->last_collection_end_unix_ns / 1e9;
}

void gcd_metrics_fill(const gcd_daemon *d, gcd_metrics_snapshot *s) {
  gcd_heap_stats st;

  gcd_metrics_snapshot_init(s);
  gcd_heap_stats_get(&d->heap, &st);
  s->heap_size_bytes = st.bytes_total;
  s->heap_used_bytes = st.bytes_used;
  s->heap_unpurged_bytes = st.bytes_unpurged;
  s->objects = st.objects;
  s->table_capacity = st.table_cap > 0 ? st.table_cap - 1 : 0; /* entry 0 unused */
  s->allocations = st.allocs;
  s->frees = st.frees;
  s->clients = d->nsessions;
  s->connections = d->sessions_total;
  s->requests = d->requests;
  s->loop_spin_ns = d->loop_spin_ns;
  fill_ops(d, s);
  memcpy(s->errors, d->err_count, sizeof s->errors);
  gcd_metrics_fill_gc(d, &s->gc);
}

/* --------------------------------------------------------- /proc/self */

static double boot_time(void) {
  FILE *f = fopen("/proc/stat", "re");
  char line[256];
  double t = -1;

  if (f == NULL)
    return -1;
  while (fgets(line, sizeof line, f) != NULL)
    if (sscanf(line, "btime %lf", &t) == 1)
      break;
  fclose(f);
  return t;
}

/* Fields 14 (utime), 15 (stime), 22 (starttime), 23 (vsize), 24 (rss) of
 * /proc/self/stat; the command name in field 2 may hold spaces, so parsing
 * starts after its closing parenthesis. */
static void fill_stat(gcd_metrics_process *p) {
  char buf[1024], *q;
  unsigned long utime, stime, vsize;
  unsigned long long start;
  long rss, tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
  FILE *f = fopen("/proc/self/stat", "re");
  size_t n = f == NULL ? 0 : fread(buf, 1, sizeof buf - 1, f);
  double btime = boot_time();

  if (f != NULL)
    fclose(f);
  buf[n] = '\0';
  if ((q = strrchr(buf, ')')) == NULL || tick <= 0 ||
      sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d "
             "%*d %*d %*d %*d %llu %lu %ld", &utime, &stime, &start, &vsize, &rss) != 5)
    return;
  p->cpu_seconds = (double)(utime + stime) / (double)tick;
  p->virtual_bytes = (double)vsize;
  p->resident_bytes = (double)rss * (double)page;
  if (btime >= 0)
    p->start_time = btime + (double)start / (double)tick;
}

static double count_fds(void) {
  DIR *dir = opendir("/proc/self/fd");
  struct dirent *e;
  double n = 0;

  if (dir == NULL)
    return -1;
  while ((e = readdir(dir)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir(dir);
  return n - 1; /* the directory's own fd */
}

void gcd_metrics_fill_process(gcd_metrics_process *p) {
  struct rlimit rl;

  *p = (gcd_metrics_process){-1, -1, -1, -1, -1, -1};
  fill_stat(p);
  p->open_fds = count_fds();
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
    p->max_fds = rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur;
}
