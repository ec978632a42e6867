/*
 * test_gcapi.c -- the collector calls of libgcclient against a real daemon:
 * cycles found and freed, thresholds, enable/disable, counts and stats,
 * save-all and the garbage list, freeze, object info, referents and
 * referrers, the client list, the daemon's identity, and who may use the
 * admin calls. Each test ends with the heap verifier.
 */
#include <grp.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

#define NOBODY 65534 /* uid of nobody and gid of nogroup on Debian */

typedef struct fixture {
  h_daemon d;
  gc_client *c;
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);

  f->c = h_open(&f->d, "16M", "test_gcapi");
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;

  h_close(&f->d, f->c);
  free(f);
  return 0;
}

static gc_handle alloc_ok(gc_client *c, uint32_t nslots) {
  gc_handle h = 0;

  assert_ok(gc_alloc(c, nslots, 16, 7, &h), c);
  return h;
}

/* Two objects referring to each other; the caller still holds both. */
static void make_cycle(gc_client *c, gc_handle *a, gc_handle *b) {
  *a = alloc_ok(c, 1);
  *b = alloc_ok(c, 1);
  assert_ok(gc_set_ref(c, *a, 0, *b), c);
  assert_ok(gc_set_ref(c, *b, 0, *a), c);
}

/* A cycle nothing outside it holds: refcounting alone never frees it. */
static void drop_cycle(gc_client *c) {
  gc_handle a, b;

  make_cycle(c, &a, &b);
  assert_ok(gc_release(c, a), c);
  assert_ok(gc_release(c, b), c);
}

static gc_stats stats_of(gc_client *c) {
  gc_stats st;

  assert_ok(gc_get_stats(c, &st), c);
  return st;
}

static void test_gcapi_collect_frees_dropped_cycle(void **state) {
  fixture *f = *state;
  uint64_t found = 99;

  assert_ok(gc_disable(f->c), f->c); /* no automatic collection in between */
  drop_cycle(f->c);
  assert_int_equal(h_objects(f->c), 2);
  assert_ok(gc_collect(f->c, 2, &found), f->c);
  assert_int_equal(found, 2);
  assert_int_equal(h_objects(f->c), 0);
  assert_ok(gc_collect(f->c, -1, &found), f->c);
  assert_int_equal(found, 0);
}

static void test_gcapi_collect_keeps_retained_cycle(void **state) {
  fixture *f = *state;
  gc_collect_info ci;
  gc_handle a, b;

  assert_ok(gc_disable(f->c), f->c);
  make_cycle(f->c, &a, &b);
  assert_ok(gc_release(f->c, b), f->c); /* a is still held: the cycle lives */
  assert_ok(gc_collect_info_get(f->c, 2, &ci), f->c);
  assert_int_equal(ci.generation, 2);
  assert_int_equal(ci.unreachable, 0);
  assert_true(ci.examined >= 2);
  assert_int_equal(h_objects(f->c), 2);
  assert_ok(gc_release(f->c, a), f->c);
  assert_ok(gc_collect_info_get(f->c, 2, &ci), f->c);
  assert_int_equal(ci.unreachable, 2);
  assert_int_equal(ci.freed, 2);
  assert_int_equal(h_objects(f->c), 0);
}

static void test_gcapi_collect_rejects_bad_generation(void **state) {
  fixture *f = *state;

  assert_gc(gc_collect(f->c, 3, NULL), GC_EINVAL, f->c);
  assert_true(strlen(gc_last_error(f->c)) > 0);
  assert_gc(gc_collect(f->c, -2, NULL), GC_EINVAL, f->c);
  assert_gc(gc_collect(NULL, 0, NULL), GC_EINVAL, NULL);
  assert_ok(gc_collect(f->c, 0, NULL), f->c); /* the connection survived */
}

static void test_gcapi_threshold_round_trip(void **state) {
  fixture *f = *state;
  uint64_t t[3], old[3];

  assert_ok(gc_get_threshold(f->c, old), f->c);
  assert_true(old[0] > 0 && old[1] > 0 && old[2] > 0);
  assert_ok(gc_set_threshold(f->c, 100, 7, 3), f->c);
  assert_ok(gc_get_threshold(f->c, t), f->c);
  assert_int_equal(t[0], 100);
  assert_int_equal(t[1], 7);
  assert_int_equal(t[2], 3);
  assert_gc(gc_set_threshold(f->c, 1ull << 31, 1, 1), GC_EINVAL, f->c);
  assert_ok(gc_get_threshold(f->c, t), f->c);
  assert_int_equal(t[0], 100); /* a refused setting changed nothing */
  assert_ok(gc_set_threshold(f->c, 10, 0, 5), f->c); /* as CPython allows */
  assert_ok(gc_get_threshold(f->c, t), f->c);
  assert_int_equal(t[1], 0);
  assert_ok(gc_set_threshold(f->c, 0, 0, 0), f->c); /* t0 0: automatic off */
  assert_ok(gc_set_threshold(f->c, old[0], old[1], old[2]), f->c);
}

