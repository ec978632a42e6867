/*
 * harness.c -- starts and stops real daemons, forks client processes, and
 * runs the heap verifier for the integration tests. See harness.h.
 *
 * Processes it starts get PR_SET_PDEATHSIG, and daemons are also killed at
 * exit, so a failed test leaves nothing running behind it.
 */
#include "harness.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define START_TIMEOUT_MS 20000
#define STOP_TIMEOUT_MS 20000
#define MAX_DAEMONS 16
#define MAX_ARGS 32

static pid_t live_daemons[MAX_DAEMONS];

int64_t h_now_ms(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* ------------------------------------------------------------ processes */

/* Safety net for a test that failed half way: no daemon outlives the run. */
static void kill_live_daemons(void) {
  for (int i = 0; i < MAX_DAEMONS; i++)
    if (live_daemons[i] > 0)
      kill(live_daemons[i], SIGKILL);
}

static void track_daemon(pid_t pid, pid_t replace) {
  static int registered;

  if (!registered++)
    atexit(kill_live_daemons);
  for (int i = 0; i < MAX_DAEMONS; i++)
    if (live_daemons[i] == replace) {
      live_daemons[i] = pid;
      return;
    }
}

int h_wait_pid(pid_t pid, int timeout_ms) {
  int64_t deadline = h_now_ms() + timeout_ms;
  int status;

  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);

    if (r == pid)
      return status;
    if (r < 0 && errno != EINTR)
      return -1;
    if (h_now_ms() >= deadline)
      return -1;
    sleep_ms(2);
  }
}

