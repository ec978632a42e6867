/*
 * cmds.c -- gcctl's subcommands: each makes its calls on the connection
 * main.c opened and prints either a human table or one JSON object.
 *
 * Owns: what each subcommand prints. Must not touch: argument parsing.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gcctl.h"

#define LIST_DEFAULT 1000
#define CLIENTS_MAX 4096

/* A line of a key/value table. */
static void kv(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void kv(const char *key, const char *fmt, ...) {
  va_list ap;

  printf("%-20s ", key);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
}

static uint64_t now_unix(void) {
  return (uint64_t)time(NULL);
}

/* ----------------------------------------------------------- ping, info */

int cmd_ping(ctl *c) {
  gc_daemon_info di;
  int err;

  if ((err = gc_daemon_info_get(c->c, &di)) != 0)
    return ctl_fail(c, "ping", err);
  if (c->json) {
    j_open(NULL, '{');
    j_bool("ok", 1);
    j_u64("pid", di.pid);
    j_str("version", di.version);
    j_str("socket", di.socket_path);
    j_close('}');
  } else {
    printf("gcd %s is alive: pid %u, socket %s\n", di.version, di.pid, di.socket_path);
  }
  return 0;
}

static void info_json(const gc_daemon_info *di, const gc_heap_info *hi) {
  j_open(NULL, '{');
  j_str("version", di->version);
  j_u64("pid", di->pid);
  j_str("socket", di->socket_path);
  j_u64("start_time_unix", di->start_time_unix);
  j_u64("uptime_seconds", now_unix() - di->start_time_unix);
  j_u64("objects", hi->objects);
  j_u64("max_objects", di->max_objects);
  j_u64("bytes_used", hi->bytes_used);
  j_u64("bytes_total", hi->bytes_total);
  j_u64("slots_used", di->slots_used);
  j_u64("slots_total", di->slots_total);
  j_u64("clients", hi->clients);
  j_u64("allocs", di->allocs);
  j_u64("frees", di->frees);
  j_u64("cycle_frees", di->cycle_frees);
  j_u64("requests", di->requests);
  j_u64("sessions_total", di->sessions_total);
  j_close('}');
}

static void info_human(const gc_daemon_info *di, const gc_heap_info *hi) {
  char a[32], b[32];

  kv("version", "%s", di->version);
  kv("pid", "%u", di->pid);
  kv("socket", "%s", di->socket_path);
  kv("uptime", "%s", fmt_uptime(a, sizeof a, now_unix() - di->start_time_unix));
  kv("objects", "%" PRIu64 " of %" PRIu64, hi->objects, di->max_objects);
  kv("heap", "%s used of %s", fmt_bytes(a, sizeof a, hi->bytes_used),
     fmt_bytes(b, sizeof b, hi->bytes_total));
  kv("slots", "%" PRIu64 " of %" PRIu64, di->slots_used, di->slots_total);
  kv("clients", "%" PRIu64 " now, %" PRIu64 " since start", hi->clients,
     di->sessions_total);
  kv("allocs", "%" PRIu64, di->allocs);
  kv("frees", "%" PRIu64 " (%" PRIu64 " by the collector)", di->frees, di->cycle_frees);
  kv("requests", "%" PRIu64, di->requests);
}

int cmd_info(ctl *c) {
  gc_daemon_info di;
  gc_heap_info hi;
  int err;

  if ((err = gc_daemon_info_get(c->c, &di)) != 0 || (err = gc_info(c->c, &hi)) != 0)
    return ctl_fail(c, "info", err);
  if (c->json)
    info_json(&di, &hi);
  else
    info_human(&di, &hi);
  return 0;
}

/* ---------------------------------------------------------------- stats */

static void collect_json(const char *key, const gc_collect_info *ci) {
  j_open(key, '{');
  j_i64("generation", ci->generation);
  j_u64("examined", ci->examined);
  j_u64("unreachable", ci->unreachable);
  j_u64("freed", ci->freed);
  j_u64("survivors", ci->survivors);
  j_u64("duration_ns", ci->duration_ns);
  j_close('}');
}

static void stats_json(const gc_heap_info *hi, const gc_stats *st) {
  j_open(NULL, '{');
  j_u64("time_unix", now_unix());
  j_u64("objects", hi->objects);
  j_u64("bytes_used", hi->bytes_used);
  j_u64("bytes_total", hi->bytes_total);
  j_u64("clients", hi->clients);
  j_bool("enabled", st->enabled);
  j_u64("debug", st->debug);
  j_u64("frozen", st->frozen);
  j_u64("garbage", st->garbage);
  j_u64("collections_total", st->collections_total);
  j_bool("collecting", st->collecting);
  j_u64("loop_stall_max_ns", st->loop_stall_max_ns);
  j_u64("last_end_unix_ns", st->last_end_unix_ns);
  collect_json("last", &st->last);
  j_open("generations", '[');
  for (int g = 0; g < 3; g++) {
    j_open(NULL, '{');
    j_u64("collections", st->gen[g].collections);
    j_u64("collected", st->gen[g].collected);
    j_u64("uncollectable", st->gen[g].uncollectable);
    j_u64("tracked", st->gen[g].tracked);
    j_u64("threshold", st->gen[g].threshold);
    j_i64("count", st->gen[g].count);
    j_close('}');
  }
  j_close(']');
  j_close('}');
}

static void stats_human(const gc_heap_info *hi, const gc_stats *st) {
  char a[32], b[32];

  kv("objects", "%" PRIu64, hi->objects);
  kv("heap", "%s used of %s", fmt_bytes(a, sizeof a, hi->bytes_used),
     fmt_bytes(b, sizeof b, hi->bytes_total));
  kv("automatic", "%s", st->enabled ? "enabled" : "disabled");
  kv("debug", "%s", st->debug & GC_DEBUG_SAVEALL ? "saveall" : "none");
  kv("frozen", "%" PRIu64, st->frozen);
  kv("garbage", "%" PRIu64, st->garbage);
  kv("collections", "%" PRIu64 "%s", st->collections_total,
     st->collecting ? " (one running now)" : "");
  if (st->collections_total == 0)
    kv("last collection", "none yet");
  else
    kv("last collection", "generation %d: %" PRIu64 " unreachable of %" PRIu64
       " examined, in %s", st->last.generation, st->last.unreachable,
       st->last.examined, fmt_ns(a, sizeof a, st->last.duration_ns));
  kv("longest loop stall", "%s", fmt_ns(a, sizeof a, st->loop_stall_max_ns));
  printf("\n%-10s %10s %10s %12s %12s %13s %10s\n", "generation", "count", "threshold",
         "collections", "collected", "uncollectable", "tracked");
  for (int g = 0; g < 3; g++)
    printf("%-10d %10" PRId64 " %10" PRIu64 " %12" PRIu64 " %12" PRIu64 " %13" PRIu64
           " %10" PRIu64 "\n", g, st->gen[g].count, st->gen[g].threshold,
           st->gen[g].collections, st->gen[g].collected, st->gen[g].uncollectable,
           st->gen[g].tracked);
}

static void row_header(void) {
  printf("%-8s %10s %10s %7s %7s %7s %8s %8s %8s %9s %8s %8s\n", "time", "objects",
         "used", "count0", "count1", "count2", "coll0", "coll1", "coll2", "collected",
         "garbage", "frozen");
}

static void row_human(const gc_heap_info *hi, const gc_stats *st) {
  char t[16], used[32];
  time_t now = time(NULL);
  struct tm tm;

  strftime(t, sizeof t, "%H:%M:%S", localtime_r(&now, &tm));
  printf("%-8s %10" PRIu64 " %10s %7" PRId64 " %7" PRId64 " %7" PRId64 " %8" PRIu64
         " %8" PRIu64 " %8" PRIu64 " %9" PRIu64 " %8" PRIu64 " %8" PRIu64 "\n", t,
         hi->objects, fmt_bytes(used, sizeof used, hi->bytes_used), st->gen[0].count,
         st->gen[1].count, st->gen[2].count, st->gen[0].collections,
         st->gen[1].collections, st->gen[2].collections,
         st->gen[0].collected + st->gen[1].collected + st->gen[2].collected, st->garbage,
         st->frozen);
  fflush(stdout);
}

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
}

