/*
 * test_crash.c -- a client killed with SIGKILL in the middle of its work.
 *
 * The daemon must release everything the dead client held -- and nothing
 * else: objects the parent holds, objects the child linked into the
 * parent's graph, and graphs reachable from a named root all survive with
 * exact counts and intact payloads; the child's private objects are freed.
 */
#include <signal.h>
#include <string.h>

#include "harness.h"

#define PRIVATE_OBJECTS 5000
#define LINKED 64       /* child objects the child links into the hub */
#define CHURN 1000      /* objects per batch while the child is killed */
#define WAIT_MS 20000
#define NAME "crash/graph"

typedef struct shared_graph {
  const char *sock;
  gc_handle hub;  /* parent's: LINKED slots */
  gc_handle leaf; /* parent's: every child object points at it */
} shared_graph;

static unsigned char child_pattern(uint64_t k) {
  return (unsigned char)(0x5a ^ k);
}

/* Runs b and checks every op succeeded; the alloc results go to out. */
static void run_all_ok(gc_batch *b, gc_handle *out) {
  CHILD_CHECK(gc_batch_run(b) == 0);
  for (size_t i = 0; i < gc_batch_size(b); i++)
    CHILD_CHECK(gc_batch_result(b, i, out ? &out[i] : NULL) == 0);
  gc_batch_reset(b);
}

/* n objects of one slot, each pointing at leaf; the child holds them all. */
static void alloc_linked_to(gc_batch *b, gc_handle leaf, size_t n, gc_handle *h) {
  for (size_t i = 0; i < n; i++)
    CHILD_CHECK(gc_batch_alloc(b, 1, 32, 7) == 0);
  run_all_ok(b, h);
  for (size_t i = 0; i < n; i++)
    CHILD_CHECK(gc_batch_set_ref(b, h[i], 0, leaf) == 0);
  run_all_ok(b, NULL);
}

/* Allocates, links and releases without end, so the kill lands mid-work. */
static void churn_forever(gc_client *c, gc_batch *b, gc_handle leaf, int out) {
  static gc_handle h[2][CHURN];

  alloc_linked_to(b, leaf, CHURN, h[0]);
  CHILD_CHECK(h_write_all(out, "w", 1) == 0);
  for (unsigned round = 1;; round++) {
    alloc_linked_to(b, leaf, CHURN, h[round & 1]);
    for (size_t i = 0; i < CHURN; i++)
      CHILD_CHECK(gc_batch_release(b, h[(round - 1) & 1][i]) == 0);
    run_all_ok(b, NULL);
  }
}

static int crash_child(void *arg, int in, int out) {
  const shared_graph *g = arg;
  static gc_handle h[PRIVATE_OBJECTS];
  gc_client *c;
  gc_batch *b;

  CHILD_CHECK(gc_connect(g->sock, "crash-child", &c) == 0);
  CHILD_CHECK(gc_batch_new(c, &b) == 0);
  alloc_linked_to(b, g->leaf, PRIVATE_OBJECTS, h);
  for (size_t i = 0; i < LINKED; i++) {
    unsigned char *p = gc_data(c, h[i], NULL);

    for (uint64_t k = 0; k < 32; k++)
      p[k] = child_pattern(k);
    CHILD_CHECK(gc_batch_set_ref(b, g->hub, (uint32_t)i, h[i]) == 0);
  }
  run_all_ok(b, NULL);
  CHILD_CHECK(h_write_all(out, h, LINKED * sizeof h[0]) == 0);
  churn_forever(c, b, g->leaf, out);
  return 1;
}

static uint64_t refcount_of(gc_client *c, gc_handle h) {
  uint64_t n = 0;

  assert_ok(gc_refcount(c, h, &n), c);
  return n;
}

static void assert_payload(gc_client *c, gc_handle h, uint64_t size, unsigned char (*pat)(uint64_t)) {
  uint64_t n = 0;
  const unsigned char *p = gc_data(c, h, &n);

  assert_non_null(p);
  assert_int_equal(n, size);
  for (uint64_t k = 0; k < n; k++)
    assert_int_equal(p[k], pat(k));
}

static unsigned char parent_pattern(uint64_t k) {
  return (unsigned char)(k * 13 + 5);
}

static gc_handle parent_object(gc_client *c, uint32_t nslots, uint64_t size) {
  gc_handle h;
  unsigned char *p;

  assert_ok(gc_alloc(c, nslots, size, 1, &h), c);
  p = gc_data(c, h, NULL);
  for (uint64_t k = 0; k < size; k++)
    p[k] = parent_pattern(k);
  return h;
}

static void kill_child(h_child *ch) {
  char working;

  h_child_read(ch, &working, 1, WAIT_MS); /* it is in its endless loop */
  usleep(30000);                          /* a few rounds in */
  assert_int_equal(kill(ch->pid, SIGKILL), 0);
  assert_int_equal(h_child_wait(ch, WAIT_MS), 128 + SIGKILL);
}

