/*
 * shm.c -- the daemon's OS layer for shared memory: memfd segments, their
 * mappings, and backing reservation (fallocate) and release (hole punching).
 *
 * Owns: every memfd_create, ftruncate, fcntl(F_ADD_SEALS), mmap, munmap and
 * fallocate call of the daemon. Must not touch: what lives inside a segment
 * (layout, arenas, objects) -- callers decide offsets, this file only backs
 * them. A system failure is always an error code, never an abort.
 *
 * Threading: any thread; the fault-injection seam is for single-threaded tests.
 */
#include "shm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gcclient.h"

/* Fault injection: reservations left to succeed before every further one
 * fails; -1 means never fail. */
static long fail_after = -1;

/* Maps an errno from memfd/ftruncate/mmap/fallocate to the error space: the
 * out-of-memory family means "heap full", anything else is an I/O failure. */
static int map_errno(int err) {
  switch (err) {
  case ENOMEM:
  case ENOSPC:
  case EFBIG:
  case EMFILE:
  case ENFILE:
    return GC_ENOMEM;
  default:
    return GC_EIO;
  }
}

/* Creates the memfd and gives it its final size. Sealing against growth and
 * shrinking means a client holding the fd cannot resize the segment under
 * the daemon's (and other clients') mappings, which would SIGBUS them;
 * F_SEAL_SEAL stops a client adding seals of its own (e.g. one that would
 * forbid other clients' writable mappings). */
static int open_memfd(const char *name, uint64_t size, int *fd) {
  int err;

  *fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (*fd < 0)
    return map_errno(errno);
  if (ftruncate(*fd, (off_t)size) != 0 ||
      fcntl(*fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) != 0) {
    err = map_errno(errno);
    close(*fd);
    *fd = -1;
    return err;
  }
  return 0;
}

/* Any thread. Sparse: ftruncate allocates nothing; pages are backed only by
 * gcd_shm_reserve() (or by touching them, which callers must not do first). */
int gcd_shm_create(gcd_shm *s, const char *name, uint64_t size) {
  int err;

  s->fd = -1;
  s->base = NULL;
  s->size = 0;
  if (size == 0 || size > (uint64_t)INT64_MAX)
    return GC_EINVAL;
  err = open_memfd(name, size, &s->fd);
  if (err != 0)
    return err;
  s->base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
  if (s->base == MAP_FAILED) {
    err = map_errno(errno);
    close(s->fd);
    s->fd = -1;
    s->base = NULL;
    return err;
  }
  s->size = size;
  return 0;
}

/* Any thread. base != NULL is the mark of a live segment (create sets base
 * and fd together), so a zeroed struct, whose fd reads 0, is left alone. */
void gcd_shm_destroy(gcd_shm *s) {
  if (s->base != NULL) {
    munmap(s->base, s->size);
    close(s->fd);
  }
  s->fd = -1;
  s->base = NULL;
  s->size = 0;
}

/* Any thread. Anonymous mappings rather than malloc: a huge page needs a
 * range of its own to be advised, and zeroed pages come for free. Sized by
 * the heap's capacity, not its use: MAP_NORESERVE, so that a large
 * --heap-size is not refused for memory that is never touched. A large
 * array is placed on a 2 MiB boundary and rounded up to a whole huge page,
 * so that all of it can be huge, its ends included. */
#define HUGE_PAGE ((size_t)2 << 20)

static size_t private_len(size_t len) {
  if (len == 0)
    return 1;
  return len >= GCD_SHM_HUGE_MIN ? (len + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1) : len;
}

