/*
 * test_badinput.c -- every kind of bad input the daemon must answer with an
 * error instead of falling over: bad handles, slots, names, sizes, a full
 * heap, and (over raw sockets, with hand-made frames) oversize, truncated
 * and non-protobuf frames, operations before the hello, a wrong protocol
 * version, and a client that sends without ever reading.
 *
 * Each test runs beside a well-behaved bystander client that is connected
 * throughout; the teardown checks that its objects are intact, that it can
 * still work, and that the heap verifies.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "gcd.pb-c.h"
#include "gcd_layout.h"
#include "harness.h"

#define WAIT_MS 10000

typedef struct fixture {
  h_daemon d;
  gc_client *by;       /* the bystander */
  gc_handle by_root;   /* bystander: root -> leaf, payloads "bystander" */
  gc_handle by_leaf;
  gc_client *c;        /* the client that misbehaves (library side) */
  uint64_t base;       /* objects after the bystander's */
} fixture;

static const char by_text[] = "bystander";

/* ------------------------------------------------------ fixture and checks */

static void bystander_build(fixture *f) {
  assert_ok(gc_alloc(f->by, 1, sizeof by_text, 1, &f->by_root), f->by);
  assert_ok(gc_alloc(f->by, 0, sizeof by_text, 2, &f->by_leaf), f->by);
  assert_ok(gc_set_ref(f->by, f->by_root, 0, f->by_leaf), f->by);
  memcpy(gc_data(f->by, f->by_root, NULL), by_text, sizeof by_text);
  memcpy(gc_data(f->by, f->by_leaf, NULL), by_text, sizeof by_text);
}

/* The bystander's objects are as it left them (reads only). */
static void bystander_intact(fixture *f) {
  gc_handle got = 0;
  uint64_t n = 0;

  assert_ok(gc_refcount(f->by, f->by_root, &n), f->by);
  assert_int_equal(n, 1);
  assert_ok(gc_refcount(f->by, f->by_leaf, &n), f->by);
  assert_int_equal(n, 2);
  assert_ok(gc_get_ref(f->by, f->by_root, 0, &got), f->by);
  assert_int_equal(got, f->by_leaf);
  assert_string_equal(gc_data(f->by, f->by_root, NULL), by_text);
  assert_string_equal(gc_data(f->by, f->by_leaf, NULL), by_text);
}

/* ... and it can still allocate and free. */
static void bystander_check(fixture *f) {
  gc_handle h;

  bystander_intact(f);
  assert_ok(gc_alloc(f->by, 0, 8, 3, &h), f->by);
  assert_ok(gc_release(f->by, h), f->by);
}

static int setup_with(void **state, const char *heap_size) {
  fixture *f = calloc(1, sizeof *f);

  h_daemon_start(&f->d, "--heap-size", heap_size, NULL);
  f->by = h_connect(&f->d, "bystander");
  bystander_build(f);
  f->c = h_connect(&f->d, "misbehaving");
  f->base = h_objects(f->c);
  *state = f;
  return 0;
}

static int setup(void **state) { return setup_with(state, "64M"); }
static int setup_tiny(void **state) { return setup_with(state, "64K"); }

static int teardown(void **state) {
  fixture *f = *state;

  gc_close(f->c);
  bystander_check(f);
  h_verify(&f->d);
  gc_close(f->by);
  h_daemon_stop(&f->d);
  free(f);
  return 0;
}

/* The call failed with code and its message names `mention`. */
#define assert_fails(call, code, client, mention)                              \
  do {                                                                         \
    assert_gc(call, code, client);                                             \
    assert_true(strlen(gc_last_error(client)) > 0);                            \
    if (strstr(gc_last_error(client), mention) == NULL)                        \
      fail_msg("message \"%s\" does not mention \"%s\"", gc_last_error(client), \
               mention);                                                       \
  } while (0)

static const char *hex(gc_handle h, char buf[32]) {
  snprintf(buf, 32, "0x%016llx", (unsigned long long)h);
  return buf;
}

/* ---------------------------------------------------- through the library */

