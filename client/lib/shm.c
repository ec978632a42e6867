/*
 * shm.c -- the client's side of the shared heap: the segment fds received
 * with SCM_RIGHTS, their mappings, and the check of the meta header.
 *
 * Owns: every recvmsg with ancillary data, mmap and munmap of libgcclient.
 * Must not touch: the wire format, objects (view.c reads those).
 *
 * The meta segment is mapped read-only: the daemon trusts it, so a client
 * must not be able to write it even by accident. Nothing in the header is
 * believed until it matches the hello and the fds' real sizes, because a
 * wrong size here would turn every later bounds check into a lie.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* Room for a few more fds than the two expected, so extras can be closed. */
#define FDS_ROOM 8

/* Keeps the first two fds of one SCM_RIGHTS message, closes the rest. */
static void take_fds(struct cmsghdr *cm, int fds[2], int *nfds) {
  size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
  int fd;

  for (size_t i = 0; i < n; i++) {
    memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
    if (*nfds < 2)
      fds[(*nfds)++] = fd;
    else
      close(fd);
  }
}

long gc__shm_recv_fds(int sock, void *buf, size_t len, int fds[2], int *nfds) {
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(FDS_ROOM * sizeof(int))];
  } ctl;
  struct iovec iov = {.iov_base = buf, .iov_len = len};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                       .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
  ssize_t n;

  do
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return -errno;
  for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
    if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
      take_fds(cm, fds, nfds);
  if (msg.msg_flags & MSG_CTRUNC) {
    while (*nfds > 0)
      close(fds[--*nfds]);
    return -EPROTO;
  }
  return n;
}

/* The fd's real size must be the one announced: a smaller file would make
 * pages of the mapping fault with SIGBUS. */
static int check_fd_size(gc_client *c, int fd, uint64_t size, const char *what) {
  struct stat st;

  if (fstat(fd, &st) != 0)
    return gc__fail(c, GC_EIO, "fstat of the %s segment: %s", what, strerror(errno));
  if ((uint64_t)st.st_size != size || size == 0)
    return gc__fail(c, GC_EPROTO, "%s segment is %lld bytes, the daemon announced %llu",
                    what, (long long)st.st_size, (unsigned long long)size);
  return 0;
}

static int map_fd(gc_client *c, int fd, uint64_t size, int prot, void **out,
                  const char *what) {
  void *p;

  if (size > SIZE_MAX)
    return gc__fail(c, GC_EIO, "%s segment of %llu bytes cannot be mapped here",
                    what, (unsigned long long)size);
  p = mmap(NULL, (size_t)size, prot, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED)
    return gc__fail(c, GC_EIO, "mmap of the %s segment (%llu bytes): %s", what,
                    (unsigned long long)size, strerror(errno));
  *out = p;
  return 0;
}

/* Does [off, off + count * unit) fit in size, without overflow? */
static int range_fits(uint64_t off, uint64_t count, uint64_t unit, uint64_t size) {
  return off <= size && count <= (size - off) / unit;
}

/* The header as written by a daemon of this layout, and geometry that fits
 * the segments: only then may view.c index with it. */
static int check_header(gc_client *c, const gcd_meta_header *m, uint64_t meta_size,
                        uint64_t data_size) {
  if (memcmp(m->magic, GCD_META_MAGIC, sizeof m->magic) != 0)
    return gc__fail(c, GC_EPROTO, "meta segment has no gcd heap header (bad magic)");
  if (m->layout_version != GCD_LAYOUT_VERSION)
    return gc__fail(c, GC_EVERSION, "heap layout version %u, this library reads %u",
                    m->layout_version, GCD_LAYOUT_VERSION);
  if (m->header_size != sizeof *m || m->obj_size != sizeof(gcd_obj) ||
      m->state_size != sizeof(gcd_state))
    return gc__fail(c, GC_EVERSION, "heap header/object/state sizes %u/%u/%u, expected "
                    "%zu/%zu/%zu", m->header_size, m->obj_size, m->state_size, sizeof *m,
                    sizeof(gcd_obj), sizeof(gcd_state));
  if (m->meta_size != meta_size || m->data_size != data_size)
    return gc__fail(c, GC_EPROTO, "heap header sizes disagree with the hello");
  if (m->table_off < GCD_META_HEADER_SIZE || m->table_off % 8 != 0 ||
      m->state_off < GCD_META_HEADER_SIZE || m->state_off % 8 != 0 ||
      m->slots_off % 8 != 0 ||
      !range_fits(m->state_off, m->table_cap, sizeof(gcd_state), meta_size) ||
      !range_fits(m->table_off, m->table_cap, sizeof(gcd_obj), meta_size) ||
      !range_fits(m->slots_off, m->slots_cap, sizeof(uint64_t), meta_size))
    return gc__fail(c, GC_EPROTO, "heap header geometry lies outside the meta segment");
  return 0;
}

/* Copies the checked geometry out of shared memory into the client. */
static void fill_heap(gc__heap *hp) {
  const gcd_meta_header *m = hp->meta;
  const char *base = hp->meta;

  hp->states = (const gcd_state *)(base + m->state_off);
  hp->table = (const gcd_obj *)(base + m->table_off);
  hp->table_cap = m->table_cap;
  hp->slots = (const _Atomic uint64_t *)(base + m->slots_off);
  hp->slots_cap = m->slots_cap;
}

static int map_both(gc_client *c, int meta_fd, int data_fd, uint64_t meta_size,
                    uint64_t data_size) {
  gc__heap *hp = &c->heap;
  void *data = NULL;
  int err;

  if (meta_size < GCD_META_HEADER_SIZE)
    return gc__fail(c, GC_EPROTO, "meta segment of %llu bytes has no room for a header",
                    (unsigned long long)meta_size);
  if ((err = check_fd_size(c, meta_fd, meta_size, "meta")) != 0 ||
      (err = check_fd_size(c, data_fd, data_size, "data")) != 0 ||
      (err = map_fd(c, meta_fd, meta_size, PROT_READ, &hp->meta, "meta")) != 0)
    return err;
  hp->meta_size = meta_size;
  if ((err = check_header(c, hp->meta, meta_size, data_size)) != 0 ||
      (err = map_fd(c, data_fd, data_size, PROT_READ | PROT_WRITE, &data, "data")) != 0) {
    gc__shm_unmap(hp);
    return err;
  }
  hp->data = data;
  hp->data_size = data_size;
  fill_heap(hp);
  return 0;
}

int gc__shm_map(gc_client *c, int meta_fd, int data_fd, uint64_t meta_size,
                uint64_t data_size) {
  int err = map_both(c, meta_fd, data_fd, meta_size, data_size);

  close(meta_fd);
  close(data_fd);
  return err;
}

void gc__shm_unmap(gc__heap *hp) {
  if (hp->meta != NULL)
    munmap(hp->meta, (size_t)hp->meta_size);
  if (hp->data != NULL)
    munmap(hp->data, (size_t)hp->data_size);
  memset(hp, 0, sizeof *hp);
}
