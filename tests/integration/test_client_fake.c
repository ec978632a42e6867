/*
 * test_client_fake.c -- libgcclient against a fake daemon that hands out
 * segments it made itself, to prove the client checks what it maps (magic,
 * layout version, sizes against the fds, geometry), gives up a connection
 * whose responses stop matching its requests, gives up waiting once a
 * timeout runs out, and reads answers slower than its spin window.
 *
 * No real gcd runs here, so there is no heap to verify.
 */
#include <arpa/inet.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "gcd.pb-c.h"
#include "gcd_layout.h"
#include "harness.h"

#define META_SIZE (64u << 10)
#define DATA_SIZE (64u << 10)

/* What the fake hands out and how it answers after the hello. */
typedef struct fake {
  gcd_meta_header hdr;   /* written at offset 0 of the meta memfd */
  uint64_t meta_fd_size; /* the memfd's real size */
  uint64_t hello_meta;   /* meta_size announced in the hello */
  enum { AFTER_NOTHING, AFTER_WRONG_SEQ, AFTER_HUGE_FRAME, AFTER_DEAF, AFTER_SLOW } after;
  int silent_hello;      /* read the hello, never answer it */
} fake;

static gcd_meta_header good_header(void) {
  gcd_meta_header m = {.magic = GCD_META_MAGIC, .layout_version = GCD_LAYOUT_VERSION,
                       .header_size = sizeof m, .obj_size = sizeof(gcd_obj),
                       .state_size = sizeof(gcd_state),
                       .meta_size = META_SIZE, .data_size = DATA_SIZE,
                       .state_off = 4096, .table_off = 4096 + 64 * sizeof(gcd_state),
                       .table_cap = 64, .slots_off = 8192,
                       .slots_cap = 1024};
  return m;
}

static fake good_fake(void) {
  return (fake){good_header(), META_SIZE, META_SIZE, AFTER_NOTHING, 0};
}

/* Reads one request frame; its seq, or 0 at EOF. */
static uint64_t read_request(int fd) {
  uint32_t len;
  unsigned char *buf;
  Gcd__Wire__Request *req;
  uint64_t seq;

  if (h_read_all(fd, &len, 4) != 0)
    return 0;
  len = ntohl(len);
  buf = malloc(len);
  CHILD_CHECK(buf != NULL && h_read_all(fd, buf, len) == 0);
  req = gcd__wire__request__unpack(NULL, len, buf);
  CHILD_CHECK(req != NULL);
  seq = req->seq;
  gcd__wire__request__free_unpacked(req, NULL);
  free(buf);
  return seq;
}

/* Packs resp behind its length and sends it, with fds on the first byte. */
static void send_response(int fd, const Gcd__Wire__Response *resp, const int *fds, int nfds) {
  size_t n = gcd__wire__response__get_packed_size(resp);
  unsigned char *buf = malloc(n + 4);
  uint32_t be = htonl((uint32_t)n);
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(2 * sizeof(int))];
  } ctl;
  struct iovec iov = {.iov_base = buf, .iov_len = n + 4};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

  memcpy(buf, &be, 4);
  gcd__wire__response__pack(resp, buf + 4);
  if (nfds > 0) {
    struct cmsghdr *cm;

    msg.msg_control = ctl.buf;
    msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
    cm = CMSG_FIRSTHDR(&msg);
    *cm = (struct cmsghdr){.cmsg_len = CMSG_LEN(nfds * sizeof(int)),
                           .cmsg_level = SOL_SOCKET, .cmsg_type = SCM_RIGHTS};
    memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
  }
  CHILD_CHECK(sendmsg(fd, &msg, MSG_NOSIGNAL) == (ssize_t)(n + 4));
  free(buf);
}

/* A right answer, but late and in three pieces: after 5 ms two bytes of
 * its length, 3 ms later the rest of the length, 3 ms later the body --
 * each far beyond any spin window, so that the client's reads must go from
 * polling to sleeping and back, mid-frame. */
