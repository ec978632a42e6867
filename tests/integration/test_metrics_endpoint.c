/*
 * test_metrics_endpoint.c -- the daemon's /metrics over real TCP: counters
 * moved by a client show the exact change, HEAD, 404, 405, 400, 431, the
 * connection cap and idle timeout, promtool's check of a real scrape,
 * start-up failures of the metrics address, and a clean stop with a
 * metrics connection open.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define N_ALLOCS 25
#define RUN_MS 10000

static int start(h_daemon *d) {
  int port;

  memset(d, 0, sizeof *d);
  h_daemon_start(d, "--heap-size", "4M", NULL);
  port = h_metrics_port(d);
  if (port <= 0)
    fail_msg("gcd (pid %d) listens on no TCP port for metrics", (int)d->pid);
  return port;
}

/* GET /metrics, asserting a 200 with the exposition's headers; the body. */
static char *scrape(int port) {
  char *resp = h_http_get(port, "/metrics");
  const char *body = h_http_body(resp);
  char want[64];

  assert_true(strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0);
  assert_non_null(strstr(resp, "\r\nContent-Type: text/plain; version=0.0.4; "
                               "charset=utf-8\r\n"));
  assert_non_null(strstr(resp, "\r\nConnection: close\r\n"));
  snprintf(want, sizeof want, "\r\nContent-Length: %zu\r\n", strlen(body));
  assert_non_null(strstr(resp, want));
  assert_true(body[strlen(body) - 1] == '\n');
  memmove(resp, body, strlen(body) + 1);
  return resp;
}

static void test_metrics_endpoint_counts_what_clients_do(void **state) {
  h_daemon d = {0};
  int port = start(&d);
  char *before = scrape(port), *after;
  gc_handle h[N_ALLOCS];
  gc_client *c;

  assert_true(h_metric(before, "gcd_clients_connected") == 0);
  c = h_connect(&d, "metrics-mover");
  for (int i = 0; i < N_ALLOCS; i++)
    assert_ok(gc_alloc(c, 0, 32, 0, &h[i]), c);
  assert_ok(gc_release(c, h[0]), c);
  after = scrape(port);
  /* The hello, N allocs and one release: N + 2 requests. */
  assert_true(h_metric(after, "gcd_requests_total") -
              h_metric(before, "gcd_requests_total") == N_ALLOCS + 2);
  assert_true(h_metric(after, "gcd_heap_allocations_total") -
              h_metric(before, "gcd_heap_allocations_total") == N_ALLOCS);
  assert_true(h_metric(after, "gcd_operations_total{op=\"alloc\"}") -
              h_metric(before, "gcd_operations_total{op=\"alloc\"}") == N_ALLOCS);
  assert_true(h_metric(after, "gcd_heap_frees_total{cause=\"refcount\"}") -
              h_metric(before, "gcd_heap_frees_total{cause=\"refcount\"}") == 1);
  assert_true(h_metric(after, "gcd_heap_objects") == N_ALLOCS - 1);
  assert_true(h_metric(after, "gcd_clients_connected") == 1);
  assert_true(h_metric(after, "gcd_heap_size_bytes") == 4 << 20);
  /* Requests back to back: the loop polled between them (--spin-us 50). */
  assert_true(h_metric(after, "gcd_loop_spin_seconds_total") >
              h_metric(before, "gcd_loop_spin_seconds_total"));
  assert_true(h_metric(after, "gcd_errors_total{code=\"GC_ESTALE\"}") == 0);
  assert_true(h_metric(after, "process_open_fds") > 0);
  free(after);
  assert_gc(gc_release(c, h[0]), GC_ESTALE, c);
  after = scrape(port);
  assert_true(h_metric(after, "gcd_errors_total{code=\"GC_ESTALE\"}") == 1);
  free(after);
  free(before);
  gc_close(c);
  h_verify(&d);
  h_daemon_stop(&d);
}

/* Scrapes until the heap holds no object and no emptied region waits to be
 * given back, or 5 s pass; the unpurged bytes last seen. */
static double wait_all_given_back(int port) {
  double left = -1, objects = -1;

  for (int64_t end = h_now_ms() + 5000; h_now_ms() < end && (left != 0 || objects != 0);) {
    char *body = scrape(port);
    left = h_metric(body, "gcd_heap_unpurged_bytes");
    objects = h_metric(body, "gcd_heap_objects");
    free(body);
    if (left != 0 || objects != 0)
      usleep(20 * 1000);
  }
  assert_true(objects == 0);
  return left;
}

