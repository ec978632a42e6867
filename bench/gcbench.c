/*
 * gcbench.c -- the gcd side of bench/run.sh: starts its own gcd on a
 * temporary socket, builds graphs and runs request loops through the public
 * libgcclient only, and prints "key value" lines (medians over repetitions)
 * for bench/report.py to set beside the reference figures.
 *
 *   gcbench GCD_BINARY collect SHAPE N REPS   shapes: cycles ring random reach frozen
 *   gcbench GCD_BINARY pause N REPS           latency while (reach) is collected
 *   gcbench GCD_BINARY ops N [N16]            alloc+release, retain+release, depth 1 and 16
 *   gcbench GCD_BINARY scale PROCS ITERS      PROCS processes at once
 *   gcbench GCD_BINARY heap N                 RSS per object, full collection of N
 *   gcbench - resp SOCKET N [DEPTH [SPIN_US]] Redis behind a loop like gcd's client, depth 1|16
 *
 * The graphs are the ones bench/cpython_gc.py builds: object i has two
 * slots; a random graph links i -> i+1 (mod N) and i -> a pseudo-random
 * object from the same generator (splitmix64 of i), so both sides build
 * the same edges.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gcclient.h"

#define BATCH_OPS 50000

static char sock_path[256];
static char tmp_dir[128];
static pid_t gcd_pid;
static const char *gcd_spin_us; /* --spin-us for the next start_gcd(); NULL: default */

/* ----------------------------------------------------------- utilities */

static void die(const char *what, int err, gc_client *c) {
  fprintf(stderr, "gcbench: %s: %s (%s)\n", what, gc_strerror(err),
          c ? gc_last_error(c) : gc_last_error(NULL));
  if (gcd_pid > 0)
    kill(gcd_pid, SIGKILL);
  exit(1);
}

