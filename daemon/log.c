/*
 * log.c -- timestamped, levelled lines on stderr, and error-code names.
 *
 * Owns: the level. Must not touch: any state of the daemon; it only formats.
 * Threading: any thread. The level is written once, before other threads
 * start, and is read relaxed afterwards.
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "gcclient.h"

static _Atomic int log_level = GCD_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void gcd_log_set_level(gcd_log_level level) {
  atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

gcd_log_level gcd_log_get_level(void) {
  return (gcd_log_level)atomic_load_explicit(&log_level, memory_order_relaxed);
}

int gcd_log_parse_level(const char *text, gcd_log_level *out) {
  for (int i = GCD_LOG_ERROR; i <= GCD_LOG_DEBUG; i++) {
    if (strcasecmp(text, level_names[i]) == 0) {
      *out = (gcd_log_level)i;
      return 0;
    }
  }
  return -1;
}

/* One line, one fprintf: stdio's lock keeps lines of two threads whole.
 * UTC with milliseconds, so lines sort and compare across hosts. */
static void log_line(gcd_log_level level, const char *fmt, va_list ap) {
  char stamp[32], text[1024];
  struct timespec ts;
  struct tm tm;

  if ((int)level > atomic_load_explicit(&log_level, memory_order_relaxed))
    return;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  vsnprintf(text, sizeof text, fmt, ap);
  fprintf(stderr, "%s.%03ldZ gcd[%ld] %s: %s\n", stamp, ts.tv_nsec / 1000000,
          (long)getpid(), level_names[level], text);
}

#define LOG_FN(fn, level)                                                      \
  void fn(const char *fmt, ...) {                                              \
    va_list ap;                                                                \
    va_start(ap, fmt);                                                         \
    log_line(level, fmt, ap);                                                  \
    va_end(ap);                                                                \
  }

LOG_FN(gcd_log_error, GCD_LOG_ERROR)
LOG_FN(gcd_log_warn, GCD_LOG_WARN)
LOG_FN(gcd_log_info, GCD_LOG_INFO)
LOG_FN(gcd_log_debug, GCD_LOG_DEBUG)

const char *gcd_log_err_name(int err) {
  switch (err) {
  case 0:
    return "OK";
#define ERR_NAME(name, value, text)                                            \
  case value:                                                                  \
    return "GC_" #name;
    GC_ERRNO_MAP(ERR_NAME)
#undef ERR_NAME
  default:
    return "unknown error";
  }
}

const char *gcd_log_strerror(int err) {
  switch (err) {
  case 0:
    return "success";
#define ERR_TEXT(name, value, text)                                            \
  case value:                                                                  \
    return text;
    GC_ERRNO_MAP(ERR_TEXT)
#undef ERR_TEXT
  default:
    return "unknown error";
  }
}
