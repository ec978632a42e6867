/*
 * client.c -- a connection's life (connect, hello, close) and the calls that
 * are one operation each: every such call is one request with one op.
 *
 * Owns: struct gc_client's lifetime. Must not touch: protobuf types (wire.c),
 * mappings (shm.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "gcd_paths.h"
#include "internal.h"

GC_EXTERN int gc_default_socket(char *buf, size_t len) {
  if (buf == NULL || gcd_default_socket_path(buf, len) != 0)
    return GC_EINVAL;
  return 0;
}

int gc__begin(gc_client *c) {
  if (c == NULL)
    return GC_EINVAL;
  c->err[0] = '\0';
  return 0;
}

/* Why connect() failed, in the error space: nobody listening is
 * GC_ECONNECT; a socket we may not open is GC_EPERM. */
static int connect_code(int err) {
  return (err == EACCES || err == EPERM) ? GC_EPERM : GC_ECONNECT;
}

static int open_socket(gc_client *c, const char *path) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};

  if (strlen(path) >= sizeof sa.sun_path)
    return gc__fail(c, GC_EINVAL, "socket path '%s' is longer than %zu bytes", path,
                    sizeof sa.sun_path - 1);
  memcpy(sa.sun_path, path, strlen(path) + 1);
  c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->fd < 0)
    return gc__fail(c, GC_ENOCLIENT, "socket(): %s", strerror(errno));
  while (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    int err = errno;

    if (err == EINTR)
      continue;
    return gc__fail(c, connect_code(err), "cannot connect to gcd at '%s': %s", path,
                    strerror(err));
  }
  return 0;
}

/* Socket, hello, mappings. c->err holds the reason on failure. */
static int connect_to(gc_client *c, const char *path, const char *name) {
  char def[sizeof(((struct sockaddr_un *)0)->sun_path) + 64];
  int err;

  if (path == NULL) {
    if (gc_default_socket(def, sizeof def) != 0)
      return gc__fail(c, GC_EINVAL, "default socket path is too long");
    path = def;
  }
  if ((err = open_socket(c, path)) != 0)
    return err;
  if ((err = gc__wire_hello(c, name)) == GC_ECLOSED) {
    char why[GC__ERR_MAX];

    memcpy(why, c->err, sizeof why);
    err = gc__fail(c, GC_EIO, "handshake with gcd at '%s' failed: %s", path, why);
  }
  return err;
}

/* A decimal number from the environment, 0..max, into *out; unset or
 * empty leaves *out alone. Set but not such a number is an error rather
 * than silently the default. */
static int env_number(gc_client *c, const char *name, uint64_t max, const char *unit,
                      uint64_t *out) {
  const char *v = getenv(name);
  char *end;
  unsigned long long n;

  if (v == NULL || v[0] == '\0')
    return 0;
  errno = 0;
  n = strtoull(v, &end, 10);
  if (errno != 0 || *end != '\0' || v[0] < '0' || v[0] > '9' || n > max)
    return gc__fail(c, GC_EINVAL, "%s='%s': not a number of %s from 0 to %llu", name, v,
                    unit, (unsigned long long)max);
  *out = n;
  return 0;
}

/* $GCD_TIMEOUT_MS and $GCD_SPIN_US, as GC_OPT_TIMEOUT_MS and GC_OPT_SPIN_US
 * take them. */
static int options_from_env(gc_client *c) {
  uint64_t ms = 0, us = GC_SPIN_DEFAULT_US;
  int err;

  if ((err = env_number(c, "GCD_TIMEOUT_MS", GC_TIMEOUT_MAX_MS, "milliseconds", &ms)) != 0 ||
      (err = env_number(c, "GCD_SPIN_US", GC_SPIN_MAX_US, "microseconds", &us)) != 0)
    return err;
  c->timeout_ms = (unsigned)ms;
  c->spin_max_ns = c->spin_ns = (int64_t)us * 1000;
  return 0;
}

GC_EXTERN int gc_connect(const char *socket_path, const char *client_name, gc_client **out) {
  gc_client *c;
  int err;

  if (out == NULL) {
    gc__set_connect_error("gc_connect: out is NULL");
    return GC_EINVAL;
  }
  *out = NULL;
  if ((c = calloc(1, sizeof *c)) == NULL) {
    gc__set_connect_error("out of memory for a connection");
    return GC_ENOCLIENT;
  }
  c->fd = -1;
  c->depth = GC_PIPELINE_DEFAULT;
  if ((err = options_from_env(c)) != 0 ||
      (err = connect_to(c, socket_path, client_name)) != 0) {
    gc__set_connect_error(c->err);
    gc_close(c);
    return err;
  }
  gc__set_connect_error("");
  *out = c;
  return 0;
}