static void test_badinput_unknown_handle(void **state) {
  fixture *f = *state;
  gc_handle h = gcd_handle_make(12345, 1), out;
  char buf[32];

  assert_fails(gc_retain(f->c, h), GC_EBADHANDLE, f->c, hex(h, buf));
  assert_fails(gc_release(f->c, h), GC_EBADHANDLE, f->c, hex(h, buf));
  assert_fails(gc_set_ref(f->c, f->by_root, 0, h), GC_EBADHANDLE, f->c, hex(h, buf));
  assert_fails(gc_describe(f->c, h, NULL, NULL, NULL), GC_EBADHANDLE, f->c, hex(h, buf));
  assert_fails(gc_get_ref(f->c, h, 0, &out), GC_EBADHANDLE, f->c, hex(h, buf));
  assert_fails(gc_retain(f->c, 0), GC_EBADHANDLE, f->c, "null");
}

static void test_badinput_stale_handle_after_reuse(void **state) {
  fixture *f = *state;
  gc_handle old, fresh;
  uint64_t n = 0;
  char buf[32];

  assert_ok(gc_alloc(f->c, 0, 8, 0, &old), f->c);
  assert_ok(gc_release(f->c, old), f->c);
  assert_ok(gc_alloc(f->c, 0, 8, 0, &fresh), f->c);
  assert_int_equal(gcd_handle_index(fresh), gcd_handle_index(old)); /* reused */
  assert_int_not_equal(fresh, old);

  assert_fails(gc_retain(f->c, old), GC_ESTALE, f->c, hex(old, buf));
  assert_fails(gc_refcount(f->c, old, &n), GC_ESTALE, f->c, hex(old, buf));
  assert_fails(gc_describe(f->c, old, NULL, NULL, NULL), GC_ESTALE, f->c, hex(old, buf));
  assert_null(gc_data(f->c, old, NULL));
  assert_ok(gc_refcount(f->c, fresh, &n), f->c); /* the new object is untouched */
  assert_int_equal(n, 1);
  assert_ok(gc_release(f->c, fresh), f->c);
}

static void test_badinput_slot_out_of_range(void **state) {
  fixture *f = *state;
  gc_handle out;

  assert_fails(gc_set_ref(f->c, f->by_root, 5, f->by_leaf), GC_ERANGE, f->c, "5");
  assert_fails(gc_set_ref(f->c, f->by_leaf, 0, f->by_root), GC_ERANGE, f->c, "0");
  assert_fails(gc_get_ref(f->c, f->by_root, 77, &out), GC_ERANGE, f->c, "77");
}

static void test_badinput_release_not_held(void **state) {
  fixture *f = *state;
  char buf[32];

  assert_fails(gc_release(f->c, f->by_root), GC_ENOTHELD, f->c, hex(f->by_root, buf));
  assert_fails(gc_release(f->c, f->by_leaf), GC_ENOTHELD, f->c, hex(f->by_leaf, buf));
}

static void test_badinput_unknown_name(void **state) {
  fixture *f = *state;
  gc_handle out;

  assert_fails(gc_lookup(f->c, "no/such/name", &out), GC_ENOENT, f->c, "no/such/name");
  assert_fails(gc_unpublish(f->c, "missing-root"), GC_ENOENT, f->c, "missing-root");
}

static void test_badinput_name_already_published(void **state) {
  fixture *f = *state;
  char long_name[GC_NAME_MAX + 2];
  gc_handle h;

  assert_ok(gc_alloc(f->c, 0, 8, 0, &h), f->c);
  assert_ok(gc_publish(f->c, "taken", h), f->c);
  assert_fails(gc_publish(f->c, "taken", f->by_leaf), GC_EEXIST, f->c, "taken");
  memset(long_name, 'n', sizeof long_name - 1);
  long_name[sizeof long_name - 1] = '\0';
  assert_fails(gc_publish(f->c, long_name, h), GC_ENAME, f->c, "256");
  assert_fails(gc_publish(f->c, "", h), GC_ENAME, f->c, "0");
  assert_ok(gc_unpublish(f->c, "taken"), f->c);
  assert_ok(gc_release(f->c, h), f->c);
}

