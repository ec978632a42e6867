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
  XX(ENOCLIENT, -22, "out of client memory")                                  \
  XX(ETIMEDOUT, -23, "timed out waiting for the daemon")

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
 * $GCD_TIMEOUT_MS, when set to a number of milliseconds, is the new
 * connection's GC_OPT_TIMEOUT_MS; the hello waits at most that long, or
 * GC_HELLO_TIMEOUT_MS when it is 0 or unset (a daemon that accepts but never
 * answers must not hang its clients' start). $GCD_SPIN_US, likewise, is its
 * GC_OPT_SPIN_US (the hello itself never spins).
 * Errors: GC_ECONNECT (no daemon there), GC_EVERSION (daemon speaks another
 * protocol), GC_EPERM (the daemon refused this user), GC_ETIMEDOUT (no
 * answer to the hello), GC_EINVAL ($GCD_TIMEOUT_MS or $GCD_SPIN_US out of
 * range or not a number), GC_EIO, GC_ENOCLIENT.
 */
GC_EXTERN int gc_connect(const char *socket_path, const char *client_name, gc_client **out);

/** The hello's bound when no timeout is set: 30 s. */
#define GC_HELLO_TIMEOUT_MS 30000u

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
 * With GC_OPT_ONEWAY_RELEASE on, it does not wait: it returns 0 once the
 * release is gathered for sending, and a failure is reported later (see
 * "Pipelining" below).
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

/* ------------------------------------------------------------------------
 * Pipelining: requests in flight without waiting.
 *
 * Every call above is one synchronous round trip. The *_async calls below
 * gather their operation for sending and return at once, with up to the
 * connection's pipeline depth of answered operations in flight
 * (GC_OPT_PIPELINE_DEPTH, default GC_PIPELINE_DEFAULT): when the window is
 * full, the call first reads answers. The daemon runs a connection's
 * operations in the order sent, so an async call takes effect before every
 * later call, async or not, on the same connection.
 *
 * Results. An async call's own return value only says whether its operation
 * was gathered: 0, or an error of the connection or the arguments (nothing
 * sent).
 * The operation's result arrives later and is stored when its answer is
 * read -- at the latest by gc_sync() or by the next synchronous call:
 *   - rc not NULL: *rc receives the operation's code (0 or GC_E*), and for
 *     gc_alloc_async() *out the new handle. Both pointers must stay valid
 *     until then. If the connection dies first, *rc receives its error.
 *   - rc NULL ("one-way"): the retain, release or set_ref is quiet: the
 *     daemon answers it only if it fails, and it takes no room in the
 *     window; gc_inflight() counts it until a later answer confirms it.
 *     A failure is kept as the connection's deferred error: the first one
 *     only (later ones are dropped, the first matters for diagnosis). It
 *     is read behind the answer to a later call and reported exactly once:
 *     by gc_sync(), which waits for it, or by the next synchronous call
 *     that starts after it was read, which then returns the code WITHOUT
 *     doing its own operation. (The call whose answer it arrived with did
 *     its operation and returns that result.) gc_last_error() then reads
 *     "one-way request N failed: release: <the daemon's message>". The
 *     deferred error is cleared by being reported; a retry then runs. An
 *     unwatched gc_alloc_async() (out given, rc NULL) is answered, and a
 *     failure of it is deferred the same way.
 *
 * Sending. Async operations are gathered in the library: consecutive ones
 * of one kind (answered, or one-way) share a request frame, as a batch's
 * operations do -- each still has its own result, and a failing one does
 * not stop those after it. The frames leave together, in one send: when
 * the window is full (the call then also reads answers until half the
 * window is free), when 64 KiB of one-way ones are gathered, at gc_flush()
 * or gc_sync(), or with the next synchronous call's frame.
 * Until then the daemon has not seen them: call gc_flush() when other
 * processes must see an effect without waiting for its answer.
 *
 * Until its answer is read, an async alloc's handle is unknown, and a
 * payload read (gc_data, gc_get_ref, gc_describe) does not wait for
 * operations in flight: call gc_sync() first when it must see their effects.
 * gc_close() sends what is gathered but does not wait for answers: call
 * gc_sync() first to learn the outcomes.
 * ---------------------------------------------------------------------- */

/** Options of gc_set_option(). */
typedef enum {
  /** Most answered async operations in flight, 1..GC_PIPELINE_MAX.
   *  Changing it first waits for those in flight (as gc_sync() does). */
  GC_OPT_PIPELINE_DEPTH = 1,
  /** 1: gc_release() is gc_release_async(c, h, NULL), one-way, its failure
   *  deferred as described above; 0 (the default): synchronous. */
  GC_OPT_ONEWAY_RELEASE = 2,
  /** Milliseconds, 0..GC_TIMEOUT_MAX_MS: the longest a call waits for the
   *  daemon to take what the library sends at once (a frame, or the async
   *  frames gathered for one send), or to send one answer. 0 waits
   *  without limit (the default, unless $GCD_TIMEOUT_MS gave gc_connect()
   *  another). When it runs out the call returns GC_ETIMEDOUT and the
   *  connection is closed -- the answer may still come, so the stream can no
   *  longer be trusted: later calls return GC_ECLOSED, async results not yet
   *  read receive GC_ETIMEDOUT, and the daemon drops the client's retains
   *  as for any client that goes away. */
  GC_OPT_TIMEOUT_MS = 3,
  /** Microseconds, 0..GC_SPIN_MAX_US: how long a call waiting for an
   *  answer first polls the socket, yielding the CPU between polls, before
   *  it sleeps (default GC_SPIN_DEFAULT_US, or $GCD_SPIN_US at
   *  gc_connect(); 0 sleeps at once). Between processes on different CPUs
   *  an answer caught while polling spares the wakeup of a sleeping CPU,
   *  which is most of a round trip (tens of microseconds on a virtual
   *  machine whose host does not poll for its guests) and, because waking a
   *  CPU costs the waker too, more CPU time per call than the polling
   *  itself (the daemon polls likewise for requests: gcd --spin-us). While
   *  polling the caller shows as busy, and a process on the same CPU runs
   *  first. The window adapts: answers slower than the value (a full
   *  collection) halve it, down to 0, so slow calls soon stop costing their
   *  window; answers that a longer window would have caught double it
   *  again, up to the value. */
  GC_OPT_SPIN_US = 4,
} gc_option;

/** The default and the longest GC_OPT_SPIN_US. */
#define GC_SPIN_DEFAULT_US 50u
#define GC_SPIN_MAX_US 1000u

/** The longest GC_OPT_TIMEOUT_MS (about 24 days). */
#define GC_TIMEOUT_MAX_MS 2147483647u

/** The default and largest pipeline depth. */
#define GC_PIPELINE_DEFAULT 64
#define GC_PIPELINE_MAX 1024

/** Sets option to value. Errors: GC_EINVAL (unknown option, bad value). */
GC_EXTERN int gc_set_option(gc_client *c, int option, uint64_t value);

/** gc_alloc() without waiting: *out (the handle) and *rc arrive later. With
 *  rc NULL, *out is still written on success; a failure is deferred. */
GC_EXTERN int gc_alloc_async(gc_client *c, uint32_t nslots, uint64_t nbytes, uint32_t type,
                             gc_handle *out, int *rc);

/** gc_retain() without waiting; *rc (may be NULL) arrives later. */
GC_EXTERN int gc_retain_async(gc_client *c, gc_handle h, int *rc);

/** gc_release() without waiting; *rc (may be NULL: one-way) arrives later. */
GC_EXTERN int gc_release_async(gc_client *c, gc_handle h, int *rc);

/** gc_set_ref() without waiting; *rc (may be NULL) arrives later. */
GC_EXTERN int gc_set_ref_async(gc_client *c, gc_handle obj, uint32_t slot, gc_handle target,
                               int *rc);

/**
 * Waits for every async operation in flight and stores their results.
 * Returns 0, the deferred error of a one-way operation (then cleared), or an
 * error of the connection.
 */
GC_EXTERN int gc_sync(gc_client *c);

/** Sends the async operations gathered so far, without waiting for answers.
 *  Returns 0 or an error of the connection. */
GC_EXTERN int gc_flush(gc_client *c);

/** Async operations not yet answered, sent or gathered, one-way ones
 *  included until a later answer confirms them (0 for NULL). */
GC_EXTERN size_t gc_inflight(const gc_client *c);

/**
 * Asks the daemon to verify its heap: every object's count is recounted from
 * slots, retains and names; every allocator block is checked. Returns 0 when
 * the heap is consistent, GC_ECORRUPT (with the first inconsistency in
 * gc_last_error()) when not, GC_EPERM for a client that is not an
 * administrator. Costs a full heap scan: meant for tests and diagnosis.
 */
GC_EXTERN int gc_verify(gc_client *c);

/* ------------------------------------------------------------------------
 * The cycle collector: Python's gc module for the shared heap.
 *
 * Functions marked "admin" are answered only for a client running as the
 * daemon's user, as root, or in the daemon's --admin-group; others get
 * GC_EPERM. Collections run on the daemon's collector thread: a call that
 * waits for one (gc_collect, gc_clear_garbage, gc_freeze, gc_unfreeze,
 * gc_get_referrers) blocks this connection, never the daemon's other clients.
 * ---------------------------------------------------------------------- */

/** gc.DEBUG_SAVEALL: unreachable objects are kept on the garbage list. */
#define GC_DEBUG_SAVEALL 0x20

/** The largest threshold gc_set_threshold() takes (CPython's int). */
#define GC_THRESHOLD_MAX 0x7fffffffu

/** Generation numbers gc_object_info() reports besides 0, 1 and 2. */
#define GC_GEN_PERMANENT 3   /**< frozen by gc_freeze() */
#define GC_GEN_GARBAGE 4     /**< kept on the garbage list (save-all) */
#define GC_GEN_UNTRACKED (-1) /**< an object without slots */

/** What one collection did. */
typedef struct {
  int generation;        /**< the oldest generation collected */
  uint64_t examined;     /**< objects scanned */
  uint64_t unreachable;  /**< found unreachable (gc.collect()'s value) */
  uint64_t freed;        /**< objects freed, cascades included */
  uint64_t survivors;    /**< promoted to the next generation */
  uint64_t duration_ns;  /**< wall time on the collector thread */
} gc_collect_info;

/** One generation of gc_get_stats(). */
typedef struct {
  uint64_t collections;   /**< collections of this generation */
  uint64_t collected;     /**< unreachable objects found */
  uint64_t uncollectable; /**< found but kept (save-all) */
  uint64_t tracked;       /**< objects in this generation now */
  uint64_t threshold;     /**< gc.get_threshold()[g] */
  int64_t count;          /**< gc.get_count()[g] */
} gc_gen_stats;

/** The collector's state and figures (gc_get_stats()). */
typedef struct {
  gc_gen_stats gen[3];
  int enabled;                 /**< automatic collection on */
  unsigned debug;              /**< GC_DEBUG_* flags */
  uint64_t frozen;             /**< gc.get_freeze_count() */
  uint64_t garbage;            /**< len(gc.garbage) */
  gc_collect_info last;        /**< the last collection (zeros before one) */
  uint64_t last_end_unix_ns;   /**< when it ended, 0 before one */
  uint64_t collections_total;
  uint64_t loop_stall_max_ns;  /**< longest wait of the daemon's loop on a collection */
  int collecting;              /**< a collection is running now */
} gc_stats;

/** What gc_object_info() reports. */
typedef struct {
  uint64_t refcount;
  uint32_t type;
  uint32_t nslots;
  uint64_t nbytes;
  int tracked;     /**< 1 when the collector considers it (it has slots) */
  int generation;  /**< 0..2, GC_GEN_PERMANENT, GC_GEN_GARBAGE or GC_GEN_UNTRACKED */
} gc_object_info;

/** One connection, as gc_clients() lists it. */
typedef struct {
  uint64_t id;
  uint32_t pid, uid, gid;
  char name[256];
  uint64_t held;      /**< retains held */
  uint64_t requests, ops, errors;
  int admin;          /**< may use the admin operations */
} gc_client_info;

/** The daemon itself, as gc_daemon_info() reports it. */
typedef struct {
  uint32_t pid;
  char version[32];
  uint64_t start_time_unix;  /**< seconds since the epoch */
  char socket_path[108];
  uint64_t max_objects;      /**< objects the heap can hold */
  uint64_t allocs, frees;    /**< objects allocated and freed since start */
  uint64_t cycle_frees;      /**< of frees: found unreachable by the collector */
  uint64_t slots_used, slots_total;
  uint64_t requests, sessions_total;
} gc_daemon_info;

/**
 * gc.collect(generation), admin: collects generations 0..generation now
 * (-1 or 2: a full collection), whether automatic collection is on or off,
 * and stores the number of unreachable objects found in *found (may be NULL).
 * Waits for a collection already running to end first.
 * Errors: GC_EINVAL (generation not -1..2), GC_EPERM.
 */
GC_EXTERN int gc_collect(gc_client *c, int generation, uint64_t *found);

/** As gc_collect(), with every figure of the collection in *out. */
GC_EXTERN int gc_collect_info_get(gc_client *c, int generation, gc_collect_info *out);

/** gc.enable(), admin: automatic collection on. */
GC_EXTERN int gc_enable(gc_client *c);

/** gc.disable(), admin: automatic collection off; gc_collect() still works. */
GC_EXTERN int gc_disable(gc_client *c);

/** gc.isenabled(): *enabled is 1 or 0. */
GC_EXTERN int gc_isenabled(gc_client *c, int *enabled);

/** gc.get_threshold(): the three thresholds. */
GC_EXTERN int gc_get_threshold(gc_client *c, uint64_t threshold[3]);

/**
 * gc.set_threshold(t0, t1, t2), admin. t0 == 0 disables automatic
 * collection, as in CPython; t1 or t2 == 0 collects that generation each
 * time the younger one is collected. Errors: GC_EINVAL (a value over
 * 2^31 - 1), GC_EPERM.
 */
GC_EXTERN int gc_set_threshold(gc_client *c, uint64_t t0, uint64_t t1, uint64_t t2);

/**
 * gc.get_count(): per generation, as in CPython: generation 0 counts tracked
 * allocations minus frees since its last collection, generation g > 0 the
 * collections of generation g - 1 since generation g's last one.
 */
GC_EXTERN int gc_get_count(gc_client *c, int64_t count[3]);

/** gc.get_stats() and more: see gc_stats. */
GC_EXTERN int gc_get_stats(gc_client *c, gc_stats *out);

/** gc.set_debug(flags), admin: GC_DEBUG_SAVEALL or 0. Errors: GC_EINVAL for
 *  other bits, GC_EPERM. */
GC_EXTERN int gc_set_debug(gc_client *c, unsigned flags);

/** gc.get_debug(). */
GC_EXTERN int gc_get_debug(gc_client *c, unsigned *flags);

/**
 * gc.garbage, admin: stores at most cap handles of the garbage list in out
 * (oldest first), their number in *n and the list's length in *total (either
 * may be NULL). The handles are listed, not retained: clear the list with
 * gc_clear_garbage(). Errors: GC_EPERM.
 */
GC_EXTERN int gc_garbage(gc_client *c, gc_handle *out, size_t cap, size_t *n,
                         uint64_t *total);

/**
 * del gc.garbage[:] then gc.collect(), admin: drops the list's references and
 * runs a full collection, which frees what nothing else reaches (save-all
 * off) or lists it again (save-all on). *released (may be NULL) is the
 * number of objects the list held.
 */
GC_EXTERN int gc_clear_garbage(gc_client *c, uint64_t *released);

/** gc.freeze(), admin: every tracked object moves to the permanent
 *  generation, which no collection scans. *moved may be NULL. */
GC_EXTERN int gc_freeze(gc_client *c, uint64_t *moved);

/** gc.unfreeze(), admin: the permanent generation rejoins generation 2. */
GC_EXTERN int gc_unfreeze(gc_client *c, uint64_t *moved);

/** gc.get_freeze_count(). */
GC_EXTERN int gc_get_freeze_count(gc_client *c, uint64_t *count);

/** Count, type, sizes and collector state of h. Errors: GC_EBADHANDLE,
 *  GC_ESTALE. */
GC_EXTERN int gc_object_info_get(gc_client *c, gc_handle h, gc_object_info *out);

/** gc.is_tracked(h): *tracked 1 or 0; *generation (may be NULL) as in
 *  gc_object_info. */
GC_EXTERN int gc_is_tracked(gc_client *c, gc_handle h, int *tracked, int *generation);

/**
 * gc.get_referents(h): the non-null slots of h, in slot order, at most cap of
 * them into out; *n is how many were stored.
 */
GC_EXTERN int gc_get_referents(gc_client *c, gc_handle h, gc_handle *out, size_t cap,
                               size_t *n);

/**
 * gc.get_referrers(h): objects with a slot holding h, at most cap of them;
 * *n is how many were stored. The daemon scans the heap on its collector
 * thread in chunks, so this is slow on a large heap but never stalls it.
 */
GC_EXTERN int gc_get_referrers(gc_client *c, gc_handle h, gc_handle *out, size_t cap,
                               size_t *n);

/** The daemon's connections, at most cap into out; *n is how many. */
GC_EXTERN int gc_clients(gc_client *c, gc_client_info *out, size_t cap, size_t *n);

/** The daemon's identity and totals. */
GC_EXTERN int gc_daemon_info_get(gc_client *c, gc_daemon_info *out);

#ifdef __cplusplus
}
#endif
#endif /* GCCLIENT_H */