#define CHECK(call, c)                                                         \
  do {                                                                         \
    int err_ = (call);                                                         \
    if (err_ != 0)                                                             \
      die(#call, err_, c);                                                     \
  } while (0)

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of v[0..n), sorting v. */
static uint64_t quantile(uint64_t *v, size_t n, double q) {
  size_t i;

  if (n == 0)
    return 0;
  qsort(v, n, sizeof *v, cmp_u64);
  i = (size_t)(q * (double)(n - 1) + 0.5);
  return v[i];
}

/* The same generator as cpython_gc.py's. */
static uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/* ------------------------------------------------------------- the daemon */

static void stop_gcd(void) {
  if (gcd_pid > 0) {
    kill(gcd_pid, SIGTERM);
    waitpid(gcd_pid, NULL, 0);
    gcd_pid = 0;
  }
  if (tmp_dir[0] != '\0') {
    unlink(sock_path);
    rmdir(tmp_dir);
  }
}

/* Starts gcd with room for max_objects two-slot objects; waits until it
 * answers. */
static void start_gcd(const char *bin, uint64_t max_objects) {
  char heap[32], objs[32];
  uint64_t heap_mb = max_objects * 128 / (1u << 20) + 256;

  snprintf(tmp_dir, sizeof tmp_dir, "/tmp/gcbench-XXXXXX");
  if (mkdtemp(tmp_dir) == NULL) {
    perror("mkdtemp");
    exit(1);
  }
  snprintf(sock_path, sizeof sock_path, "%s/gcd.sock", tmp_dir);
  snprintf(heap, sizeof heap, "%" PRIu64 "M", heap_mb);
  snprintf(objs, sizeof objs, "%" PRIu64, max_objects + 4096);
  if ((gcd_pid = fork()) == 0) {
    const char *argv[] = {bin, "--socket", sock_path, "--heap-size", heap, "--max-objects",
                          objs, "--metrics-listen", "", "--log-level", "warn",
                          gcd_spin_us ? "--spin-us" : NULL, gcd_spin_us, NULL};

    execv(bin, (char *const *)argv);
    perror(bin);
    _exit(127);
  }
  for (int i = 0; i < 1000; i++) {
    gc_client *c;

    if (gc_connect(sock_path, "gcbench-probe", &c) == 0) {
      gc_close(c);
      return;
    }
    usleep(10000);
  }
  die("gcd did not start", GC_ECONNECT, NULL);
}

static gc_client *connect_or_die(const char *name) {
  gc_client *c;

  CHECK(gc_connect(sock_path, name, &c), NULL);
  return c;
}

/* ------------------------------------------------------- building graphs */

/* Runs b if it holds ops; every op must have succeeded. */
static void batch_flush(gc_batch *b, gc_client *c) {
  size_t n = gc_batch_size(b);

  if (n == 0)
    return;
  CHECK(gc_batch_run(b), c);
  for (size_t i = 0; i < n; i++)
    CHECK(gc_batch_result(b, i, NULL), c);
  gc_batch_reset(b);
}

/* Allocates n two-slot objects, held by this client. */
static gc_handle *alloc_objects(gc_client *c, gc_batch *b, size_t n) {
  gc_handle *h = malloc(n * sizeof *h);

  for (size_t done = 0; done < n;) {
    size_t k = n - done < BATCH_OPS ? n - done : BATCH_OPS;

    for (size_t i = 0; i < k; i++)
      gc_batch_alloc(b, 2, 0, 1);
    CHECK(gc_batch_run(b), c);
    for (size_t i = 0; i < k; i++)
      CHECK(gc_batch_result(b, i, &h[done + i]), c);
    gc_batch_reset(b);
    done += k;
  }
  return h;
}

static void add_edge(gc_client *c, gc_batch *b, gc_handle obj, uint32_t slot, gc_handle target) {
  gc_batch_set_ref(b, obj, slot, target);
  if (gc_batch_size(b) >= BATCH_OPS)
    batch_flush(b, c);
}

/* The edges of one shape (see the file header). */
static void link_shape(gc_client *c, gc_batch *b, const char *shape, gc_handle *h, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (strcmp(shape, "cycles") == 0) {
      add_edge(c, b, h[i], 0, h[i ^ 1]);
    } else if (strcmp(shape, "ring") == 0) {
      add_edge(c, b, h[i], 0, h[(i + 1) % n]);
    } else {
      add_edge(c, b, h[i], 0, h[(i + 1) % n]);
      add_edge(c, b, h[i], 1, h[splitmix64(i) % n]);
    }
  }
  batch_flush(b, c);
}

/* Drops this client's retains on h[from..n). */
static void release_from(gc_client *c, gc_batch *b, gc_handle *h, size_t from, size_t n) {
  for (size_t i = from; i < n; i++) {
    gc_batch_release(b, h[i]);
    if (gc_batch_size(b) >= BATCH_OPS)
      batch_flush(b, c);
  }
  batch_flush(b, c);
}

/* Builds a shape of n objects: "reach" and "frozen" keep object 0 held (so
 * all stay reachable), the others hold nothing. Returns the root or 0. */
static gc_handle build(gc_client *c, const char *shape, size_t n) {
  gc_batch *b;
  gc_handle *h, root;
  int keep = strcmp(shape, "reach") == 0 || strcmp(shape, "frozen") == 0;

  CHECK(gc_batch_new(c, &b), c);
  h = alloc_objects(c, b, n);
  link_shape(c, b, shape, h, n);
  root = keep ? h[0] : 0;
  release_from(c, b, h, keep ? 1 : 0, n);
  gc_batch_free(b);
  free(h);
  return root;
}

/* --------------------------------------------------------------- collect */

