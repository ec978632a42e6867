/*
 * test_metrics_prometheus.c -- a real Prometheus server (Debian package
 * prometheus) scrapes a test daemon on loopback every second, and its query
 * API shows the allocation counter the test moved, with the exact value.
 * Without the prometheus binary the test fails: CI installs it.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "harness.h"

#define PROMETHEUS "/usr/bin/prometheus"
#define WAIT_MS 30000

/* A port free now (the kernel picks it; closed again at once). */
static int free_port(void) {
  struct sockaddr_in sa = {.sin_family = AF_INET};
  socklen_t len = sizeof sa;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
  close(fd);
  return ntohs(sa.sin_port);
}

static void write_config(const char *path, int target) {
  FILE *f = fopen(path, "w");

  assert_non_null(f);
  fprintf(f, "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
             "scrape_configs:\n  - job_name: gcd\n    static_configs:\n"
             "      - targets: ['127.0.0.1:%d']\n", target);
  fclose(f);
}

static pid_t prometheus_start(const char *dir, int web_port) {
  char config[256], storage[256], listen[64];
  pid_t pid;

  if (access(PROMETHEUS, X_OK) != 0)
    fail_msg("%s is missing: install the Debian package prometheus "
             "(scripts/install-deps.sh)", PROMETHEUS);
  snprintf(config, sizeof config, "--config.file=%s/prometheus.yml", dir);
  snprintf(storage, sizeof storage, "--storage.tsdb.path=%s/data", dir);
  snprintf(listen, sizeof listen, "--web.listen-address=127.0.0.1:%d", web_port);
  assert_true((pid = fork()) >= 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execl(PROMETHEUS, PROMETHEUS, config, storage, listen, "--log.level=warn",
          (char *)NULL);
    _exit(127);
  }
  return pid;
}

/* Whether something accepts connections on 127.0.0.1:port yet. */
static bool connect_ok(int port) {
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  bool ok;

  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
  if (fd >= 0)
    close(fd);
  return ok;
}

/* The value of a one-series instant query, or -1 while it has none. */
static double query(int port, const char *expr) {
  char path[256], *resp, *p;
  double v = -1;

  snprintf(path, sizeof path, "/api/v1/query?query=%s", expr);
  resp = h_http_get(port, path);
  if ((p = strstr(resp, "\"value\":[")) != NULL && (p = strstr(p, ",\"")) != NULL)
    v = strtod(p + 2, NULL);
  free(resp);
  return v;
}

/* Polls until Prometheus answers `expr` with want; fails after WAIT_MS. */
static void wait_value(int port, pid_t prom, const char *expr, double want) {
  int64_t deadline = h_now_ms() + WAIT_MS;
  double have = -1;

  for (;;) {
    if (waitpid(prom, NULL, WNOHANG) == prom)
      fail_msg("prometheus exited early");
    if (connect_ok(port) && (have = query(port, expr)) == want)
      return;
    if (h_now_ms() >= deadline)
      fail_msg("prometheus reports %s = %g after %d ms, expected %g", expr, have,
               WAIT_MS, want);
    usleep(200 * 1000);
  }
}

static void test_metrics_prometheus_scrapes_the_daemon(void **state) {
  char dir[] = "/tmp/gcd-prom-XXXXXX", config[256], cmd[300];
  h_daemon d = {0};
  gc_client *c;
  gc_handle h;
  int web = free_port(), status;
  pid_t prom;

  assert_non_null(mkdtemp(dir));
  h_daemon_start(&d, "--heap-size", "4M", NULL);
  snprintf(config, sizeof config, "%s/prometheus.yml", dir);
  write_config(config, h_metrics_port(&d));
  c = h_connect(&d, "scraped");
  for (int i = 0; i < 7; i++)
    assert_ok(gc_alloc(c, 0, 16, 0, &h), c);
  prom = prometheus_start(dir, web);
  wait_value(web, prom, "up%7Bjob%3D%22gcd%22%7D", 1);
  wait_value(web, prom, "gcd_heap_allocations_total", 7);
  for (int i = 0; i < 5; i++)
    assert_ok(gc_alloc(c, 0, 16, 0, &h), c);
  wait_value(web, prom, "gcd_heap_allocations_total", 12);
  wait_value(web, prom, "gcd_operations_total%7Bop%3D%22alloc%22%7D", 12);
  wait_value(web, prom, "gcd_clients_connected", 1);

  kill(prom, SIGTERM);
  if ((status = h_wait_pid(prom, 20000)) == -1) {
    kill(prom, SIGKILL);
    waitpid(prom, NULL, 0);
  }
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
  gc_close(c);
  h_verify(&d);
  h_daemon_stop(&d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_metrics_prometheus_scrapes_the_daemon),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
