/*
 * frame.c -- incremental frame decoder and length-prefix encoder.
 *
 * Owns: the decoder's buffer of a split frame. Must not touch: sockets,
 * libuv, protobuf. Threading: a decoder is used by one thread at a time.
 */
#include "frame.h"

#include <stdlib.h>
#include <string.h>

#include "gcclient.h"

void gcd_frame_init(gcd_frame_decoder *d, size_t max) {
  memset(d, 0, sizeof *d);
  d->max = max;
}

void gcd_frame_destroy(gcd_frame_decoder *d) {
  free(d->buf);
  d->buf = NULL;
}

static uint32_t get_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void gcd_frame_put_header(uint8_t hdr[GCD_FRAME_HEADER], uint32_t len) {
  hdr[0] = (uint8_t)(len >> 24);
  hdr[1] = (uint8_t)(len >> 16);
  hdr[2] = (uint8_t)(len >> 8);
  hdr[3] = (uint8_t)len;
}

/* Collects header bytes; once whole, checks the length against the limit
 * before anything is allocated for the payload. */
static int take_header(gcd_frame_decoder *d, const uint8_t *p, size_t n,
                       size_t *used) {
  size_t k = GCD_FRAME_HEADER - d->hdr_len;

  if (k > n)
    k = n;
  memcpy(d->hdr + d->hdr_len, p, k);
  d->hdr_len += k;
  *used = k;
  if (d->hdr_len < GCD_FRAME_HEADER)
    return 0;
  d->need = get_be32(d->hdr);
  if (d->need == 0)
    return GC_EFRAME;
  if (d->need > d->max) {
    d->bad_len = d->need;
    return GC_EFRAMESIZE;
  }
  return 0;
}

/* Ends the current frame so the next feed starts a new header. */
static void frame_reset(gcd_frame_decoder *d) {
  d->hdr_len = 0;
  d->need = d->have = 0;
}

/* The payload when it lies whole in the caller's bytes: handed out in place. */
static int take_in_place(gcd_frame_decoder *d, const uint8_t *p, size_t *used,
                         gcd_frame *out) {
  out->data = p;
  out->len = d->need;
  *used = d->need;
  frame_reset(d);
  return 1;
}

/* A payload split over feeds is gathered in buf, sized once to the length
 * the header announced (already checked against max). */
static int take_split(gcd_frame_decoder *d, const uint8_t *p, size_t n,
                      size_t *used, gcd_frame *out) {
  size_t k = d->need - d->have;

  if (d->buf == NULL) {
    if ((d->buf = malloc(d->need)) == NULL)
      return GC_ENOMEM;
  }
  if (k > n)
    k = n;
  memcpy(d->buf + d->have, p, k);
  d->have += k;
  *used = k;
  if (d->have < d->need)
    return 0;
  out->data = d->buf;
  out->len = d->need;
  frame_reset(d);
  return 1;
}

/* Loop thread (the session's). The previous frame's split buffer is kept
 * until here, since the caller may still have been reading it. */
int gcd_frame_feed(gcd_frame_decoder *d, const void *data, size_t n,
                   size_t *used, gcd_frame *out) {
  const uint8_t *p = data;
  size_t k = 0;
  int rc;

  *used = 0;
  if (d->have == 0 && d->buf != NULL) { /* the last split frame is done with */
    free(d->buf);
    d->buf = NULL;
  }
  if (d->hdr_len < GCD_FRAME_HEADER) {
    if ((rc = take_header(d, p, n, &k)) != 0 || d->hdr_len < GCD_FRAME_HEADER) {
      *used = k;
      return rc;
    }
  }
  if (d->have == 0 && n - k >= d->need)
    rc = take_in_place(d, p + k, used, out);
  else
    rc = take_split(d, p + k, n - k, used, out);
  *used += k;
  return rc;
}

int gcd_frame_partial(const gcd_frame_decoder *d) {
  return d->hdr_len > 0;
}

size_t gcd_frame_expected(const gcd_frame_decoder *d) {
  return d->hdr_len == GCD_FRAME_HEADER ? d->need : 0;
}

size_t gcd_frame_received(const gcd_frame_decoder *d) {
  return d->have;
}

size_t gcd_frame_bad_len(const gcd_frame_decoder *d) {
  return d->bad_len;
}

uint8_t *gcd_frame_alloc(size_t len) {
  uint8_t *p;

  if (len > UINT32_MAX || (p = malloc(GCD_FRAME_HEADER + len)) == NULL)
    return NULL;
  gcd_frame_put_header(p, (uint32_t)len);
  return p;
}