static int cmd_collect(const char *bin, const char *shape, size_t n, int reps) {
  uint64_t *ns = calloc((size_t)reps, sizeof *ns), *wall = calloc((size_t)reps, sizeof *wall);
  uint64_t examined = 0, freed = 0, build_ns = 0;
  gc_client *c;
  gc_handle root = 0;

  start_gcd(bin, n);
  c = connect_or_die("gcbench-collect");
  CHECK(gc_disable(c), c);
  for (int r = 0; r < reps; r++) {
    gc_collect_info ci;
    uint64_t t0;

    if (r == 0 || root == 0) {
      t0 = now_ns();
      root = build(c, shape, n);
      build_ns = now_ns() - t0;
      if (strcmp(shape, "frozen") == 0)
        CHECK(gc_freeze(c, NULL), c);
    }
    t0 = now_ns();
    CHECK(gc_collect_info_get(c, 2, &ci), c);
    wall[r] = now_ns() - t0;
    ns[r] = ci.duration_ns;
    examined = ci.examined;
    freed = ci.freed;
  }
  printf("gcd.collect.%s.objects %zu\n", shape, n);
  printf("gcd.collect.%s.examined %" PRIu64 "\n", shape, examined);
  printf("gcd.collect.%s.freed %" PRIu64 "\n", shape, freed);
  printf("gcd.collect.%s.ns %" PRIu64 "\n", shape, quantile(ns, (size_t)reps, 0.5));
  printf("gcd.collect.%s.wall_ns %" PRIu64 "\n", shape, quantile(wall, (size_t)reps, 0.5));
  printf("gcd.collect.%s.build_ns %" PRIu64 "\n", shape, build_ns);
  gc_close(c);
  stop_gcd();
  return 0;
}

/* ----------------------------------------------------------------- pause */

typedef struct collector_arg {
  int reps;
  volatile int done;
  uint64_t ns;  /* the longest collection's duration */
} collector_arg;

static void *collector_main(void *p) {
  collector_arg *a = p;
  gc_client *c = connect_or_die("gcbench-collector");

  for (int r = 0; r < a->reps; r++) {
    gc_collect_info ci;

    CHECK(gc_collect_info_get(c, 2, &ci), c);
    if (ci.duration_ns > a->ns)
      a->ns = ci.duration_ns;
  }
  gc_close(c);
  a->done = 1;
  return NULL;
}

/* Round trips of gc_refcount on h until *stop (or max samples). */
static size_t probe(gc_client *c, gc_handle h, volatile int *stop, size_t max,
                    uint64_t *lat) {
  size_t n = 0;

  while (n < max && (stop == NULL || !*stop)) {
    uint64_t t0 = now_ns(), rc;

    CHECK(gc_refcount(c, h, &rc), c);
    lat[n++] = now_ns() - t0;
  }
  return n;
}

static void print_lat(const char *key, uint64_t *lat, size_t n) {
  printf("%s.samples %zu\n", key, n);
  printf("%s.p50_ns %" PRIu64 "\n", key, quantile(lat, n, 0.5));
  printf("%s.p99_ns %" PRIu64 "\n", key, quantile(lat, n, 0.99));
  printf("%s.max_ns %" PRIu64 "\n", key, n ? lat[n - 1] : 0);
}

/* Percent of the n latencies below ns. At depth 1 the round trips under
 * 10 us are those the scheduler ran with both processes on one CPU, where
 * no sleeping CPU had to be woken; their share sets the rate. */
static double share_under(const uint64_t *lat, size_t n, uint64_t ns) {
  size_t k = 0;

  for (size_t i = 0; i < n; i++)
    k += lat[i] < ns;
  return n ? 100.0 * (double)k / (double)n : 0;
}

static int cmd_pause(const char *bin, size_t n, int reps) {
  enum { MAX = 4000000 };
  uint64_t *lat = malloc(MAX * sizeof *lat);
  collector_arg arg = {.reps = reps};
  gc_client *c;
  gc_handle root;
  pthread_t th;
  gc_stats st;
  size_t k;

  start_gcd(bin, n);
  c = connect_or_die("gcbench-pause");
  CHECK(gc_disable(c), c);
  root = build(c, "reach", n);
  k = probe(c, root, NULL, 200000, lat);
  print_lat("gcd.pause.idle", lat, k);
  pthread_create(&th, NULL, collector_main, &arg);
  k = probe(c, root, &arg.done, MAX, lat);
  pthread_join(th, NULL);
  print_lat("gcd.pause.collecting", lat, k);
  CHECK(gc_get_stats(c, &st), c);
  printf("gcd.pause.collect_ns %" PRIu64 "\n", arg.ns);
  printf("gcd.pause.loop_stall_max_ns %" PRIu64 "\n", st.loop_stall_max_ns);
  gc_close(c);
  stop_gcd();
  free(lat);
  return 0;
}

