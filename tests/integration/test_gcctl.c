/*
 * test_gcctl.c -- the gcctl command (GCCTL_BINARY) run against a real
 * daemon: what it prints, human and --json, and its exit codes. The test
 * makes objects with the library and checks that gcctl sees them.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <grp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "harness.h"

#define RUN_TIMEOUT_MS 20000
#define NOBODY 65534 /* uid of nobody and gid of nogroup on Debian */
#define OUT_MAX 65536

typedef struct fixture {
  h_daemon d;
  gc_client *c;
  char out[OUT_MAX]; /* stdout of the last run */
  char err[OUT_MAX]; /* its stderr */
  int as_nobody;     /* run gcctl as nobody:nogroup (root only) */
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);

  f->c = h_open(&f->d, "16M", "test_gcctl");
  assert_ok(gc_disable(f->c), f->c); /* collections only when asked */
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;

  h_close(&f->d, f->c);
  free(f);
  return 0;
}

/* Reads both pipes to EOF (bounded), NUL-terminated. */
static void drain(int out, int err, char *obuf, char *ebuf) {
  struct pollfd p[2] = {{.fd = out, .events = POLLIN}, {.fd = err, .events = POLLIN}};
  size_t n[2] = {0, 0};
  char *buf[2] = {obuf, ebuf};
  int64_t deadline = h_now_ms() + RUN_TIMEOUT_MS;

  while ((p[0].fd >= 0 || p[1].fd >= 0) && h_now_ms() < deadline) {
    if (poll(p, 2, 100) <= 0)
      continue;
    for (int i = 0; i < 2; i++) {
      ssize_t r;

      if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP)))
        continue;
      r = read(p[i].fd, buf[i] + n[i], OUT_MAX - 1 - n[i]);
      if (r <= 0) {
        close(p[i].fd);
        p[i].fd = -1;
      } else {
        n[i] += (size_t)r;
      }
    }
  }
  obuf[n[0]] = ebuf[n[1]] = '\0';
}

/* Runs gcctl with argv (NULL-terminated, without the program name); when
 * sock is not NULL, "-s sock" goes first. Returns its exit status. */
static int run_argv(fixture *f, const char *sock, const char *const *args) {
  const char *argv[32] = {GCCTL_BINARY};
  int n = 1, o[2], e[2], status;
  pid_t pid;

  if (sock != NULL) {
    argv[n++] = "-s";
    argv[n++] = sock;
  }
  while (*args != NULL && n < 31)
    argv[n++] = *args++;
  argv[n] = NULL;
  assert_int_equal(pipe(o), 0);
  assert_int_equal(pipe(e), 0);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    gid_t g = NOBODY;

    dup2(o[1], 1);
    dup2(e[1], 2);
    if (f->as_nobody && (setgroups(1, &g) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0))
      _exit(126);
    execv(GCCTL_BINARY, (char *const *)argv);
    _exit(127);
  }
  close(o[1]);
  close(e[1]);
  drain(o[0], e[0], f->out, f->err);
  status = h_wait_pid(pid, RUN_TIMEOUT_MS);
  assert_true(status != -1);
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0 && f->err[0])
    print_message("gcctl exit %d: %s", WEXITSTATUS(status), f->err);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* gcctl against the fixture's daemon with the given words. */
#define GCCTL(f, ...) run_argv((f), (f)->d.sock, (const char *const[]){__VA_ARGS__, NULL})

/* The unsigned number after `"key":` in JSON text; fails when absent. */
static uint64_t json_u64(const char *text, const char *key) {
  char pat[64];
  const char *p;

  snprintf(pat, sizeof pat, "\"%s\":", key);
  p = strstr(text, pat);
  if (p == NULL)
    fail_msg("no %s in %s", pat, text);
  return strtoull(p + strlen(pat), NULL, 10);
}