/* Sleeps seconds unless SIGINT comes first (the handler has no SA_RESTART,
 * so nanosleep returns early). */
static void pause_for(double seconds) {
  struct timespec ts = {(time_t)seconds, (long)((seconds - floor(seconds)) * 1e9)};

  while (!interrupted && nanosleep(&ts, &ts) != 0)
    ;
}

static int stats_once(ctl *c, int row) {
  gc_heap_info hi;
  gc_stats st;
  int err;

  if ((err = gc_info(c->c, &hi)) != 0 || (err = gc_get_stats(c->c, &st)) != 0)
    return ctl_fail(c, "stats", err);
  if (c->json)
    stats_json(&hi, &st);
  else if (row)
    row_human(&hi, &st);
  else
    stats_human(&hi, &st);
  return 0;
}

static int parse_interval(ctl *c, double *interval, uint64_t *count) {
  char *end;

  *interval = strtod(c->pos[0], &end);
  if (*end != '\0' || !(*interval >= 0) || *interval > 86400)
    return ctl_usage("stats", "INTERVAL '%s': seconds, e.g. 1 or 0.5", c->pos[0]);
  *count = UINT64_MAX;
  if (c->npos > 1 && (parse_u64(c->pos[1], UINT64_MAX, count) != 0 || *count == 0))
    return ctl_usage("stats", "COUNT '%s': a positive number", c->pos[1]);
  return 0;
}

