/*
 * frame.h -- the wire's framing: a 4-byte big-endian length, then that many
 * bytes of one protobuf message.
 *
 * The decoder is fed bytes in whatever pieces the socket delivers and yields
 * whole frames; it checks each length against its maximum before it
 * allocates anything, so a peer cannot make the daemon allocate more than the
 * maximum by announcing a large frame. The encoder reserves the length prefix
 * in front of a payload buffer.
 *
 * Owns: the bytes of a partly received frame. Must not touch: sockets, libuv,
 * protobuf. Threading: one decoder belongs to one session (loop thread).
 */
#ifndef GCD_FRAME_H
#define GCD_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define GCD_FRAME_HEADER 4u            /* bytes of the length prefix */
#define GCD_FRAME_MAX_LIMIT 0x40000000u /* no configuration may exceed 1 GiB */

typedef struct gcd_frame_decoder {
  size_t max;          /* largest payload accepted */
  uint8_t hdr[GCD_FRAME_HEADER];
  size_t hdr_len;      /* bytes of hdr received */
  uint8_t *buf;        /* payload of a frame split over feeds, or NULL */
  size_t need;         /* payload length announced by hdr (when hdr_len == 4) */
  size_t have;         /* payload bytes in buf */
  size_t bad_len;      /* the length of the last refused frame */
} gcd_frame_decoder;

/** A whole frame: valid until the next call on its decoder. */
typedef struct gcd_frame {
  const uint8_t *data;
  size_t len;
} gcd_frame;

void gcd_frame_init(gcd_frame_decoder *d, size_t max);
void gcd_frame_destroy(gcd_frame_decoder *d);

/**
 * Consumes bytes of data[0, n) up to the end of the next whole frame and sets
 * *used to the count consumed. Returns 1 with *out set when a frame is whole
 * (out->data may point into data: no copy when the frame arrived in one
 * piece), 0 when all n bytes were consumed without finishing one, or an
 * error: GC_EFRAMESIZE (announced length > max; see gcd_frame_bad_len()),
 * GC_EFRAME (length 0), GC_ENOMEM (no memory for a split frame). After an
 * error the stream cannot be resynchronised: the caller closes it.
 */
int gcd_frame_feed(gcd_frame_decoder *d, const void *data, size_t n,
                   size_t *used, gcd_frame *out);

/** 1 when part of a frame (header or payload) is buffered: EOF now truncates it. */
int gcd_frame_partial(const gcd_frame_decoder *d);

/** The payload bytes a partial frame announced (0 while the header is partial). */
size_t gcd_frame_expected(const gcd_frame_decoder *d);

/** The payload bytes a partial frame has so far. */
size_t gcd_frame_received(const gcd_frame_decoder *d);

/** The length the last GC_EFRAMESIZE refused. */
size_t gcd_frame_bad_len(const gcd_frame_decoder *d);

/**
 * Allocates GCD_FRAME_HEADER + len bytes and writes the prefix for a payload
 * of len; the caller writes the payload at the returned pointer + 4 and frees
 * the whole with free(). NULL when out of memory or len > UINT32_MAX.
 */
uint8_t *gcd_frame_alloc(size_t len);

/** Writes the big-endian prefix of a len-byte payload into hdr. */
void gcd_frame_put_header(uint8_t hdr[GCD_FRAME_HEADER], uint32_t len);

#endif /* GCD_FRAME_H */
