/*
 * internal.h -- what the files of libgcclient share with each other; never
 * installed. Names here take the gc__ prefix.
 *
 * Who owns what:
 *   errno.c   error texts and names, the last-error buffers
 *   shm.c     fds received with SCM_RIGHTS, mmap/munmap, the header check
 *   view.c    reads of the shared mapping (gc_data, gc_get_ref, gc_describe)
 *   wire.c    framing and protobuf: with gcapi.c, the only files with
 *             protobuf types (wire.h)
 *   client.c  connect/close and the one-operation calls
 *   batch.c   the batch API
 *   gcapi.c   the collector calls (one op each, answers read from the
 *             Result's sub-messages)
 *   pipeline.c  the asynchronous calls and gc_sync() (the window of ops in
 *               flight)
 */
#ifndef GCCLIENT_INTERNAL_H
#define GCCLIENT_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gcclient.h"
#include "gcd_layout.h"

#define GC__ERR_MAX 512

/* The client's read-only view of the meta segment and its read-write view of
 * the data segment, with the geometry copied out of the header once it has
 * been checked (so later bounds checks never trust shared memory). */
typedef struct gc__heap {
  void *meta;                    /* PROT_READ mapping, NULL when unmapped */
  uint64_t meta_size;
  unsigned char *data;           /* PROT_READ|PROT_WRITE mapping */
  uint64_t data_size;
  const gcd_state *states;       /* table_cap entry states, entry 0 unused */
  const gcd_obj *table;          /* table_cap entries, entry 0 unused */
  uint64_t table_cap;
  const _Atomic uint64_t *slots; /* slots_cap slot words */
  uint64_t slots_cap;
} gc__heap;

/* Operation kinds, numbered as the oneof cases of gcd.wire.Op. */
typedef enum gc__op_kind {
  GC__OP_ALLOC = 2,
  GC__OP_RETAIN = 3,
  GC__OP_RELEASE = 4,
  GC__OP_SET_REF = 5,
  GC__OP_GET_REF = 6,
  GC__OP_REFCOUNT = 7,
  GC__OP_PUBLISH = 8,
  GC__OP_LOOKUP = 9,
  GC__OP_UNPUBLISH = 10,
  GC__OP_INFO = 11,
  GC__OP_VERIFY = 12,
} gc__op_kind;

/* One queued operation, free of protobuf types. Which fields count depends
 * on kind: alloc (u32 = nslots, type, u64b = nbytes); handle ops (u64a);
 * set_ref/get_ref (u64a = object, u32 = slot, u64b = target); name ops
 * (name, and u64a = handle for publish). */
typedef struct gc__op {
  uint32_t kind;
  uint32_t u32;
  uint32_t type;
  uint64_t u64a;
  uint64_t u64b;
  const char *name;
} gc__op;

/* An answered async op, gathered or sent, not yet answered: where its
 * answer goes. The ops of one frame are adjacent in the ring. */
typedef struct gc__inflight {
  uint64_t seq;       /* its frame's seq, echoed by the response; set when
                         the frame is queued */
  uint32_t kind;      /* gc__op_kind of the op */
  uint64_t handle;    /* the op's handle, for the deferred error's text */
  gc_handle *out;     /* an alloc's new handle, or NULL */
  int *rc;            /* the op's code, or NULL: a failure becomes deferred */
} gc__inflight;

struct gc_client {
  int fd;                /* the socket; -1 once the connection is dead */
  uint64_t seq;          /* seq of the last request sent */
  uint32_t max_frame;    /* the daemon's frame limit, from the hello */
  uint64_t client_id;
  gc__heap heap;
  unsigned char *buf;    /* frame buffer, reused and grown as needed */
  size_t buf_cap;
  void *enc;             /* wire.c's encoding scratch for enc_cap ops, reused:
                            big batches would otherwise fault in fresh pages
                            on every run */
  size_t enc_cap;
  char err[GC__ERR_MAX]; /* gc_last_error(); "" after a success */
  /* Pipelining (pipeline.c): a ring of the answered ops in flight, oldest
   * at fl_head; the daemon answers frames in order. */
  gc__inflight *fl;
  size_t fl_head, fl_n, fl_cap;
  unsigned depth;        /* most ops in flight (GC_OPT_PIPELINE_DEPTH) */
  int oneway_release;    /* gc_release() is gc_release_async(c, h, NULL) */
  unsigned timeout_ms;   /* GC_OPT_TIMEOUT_MS; 0: wait without limit */
  int64_t spin_max_ns;   /* GC_OPT_SPIN_US in ns; 0: never spin */
  int64_t spin_ns;       /* the spin window now, 0..spin_max_ns (wire.c,
                            gcd_spin_adapt()) */
  uint64_t quiet_n;      /* quiet ops (unwatched retain, release, set_ref:
                            answered only on failure) sent or gathered since
                            the last answer read, which confirms them */
  /* The open frame (wire.c): async ops gathered into one request until it
   * is queued, all quiet or all answered (those with their ring entries,
   * the last g_n). Any frame queued after them closes it first. */
  gc__op *g_ops;
  size_t g_n, g_cap;
  int g_quiet;
  int deferred;          /* first failure of an unwatched async op, or 0 */
  /* Buffered I/O (wire.c): async frames wait in out until the window is
   * full or an answer is needed, then leave in one send; answers are read
   * in as large pieces as the socket has, several frames per recv. */
  unsigned char *out;
  size_t out_len, out_cap;
  unsigned char *in;
  size_t in_off, in_len;
  char deferred_msg[GC__ERR_MAX];
};

