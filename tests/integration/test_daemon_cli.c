/*
 * test_daemon_cli.c -- the gcd command line and life cycle as a user sees
 * them: --help/--version, usage errors (exit 64), the config file and its
 * precedence, --check-config (0, 64, 78), one daemon per socket,
 * stale socket files, clean stops on SIGTERM/SIGINT, the socket's mode,
 * what a connected client sees when the daemon goes away, and a daemon that
 * stops polling for requests once its clients fall quiet.
 */
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define RUN_MS 10000

static void test_daemon_cli_help_and_version(void **state) {
  assert_int_equal(h_run_gcd((const char *[]){"--help", NULL}, RUN_MS), 0);
  assert_int_equal(h_run_gcd((const char *[]){"--version", NULL}, RUN_MS), 0);
}

static void test_daemon_cli_usage_errors_exit_64(void **state) {
  h_daemon d = {0};

  h_daemon_prepare(&d);
  assert_int_equal(h_run_gcd((const char *[]){"--socket", d.sock, "--heap-size", "banana",
                                              NULL}, RUN_MS), 64);
  assert_int_equal(h_run_gcd((const char *[]){"--socket", d.sock, "--heap-size", "12Q",
                                              NULL}, RUN_MS), 64);
  assert_int_equal(h_run_gcd((const char *[]){"--no-such-flag", NULL}, RUN_MS), 64);
  assert_int_not_equal(access(d.sock, F_OK), 0); /* nothing was created */
  rmdir(d.dir);
}

static void test_daemon_cli_refuses_a_live_socket(void **state) {
  h_daemon d = {0};
  gc_client *c;
  gc_handle h;

  h_daemon_start(&d, "--heap-size", "1M", NULL);
  c = h_connect(&d, "first-daemon-client");
  assert_ok(gc_alloc(c, 0, 8, 0, &h), c);
  assert_int_equal(h_run_gcd((const char *[]){"--socket", d.sock, "--heap-size", "1M",
                                              NULL}, RUN_MS), 1);
  /* The first daemon still owns the socket and still serves this client. */
  assert_int_equal(h_objects(c), 1);
  gc_close(c);
  c = h_connect(&d, "after");
  assert_int_equal(h_objects(c), 0);
  gc_close(c);
  h_verify(&d);
  h_daemon_stop(&d);
}

/* A socket file nobody listens on (a daemon that died) is replaced. */
static void test_daemon_cli_replaces_a_stale_socket(void **state) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  h_daemon d = {0};
  int fd;

  h_daemon_prepare(&d);
  memcpy(sa.sun_path, d.sock, strlen(d.sock) + 1);
  fd = socket(AF_UNIX, SOCK_STREAM, 0);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  close(fd);
  assert_int_equal(access(d.sock, F_OK), 0);

  h_daemon_start(&d, "--heap-size", "1M", NULL);
  h_verify(&d);
  h_daemon_stop(&d);
}

static void test_daemon_cli_socket_mode_0600(void **state) {
  h_daemon d = {0};
  struct stat st;

  h_daemon_start(&d, "--heap-size", "1M", NULL);
  assert_int_equal(stat(d.sock, &st), 0);
  assert_true(S_ISSOCK(st.st_mode));
  assert_int_equal(st.st_mode & 07777, 0600);
  assert_int_equal(st.st_uid, getuid());
  h_verify(&d);
  h_daemon_stop(&d);
}

/* h_daemon_stop() asserts exit 0 and the socket removed after SIGTERM;
 * SIGINT must do the same, with a client still connected. */
static void test_daemon_cli_sigint_stops_cleanly(void **state) {
  h_daemon d = {0};
  gc_client *c;

  h_daemon_start(&d, "--heap-size", "1M", NULL);
  c = h_connect(&d, "connected");
  h_verify(&d);
  assert_int_equal(h_daemon_signal(&d, SIGINT), 0);
  assert_int_not_equal(access(d.sock, F_OK), 0);
  rmdir(d.dir);
  gc_close(c);
}

static void test_daemon_cli_client_sees_closed_after_stop(void **state) {
  h_daemon d = {0};
  gc_client *c;
  gc_handle h;
  gc_batch *b;

  h_daemon_start(&d, "--heap-size", "1M", NULL);
  c = h_connect(&d, "left-behind");
  assert_ok(gc_alloc(c, 0, 8, 0, &h), c);
  assert_ok(gc_batch_new(c, &b), c);
  h_verify(&d);
  h_daemon_stop(&d);

  assert_gc(gc_retain(c, h), GC_ECLOSED, c);
  assert_true(strlen(gc_last_error(c)) > 0);
  /* The connection stays dead: every later call says so, never SIGPIPE. */
  assert_gc(gc_alloc(c, 0, 8, 0, &h), GC_ECLOSED, c);
  assert_gc(gc_info(c, NULL), GC_ECLOSED, c);
  assert_ok(gc_batch_release(b, h), c);
  assert_gc(gc_batch_run(b), GC_ECLOSED, c);
  gc_batch_free(b);
  gc_close(c);
}

/* CPU time (user + system) the process has used, in ms. */
static long cpu_ms(pid_t pid) {
  char path[64], line[1024], *p;
  unsigned long long ut = 0, st = 0;
  FILE *f;

  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  assert_non_null(f = fopen(path, "r"));
  assert_non_null(fgets(line, sizeof line, f));
  fclose(f);
  assert_non_null(p = strrchr(line, ')'));
  assert_int_equal(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                          &ut, &st), 2);
  return (long)((ut + st) * 1000 / (unsigned long long)sysconf(_SC_CLK_TCK));
}

