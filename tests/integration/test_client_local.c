/*
 * test_client_local.c -- the parts of libgcclient that need no daemon:
 * error texts and names, the default socket path, and gc_connect() failing
 * cleanly (nobody listening, a peer that hangs up, a peer that answers the
 * hello without the segment fds).
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "harness.h"

static void test_client_local_strerror_and_names(void **state) {
  assert_string_equal(gc_strerror(0), "success");
  assert_string_equal(gc_err_name(0), "GC_OK");
  assert_string_equal(gc_strerror(GC_ESTALE), "stale handle: the object was freed");
  assert_string_equal(gc_err_name(GC_ESTALE), "GC_ESTALE");
  assert_string_equal(gc_err_name(GC_ENOCLIENT), "GC_ENOCLIENT");
  assert_string_equal(gc_err_name(GC_ETIMEDOUT), "GC_ETIMEDOUT");
  assert_string_equal(gc_strerror(GC_ENOMEM), "heap full");
  assert_string_equal(gc_strerror(-1000), "unknown error");
  assert_string_equal(gc_strerror(5), "unknown error");
  assert_string_equal(gc_err_name(-1000), "GC_UNKNOWN");
  /* Every code of the map has its own text and name. */
  for (int e = GC_EINVAL; e >= GC_ETIMEDOUT; e--) {
    assert_string_not_equal(gc_strerror(e), "unknown error");
    assert_memory_equal(gc_err_name(e), "GC_E", 4);
  }
}

static void test_client_local_default_socket_order(void **state) {
  char buf[256], want[64];

  setenv("GCD_SOCKET", "/run/custom/g.sock", 1);
  setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
  assert_int_equal(gc_default_socket(buf, sizeof buf), 0);
  assert_string_equal(buf, "/run/custom/g.sock");

  setenv("GCD_SOCKET", "", 1); /* empty counts as unset */
  assert_int_equal(gc_default_socket(buf, sizeof buf), 0);
  assert_string_equal(buf, "/run/user/1000/gcd/gcd.sock");

  unsetenv("GCD_SOCKET");
  setenv("XDG_RUNTIME_DIR", "relative/dir", 1); /* not absolute: ignored */
  snprintf(want, sizeof want, "/tmp/gcd-%u/gcd.sock", (unsigned)getuid());
  assert_int_equal(gc_default_socket(buf, sizeof buf), 0);
  assert_string_equal(buf, want);

  unsetenv("XDG_RUNTIME_DIR");
  assert_int_equal(gc_default_socket(buf, sizeof buf), 0);
  assert_string_equal(buf, want);
  assert_int_equal(gc_default_socket(buf, 5), GC_EINVAL);
  assert_int_equal(gc_default_socket(NULL, 0), GC_EINVAL);
}

static void test_client_local_connect_missing_socket(void **state) {
  gc_client *c = (gc_client *)1;
  char dir[] = "/tmp/gcdtest-XXXXXX", path[128];

  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/none.sock", dir);
  assert_int_equal(gc_connect(path, "t", &c), GC_ECONNECT);
  assert_null(c);
  assert_non_null(strstr(gc_last_error(NULL), path));

  /* The default path is used when none is given. */
  setenv("GCD_SOCKET", path, 1);
  assert_int_equal(gc_connect(NULL, "t", &c), GC_ECONNECT);
  assert_non_null(strstr(gc_last_error(NULL), path));
  unsetenv("GCD_SOCKET");
  rmdir(dir);
}

static void test_client_local_connect_path_too_long(void **state) {
  char path[300];
  gc_client *c;

  memset(path, 'a', sizeof path - 1);
  path[0] = '/';
  path[sizeof path - 1] = '\0';
  assert_int_equal(gc_connect(path, NULL, &c), GC_EINVAL);
  assert_non_null(strstr(gc_last_error(NULL), "longer"));
}

/* A one-connection fake daemon: listens on path and runs fn on the first
 * connection in a child. */