/* The number after a human table's key at the start of a line. */
static uint64_t human_u64(const char *text, const char *key) {
  size_t len = strlen(key);

  for (const char *p = text; p != NULL && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
    if (strncmp(p, key, len) == 0 && p[len] == ' ')
      return strtoull(p + len, NULL, 10);
  fail_msg("no line '%s' in %s", key, text);
  return 0;
}

static int count_lines(const char *text) {
  int n = 0;

  for (; *text; text++)
    n += *text == '\n';
  return n;
}

static void drop_cycle(gc_client *c, gc_handle *a, gc_handle *b) {
  assert_ok(gc_alloc(c, 1, 8, 1, a), c);
  assert_ok(gc_alloc(c, 1, 8, 1, b), c);
  assert_ok(gc_set_ref(c, *a, 0, *b), c);
  assert_ok(gc_set_ref(c, *b, 0, *a), c);
  assert_ok(gc_release(c, *a), c);
  assert_ok(gc_release(c, *b), c);
}

static const char *hex(char *buf, gc_handle h) {
  snprintf(buf, 24, "0x%016llx", (unsigned long long)h);
  return buf;
}

/* ---------------------------------------------------------------- tests */

static void test_gcctl_ping_and_info_show_pid(void **state) {
  fixture *f = *state;
  char pid[32];

  snprintf(pid, sizeof pid, "%d", (int)f->d.pid);
  assert_int_equal(GCCTL(f, "ping"), 0);
  assert_non_null(strstr(f->out, pid));
  assert_int_equal(GCCTL(f, "info"), 0);
  assert_non_null(strstr(f->out, pid));
  assert_non_null(strstr(f->out, f->d.sock));
  assert_int_equal(GCCTL(f, "info", "--json"), 0);
  assert_int_equal(json_u64(f->out, "pid"), f->d.pid);
  assert_int_equal(f->out[0], '{');
  assert_int_equal(count_lines(f->out), 1);
}

static void test_gcctl_socket_from_environment(void **state) {
  fixture *f = *state;

  setenv("GCD_SOCKET", f->d.sock, 1);
  assert_int_equal(run_argv(f, NULL, (const char *const[]){"ping", NULL}), 0);
  setenv("GCD_SOCKET", "/nonexistent/gcd.sock", 1);
  assert_int_equal(run_argv(f, NULL, (const char *const[]){"ping", NULL}), 69);
  unsetenv("GCD_SOCKET");
}

static void test_gcctl_unreachable_exits_69(void **state) {
  fixture *f = *state;

  assert_int_equal(run_argv(f, "/nonexistent/gcd.sock", (const char *const[]){"ping", NULL}),
                   69);
  assert_non_null(strstr(f->err, "gcctl: "));
}

static void test_gcctl_bad_usage_exits_64(void **state) {
  fixture *f = *state;

  assert_int_equal(run_argv(f, NULL, (const char *const[]){NULL}), 64);
  assert_int_equal(GCCTL(f, "frobnicate"), 64);
  assert_int_equal(GCCTL(f, "collect", "-g", "7"), 64);
  assert_int_equal(GCCTL(f, "collect", "--bogus"), 64);
  assert_int_equal(GCCTL(f, "object", "not-a-handle"), 64);
  assert_int_equal(GCCTL(f, "object"), 64);
  assert_int_equal(GCCTL(f, "stats", "x"), 64);
  assert_int_equal(GCCTL(f, "debug", "saveall", "maybe"), 64);
  assert_non_null(strstr(f->err, "gcctl: "));
}

/* A socket that takes connections but never answers (nobody accepts them):
 * --timeout gives up with 75, the sysexits code for a temporary failure;
 * a timeout that is not a number of seconds is bad usage. */
static void test_gcctl_timeout_exits_75(void **state) {
  fixture *f = *state;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  char path[sizeof f->d.dir + 16];
  int ls = socket(AF_UNIX, SOCK_STREAM, 0);
  int64_t t0;

  snprintf(path, sizeof path, "%s/mute.sock", f->d.dir);
  memcpy(sa.sun_path, path, strlen(path) + 1);
  assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(listen(ls, 4), 0);
  t0 = h_now_ms();
  assert_int_equal(run_argv(f, path, (const char *const[]){"--timeout", "0.3", "ping", NULL}),
                   75);
  assert_true(h_now_ms() - t0 < 5000);
  assert_non_null(strstr(f->err, "300 ms"));
  assert_int_equal(GCCTL(f, "--timeout", "soon", "ping"), 64);
  assert_int_equal(GCCTL(f, "-t", "5", "ping"), 0); /* a live daemon answers */
  close(ls);
  unlink(path);
}

static void test_gcctl_refused_request_exits_1(void **state) {
  fixture *f = *state;

  assert_int_equal(GCCTL(f, "threshold", "5", "2147483648"), 1); /* over 2^31 - 1 */
  assert_int_equal(GCCTL(f, "object", "0x0000000000000001"), 1);
  assert_non_null(strstr(f->err, "gcctl: object: "));
}

static void test_gcctl_collect_finds_cycle(void **state) {
  fixture *f = *state;
  gc_handle a, b;

  drop_cycle(f->c, &a, &b);
  assert_int_equal(GCCTL(f, "collect"), 0);
  assert_int_equal(human_u64(f->out, "unreachable"), 2);
  assert_int_equal(human_u64(f->out, "freed"), 2);
  assert_int_equal(h_objects(f->c), 0);
  drop_cycle(f->c, &a, &b);
  assert_int_equal(GCCTL(f, "collect", "-g", "2", "--json"), 0);
  assert_int_equal(json_u64(f->out, "unreachable"), 2);
  assert_int_equal(json_u64(f->out, "generation"), 2);
  assert_int_equal(h_objects(f->c), 0);
  assert_int_equal(GCCTL(f, "collect", "-g", "0", "--json"), 0);
  assert_int_equal(json_u64(f->out, "generation"), 0);
}

static void test_gcctl_isenabled_exit_codes(void **state) {
  fixture *f = *state;

  assert_int_equal(GCCTL(f, "isenabled"), 1); /* the fixture disabled it */
  assert_int_equal(GCCTL(f, "enable"), 0);
  assert_int_equal(GCCTL(f, "isenabled"), 0);
  assert_int_equal(GCCTL(f, "isenabled", "--json"), 0);
  assert_non_null(strstr(f->out, "\"enabled\":true"));
  assert_int_equal(GCCTL(f, "disable"), 0);
  assert_int_equal(GCCTL(f, "isenabled"), 1);
}

static void test_gcctl_threshold_set_and_read(void **state) {
  fixture *f = *state;
  uint64_t t[3];

  assert_ok(gc_get_threshold(f->c, t), f->c);
  assert_int_equal(GCCTL(f, "threshold", "300", "7"), 0);
  assert_int_equal(GCCTL(f, "threshold", "--json"), 0);
  {
    char want[64];

    snprintf(want, sizeof want, "{\"threshold\":[300,7,%llu]}\n", (unsigned long long)t[2]);
    assert_string_equal(f->out, want);
  }
  assert_int_equal(GCCTL(f, "threshold"), 0);
  assert_int_equal(strtoull(f->out, NULL, 10), 300);
  assert_ok(gc_get_threshold(f->c, t), f->c);
  assert_int_equal(t[0], 300);
  assert_int_equal(t[1], 7);
}

static void test_gcctl_stats_json_and_interval(void **state) {
  fixture *f = *state;

  assert_int_equal(GCCTL(f, "stats", "--json"), 0);
  assert_int_equal(f->out[0], '{');
  assert_int_equal(count_lines(f->out), 1);
  assert_non_null(strstr(f->out, "\"generations\":[{"));
  assert_int_equal(json_u64(f->out, "threshold"), 700);
  assert_int_equal(GCCTL(f, "stats"), 0);
  assert_non_null(strstr(f->out, "threshold"));
  assert_int_equal(GCCTL(f, "stats", "0.1", "3", "--json"), 0);
  assert_int_equal(count_lines(f->out), 3);
  assert_int_equal(GCCTL(f, "stats", "0.1", "3"), 0);
  assert_int_equal(count_lines(f->out), 4); /* a header and three rows */
}

static void test_gcctl_stats_interval_ends_on_sigint(void **state) {
  fixture *f = *state;
  const char *argv[] = {GCCTL_BINARY, "-s", f->d.sock, "stats", "0.05", NULL};
  pid_t pid = fork();
  int status;

  assert_true(pid >= 0);
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);

    dup2(null, 1);
    execv(GCCTL_BINARY, (char *const *)argv);
    _exit(127);
  }
  usleep(300 * 1000);
  assert_int_equal(kill(pid, SIGINT), 0);
  status = h_wait_pid(pid, RUN_TIMEOUT_MS);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_gcctl_garbage_with_saveall(void **state) {
  fixture *f = *state;
  char ha[24], hb[24];
  gc_handle a, b;

  assert_int_equal(GCCTL(f, "debug", "saveall", "on"), 0);
  assert_int_equal(GCCTL(f, "debug", "--json"), 0);
  assert_non_null(strstr(f->out, "\"saveall\":true"));
  drop_cycle(f->c, &a, &b);
  assert_int_equal(GCCTL(f, "collect"), 0);
  assert_int_equal(GCCTL(f, "garbage", "--json"), 0);
  assert_int_equal(json_u64(f->out, "total"), 2);
  assert_non_null(strstr(f->out, hex(ha, a)));
  assert_non_null(strstr(f->out, hex(hb, b)));
  assert_int_equal(GCCTL(f, "garbage", "--limit", "1"), 0);
  assert_int_equal(count_lines(f->out), 2); /* the total and one handle */
  assert_int_equal(GCCTL(f, "debug", "saveall", "off"), 0);
  assert_int_equal(GCCTL(f, "garbage", "--clear", "--json"), 0);
  assert_int_equal(json_u64(f->out, "released"), 2);
  assert_int_equal(h_objects(f->c), 0);
}

