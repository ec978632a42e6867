/*
 * test_share.c -- two real processes share one graph through a named root.
 *
 * A builds root -> {n1, n2 -> n3}, writes payloads, publishes root, drops
 * its own retains. B looks the name up, walks the graph with gc_get_ref(),
 * reads A's bytes, and writes some of its own that A then sees (one copy of
 * the bytes, mapped by both). A unpublishes; B's retain keeps everything
 * alive; B releases and the heap is empty again.
 */
#include <string.h>

#include "harness.h"

#define NAME "share/root"
#define WAIT_MS 10000
#define B_TEXT "written by B"

enum { N_ROOT, N_1, N_2, N_3, N_COUNT };

static const uint64_t sizes[N_COUNT] = {256, 1024, 64, 32};

static unsigned char pattern(int node, uint64_t k) {
  return (unsigned char)(node * 31 + k * 7 + 1);
}

static void fill(gc_client *c, gc_handle h, int node) {
  uint64_t n = 0;
  unsigned char *p = gc_data(c, h, &n);

  CHILD_CHECK(p != NULL && n == sizes[node]);
  for (uint64_t k = 0; k < n; k++)
    p[k] = pattern(node, k);
}

static int payload_is(gc_client *c, gc_handle h, int node) {
  uint64_t n = 0;
  const unsigned char *p = gc_data(c, h, &n);

  if (p == NULL || n != sizes[node])
    return 0;
  for (uint64_t k = 0; k < n; k++)
    if (p[k] != pattern(node, k))
      return 0;
  return 1;
}

static char wait_cmd(int in) {
  char cmd = 0;

  CHILD_CHECK(h_read_all(in, &cmd, 1) == 0);
  return cmd;
}

/* ------------------------------------------------------------ process A */

static void build(gc_client *c, gc_handle h[N_COUNT]) {
  const uint32_t slots[N_COUNT] = {3, 0, 1, 0};

  for (int i = 0; i < N_COUNT; i++) {
    CHILD_CHECK(gc_alloc(c, slots[i], sizes[i], 100 + i, &h[i]) == 0);
    fill(c, h[i], i);
  }
  CHILD_CHECK(gc_set_ref(c, h[N_ROOT], 0, h[N_1]) == 0);
  CHILD_CHECK(gc_set_ref(c, h[N_ROOT], 1, h[N_2]) == 0);
  CHILD_CHECK(gc_set_ref(c, h[N_2], 0, h[N_3]) == 0);
}

static int process_a(void *arg, int in, int out) {
  gc_client *c;
  gc_handle h[N_COUNT];
  char *p;

  CHILD_CHECK(gc_connect(arg, "share-A", &c) == 0);
  build(c, h);
  CHILD_CHECK(gc_publish(c, NAME, h[N_ROOT]) == 0);
  for (int i = 0; i < N_COUNT; i++)
    CHILD_CHECK(gc_release(c, h[i]) == 0);
  CHILD_CHECK(h_write_all(out, h, sizeof h) == 0);

  CHILD_CHECK(wait_cmd(in) == 'c'); /* B has written into n1 */
  p = gc_data(c, h[N_1], NULL);
  CHILD_CHECK(p != NULL && memcmp(p, B_TEXT, sizeof B_TEXT) == 0);
  CHILD_CHECK(payload_is(c, h[N_3], N_3));
  CHILD_CHECK(gc_unpublish(c, NAME) == 0);
  CHILD_CHECK(gc_lookup(c, NAME, &h[0]) == GC_ENOENT);
  gc_close(c);
  return h_write_all(out, "a", 1) == 0 ? 0 : 1;
}

/* ------------------------------------------------------------ process B */

static void walk(gc_client *c, gc_handle root, gc_handle h[N_COUNT]) {
  gc_handle none = 1;
  uint32_t type = 0;

  h[N_ROOT] = root;
  CHILD_CHECK(gc_get_ref(c, root, 0, &h[N_1]) == 0);
  CHILD_CHECK(gc_get_ref(c, root, 1, &h[N_2]) == 0);
  CHILD_CHECK(gc_get_ref(c, root, 2, &none) == 0 && none == 0);
  CHILD_CHECK(gc_get_ref(c, h[N_2], 0, &h[N_3]) == 0);
  for (int i = 0; i < N_COUNT; i++) {
    CHILD_CHECK(gc_describe(c, h[i], &type, NULL, NULL) == 0 && type == 100u + i);
    CHILD_CHECK(payload_is(c, h[i], i));
  }
}

static int process_b(void *arg, int in, int out) {
  gc_client *c;
  gc_handle root, h[N_COUNT];
  uint64_t count = 0;
  gc_heap_info info;

  CHILD_CHECK(gc_connect(arg, "share-B", &c) == 0);
  CHILD_CHECK(wait_cmd(in) == 'l');
  CHILD_CHECK(gc_lookup(c, NAME, &root) == 0);
  walk(c, root, h);
  memcpy(gc_data(c, h[N_1], NULL), B_TEXT, sizeof B_TEXT);
  CHILD_CHECK(h_write_all(out, h, sizeof h) == 0);

  CHILD_CHECK(wait_cmd(in) == 'r'); /* A has unpublished */
  CHILD_CHECK(gc_refcount(c, root, &count) == 0 && count == 1);
  CHILD_CHECK(payload_is(c, h[N_3], N_3));
  CHILD_CHECK(gc_release(c, root) == 0);
  CHILD_CHECK(gc_info(c, &info) == 0 && info.objects == 0);
  for (int i = 0; i < N_COUNT; i++)
    CHILD_CHECK(gc_describe(c, h[i], NULL, NULL, NULL) == GC_ESTALE);
  gc_close(c);
  return h_write_all(out, "b", 1) == 0 ? 0 : 1;
}

/* -------------------------------------------------------------- driver */

static void test_share_graph_between_processes(void **state) {
  h_daemon d = {0};
  gc_handle ha[N_COUNT], hb[N_COUNT];
  gc_client *c;
  h_child a, b;
  char done;

  h_daemon_start(&d, "--heap-size", "16M", NULL);
  c = h_connect(&d, "share-observer");
  a = h_fork(process_a, d.sock);
  b = h_fork(process_b, d.sock);

  h_child_read(&a, ha, sizeof ha, WAIT_MS);
  assert_int_equal(h_objects(c), N_COUNT); /* the name keeps all four */
  h_child_write(&b, "l", 1);
  h_child_read(&b, hb, sizeof hb, WAIT_MS);
  assert_memory_equal(ha, hb, sizeof ha); /* B found A's very objects */

  h_child_write(&a, "c", 1);
  h_child_read(&a, &done, 1, WAIT_MS);
  assert_int_equal(h_child_wait(&a, WAIT_MS), 0);
  assert_int_equal(h_objects(c), N_COUNT); /* B's retain keeps them */

  h_child_write(&b, "r", 1);
  h_child_read(&b, &done, 1, WAIT_MS);
  assert_int_equal(h_child_wait(&b, WAIT_MS), 0);
  assert_int_equal(h_objects(c), 0);
  gc_close(c);
  h_verify(&d);
  h_daemon_stop(&d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_share_graph_between_processes),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
