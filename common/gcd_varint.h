/*
 * gcd_varint.h -- protobuf's wire format at its smallest, shared by the
 * daemon's handlers and the client library for the messages each writes
 * or reads without protobuf-c (ops.c, wire.c say which and why). Reads
 * take what protobuf-c takes, the same way: varints of at most 10 bytes,
 * bits past 64 dropped; anything else is declined, to be read by
 * protobuf-c, which gives the verdict.
 */
#ifndef GCD_VARINT_H
#define GCD_VARINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes still to read. */
typedef struct gcd_reader {
  const uint8_t *p, *end;
} gcd_reader;

/* A varint; *nz says whether any of its bits was set (protobuf-c's bool,
 * which counts bits past 64 too). */
static inline bool gcd_read_varint(gcd_reader *r, uint64_t *v, bool *nz) {
  uint64_t x = 0;
  unsigned any = 0;

  for (unsigned shift = 0; shift < 70 && r->p < r->end; shift += 7) {
    uint8_t byte = *r->p++;
    x |= (uint64_t)(byte & 0x7f) << shift;
    any |= byte & 0x7f;
    if (!(byte & 0x80)) {
      *v = x;
      *nz = any != 0;
      return true;
    }
  }
  return false;
}

/* A one-byte tag: field number (1..15) and wire type. */
static inline bool gcd_read_tag(gcd_reader *r, unsigned *field, unsigned *type) {
  if (r->p == r->end || (*r->p & 0x80) || (*r->p >> 3) == 0)
    return false;
  *field = *r->p >> 3;
  *type = *r->p++ & 7;
  return true;
}

/* A length-delimited field's contents. */
static inline bool gcd_read_bytes(gcd_reader *r, gcd_reader *out) {
  uint64_t n;
  bool nz;

  if (!gcd_read_varint(r, &n, &nz) || n > (uint64_t)(r->end - r->p))
    return false;
  *out = (gcd_reader){r->p, r->p + n};
  r->p += n;
  return true;
}

/* sint32 as protobuf-c reads it: the low 32 bits, unzigzagged. */
static inline int32_t gcd_unzigzag32(uint64_t v) {
  uint32_t u = (uint32_t)v;
  return (int32_t)((u >> 1) ^ (0u - (u & 1)));
}

static inline uint32_t gcd_zigzag32(int32_t v) {
  return ((uint32_t)v << 1) ^ (uint32_t)(v >> 31);
}

static inline size_t gcd_varint_size(uint64_t v) {
  size_t n = 1;

  for (; v >= 0x80; v >>= 7)
    n++;
  return n;
}

/* Writes v at p; returns the byte after it. */
static inline uint8_t *gcd_put_varint(uint8_t *p, uint64_t v) {
  for (; v >= 0x80; v >>= 7)
    *p++ = (uint8_t)(v | 0x80);
  *p++ = (uint8_t)v;
  return p;
}

#endif /* GCD_VARINT_H */