static void test_gcctl_object_referents(void **state) {
  fixture *f = *state;
  char ha[24], hb[24], dec[32];
  gc_handle a, b;

  assert_ok(gc_alloc(f->c, 2, 8, 5, &a), f->c);
  assert_ok(gc_alloc(f->c, 1, 8, 5, &b), f->c);
  assert_ok(gc_set_ref(f->c, a, 1, b), f->c);
  assert_int_equal(GCCTL(f, "object", hex(ha, a), "--referents", "--json"), 0);
  assert_int_equal(json_u64(f->out, "nslots"), 2);
  assert_int_equal(json_u64(f->out, "type"), 5);
  assert_non_null(strstr(f->out, hex(hb, b)));
  assert_int_equal(GCCTL(f, "object", hex(hb, b), "--referrers"), 0);
  assert_non_null(strstr(f->out, ha));
  snprintf(dec, sizeof dec, "%llu", (unsigned long long)b);
  assert_int_equal(GCCTL(f, "object", dec), 0);
  assert_int_equal(human_u64(f->out, "refcount"), 2);
  assert_ok(gc_release(f->c, a), f->c);
  assert_ok(gc_release(f->c, b), f->c);
}

static void test_gcctl_freeze_commands(void **state) {
  fixture *f = *state;
  gc_handle a;

  assert_ok(gc_alloc(f->c, 1, 8, 1, &a), f->c);
  assert_int_equal(GCCTL(f, "freeze", "--json"), 0);
  assert_int_equal(json_u64(f->out, "moved"), 1);
  assert_int_equal(GCCTL(f, "freeze-count"), 0);
  assert_int_equal(strtoull(f->out, NULL, 10), 1);
  assert_int_equal(GCCTL(f, "unfreeze"), 0);
  assert_int_equal(GCCTL(f, "freeze-count", "--json"), 0);
  assert_int_equal(json_u64(f->out, "frozen"), 0);
  assert_ok(gc_release(f->c, a), f->c);
}