static void send_slowly(int fd, const Gcd__Wire__Response *resp) {
  size_t n = gcd__wire__response__get_packed_size(resp);
  unsigned char *buf = malloc(n + 4);
  uint32_t be = htonl((uint32_t)n);
  struct timespec pause = {.tv_nsec = 3000000};

  memcpy(buf, &be, 4);
  gcd__wire__response__pack(resp, buf + 4);
  nanosleep(&(struct timespec){.tv_nsec = 5000000}, NULL);
  CHILD_CHECK(send(fd, buf, 2, MSG_NOSIGNAL) == 2);
  nanosleep(&pause, NULL);
  CHILD_CHECK(send(fd, buf + 2, 2, MSG_NOSIGNAL) == 2);
  nanosleep(&pause, NULL);
  CHILD_CHECK(send(fd, buf + 4, n, MSG_NOSIGNAL) == (ssize_t)n);
  free(buf);
}

static int make_memfd(const char *name, uint64_t size, const void *head, size_t n) {
  int fd = memfd_create(name, MFD_CLOEXEC);

  CHILD_CHECK(fd >= 0 && ftruncate(fd, (off_t)size) == 0);
  CHILD_CHECK(n == 0 || pwrite(fd, head, n, 0) == (ssize_t)n);
  return fd;
}

static void answer_hello(int fd, const fake *f) {
  Gcd__Wire__HelloReply hello = GCD__WIRE__HELLO_REPLY__INIT;
  Gcd__Wire__Result res = GCD__WIRE__RESULT__INIT, *results[] = {&res};
  Gcd__Wire__Response resp = GCD__WIRE__RESPONSE__INIT;
  int fds[2];

  hello.protocol_version = 2;
  hello.meta_size = f->hello_meta;
  hello.data_size = DATA_SIZE;
  hello.max_frame = 1u << 20;
  res.hello = &hello;
  resp.seq = read_request(fd);
  resp.n_results = 1;
  resp.results = results;
  fds[0] = make_memfd("fake-meta", f->meta_fd_size, &f->hdr, sizeof f->hdr);
  fds[1] = make_memfd("fake-data", DATA_SIZE, NULL, 0);
  send_response(fd, &resp, fds, 2);
  close(fds[0]);
  close(fds[1]);
}

/* After the hello: answer the next request wrongly, as f->after says. */
static void answer_next(int fd, const fake *f) {
  Gcd__Wire__Result res = GCD__WIRE__RESULT__INIT, *results[] = {&res};
  Gcd__Wire__Response resp = GCD__WIRE__RESPONSE__INIT;
  uint64_t seq = read_request(fd);
  uint32_t huge = htonl(0x7fffffff);

  if (seq == 0 || f->after == AFTER_NOTHING)
    return;
  if (f->after == AFTER_HUGE_FRAME) {
    CHILD_CHECK(send(fd, &huge, 4, MSG_NOSIGNAL) == 4);
    return;
  }
  resp.seq = f->after == AFTER_SLOW ? seq : seq + 1;
  resp.n_results = 1;
  resp.results = results;
  if (f->after == AFTER_SLOW)
    send_slowly(fd, &resp);
  else
    send_response(fd, &resp, NULL, 0);
}

static int fake_main(void *arg, int in, int out) {
  const fake *f = arg;
  int fd;

  CHILD_CHECK(h_read_all(in, &fd, sizeof fd) == 0); /* the listener, inherited */
  fd = accept(fd, NULL, NULL);
  CHILD_CHECK(fd >= 0);
  if (f->silent_hello) {
    CHILD_CHECK(read_request(fd) != 0);
  } else {
    answer_hello(fd, f);
  }
  if (f->after == AFTER_DEAF) { /* reads nothing until the parent says so */
    char go, junk[4096];
    CHILD_CHECK(h_read_all(in, &go, 1) == 0);
    while (read(fd, junk, sizeof junk) > 0) /* what was sent, cut short */
      ;
    return 0;
  } else if (!f->silent_hello) {
    answer_next(fd, f);
  }
  while (read_request(fd) != 0) /* until the client hangs up */
    ;
  return 0;
}

