/*
 * main.c -- gcd's entry point: the command line, start-up and shutdown.
 *
 * Owns: option parsing and the order of start-up (heap -> collector ->
 * names -> server, which starts the collector thread)
 * and of teardown (the reverse). Must not touch: libuv or protobuf (server.c
 * and ops.c hold them), the heap's internals.
 *
 * Exit codes (sysexits.h): 0 clean stop, 64 usage error, 1 runtime failure.
 *
 * Threading: the main thread, which becomes the loop thread.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "frame.h"
#include "gcclient.h"
#include "gcd_paths.h"
#include "log.h"
#include "names.h"
#include "server.h"
#include "session.h"

#define KIB UINT64_C(1024)
#define DEFAULT_HEAP_SIZE (KIB * KIB * KIB)          /* 1 GiB */
#define MIN_HEAP_SIZE (64 * KIB)
#define MAX_HEAP_SIZE (KIB * KIB * KIB * KIB * 16)   /* 16 TiB of address space */
#define DEFAULT_MAX_FRAME (4 * KIB * KIB)
#define MIN_MAX_FRAME KIB
#define MAX_OBJECTS_LIMIT (UINT64_C(1) << 31)
#define WRITE_LIMIT (8 * KIB * KIB)                  /* backpressure threshold */

enum { OPT_HEAP = 256, OPT_OBJECTS, OPT_FRAME, OPT_GROUP, OPT_PRINT_SOCKET, OPT_ADMIN_GROUP,
       OPT_METRICS };

static const struct option long_options[] = {
    {"socket", required_argument, NULL, 's'},
    {"heap-size", required_argument, NULL, OPT_HEAP},
    {"max-objects", required_argument, NULL, OPT_OBJECTS},
    {"max-frame", required_argument, NULL, OPT_FRAME},
    {"socket-group", required_argument, NULL, OPT_GROUP},
    {"admin-group", required_argument, NULL, OPT_ADMIN_GROUP},
    {"metrics-listen", required_argument, NULL, OPT_METRICS},
    {"print-socket", no_argument, NULL, OPT_PRINT_SOCKET},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *to) {
  char path[GCD_SOCKET_PATH_MAX];

  if (gcd_default_socket_path(path, sizeof path) != 0)
    snprintf(path, sizeof path, "(too long)");
  fprintf(to,
          "Usage: gcd [OPTION]...\n"
          "Serve a shared-memory object heap with reference counting to local clients.\n"
          "\n"
          "  -s, --socket PATH        listen on PATH (default: %s;\n"
          "                           from $GCD_SOCKET, else $XDG_RUNTIME_DIR/gcd/gcd.sock,\n"
          "                           else /tmp/gcd-UID/gcd.sock)\n"
          "      --heap-size SIZE     payload capacity (default 1G); suffixes K M G T are\n"
          "                           powers of 1024; at least 64K, at most 16T\n"
          "      --max-objects N      object table size (default 0: heap-size / 64)\n"
          "      --max-frame SIZE     largest request frame accepted (default 4M, 1K..1G)\n"
          "      --socket-group GROUP make the socket 0660 and owned by GROUP (default:\n"
          "                           0600, this user only)\n"
          "      --admin-group GROUP  members of GROUP may also use the administrative\n"
          "                           operations (default: this user and root only)\n"
          "      --metrics-listen HOST:PORT\n"
          "                           serve Prometheus /metrics there (default %s;\n"
          "                           an empty value disables it)\n"
          "      --print-socket       print the socket path these options select, and exit\n"
          "  -v, --verbose            log debug lines (or GCD_LOG_LEVEL=error|warn|info|debug)\n"
          "  -h, --help               show this help and exit\n"
          "  -V, --version            show the version and exit\n"
          "\n"
          "Exit status: 0 clean stop (SIGINT/SIGTERM), 64 usage error, 1 runtime failure.\n",
          path, GCD_METRICS_DEFAULT);
}

/* "1G", "512M", "4096", "64KiB": a positive count of bytes, suffixes in
 * powers of 1024. -1 for anything else, overflow included. */
static int parse_size(const char *text, uint64_t *out) {
  static const char units[] = "KMGT";
  uint64_t v = 0, mul = 1;
  const char *p = text, *u;

  if (*p < '0' || *p > '9')
    return -1;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (v > (UINT64_MAX - 9) / 10)
      return -1;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  if (*p != '\0' && (u = strchr(units, *p & ~0x20)) != NULL) {
    for (long k = u - units; k >= 0; k--)
      mul *= KIB;
    p++;
    if (p[0] == 'i' && p[1] == 'B')
      p += 2;
    else if (p[0] == 'B')
      p++;
  }
  if (*p != '\0' || v == 0 || v > UINT64_MAX / mul)
    return -1;
  *out = v * mul;
  return 0;
}

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "gcd: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\nTry 'gcd --help'.\n");
  return EX_USAGE;
}

