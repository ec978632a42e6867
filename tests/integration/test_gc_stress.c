/*
 * test_gc_stress.c -- several client processes mutate random graphs while
 * the collector runs continuously; one of them is killed mid-work.
 *
 * Each worker holds up to MAX_HELD retains and, at random: allocates objects
 * (stamping each payload with its own handle), links and unlinks slots
 * (making cycles all the time), releases, retains what a slot of a held
 * object points to, and publishes and unpublishes names. Whatever it holds
 * must stay alive with its stamp intact: a freed or reused object fails the
 * worker. Meanwhile the test process asks for collections of every
 * generation and for whole-heap verifications, with thresholds low enough
 * that automatic collections run too, and the daemon (GCD_VERIFY_COLLECTIONS
 * from the harness) checks every count and slot after every collection. At
 * the end, with every worker gone and a full collection done, the heap must
 * be empty.
 *
 * GCD_STRESS_SEED and GCD_STRESS_OPS override the seed and each worker's
 * operation count.
 */
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>

#include "harness.h"

#define WORKERS 4
#define MAX_HELD 192
#define MAX_NAMES 8
#define DEFAULT_OPS 40000

typedef struct worker {
  uint64_t seed;
  long ops;
  int id;
} worker;

typedef struct wstate {
  gc_client *c;
  gc_handle held[MAX_HELD];
  int nheld;
  uint64_t rng;
  int id;
  unsigned names; /* bit k: name k published by this worker */
} wstate;

static uint64_t rnd(wstate *w) { /* xorshift64* */
  w->rng ^= w->rng >> 12;
  w->rng ^= w->rng << 25;
  w->rng ^= w->rng >> 27;
  return w->rng * 2685821657736338717ull;
}

static long env_long(const char *name, long dflt) {
  const char *s = getenv(name);

  return s != NULL && *s != '\0' ? strtol(s, NULL, 0) : dflt;
}

static gc_handle pick(wstate *w) {
  return w->nheld > 0 ? w->held[rnd(w) % (uint64_t)w->nheld] : 0;
}

/* A held object is alive and still the one this worker stamped. */
static void check_alive(wstate *w, gc_handle h) {
  uint64_t n = 0;
  void *p = gc_data(w->c, h, &n);

  CHILD_CHECK(p != NULL);
  CHILD_CHECK(n >= 8);
  CHILD_CHECK(memcmp(p, &h, sizeof h) == 0);
}

static void do_alloc(wstate *w) {
  gc_handle h;
  uint64_t n;
  void *p;

  if (w->nheld == MAX_HELD)
    return;
  CHILD_CHECK(gc_alloc(w->c, (uint32_t)(rnd(w) % 4), 8 + rnd(w) % 56,
                       (uint32_t)w->id, &h) == 0);
  p = gc_data(w->c, h, &n);
  CHILD_CHECK(p != NULL);
  memcpy(p, &h, sizeof h);
  w->held[w->nheld++] = h;
}

static void do_release(wstate *w) {
  int i;

  if (w->nheld == 0)
    return;
  i = (int)(rnd(w) % (uint64_t)w->nheld);
  check_alive(w, w->held[i]);
  CHILD_CHECK(gc_release(w->c, w->held[i]) == 0);
  w->held[i] = w->held[--w->nheld];
}

/* Links two held objects (often both ways: a cycle), or clears a slot. */
static void do_link(wstate *w) {
  gc_handle a = pick(w), b = rnd(w) % 5 == 0 ? 0 : pick(w);
  uint32_t ns = 0;

  if (a == 0 || gc_describe(w->c, a, NULL, &ns, NULL) != 0 || ns == 0)
    return;
  CHILD_CHECK(gc_set_ref(w->c, a, (uint32_t)(rnd(w) % ns), b) == 0);
  if (b != 0 && rnd(w) % 2 == 0 &&
      gc_describe(w->c, b, NULL, &ns, NULL) == 0 && ns > 0)
    CHILD_CHECK(gc_set_ref(w->c, b, (uint32_t)(rnd(w) % ns), a) == 0);
}

/* What a slot of a held object points to is reachable: it must be alive,
 * retainable and stamped. */
