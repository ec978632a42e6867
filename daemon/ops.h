/*
 * ops.h -- the request handlers: one frame's bytes in, one encoded Response
 * frame out, with what the transport must do next.
 *
 * The only file of the daemon that sees protobuf types is ops.c. The caller
 * (server.c, or a test) owns the socket and just ships the reply.
 *
 * Threading: loop thread, heap lock held; every handler runs to completion,
 * so an operation (lookup + retain, for one) is atomic against every other
 * client. Operations that need the collector thread (collect, freeze, heap
 * full, referrers, verify...) park their frame on its queue instead: the
 * session then waits, and gcd_ops_resume() finishes the frame once the
 * collector hands the request back.
 */
#ifndef GCD_OPS_H
#define GCD_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gcthread.h"
#include "session.h"

#define GCD_OPS_DEFERRED 1 /* the frame waits on the collector thread */

/* Memory of the caller's where a reply may be written, len bytes at p,
 * instead of in a block from malloc: replies that fit (and carry no fds)
 * go there. */
typedef struct gcd_room {
  uint8_t *p;
  size_t len;
} gcd_room;

typedef struct gcd_reply {
  uint8_t *buf;      /* length prefix + Response; the caller free()s it
                        unless in_room */
  size_t len;        /* bytes in buf, prefix included */
  bool in_room;      /* buf is the room's p, not from malloc */
  bool close_after;  /* send buf, then close the connection */
  bool attach_fds;   /* send the heap's fds (meta, data) with buf's first byte */
} gcd_reply;

/**
 * Runs one Request frame (the payload, without its length prefix) for s and
 * encodes the Response into *out: in room when it fits there (room may be
 * NULL), else in memory from malloc. Returns 0 (*out filled; operations may have
 * failed, each with its own result; out->buf NULL for a quiet request that
 * goes unanswered), GCD_OPS_DEFERRED (no reply yet: s waits,
 * reading no further frame, until gcd_ops_resume() answers), or GC_ENOMEM
 * when the daemon could not build any reply: then the caller closes the
 * connection.
 */
int gcd_ops_handle(gcd_daemon *d, gcd_session *s, const uint8_t *frame,
                   size_t len, const gcd_room *room, gcd_reply *out);

/**
 * Continues the frame that req (from gcd_gcthread_take_done()) belongs to.
 * *s is its session, or NULL when that session closed meanwhile (the frame is
 * then dropped and 0 returned with no reply). Otherwise returns as
 * gcd_ops_handle().
 */
int gcd_ops_resume(gcd_daemon *d, gcd_gcreq *req, const gcd_room *room,
                   gcd_session **s, gcd_reply *out);

/** Session closing: its waiting frame, if any, will be dropped on return,
 *  and the memory kept for its next frame is freed. */
void gcd_ops_abandon(gcd_session *s);

/** Frees a frame's request that will never be resumed (daemon stopping). */
void gcd_ops_discard(gcd_gcreq *req);

/**
 * Encodes a frame-level failure (code and message in the Response itself,
 * no results) for a frame the transport refused before decoding, e.g. an
 * oversize one. close_after is set. 0 or GC_ENOMEM.
 */
int gcd_ops_frame_error(gcd_daemon *d, int code, const char *message,
                        gcd_reply *out);

/** The name of an operation kind (a counter index), e.g. "alloc"; "unknown". */
const char *gcd_ops_name(int kind);

/**
 * For the tests and the fuzzer: unpacks frame as a Request both with the
 * handlers' own reader of the common operations and with protobuf-c, and
 * compares. *fast says whether the own reader took the frame (it declines
 * what it does not know, which protobuf-c then reads). 0 when the two
 * agree, GC_ECORRUPT (and msg) when not.
 */
int gcd_ops_decode_check(const uint8_t *frame, size_t len, bool *fast, char *msg,
                         size_t msglen);

/**
 * For the tests: packs a Response of seq, quiet and n results (codes[i],
 * values[i], messages[i], which may be NULL) both with the handlers' own
 * writer and with protobuf-c, and compares the bytes. 0 when they are the
 * same, GC_ECORRUPT (and msg) when not, GC_ENOMEM.
 */
int gcd_ops_encode_check(uint64_t seq, bool quiet, size_t n, const int32_t *codes,
                         const uint64_t *values, char *const *messages, char *msg,
                         size_t msglen);

#endif /* GCD_OPS_H */
