/*
 * session.h -- one connected client (struct gcd_session) and the daemon's
 * shared context (struct gcd_daemon): heap, names, sessions, configuration,
 * counters. Plain C: the transport (libuv) lives in server.c and embeds a
 * session; the wire (protobuf) lives in ops.c and works on one.
 *
 * Owns: the session list and each session's holds. Must not touch: sockets,
 * libuv, protobuf. Threading: loop thread only.
 */
#ifndef GCD_SESSION_H
#define GCD_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "heap.h"
#include "holds.h"
#include "collector.h"
#include "gcthread.h"
#include "log.h"
#include "names.h"

#define GCD_PROTOCOL_VERSION 2u
#define GCD_CLIENT_NAME_MAX 255   /* longer hello names are cut */
#define GCD_SOCKET_PATH_MAX 108   /* sizeof sun_path on Linux */
#define GCD_OP_KINDS 64           /* counted per oneof number; 0 = unknown/empty */
#define GCD_ERR_KINDS 32
#define GCD_LISTEN_MAX 64         /* --metrics-listen HOST:PORT */
#define GCD_METRICS_DEFAULT "127.0.0.1:9478"          /* counted per -code; 0 = success */

typedef struct gcd_config {
  char socket_path[GCD_SOCKET_PATH_MAX];
  uint64_t heap_size;    /* payload bytes (--heap-size) */
  uint64_t max_objects;  /* 0: derived by the heap */
  uint32_t max_frame;    /* largest request frame payload (--max-frame) */
  uint32_t spin_us;      /* the loop's longest poll for a request (--spin-us) */
  bool group_set;        /* --socket-group given */
  bool print_socket;     /* --print-socket: resolve the path, print it, exit */
  gid_t socket_gid;
  bool admin_group_set;  /* --admin-group given */
  gid_t admin_gid;       /* members may use administrative operations */
  char metrics_listen[GCD_LISTEN_MAX]; /* HOST:PORT for /metrics; "" disables */
  uint64_t write_limit;  /* pending reply bytes before reading pauses */
  gcd_log_level log_level; /* --log-level, -v, $GCD_LOG_LEVEL, log-level key */
} gcd_config;

typedef struct gcd_session {
  uint64_t id;
  pid_t pid;             /* SO_PEERCRED at accept */
  uid_t uid;
  gid_t gid;
  char name[GCD_CLIENT_NAME_MAX + 1]; /* from hello; "" before */
  bool hello_done;
  bool admin_group;      /* peer is in --admin-group (SO_PEERGROUPS at accept) */
  gcd_holds holds;       /* this client's retains */
  void *pending;         /* ops.c: a request frame waiting on the collector
                            thread; no other frame runs until it is answered */
  void *spare;           /* ops.c: the last frame's memory (about 9 KiB),
                            for the next; freed by gcd_ops_abandon() */
  bool quiet_failed;     /* ops.c: a quiet request's failure was answered and
                            no ordinary answer has followed it yet */
  uint64_t requests, ops, errors;
  struct gcd_session *prev, *next; /* gcd_daemon.sessions */
} gcd_session;

typedef struct gcd_daemon {
  gcd_config cfg;
  gcd_heap heap;
  gcd_gc gc;             /* the cycle collector of heap */
  gcd_gcthread gct;      /* its thread and the heap lock */
  gcd_names names;
  gcd_session *sessions; /* every open session */
  size_t nsessions;
  uint64_t next_session_id;
  uid_t euid;            /* administrators: this uid and root */
  pid_t pid;
  time_t start_time;
  uint64_t sessions_total, requests, frame_errors;
  uint64_t loop_spin_ns;             /* server.c: time polling for requests */
  uint64_t op_count[GCD_OP_KINDS];   /* by oneof field number */
  uint64_t err_count[GCD_ERR_KINDS]; /* by -code, over all ops and frames */
} gcd_daemon;

/** Fills the daemon's identity and zeroes its counters and session list. */
void gcd_session_daemon_init(gcd_daemon *d);

/** Starts a session for a peer and links it into d. */
void gcd_session_open(gcd_daemon *d, gcd_session *s, pid_t pid, uid_t uid,
                      gid_t gid);

/**
 * Ends a session: abandons its frames (gcd_ops_abandon()), drops every
 * retain it still holds (objects only it kept alive are freed, with what
 * they alone reached) and unlinks it from d.
 * The caller frees the memory. Returns the number of retains dropped.
 */
uint64_t gcd_session_close(gcd_daemon *d, gcd_session *s);

/** 1 when s may use administrative operations: its uid is ours or root, or
 *  it is a member of --admin-group (recorded at accept). */
int gcd_session_is_admin(const gcd_daemon *d, const gcd_session *s);

/**
 * The whole-heap check: recounts every reference (slots, every session's
 * retains, every name, the garbage list's) against the counts, checks the allocators and the
 * collector's lists. Heap lock held and no collection active (the collector
 * thread runs it between collections). 0, or GC_ECORRUPT/GC_ENOMEM with the
 * first problem in msg.
 */
int gcd_daemon_verify(gcd_daemon *d, char *msg, size_t len);

/** Counts one outcome (0 or GC_E*) in the daemon's error counters. */
void gcd_session_count_error(gcd_daemon *d, int code);

#endif /* GCD_SESSION_H */
