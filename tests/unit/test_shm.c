/*
 * test_shm.c -- the shared-memory OS layer: sparse memfd segments, sealing,
 * backing reservation, hole punching, the reservation fault seam, and the
 * private arrays advised for huge pages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gcclient.h"
#include "shm.h"

#define SEG_SIZE (64u << 20)

/* Bytes of memory backing the segment's file right now. */
static uint64_t backed_bytes(const gcd_shm *s) {
  struct stat st;

  assert_int_equal(fstat(s->fd, &st), 0);
  return (uint64_t)st.st_blocks * 512u;
}

/* Whether the mapping holding p carries VmFlag `flag` in /proc/self/smaps. */
static int vma_has_flag(const void *p, const char *flag) {
  FILE *f = fopen("/proc/self/smaps", "r");
  char line[512];
  int in = 0, found = 0;

  assert_non_null(f);
  while (fgets(line, sizeof line, f) != NULL) {
    unsigned long lo, hi;
    if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
      in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
    else if (in && strncmp(line, "VmFlags:", 8) == 0) {
      char want[8];
      snprintf(want, sizeof want, " %s", flag);
      found = strstr(line, want) != NULL;
      break;
    }
  }
  fclose(f);
  return found;
}

/* Private arrays: zeroed, writable, and advised for huge pages from
 * GCD_SHM_HUGE_MIN up (where the kernel has transparent huge pages). */
static void test_shm_private_alloc_zeroed_and_advised(void **state) {
  size_t big = GCD_SHM_HUGE_MIN * 2, small = 64u << 10;
  unsigned char *b = gcd_shm_private_alloc(big), *s = gcd_shm_private_alloc(small);
  int thp = access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) == 0;

  (void)state;
  assert_non_null(b);
  assert_non_null(s);
  assert_int_equal(b[0] | b[big / 2] | b[big - 1] | s[0] | s[small - 1], 0);
  b[big - 1] = s[small - 1] = 7;
  assert_int_equal(b[big - 1] + s[small - 1], 14);
  if (thp)
    assert_true(vma_has_flag(b, "hg"));
  assert_false(vma_has_flag(s, "hg"));
  assert_int_equal((uintptr_t)b % GCD_SHM_HUGE_MIN, 0); /* whole huge pages */
  gcd_shm_private_free(b, big);
  gcd_shm_private_free(s, small);
  gcd_shm_private_free(NULL, 0); /* ignored */
}

/* Populating backs pages and leaves what they hold. */
static void test_shm_private_populate_backs_and_keeps(void **state) {
  size_t page = (size_t)gcd_shm_page_size(), len = 64 * page;
  unsigned char *p = gcd_shm_private_alloc(len), vec[64];

  (void)state;
  assert_non_null(p);
  p[3 * page + 5] = 42;
  gcd_shm_private_populate(p, 2 * page + 100, 8 * page);
  assert_int_equal(p[3 * page + 5], 42);
  assert_int_equal(p[9 * page], 0);
#ifdef MADV_POPULATE_WRITE
  assert_int_equal(mincore(p, len, vec), 0);
  for (int i = 2; i <= 10; i++) /* the pages the range touches, ends included */
    assert_true(vec[i] & 1);
#endif
  gcd_shm_private_free(p, len);
}

/* Discarding gives back whole huge pages only, and keeps the rest. */
static void test_shm_private_discard_whole_huge_pages(void **state) {
  size_t huge = (size_t)2 << 20, len = 3 * huge;
  unsigned char *p = gcd_shm_private_alloc(len);

  (void)state;
  assert_non_null(p);
  memset(p, 7, len);
  gcd_shm_private_discard(p, 4096, huge); /* covers no whole huge page */
  assert_int_equal(p[4096] + p[huge] + p[huge + 4095], 21);
  gcd_shm_private_discard(p, 4096, 2 * huge); /* covers [huge, 2 huge) */
  assert_int_equal(p[4096], 7);
  assert_int_equal(p[huge] | p[2 * huge - 1], 0);
  assert_int_equal(p[2 * huge], 7);
  gcd_shm_private_free(p, len);
}

static void test_shm_create_is_sparse_and_zeroed(void **state) {
  gcd_shm s;

  assert_int_equal(gcd_shm_create(&s, "test", SEG_SIZE), 0);
  assert_true(s.fd >= 0);
  assert_non_null(s.base);
  assert_int_equal(s.size, SEG_SIZE);
  assert_int_equal(backed_bytes(&s), 0);
  assert_int_equal(gcd_shm_reserve(&s, 0, 4096), 0);
  assert_int_equal(((unsigned char *)s.base)[100], 0);
  gcd_shm_destroy(&s);
}