/* Requests back to back, then none: with the longest spin window, polling
 * (a busy CPU) may outlast the last request by 1 ms at most, so over the
 * next 600 ms the daemon uses next to no CPU. A daemon that kept polling
 * would use all 600. Also with polling off. */
static void test_daemon_cli_quiet_daemon_stops_polling(void **state) {
  static const char *spins[] = {"1000", "0"};

  for (size_t i = 0; i < sizeof spins / sizeof *spins; i++) {
    h_daemon d = {0};
    gc_client *c;
    gc_handle h;
    long before;

    h_daemon_start(&d, "--heap-size", "1M", "--spin-us", spins[i], NULL);
    c = h_connect(&d, "then-quiet");
    assert_ok(gc_alloc(c, 0, 8, 0, &h), c);
    for (int k = 0; k < 20000; k++) {
      assert_ok(gc_retain(c, h), c);
      assert_ok(gc_release(c, h), c);
    }
    usleep(50000);
    before = cpu_ms(d.pid);
    usleep(600000);
    if (cpu_ms(d.pid) - before > 100)
      fail_msg("--spin-us %s: the quiet daemon used %ld ms of CPU in 600 ms", spins[i],
               cpu_ms(d.pid) - before);
    assert_ok(gc_release(c, h), c);
    h_close(&d, c);
  }
}

static void write_conf(const char *path, const char *text) {
  FILE *f = fopen(path, "w");

  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* heap-size from the file; a flag given before --config still wins. */
static void test_daemon_cli_config_file_and_precedence(void **state) {
  h_daemon d = {0};
  char conf[256];
  gc_client *c;
  gc_heap_info info;

  h_daemon_prepare(&d);
  snprintf(conf, sizeof conf, "%s/gcd.conf", d.dir);
  write_conf(conf, "# test\n[gcd]\nheap-size = 2M\nlog-level = warn\n");
  h_daemon_start(&d, "--config", conf, NULL);
  c = h_connect(&d, "config");
  assert_ok(gc_info(c, &info), c);
  assert_int_equal(info.bytes_total, 2u << 20);
  gc_close(c);
  h_verify(&d);
  h_daemon_signal(&d, SIGTERM);

  h_daemon_start(&d, "--heap-size", "1M", "--config", conf, NULL);
  c = h_connect(&d, "config");
  assert_ok(gc_info(c, &info), c);
  assert_int_equal(info.bytes_total, 1u << 20);
  gc_close(c);
  h_verify(&d);
  h_daemon_signal(&d, SIGTERM);
  unlink(conf);
  rmdir(d.dir);
}

static void test_daemon_cli_check_config_exit_codes(void **state) {
  h_daemon d = {0};
  char good[256], bad[256], missing[256];

  h_daemon_prepare(&d);
  snprintf(good, sizeof good, "%s/good.conf", d.dir);
  snprintf(bad, sizeof bad, "%s/bad.conf", d.dir);
  snprintf(missing, sizeof missing, "%s/missing.conf", d.dir);
  write_conf(good, "heap-size = 4M\nmax-frame = 64K\n");
  write_conf(bad, "heap-size = 4M\nno-such-key = 1\n");
  assert_int_equal(h_run_gcd((const char *[]){"--config", good, "--check-config", NULL},
                             RUN_MS), 0);
  assert_int_equal(h_run_gcd((const char *[]){"--config", bad, "--check-config", NULL},
                             RUN_MS), 78);
  assert_int_equal(h_run_gcd((const char *[]){"--config", missing, "--check-config", NULL},
                             RUN_MS), 78);
  assert_int_equal(h_run_gcd((const char *[]){"--config", good, "--check-config",
                                              "--heap-size", "12X", NULL}, RUN_MS), 64);
  assert_int_equal(h_run_gcd((const char *[]){"--config", bad, "--check-config",
                                              "--max-frame", "0", NULL}, RUN_MS), 64);
  /* A bad file stops the daemon too, before anything is created. */
  assert_int_equal(h_run_gcd((const char *[]){"--config", bad, "--socket", d.sock, NULL},
                             RUN_MS), 78);
  assert_int_not_equal(access(d.sock, F_OK), 0);
  unlink(good);
  unlink(bad);
  rmdir(d.dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_daemon_cli_help_and_version),
      cmocka_unit_test(test_daemon_cli_usage_errors_exit_64),
      cmocka_unit_test(test_daemon_cli_config_file_and_precedence),
      cmocka_unit_test(test_daemon_cli_check_config_exit_codes),
      cmocka_unit_test(test_daemon_cli_refuses_a_live_socket),
      cmocka_unit_test(test_daemon_cli_replaces_a_stale_socket),
      cmocka_unit_test(test_daemon_cli_socket_mode_0600),
      cmocka_unit_test(test_daemon_cli_sigint_stops_cleanly),
      cmocka_unit_test(test_daemon_cli_client_sees_closed_after_stop),
      cmocka_unit_test(test_daemon_cli_quiet_daemon_stops_polling),
  };

  signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would kill the test: it must not come */
  return cmocka_run_group_tests(tests, NULL, NULL);
}
