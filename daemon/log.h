/*
 * log.h -- the daemon's diagnostics: one line per event on stderr, with a
 * timestamp, the pid and a level; and the names of the GC_E* error codes.
 *
 * Owns: the log level (set once at start-up). Must not touch: anything but
 * stderr. Threading: any thread (one fprintf per line; stdio locks it).
 */
#ifndef GCD_LOG_H
#define GCD_LOG_H

typedef enum gcd_log_level {
  GCD_LOG_ERROR = 0,
  GCD_LOG_WARN = 1,
  GCD_LOG_INFO = 2,
  GCD_LOG_DEBUG = 3
} gcd_log_level;

/** Lines above level are dropped. The default is GCD_LOG_INFO. */
void gcd_log_set_level(gcd_log_level level);
gcd_log_level gcd_log_get_level(void);

/**
 * Parses "error", "warn", "info" or "debug" (any case) into *out.
 * 0, or -1 for anything else.
 */
int gcd_log_parse_level(const char *text, gcd_log_level *out);

#define GCD_LOG_PRINTF __attribute__((format(printf, 1, 2)))
void gcd_log_error(const char *fmt, ...) GCD_LOG_PRINTF;
void gcd_log_warn(const char *fmt, ...) GCD_LOG_PRINTF;
void gcd_log_info(const char *fmt, ...) GCD_LOG_PRINTF;
void gcd_log_debug(const char *fmt, ...) GCD_LOG_PRINTF;

/** "GC_ESTALE" for GC_ESTALE, "OK" for 0, "unknown error" otherwise. */
const char *gcd_log_err_name(int err);

/** The text of GC_ERRNO_MAP for err, e.g. "stale handle: the object was freed". */
const char *gcd_log_strerror(int err);

#endif /* GCD_LOG_H */