static void test_shm_create_seals_size_and_sets_cloexec(void **state) {
  gcd_shm s;
  int seals;

  assert_int_equal(gcd_shm_create(&s, "test", SEG_SIZE), 0);
  seals = fcntl(s.fd, F_GET_SEALS);
  assert_true(seals & F_SEAL_GROW);
  assert_true(seals & F_SEAL_SHRINK);
  assert_true(seals & F_SEAL_SEAL);
  assert_int_not_equal(ftruncate(s.fd, SEG_SIZE / 2), 0);
  assert_int_not_equal(ftruncate(s.fd, SEG_SIZE * 2), 0);
  assert_true(fcntl(s.fd, F_GETFD) & FD_CLOEXEC);
  gcd_shm_destroy(&s);
}

static void test_shm_create_zero_size_is_einval(void **state) {
  gcd_shm s;

  assert_int_equal(gcd_shm_create(&s, "test", 0), GC_EINVAL);
  assert_int_equal(s.fd, -1);
  assert_null(s.base);
  gcd_shm_destroy(&s);
}

static void test_shm_reserve_rounds_out_to_pages(void **state) {
  uint64_t page = gcd_shm_page_size();
  gcd_shm s;

  assert_int_equal(gcd_shm_create(&s, "test", SEG_SIZE), 0);
  assert_int_equal(gcd_shm_reserve(&s, page + 10, 20), 0);
  assert_int_equal(backed_bytes(&s), page);
  assert_int_equal(gcd_shm_reserve(&s, 3 * page - 1, 2), 0);
  assert_int_equal(backed_bytes(&s), 3 * page);
  assert_int_equal(gcd_shm_reserve(&s, 0, 0), 0);
  assert_int_equal(backed_bytes(&s), 3 * page);
  gcd_shm_destroy(&s);
}

static void test_shm_release_punches_whole_pages_only(void **state) {
  uint64_t page = gcd_shm_page_size();
  unsigned char *b;
  gcd_shm s;

  assert_int_equal(gcd_shm_create(&s, "test", SEG_SIZE), 0);
  b = s.base;
  assert_int_equal(gcd_shm_reserve(&s, 0, 4 * page), 0);
  memset(b, 0xab, 4 * page);
  gcd_shm_release(&s, page / 2, 2 * page); /* only page 1 lies wholly inside */
  assert_int_equal(backed_bytes(&s), 3 * page);
  assert_int_equal(b[page / 2], 0xab);
  assert_int_equal(b[page], 0);
  assert_int_equal(b[2 * page - 1], 0);
  assert_int_equal(b[2 * page], 0xab);
  gcd_shm_release(&s, 0, 4 * page);
  assert_int_equal(backed_bytes(&s), 0);
  gcd_shm_destroy(&s);
}

static void test_shm_fail_reserve_injects_enomem(void **state) {
  gcd_shm s;

  assert_int_equal(gcd_shm_create(&s, "test", SEG_SIZE), 0);
  gcd_shm_fail_reserve(1);
  assert_int_equal(gcd_shm_reserve(&s, 0, 4096), 0);
  assert_int_equal(gcd_shm_reserve(&s, 8192, 4096), GC_ENOMEM);
  assert_int_equal(gcd_shm_reserve(&s, 8192, 4096), GC_ENOMEM);
  gcd_shm_fail_reserve(-1);
  assert_int_equal(gcd_shm_reserve(&s, 8192, 4096), 0);
  gcd_shm_destroy(&s);
}

static void test_shm_destroy_zeroed_or_twice_is_safe(void **state) {
  gcd_shm zeroed = {0};
  gcd_shm s;
  int flags0 = fcntl(0, F_GETFD);

  gcd_shm_destroy(&zeroed); /* fd 0 must not be closed */
  assert_int_equal(fcntl(0, F_GETFD), flags0);
  assert_int_equal(gcd_shm_create(&s, "test", SEG_SIZE), 0);
  gcd_shm_destroy(&s);
  assert_int_equal(s.fd, -1);
  assert_null(s.base);
  gcd_shm_destroy(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_shm_private_populate_backs_and_keeps),
      cmocka_unit_test(test_shm_private_discard_whole_huge_pages),
      cmocka_unit_test(test_shm_create_is_sparse_and_zeroed),
      cmocka_unit_test(test_shm_create_seals_size_and_sets_cloexec),
      cmocka_unit_test(test_shm_create_zero_size_is_einval),
      cmocka_unit_test(test_shm_reserve_rounds_out_to_pages),
      cmocka_unit_test(test_shm_release_punches_whole_pages_only),
      cmocka_unit_test(test_shm_fail_reserve_injects_enomem),
      cmocka_unit_test(test_shm_destroy_zeroed_or_twice_is_safe),
      cmocka_unit_test(test_shm_private_alloc_zeroed_and_advised),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
