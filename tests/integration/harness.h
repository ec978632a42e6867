/*
 * harness.h -- what every integration test needs: a real gcd started on a
 * private socket, client processes forked and heard from over pipes, and
 * the heap verifier run at the end.
 *
 * Every wait here is bounded; running out of time fails the test with a
 * message saying what did not happen. The h_* functions that assert are for
 * the cmocka process only; a forked child uses CHILD_CHECK and reports
 * through its pipe.
 */
#ifndef GCD_TEST_HARNESS_H
#define GCD_TEST_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include <cmocka.h>

#include "gcclient.h"

/* A daemon started by the harness. */
typedef struct h_daemon {
  pid_t pid;       /* 0 when not running */
  char dir[128];   /* the mkdtemp directory holding the socket */
  char sock[192];  /* dir/gcd.sock */
} h_daemon;

/* A forked client process: it writes reports to `rd`'s other end and reads
 * commands from `wr`'s other end. */
typedef struct h_child {
  pid_t pid;
  int rd; /* parent reads the child's reports */
  int wr; /* parent writes commands to the child */
} h_child;

/* The body of a child: `in` delivers the parent's commands, `out` takes
 * reports. Its return value is the child's exit status. */
typedef int (*h_child_fn)(void *arg, int in, int out);

/** Makes a fresh temporary directory and the socket path in it (no daemon). */
void h_daemon_prepare(h_daemon *d);

/**
 * Starts GCD_BINARY --socket d->sock --metrics-listen 127.0.0.1:0 followed
 * by the NULL-terminated extra arguments, with GCD_VERIFY_COLLECTIONS=1
 * unless the environment sets it (the daemon checks the whole heap after
 * every collection), and waits (bounded) until a client can connect. Fails
 * the test if the daemon exits or does not answer in time. d is either
 * zeroed (then a fresh directory is made, as by h_daemon_prepare()) or
 * prepared.
 */
void h_daemon_start(h_daemon *d, ...);

/** As h_daemon_start() with an argument vector (NULL-terminated). */
void h_daemon_startv(h_daemon *d, const char *const *extra);

/** Runs GCD_BINARY with args (NULL-terminated, no --socket added) to its end;
 * returns the exit status (or 128+signal), failing on timeout. */
int h_run_gcd(const char *const *args, int timeout_ms);

/** Sends sig and waits (bounded) for the daemon's exit; returns its exit
 * status (or 128+signal). The directory is left for the caller. */
int h_daemon_signal(h_daemon *d, int sig);

/** SIGTERM; asserts exit status 0 and that the socket file is gone. */
void h_daemon_stop(h_daemon *d);

/** SIGKILL and reap; removes the temporary directory. */
void h_daemon_kill(h_daemon *d);

/** Waits up to timeout_ms for pid to exit; its wait status, or -1 on timeout. */
int h_wait_pid(pid_t pid, int timeout_ms);

/** gc_connect() to d, asserting success. */
gc_client *h_connect(const h_daemon *d, const char *name);

/** Connects, asserts gc_verify() == 0 (printing the daemon's message if
 * not), disconnects. Every integration test calls it at its end. */
void h_verify(const h_daemon *d);

/** Starts a daemon with --heap-size heap_size and connects to it as name:
 *  the fixture most tests start from. */
gc_client *h_open(h_daemon *d, const char *heap_size, const char *name);

/** The fixture's end: closes c, verifies the heap, stops the daemon. */
void h_close(h_daemon *d, gc_client *c);

/** The heap's live object count, asserting gc_info() works. */
uint64_t h_objects(gc_client *c);

/** Polls gc_info() until objects == want, at most timeout_ms; asserts. */
void h_wait_objects(gc_client *c, uint64_t want, int timeout_ms);

/** Forks a child running fn(arg, in, out); the child _exits with its result. */
h_child h_fork(h_child_fn fn, void *arg);

/** Reads exactly n bytes from a child, asserting they arrive in time. */
void h_child_read(h_child *ch, void *buf, size_t n, int timeout_ms);

/** Writes n bytes to a child. */
void h_child_write(h_child *ch, const void *buf, size_t n);

/** Waits for a child's exit (bounded) and closes its pipes; returns its
 * exit status, or 128+signal when it was killed. */
int h_child_wait(h_child *ch, int timeout_ms);

/** Writes all of buf to fd (for children's reports); 0 or -1. */
int h_write_all(int fd, const void *buf, size_t n);

/** Reads exactly n bytes from fd (blocking); 0, or -1 at EOF/error. */
int h_read_all(int fd, void *buf, size_t n);

/** Milliseconds on a monotonic clock. */
int64_t h_now_ms(void);

/* In a forked child cmocka's asserts cannot report: fail loudly and exit. */
#define CHILD_CHECK(cond)                                                      \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "child %d: %s:%d: check failed: %s\n", (int)getpid(),  \
              __FILE__, __LINE__, #cond);                                      \
      _exit(100);                                                              \
    }                                                                          \
  } while (0)

/* Asserts a gc_* call returns code, and prints the library's message if not. */
#define assert_gc(call, code, client)                                          \
  do {                                                                         \
    int rc_ = (call);                                                          \
    if (rc_ != (code))                                                         \
      print_error("%s = %s (%s), expected %s\n", #call, gc_err_name(rc_),     \
                  gc_last_error(client), gc_err_name(code));                   \
    assert_int_equal(rc_, (code));                                             \
  } while (0)

#define assert_ok(call, client) assert_gc(call, 0, client)

/* ---------------------------------------------------------- HTTP (harness_http.c) */

/** The TCP port the daemon listens on for metrics (found through /proc), or
 *  -1 when it has none. */
int h_metrics_port(const h_daemon *d);

/** Connects to 127.0.0.1:port, sends len bytes of request, reads until the
 *  server closes (bounded); returns the whole response, NUL-terminated
 *  (free() it). Fails the test if the connection fails or times out. */
char *h_http(int port, const char *request, size_t len, int timeout_ms);

/** GET path with Connection: close; the whole response as h_http(). */
char *h_http_get(int port, const char *path);

/** The response's body (after the blank line), or fails the test. */
const char *h_http_body(const char *response);

/** The value of the sample `series` (name with its labels, exactly as
 *  exposed) in a metrics body; fails the test if it is absent. */
double h_metric(const char *body, const char *series);

#endif /* GCD_TEST_HARNESS_H */
