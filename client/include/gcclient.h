/*
 * gcclient.h -- the public interface of libgcclient, the client library of gcd.
 *
 * gcd is a daemon that owns a shared-memory object heap. Objects have reference
 * slots (pointers to other objects) and a payload of bytes. The daemon counts
 * references (slot references + client retains + named roots) and frees an
 * object the moment its count reaches zero. A client process connects over a
 * Unix socket, maps the heap, and reads and writes payloads in place.
 *
 * Conventions:
 *   - Every function that can fail returns 0 on success or a negative GC_E*
 *     code (see GC_ERRNO_MAP below); gc_strerror() turns one into text and
 *     gc_last_error() gives the daemon's detailed message for the last failure.
 *   - A gc_handle is an opaque 64-bit value; 0 is the null handle. A handle
 *     carries a generation, so a stale handle (its object freed, the slot
 *     reused) is answered with GC_ESTALE, never with another object.
 *   - Thread safety: a gc_client is NOT thread-safe. Use one connection per
 *     thread, or serialise calls on a connection with your own lock. Payload
 *     pointers from gc_data() may be used from any thread of the process while
 *     the object stays retained. Different gc_client objects are independent.
 *   - After fork(), a child must not use its parent's gc_client; it connects
 *     anew (the parent's retains stay the parent's).
 */
#ifndef GCCLIENT_H
#define GCCLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Symbols the shared library exports; everything else stays hidden. */
#if defined(__GNUC__)
#define GC_EXTERN __attribute__((visibility("default")))
#else
#define GC_EXTERN
#endif

#define GC_VERSION_MAJOR 0
#define GC_VERSION_MINOR 1
#define GC_VERSION_PATCH 0

/*
 * Error codes. The numbers are stable: the daemon sends them on the wire and
 * they never change meaning. XX(name, value, text).
 */
#define GC_ERRNO_MAP(XX)                                                       \
  XX(EINVAL, -1, "invalid argument")                                           \
  XX(ENOMEM, -2, "heap full")                                                  \
  XX(EBADHANDLE, -3, "unknown handle")                                         \
  XX(ESTALE, -4, "stale handle: the object was freed")                         \
  XX(ERANGE, -5, "slot out of range")                                          \
  XX(ENOTHELD, -6, "handle not held by this client")                           \
  XX(ENOENT, -7, "no such name")                                               \
  XX(EEXIST, -8, "name already published")                                     \
  XX(ETOOBIG, -9, "size too large")                                            \
  XX(EFRAME, -10, "malformed frame")                                           \
  XX(EFRAMESIZE, -11, "frame too large")                                       \
  XX(EPROTO, -12, "protocol error")                                            \
  XX(EVERSION, -13, "protocol version mismatch")                               \
  XX(EPERM, -14, "not permitted")                                              \
  XX(ECONNECT, -15, "cannot connect to the daemon")                            \
  XX(ECLOSED, -16, "connection closed")                                        \
  XX(EIO, -17, "input/output error")                                           \
  XX(ENOSYS, -18, "operation not supported")                                   \
  XX(ENAME, -19, "invalid name")                                               \
  XX(ECORRUPT, -20, "heap verification failed")                                \
  XX(EBUSY, -21, "resource busy")                                              \
  XX(ENOCLIENT, -22, "out of client memory")

/** Error codes: 0 is success; every error is negative. */
typedef enum {
  GC_OK = 0,
#define GC__ERR_ENUM(name, value, text) GC_##name = (value),
  GC_ERRNO_MAP(GC__ERR_ENUM)
#undef GC__ERR_ENUM
} gc_errno_t;

/** An object reference. 0 is null. Opaque: compare for equality only. */
typedef uint64_t gc_handle;

/** A connection to the daemon; opaque. */
typedef struct gc_client gc_client;

/** What gc_info() reports about the heap. */
typedef struct {
  uint64_t objects;     /**< live objects */
  uint64_t bytes_used;  /**< payload bytes handed out (rounded to size classes) */
  uint64_t bytes_total; /**< payload capacity of the heap */
  uint64_t clients;     /**< connected clients, this one included */
} gc_heap_info;

/** The longest name gc_publish() accepts, in bytes, excluding the NUL. */
#define GC_NAME_MAX 255