/* Exit code, or 128 + signal number, as a shell reports it. */
static int exit_code(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static pid_t spawn(const char *const *argv) {
  pid_t pid = fork();

  assert_true(pid >= 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* Quiet daemons unless the person running the tests asks otherwise. */
    setenv("GCD_LOG_LEVEL", "warn", 0);
    /* Every collection is followed by a whole-heap check that aborts the
     * daemon on a broken invariant (a test may set 0 to skip it). */
    setenv("GCD_VERIFY_COLLECTIONS", "1", 0);
    execv(argv[0], (char *const *)argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  return pid;
}

int h_run_gcd(const char *const *args, int timeout_ms) {
  const char *argv[MAX_ARGS + 2] = {GCD_BINARY};
  int n = 1, status;
  pid_t pid;

  for (; args[n - 1] != NULL && n <= MAX_ARGS; n++)
    argv[n] = args[n - 1];
  argv[n] = NULL;
  pid = spawn(argv);
  status = h_wait_pid(pid, timeout_ms);
  if (status == -1) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fail_msg("gcd did not exit within %d ms", timeout_ms);
  }
  return exit_code(status);
}

/* -------------------------------------------------------------- daemons */

void h_daemon_prepare(h_daemon *d) {
  memset(d, 0, sizeof *d);
  snprintf(d->dir, sizeof d->dir, "/tmp/gcdtest-XXXXXX");
  assert_non_null(mkdtemp(d->dir));
  snprintf(d->sock, sizeof d->sock, "%s/gcd.sock", d->dir);
}

/* The daemon is ready when a full handshake works. */
static void wait_ready(h_daemon *d) {
  int64_t deadline = h_now_ms() + START_TIMEOUT_MS;
  gc_client *c;
  int status;

  for (;;) {
    if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
      track_daemon(0, d->pid);
      d->pid = 0;
      fail_msg("gcd exited (status %d) before accepting connections on %s",
               exit_code(status), d->sock);
    }
    if (gc_connect(d->sock, "harness-probe", &c) == 0) {
      gc_close(c);
      return;
    }
    if (h_now_ms() >= deadline)
      fail_msg("gcd did not accept connections on %s within %d ms (last: %s)", d->sock,
               START_TIMEOUT_MS, gc_last_error(NULL));
    sleep_ms(10);
  }
}

/* The metrics endpoint takes a free port, so that daemons of tests run in
 * parallel never contend for the default one; extra may override it. */
void h_daemon_startv(h_daemon *d, const char *const *extra) {
  const char *argv[MAX_ARGS + 6] = {GCD_BINARY, "--socket", d->sock, "--metrics-listen",
                                    "127.0.0.1:0"};
  int n = 5;

  if (d->dir[0] == '\0')
    h_daemon_prepare(d);
  for (int i = 0; extra != NULL && extra[i] != NULL && n < MAX_ARGS; i++)
    argv[n++] = extra[i];
  argv[n] = NULL;
  d->pid = spawn(argv);
  track_daemon(d->pid, 0);
  wait_ready(d);
}

void h_daemon_start(h_daemon *d, ...) {
  const char *extra[MAX_ARGS + 1];
  int n = 0;
  va_list ap;

  va_start(ap, d);
  while (n < MAX_ARGS && (extra[n] = va_arg(ap, const char *)) != NULL)
    n++;
  va_end(ap);
  extra[n] = NULL;
  h_daemon_startv(d, extra);
}

int h_daemon_signal(h_daemon *d, int sig) {
  pid_t pid = d->pid;
  int status;

  assert_true(pid > 0);
  assert_int_equal(kill(pid, sig), 0);
  status = h_wait_pid(pid, STOP_TIMEOUT_MS);
  if (status == -1) {
    h_daemon_kill(d);
    fail_msg("gcd did not stop within %d ms of signal %d", STOP_TIMEOUT_MS, sig);
  }
  track_daemon(0, pid);
  d->pid = 0;
  return exit_code(status);
}

void h_daemon_stop(h_daemon *d) {
  int code = h_daemon_signal(d, SIGTERM);

  if (code != 0)
    fail_msg("gcd stopped with status %d after SIGTERM, expected 0", code);
  if (access(d->sock, F_OK) == 0)
    fail_msg("gcd left its socket %s behind", d->sock);
  rmdir(d->dir);
}

void h_daemon_kill(h_daemon *d) {
  if (d->pid > 0) {
    kill(d->pid, SIGKILL);
    waitpid(d->pid, NULL, 0);
    track_daemon(0, d->pid);
    d->pid = 0;
  }
  unlink(d->sock);
  rmdir(d->dir);
}

/* -------------------------------------------------------------- clients */

gc_client *h_connect(const h_daemon *d, const char *name) {
  gc_client *c = NULL;
  int rc = gc_connect(d->sock, name, &c);

  if (rc != 0)
    fail_msg("gc_connect(%s) = %s: %s", d->sock, gc_err_name(rc), gc_last_error(NULL));
  return c;
}

void h_verify(const h_daemon *d) {
  gc_client *c = h_connect(d, "verifier");
  int rc = gc_verify(c);

  if (rc != 0)
    print_error("gc_verify = %s: %s\n", gc_err_name(rc), gc_last_error(c));
  gc_close(c);
  assert_int_equal(rc, 0);
}

gc_client *h_open(h_daemon *d, const char *heap_size, const char *name) {
  h_daemon_start(d, "--heap-size", heap_size, NULL);
  return h_connect(d, name);
}

void h_close(h_daemon *d, gc_client *c) {
  gc_close(c);
  h_verify(d);
  h_daemon_stop(d);
}

uint64_t h_objects(gc_client *c) {
  gc_heap_info info;

  assert_ok(gc_info(c, &info), c);
  return info.objects;
}

void h_wait_objects(gc_client *c, uint64_t want, int timeout_ms) {
  int64_t deadline = h_now_ms() + timeout_ms;
  uint64_t have;

  while ((have = h_objects(c)) != want) {
    if (h_now_ms() >= deadline)
      fail_msg("heap has %llu objects after %d ms, expected %llu",
               (unsigned long long)have, timeout_ms, (unsigned long long)want);
    sleep_ms(5);
  }
}

/* ------------------------------------------------------------- children */

int h_write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;

  while (n > 0) {
    ssize_t w = write(fd, p, n);

    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int h_read_all(int fd, void *buf, size_t n) {
  char *p = buf;

  while (n > 0) {
    ssize_t r = read(fd, p, n);

    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

h_child h_fork(h_child_fn fn, void *arg) {
  int up[2], down[2];
  h_child ch;

  assert_int_equal(pipe(up), 0);
  assert_int_equal(pipe(down), 0);
  ch.pid = fork();
  assert_true(ch.pid >= 0);
  if (ch.pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    close(up[0]);
    close(down[1]);
    _exit(fn(arg, down[0], up[1]));
  }
  close(up[1]);
  close(down[0]);
  ch.rd = up[0];
  ch.wr = down[1];
  return ch;
}

void h_child_read(h_child *ch, void *buf, size_t n, int timeout_ms) {
  int64_t deadline = h_now_ms() + timeout_ms;
  char *p = buf;

  while (n > 0) {
    struct pollfd pfd = {.fd = ch->rd, .events = POLLIN};
    int64_t left = deadline - h_now_ms();
    ssize_t r;

    if (left <= 0 || poll(&pfd, 1, (int)left) == 0)
      fail_msg("child %d sent no report within %d ms", (int)ch->pid, timeout_ms);
    r = read(ch->rd, p, n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      fail_msg("child %d closed its pipe before reporting (it failed?)", (int)ch->pid);
    p += r;
    n -= (size_t)r;
  }
}

void h_child_write(h_child *ch, const void *buf, size_t n) {
  assert_int_equal(h_write_all(ch->wr, buf, n), 0);
}

int h_child_wait(h_child *ch, int timeout_ms) {
  int status = h_wait_pid(ch->pid, timeout_ms);

  if (status == -1) {
    kill(ch->pid, SIGKILL);
    waitpid(ch->pid, NULL, 0);
    fail_msg("child %d did not exit within %d ms", (int)ch->pid, timeout_ms);
  }
  close(ch->rd);
  close(ch->wr);
  return exit_code(status);
}