int cmd_stats(ctl *c) {
  struct sigaction sa = {.sa_handler = on_sigint};
  double interval;
  uint64_t count;
  int err;

  if (c->npos == 0)
    return stats_once(c, 0);
  if ((err = parse_interval(c, &interval, &count)) != 0)
    return err;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  if (!c->json)
    row_header();
  for (uint64_t i = 0; i < count && !interrupted; i++) {
    if (i > 0)
      pause_for(interval);
    if (!interrupted && (err = stats_once(c, 1)) != 0)
      return err;
  }
  return 0;
}

/* -------------------------------------------------------------- collect */

int cmd_collect(ctl *c) {
  gc_collect_info ci;
  char d[32];
  int err;

  if ((err = gc_collect_info_get(c->c, c->generation, &ci)) != 0)
    return ctl_fail(c, "collect", err);
  if (c->json) {
    collect_json(NULL, &ci);
    return 0;
  }
  printf("collected generation %d in %s\n", ci.generation, fmt_ns(d, sizeof d, ci.duration_ns));
  kv("unreachable", "%" PRIu64, ci.unreachable);
  kv("freed", "%" PRIu64, ci.freed);
  kv("examined", "%" PRIu64, ci.examined);
  kv("survivors", "%" PRIu64, ci.survivors);
  return 0;
}

/* ------------------------------------------------- enable, disable, ... */

static int show_enabled(ctl *c, int on) {
  if (c->json) {
    j_open(NULL, '{');
    j_bool("enabled", on);
    j_close('}');
  } else {
    printf("automatic collection %s\n", on ? "enabled" : "disabled");
  }
  return 0;
}

int cmd_enable(ctl *c) {
  int err = gc_enable(c->c);

  return err != 0 ? ctl_fail(c, "enable", err) : show_enabled(c, 1);
}

int cmd_disable(ctl *c) {
  int err = gc_disable(c->c);

  return err != 0 ? ctl_fail(c, "disable", err) : show_enabled(c, 0);
}

int cmd_isenabled(ctl *c) {
  int on = 0, err = gc_isenabled(c->c, &on);

  if (err != 0)
    return ctl_fail(c, "isenabled", err);
  show_enabled(c, on);
  return on ? 0 : EXIT_REFUSED;
}

static int show_thresholds(ctl *c, const uint64_t t[3]) {
  if (c->json) {
    j_open(NULL, '{');
    j_open("threshold", '[');
    for (int g = 0; g < 3; g++)
      j_u64(NULL, t[g]);
    j_close(']');
    j_close('}');
  } else {
    printf("%" PRIu64 " %" PRIu64 " %" PRIu64 "\n", t[0], t[1], t[2]);
  }
  return 0;
}

int cmd_threshold(ctl *c) {
  uint64_t t[3];
  int err;

  if ((err = gc_get_threshold(c->c, t)) != 0)
    return ctl_fail(c, "threshold", err);
  for (int g = 0; g < c->npos; g++)
    if (parse_u64(c->pos[g], UINT64_MAX, &t[g]) != 0)
      return ctl_usage("threshold", "T%d '%s': a number", g, c->pos[g]);
  if (c->npos > 0 && ((err = gc_set_threshold(c->c, t[0], t[1], t[2])) != 0 ||
                      (err = gc_get_threshold(c->c, t)) != 0))
    return ctl_fail(c, "threshold", err);
  return show_thresholds(c, t);
}