static void test_badinput_zero_size_alloc(void **state) {
  fixture *f = *state;
  gc_handle h = 0;

  assert_fails(gc_alloc(f->c, 0, 0, 0, &h), GC_EINVAL, f->c, "0 slots and 0 bytes");
  assert_int_equal(h, 0);
}

static void test_badinput_huge_sizes(void **state) {
  fixture *f = *state;
  gc_handle h;

  assert_fails(gc_alloc(f->c, 0, 1ull << 40, 0, &h), GC_ETOOBIG, f->c, "1099511627776");
  assert_fails(gc_alloc(f->c, GC_SLOTS_MAX + 1, 0, 0, &h), GC_ETOOBIG, f->c, "16777217");
  assert_fails(gc_alloc(f->c, 0, UINT64_MAX, 0, &h), GC_ETOOBIG, f->c,
               "18446744073709551615");
}

/* A 64K heap (1024 objects at most): fill it, see GC_ENOMEM, free one
 * object, allocate again. */
#define FULL_MAX 5000

static void test_badinput_heap_full_then_room_again(void **state) {
  fixture *f = *state;
  static gc_handle h[FULL_MAX];
  size_t n = 0;
  int rc;

  while (n < FULL_MAX && (rc = gc_alloc(f->c, 0, 16, 0, &h[n])) == 0)
    n++;
  assert_true(n > 0 && n < FULL_MAX);
  assert_int_equal(rc, GC_ENOMEM);
  assert_non_null(strstr(gc_last_error(f->c), "16 bytes"));
  bystander_intact(f); /* the daemon carries on */
  assert_fails(gc_alloc(f->c, 0, 16, 0, &h[n]), GC_ENOMEM, f->c, "heap full");

  assert_ok(gc_release(f->c, h[--n]), f->c);
  assert_ok(gc_alloc(f->c, 0, 16, 0, &h[n++]), f->c);
  while (n > 0)
    assert_ok(gc_release(f->c, h[--n]), f->c);
  assert_int_equal(h_objects(f->c), f->base);
}

/* A batch too big for one frame is refused before it is sent: the
 * connection survives. */
static void test_badinput_batch_over_frame_limit(void **state) {
  fixture *f = *state;
  gc_batch *b;

  assert_ok(gc_batch_new(f->c, &b), f->c);
  for (int i = 0; i < 600000; i++)
    assert_ok(gc_batch_retain(b, f->by_root), f->c);
  assert_fails(gc_batch_run(b), GC_EFRAMESIZE, f->c, "4194304");
  assert_int_equal(gc_batch_result(b, 0, NULL), GC_EINVAL); /* nothing ran */
  gc_batch_free(b);
  assert_int_equal(h_objects(f->c), f->base);
}

/* ----------------------------------------------------------- raw sockets */

static int raw_connect(const h_daemon *d) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  assert_true(strlen(d->sock) < sizeof sa.sun_path);
  memcpy(sa.sun_path, d->sock, strlen(d->sock) + 1);
  assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  return fd;
}

static void raw_send(int fd, uint32_t len, const void *body, size_t n) {
  uint32_t be = htonl(len);

  assert_int_equal(send(fd, &be, 4, MSG_NOSIGNAL), 4);
  if (n > 0)
    assert_int_equal(send(fd, body, n, MSG_NOSIGNAL), (ssize_t)n);
}

static void raw_request(int fd, uint64_t seq, Gcd__Wire__Op **ops, size_t n) {
  Gcd__Wire__Request req = GCD__WIRE__REQUEST__INIT;
  unsigned char buf[1024];
  size_t len;

  req.seq = seq;
  req.ops = ops;
  req.n_ops = n;
  len = gcd__wire__request__pack(&req, buf);
  raw_send(fd, (uint32_t)len, buf, len);
}

/* Waits (bounded) for readable data or EOF. */
static void raw_wait(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};

  if (poll(&p, 1, WAIT_MS) != 1)
    fail_msg("no answer from the daemon within %d ms", WAIT_MS);
}

/* Reads a frame's 4-byte length with recvmsg, closing any fds that came
 * with it (a hello's answer carries the two segments). */
