/*
 * test_config.c -- the option table through gcd_config_load(): sizes,
 * counts, groups, the config file (comments, [gcd], bad lines named by
 * number, unknown keys), precedence flag > file > default whatever the order
 * of the flags, the log level's sources, and --check-config's output read
 * back as a file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

typedef struct run {
  gcd_config cfg;
  int rc;
  char *out, *err;
  char dir[64];
  char file[96];   /* dir/gcd.conf */
} run;

static int setup(void **state) {
  run *r = calloc(1, sizeof *r);

  if (r == NULL)
    return -1;
  snprintf(r->dir, sizeof r->dir, "/tmp/gcdconf-XXXXXX");
  if (mkdtemp(r->dir) == NULL)
    return -1;
  snprintf(r->file, sizeof r->file, "%s/gcd.conf", r->dir);
  unsetenv("GCD_LOG_LEVEL");
  setenv("GCD_SOCKET", "/tmp/gcd-config-test.sock", 1);
  *state = r;
  return 0;
}

static int teardown(void **state) {
  run *r = *state;

  unlink(r->file);
  rmdir(r->dir);
  free(r->out);
  free(r->err);
  free(r);
  return 0;
}

static void write_file(run *r, const char *text) {
  FILE *f = fopen(r->file, "w");

  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* Loads with the arguments given (NULL-terminated); the default file is
 * r->file. Output and messages are kept in r->out and r->err. */
static int load(run *r, ...) {
  char *argv[32] = {"gcd"};
  int argc = 1;
  size_t olen, elen;
  FILE *out, *err;
  va_list ap;

  va_start(ap, r);
  while (argc < 31 && (argv[argc] = va_arg(ap, char *)) != NULL)
    argc++;
  va_end(ap);
  argv[argc] = NULL;
  free(r->out);
  free(r->err);
  out = open_memstream(&r->out, &olen);
  err = open_memstream(&r->err, &elen);
  r->rc = gcd_config_load(&r->cfg, argc, argv, r->file, out, err);
  fclose(out);
  fclose(err);
  return r->rc;
}

static void assert_err_has(const run *r, const char *text) {
  if (strstr(r->err, text) == NULL)
    fail_msg("message \"%s\" lacks \"%s\"", r->err, text);
}

static void test_config_defaults_without_a_file(void **state) {
  run *r = *state;

  assert_int_equal(load(r, NULL), GCD_CONFIG_RUN);
  assert_int_equal(r->cfg.heap_size, UINT64_C(1) << 30);
  assert_int_equal(r->cfg.max_frame, 4u << 20);
  assert_int_equal(r->cfg.max_objects, 0);
  assert_false(r->cfg.group_set);
  assert_false(r->cfg.admin_group_set);
  assert_string_equal(r->cfg.metrics_listen, GCD_METRICS_DEFAULT);
  assert_string_equal(r->cfg.socket_path, "/tmp/gcd-config-test.sock");
  assert_int_equal(r->cfg.log_level, GCD_LOG_INFO);
  assert_string_equal(r->err, "");
}

static void test_config_sizes(void **state) {
  run *r = *state;

  assert_int_equal(load(r, "--heap-size", "64K", NULL), GCD_CONFIG_RUN);
  assert_int_equal(r->cfg.heap_size, 65536);
  assert_int_equal(load(r, "--heap-size", "2GiB", "--max-frame", "1M", NULL), GCD_CONFIG_RUN);
  assert_int_equal(r->cfg.heap_size, UINT64_C(2) << 30);
  assert_int_equal(r->cfg.max_frame, 1u << 20);
  assert_int_equal(load(r, "--heap-size", "16T", NULL), GCD_CONFIG_RUN);
  assert_int_equal(r->cfg.heap_size, UINT64_C(16) << 40);

  assert_int_equal(load(r, "--heap-size", "12X", NULL), EX_USAGE);
  assert_err_has(r, "gcd: --heap-size '12X' is not a size between 65536 and");
  assert_err_has(r, "Try 'gcd --help'.");
  assert_int_equal(load(r, "--heap-size", "0", NULL), EX_USAGE);
  assert_int_equal(load(r, "--heap-size", "63K", NULL), EX_USAGE);
  assert_int_equal(load(r, "--heap-size", "17T", NULL), EX_USAGE);
  assert_int_equal(load(r, "--heap-size", "99999999999999999999", NULL), EX_USAGE);
  assert_int_equal(load(r, "--max-frame", "2G", NULL), EX_USAGE);
  assert_int_equal(load(r, "--max-objects", "-1", NULL), EX_USAGE);
  assert_err_has(r, "--max-objects '-1' is not a count from 0 to 2147483648");
  assert_int_equal(load(r, "--max-objects", "1000", NULL), GCD_CONFIG_RUN);
  assert_int_equal(r->cfg.max_objects, 1000);

  assert_int_equal(load(r, NULL), GCD_CONFIG_RUN);
  assert_int_equal(r->cfg.spin_us, 50);
  assert_int_equal(load(r, "--spin-us", "0", NULL), GCD_CONFIG_RUN);
  assert_int_equal(r->cfg.spin_us, 0);
  assert_int_equal(load(r, "--spin-us", "1000", NULL), GCD_CONFIG_RUN);
  assert_int_equal(r->cfg.spin_us, 1000);
  assert_int_equal(load(r, "--spin-us", "1001", NULL), EX_USAGE);
  assert_err_has(r, "--spin-us '1001' is not a number of microseconds from 0 to 1000");
  assert_int_equal(load(r, "--spin-us", "5ms", NULL), EX_USAGE);
}

static void test_config_groups(void **state) {
  run *r = *state;

  assert_int_equal(load(r, "--socket-group", "root", "--admin-group", "4242", NULL),
                   GCD_CONFIG_RUN);
  assert_true(r->cfg.group_set);
  assert_int_equal(r->cfg.socket_gid, 0);
  assert_true(r->cfg.admin_group_set);
  assert_int_equal(r->cfg.admin_gid, 4242);
  assert_int_equal(load(r, "--socket-group", "no-such-group-gcd", NULL), EX_USAGE);
  assert_err_has(r, "gcd: --socket-group: no group 'no-such-group-gcd'");

  /* In the file, and an empty value for none. */
  write_file(r, "socket-group = root\nadmin-group =\n");
  assert_int_equal(load(r, NULL), GCD_CONFIG_RUN);
  assert_true(r->cfg.group_set);
  assert_false(r->cfg.admin_group_set);
  write_file(r, "\n\nadmin-group = no-such-group-gcd\n");
  assert_int_equal(load(r, NULL), EX_CONFIG);
  assert_err_has(r, ":3: admin-group: no group 'no-such-group-gcd'");
}

static void test_config_file_comments_and_section(void **state) {
  run *r = *state;

  write_file(r, "# gcd\n; another comment\n\nheap-size = 2G\n[gcd]\n"
                "max-frame=64K ; inline\nmetrics-listen =\nlog-level = debug\n");
  assert_int_equal(load(r, NULL), GCD_CONFIG_RUN);
  assert_int_equal(r->cfg.heap_size, UINT64_C(2) << 30);
  assert_int_equal(r->cfg.max_frame, 65536);
  assert_string_equal(r->cfg.metrics_listen, "");
  assert_int_equal(r->cfg.log_level, GCD_LOG_DEBUG);
  assert_string_equal(r->err, "");
}

static void test_config_bad_lines_named_by_number(void **state) {
  run *r = *state;
  char want[160];

  write_file(r, "# fine\nheap-size = 1G\n\nheap-size = 12X\n");
  assert_int_equal(load(r, NULL), EX_CONFIG);
  snprintf(want, sizeof want, "gcd: %s:4: heap-size '12X' is not a size", r->file);
  assert_err_has(r, want);
  assert_null(strstr(r->err, "Try 'gcd --help'"));

  write_file(r, "heap-size = 1G\nthis line has no equals sign\n");
  assert_int_equal(load(r, NULL), EX_CONFIG);
  snprintf(want, sizeof want, "gcd: %s:2: not 'key = value'", r->file);
  assert_err_has(r, want);

  write_file(r, "[server]\nheap-size = 1G\n");
  assert_int_equal(load(r, NULL), EX_CONFIG);
  assert_err_has(r, ":2: unknown section [server]");

  write_file(r, "heap-size = 1G\nmetrics-listen = nocolon\n");
  assert_int_equal(load(r, NULL), EX_CONFIG);
  assert_err_has(r, ":2: metrics-listen 'nocolon' is not HOST:PORT");
}

static void test_config_unknown_key_rejected(void **state) {
  run *r = *state;

  write_file(r, "heap-size = 1G\nheap_size = 2G\n");
  assert_int_equal(load(r, NULL), EX_CONFIG);
  assert_err_has(r, ":2: unknown key 'heap_size'");
  write_file(r, "config = /etc/other.conf\n");
  assert_int_equal(load(r, NULL), EX_CONFIG);
  assert_err_has(r, ":1: 'config' is a command-line flag, not a key of the file");
}

static void test_config_precedence_flag_file_default(void **state) {
  run *r = *state;

  write_file(r, "heap-size = 2G\nmax-frame = 64K\n");
  assert_int_equal(load(r, NULL), GCD_CONFIG_RUN);
  assert_int_equal(r->cfg.heap_size, UINT64_C(2) << 30);       /* file > default */
  assert_int_equal(r->cfg.max_objects, 0);                     /* default */
  assert_int_equal(load(r, "--heap-size", "4M", NULL), GCD_CONFIG_RUN);
  assert_int_equal(r->cfg.heap_size, 4u << 20);                /* flag > file */
  assert_int_equal(r->cfg.max_frame, 65536);
  /* The order of --config and the flag changes nothing. */
  assert_int_equal(load(r, "--heap-size", "4M", "--config", r->file, NULL), GCD_CONFIG_RUN);
  assert_int_equal(r->cfg.heap_size, 4u << 20);
  assert_int_equal(load(r, "--config", r->file, "--heap-size", "4M", NULL), GCD_CONFIG_RUN);
  assert_int_equal(r->cfg.heap_size, 4u << 20);
  /* A file value a flag overrides is still checked. */
  write_file(r, "heap-size = 12X\n");
  assert_int_equal(load(r, "--heap-size", "4M", NULL), EX_CONFIG);
}

static void test_config_log_level_sources(void **state) {
  run *r = *state;

  write_file(r, "log-level = debug\n");
  assert_int_equal(load(r, NULL), GCD_CONFIG_RUN);
  assert_int_equal(r->cfg.log_level, GCD_LOG_DEBUG);
  setenv("GCD_LOG_LEVEL", "warn", 1);                          /* env > file */
  assert_int_equal(load(r, NULL), GCD_CONFIG_RUN);
  assert_int_equal(r->cfg.log_level, GCD_LOG_WARN);
  assert_int_equal(load(r, "--log-level", "error", NULL), GCD_CONFIG_RUN);
  assert_int_equal(r->cfg.log_level, GCD_LOG_ERROR);           /* flag > env */
  assert_int_equal(load(r, "-v", NULL), GCD_CONFIG_RUN);
  assert_int_equal(r->cfg.log_level, GCD_LOG_DEBUG);
  setenv("GCD_LOG_LEVEL", "loud", 1);
  assert_int_equal(load(r, NULL), EX_USAGE);
  assert_err_has(r, "GCD_LOG_LEVEL 'loud' is not error, warn, info or debug");
  unsetenv("GCD_LOG_LEVEL");
  assert_int_equal(load(r, "--log-level", "loud", NULL), EX_USAGE);
  assert_err_has(r, "--log-level 'loud' is not error, warn, info or debug");
}

static void test_config_explicit_file_must_exist(void **state) {
  run *r = *state;
  char path[128];

  assert_int_equal(load(r, NULL), GCD_CONFIG_RUN);              /* default missing */
  snprintf(path, sizeof path, "%s/missing.conf", r->dir);
  assert_int_equal(load(r, "--config", path, NULL), EX_CONFIG);
  assert_err_has(r, "cannot read");
  assert_err_has(r, "missing.conf");
}

static void test_config_check_prints_what_reads_back(void **state) {
  run *r = *state;
  gcd_config first;

  write_file(r, "heap-size = 3M\nsocket-group = root\nspin-us = 20\n");
  assert_int_equal(load(r, "--check-config", "--max-objects", "77", "--socket",
                        "/tmp/x.sock", NULL), 0);
  assert_non_null(strstr(r->out, "spin-us = 20\n"));
  assert_non_null(strstr(r->out, "heap-size = 3M\n"));
  assert_non_null(strstr(r->out, "max-objects = 77\n"));
  assert_non_null(strstr(r->out, "socket = /tmp/x.sock\n"));
  assert_non_null(strstr(r->out, "socket-group = root\n"));
  assert_non_null(strstr(r->out, "log-level = info\n"));
  first = r->cfg;
  write_file(r, r->out);
  assert_int_equal(load(r, NULL), GCD_CONFIG_RUN);
  assert_int_equal(r->cfg.heap_size, first.heap_size);
  assert_int_equal(r->cfg.max_objects, first.max_objects);
  assert_int_equal(r->cfg.max_frame, first.max_frame);
  assert_int_equal(r->cfg.spin_us, first.spin_us);
  assert_int_equal(r->cfg.socket_gid, first.socket_gid);
  assert_string_equal(r->cfg.socket_path, first.socket_path);
  assert_string_equal(r->cfg.metrics_listen, first.metrics_listen);
}

static void test_config_usage_errors(void **state) {
  run *r = *state;

  assert_int_equal(load(r, "stray", NULL), EX_USAGE);
  assert_err_has(r, "unexpected argument 'stray'");
  assert_int_equal(load(r, "--socket", "", NULL), EX_USAGE);
  assert_int_equal(load(r, "--metrics-listen", "h:99999", NULL), EX_USAGE);
  assert_int_equal(load(r, "--help", NULL), 0);
  assert_non_null(strstr(r->out, "--config PATH"));
  assert_int_equal(load(r, "--print-socket", "-s", "/tmp/y.sock", NULL), 0);
  assert_string_equal(r->out, "/tmp/y.sock\n");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_config_defaults_without_a_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_config_sizes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_config_groups, setup, teardown),
      cmocka_unit_test_setup_teardown(test_config_file_comments_and_section, setup, teardown),
      cmocka_unit_test_setup_teardown(test_config_bad_lines_named_by_number, setup, teardown),
      cmocka_unit_test_setup_teardown(test_config_unknown_key_rejected, setup, teardown),
      cmocka_unit_test_setup_teardown(test_config_precedence_flag_file_default, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_config_log_level_sources, setup, teardown),
      cmocka_unit_test_setup_teardown(test_config_explicit_file_must_exist, setup, teardown),
      cmocka_unit_test_setup_teardown(test_config_check_prints_what_reads_back, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_config_usage_errors, setup, teardown),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
