/*
 * config.h -- gcd's options, from the command line and from a config file.
 *
 * One table in config.c describes every option: its long flag name, whether
 * it takes a value, whether it may appear in the file, and its parser. The
 * file's keys are exactly the long flag names (socket, heap-size, ...), one
 * `key = value` per line, `#` or `;` comments, no sections but an optional
 * [gcd]. Precedence: flag > file > default, whatever the order of the flags;
 * for the log level: flag (--log-level, -v) > $GCD_LOG_LEVEL > file.
 *
 * Owns: the meaning and the checks of every option, the messages about them.
 * Must not touch: libuv, the heap, sockets. Threading: main thread, before
 * anything else starts.
 */
#ifndef GCD_CONFIG_H
#define GCD_CONFIG_H

#include <stdio.h>

#include "session.h"

#ifndef GCD_CONFIG_DEFAULT
#define GCD_CONFIG_DEFAULT "/etc/gcd/gcd.conf" /* a missing default file is fine */
#endif

/** gcd_config_load() returns this when the daemon is to run. */
#define GCD_CONFIG_RUN (-1)

/** Sets every option to its built-in default (socket path left empty). */
void gcd_config_defaults(gcd_config *cfg);

/**
 * Builds cfg from argv (argv[0] ignored), the config file (--config PATH,
 * else default_file -- GCD_CONFIG_DEFAULT when NULL -- which may be missing) and $GCD_LOG_LEVEL / $GCD_SOCKET.
 * Answers --help, --version, --print-socket and --check-config on out.
 * Messages go to err, each naming the flag ("gcd: --heap-size '12X' ...") or
 * the file and line ("gcd: FILE:3: heap-size '12X' ...").
 *
 * Returns GCD_CONFIG_RUN, or the exit code: 0 when answered, EX_USAGE (64)
 * for a bad flag or environment variable, EX_CONFIG (78) for a bad or
 * unreadable file. Resets getopt, so it may be called more than once.
 */
int gcd_config_load(gcd_config *cfg, int argc, char **argv, const char *default_file,
                    FILE *out, FILE *err);

/** Writes the effective configuration, one `key = value` per file key, in a
 * form the file parser reads back. */
void gcd_config_print(const gcd_config *cfg, FILE *out);

#endif /* GCD_CONFIG_H */