/* ------------------------------------------------------------------- ops */

static void print_rate(const char *key, uint64_t ops, uint64_t ns) {
  printf("%s.ops_per_s %.0f\n", key, (double)ops * 1e9 / (double)ns);
}

/* Where the ops cases' keys start: "gcd.ops." with client and daemon
 * polling before they sleep, "gcd.ops.sleep." with neither. */
static const char *ops_pre = "gcd.ops.";

/* CPU time so far, in ns: of this process, and of the daemon. */
static uint64_t cpu_self_ns(void) {
  struct timespec ts;

  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_gcd_ns(void) {
  char path[64], line[1024], *p;
  unsigned long long ut = 0, st = 0;
  FILE *f;

  snprintf(path, sizeof path, "/proc/%d/stat", (int)gcd_pid);
  if ((f = fopen(path, "r")) == NULL)
    return 0;
  if (fgets(line, sizeof line, f) != NULL && (p = strrchr(line, ')')) != NULL)
    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st);
  fclose(f);
  return (ut + st) * (1000000000u / (uint64_t)sysconf(_SC_CLK_TCK));
}

/* alloc + release, one round trip each; each op's latency sampled. */
static void ops_alloc_sync(gc_client *c, size_t n, uint64_t *lat) {
  uint64_t t0 = now_ns();
  char key[64];

  for (size_t i = 0; i < n; i++) {
    uint64_t a = now_ns(), b;
    gc_handle h;

    CHECK(gc_alloc(c, 0, 16, 1, &h), c);
    b = now_ns();
    CHECK(gc_release(c, h), c);
    lat[2 * i] = b - a;
    lat[2 * i + 1] = now_ns() - b;
  }
  snprintf(key, sizeof key, "%salloc_release.p1", ops_pre);
  print_rate(key, 2 * n, now_ns() - t0);
  snprintf(key, sizeof key, "%salloc_release.p1.lat", ops_pre);
  print_lat(key, lat, 2 * n);
  printf("%s.under_10us_pct %.1f\n", key, share_under(lat, 2 * n, 10000));
}

/* alloc + release with depth ops in flight: depth allocs, their handles,
 * then depth releases that overlap the next round's allocs -- one-way
 * (unanswered unless they fail), or each answered as the allocs are. */
static void ops_alloc_pipe(gc_client *c, size_t n, unsigned depth, bool answered) {
  gc_handle h[GC_PIPELINE_MAX];
  int rc[GC_PIPELINE_MAX], rrc[GC_PIPELINE_MAX];
  uint64_t t0;
  char key[64];

  CHECK(gc_set_option(c, GC_OPT_PIPELINE_DEPTH, depth), c);
  t0 = now_ns();
  for (size_t i = 0; i < n; i += depth) {
    for (unsigned j = 0; j < depth; j++)
      CHECK(gc_alloc_async(c, 0, 16, 1, &h[j], &rc[j]), c);
    CHECK(gc_sync(c), c); /* the last round's releases are answered too */
    for (unsigned j = 0; j < depth; j++) {
      CHECK(rc[j], c);
      CHECK(i > 0 && answered ? rrc[j] : 0, c);
      CHECK(gc_release_async(c, h[j], answered ? &rrc[j] : NULL), c);
    }
  }
  CHECK(gc_sync(c), c);
  for (unsigned j = 0; j < depth && answered; j++)
    CHECK(rrc[j], c);
  snprintf(key, sizeof key, "%salloc_release%s.p%u", ops_pre, answered ? "_answered" : "",
           depth);
  print_rate(key, 2 * ((n + depth - 1) / depth) * depth, now_ns() - t0);
}

