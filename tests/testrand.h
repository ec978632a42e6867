/*
 * testrand.h -- what the tests that compare two readers of one wire format
 * share: a seeded generator, and damage done to a frame the way a broken
 * peer would do it.
 */
#ifndef GCD_TESTRAND_H
#define GCD_TESTRAND_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* splitmix64: the next number from *s. */
static inline uint64_t test_next(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15u);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
  return z ^ (z >> 31);
}

/* Cuts frame[0..len) short, flips one of its bits, or inserts a byte
 * (frame must have room for one more); returns the new length. */
static inline size_t test_damage(uint64_t *s, uint8_t *frame, size_t len) {
  size_t at;

  switch (test_next(s) % 3) {
  case 0:
    return len > 0 ? (size_t)(test_next(s) % len) : 0;
  case 1:
    if (len > 0)
      frame[test_next(s) % len] ^= (uint8_t)(1u << (test_next(s) % 8));
    return len;
  default:
    at = len > 0 ? (size_t)(test_next(s) % len) : 0;
    memmove(frame + at + 1, frame + at, len - at);
    frame[at] = (uint8_t)test_next(s);
    return len + 1;
  }
}

#endif /* GCD_TESTRAND_H */