static int parse_bounded(const char *arg, const char *what, uint64_t lo,
                         uint64_t hi, uint64_t *out) {
  if (parse_size(arg, out) != 0 || *out < lo || *out > hi) {
    fprintf(stderr, "gcd: %s '%s' is not a size between %" PRIu64 " and %" PRIu64
            " bytes (suffixes K, M, G, T)\nTry 'gcd --help'.\n", what, arg, lo, hi);
    return EX_USAGE;
  }
  return 0;
}

/* A count, not a size: plain digits, 0 allowed. */
static int parse_objects(const char *arg, uint64_t *out) {
  char *end;

  errno = 0;
  *out = strtoull(arg, &end, 10);
  if (arg[0] < '0' || arg[0] > '9' || *end != '\0' || errno != 0 ||
      *out > MAX_OBJECTS_LIMIT)
    return usage_error("--max-objects '%s' is not a count from 0 to 2147483648", arg);
  return 0;
}

/* A group name, or a number. */
static int parse_group(const char *flag, const char *arg, gid_t *gid, bool *set) {
  struct group *g = getgrnam(arg);
  char *end;
  unsigned long n;

  if (g == NULL) {
    errno = 0;
    n = strtoul(arg, &end, 10);
    if (arg[0] < '0' || arg[0] > '9' || *end != '\0' || errno != 0 ||
        n >= (unsigned long)(gid_t)-1) {
      fprintf(stderr, "gcd: %s: no group '%s'\nTry 'gcd --help'.\n", flag, arg);
      return EX_USAGE;
    }
    *gid = (gid_t)n;
  } else {
    *gid = g->gr_gid;
  }
  *set = true;
  return 0;
}

/* HOST:PORT with a numeric port, or "" to disable. The address itself is
 * resolved by the server when it listens. */
static int set_metrics(const char *arg, gcd_config *cfg) {
  const char *colon = strrchr(arg, ':');
  char *end;
  unsigned long port;

  if (arg[0] == '\0') {
    cfg->metrics_listen[0] = '\0';
    return 0;
  }
  if (colon == NULL || colon == arg || strlen(arg) >= sizeof cfg->metrics_listen)
    return usage_error("--metrics-listen '%s' is not HOST:PORT", arg);
  errno = 0;
  port = strtoul(colon + 1, &end, 10);
  if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || errno != 0 || port > 65535)
    return usage_error("--metrics-listen '%s': the port is not a number from 0 to 65535",
                       arg);
  memcpy(cfg->metrics_listen, arg, strlen(arg) + 1);
  return 0;
}

static int set_socket(const char *arg, gcd_config *cfg) {
  size_t len = strlen(arg);

  if (len == 0 || len >= sizeof cfg->socket_path)
    return usage_error("--socket '%s': a socket path is 1 to 107 bytes", arg);
  memcpy(cfg->socket_path, arg, len + 1);
  return 0;
}

static int log_from_env(void) {
  const char *env = getenv("GCD_LOG_LEVEL");
  gcd_log_level level;

  if (env == NULL || env[0] == '\0')
    return 0;
  if (gcd_log_parse_level(env, &level) != 0)
    return usage_error("GCD_LOG_LEVEL '%s' is not error, warn, info or debug", env);
  gcd_log_set_level(level);
  return 0;
}

static void config_defaults(gcd_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->heap_size = DEFAULT_HEAP_SIZE;
  cfg->max_frame = DEFAULT_MAX_FRAME;
  cfg->write_limit = WRITE_LIMIT;
  memcpy(cfg->metrics_listen, GCD_METRICS_DEFAULT, sizeof GCD_METRICS_DEFAULT);
}

static int parse_option(int opt, const char *arg, gcd_config *cfg) {
  uint64_t v;
  int rc;

  switch (opt) {
  case 's':
    return set_socket(arg, cfg);
  case OPT_HEAP:
    return parse_bounded(arg, "--heap-size", MIN_HEAP_SIZE, MAX_HEAP_SIZE,
                         &cfg->heap_size);
  case OPT_OBJECTS:
    return parse_objects(arg, &cfg->max_objects);
  case OPT_FRAME:
    rc = parse_bounded(arg, "--max-frame", MIN_MAX_FRAME, GCD_FRAME_MAX_LIMIT, &v);
    cfg->max_frame = (uint32_t)v;
    return rc;
  case OPT_GROUP:
    return parse_group("--socket-group", arg, &cfg->socket_gid, &cfg->group_set);
  case OPT_ADMIN_GROUP:
    return parse_group("--admin-group", arg, &cfg->admin_gid, &cfg->admin_group_set);
  case OPT_METRICS:
    return set_metrics(arg, cfg);
  case OPT_PRINT_SOCKET:
    cfg->print_socket = true;
    return 0;
  case 'v':
    gcd_log_set_level(GCD_LOG_DEBUG);
    return 0;
  default:
    fprintf(stderr, "Try 'gcd --help'.\n");
    return EX_USAGE;
  }
}