static void test_gcctl_clients_lists_this_connection(void **state) {
  fixture *f = *state;
  char pid[32];

  snprintf(pid, sizeof pid, "\"pid\":%d,", (int)getpid());
  assert_int_equal(GCCTL(f, "clients", "--json"), 0);
  assert_non_null(strstr(f->out, "\"name\":\"test_gcctl\""));
  assert_non_null(strstr(f->out, pid));
  assert_int_equal(GCCTL(f, "clients"), 0);
  assert_non_null(strstr(f->out, "test_gcctl"));
  assert_int_equal(GCCTL(f, "verify"), 0);
}

static void test_gcctl_help_for_every_command(void **state) {
  static const char *cmds[] = {"ping", "info", "stats", "collect", "enable", "disable",
                               "isenabled", "threshold", "debug", "garbage", "freeze",
                               "unfreeze", "freeze-count", "object", "clients", "verify"};
  fixture *f = *state;

  assert_int_equal(GCCTL(f, "--help"), 0);
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    assert_non_null(strstr(f->out, cmds[i]));
  }
  assert_int_equal(GCCTL(f, "--version"), 0);
  assert_non_null(strstr(f->out, "gcctl "));
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    char *copy;

    assert_int_equal(run_argv(f, "/nonexistent", (const char *const[]){cmds[i], "--help",
                                                                       NULL}), 0);
    assert_int_equal(strncmp(f->out, "Usage: gcctl", 12), 0);
    copy = strstr(f->out, cmds[i]);
    assert_non_null(copy);
  }
}

