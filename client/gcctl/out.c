/*
 * out.c -- how gcctl writes: a small JSON emitter (objects, arrays, escaped
 * strings; no dependency), units for bytes and durations, handles.
 *
 * Owns: the emitter's nesting state. Must not touch: the connection.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "gcctl.h"

#define JSON_DEPTH 8

/* Per open bracket: whether something was written in it (a comma is due). */
static int j_used[JSON_DEPTH];
static int j_depth;

/* RFC 8259: quote, backslash and control characters escaped; other bytes
 * (UTF-8 included) pass through. */
static void put_str(const char *s) {
  putchar('"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      printf("\\%c", *p);
    else if (*p == '\n')
      fputs("\\n", stdout);
    else if (*p == '\t')
      fputs("\\t", stdout);
    else if (*p < 0x20)
      printf("\\u%04x", *p);
    else
      putchar(*p);
  }
  putchar('"');
}

/* The separator and key of the next value. */
static void j_key(const char *key) {
  if (j_depth > 0 && j_used[j_depth - 1]++)
    putchar(',');
  if (key != NULL) {
    put_str(key);
    putchar(':');
  }
}

void j_open(const char *key, char bracket) {
  j_key(key);
  putchar(bracket);
  if (j_depth < JSON_DEPTH)
    j_used[j_depth++] = 0;
}

void j_close(char bracket) {
  putchar(bracket);
  if (j_depth > 0)
    j_depth--;
  if (j_depth == 0) {
    putchar('\n');
    fflush(stdout);
  }
}

void j_u64(const char *key, uint64_t v) {
  j_key(key);
  printf("%" PRIu64, v);
}

void j_i64(const char *key, int64_t v) {
  j_key(key);
  printf("%" PRId64, v);
}

void j_bool(const char *key, int v) {
  j_key(key);
  fputs(v ? "true" : "false", stdout);
}

void j_str(const char *key, const char *s) {
  j_key(key);
  put_str(s);
}

void j_handle(const char *key, gc_handle h) {
  char buf[24];

  j_key(key);
  put_str(fmt_handle(buf, sizeof buf, h));
}

/* ---------------------------------------------------------------- units */

const char *fmt_bytes(char *buf, size_t len, uint64_t n) {
  static const char *unit[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = (double)n;
  int u = -1;

  if (n < 1024) {
    snprintf(buf, len, "%" PRIu64 " B", n);
    return buf;
  }
  while (v >= 1024 && u < 3) {
    v /= 1024;
    u++;
  }
  snprintf(buf, len, "%.1f %s", v, unit[u]);
  return buf;
}

const char *fmt_ns(char *buf, size_t len, uint64_t ns) {
  if (ns < 1000)
    snprintf(buf, len, "%" PRIu64 " ns", ns);
  else if (ns < 1000000)
    snprintf(buf, len, "%.1f µs", (double)ns / 1e3);
  else if (ns < 1000000000)
    snprintf(buf, len, "%.2f ms", (double)ns / 1e6);
  else
    snprintf(buf, len, "%.2f s", (double)ns / 1e9);
  return buf;
}

const char *fmt_uptime(char *buf, size_t len, uint64_t s) {
  uint64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;

  if (d > 0)
    snprintf(buf, len, "%" PRIu64 "d %02" PRIu64 ":%02" PRIu64 ":%02" PRIu64, d, h, m,
             s % 60);
  else
    snprintf(buf, len, "%02" PRIu64 ":%02" PRIu64 ":%02" PRIu64, h, m, s % 60);
  return buf;
}

const char *fmt_handle(char *buf, size_t len, gc_handle h) {
  snprintf(buf, len, "0x%016llx", (unsigned long long)h);
  return buf;
}

const char *gen_name(int generation) {
  static const char *names[] = {"0", "1", "2", "permanent", "garbage"};

  if (generation >= 0 && generation <= GC_GEN_GARBAGE)
    return names[generation];
  return "untracked";
}

/* ------------------------------------------------------------- parsing */

/* The whole of s in base: no sign, no blanks, no overflow. */
static int parse_base(const char *s, int base, uint64_t *out) {
  char *end;

  if (*s == '\0' || *s == '-' || *s == '+' || *s == ' ')
    return -1;
  errno = 0;
  *out = strtoull(s, &end, base);
  return (errno != 0 || *end != '\0') ? -1 : 0;
}

int parse_handle(const char *s, gc_handle *out) {
  uint64_t v;

  if ((s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) ? parse_base(s + 2, 16, &v) != 0
                                                     : parse_base(s, 10, &v) != 0)
    return -1;
  *out = v;
  return 0;
}

int parse_u64(const char *s, uint64_t max, uint64_t *out) {
  uint64_t v;

  if (parse_base(s, 10, &v) != 0 || v > max)
    return -1;
  *out = v;
  return 0;
}