GC_EXTERN void gc_close(gc_client *c) {
  if (c == NULL)
    return;
  if (c->fd >= 0)
    gc__wire_flush(c); /* async frames not yet sent still go */
  gc__wire_kill(c);
  gc__shm_unmap(&c->heap);
  gc__wire_free(c);
  free(c);
}

/* ------------------------------------------------- one-operation calls */

/* Runs one op; its code is the call's result (c->err holds its message). */
static int call(gc_client *c, const gc__op *op, uint64_t *value, gc_heap_info *info) {
  gc__result res = {0};
  int err;

  if ((err = gc__begin(c)) != 0 || (err = gc__wire_exchange(c, op, 1, &res, info)) != 0)
    return err;
  if (res.code == 0 && value != NULL)
    *value = res.value;
  return res.code;
}

GC_EXTERN int gc_alloc(gc_client *c, uint32_t nslots, uint64_t nbytes, uint32_t type,
                       gc_handle *out) {
  gc__op op = {.kind = GC__OP_ALLOC, .u32 = nslots, .type = type, .u64b = nbytes};

  return call(c, &op, out, NULL);
}

GC_EXTERN int gc_retain(gc_client *c, gc_handle h) {
  gc__op op = {.kind = GC__OP_RETAIN, .u64a = h};

  return call(c, &op, NULL, NULL);
}

GC_EXTERN int gc_release(gc_client *c, gc_handle h) {
  gc__op op = {.kind = GC__OP_RELEASE, .u64a = h};

  if (c != NULL && c->oneway_release)
    return gc_release_async(c, h, NULL);

  return call(c, &op, NULL, NULL);
}

GC_EXTERN int gc_set_ref(gc_client *c, gc_handle obj, uint32_t slot, gc_handle target) {
  gc__op op = {.kind = GC__OP_SET_REF, .u64a = obj, .u32 = slot, .u64b = target};

  return call(c, &op, NULL, NULL);
}

GC_EXTERN int gc_refcount(gc_client *c, gc_handle h, uint64_t *out) {
  gc__op op = {.kind = GC__OP_REFCOUNT, .u64a = h};

  return call(c, &op, out, NULL);
}

/* A name the daemon would refuse anyway is refused here, with the reason. */
static int check_name(gc_client *c, const char *name) {
  size_t len;

  if (name == NULL)
    return gc__fail(c, GC_ENAME, "name is NULL");
  len = strlen(name);
  if (len == 0 || len > GC_NAME_MAX)
    return gc__fail(c, GC_ENAME, "name of %zu bytes: a name has 1..%u bytes", len,
                    GC_NAME_MAX);
  return 0;
}

static int name_call(gc_client *c, uint32_t kind, const char *name, gc_handle h,
                     uint64_t *value) {
  gc__op op = {.kind = kind, .name = name, .u64a = h};
  int err;

  if ((err = gc__begin(c)) != 0 || (err = check_name(c, name)) != 0)
    return err;
  return call(c, &op, value, NULL);
}

GC_EXTERN int gc_publish(gc_client *c, const char *name, gc_handle h) {
  return name_call(c, GC__OP_PUBLISH, name, h, NULL);
}

GC_EXTERN int gc_lookup(gc_client *c, const char *name, gc_handle *out) {
  return name_call(c, GC__OP_LOOKUP, name, 0, out);
}

GC_EXTERN int gc_unpublish(gc_client *c, const char *name) {
  return name_call(c, GC__OP_UNPUBLISH, name, 0, NULL);
}

GC_EXTERN int gc_info(gc_client *c, gc_heap_info *out) {
  gc__op op = {.kind = GC__OP_INFO};
  gc_heap_info tmp = {0};
  int err;

  if ((err = call(c, &op, NULL, &tmp)) == 0 && out != NULL)
    *out = tmp;
  return err;
}

GC_EXTERN int gc_verify(gc_client *c) {
  gc__op op = {.kind = GC__OP_VERIFY};

  return call(c, &op, NULL, NULL);
}
