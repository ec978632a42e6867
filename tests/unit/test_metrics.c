/*
 * test_metrics.c -- the Prometheus exposition on plain snapshots (HELP and
 * TYPE for every family, cumulative histograms, label escaping, zeros for
 * every known label set), a snapshot filled from a real daemon context, and
 * the HTTP request parser and router of the metrics endpoint, all without
 * sockets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gcclient.h"
#include "http.h"
#include "metrics.h"

/* Renders s; the caller frees the text. */
static char *render(const gcd_metrics_snapshot *s) {
  gcd_metrics_buf b;

  gcd_metrics_buf_init(&b);
  assert_int_equal(gcd_metrics_render(s, &b), 0);
  assert_non_null(b.data);
  assert_int_equal(strlen(b.data), b.len);
  return b.data;
}

static char *render_default(void) {
  gcd_metrics_snapshot s;

  gcd_metrics_snapshot_init(&s);
  return render(&s);
}

/* The value of the sample line that starts with `series ` exactly. */
static int sample(const char *text, const char *series, double *out) {
  size_t n = strlen(series);

  for (const char *p = text; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p)
    if (strncmp(p, series, n) == 0 && p[n] == ' ') {
      *out = strtod(p + n + 1, NULL);
      return 0;
    }
  return -1;
}

static void assert_sample(const char *text, const char *series, double want) {
  double v = 0;

  if (sample(text, series, &v) != 0)
    fail_msg("no sample %s in\n%s", series, text);
  if (v != want)
    fail_msg("%s is %.17g, expected %.17g", series, v, want);
}

/* A sample's family: its name, less _bucket/_sum/_count for a histogram. */
static void family_of(const char *text, const char *line, char *fam, size_t n) {
  static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
  size_t len = strcspn(line, "{ ");
  char want[160];

  snprintf(fam, n, "%.*s", (int)len, line);
  for (size_t i = 0; i < 3; i++) {
    size_t sl = strlen(suffixes[i]);

    if (len > sl && strcmp(fam + len - sl, suffixes[i]) == 0) {
      snprintf(want, sizeof want, "# TYPE %.*s histogram\n", (int)(len - sl), line);
      if (strstr(text, want) != NULL)
        fam[len - sl] = '\0';
    }
  }
}

static void test_metrics_every_family_has_help_and_type(void **state) {
  char *text = render_default();
  char fam[128], want[160];
  size_t lines = 0;

  assert_true(text[strlen(text) - 1] == '\n');
  for (char *p = text; *p != '\0'; p = strchr(p, '\n') + 1) {
    lines++;
    if (*p == '#')
      continue;
    family_of(text, p, fam, sizeof fam);
    snprintf(want, sizeof want, "# HELP %s ", fam);
    if (strstr(text, want) == NULL)
      fail_msg("no HELP for %s", fam);
    snprintf(want, sizeof want, "# TYPE %s ", fam);
    if (strstr(text, want) == NULL)
      fail_msg("no TYPE for %s", fam);
  }
  assert_true(lines > 100);
  assert_null(strstr(text, "nan"));
  assert_null(strstr(text, "\n\n"));
  free(text);
}

static void test_metrics_families_are_named_by_convention(void **state) {
  char *text = render_default();

  assert_non_null(strstr(text, "# TYPE gcd_heap_allocations_total counter\n"));
  assert_non_null(strstr(text, "# TYPE gcd_heap_objects gauge\n"));
  assert_non_null(strstr(text, "# TYPE gcd_gc_collections_total counter\n"));
  assert_non_null(strstr(text, "# TYPE gcd_gc_duration_seconds histogram\n"));
  assert_non_null(strstr(text, "# TYPE gcd_gc_loop_stall_seconds histogram\n"));
  assert_non_null(strstr(text, "# TYPE gcd_requests_total counter\n"));
  assert_non_null(strstr(text, "# TYPE gcd_loop_spin_seconds_total counter\n"));
  /* Without /proc figures the process families are left out, not zero. */
  assert_null(strstr(text, "process_cpu_seconds_total"));
  free(text);
}