/* Returns -1 to go on, or the exit code (0 after --help or --version). */
static int parse_args(int argc, char **argv, gcd_config *cfg) {
  int opt, rc;

  config_defaults(cfg);
  if ((rc = log_from_env()) != 0)
    return rc;
  while ((opt = getopt_long(argc, argv, "s:vhV", long_options, NULL)) != -1) {
    if (opt == 'h' || opt == 'V') {
      opt == 'h' ? usage(stdout) : (void)printf("gcd %s\n", GCD_VERSION);
      return 0;
    }
    if ((rc = parse_option(opt, optarg, cfg)) != 0)
      return rc;
  }
  if (optind < argc)
    return usage_error("unexpected argument '%s'", argv[optind]);
  if (cfg->socket_path[0] == '\0' &&
      gcd_default_socket_path(cfg->socket_path, sizeof cfg->socket_path) != 0)
    return usage_error("%s", "the default socket path is too long; use --socket");
  if (cfg->print_socket) {
    printf("%s\n", cfg->socket_path);
    return 0;
  }
  return -1;
}

static int heap_start(gcd_daemon *d) {
  gcd_heap_config hc = {.data_size = d->cfg.heap_size,
                        .max_objects = d->cfg.max_objects};
  int err = gcd_heap_init(&d->heap, &hc);

  if (err != 0)
    gcd_log_error("cannot create a heap of %" PRIu64 " bytes: %s", d->cfg.heap_size,
                  gcd_log_strerror(err));
  return err;
}

/* Collector thread, heap lock held: with GCD_VERIFY_COLLECTIONS=1 in the
 * environment (the integration tests set it), the whole heap is checked
 * after every collection, and a broken invariant stops the daemon at once
 * with the finding, before anything else can hide it. */
static void verify_after_collect(void *ctx) {
  char msg[256];

  if (gcd_daemon_verify(ctx, msg, sizeof msg) == GC_ECORRUPT) {
    gcd_log_error("heap verification after a collection failed: %s", msg);
    abort();
  }
}

/* The collector and its (not yet started) thread; the server starts it. */
static int collector_init(gcd_daemon *d) {
  const char *env = getenv("GCD_VERIFY_COLLECTIONS");
  int err = gcd_gc_init(&d->gc, &d->heap);

  if (err == 0 && (err = gcd_gcthread_init(&d->gct, &d->gc)) != 0)
    gcd_gc_destroy(&d->gc);
  if (err != 0) {
    gcd_log_error("cannot set up the collector: %s", gcd_log_strerror(err));
    return err;
  }
  if (env != NULL && strcmp(env, "1") == 0) {
    d->gct.after_collect = verify_after_collect;
    d->gct.after_ctx = d;
    gcd_log_warn("GCD_VERIFY_COLLECTIONS=1: the heap is verified after every "
                 "collection (slow)");
  }
  return 0;
}

static void log_start(const gcd_daemon *d) {
  gcd_heap_stats st;

  gcd_heap_stats_get(&d->heap, &st);
  gcd_log_info("gcd %s listening on %s: heap %" PRIu64 " bytes, %" PRIu64
               " objects max, max frame %" PRIu32 " bytes, pid %ld", GCD_VERSION,
               d->cfg.socket_path, st.bytes_total, st.table_cap - 1,
               d->cfg.max_frame, (long)d->pid);
}

/* Start-up as a ladder; each failure unwinds what was built, in reverse. */
static int run(gcd_daemon *d) {
  gcd_server *srv = NULL;
  int err;

  gcd_session_daemon_init(d);
  if ((err = heap_start(d)) != 0)
    goto fail_heap;
  if ((err = collector_init(d)) != 0)
    goto fail_collector;
  gcd_names_init(&d->names);
  if ((err = gcd_server_open(&srv, d)) != 0)
    goto fail_server;
  log_start(d);
  err = gcd_server_run(srv);
  gcd_log_info("stopped: %" PRIu64 " sessions served, %" PRIu64 " requests",
               d->sessions_total, d->requests);

fail_server:
  gcd_server_close(srv); /* joins the collector thread */
  gcd_names_destroy(&d->names, &d->heap);
  gcd_gcthread_destroy(&d->gct);
  gcd_gc_destroy(&d->gc);
fail_collector:
  gcd_heap_destroy(&d->heap);
fail_heap:
  return err == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
  static gcd_daemon d; /* large (counters); lives as long as the process */
  int rc = parse_args(argc, argv, &d.cfg);

  return rc >= 0 ? rc : run(&d);
}