/* Runs a fake on a fresh socket; the client connects with the result. */
typedef struct fake_run {
  char dir[64], path[128];
  h_child ch;
} fake_run;

static int fake_start(fake_run *r, fake *f, gc_client **c) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  int ls = socket(AF_UNIX, SOCK_STREAM, 0), rc;

  snprintf(r->dir, sizeof r->dir, "/tmp/gcdtest-XXXXXX");
  assert_non_null(mkdtemp(r->dir));
  snprintf(r->path, sizeof r->path, "%s/fake.sock", r->dir);
  memcpy(sa.sun_path, r->path, strlen(r->path) + 1);
  assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(listen(ls, 1), 0);
  r->ch = h_fork(fake_main, f);
  h_child_write(&r->ch, &ls, sizeof ls);
  *c = (gc_client *)1;
  rc = gc_connect(r->path, "against-fake", c);
  close(ls);
  return rc;
}

static void fake_finish(fake_run *r, gc_client *c) {
  gc_close(c);
  assert_int_equal(h_child_wait(&r->ch, 10000), 0);
  unlink(r->path);
  rmdir(r->dir);
}

/* Connecting must fail with code, naming `mention`, and map nothing. */
static void expect_refused(fake f, int code, const char *mention) {
  fake_run r;
  gc_client *c;

  assert_int_equal(fake_start(&r, &f, &c), code);
  assert_null(c);
  if (strstr(gc_last_error(NULL), mention) == NULL)
    fail_msg("\"%s\" does not mention \"%s\"", gc_last_error(NULL), mention);
  fake_finish(&r, NULL);
}

static void test_client_fake_good_segments_are_mapped(void **state) {
  fake f = good_fake();
  fake_run r;
  gc_client *c;

  assert_int_equal(fake_start(&r, &f, &c), 0);
  /* An all-zero table: every handle is unknown, read locally. */
  assert_int_equal(gc_describe(c, gcd_handle_make(1, 1), NULL, NULL, NULL), GC_EBADHANDLE);
  assert_int_equal(gc_describe(c, gcd_handle_make(64, 1), NULL, NULL, NULL), GC_EBADHANDLE);
  assert_non_null(strstr(gc_last_error(c), "table of 64"));
  fake_finish(&r, c);
}

static void test_client_fake_bad_magic(void **state) {
  fake f = good_fake();

  f.hdr.magic[0] = 'X';
  expect_refused(f, GC_EPROTO, "magic");
}

static void test_client_fake_other_layout_version(void **state) {
  fake f = good_fake();

  f.hdr.layout_version = 99;
  expect_refused(f, GC_EVERSION, "99");
}

static void test_client_fake_fd_smaller_than_announced(void **state) {
  fake f = good_fake();

  f.hello_meta = f.hdr.meta_size = 4 * META_SIZE;
  expect_refused(f, GC_EPROTO, "announced");
}

static void test_client_fake_header_disagrees_with_hello(void **state) {
  fake f = good_fake();

  f.hdr.data_size = DATA_SIZE * 2;
  expect_refused(f, GC_EPROTO, "hello");
}

static void test_client_fake_geometry_outside_segment(void **state) {
  fake f = good_fake();

  f.hdr.table_cap = UINT64_MAX / 8; /* would overflow a naive end check */
  expect_refused(f, GC_EPROTO, "geometry");
  f = good_fake();
  f.hdr.slots_off = META_SIZE - 8;
  expect_refused(f, GC_EPROTO, "geometry");
}