/* retain + release of one held object: synchronous at depth 1; async with
 * up to depth ops in flight otherwise, each answered, or all one-way. At
 * depth 1 also the CPU time per operation, of the client and the daemon. */
static void ops_retain(gc_client *c, size_t n, unsigned depth, bool oneway) {
  gc_handle h;
  uint64_t count = 0;
  int rc[2];
  uint64_t t0, cpu0, gcd0;
  char key[64];

  CHECK(gc_alloc(c, 0, 16, 1, &h), c);
  CHECK(gc_set_option(c, GC_OPT_PIPELINE_DEPTH, depth), c);
  cpu0 = cpu_self_ns();
  gcd0 = cpu_gcd_ns();
  t0 = now_ns();
  for (size_t i = 0; i < n; i++) {
    if (depth == 1) {
      CHECK(gc_retain(c, h), c);
      CHECK(gc_release(c, h), c);
    } else {
      CHECK(gc_retain_async(c, h, oneway ? NULL : &rc[0]), c);
      CHECK(gc_release_async(c, h, oneway ? NULL : &rc[1]), c);
    }
  }
  CHECK(gc_sync(c), c);
  snprintf(key, sizeof key, "%sretain_release%s.p%u", ops_pre, oneway ? "_oneway" : "", depth);
  print_rate(key, 2 * n, now_ns() - t0);
  if (depth == 1)
    printf("%s.cpu_ns_per_op.client %.0f\n%s.cpu_ns_per_op.daemon %.0f\n", key,
           (double)(cpu_self_ns() - cpu0) / (double)(2 * n), key,
           (double)(cpu_gcd_ns() - gcd0) / (double)(2 * n));
  /* The answered results overwrite one another: a balanced count says that
   * every retain and release took effect. */
  CHECK(gc_refcount(c, h, &count), c);
  CHECK(count == 1 ? 0 : GC_ECORRUPT, c);
  CHECK(gc_release(c, h), c);
}

/* create + drop, as multiprocessing.managers does it: one round trip each,
 * and with the release one-way. */
static void ops_create_drop(gc_client *c, size_t n) {
  uint64_t t0 = now_ns();
  gc_handle h;

  for (size_t i = 0; i < n; i++) {
    CHECK(gc_alloc(c, 0, 16, 1, &h), c);
    CHECK(gc_release(c, h), c);
  }
  print_rate("gcd.mp.create_drop_sync", n, now_ns() - t0);
  CHECK(gc_set_option(c, GC_OPT_ONEWAY_RELEASE, 1), c);
  CHECK(gc_set_option(c, GC_OPT_PIPELINE_DEPTH, 16), c);
  t0 = now_ns();
  for (size_t i = 0; i < n; i++) {
    CHECK(gc_alloc(c, 0, 16, 1, &h), c);
    CHECK(gc_release(c, h), c);
  }
  CHECK(gc_sync(c), c);
  print_rate("gcd.mp.create_drop_oneway", n, now_ns() - t0);
  CHECK(gc_set_option(c, GC_OPT_ONEWAY_RELEASE, 0), c);
}

/* n pairs of operations at depth 1, n16 at depth 16: at either depth a
 * case should run as long as its Redis counterpart, since across CPUs the
 * rate moves with the scheduler over seconds (bench/run.sh). The answered
 * cases run twice: with client and daemon polling for up to 50 us before
 * they sleep (their defaults), and with both sleeping at once
 * (GC_OPT_SPIN_US 0, gcd --spin-us 0). */