static pid_t fake_daemon(const char *path, void (*fn)(int fd)) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  int ls = socket(AF_UNIX, SOCK_STREAM, 0);
  pid_t pid;

  assert_true(strlen(path) < sizeof sa.sun_path);
  memcpy(sa.sun_path, path, strlen(path) + 1);
  assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(listen(ls, 1), 0);
  pid = fork();
  if (pid == 0) {
    int fd = accept(ls, NULL, NULL);

    fn(fd);
    _exit(0);
  }
  close(ls);
  return pid;
}

static void hang_up(int fd) {
  char buf[256];

  (void)!read(fd, buf, sizeof buf);
  close(fd);
}

/* A well-formed Response to the hello (seq 1, one Result with a HelloReply
 * of protocol 2), but no SCM_RIGHTS: hand-encoded protobuf. */
static void answer_without_fds(int fd) {
  static const unsigned char resp[] = {
      0x08, 0x01,             /* seq = 1 */
      0x12, 0x06,             /* results[0], 6 bytes */
      0x22, 0x04,             /*   hello, 4 bytes */
      0x08, 0x02,             /*     protocol_version = 2 */
      0x10, 0x01,             /*     meta_size = 1 */
  };
  unsigned char frame[4 + sizeof resp] = {0, 0, 0, sizeof resp}, buf[256];

  memcpy(frame + 4, resp, sizeof resp);
  (void)!read(fd, buf, sizeof buf);
  (void)!write(fd, frame, sizeof frame);
  (void)!read(fd, buf, sizeof buf); /* until the client hangs up */
  close(fd);
}

static void connect_to_fake(void (*fn)(int), int want, const char *mention) {
  char dir[] = "/tmp/gcdtest-XXXXXX", path[128];
  gc_client *c = (gc_client *)1;
  pid_t pid;

  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/fake.sock", dir);
  pid = fake_daemon(path, fn);
  assert_int_equal(gc_connect(path, "t", &c), want);
  assert_null(c);
  assert_non_null(strstr(gc_last_error(NULL), mention));
  assert_int_not_equal(h_wait_pid(pid, 5000), -1);
  unlink(path);
  rmdir(dir);
}

static void test_client_local_connect_peer_hangs_up(void **state) {
  connect_to_fake(hang_up, GC_EIO, "handshake");
}

static void test_client_local_connect_hello_without_fds(void **state) {
  connect_to_fake(answer_without_fds, GC_EPROTO, "fds");
}

/* Calls on NULL are refused, not crashes. */
static void test_client_local_null_arguments(void **state) {
  gc_batch *b;

  assert_int_equal(gc_connect("/nonexistent", NULL, NULL), GC_EINVAL);
  assert_int_equal(gc_alloc(NULL, 1, 1, 0, NULL), GC_EINVAL);
  assert_int_equal(gc_verify(NULL), GC_EINVAL);
  assert_null(gc_data(NULL, 1, NULL));
  assert_int_equal(gc_batch_new(NULL, &b), GC_EINVAL);
  assert_int_equal(gc_batch_run(NULL), GC_EINVAL);
  assert_int_equal(gc_batch_result(NULL, 0, NULL), GC_EINVAL);
  assert_int_equal(gc_batch_size(NULL), 0);
  gc_close(NULL);
  gc_batch_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_client_local_strerror_and_names),
      cmocka_unit_test(test_client_local_default_socket_order),
      cmocka_unit_test(test_client_local_connect_missing_socket),
      cmocka_unit_test(test_client_local_connect_path_too_long),
      cmocka_unit_test(test_client_local_connect_peer_hangs_up),
      cmocka_unit_test(test_client_local_connect_hello_without_fds),
      cmocka_unit_test(test_client_local_null_arguments),
  };

  signal(SIGPIPE, SIG_DFL); /* the library must never raise it */
  return cmocka_run_group_tests(tests, NULL, NULL);
}