static int parse_debug(ctl *c, unsigned *flags) {
  if (c->npos != 2 || strcmp(c->pos[0], "saveall") != 0)
    return ctl_usage("debug", "say 'debug saveall on' or 'debug saveall off'");
  if (strcmp(c->pos[1], "on") == 0)
    *flags = GC_DEBUG_SAVEALL;
  else if (strcmp(c->pos[1], "off") == 0)
    *flags = 0;
  else
    return ctl_usage("debug", "saveall '%s': on or off", c->pos[1]);
  return 0;
}

int cmd_debug(ctl *c) {
  unsigned flags = 0;
  int err;

  if (c->npos > 0 && ((err = parse_debug(c, &flags)) != 0))
    return err;
  if (c->npos > 0 && (err = gc_set_debug(c->c, flags)) != 0)
    return ctl_fail(c, "debug", err);
  if ((err = gc_get_debug(c->c, &flags)) != 0)
    return ctl_fail(c, "debug", err);
  if (c->json) {
    j_open(NULL, '{');
    j_u64("debug", flags);
    j_bool("saveall", (flags & GC_DEBUG_SAVEALL) != 0);
    j_close('}');
  } else {
    printf("saveall %s\n", flags & GC_DEBUG_SAVEALL ? "on" : "off");
  }
  return 0;
}

/* ------------------------------------------------------ garbage, freeze */

static void handles_human(const gc_handle *h, size_t n) {
  char buf[24];

  for (size_t i = 0; i < n; i++)
    printf("%s\n", fmt_handle(buf, sizeof buf, h[i]));
}

static void handles_json(const char *key, const gc_handle *h, size_t n) {
  j_open(key, '[');
  for (size_t i = 0; i < n; i++)
    j_handle(NULL, h[i]);
  j_close(']');
}

static int show_count(ctl *c, const char *key, const char *text, uint64_t n) {
  if (c->json) {
    j_open(NULL, '{');
    j_u64(key, n);
    j_close('}');
  } else {
    printf(text, n);
  }
  return 0;
}

static int garbage_list(ctl *c) {
  size_t cap = c->limit ? c->limit : LIST_DEFAULT, n = 0;
  gc_handle *h = calloc(cap, sizeof *h);
  uint64_t total = 0;
  int err;

  if (h == NULL) {
    fprintf(stderr, "gcctl: garbage: out of memory for %zu handles\n", cap);
    return EXIT_REFUSED;
  }
  if ((err = gc_garbage(c->c, h, cap, &n, &total)) != 0) {
    free(h);
    return ctl_fail(c, "garbage", err);
  }
  if (c->json) {
    j_open(NULL, '{');
    j_u64("total", total);
    handles_json("handles", h, n);
    j_close('}');
  } else {
    printf("%" PRIu64 " objects on the garbage list%s\n", total, n < total ? ", first:" : "");
    handles_human(h, n);
  }
  free(h);
  return 0;
}

int cmd_garbage(ctl *c) {
  uint64_t released = 0;
  int err;

  if (!c->clear)
    return garbage_list(c);
  if ((err = gc_clear_garbage(c->c, &released)) != 0)
    return ctl_fail(c, "garbage --clear", err);
  return show_count(c, "released", "released %" PRIu64 " objects from the garbage list\n",
                    released);
}

int cmd_freeze(ctl *c) {
  uint64_t moved = 0;
  int err = gc_freeze(c->c, &moved);

  if (err != 0)
    return ctl_fail(c, "freeze", err);
  return show_count(c, "moved", "froze %" PRIu64 " objects\n", moved);
}

int cmd_unfreeze(ctl *c) {
  uint64_t moved = 0;
  int err = gc_unfreeze(c->c, &moved);

  if (err != 0)
    return ctl_fail(c, "unfreeze", err);
  return show_count(c, "moved", "unfroze %" PRIu64 " objects\n", moved);
}

int cmd_freeze_count(ctl *c) {
  uint64_t n = 0;
  int err = gc_get_freeze_count(c->c, &n);

  if (err != 0)
    return ctl_fail(c, "freeze-count", err);
  return show_count(c, "frozen", "%" PRIu64 "\n", n);
}

/* --------------------------------------------------------------- object */

static void object_json(gc_handle h, const gc_object_info *oi) {
  j_handle("handle", h);
  j_u64("refcount", oi->refcount);
  j_u64("type", oi->type);
  j_u64("nslots", oi->nslots);
  j_u64("nbytes", oi->nbytes);
  j_bool("tracked", oi->tracked);
  j_i64("generation", oi->generation);
  j_str("generation_name", gen_name(oi->generation));
}