/** The most reference slots one object may have. */
#define GC_SLOTS_MAX (1u << 24)

/**
 * Text for an error code, e.g. "stale handle: the object was freed".
 * Never NULL; unknown codes give "unknown error".
 */
GC_EXTERN const char *gc_strerror(int err);

/** The symbolic name of an error code, e.g. "GC_ESTALE"; never NULL. */
GC_EXTERN const char *gc_err_name(int err);

/**
 * The detailed message of the last failed call on this connection, as the
 * daemon or the library worded it (e.g. "handle 0x... is stale: object 12 was
 * freed"). Empty string when the last call succeeded. Valid until the next
 * call on c. c may be NULL: then the message of the last failed gc_connect()
 * of the calling thread.
 */
GC_EXTERN const char *gc_last_error(const gc_client *c);

/**
 * The socket path gc_connect(NULL, ...) uses: $GCD_SOCKET when set and
 * non-empty, else "$XDG_RUNTIME_DIR/gcd/gcd.sock" when XDG_RUNTIME_DIR is set,
 * else "/tmp/gcd-UID/gcd.sock". Writes at most len bytes including the NUL.
 * Returns 0, or GC_EINVAL when buf is too small.
 */
GC_EXTERN int gc_default_socket(char *buf, size_t len);

/**
 * Connects to the daemon at socket_path (NULL: gc_default_socket()), says
 * hello under client_name (NULL or "" is allowed; shown to administrators),
 * and maps the shared heap. On success *out is a new connection.
 * Errors: GC_ECONNECT (no daemon there), GC_EVERSION (daemon speaks another
 * protocol), GC_EPERM (the daemon refused this user), GC_EIO, GC_ENOCLIENT.
 */
GC_EXTERN int gc_connect(const char *socket_path, const char *client_name, gc_client **out);

/**
 * Closes the connection and unmaps the heap. The daemon releases every retain
 * this client still held. Payload pointers obtained from c become invalid.
 * c may be NULL.
 */
GC_EXTERN void gc_close(gc_client *c);

/**
 * Allocates an object with nslots reference slots (all null) and nbytes of
 * zeroed payload, tagged with the caller's type. The caller holds one retain.
 * nslots and nbytes may each be 0, but not both.
 * Errors: GC_EINVAL (both zero), GC_ETOOBIG (more than the heap could ever
 * hold, or nslots > GC_SLOTS_MAX), GC_ENOMEM (the heap is full now).
 */
GC_EXTERN int gc_alloc(gc_client *c, uint32_t nslots, uint64_t nbytes, uint32_t type,
             gc_handle *out);

/**
 * Adds one retain on h for this client. Retains nest: each needs a release.
 * Errors: GC_EBADHANDLE, GC_ESTALE.
 */
GC_EXTERN int gc_retain(gc_client *c, gc_handle h);

/**
 * Drops one of this client's retains on h. When the object's count reaches
 * zero it is freed at once, and what it referenced is released in turn.
 * Errors: GC_EBADHANDLE, GC_ESTALE, GC_ENOTHELD (this client holds no retain).
 */
GC_EXTERN int gc_release(gc_client *c, gc_handle h);

/**
 * Stores target in slot of obj (target 0 clears the slot). The target gains a
 * reference; the object previously in the slot loses one. The caller need not
 * hold obj or target, but both must be live.
 * Errors: GC_EBADHANDLE, GC_ESTALE (obj or target), GC_ERANGE (slot >= nslots).
 */
GC_EXTERN int gc_set_ref(gc_client *c, gc_handle obj, uint32_t slot, gc_handle target);

/**
 * Reads slot of obj from the shared mapping, without a round trip.
 * The result is only meaningful while something keeps obj alive.
 * Errors: GC_EBADHANDLE, GC_ESTALE, GC_ERANGE.
 */
GC_EXTERN int gc_get_ref(gc_client *c, gc_handle obj, uint32_t slot, gc_handle *out);

/**
 * The payload of h, in place: writes by one process are seen by every other
 * process that maps the heap, with no copy. *nbytes (if nbytes is not NULL)
 * receives the payload size. Returns NULL for a null, unknown or stale handle
 * or an object without payload. The pointer stays valid while this client (or
 * anything else) keeps the object alive.
 */