static ssize_t recv_closing_fds(int fd, unsigned char hdr[4]) {
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(8 * sizeof(int))];
  } ctl;
  struct iovec iov = {.iov_base = hdr, .iov_len = 4};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                       .msg_controllen = sizeof ctl.buf};
  ssize_t n = recvmsg(fd, &msg, MSG_WAITALL | MSG_CMSG_CLOEXEC);

  for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); n > 0 && cm; cm = CMSG_NXTHDR(&msg, cm))
    for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
      int passed;

      memcpy(&passed, CMSG_DATA(cm) + i * sizeof(int), sizeof passed);
      close(passed);
    }
  return n;
}

/* Reads one response; fds passed with it are closed. NULL at EOF. */
static Gcd__Wire__Response *raw_response(int fd) {
  unsigned char hdr[4], *body;
  Gcd__Wire__Response *r;
  uint32_t len;

  raw_wait(fd);
  if (recv_closing_fds(fd, hdr) != 4)
    return NULL;
  memcpy(&len, hdr, 4);
  len = ntohl(len);
  assert_true(len > 0 && len < (1u << 20));
  body = malloc(len);
  raw_wait(fd);
  assert_int_equal(recv(fd, body, len, MSG_WAITALL), (ssize_t)len);
  r = gcd__wire__response__unpack(NULL, len, body);
  free(body);
  assert_non_null(r);
  return r;
}

/* The daemon closed the connection: EOF (or a reset) within the bound. */
static void raw_expect_eof(int fd) {
  char b;

  raw_wait(fd);
  assert_true(recv(fd, &b, 1, 0) <= 0);
}

static void assert_mentions(const char *msg, const char *what) {
  assert_non_null(msg);
  if (strstr(msg, what) == NULL)
    fail_msg("message \"%s\" does not mention \"%s\"", msg, what);
}

/* The protocol version this daemon speaks. */
#define PROTO 2u

static void raw_hello(int fd, uint32_t version, Gcd__Wire__Response **out) {
  Gcd__Wire__Hello hello = GCD__WIRE__HELLO__INIT;
  Gcd__Wire__Op op = GCD__WIRE__OP__INIT, *ops[] = {&op};

  hello.protocol_version = version;
  hello.client_name = "raw";
  op.op_case = GCD__WIRE__OP__OP_HELLO;
  op.hello = &hello;
  raw_request(fd, 1, ops, 1);
  *out = raw_response(fd);
  assert_non_null(*out);
  assert_int_equal((*out)->n_results, 1);
}

/* A frame-level answer carrying code, whose message names `what`, then EOF. */
static void raw_expect_frame_error(int fd, int code, const char *what) {
  Gcd__Wire__Response *r = raw_response(fd);

  assert_non_null(r);
  assert_int_equal(r->code, code);
  assert_mentions(r->message, what);
  gcd__wire__response__free_unpacked(r, NULL);
  raw_expect_eof(fd);
}

static void test_badinput_frame_over_maximum(void **state) {
  fixture *f = *state;
  int fd = raw_connect(&f->d);

  raw_send(fd, 5u << 20, NULL, 0); /* 5 MiB announced; the limit is 4 */
  raw_expect_frame_error(fd, GC_EFRAMESIZE, "5242880");
  close(fd);
}

static void test_badinput_not_protobuf(void **state) {
  fixture *f = *state;
  static const unsigned char junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0x07, 0x00, 0x13};
  int fd = raw_connect(&f->d);

  raw_send(fd, sizeof junk, junk, sizeof junk);
  raw_expect_frame_error(fd, GC_EFRAME, "Request");
  close(fd);
}

static void raw_alloc(int fd, uint64_t seq) {
  Gcd__Wire__Alloc a = GCD__WIRE__ALLOC__INIT;
  Gcd__Wire__Op op = GCD__WIRE__OP__INIT, *ops[] = {&op};
  Gcd__Wire__Response *r;

  a.nbytes = 100;
  op.op_case = GCD__WIRE__OP__OP_ALLOC;
  op.alloc = &a;
  raw_request(fd, seq, ops, 1);
  r = raw_response(fd);
  assert_non_null(r);
  assert_int_equal(r->results[0]->code, 0);
  gcd__wire__response__free_unpacked(r, NULL);
}