static void object_human(gc_handle h, const gc_object_info *oi) {
  char a[32];

  kv("handle", "%s", fmt_handle(a, sizeof a, h));
  kv("refcount", "%" PRIu64, oi->refcount);
  kv("type", "%u", oi->type);
  kv("slots", "%u", oi->nslots);
  kv("payload", "%s", fmt_bytes(a, sizeof a, oi->nbytes));
  kv("tracked", "%s", oi->tracked ? "yes" : "no");
  kv("generation", "%s", gen_name(oi->generation));
}

/* Referents or referrers of h into a fresh array; its length in *n. */
static int object_refs(ctl *c, gc_handle h, gc_handle **out, size_t *n) {
  size_t cap = LIST_DEFAULT;
  int err;

  if ((*out = calloc(cap, sizeof **out)) == NULL)
    return GC_ENOCLIENT;
  err = c->referents ? gc_get_referents(c->c, h, *out, cap, n)
                     : gc_get_referrers(c->c, h, *out, cap, n);
  return err;
}

int cmd_object(ctl *c) {
  const char *what = c->referents ? "referents" : "referrers";
  gc_handle h, *refs = NULL;
  gc_object_info oi;
  size_t n = 0;
  int err;

  if (parse_handle(c->pos[0], &h) != 0)
    return ctl_usage("object", "HANDLE '%s': 0x-prefixed hex or decimal", c->pos[0]);
  if ((err = gc_object_info_get(c->c, h, &oi)) != 0 ||
      ((c->referents || c->referrers) && (err = object_refs(c, h, &refs, &n)) != 0)) {
    free(refs);
    return ctl_fail(c, "object", err);
  }
  if (c->json) {
    j_open(NULL, '{');
    object_json(h, &oi);
    if (refs != NULL)
      handles_json(what, refs, n);
    j_close('}');
  } else {
    object_human(h, &oi);
    if (refs != NULL)
      printf("%s: %zu\n", what, n);
    handles_human(refs, n);
  }
  free(refs);
  return 0;
}

/* ------------------------------------------------------ clients, verify */

static void clients_json(const gc_client_info *ci, size_t n) {
  j_open(NULL, '{');
  j_open("clients", '[');
  for (size_t i = 0; i < n; i++) {
    j_open(NULL, '{');
    j_u64("id", ci[i].id);
    j_u64("pid", ci[i].pid);
    j_u64("uid", ci[i].uid);
    j_u64("gid", ci[i].gid);
    j_str("name", ci[i].name);
    j_u64("held", ci[i].held);
    j_u64("requests", ci[i].requests);
    j_u64("ops", ci[i].ops);
    j_u64("errors", ci[i].errors);
    j_bool("admin", ci[i].admin);
    j_close('}');
  }
  j_close(']');
  j_close('}');
}

static void clients_human(const gc_client_info *ci, size_t n) {
  printf("%6s %8s %6s %-20s %10s %10s %10s %7s %5s\n", "ID", "PID", "UID", "NAME", "HELD",
         "REQUESTS", "OPS", "ERRORS", "ADMIN");
  for (size_t i = 0; i < n; i++)
    printf("%6" PRIu64 " %8u %6u %-20s %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %7" PRIu64
           " %5s\n", ci[i].id, ci[i].pid, ci[i].uid, ci[i].name[0] ? ci[i].name : "-",
           ci[i].held, ci[i].requests, ci[i].ops, ci[i].errors, ci[i].admin ? "yes" : "no");
}

int cmd_clients(ctl *c) {
  gc_client_info *ci = calloc(CLIENTS_MAX, sizeof *ci);
  size_t n = 0;
  int err;

  if (ci == NULL) {
    fprintf(stderr, "gcctl: clients: out of memory\n");
    return EXIT_REFUSED;
  }
  if ((err = gc_clients(c->c, ci, CLIENTS_MAX, &n)) != 0) {
    free(ci);
    return ctl_fail(c, "clients", err);
  }
  if (c->json)
    clients_json(ci, n);
  else
    clients_human(ci, n);
  free(ci);
  return 0;
}

int cmd_verify(ctl *c) {
  int err = gc_verify(c->c);

  if (err != 0 && err != GC_ECORRUPT)
    return ctl_fail(c, "verify", err);
  if (c->json) {
    j_open(NULL, '{');
    j_bool("ok", err == 0);
    j_str("message", gc_last_error(c->c));
    j_close('}');
  } else if (err == 0) {
    printf("heap consistent\n");
  }
  return err == 0 ? 0 : ctl_fail(c, "verify", err);
}