/* A response to another request means the stream is out of step. */
static void test_client_fake_wrong_seq_kills_connection(void **state) {
  fake f = good_fake();
  fake_run r;
  gc_client *c;

  f.after = AFTER_WRONG_SEQ;
  assert_int_equal(fake_start(&r, &f, &c), 0);
  assert_int_equal(gc_info(c, NULL), GC_EPROTO);
  assert_non_null(strstr(gc_last_error(c), "seq"));
  assert_int_equal(gc_info(c, NULL), GC_ECLOSED);
  fake_finish(&r, c);
}

static void test_client_fake_huge_response_refused_before_allocating(void **state) {
  fake f = good_fake();
  fake_run r;
  gc_client *c;

  f.after = AFTER_HUGE_FRAME;
  assert_int_equal(fake_start(&r, &f, &c), 0);
  assert_int_equal(gc_info(c, NULL), GC_EPROTO);
  assert_non_null(strstr(gc_last_error(c), "2147483647"));
  assert_int_equal(gc_retain(c, 1), GC_ECLOSED);
  fake_finish(&r, c);
}

/* ------------------------------------------------------------ timeouts */

static int64_t elapsed_since(int64_t t0) { return h_now_ms() - t0; }

/* A daemon that accepts but never answers the hello: gc_connect() gives up
 * after $GCD_TIMEOUT_MS instead of hanging its caller. */
static void test_client_fake_silent_hello_times_out(void **state) {
  fake f = good_fake();
  fake_run r;
  gc_client *c;
  int64_t t0 = h_now_ms();

  f.silent_hello = 1;
  setenv("GCD_TIMEOUT_MS", "300", 1);
  assert_int_equal(fake_start(&r, &f, &c), GC_ETIMEDOUT);
  unsetenv("GCD_TIMEOUT_MS");
  assert_null(c);
  assert_true(elapsed_since(t0) >= 250);
  assert_true(elapsed_since(t0) < 5000);
  if (strstr(gc_last_error(NULL), "300 ms") == NULL)
    fail_msg("\"%s\" does not mention the timeout", gc_last_error(NULL));
  fake_finish(&r, NULL);
}

/* An answer that never comes: the call returns GC_ETIMEDOUT, async results
 * still owed get it too, and the connection is closed for good. */
static void test_client_fake_unanswered_request_times_out(void **state) {
  fake f = good_fake();
  fake_run r;
  gc_client *c;
  int rc = 1;
  int64_t t0;

  assert_int_equal(fake_start(&r, &f, &c), 0);
  assert_int_equal(gc_set_option(c, GC_OPT_TIMEOUT_MS, (uint64_t)GC_TIMEOUT_MAX_MS + 1),
                   GC_EINVAL);
  assert_int_equal(gc_set_option(c, GC_OPT_TIMEOUT_MS, 200), 0);
  t0 = h_now_ms();
  assert_int_equal(gc_retain_async(c, gcd_handle_make(1, 1), &rc), 0);
  assert_int_equal(gc_sync(c), GC_ETIMEDOUT);
  assert_true(elapsed_since(t0) >= 150 && elapsed_since(t0) < 5000);
  assert_int_equal(rc, GC_ETIMEDOUT);
  assert_non_null(strstr(gc_last_error(c), "200 ms"));
  assert_int_equal(gc_info(c, NULL), GC_ECLOSED);
  fake_finish(&r, c);
}

/* A daemon that stops reading: a request too big for the socket buffers
 * cannot hold the caller past the timeout either. */
static void test_client_fake_deaf_daemon_send_times_out(void **state) {
  fake f = good_fake();
  fake_run r;
  gc_client *c;
  gc_batch *b;
  char go = 1;

  f.after = AFTER_DEAF;
  assert_int_equal(fake_start(&r, &f, &c), 0);
  assert_int_equal(gc_set_option(c, GC_OPT_TIMEOUT_MS, 300), 0);
  assert_int_equal(gc_batch_new(c, &b), 0);
  for (int i = 0; i < 100000; i++) /* ~0.8 MB, under the fake's 1 MiB frame limit */
    assert_int_equal(gc_batch_retain(b, gcd_handle_make(1, 1)), 0);
  assert_int_equal(gc_batch_run(b), GC_ETIMEDOUT);
  assert_non_null(strstr(gc_last_error(c), "sending"));
  gc_batch_free(b);
  h_child_write(&r.ch, &go, 1);
  fake_finish(&r, c);
}

