/*
 * shm.h -- shared-memory segments: memfd, mmap, backing reservation.
 *
 * The only file of the daemon that calls memfd_create, mmap, fallocate or
 * munmap is shm.c (the private arrays below are mapped here too). A segment is sparse: pages cost memory only once reserved.
 * Callers reserve backing (fallocate) for a range before handing any of it
 * out, so that a client touching it can never take SIGBUS, and punch holes
 * into ranges that fall empty so that memory goes back to the system.
 *
 * Threading: any thread; a segment's ranges are owned by whoever reserved them.
 */
#ifndef GCD_SHM_H
#define GCD_SHM_H

#include <stddef.h>
#include <stdint.h>

typedef struct gcd_shm {
  int fd;          /* memfd; -1 when closed */
  void *base;      /* read-write mapping of [0, size) */
  uint64_t size;   /* bytes */
} gcd_shm;

/** Creates a memfd of size bytes named name and maps it. 0 or GC_ENOMEM/GC_EIO
 * (GC_EINVAL for size 0). On failure *s is closed (fd -1, base NULL). */
int gcd_shm_create(gcd_shm *s, const char *name, uint64_t size);

/** Unmaps and closes; safe on a zeroed or already closed segment. */
void gcd_shm_destroy(gcd_shm *s);

/**
 * Reserves backing for [off, off+len) (page-aligned outward). 0, or GC_ENOMEM
 * when the system cannot back it (the caller answers "heap full").
 */
int gcd_shm_reserve(gcd_shm *s, uint64_t off, uint64_t len);

/** Returns the pages wholly inside [off, off+len) to the system (zeroed). */
void gcd_shm_release(gcd_shm *s, uint64_t off, uint64_t len);

/**
 * Private, zeroed memory for the daemon's own large arrays (the collector's
 * scan records), len bytes; NULL when the system has none. Arrays of
 * GCD_SHM_HUGE_MIN bytes or more ask for transparent huge pages (honoured
 * when /sys/kernel/mm/transparent_hugepage/enabled is "madvise" or
 * "always"): a pass over millions of records then misses the TLB once per
 * 2 MiB instead of once per 4 KiB. Such an array starts on a 2 MiB
 * boundary and takes whole huge pages. Pages are backed on first touch, a
 * huge page's worth at a time.
 */
void *gcd_shm_private_alloc(size_t len);

/** Frees what gcd_shm_private_alloc(len) returned; NULL is ignored. */
void gcd_shm_private_free(void *p, size_t len);

/** Backs the pages of [off, off+len) of a private array now, without
 *  changing their contents: an array a thread fills in bursts (the
 *  collector's member array) is backed as the heap grows instead of
 *  faulting in during the first collection that needs it. Any thread. */
void gcd_shm_private_populate(void *p, size_t off, size_t len);

/** Gives the 2 MiB pages wholly inside [off, off+len) of a private array
 *  (from gcd_shm_private_alloc()) back to the system; they read as zero
 *  when touched again. Smaller ranges keep their memory. */
void gcd_shm_private_discard(void *p, size_t off, size_t len);

/* One huge page: an array of 4-byte entries for a million objects is just
 * under 4 MiB, and a pass over it on 4 KiB pages paid more for the pages
 * than for the reads (docs/performance.md). */
#define GCD_SHM_HUGE_MIN ((size_t)2 << 20)

/** The system page size. */
uint64_t gcd_shm_page_size(void);

/* Test seam: after `after` more successful reservations, every further one
 * fails with GC_ENOMEM until called again with -1 (which disables it).
 * Not thread-safe; tests only. */
void gcd_shm_fail_reserve(long after);

#endif /* GCD_SHM_H */