static void test_gcapi_enable_disable(void **state) {
  fixture *f = *state;
  int on = -1;

  assert_ok(gc_isenabled(f->c, &on), f->c);
  assert_int_equal(on, 1); /* on by default, as in CPython */
  assert_ok(gc_disable(f->c), f->c);
  assert_ok(gc_isenabled(f->c, &on), f->c);
  assert_int_equal(on, 0);
  assert_ok(gc_enable(f->c), f->c);
  assert_ok(gc_isenabled(f->c, &on), f->c);
  assert_int_equal(on, 1);
  assert_int_equal(stats_of(f->c).enabled, 1);
}

static void test_gcapi_count_grows_with_tracked_allocations(void **state) {
  fixture *f = *state;
  int64_t before[3], after[3];
  gc_handle h[5], flat;

  assert_ok(gc_disable(f->c), f->c);
  assert_ok(gc_get_count(f->c, before), f->c);
  for (int i = 0; i < 5; i++)
    h[i] = alloc_ok(f->c, 2);
  assert_ok(gc_alloc(f->c, 0, 64, 1, &flat), f->c); /* no slots: not tracked */
  assert_ok(gc_get_count(f->c, after), f->c);
  assert_int_equal(after[0], before[0] + 5);
  assert_ok(gc_collect(f->c, 0, NULL), f->c);
  assert_ok(gc_get_count(f->c, after), f->c);
  assert_int_equal(after[0], 0);
  assert_int_equal(after[1], before[1] + 1); /* one more gen-0 collection */
  for (int i = 0; i < 5; i++)
    assert_ok(gc_release(f->c, h[i]), f->c);
  assert_ok(gc_release(f->c, flat), f->c);
}

static void test_gcapi_stats_move_after_collect(void **state) {
  fixture *f = *state;
  gc_stats before, after;

  assert_ok(gc_disable(f->c), f->c);
  before = stats_of(f->c);
  drop_cycle(f->c);
  assert_ok(gc_collect(f->c, 2, NULL), f->c);
  after = stats_of(f->c);
  assert_int_equal(after.gen[2].collections, before.gen[2].collections + 1);
  assert_int_equal(after.gen[2].collected, before.gen[2].collected + 2);
  assert_int_equal(after.collections_total, before.collections_total + 1);
  assert_int_equal(after.last.generation, 2);
  assert_int_equal(after.last.unreachable, 2);
  assert_true(after.last_end_unix_ns > 0);
  assert_int_equal(after.collecting, 0);
}

static void test_gcapi_saveall_keeps_garbage_until_cleared(void **state) {
  fixture *f = *state;
  gc_handle a, b, list[8];
  gc_object_info oi;
  uint64_t found = 0, total = 0, released = 0;
  unsigned flags = 0;
  size_t n = 0;

  assert_ok(gc_disable(f->c), f->c);
  assert_gc(gc_set_debug(f->c, 0x1), GC_EINVAL, f->c);
  assert_ok(gc_set_debug(f->c, GC_DEBUG_SAVEALL), f->c);
  assert_ok(gc_get_debug(f->c, &flags), f->c);
  assert_int_equal(flags, GC_DEBUG_SAVEALL);
  make_cycle(f->c, &a, &b);
  assert_ok(gc_release(f->c, a), f->c);
  assert_ok(gc_release(f->c, b), f->c);
  assert_ok(gc_collect(f->c, 2, &found), f->c);
  assert_int_equal(found, 2);
  assert_int_equal(h_objects(f->c), 2); /* kept on the list */
  assert_ok(gc_garbage(f->c, list, 8, &n, &total), f->c);
  assert_int_equal(n, 2);
  assert_int_equal(total, 2);
  assert_true((list[0] == a && list[1] == b) || (list[0] == b && list[1] == a));
  assert_ok(gc_garbage(f->c, list, 1, &n, &total), f->c);
  assert_int_equal(n, 1);
  assert_int_equal(total, 2);
  assert_int_equal(stats_of(f->c).garbage, 2);
  assert_ok(gc_object_info_get(f->c, a, &oi), f->c);
  assert_int_equal(oi.generation, GC_GEN_GARBAGE);
  assert_ok(gc_set_debug(f->c, 0), f->c);
  assert_ok(gc_clear_garbage(f->c, &released), f->c);
  assert_int_equal(released, 2);
  assert_int_equal(h_objects(f->c), 0);
  assert_ok(gc_garbage(f->c, list, 8, &n, &total), f->c);
  assert_int_equal(total, 0);
}