/* n bytes at a 2 MiB boundary: map HUGE_PAGE more, unmap the slack. */
static void *map_aligned(size_t n) {
  char *p = mmap(NULL, n + HUGE_PAGE, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED)
    return NULL;
  char *a = (char *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
  if (a > p)
    munmap(p, (size_t)(a - p));
  munmap(a + n, HUGE_PAGE - (size_t)(a - p));
  return a;
}

void *gcd_shm_private_alloc(size_t len) {
  size_t n = private_len(len);
  void *p;

  if (n < GCD_SHM_HUGE_MIN) {
    p = mmap(NULL, n, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
  }
  p = map_aligned(n);
#ifdef MADV_HUGEPAGE
  if (p != NULL)
    (void)madvise(p, n, MADV_HUGEPAGE); /* a hint: refused means 4 KiB pages */
#endif
  return p;
}

void gcd_shm_private_free(void *p, size_t len) {
  if (p != NULL)
    munmap(p, private_len(len));
}

/* Safe while another thread uses the pages: present pages are left as
 * they are. A kernel without MADV_POPULATE_WRITE (before 5.14) refuses it,
 * and the pages fault in when first used, as they would anyway. */
void gcd_shm_private_populate(void *p, size_t off, size_t len) {
#ifdef MADV_POPULATE_WRITE
  size_t page = (size_t)gcd_shm_page_size();
  size_t from = off / page * page, to = (off + len + page - 1) / page * page;

  if (to > from)
    (void)madvise((char *)p + from, to - from, MADV_POPULATE_WRITE);
#else
  (void)p, (void)off, (void)len;
#endif
}

/* Whole huge pages only: a partial page at either end may hold live
 * entries, and discarding part of a huge page splits it, after which the
 * array is back on 4 KiB pages there (docs/performance.md). */
void gcd_shm_private_discard(void *p, size_t off, size_t len) {
  size_t from = (off + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
  size_t to = (off + len) / HUGE_PAGE * HUGE_PAGE;

  if (to > from)
    (void)madvise((char *)p + from, to - from, MADV_DONTNEED);
}

/* Any thread. Cached: sysconf is not free and the answer never changes;
 * relaxed atomics, as two threads may race to fill the cache. */
uint64_t gcd_shm_page_size(void) {
  static _Atomic uint64_t page;
  uint64_t p = atomic_load_explicit(&page, memory_order_relaxed);

  if (p == 0) {
    p = (uint64_t)sysconf(_SC_PAGESIZE);
    atomic_store_explicit(&page, p, memory_order_relaxed);
  }
  return p;
}

/* Consumes one reservation from the fault-injection budget; 1 = fail it. */
static int injected_failure(void) {
  if (fail_after < 0)
    return 0;
  if (fail_after == 0)
    return 1;
  fail_after--;
  return 0;
}

/* Maps the freshly backed pages into the daemon's page tables in one call
 * rather than one fault per page on first touch (zeroing a payload, filling
 * the table). Only a speed-up: kernels without MADV_POPULATE_WRITE say
 * EINVAL, and the pages then fault in as usual. */
static void populate(gcd_shm *s, uint64_t off, uint64_t len) {
#ifdef MADV_POPULATE_WRITE
  (void)madvise((char *)s->base + off, len, MADV_POPULATE_WRITE);
#else
  (void)s, (void)off, (void)len;
#endif
}

/* Any thread. fallocate(mode 0) allocates the pages now, so a later first
 * touch cannot fail; already backed pages in the range cost nothing more. */
int gcd_shm_reserve(gcd_shm *s, uint64_t off, uint64_t len) {
  uint64_t page = gcd_shm_page_size();
  uint64_t start = off & ~(page - 1);
  uint64_t end = (off + len + page - 1) & ~(page - 1);

  if (len == 0)
    return 0;
  if (end > s->size)
    end = s->size;
  if (injected_failure())
    return GC_ENOMEM;
  while (fallocate(s->fd, 0, (off_t)start, (off_t)(end - start)) != 0) {
    if (errno != EINTR)
      return map_errno(errno);
  }
  populate(s, start, end - start);
  return 0;
}

/* Any thread. Only pages wholly inside the range go: a page shared with a
 * neighbouring block may still be in use. A failure only keeps memory
 * backed a little longer, so it is not reported. */
void gcd_shm_release(gcd_shm *s, uint64_t off, uint64_t len) {
  uint64_t page = gcd_shm_page_size();
  uint64_t start = (off + page - 1) & ~(page - 1);
  uint64_t end = (off + len) & ~(page - 1);
  int mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;

  if (off + len == s->size)
    end = s->size; /* the segment's last, partial page is wholly ours */
  if (start >= end)
    return;
  while (fallocate(s->fd, mode, (off_t)start, (off_t)(end - start)) != 0 &&
         errno == EINTR)
    ;
}

/* Tests only. After `after` more successful reservations, every reservation
 * fails with GC_ENOMEM until called again with -1. */
void gcd_shm_fail_reserve(long after) { fail_after = after; }