/* A daemon whose socket nobody:nogroup may open; admin when asked. */
static void start_shared_daemon(fixture *f, int admin) {
  h_daemon_prepare(&f->d);
  assert_int_equal(chmod(f->d.dir, 0711), 0);
  if (admin)
    h_daemon_start(&f->d, "--socket-group", "nogroup", "--admin-group", "nogroup", NULL);
  else
    h_daemon_start(&f->d, "--socket-group", "nogroup", NULL);
}

static void test_gcctl_not_admin_exits_77(void **state) {
  fixture *f = calloc(1, sizeof *f);

  (void)state;
  if (geteuid() != 0) {
    free(f);
    skip(); /* needs a second uid */
  }
  start_shared_daemon(f, 0);
  f->as_nobody = 1;
  assert_int_equal(GCCTL(f, "ping"), 0);
  assert_int_equal(GCCTL(f, "stats", "--json"), 0);
  assert_int_equal(GCCTL(f, "collect"), 77);
  assert_non_null(strstr(f->err, "gcctl: collect: "));
  assert_int_equal(GCCTL(f, "disable"), 77);
  assert_int_equal(GCCTL(f, "clients", "--json"), 0);
  assert_non_null(strstr(f->out, "\"admin\":false"));
  h_daemon_stop(&f->d);
  memset(&f->d, 0, sizeof f->d);
  start_shared_daemon(f, 1);
  assert_int_equal(GCCTL(f, "collect"), 0);
  f->as_nobody = 0;
  h_verify(&f->d);
  h_daemon_stop(&f->d);
  free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_gcctl_ping_and_info_show_pid, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gcctl_socket_from_environment, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gcctl_unreachable_exits_69, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gcctl_bad_usage_exits_64, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gcctl_timeout_exits_75, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gcctl_refused_request_exits_1, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gcctl_collect_finds_cycle, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gcctl_isenabled_exit_codes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gcctl_threshold_set_and_read, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gcctl_stats_json_and_interval, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gcctl_stats_interval_ends_on_sigint, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_gcctl_garbage_with_saveall, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gcctl_object_referents, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gcctl_freeze_commands, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gcctl_clients_lists_this_connection, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_gcctl_help_for_every_command, setup, teardown),
      cmocka_unit_test(test_gcctl_not_admin_exits_77),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