static void test_gcapi_freeze_unfreeze(void **state) {
  fixture *f = *state;
  gc_handle h = alloc_ok(f->c, 1);
  uint64_t moved = 0, frozen = 99;
  int tracked = 0, gen = -9;

  assert_ok(gc_freeze(f->c, &moved), f->c);
  assert_true(moved >= 1);
  assert_ok(gc_get_freeze_count(f->c, &frozen), f->c);
  assert_int_equal(frozen, moved);
  assert_ok(gc_is_tracked(f->c, h, &tracked, &gen), f->c);
  assert_int_equal(tracked, 1);
  assert_int_equal(gen, GC_GEN_PERMANENT);
  assert_ok(gc_unfreeze(f->c, &moved), f->c);
  assert_int_equal(moved, frozen);
  assert_ok(gc_get_freeze_count(f->c, &frozen), f->c);
  assert_int_equal(frozen, 0);
  assert_ok(gc_is_tracked(f->c, h, &tracked, &gen), f->c);
  assert_int_equal(gen, 2);
  assert_ok(gc_release(f->c, h), f->c);
}

static void test_gcapi_object_info_and_generations(void **state) {
  fixture *f = *state;
  gc_handle h = alloc_ok(f->c, 3), flat;
  gc_object_info oi;
  int tracked = -1, gen = -9;

  assert_ok(gc_disable(f->c), f->c);
  assert_ok(gc_object_info_get(f->c, h, &oi), f->c);
  assert_int_equal(oi.refcount, 1);
  assert_int_equal(oi.type, 7);
  assert_int_equal(oi.nslots, 3);
  assert_int_equal(oi.nbytes, 16);
  assert_int_equal(oi.tracked, 1);
  assert_int_equal(oi.generation, 0);
  assert_ok(gc_collect(f->c, 0, NULL), f->c);
  assert_ok(gc_is_tracked(f->c, h, &tracked, &gen), f->c);
  assert_int_equal(tracked, 1);
  assert_int_equal(gen, 1); /* survived generation 0: promoted */
  assert_ok(gc_alloc(f->c, 0, 8, 1, &flat), f->c);
  assert_ok(gc_is_tracked(f->c, flat, &tracked, &gen), f->c);
  assert_int_equal(tracked, 0);
  assert_int_equal(gen, GC_GEN_UNTRACKED);
  assert_ok(gc_release(f->c, flat), f->c);
  assert_gc(gc_object_info_get(f->c, flat, &oi), GC_ESTALE, f->c);
  assert_ok(gc_release(f->c, h), f->c);
}

static void test_gcapi_referents_and_referrers(void **state) {
  fixture *f = *state;
  gc_handle a = alloc_ok(f->c, 3), b = alloc_ok(f->c, 1), c = alloc_ok(f->c, 1);
  gc_handle out[8];
  size_t n = 0;

  assert_ok(gc_set_ref(f->c, a, 0, b), f->c);
  assert_ok(gc_set_ref(f->c, a, 2, c), f->c);
  assert_ok(gc_set_ref(f->c, c, 0, b), f->c);
  assert_ok(gc_get_referents(f->c, a, out, 8, &n), f->c);
  assert_int_equal(n, 2);
  assert_true(out[0] == b && out[1] == c); /* slot order, nulls skipped */
  assert_ok(gc_get_referents(f->c, a, out, 1, &n), f->c);
  assert_int_equal(n, 1);
  assert_ok(gc_get_referrers(f->c, b, out, 8, &n), f->c);
  assert_int_equal(n, 2);
  assert_true((out[0] == a && out[1] == c) || (out[0] == c && out[1] == a));
  assert_ok(gc_get_referrers(f->c, a, out, 8, &n), f->c);
  assert_int_equal(n, 0);
  assert_ok(gc_release(f->c, a), f->c);
  assert_ok(gc_release(f->c, b), f->c);
  assert_ok(gc_release(f->c, c), f->c);
}

