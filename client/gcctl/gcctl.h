/*
 * gcctl.h -- what the files of gcctl share. gcctl is a client of the public
 * library only: it includes gcclient.h and nothing of the daemon's or of the
 * wire format.
 *
 * Who owns what:
 *   main.c   options, the table of subcommands, exit codes
 *   cmds.c   the subcommands themselves
 *   out.c    output: JSON emitter, units, handles
 */
#ifndef GCCTL_H
#define GCCTL_H

#include <stdint.h>
#include <stdio.h>

#include "gcclient.h"

/* Exit codes, from <sysexits.h>. */
#define EXIT_REFUSED 1
#define EXIT_USAGE 64
#define EXIT_UNAVAILABLE 69
#define EXIT_TEMPFAIL 75
#define EXIT_PROTOCOL 76
#define EXIT_NOPERM 77

#define CTL_MAXPOS 4

/* One invocation: the global options, the subcommand's options and
 * positional arguments, and the connection once made. */
typedef struct ctl {
  const char *socket;     /* -s/--socket, else NULL: $GCD_SOCKET or the default */
  int json;
  int generation;         /* collect -g */
  uint64_t limit;         /* garbage --limit */
  int clear;              /* garbage --clear */
  int referents, referrers;
  const char *pos[CTL_MAXPOS];
  int npos;
  gc_client *c;
} ctl;

/* main.c */

/** Connects c->c (named "gcctl") unless connected; 0 or an exit code, with
 *  the reason on stderr. */
int ctl_connect(ctl *c);

/** Reports a failed call as "gcctl: what: detail" and returns its exit code. */
int ctl_fail(ctl *c, const char *what, int err);

/** Reports bad usage of a subcommand and returns EXIT_USAGE. */
int ctl_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* cmds.c: each returns the process's exit code. */
int cmd_ping(ctl *c);
int cmd_info(ctl *c);
int cmd_stats(ctl *c);
int cmd_collect(ctl *c);
int cmd_enable(ctl *c);
int cmd_disable(ctl *c);
int cmd_isenabled(ctl *c);
int cmd_threshold(ctl *c);
int cmd_debug(ctl *c);
int cmd_garbage(ctl *c);
int cmd_freeze(ctl *c);
int cmd_unfreeze(ctl *c);
int cmd_freeze_count(ctl *c);
int cmd_object(ctl *c);
int cmd_clients(ctl *c);
int cmd_verify(ctl *c);

/* out.c: a JSON emitter on stdout. Keys are NULL inside arrays. */
void j_open(const char *key, char bracket);
void j_close(char bracket);     /* '}' ends the line when it closes the top */
void j_u64(const char *key, uint64_t v);
void j_i64(const char *key, int64_t v);
void j_bool(const char *key, int v);
void j_str(const char *key, const char *s);
void j_handle(const char *key, gc_handle h);

/** "12 B", "1.5 KiB", "3.2 MiB", "1.0 GiB". */
const char *fmt_bytes(char *buf, size_t len, uint64_t n);
/** "850 ns", "12.3 µs", "4.56 ms", "1.23 s". */
const char *fmt_ns(char *buf, size_t len, uint64_t ns);
/** "2d 03:04:05" or "03:04:05". */
const char *fmt_uptime(char *buf, size_t len, uint64_t s);
/** "0x%016llx". */
const char *fmt_handle(char *buf, size_t len, gc_handle h);
/** The name of a generation: "0".."2", "permanent", "garbage", "untracked". */
const char *gen_name(int generation);

/** Parses a handle: 0x hex or decimal, the whole string. 0 or -1. */
int parse_handle(const char *s, gc_handle *out);
/** Parses an unsigned decimal number, the whole string, at most max. 0 or -1. */
int parse_u64(const char *s, uint64_t max, uint64_t *out);

#endif /* GCCTL_H */