/* One operation's answer: 0 or a GC_E* code, and the value (handle/count). */
typedef struct gc__result {
  int code;
  uint64_t value;
} gc__result;

/* errno.c */

/** Formats a message into c->err (and returns code, for tail calls). */
int gc__fail(gc_client *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Stores the message of a failed gc_connect() for gc_last_error(NULL). */
void gc__set_connect_error(const char *msg);

/* shm.c */

/**
 * One recvmsg() of at most len bytes that also collects SCM_RIGHTS fds:
 * the first two in fds[0..1] (count in *nfds, close-on-exec), any beyond
 * closed. Returns bytes read (0 at EOF), or -errno. A truncated control
 * message closes what did arrive and gives -EPROTO.
 */
long gc__shm_recv_fds(int sock, void *buf, size_t len, int fds[2], int *nfds);

/**
 * Maps the meta fd read-only and the data fd read-write, checks that both
 * are as large as the hello said and that the meta header is one this
 * library understands, and fills *heap. Closes both fds either way (the
 * mappings outlive them). 0, or GC_EPROTO/GC_EVERSION/GC_EIO with c->err set.
 */
int gc__shm_map(gc_client *c, int meta_fd, int data_fd, uint64_t meta_size,
                uint64_t data_size);

/** Unmaps whatever gc__shm_map() mapped; safe to call twice. */
void gc__shm_unmap(gc__heap *heap);

/* wire.c */

/** Says hello and maps the heap from the fds that come with the answer. */
int gc__wire_hello(gc_client *c, const char *client_name);

/**
 * Sends ops[0..n) as one request and waits for the response. On return 0,
 * res[i] holds each op's code and value, info (when not NULL) the figures of
 * the last info op, and c->err the message of the first failed op. Any other
 * return is a failure of the exchange itself; for GC_ECLOSED, GC_EIO,
 * GC_EPROTO and frame-level errors the connection is dead afterwards.
 */
int gc__wire_exchange(gc_client *c, const gc__op *ops, size_t n, gc__result *res,
                      gc_heap_info *info);

/**
 * Gathers op into the open frame, to leave with the next send: the ops of
 * one frame share its request, as a batch's do. With out and rc both NULL
 * the op is quiet: its frame is answered only if an op fails, and it is
 * counted in c->quiet_n instead of taking room in the ring. The caller has
 * made room in the ring (gc__wire_complete_one()). 0, or an error of the
 * connection (or GC_ENOCLIENT: the op was not gathered).
 */
int gc__wire_send_async(gc_client *c, const gc__op *op, gc_handle *out, int *rc);

/**
 * Sends what is gathered, reads the answer to the oldest frame in flight
 * and stores each op's result where its call asked; an unwatched failure
 * becomes c->deferred (the first one only). 0, or an error of the
 * connection (then dead).
 */
int gc__wire_complete_one(gc_client *c);

/**
 * Writes at p the protobuf bytes of a Request with seq, ops[0..n) (each an
 * alloc, retain, release, set_ref, get_ref or refcount), and quiet: at
 * most 16 + 40 * n bytes. Returns their number.
 */
size_t gc__wire_encode_ops(unsigned char *p, uint64_t seq, const gc__op *ops, size_t n,
                           int quiet);

/**
 * For the tests: reads the Response frame[0..len) both in place, as the
 * answers to async frames are read, and with protobuf-c, and compares.
 * *fast says whether it was read in place (else it is left to protobuf-c).
 * 0 when the two agree, GC_EPROTO (and msg) when not.
 */
int gc__wire_plain_check(const unsigned char *frame, size_t len, bool *fast, char *msg,
                         size_t msglen);

/** Closes the open frame and sends the frames waiting in c->out. 0, or the
 *  connection's error. */
int gc__wire_flush(gc_client *c);

/** The connection died with err: every op in flight, gathered or sent, is
 * dropped, and err stored in the rc of each answered one that has one. */
void gc__wire_abandon(gc_client *c, int err);

/**
 * Completes every frame in flight and confirms the quiet ones (an empty
 * request's answer follows any failure of theirs), then hands over a
 * deferred failure: its code is returned, its message put in c->err, and it
 * is cleared. 0 when nothing was in flight and nothing had failed.
 */
int gc__wire_settle(gc_client *c);

/** Closes the socket; every later exchange answers GC_ECLOSED. */
void gc__wire_kill(gc_client *c);

/** Frees the frame buffer and the encoding scratch. */
void gc__wire_free(gc_client *c);

/* client.c */

/** c->err cleared, or GC_EINVAL when c is NULL: the start of every call. */
int gc__begin(gc_client *c);

#endif /* GCCLIENT_INTERNAL_H */