/* $GCD_TIMEOUT_MS that is not a number is refused, not ignored. */
static void test_client_fake_bad_timeout_env_refused(void **state) {
  gc_client *c = (gc_client *)1;

  setenv("GCD_TIMEOUT_MS", "10s", 1);
  assert_int_equal(gc_connect("/nonexistent/gcd.sock", "x", &c), GC_EINVAL);
  unsetenv("GCD_TIMEOUT_MS");
  assert_null(c);
  assert_non_null(strstr(gc_last_error(NULL), "GCD_TIMEOUT_MS"));
}

/* An answer slower than the spin window, arriving in pieces, is read
 * whole: with the longest window, the default and none. */
static void test_client_fake_slow_answer_read_whatever_the_spin(void **state) {
  static const char *spins[] = {"1000", "50", "0"};

  for (size_t i = 0; i < sizeof spins / sizeof *spins; i++) {
    fake f = good_fake();
    fake_run r;
    gc_client *c;

    f.after = AFTER_SLOW;
    setenv("GCD_SPIN_US", spins[i], 1);
    assert_int_equal(fake_start(&r, &f, &c), 0);
    unsetenv("GCD_SPIN_US");
    assert_int_equal(gc_retain(c, gcd_handle_make(1, 1)), 0);
    assert_string_equal(gc_last_error(c), "");
    fake_finish(&r, c);
  }
}

/* A spin window out of range, from the environment or the option, is
 * refused, not clamped. */
static void test_client_fake_bad_spin_refused(void **state) {
  fake f = good_fake();
  fake_run r;
  gc_client *c = (gc_client *)1;

  setenv("GCD_SPIN_US", "1001", 1);
  assert_int_equal(gc_connect("/nonexistent/gcd.sock", "x", &c), GC_EINVAL);
  assert_null(c);
  assert_non_null(strstr(gc_last_error(NULL), "GCD_SPIN_US"));
  setenv("GCD_SPIN_US", "50us", 1);
  assert_int_equal(gc_connect("/nonexistent/gcd.sock", "x", &c), GC_EINVAL);
  unsetenv("GCD_SPIN_US");
  assert_int_equal(fake_start(&r, &f, &c), 0);
  assert_int_equal(gc_set_option(c, GC_OPT_SPIN_US, GC_SPIN_MAX_US + 1), GC_EINVAL);
  assert_non_null(strstr(gc_last_error(c), "spin"));
  assert_int_equal(gc_set_option(c, GC_OPT_SPIN_US, GC_SPIN_MAX_US), 0);
  fake_finish(&r, c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_client_fake_good_segments_are_mapped),
      cmocka_unit_test(test_client_fake_bad_magic),
      cmocka_unit_test(test_client_fake_other_layout_version),
      cmocka_unit_test(test_client_fake_fd_smaller_than_announced),
      cmocka_unit_test(test_client_fake_header_disagrees_with_hello),
      cmocka_unit_test(test_client_fake_geometry_outside_segment),
      cmocka_unit_test(test_client_fake_wrong_seq_kills_connection),
      cmocka_unit_test(test_client_fake_huge_response_refused_before_allocating),
      cmocka_unit_test(test_client_fake_silent_hello_times_out),
      cmocka_unit_test(test_client_fake_unanswered_request_times_out),
      cmocka_unit_test(test_client_fake_deaf_daemon_send_times_out),
      cmocka_unit_test(test_client_fake_bad_timeout_env_refused),
      cmocka_unit_test(test_client_fake_slow_answer_read_whatever_the_spin),
      cmocka_unit_test(test_client_fake_bad_spin_refused),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