GC_EXTERN void *gc_data(gc_client *c, gc_handle h, uint64_t *nbytes);

/**
 * The object's reference count (slot references + retains of every client +
 * named roots), like sys.getrefcount() without its +1. Asks the daemon.
 * Errors: GC_EBADHANDLE, GC_ESTALE.
 */
GC_EXTERN int gc_refcount(gc_client *c, gc_handle h, uint64_t *out);

/**
 * The object's type tag, slot count and payload size, read from the shared
 * mapping without a round trip. Any output pointer may be NULL.
 * Errors: GC_EBADHANDLE, GC_ESTALE.
 */
GC_EXTERN int gc_describe(gc_client *c, gc_handle h, uint32_t *type, uint32_t *nslots,
                uint64_t *nbytes);

/**
 * Publishes h under name: the daemon holds a reference until gc_unpublish().
 * name is 1..GC_NAME_MAX bytes with no NUL.
 * Errors: GC_ENAME, GC_EEXIST, GC_EBADHANDLE, GC_ESTALE.
 */
GC_EXTERN int gc_publish(gc_client *c, const char *name, gc_handle h);

/**
 * Looks a name up; on success the caller holds one retain on *out, taken
 * atomically with the lookup, so a concurrent unpublish cannot free it first.
 * Errors: GC_ENAME, GC_ENOENT.
 */
GC_EXTERN int gc_lookup(gc_client *c, const char *name, gc_handle *out);

/**
 * Removes a name and drops the daemon's reference on its object.
 * Errors: GC_ENAME, GC_ENOENT.
 */
GC_EXTERN int gc_unpublish(gc_client *c, const char *name);

/** Fills *out with the heap's figures. */
GC_EXTERN int gc_info(gc_client *c, gc_heap_info *out);

/**
 * A batch: many operations in one frame, one round trip, one result each.
 * Build it with gc_batch_*(), send it with gc_batch_run(), then read each
 * operation's result with gc_batch_result(). Operations run in order; a
 * failing operation does not stop the ones after it. A batch belongs to one
 * connection and is reusable after gc_batch_reset().
 */
typedef struct gc_batch gc_batch;

/** A new empty batch on c; free it with gc_batch_free(). */
GC_EXTERN int gc_batch_new(gc_client *c, gc_batch **out);

/** Frees a batch; b may be NULL. */
GC_EXTERN void gc_batch_free(gc_batch *b);

/** Empties b so it can be filled again. */
GC_EXTERN void gc_batch_reset(gc_batch *b);

/** Number of operations queued in b. */
GC_EXTERN size_t gc_batch_size(const gc_batch *b);

/** Queues gc_alloc(); its result value is the new handle. */
GC_EXTERN int gc_batch_alloc(gc_batch *b, uint32_t nslots, uint64_t nbytes, uint32_t type);

/** Queues gc_retain(). */
GC_EXTERN int gc_batch_retain(gc_batch *b, gc_handle h);

/** Queues gc_release(). */
GC_EXTERN int gc_batch_release(gc_batch *b, gc_handle h);

/** Queues gc_set_ref(). */
GC_EXTERN int gc_batch_set_ref(gc_batch *b, gc_handle obj, uint32_t slot, gc_handle target);

/**
 * Sends b and waits for every result. Returns 0 when the exchange worked
 * (individual operations may still have failed: see gc_batch_result()), or a
 * connection-level error.
 */
GC_EXTERN int gc_batch_run(gc_batch *b);

/**
 * The result of operation i (0-based, in queueing order) of the last run:
 * returns its code (0 or GC_E*) and stores its value (the handle of an alloc)
 * in *value when value is not NULL. GC_EINVAL if i is out of range.
 */
GC_EXTERN int gc_batch_result(const gc_batch *b, size_t i, uint64_t *value);

/**
 * Asks the daemon to verify its heap: every object's count is recounted from
 * slots, retains and names; every allocator block is checked. Returns 0 when
 * the heap is consistent, GC_ECORRUPT (with the first inconsistency in
 * gc_last_error()) when not, GC_EPERM for a client that is not an
 * administrator. Costs a full heap scan: meant for tests and diagnosis.
 */
GC_EXTERN int gc_verify(gc_client *c);

#ifdef __cplusplus
}
#endif
#endif /* GCCLIENT_H */
