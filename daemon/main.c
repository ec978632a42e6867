/*
 * main.c -- gcd's entry point: the command line, start-up and shutdown.
 *
 * Owns: the order of start-up (configuration -> heap -> collector -> names
 * -> server, which starts the collector thread)
 * and of teardown (the reverse). Must not touch: libuv or protobuf (server.c
 * and ops.c hold them), the heap's internals, the options' meaning (config.c).
 *
 * Exit codes (sysexits.h): 0 clean stop, 64 usage error, 78 bad config file,
 * 1 runtime failure.
 *
 * Threading: the main thread, which becomes the loop thread.
 */
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "gcclient.h"
#include "log.h"
#include "names.h"
#include "notify.h"
#include "server.h"
#include "session.h"

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
    gcd_log_info("GCD_VERIFY_COLLECTIONS=1: the heap is verified after every "
                 "collection (slow)");
  }
  return 0;
}

/* Logs the start and tells systemd (if it runs us) that clients may come. */
static void log_start(const gcd_daemon *d) {
  gcd_heap_stats st;
  char status[GCD_SOCKET_PATH_MAX + 64];

  gcd_heap_stats_get(&d->heap, &st);
  snprintf(status, sizeof status, "serving on %s, heap %" PRIu64 " bytes",
           d->cfg.socket_path, st.bytes_total);
  gcd_notify_ready(status);
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

/* glibc gives memory freed at the top of its heap back to the system (a
 * brk shrink) once 128 KiB of it is free. The shrink flushes the page
 * tables of every CPU running a thread of the daemon; on a virtual machine
 * that took 1.3-2.5 ms, paid by the collector under the heap lock when a
 * collection closed emptied allocator regions and freed their bitmaps
 * (docs/performance.md). The top is now given back past 64 MiB. Setting
 * that fixes glibc's mmap threshold too, which it would otherwise raise as
 * large blocks are freed; it is set where that raising ends, 32 MiB. */
static void malloc_policy(void) {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

int main(int argc, char **argv) {
  static gcd_daemon d; /* large (counters); lives as long as the process */
  int rc = gcd_config_load(&d.cfg, argc, argv, NULL, stdout, stderr);

  if (rc != GCD_CONFIG_RUN)
    return rc;
  malloc_policy();
  gcd_log_set_level(d.cfg.log_level);
  return run(&d);
}