/* Frees leave emptied regions backed; the daemon gives them back to the
 * system by itself within moments, and says so. */
static void test_metrics_endpoint_emptied_regions_given_back(void **state) {
  enum { N = 256, SIZE = 4000 }; /* about 16 regions of payload */
  h_daemon d = {0};
  int port = start(&d);
  gc_client *c = h_connect(&d, "metrics-trim");
  gc_handle h[N];

  for (int i = 0; i < N; i++)
    assert_ok(gc_alloc(c, 1, SIZE, 0, &h[i]), c);
  for (int i = 0; i < N; i++)
    assert_ok(gc_release(c, h[i]), c);
  assert_true(wait_all_given_back(port) == 0);
  gc_close(c);
  h_verify(&d);
  h_daemon_stop(&d);
}

/* What an automatic collection empties is given back as well, though no
 * request follows it: the collector thread tells the loop, which trims. */
static void test_metrics_endpoint_collected_regions_given_back(void **state) {
  enum { N = 256, SIZE = 4000 };
  h_daemon d = {0};
  int port = start(&d);
  gc_client *c = h_connect(&d, "metrics-trim-gc");
  gc_handle h[N];

  assert_ok(gc_set_threshold(c, 0, 10, 10), c); /* no collection while building */
  for (int i = 0; i < N; i++)
    assert_ok(gc_alloc(c, 1, SIZE, 0, &h[i]), c);
  for (int i = 0; i < N; i += 2) {
    assert_ok(gc_set_ref(c, h[i], 0, h[i + 1]), c);
    assert_ok(gc_set_ref(c, h[i + 1], 0, h[i]), c);
  }
  for (int i = 0; i < N; i++)
    assert_ok(gc_release(c, h[i]), c);
  /* The last request: a collection is due after it, on the collector thread. */
  assert_ok(gc_set_threshold(c, 1, 10, 10), c);
  assert_true(wait_all_given_back(port) == 0);
  gc_close(c);
  h_verify(&d);
  h_daemon_stop(&d);
}

static void test_metrics_endpoint_head_and_refusals(void **state) {
  static const char post[] = "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
  static const char head[] = "HEAD /metrics HTTP/1.1\r\nConnection: close\r\n\r\n";
  static const char junk[] = "BLAH\r\n\r\n";
  h_daemon d = {0};
  int port = start(&d);
  char *r, big[9 * 1024 + 64];
  size_t n;

  r = h_http(port, head, sizeof head - 1, RUN_MS);
  assert_true(strncmp(r, "HTTP/1.1 200 OK\r\n", 17) == 0);
  assert_non_null(strstr(r, "\r\nContent-Length: "));
  assert_null(strstr(r, "Content-Length: 0\r\n"));
  assert_string_equal(h_http_body(r), ""); /* no body after the head */
  free(r);

  r = h_http_get(port, "/nope");
  assert_true(strncmp(r, "HTTP/1.1 404 Not Found\r\n", 24) == 0);
  free(r);

  r = h_http(port, post, sizeof post - 1, RUN_MS);
  assert_true(strncmp(r, "HTTP/1.1 405 Method Not Allowed\r\n", 33) == 0);
  assert_non_null(strstr(r, "\r\nAllow: GET, HEAD\r\n"));
  free(r);

  r = h_http(port, junk, sizeof junk - 1, RUN_MS);
  assert_true(strncmp(r, "HTTP/1.1 400 Bad Request\r\n", 26) == 0);
  free(r);

  n = (size_t)snprintf(big, sizeof big, "GET /metrics HTTP/1.1\r\n");
  while (n + 24 < sizeof big)
    n += (size_t)snprintf(big + n, sizeof big - n, "X-Pad: %014zu\r\n", n);
  r = h_http(port, big, n, RUN_MS);
  assert_true(strncmp(r, "HTTP/1.1 431 Request Header Fields Too Large\r\n", 46) == 0);
  free(r);

  free(scrape(port)); /* still serving */
  h_verify(&d);
  h_daemon_stop(&d);
}

static int connect_port(int port) {
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_true(fd >= 0);
  assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  return fd;
}

/* Waits (bounded) for the server to close fd: 0 when it did. */
static int closed_within(int fd, int ms) {
  struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
  char b;

  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return recv(fd, &b, 1, 0) <= 0 && errno != EAGAIN && errno != EWOULDBLOCK ? 0 : -1;
}

/* Silent connections fill the cap (16); one more is closed at once; the
 * silent ones are closed after the idle timeout (10 s), and scrapes work. */