static int cmd_ops(const char *bin, size_t n, size_t n16) {
  uint64_t *lat = malloc(2 * n * sizeof *lat);
  gc_client *c;

  start_gcd(bin, 1u << 20);
  c = connect_or_die("gcbench-ops");
  CHECK(gc_set_option(c, GC_OPT_SPIN_US, GC_SPIN_DEFAULT_US), c);
  ops_alloc_sync(c, n, lat);
  ops_alloc_pipe(c, n16, 16, false);
  ops_alloc_pipe(c, n16, 16, true);
  ops_retain(c, n, 1, false);
  ops_retain(c, n16, 16, false);
  ops_retain(c, n16, 16, true);
  ops_create_drop(c, n / 2);
  gc_close(c);
  stop_gcd();
  ops_pre = "gcd.ops.sleep.";
  gcd_spin_us = "0";
  start_gcd(bin, 1u << 20);
  c = connect_or_die("gcbench-ops-sleeping");
  CHECK(gc_set_option(c, GC_OPT_SPIN_US, 0), c);
  ops_alloc_sync(c, n, lat);
  ops_alloc_pipe(c, n16, 16, true);
  ops_retain(c, n, 1, false);
  ops_retain(c, n16, 16, false);
  gc_close(c);
  stop_gcd();
  free(lat);
  return 0;
}

/* ------------------------------------------------------------------ resp */

/* Redis at depth 1 through the loop libgcclient's synchronous calls run:
 * one blocking send of the request, receives until its reply is whole --
 * each first polling for up to spin_us, yielding the CPU between polls (as
 * GC_OPT_SPIN_US does; 0: blocking at once). redis-benchmark's own loop (epoll, a write handler per request)
 * differs, and at depth 1 the loop moves the rate by how often the
 * scheduler puts both processes on one CPU; this sets the two servers side
 * by side behind the same one. */
static void resp_die(const char *what) {
  fprintf(stderr, "gcbench: resp: %s: %s\n", what, errno ? strerror(errno) : "unexpected reply");
  exit(1);
}

static int resp_connect(const char *path) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  if (fd >= 0 && strlen(path) >= sizeof a.sun_path)
    errno = ENAMETOOLONG;
  if (fd < 0 || strlen(path) >= sizeof a.sun_path)
    resp_die(path);
  memcpy(a.sun_path, path, strlen(path) + 1);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
    resp_die(path);
  return fd;
}

static unsigned spin_us;

/* recv, after polling for up to spin_us. */
static ssize_t resp_recv(int fd, char *buf, size_t len) {
  uint64_t t0 = now_ns();

  while (spin_us != 0) {
    ssize_t r = recv(fd, buf, len, MSG_DONTWAIT);

    if (r >= 0 || (errno != EAGAIN && errno != EINTR))
      return r;
    if (now_ns() - t0 >= spin_us * UINT64_C(1000))
      break;
    sched_yield();
  }
  return recv(fd, buf, len, 0);
}

/* depth commands in one send, then their one-line replies ("+OK", ":1"),
 * read whole: a line each. */
static void resp_call(int fd, const char *cmds, size_t len, unsigned depth) {
  char buf[4096];
  unsigned lines = 0;

  if (send(fd, cmds, len, MSG_NOSIGNAL) != (ssize_t)len)
    resp_die("send");
  while (lines < depth) {
    ssize_t r = resp_recv(fd, buf, sizeof buf);
    if (r == 0)
      errno = ECONNRESET;
    if (r <= 0 && errno != EINTR)
      resp_die("recv");
    for (ssize_t k = 0; k < r; k++) {
      errno = 0;
      if (buf[k] == '-')
        resp_die("Redis answered an error");
      lines += buf[k] == '\n';
    }
  }
}

/* Appends a SET of a 16-byte value, or a DEL, of key:i to cmds at *len. */
static void resp_put(char *cmds, size_t *len, bool del, size_t i) {
  char key[32];
  int kl = snprintf(key, sizeof key, "key:%zu", i % 100000);

  *len += (size_t)(del ? sprintf(cmds + *len, "*2\r\n$3\r\nDEL\r\n$%d\r\n%s\r\n", kl, key)
                       : sprintf(cmds + *len, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$16\r\n"
                                 "xxxxxxxxxxxxxxxx\r\n", kl, key));
}