/* A client holding objects sends a length and fewer bytes, then vanishes:
 * the daemon drops the session and its retains. */
static void test_badinput_truncated_frame(void **state) {
  fixture *f = *state;
  static const unsigned char part[10] = {0x08, 0x02};
  Gcd__Wire__Response *r;
  int fd = raw_connect(&f->d);

  raw_hello(fd, PROTO, &r);
  assert_int_equal(r->results[0]->code, 0);
  gcd__wire__response__free_unpacked(r, NULL);
  for (uint64_t seq = 2; seq < 5; seq++)
    raw_alloc(fd, seq);
  assert_int_equal(h_objects(f->c), f->base + 3);
  raw_send(fd, 100, part, sizeof part);
  close(fd);
  h_wait_objects(f->c, f->base, WAIT_MS);
}

static void test_badinput_operation_before_hello(void **state) {
  fixture *f = *state;
  Gcd__Wire__Alloc a = GCD__WIRE__ALLOC__INIT;
  Gcd__Wire__Op op = GCD__WIRE__OP__INIT, *ops[] = {&op};
  Gcd__Wire__Response *r;
  int fd = raw_connect(&f->d);

  a.nbytes = 8;
  op.op_case = GCD__WIRE__OP__OP_ALLOC;
  op.alloc = &a;
  raw_request(fd, 7, ops, 1);
  r = raw_response(fd);
  assert_non_null(r);
  assert_int_equal(r->code, 0);
  assert_int_equal(r->seq, 7);
  assert_int_equal(r->n_results, 1);
  assert_int_equal(r->results[0]->code, GC_EPROTO);
  assert_mentions(r->results[0]->message, "hello");
  gcd__wire__response__free_unpacked(r, NULL);
  assert_int_equal(h_objects(f->c), f->base); /* nothing was allocated */

  raw_hello(fd, PROTO, &r); /* the connection stayed open for a hello */
  assert_int_equal(r->results[0]->code, 0);
  assert_non_null(r->results[0]->hello);
  gcd__wire__response__free_unpacked(r, NULL);
  close(fd);
}

static void test_badinput_protocol_version_mismatch(void **state) {
  fixture *f = *state;
  Gcd__Wire__Response *r;
  int fd = raw_connect(&f->d);

  raw_hello(fd, PROTO + 1, &r);
  assert_int_equal(r->results[0]->code, GC_EVERSION);
  assert_mentions(r->results[0]->message, "3");
  assert_null(r->results[0]->hello);
  gcd__wire__response__free_unpacked(r, NULL);
  raw_expect_eof(fd);
  close(fd);
}

/* ------------------------------------------------- a client that never reads */

#define FLOOD_FRAMES 400000u

/* FLOOD_FRAMES info requests, seq 2.., packed back to back. */
static unsigned char *flood_frames(size_t *len) {
  Gcd__Wire__Request req = GCD__WIRE__REQUEST__INIT;
  Gcd__Wire__Empty e = GCD__WIRE__EMPTY__INIT;
  Gcd__Wire__Op op = GCD__WIRE__OP__INIT, *ops[] = {&op};
  unsigned char *buf = malloc((size_t)FLOOD_FRAMES * 32), *p = buf;

  op.op_case = GCD__WIRE__OP__OP_INFO;
  op.info = &e;
  req.ops = ops;
  req.n_ops = 1;
  for (uint32_t i = 0; i < FLOOD_FRAMES; i++) {
    req.seq = 2 + i;
    uint32_t n = (uint32_t)gcd__wire__request__pack(&req, p + 4), be = htonl(n);
    memcpy(p, &be, 4);
    p += 4 + n;
  }
  *len = (size_t)(p - buf);
  return buf;
}