static void test_metrics_endpoint_connection_cap_and_idle_timeout(void **state) {
  h_daemon d = {0};
  int port = start(&d), fds[16], extra;

  for (int i = 0; i < 16; i++)
    fds[i] = connect_port(port);
  extra = connect_port(port);
  errno = 0;
  assert_int_equal(closed_within(extra, 5000), 0);
  close(extra);
  for (int i = 0; i < 16; i++) {
    errno = 0;
    if (closed_within(fds[i], 20000) != 0)
      fail_msg("silent metrics connection %d still open after 20 s", i);
    close(fds[i]);
  }
  free(scrape(port));
  h_daemon_stop(&d);
}

static void test_metrics_endpoint_passes_promtool(void **state) {
  char path[] = "/tmp/gcd-metrics-XXXXXX", cmd[128];
  h_daemon d = {0};
  int port = start(&d), fd, rc;
  gc_client *c = h_connect(&d, "promtool-feeder");
  gc_handle h;
  char *body;

  assert_ok(gc_alloc(c, 1, 8, 0, &h), c);
  assert_gc(gc_retain(c, 12345), GC_EBADHANDLE, c);
  body = scrape(port);
  assert_true((fd = mkstemp(path)) >= 0);
  assert_int_equal(h_write_all(fd, body, strlen(body)), 0);
  close(fd);
  snprintf(cmd, sizeof cmd, "promtool check metrics < %s", path);
  rc = system(cmd);
  unlink(path);
  if (!WIFEXITED(rc) || WEXITSTATUS(rc) == 127)
    fail_msg("promtool is missing: install the Debian package prometheus "
             "(scripts/install-deps.sh)");
  if (WEXITSTATUS(rc) != 0)
    fail_msg("promtool check metrics exited %d on:\n%s", WEXITSTATUS(rc), body);
  free(body);
  gc_close(c);
  h_verify(&d);
  h_daemon_stop(&d);
}

/* A metrics address that cannot be served stops the start-up (exit 1);
 * '' disables the endpoint. */
static void test_metrics_endpoint_address_failures(void **state) {
  h_daemon d, other, off;
  int port = start(&d);
  char taken[32];

  snprintf(taken, sizeof taken, "127.0.0.1:%d", port);
  h_daemon_prepare(&other);
  assert_int_equal(h_run_gcd((const char *[]){"--socket", other.sock, "--metrics-listen",
                                              taken, NULL}, RUN_MS), 1);
  assert_int_not_equal(access(other.sock, F_OK), 0); /* nothing left behind */
  assert_int_equal(h_run_gcd((const char *[]){"--socket", other.sock, "--metrics-listen",
                                              "nosuchhost.invalid:0", NULL}, RUN_MS), 1);
  assert_int_equal(h_run_gcd((const char *[]){"--socket", other.sock, "--metrics-listen",
                                              "192.0.2.1:0", NULL}, RUN_MS), 1);
  assert_int_not_equal(access(other.sock, F_OK), 0);
  rmdir(other.dir);

  memset(&off, 0, sizeof off);
  h_daemon_start(&off, "--metrics-listen", "", NULL);
  assert_int_equal(h_metrics_port(&off), -1);
  h_daemon_stop(&off);

  memset(&off, 0, sizeof off);
  h_daemon_start(&off, "--metrics-listen", "[::1]:0", NULL);
  assert_true(h_metrics_port(&off) > 0);
  h_daemon_stop(&off);
  h_daemon_stop(&d);
}

/* SIGTERM with a metrics connection half-way: a clean, prompt stop. */
static void test_metrics_endpoint_stop_with_a_connection_open(void **state) {
  h_daemon d = {0};
  int port = start(&d), fd = connect_port(port);

  assert_int_equal(send(fd, "GET /met", 8, MSG_NOSIGNAL), 8);
  h_daemon_stop(&d);
  close(fd);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_metrics_endpoint_counts_what_clients_do),
      cmocka_unit_test(test_metrics_endpoint_emptied_regions_given_back),
      cmocka_unit_test(test_metrics_endpoint_collected_regions_given_back),
      cmocka_unit_test(test_metrics_endpoint_head_and_refusals),
      cmocka_unit_test(test_metrics_endpoint_connection_cap_and_idle_timeout),
      cmocka_unit_test(test_metrics_endpoint_passes_promtool),
      cmocka_unit_test(test_metrics_endpoint_address_failures),
      cmocka_unit_test(test_metrics_endpoint_stop_with_a_connection_open),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