static void test_gcapi_clients_lists_this_connection(void **state) {
  fixture *f = *state;
  gc_client_info ci[16];
  gc_handle h = alloc_ok(f->c, 1);
  size_t n = 0, mine = SIZE_MAX;

  assert_ok(gc_clients(f->c, ci, 16, &n), f->c);
  assert_true(n >= 1);
  for (size_t i = 0; i < n; i++)
    if (strcmp(ci[i].name, "test_gcapi") == 0)
      mine = i;
  assert_true(mine != SIZE_MAX);
  assert_int_equal(ci[mine].pid, getpid());
  assert_int_equal(ci[mine].uid, getuid());
  assert_int_equal(ci[mine].held, 1);
  assert_true(ci[mine].requests >= 2);
  assert_int_equal(ci[mine].admin, 1); /* same user as the daemon */
  assert_ok(gc_clients(f->c, ci, 0, &n), f->c);
  assert_int_equal(n, 0);
  assert_ok(gc_release(f->c, h), f->c);
}

static void test_gcapi_daemon_info(void **state) {
  fixture *f = *state;
  gc_daemon_info di;

  alloc_ok(f->c, 1); /* released at close */
  assert_ok(gc_daemon_info_get(f->c, &di), f->c);
  assert_int_equal(di.pid, f->d.pid);
  assert_string_equal(di.socket_path, f->d.sock);
  assert_true(strlen(di.version) > 0);
  assert_true(di.max_objects > 0);
  assert_true(di.allocs >= 1);
  assert_true(di.start_time_unix > 0);
  assert_true(di.sessions_total >= 1);
  assert_true(di.slots_total > 0 && di.slots_used >= 1);
}

/* ------------------------------------------------------------- permission */

typedef struct perm_case {
  const char *sock;
  int admin; /* the daemon should treat nobody as an administrator */
} perm_case;

/* Runs as nobody:nogroup: the refcounting calls work; the admin calls
 * answer as the daemon's --admin-group says. */
static int perm_child(void *arg, int in, int out) {
  const perm_case *pc = arg;
  gid_t g = NOBODY;
  gc_client *c = NULL;
  gc_handle h = 0;
  uint64_t n = 0;
  gc_stats st;
  int want = pc->admin ? 0 : GC_EPERM;

  CHILD_CHECK(setgroups(1, &g) == 0 && setgid(NOBODY) == 0 && setuid(NOBODY) == 0);
  CHILD_CHECK(gc_connect(pc->sock, "nobody", &c) == 0);
  CHILD_CHECK(gc_alloc(c, 1, 8, 1, &h) == 0);
  CHILD_CHECK(gc_refcount(c, h, &n) == 0 && n == 1);
  CHILD_CHECK(gc_get_stats(c, &st) == 0);
  CHILD_CHECK(gc_collect(c, 2, NULL) == want);
  CHILD_CHECK(gc_disable(c) == want);
  CHILD_CHECK(gc_set_threshold(c, 700, 10, 10) == want);
  CHILD_CHECK(gc_freeze(c, NULL) == want);
  CHILD_CHECK(gc_unfreeze(c, NULL) == want);
  CHILD_CHECK(gc_garbage(c, NULL, 0, NULL, NULL) == want);
  CHILD_CHECK(gc_release(c, h) == 0);
  gc_close(c);
  return 0;
}

static void run_perm_case(int admin) {
  h_daemon d = {0};
  perm_case pc;
  h_child ch;

  h_daemon_prepare(&d);
  assert_int_equal(chmod(d.dir, 0711), 0); /* nobody may reach the socket */
  if (admin)
    h_daemon_start(&d, "--socket-group", "nogroup", "--admin-group", "nogroup", NULL);
  else
    h_daemon_start(&d, "--socket-group", "nogroup", NULL);
  pc = (perm_case){.sock = d.sock, .admin = admin};
  ch = h_fork(perm_child, &pc);
  assert_int_equal(h_child_wait(&ch, 30000), 0);
  h_verify(&d);
  h_daemon_stop(&d);
}

static void test_gcapi_admin_calls_need_permission(void **state) {
  (void)state;
  if (geteuid() != 0)
    skip(); /* needs a second uid */
  run_perm_case(0);
  run_perm_case(1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_gcapi_collect_frees_dropped_cycle, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gcapi_collect_keeps_retained_cycle, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gcapi_collect_rejects_bad_generation, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_gcapi_threshold_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gcapi_enable_disable, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gcapi_count_grows_with_tracked_allocations, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_gcapi_stats_move_after_collect, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gcapi_saveall_keeps_garbage_until_cleared, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_gcapi_freeze_unfreeze, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gcapi_object_info_and_generations, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gcapi_referents_and_referrers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gcapi_clients_lists_this_connection, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_gcapi_daemon_info, setup, teardown),
      cmocka_unit_test(test_gcapi_admin_calls_need_permission),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