/* n requests at depth 1 or 16: n/2 SETs, then n/2 DELs, to keys key:0 to
 * key:99999 in turn (the DELs find what the SETs stored), as many as gcd's
 * alloc + release case at that depth. At depth 16 each send carries 16
 * commands and the loop waits for all 16 replies, as redis-benchmark -P 16
 * and gcd's window do. */
static int cmd_resp(const char *path, size_t n, unsigned depth, unsigned spin) {
  uint64_t *lat = malloc(n * sizeof *lat), t0;
  int fd = resp_connect(path);
  char cmds[16 * 64], key[64];
  size_t rounds;

  if (depth != 1 && depth != 16) {
    errno = EINVAL;
    resp_die("depth (1 or 16)");
  }
  rounds = n / 2 / depth;
  spin_us = spin;
  for (int del = 0; del < 2; del++) {
    t0 = now_ns();
    for (size_t i = 0; i < rounds; i++) {
      size_t len = 0;
      uint64_t a;

      for (unsigned k = 0; k < depth; k++)
        resp_put(cmds, &len, del, i * depth + k);
      a = now_ns();
      resp_call(fd, cmds, len, depth);
      lat[i] = now_ns() - a;
    }
    snprintf(key, sizeof key, "redis.same_client%s.%s.p%u", spin_us ? "" : ".sleep",
             del ? "del" : "set", depth);
    print_rate(key, rounds * depth, now_ns() - t0);
    if (!del && depth == 1) {
      snprintf(key, sizeof key, "redis.same_client%s.set.p1.lat", spin_us ? "" : ".sleep");
      print_lat(key, lat, rounds);
      printf("%s.under_10us_pct %.1f\n", key, share_under(lat, rounds, 10000));
    }
  }
  close(fd);
  free(lat);
  return 0;
}

/* ----------------------------------------------------------------- scale */

/* One worker: alloc two objects, link one to the other, release both. */
static int scale_worker(size_t iters) {
  gc_client *c = connect_or_die("gcbench-worker");
  gc_handle a, b;
  int ra, rb;

  for (size_t i = 0; i < iters; i++) {
    CHECK(gc_alloc_async(c, 1, 16, 1, &a, &ra), c);
    CHECK(gc_alloc_async(c, 0, 16, 1, &b, &rb), c);
    CHECK(gc_sync(c), c);
    CHECK(ra, c);
    CHECK(rb, c);
    CHECK(gc_set_ref_async(c, a, 0, b, NULL), c);
    CHECK(gc_release_async(c, a, NULL), c);
    CHECK(gc_release_async(c, b, NULL), c);
  }
  CHECK(gc_sync(c), c);
  gc_close(c);
  return 0;
}

static int cmd_scale(const char *bin, int procs, size_t iters) {
  pid_t *kids = calloc((size_t)procs, sizeof *kids);
  uint64_t t0;
  int bad = 0;

  start_gcd(bin, 1u << 20);
  t0 = now_ns();
  for (int p = 0; p < procs; p++)
    if ((kids[p] = fork()) == 0) {
      gcd_pid = 0;
      _exit(scale_worker(iters));
    }
  for (int p = 0; p < procs; p++) {
    int st;
    waitpid(kids[p], &st, 0);
    bad |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
  }
  printf("gcd.scale.procs %d\n", procs);
  print_rate("gcd.scale.aggregate", (uint64_t)procs * iters * 5, now_ns() - t0);
  stop_gcd();
  free(kids);
  return bad;
}

/* ------------------------------------------------------------------ heap */

/* A field of /proc/PID/status in kB. */
static uint64_t status_kb(pid_t pid, const char *field) {
  char path[64], line[256];
  uint64_t v = 0;
  FILE *f;

  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  if ((f = fopen(path, "r")) == NULL)
    return 0;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, field, strlen(field)) == 0)
      sscanf(line + strlen(field) + 1, "%" SCNu64, &v);
  fclose(f);
  return v;
}