static void test_crash_dead_client_releases_only_its_own(void **state) {
  h_daemon d = {0};
  gc_handle linked[LINKED];
  shared_graph g;
  gc_client *c;
  h_child ch;

  h_daemon_start(&d, "--heap-size", "64M", NULL);
  c = h_connect(&d, "crash-parent");
  g = (shared_graph){d.sock, parent_object(c, LINKED, 64), parent_object(c, 0, 128)};
  ch = h_fork(crash_child, &g);
  h_child_read(&ch, linked, sizeof linked, WAIT_MS);
  assert_true(h_objects(c) >= 2 + PRIVATE_OBJECTS);
  kill_child(&ch);

  /* Left: hub, leaf, and the LINKED objects the hub references. */
  h_wait_objects(c, 2 + LINKED, WAIT_MS);
  assert_int_equal(refcount_of(c, g.hub), 1);
  assert_int_equal(refcount_of(c, g.leaf), 1 + LINKED);
  assert_payload(c, g.hub, 64, parent_pattern);
  assert_payload(c, g.leaf, 128, parent_pattern);
  for (size_t i = 0; i < LINKED; i++) {
    gc_handle got = 0;

    assert_ok(gc_get_ref(c, g.hub, (uint32_t)i, &got), c);
    assert_int_equal(got, linked[i]);
    assert_int_equal(refcount_of(c, linked[i]), 1);
    assert_payload(c, linked[i], 32, child_pattern);
  }
  h_verify(&d);

  assert_ok(gc_release(c, g.hub), c);
  assert_ok(gc_release(c, g.leaf), c);
  assert_int_equal(h_objects(c), 0);
  gc_close(c);
  h_verify(&d);
  h_daemon_stop(&d);
}

/* The child publishes root -> {a, b}, keeps the only client retain (on
 * root), and dies working: the name alone must keep the graph. */
static int named_child(void *arg, int in, int out) {
  const shared_graph *g = arg;
  gc_handle h[3];
  gc_client *c;
  gc_batch *b;

  CHILD_CHECK(gc_connect(g->sock, "crash-named", &c) == 0);
  CHILD_CHECK(gc_batch_new(c, &b) == 0);
  CHILD_CHECK(gc_batch_alloc(b, 2, 16, 1) == 0 && gc_batch_alloc(b, 0, 16, 2) == 0 &&
              gc_batch_alloc(b, 0, 16, 3) == 0);
  run_all_ok(b, h);
  for (int i = 0; i < 3; i++)
    memset(gc_data(c, h[i], NULL), 'A' + i, 16);
  CHILD_CHECK(gc_batch_set_ref(b, h[0], 0, h[1]) == 0 && gc_batch_set_ref(b, h[0], 1, h[2]) == 0 &&
              gc_batch_release(b, h[1]) == 0 && gc_batch_release(b, h[2]) == 0);
  run_all_ok(b, NULL);
  CHILD_CHECK(gc_publish(c, NAME, h[0]) == 0);
  CHILD_CHECK(h_write_all(out, h, sizeof h) == 0);
  churn_forever(c, b, h[1], out);
  return 1;
}

static void test_crash_named_graph_survives_its_only_holder(void **state) {
  h_daemon d = {0};
  gc_handle h[3], root = 0;
  shared_graph g;
  gc_client *c;
  h_child ch;

  h_daemon_start(&d, "--heap-size", "64M", NULL);
  c = h_connect(&d, "crash-parent");
  g = (shared_graph){.sock = d.sock};
  ch = h_fork(named_child, &g);
  h_child_read(&ch, h, sizeof h, WAIT_MS);
  kill_child(&ch);

  h_wait_objects(c, 3, WAIT_MS);
  assert_int_equal(refcount_of(c, h[0]), 1); /* the name */
  assert_int_equal(refcount_of(c, h[1]), 1);
  assert_int_equal(refcount_of(c, h[2]), 1);
  for (int i = 0; i < 3; i++) {
    const char *p = gc_data(c, h[i], NULL);

    assert_non_null(p);
    assert_int_equal(p[0], 'A' + i);
    assert_int_equal(p[15], 'A' + i);
  }
  assert_ok(gc_lookup(c, NAME, &root), c);
  assert_int_equal(root, h[0]);
  h_verify(&d);

  assert_ok(gc_unpublish(c, NAME), c);
  assert_ok(gc_release(c, root), c);
  assert_int_equal(h_objects(c), 0);
  gc_close(c);
  h_verify(&d);
  h_daemon_stop(&d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_crash_dead_client_releases_only_its_own),
      cmocka_unit_test(test_crash_named_graph_survives_its_only_holder),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