/* Sends without blocking until the daemon has taken nothing for 500 ms. */
static size_t flood_until_refused(int fd, const unsigned char *buf, size_t len) {
  size_t sent = 0;
  struct pollfd p = {.fd = fd, .events = POLLOUT};

  while (sent < len) {
    ssize_t w = send(fd, buf + sent, len - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w > 0) {
      sent += (size_t)w;
      continue;
    }
    assert_true(w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
    if (poll(&p, 1, 500) == 0)
      break;
  }
  return sent;
}

/* Parses whole frames out of in[0..*have): each must answer the next seq
 * with success. Returns frames consumed; the partial tail moves to in[0]. */
static uint32_t flood_check(unsigned char *in, size_t *have, uint64_t *seq) {
  size_t off = 0;
  uint32_t n = 0, len;

  for (;;) {
    if (*have - off < 4)
      break;
    memcpy(&len, in + off, 4);
    len = ntohl(len);
    if (*have - off - 4 < len)
      break;
    Gcd__Wire__Response *r = gcd__wire__response__unpack(NULL, len, in + off + 4);
    assert_non_null(r);
    assert_int_equal(r->seq, *seq);
    assert_int_equal(r->n_results, 1);
    assert_int_equal(r->results[0]->code, 0);
    gcd__wire__response__free_unpacked(r, NULL);
    (*seq)++;
    n++;
    off += 4 + len;
  }
  memmove(in, in + off, *have - off);
  *have -= off;
  return n;
}

/* Reads every answer while sending what is left; all arrive, in order. */
static void flood_drain(int fd, const unsigned char *buf, size_t len, size_t sent) {
  size_t cap = 1u << 20, have = 0;
  unsigned char *in = malloc(cap);
  uint64_t seq = 2;
  uint32_t got = 0;

  while (got < FLOOD_FRAMES) {
    struct pollfd p = {.fd = fd, .events = POLLIN | (sent < len ? POLLOUT : 0)};
    if (poll(&p, 1, WAIT_MS) != 1)
      fail_msg("answers stopped after %u of %u", got, FLOOD_FRAMES);
    if ((p.revents & POLLOUT) && sent < len) {
      ssize_t w = send(fd, buf + sent, len - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
      sent += w > 0 ? (size_t)w : 0;
    }
    if (!(p.revents & POLLIN))
      continue;
    ssize_t r = recv(fd, in + have, cap - have, MSG_DONTWAIT);
    assert_true(r > 0 || (r < 0 && errno == EAGAIN));
    have += r > 0 ? (size_t)r : 0;
    got += flood_check(in, &have, &seq);
  }
  assert_int_equal(have, 0);
  free(in);
}

/* A client pipelines requests and never reads the answers. The daemon stops
 * reading it once the unread answers pass the write limit (8 MiB), instead
 * of buffering without bound; other clients are served meanwhile; and when
 * the client reads at last, every answer arrives, in order. */
static void test_badinput_client_that_never_reads(void **state) {
  fixture *f = *state;
  Gcd__Wire__Response *r;
  size_t len, sent;
  unsigned char *buf = flood_frames(&len);
  int fd = raw_connect(&f->d);

  raw_hello(fd, PROTO, &r);
  assert_int_equal(r->results[0]->code, 0);
  gcd__wire__response__free_unpacked(r, NULL);
  sent = flood_until_refused(fd, buf, len);
  if (sent == len)
    fail_msg("the daemon read all %zu bytes of requests without being read", len);
  assert_int_equal(h_objects(f->by), f->base); /* others are served */
  flood_drain(fd, buf, len, sent);
  close(fd);
  free(buf);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_badinput_unknown_handle),
      T(test_badinput_stale_handle_after_reuse),
      T(test_badinput_slot_out_of_range),
      T(test_badinput_release_not_held),
      T(test_badinput_unknown_name),
      T(test_badinput_name_already_published),
      T(test_badinput_zero_size_alloc),
      T(test_badinput_huge_sizes),
      cmocka_unit_test_setup_teardown(test_badinput_heap_full_then_room_again, setup_tiny,
                                      teardown),
      T(test_badinput_batch_over_frame_limit),
      T(test_badinput_frame_over_maximum),
      T(test_badinput_not_protobuf),
      T(test_badinput_truncated_frame),
      T(test_badinput_operation_before_hello),
      T(test_badinput_protocol_version_mismatch),
      T(test_badinput_client_that_never_reads),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