static void do_follow(wstate *w) {
  gc_handle a = pick(w), t = 0;
  uint32_t ns = 0;

  if (a == 0 || w->nheld == MAX_HELD || gc_describe(w->c, a, NULL, &ns, NULL) != 0 ||
      ns == 0)
    return;
  CHILD_CHECK(gc_get_ref(w->c, a, (uint32_t)(rnd(w) % ns), &t) == 0);
  if (t == 0)
    return;
  CHILD_CHECK(gc_retain(w->c, t) == 0);
  check_alive(w, t);
  w->held[w->nheld++] = t;
}

static void do_name(wstate *w) {
  unsigned k = (unsigned)(rnd(w) % MAX_NAMES);
  char name[32];
  gc_handle h = pick(w);

  snprintf(name, sizeof name, "stress-%d-%u", w->id, k);
  if (w->names & (1u << k)) {
    CHILD_CHECK(gc_unpublish(w->c, name) == 0);
    w->names &= ~(1u << k);
  } else if (h != 0) {
    CHILD_CHECK(gc_publish(w->c, name, h) == 0);
    w->names |= 1u << k;
  }
}

static void step(wstate *w) {
  uint64_t r = rnd(w) % 100;

  if (r < 35)
    do_alloc(w);
  else if (r < 60)
    do_link(w);
  else if (r < 80)
    do_release(w);
  else if (r < 95)
    do_follow(w);
  else
    do_name(w);
}

/* The worker says "ready" once connected, then works and says how much. */
static int worker_main(void *arg, int in, int out) {
  const worker *wk = arg;
  wstate w = {.rng = wk->seed | 1, .id = wk->id};
  const char *sock;
  char ready = 'r';

  sock = getenv("GCD_SOCKET");
  CHILD_CHECK(gc_connect(sock, "stress", &w.c) == 0);
  CHILD_CHECK(h_write_all(out, &ready, 1) == 0);
  for (long i = 0; i < wk->ops; i++)
    step(&w);
  for (int i = 0; i < w.nheld; i++)
    check_alive(&w, w.held[i]);
  for (unsigned k = 0; k < MAX_NAMES; k++) {
    char name[32];
    snprintf(name, sizeof name, "stress-%d-%u", w.id, k);
    if (w.names & (1u << k))
      CHILD_CHECK(gc_unpublish(w.c, name) == 0);
  }
  gc_close(w.c); /* the daemon releases what is still held */
  ready = 'd';
  CHILD_CHECK(h_write_all(out, &ready, 1) == 0);
  return 0;
}

/* Whether worker ch has said it is done (or died). */
static bool finished(h_child *ch) {
  struct pollfd p = {.fd = ch->rd, .events = POLLIN};

  return poll(&p, 1, 0) == 1;
}

/* The test process: collections of every generation, and verifications,
 * until every worker has finished. */
static void collect_until_done(gc_client *c, h_child *ws, int n, uint64_t *rounds) {
  for (uint64_t i = 0;; i++) {
    uint64_t found = 0;
    int running = 0;
    for (int k = 0; k < n; k++)
      running += !finished(&ws[k]);
    if (running == 0)
      break;
    assert_ok(gc_collect(c, (int)(i % 3), &found), c);
    if (i % 8 == 0)
      assert_ok(gc_verify(c), c);
    (*rounds)++;
  }
}

/* A worker that has exited may still have a session: the daemon closes it
 * when it reads the end of the connection, which can come after a request
 * of ours. Until then its retains hold what it built. */
static void wait_alone(gc_client *c) {
  for (int i = 0; i < 2000; i++) {
    gc_heap_info hi;
    assert_ok(gc_info(c, &hi), c);
    if (hi.clients == 1)
      return;
    usleep(5000);
  }
  fail_msg("the workers' sessions were still open 10 s after they exited");
}