static void test_metrics_zero_for_every_known_label_set(void **state) {
  char *text = render_default();
  char series[96];

#define ZERO_ERR(name, value, msg)                                              \
  snprintf(series, sizeof series, "gcd_errors_total{code=\"GC_" #name "\"}");   \
  assert_sample(text, series, 0);
  GC_ERRNO_MAP(ZERO_ERR)
#undef ZERO_ERR
  assert_sample(text, "gcd_errors_total{code=\"unknown\"}", 0);
  assert_null(strstr(text, "code=\"OK\""));
  for (int g = 0; g < 3; g++) {
    snprintf(series, sizeof series, "gcd_gc_collections_total{generation=\"%d\"}", g);
    assert_sample(text, series, 0);
    snprintf(series, sizeof series, "gcd_gc_objects_tracked{generation=\"%d\"}", g);
    assert_sample(text, series, 0);
    snprintf(series, sizeof series, "gcd_gc_duration_seconds_count{generation=\"%d\"}", g);
    assert_sample(text, series, 0);
  }
  assert_sample(text, "gcd_heap_frees_total{cause=\"refcount\"}", 0);
  assert_sample(text, "gcd_heap_frees_total{cause=\"cycle\"}", 0);
  assert_sample(text, "gcd_gc_enabled", 0);
  free(text);
}

static void test_metrics_histogram_is_cumulative(void **state) {
  static const double seen[] = {0.00005, 0.0001, 0.0003, 0.0003, 0.7, 7, 100};
  gcd_metrics_snapshot s;
  double prev = 0, v, sum = 0;
  char *text, *p;
  int buckets = 0;

  gcd_metrics_snapshot_init(&s);
  for (size_t i = 0; i < sizeof seen / sizeof seen[0]; i++) {
    gcd_metrics_observe(&s.gc.duration[1], seen[i]);
    sum += seen[i];
  }
  text = render(&s);
  for (p = strstr(text, "gcd_gc_duration_seconds_bucket{generation=\"1\""); p != NULL;
       p = strstr(p + 1, "gcd_gc_duration_seconds_bucket{generation=\"1\"")) {
    v = strtod(strchr(p, ' ') + 1, NULL);
    assert_true(v >= prev);
    prev = v;
    buckets++;
  }
  assert_int_equal(buckets, (int)gcd_metrics_duration_nbounds + 1);
  assert_sample(text, "gcd_gc_duration_seconds_bucket{generation=\"1\",le=\"0.0001\"}", 2);
  assert_sample(text, "gcd_gc_duration_seconds_bucket{generation=\"1\",le=\"0.00025\"}", 2);
  assert_sample(text, "gcd_gc_duration_seconds_bucket{generation=\"1\",le=\"0.0005\"}", 4);
  assert_sample(text, "gcd_gc_duration_seconds_bucket{generation=\"1\",le=\"10\"}", 6);
  assert_sample(text, "gcd_gc_duration_seconds_bucket{generation=\"1\",le=\"+Inf\"}", 7);
  assert_sample(text, "gcd_gc_duration_seconds_count{generation=\"1\"}", 7);
  assert_sample(text, "gcd_gc_duration_seconds_sum{generation=\"1\"}", sum);
  assert_sample(text, "gcd_gc_duration_seconds_count{generation=\"0\"}", 0);
  free(text);
}

static void test_metrics_label_values_are_escaped(void **state) {
  gcd_metrics_snapshot s;
  char *text;

  gcd_metrics_snapshot_init(&s);
  s.version = "1.0 \"beta\"\\x\nnext";
  s.nops = 1;
  s.ops[0] = (gcd_metrics_op){"we\"ird", 3};
  text = render(&s);
  assert_non_null(strstr(text, "gcd_build_info{version=\"1.0 \\\"beta\\\"\\\\x\\nnext\"} 1\n"));
  assert_non_null(strstr(text, "gcd_operations_total{op=\"we\\\"ird\"} 3\n"));
  free(text);
}

static void test_metrics_numbers_and_clamps(void **state) {
  gcd_metrics_snapshot s;
  char *text;

  gcd_metrics_snapshot_init(&s);
  s.heap_size_bytes = UINT64_C(17179869184);
  s.heap_used_bytes = 4096;
  s.frees = 10;
  s.gc.frees_cycle = 4;
  s.gc.last_collection_time = 1700000000.25;
  s.errors[-GC_ESTALE] = 5;
  s.errors[GCD_ERR_KINDS - 1] = 2;
  text = render(&s);
  assert_non_null(strstr(text, "\ngcd_heap_size_bytes 17179869184\n"));
  assert_non_null(strstr(text, "\ngcd_heap_free_bytes 17179865088\n"));
  assert_non_null(strstr(text, "\ngcd_heap_frees_total{cause=\"refcount\"} 6\n"));
  assert_non_null(strstr(text, "\ngcd_heap_frees_total{cause=\"cycle\"} 4\n"));
  assert_non_null(strstr(text, "\ngcd_gc_last_collection_timestamp_seconds 1700000000.25\n"));
  assert_non_null(strstr(text, "\ngcd_errors_total{code=\"GC_ESTALE\"} 5\n"));
  assert_non_null(strstr(text, "\ngcd_errors_total{code=\"unknown\"} 2\n"));
  free(text);
}

/* A snapshot of a real daemon context: heap figures, every operation with
 * its count, and the process figures from /proc/self. */
static void test_metrics_fill_from_a_daemon(void **state) {
  static gcd_daemon d;
  static gcd_metrics_snapshot s;
  gcd_heap_config hc = {.data_size = 1 << 20};
  uint64_t h;
  char *text;

  gcd_session_daemon_init(&d);
  assert_int_equal(gcd_heap_init(&d.heap, &hc), 0);
  assert_int_equal(gcd_heap_alloc(&d.heap, 0, 64, 0, &h), 0);
  d.op_count[2] = 7;  /* alloc */
  d.op_count[0] = 1;
  d.requests = 3;
  d.loop_spin_ns = UINT64_C(1500000000);
  gcd_metrics_fill(&d, &s);
  gcd_metrics_fill_process(&s.process);
  text = render(&s);
  assert_sample(text, "gcd_heap_objects", 1);
  assert_sample(text, "gcd_heap_allocations_total", 1);
  assert_sample(text, "gcd_heap_size_bytes", 1 << 20);
  assert_sample(text, "gcd_requests_total", 3);
  assert_sample(text, "gcd_loop_spin_seconds_total", 1.5);
  assert_sample(text, "gcd_operations_total{op=\"alloc\"}", 7);
  assert_sample(text, "gcd_operations_total{op=\"verify\"}", 0);
  assert_sample(text, "gcd_operations_total{op=\"hello\"}", 0);
  assert_sample(text, "gcd_operations_total{op=\"unknown\"}", 1);
  assert_true(s.process.resident_bytes > 0);
  assert_true(s.process.open_fds >= 3);
  assert_true(s.process.start_time > 1e9);
  assert_non_null(strstr(text, "\nprocess_max_fds "));
  free(text);
  gcd_heap_destroy(&d.heap);
}

/* ---------------------------------------------------------------- http */

static int parse(const char *text, gcd_http_request *req) {
  return gcd_http_parse(text, strlen(text), req);
}

static int route(const char *text) {
  gcd_http_request req;
  int rc = parse(text, &req);

  assert_true(rc > 0);
  return gcd_http_route(text, &req);
}

static void test_http_parse_a_scrape(void **state) {
  static const char req_text[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9478\r\n"
                                 "User-Agent: Prometheus/2.42.0\r\nAccept: text/plain\r\n"
                                 "\r\nextra";
  gcd_http_request req;

  assert_int_equal(parse(req_text, &req), (int)strlen(req_text) - 5);
  assert_int_equal(req.method, GCD_HTTP_GET);
  assert_int_equal(req.minor, 1);
  assert_int_equal(gcd_http_route(req_text, &req), 200);
}

static void test_http_parse_incomplete_until_blank_line(void **state) {
  static const char full[] = "HEAD /metrics HTTP/1.0\nHost: x\n\n";
  gcd_http_request req;

  for (size_t n = 0; n < sizeof full - 1; n++)
    assert_int_equal(gcd_http_parse(full, n, &req), GCD_HTTP_INCOMPLETE);
  assert_int_equal(gcd_http_parse(full, sizeof full - 1, &req), (int)sizeof full - 1);
  assert_int_equal(req.method, GCD_HTTP_HEAD);
  assert_int_equal(req.minor, 0);
}

static void test_http_routes(void **state) {
  assert_int_equal(route("GET /metrics?x=1 HTTP/1.1\r\n\r\n"), 200);
  assert_int_equal(route("HEAD /metrics HTTP/1.1\r\n\r\n"), 200);
  assert_int_equal(route("GET / HTTP/1.1\r\n\r\n"), 404);
  assert_int_equal(route("GET /metricsx HTTP/1.1\r\n\r\n"), 404);
  assert_int_equal(route("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), 405);
  assert_int_equal(route("DELETE /metrics HTTP/1.1\r\n\r\n"), 405);
  assert_int_equal(route("\r\nGET /metrics HTTP/1.1\r\n\r\n"), 200);
}

static void test_http_parse_malformed_is_400(void **state) {
  static const char *const bad[] = {
      "GET\r\n\r\n",
      "GET /metrics\r\n\r\n",
      "GET  /metrics HTTP/1.1\r\n\r\n",
      "GET /metrics HTTP/2.0\r\n\r\n",
      "GET /metrics HTTP/1.1 x\r\n\r\n",
      "G(T /metrics HTTP/1.1\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n",
      "GET /metrics HTTP/1.1\r\n folded\r\n\r\n",
      "\x16\x03\x01\x02\x05\x01\x07\xfc\x03\x03\n", /* a TLS hello */
      "GET /metrics HTTP/1.1\r\n", /* complete lines are checked at once... */
  };
  gcd_http_request req;

  for (size_t i = 0; i + 1 < sizeof bad / sizeof bad[0]; i++)
    if (parse(bad[i], &req) != GCD_HTTP_BAD)
      fail_msg("not refused: %s", bad[i]);
  /* ...but a valid request line alone waits for its headers. */
  assert_int_equal(parse(bad[10], &req), GCD_HTTP_INCOMPLETE);
  assert_int_equal(gcd_http_parse("GET /\0 HTTP/1.1\r\n\r\n", 19, &req), GCD_HTTP_BAD);
}

static void test_http_parse_oversized_head_is_431(void **state) {
  char *buf = malloc(GCD_HTTP_HEAD_MAX + 100);
  size_t n = (size_t)snprintf(buf, 64, "GET /metrics HTTP/1.1\r\n");
  gcd_http_request req;

  while (n + 20 < GCD_HTTP_HEAD_MAX + 100)
    n += (size_t)snprintf(buf + n, 21, "X-Pad: aaaaaaaaaa\r\n");
  assert_int_equal(gcd_http_parse(buf, GCD_HTTP_HEAD_MAX - 1, &req), GCD_HTTP_INCOMPLETE);
  assert_int_equal(gcd_http_parse(buf, GCD_HTTP_HEAD_MAX, &req), GCD_HTTP_TOO_LARGE);
  assert_int_equal(gcd_http_parse(buf, n, &req), GCD_HTTP_TOO_LARGE);
  memset(buf, 'A', GCD_HTTP_HEAD_MAX);
  assert_int_equal(gcd_http_parse(buf, GCD_HTTP_HEAD_MAX, &req), GCD_HTTP_TOO_LARGE);
  free(buf);
}

static void test_http_response_heads(void **state) {
  char out[512];
  int n = gcd_http_response_head(out, sizeof out, 405, "text/plain", 19);

  assert_true(n > 0);
  assert_string_equal(out, "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain\r\n"
                           "Content-Length: 19\r\nAllow: GET, HEAD\r\n"
                           "Connection: close\r\n\r\n");
  assert_int_equal(gcd_http_response_head(out, 20, 200, "text/plain", 1), -1);
  n = gcd_http_response_head(out, sizeof out, 431, "text/plain", 0);
  assert_non_null(strstr(out, "HTTP/1.1 431 Request Header Fields Too Large\r\n"));
  assert_null(strstr(out, "Allow"));
}

static void test_http_parse_listen_addresses(void **state) {
  struct sockaddr_storage ss;

  assert_int_equal(gcd_http_parse_listen("127.0.0.1:9478", &ss), 0);
  assert_int_equal(ss.ss_family, AF_INET);
  assert_int_equal(gcd_http_parse_listen("localhost:0", &ss), 0);
  assert_int_equal(ss.ss_family, AF_INET);
  assert_int_equal(gcd_http_parse_listen("[::1]:9478", &ss), 0);
  assert_int_equal(ss.ss_family, AF_INET6);
  assert_int_equal(gcd_http_parse_listen("::1:9478", &ss), 0);
  assert_int_equal(gcd_http_parse_listen("0.0.0.0:65535", &ss), 0);
  assert_int_equal(gcd_http_parse_listen("127.0.0.1:65536", &ss), -1);
  assert_int_equal(gcd_http_parse_listen("127.0.0.1:", &ss), -1);
  assert_int_equal(gcd_http_parse_listen(":9478", &ss), -1);
  assert_int_equal(gcd_http_parse_listen("example.com:9478", &ss), -1);
  assert_int_equal(gcd_http_parse_listen("[::1:9478", &ss), -1);
  assert_int_equal(gcd_http_parse_listen("127.0.0.1:-1", &ss), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_metrics_every_family_has_help_and_type),
      cmocka_unit_test(test_metrics_families_are_named_by_convention),
      cmocka_unit_test(test_metrics_zero_for_every_known_label_set),
      cmocka_unit_test(test_metrics_histogram_is_cumulative),
      cmocka_unit_test(test_metrics_label_values_are_escaped),
      cmocka_unit_test(test_metrics_numbers_and_clamps),
      cmocka_unit_test(test_metrics_fill_from_a_daemon),
      cmocka_unit_test(test_http_parse_a_scrape),
      cmocka_unit_test(test_http_parse_incomplete_until_blank_line),
      cmocka_unit_test(test_http_routes),
      cmocka_unit_test(test_http_parse_malformed_is_400),
      cmocka_unit_test(test_http_parse_oversized_head_is_431),
      cmocka_unit_test(test_http_response_heads),
      cmocka_unit_test(test_http_parse_listen_addresses),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
