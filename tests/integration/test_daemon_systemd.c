/*
 * test_daemon_systemd.c -- gcd under a service manager, without systemd: the
 * test plays its part. Readiness: READY=1 (with MAINPID) reaches
 * $NOTIFY_SOCKET only once the socket accepts connections, and STOPPING=1
 * follows SIGTERM. Socket activation: a listening socket passed as fd 3 with
 * $LISTEN_FDS/$LISTEN_PID is served, and its file is left in place at exit;
 * anything else passed as fd 3 is refused.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <fcntl.h>

#include "harness.h"

#define WAIT_MS 20000

static int unix_socket(int type, const char *path, struct sockaddr_un *sa) {
  int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

  assert_true(fd >= 0);
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  assert_true(strlen(path) < sizeof sa->sun_path);
  memcpy(sa->sun_path, path, strlen(path) + 1);
  return fd;
}

static int can_connect(const char *path) {
  struct sockaddr_un sa;
  int fd = unix_socket(SOCK_STREAM, path, &sa);
  int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);

  close(fd);
  return rc == 0;
}

/* Waits for one datagram on fd; its text (NUL-terminated) in buf. */
static void recv_notify(int fd, char *buf, size_t len, int timeout_ms) {
  struct pollfd pfd = {.fd = fd, .events = POLLIN};
  ssize_t n;

  if (poll(&pfd, 1, timeout_ms) != 1)
    fail_msg("no notification within %d ms", timeout_ms);
  n = recv(fd, buf, len - 1, 0);
  assert_true(n > 0);
  buf[n] = '\0';
}

/* Runs gcd with argv in a child whose environment gets name=value pairs
 * (NULL-terminated) and, when listen_fd >= 0, that socket as fd 3 with
 * LISTEN_FDS=1 and LISTEN_PID set to the child's pid, as systemd does. */
static pid_t spawn_gcd(const char *const *argv, int listen_fd, const char *const *env) {
  pid_t pid = fork();
  char pidbuf[32];

  assert_true(pid >= 0);
  if (pid != 0)
    return pid;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  setenv("GCD_LOG_LEVEL", "warn", 0);
  for (int i = 0; env != NULL && env[i] != NULL; i += 2)
    setenv(env[i], env[i + 1], 1);
  if (listen_fd >= 0) {
    if (listen_fd == 3)
      fcntl(3, F_SETFD, 0);
    else if (dup2(listen_fd, 3) != 3)
      _exit(126);
    snprintf(pidbuf, sizeof pidbuf, "%ld", (long)getpid());
    setenv("LISTEN_FDS", "1", 1);
    setenv("LISTEN_PID", pidbuf, 1);
  }
  execv(GCD_BINARY, (char *const *)argv);
  _exit(127);
}

static void test_daemon_systemd_ready_after_listen_stopping_on_sigterm(void **state) {
  h_daemon d = {0};
  struct sockaddr_un sa;
  char notify_path[256], msg[512], want[64];
  int nfd;

  h_daemon_prepare(&d);
  snprintf(notify_path, sizeof notify_path, "%s/notify", d.dir);
  nfd = unix_socket(SOCK_DGRAM, notify_path, &sa);
  assert_int_equal(bind(nfd, (struct sockaddr *)&sa, sizeof sa), 0);

  d.pid = spawn_gcd((const char *[]){GCD_BINARY, "--socket", d.sock, "--heap-size", "1M",
                                     NULL},
                    -1, (const char *[]){"NOTIFY_SOCKET", notify_path, NULL});
  recv_notify(nfd, msg, sizeof msg, WAIT_MS);
  /* By the time READY=1 is sent, clients can connect. */
  assert_true(can_connect(d.sock));
  assert_non_null(strstr(msg, "READY=1"));
  snprintf(want, sizeof want, "MAINPID=%ld", (long)d.pid);
  assert_non_null(strstr(msg, want));
  assert_non_null(strstr(msg, "STATUS=serving on "));
  h_verify(&d);

  assert_int_equal(h_daemon_signal(&d, SIGTERM), 0);
  recv_notify(nfd, msg, sizeof msg, WAIT_MS);
  assert_non_null(strstr(msg, "STOPPING=1"));
  close(nfd);
  unlink(notify_path);
  rmdir(d.dir);
}

/* Waits until a client completes a handshake, or fails. */
static gc_client *connect_when_served(const h_daemon *d) {
  int64_t deadline = h_now_ms() + WAIT_MS;
  gc_client *c;
  int status;

  while (gc_connect(d->sock, "activated", &c) != 0) {
    if (waitpid(d->pid, &status, WNOHANG) == d->pid)
      fail_msg("gcd exited (status %d) before serving %s", status, d->sock);
    if (h_now_ms() >= deadline)
      fail_msg("gcd did not serve %s within %d ms: %s", d->sock, WAIT_MS,
               gc_last_error(NULL));
    usleep(10000);
  }
  return c;
}

static void test_daemon_systemd_socket_activation(void **state) {
  h_daemon d = {0};
  struct sockaddr_un sa;
  gc_client *c;
  gc_handle h;
  int lfd;

  h_daemon_prepare(&d);
  lfd = unix_socket(SOCK_STREAM, d.sock, &sa);
  assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(listen(lfd, 16), 0);
  /* The configured path differs: the socket passed wins, and is the one
   * that must survive the stop. */
  d.pid = spawn_gcd((const char *[]){GCD_BINARY, "--socket", "/nonexistent/gcd.sock",
                                     "--heap-size", "1M", NULL},
                    lfd, NULL);
  close(lfd);

  c = connect_when_served(&d);
  assert_ok(gc_alloc(c, 0, 64, 1, &h), c);
  assert_int_equal(h_objects(c), 1);
  assert_ok(gc_release(c, h), c);
  gc_close(c);
  h_verify(&d);

  assert_int_equal(h_daemon_signal(&d, SIGTERM), 0);
  assert_int_equal(access(d.sock, F_OK), 0); /* systemd's file, not gcd's */
  assert_int_equal(access("/nonexistent", F_OK), -1);
  unlink(d.sock);
  rmdir(d.dir);
}

/* fd 3 that is not a listening Unix stream socket: a clear refusal, exit 1. */
static void test_daemon_systemd_refuses_a_wrong_fd(void **state) {
  h_daemon d = {0};
  int fd, status;
  pid_t pid;

  h_daemon_prepare(&d);
  fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  pid = spawn_gcd((const char *[]){GCD_BINARY, "--socket", d.sock, "--heap-size", "1M",
                                   NULL},
                  fd, NULL);
  close(fd);
  status = h_wait_pid(pid, WAIT_MS);
  assert_true(status != -1);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 1);
  assert_int_not_equal(access(d.sock, F_OK), 0); /* it did not bind instead */
  rmdir(d.dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_daemon_systemd_ready_after_listen_stopping_on_sigterm),
      cmocka_unit_test(test_daemon_systemd_socket_activation),
      cmocka_unit_test(test_daemon_systemd_refuses_a_wrong_fd),
  };

  signal(SIGPIPE, SIG_DFL);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