/* The metrics endpoint tells the same story as gc_get_stats(). */
static void check_metrics(const h_daemon *d, const gc_stats *st) {
  char *resp = h_http_get(h_metrics_port(d), "/metrics");
  const char *body = h_http_body(resp);
  double collections = 0, collected = 0;
  char series[96];

  for (int g = 0; g < 3; g++) {
    snprintf(series, sizeof series, "gcd_gc_collections_total{generation=\"%d\"}", g);
    collections += h_metric(body, series);
    snprintf(series, sizeof series,
             "gcd_gc_objects_collected_total{generation=\"%d\"}", g);
    collected += h_metric(body, series);
  }
  assert_true(collections >= (double)st->collections_total);
  assert_true(collected >= (double)(st->gen[0].collected + st->gen[1].collected +
                                    st->gen[2].collected));
  assert_true(h_metric(body, "gcd_heap_frees_total{cause=\"cycle\"}") > 0);
  assert_true(h_metric(body, "gcd_gc_duration_seconds_count{generation=\"2\"}") > 0);
  assert_true(h_metric(body, "gcd_heap_objects") == 0);
  free(resp);
}

static void test_gc_stress_workers_and_a_killed_client(void **state) {
  uint64_t seed = (uint64_t)env_long("GCD_STRESS_SEED", 20261125);
  long ops = env_long("GCD_STRESS_OPS", DEFAULT_OPS);
  worker wk[WORKERS + 1];
  h_child ch[WORKERS + 1];
  h_daemon d = {0};
  gc_stats st;
  uint64_t rounds = 0, found;
  gc_client *c;
  char ready;

  print_message("stress: seed %" PRIu64 ", %d workers x %ld ops (GCD_STRESS_SEED, "
                "GCD_STRESS_OPS)\n", seed, WORKERS, ops);
  h_daemon_start(&d, "--heap-size", "256M", NULL); /* verified after each collection */
  setenv("GCD_SOCKET", d.sock, 1);
  c = h_connect(&d, "stress-admin");
  assert_ok(gc_set_threshold(c, 50, 4, 4), c); /* automatic collections, often */
  for (int k = 0; k <= WORKERS; k++) {
    /* Worker WORKERS is the victim: it runs forever until killed. */
    wk[k] = (worker){.seed = seed * 31 + (uint64_t)k, .id = k,
                     .ops = k == WORKERS ? 1L << 40 : ops};
    ch[k] = h_fork(worker_main, &wk[k]);
    h_child_read(&ch[k], &ready, 1, 10000);
  }
  usleep(300 * 1000);
  assert_int_equal(kill(ch[WORKERS].pid, SIGKILL), 0);
  assert_int_equal(h_child_wait(&ch[WORKERS], 10000), 128 + SIGKILL);
  for (unsigned k = 0; k < MAX_NAMES; k++) { /* names outlive their publisher */
    char name[32];
    snprintf(name, sizeof name, "stress-%d-%u", WORKERS, k);
    int rc = gc_unpublish(c, name);
    assert_true(rc == 0 || rc == GC_ENOENT);
  }
  collect_until_done(c, ch, WORKERS, &rounds);
  for (int k = 0; k < WORKERS; k++) {
    int got = h_read_all(ch[k].rd, &ready, 1);
    assert_int_equal(h_child_wait(&ch[k], 60000), 0); /* 100: a check failed */
    assert_int_equal(got, 0);
    assert_int_equal(ready, 'd');
  }

  /* Every worker is gone: what they held and linked is garbage now, cycles
   * included, and a full collection leaves nothing. */
  wait_alone(c);
  assert_ok(gc_collect(c, 2, &found), c);
  assert_int_equal(h_objects(c), 0);
  assert_ok(gc_get_stats(c, &st), c);
  print_message("stress: %" PRIu64 " requested collections, %" PRIu64 " in all; "
                "%" PRIu64 " + %" PRIu64 " + %" PRIu64 " unreachable found; "
                "longest loop stall %" PRIu64 " us\n", rounds, st.collections_total,
                st.gen[0].collected, st.gen[1].collected, st.gen[2].collected,
                st.loop_stall_max_ns / 1000);
  assert_true(st.collections_total > rounds); /* automatic ones ran too */
  assert_true(st.gen[0].collected + st.gen[1].collected + st.gen[2].collected > 0);
  check_metrics(&d, &st);
  gc_close(c);
  h_verify(&d);
  h_daemon_stop(&d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gc_stress_workers_and_a_killed_client),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
