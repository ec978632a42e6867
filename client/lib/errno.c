/*
 * errno.c -- the one error space: texts and names generated from
 * GC_ERRNO_MAP, and the buffers behind gc_last_error().
 *
 * Owns: the thread-local message of a failed gc_connect(), the library's
 * only global. Must not touch: sockets, mappings.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* A failed gc_connect() has no connection to keep its message in. */
static _Thread_local char connect_error[GC__ERR_MAX];

GC_EXTERN const char *gc_strerror(int err) {
  switch (err) {
  case GC_OK:
    return "success";
#define GC__STRERROR(name, value, text) \
  case GC_##name:                       \
    return text;
    GC_ERRNO_MAP(GC__STRERROR)
#undef GC__STRERROR
  default:
    return "unknown error";
  }
}

GC_EXTERN const char *gc_err_name(int err) {
  switch (err) {
  case GC_OK:
    return "GC_OK";
#define GC__ERR_NAME(name, value, text) \
  case GC_##name:                       \
    return "GC_" #name;
    GC_ERRNO_MAP(GC__ERR_NAME)
#undef GC__ERR_NAME
  default:
    return "GC_UNKNOWN";
  }
}

GC_EXTERN const char *gc_last_error(const gc_client *c) {
  return c != NULL ? c->err : connect_error;
}

int gc__fail(gc_client *c, int code, const char *fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(c->err, sizeof c->err, fmt, ap);
  va_end(ap);
  return code;
}

void gc__set_connect_error(const char *msg) {
  snprintf(connect_error, sizeof connect_error, "%s", msg);
}