/* The sizes of the daemon's memfd mappings (its two segments). */
static void print_segments(pid_t pid) {
  char path[64], line[512];
  FILE *f;
  int i = 0;

  snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
  if ((f = fopen(path, "r")) == NULL)
    return;
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi;

    if (strstr(line, "memfd:") && sscanf(line, "%lx-%lx", &lo, &hi) == 2)
      printf("gcd.heap.segment%d_bytes %lu\n", i++, hi - lo);
  }
  fclose(f);
}

static int cmd_heap(const char *bin, size_t n) {
  gc_client *c;
  gc_collect_info ci;
  uint64_t rss0, rss, shm, t0;

  start_gcd(bin, n);
  c = connect_or_die("gcbench-heap");
  CHECK(gc_disable(c), c);
  rss0 = status_kb(gcd_pid, "VmRSS");
  t0 = now_ns();
  build(c, "reach", n);
  printf("gcd.heap.build_ns %" PRIu64 "\n", now_ns() - t0);
  rss = status_kb(gcd_pid, "VmRSS");
  shm = status_kb(gcd_pid, "RssShmem");
  printf("gcd.heap.objects %zu\n", n);
  printf("gcd.heap.rss_idle_kb %" PRIu64 "\n", rss0);
  printf("gcd.heap.rss_kb %" PRIu64 "\n", rss);
  printf("gcd.heap.rss_shmem_kb %" PRIu64 "\n", shm);
  printf("gcd.heap.bytes_per_object %.1f\n", (double)(rss - rss0) * 1024.0 / (double)n);
  print_segments(gcd_pid);
  CHECK(gc_collect_info_get(c, 2, &ci), c);
  printf("gcd.heap.collect_ns %" PRIu64 "\n", ci.duration_ns);
  printf("gcd.heap.examined %" PRIu64 "\n", ci.examined);
  gc_close(c);
  stop_gcd();
  return 0;
}

/* ------------------------------------------------------------------ main */

static size_t arg_size(char **argv, int i, int argc, size_t def) {
  return i < argc ? (size_t)strtoull(argv[i], NULL, 10) : def;
}

int main(int argc, char **argv) {
  const char *bin, *cmd;

  if (argc < 3) {
    fprintf(stderr, "usage: gcbench GCD_BINARY collect|pause|ops|scale|heap ARGS...\n"
                    "       gcbench - resp REDIS_SOCKET N [1|16 [SPIN_US]]\n");
    return 64;
  }
  bin = argv[1];
  cmd = argv[2];
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (strcmp(cmd, "collect") == 0 && argc >= 4)
    return cmd_collect(bin, argv[3], arg_size(argv, 4, argc, 1000000),
                       (int)arg_size(argv, 5, argc, 3));
  if (strcmp(cmd, "pause") == 0)
    return cmd_pause(bin, arg_size(argv, 3, argc, 1000000), (int)arg_size(argv, 4, argc, 3));
  if (strcmp(cmd, "ops") == 0)
    return cmd_ops(bin, arg_size(argv, 3, argc, 200000),
                   arg_size(argv, 4, argc, 8 * arg_size(argv, 3, argc, 200000)));
  if (strcmp(cmd, "scale") == 0)
    return cmd_scale(bin, (int)arg_size(argv, 3, argc, 8), arg_size(argv, 4, argc, 50000));
  if (strcmp(cmd, "heap") == 0)
    return cmd_heap(bin, arg_size(argv, 3, argc, 10000000));
  if (strcmp(cmd, "resp") == 0 && argc >= 4)
    return cmd_resp(argv[3], arg_size(argv, 4, argc, 100000),
                    (unsigned)arg_size(argv, 5, argc, 1),
                    (unsigned)arg_size(argv, 6, argc, GC_SPIN_DEFAULT_US));
  fprintf(stderr, "gcbench: unknown command '%s'\n", cmd);
  return 64;
}
