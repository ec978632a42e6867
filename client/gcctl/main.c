/*
 * main.c -- gcctl, the administrator's command for gcd: global options, the
 * table of subcommands, each subcommand's options, and the mapping of
 * library errors to sysexits(3) codes.
 *
 * Owns: argument parsing and the connection's life. Must not touch: output
 * formats (cmds.c, out.c).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcctl.h"

/* Options a subcommand accepts besides --json and --help. */
enum { OPT_GEN = 1, OPT_LIMIT = 2, OPT_CLEAR = 4, OPT_REFS = 8 };

typedef struct command {
  const char *name;
  const char *args;   /* after the name, for the usage line */
  const char *help;   /* what it does */
  unsigned opts;
  int minpos, maxpos;
  int (*run)(ctl *c);
} command;

static const command commands[] = {
    {"ping", "", "Check that the daemon answers; show its pid and version.", 0, 0, 0,
     cmd_ping},
    {"info", "", "The daemon's version, pid, uptime, socket and heap size.", 0, 0, 0,
     cmd_info},
    {"stats", "[INTERVAL [COUNT]]",
     "Heap and collector figures: counts, thresholds, collections per generation.\n"
     "With INTERVAL (seconds, fractions allowed), one row every INTERVAL, COUNT\n"
     "rows (default: until interrupted).", 0, 0, 2, cmd_stats},
    {"collect", "[-g N]",
     "Run a collection of generations 0..N now (default 2, a full one; -1 is 2)\n"
     "and show what it found and freed.", OPT_GEN, 0, 0, cmd_collect},
    {"enable", "", "Turn automatic collection on.", 0, 0, 0, cmd_enable},
    {"disable", "", "Turn automatic collection off (collect still works).", 0, 0, 0,
     cmd_disable},
    {"isenabled", "", "Exit 0 when automatic collection is on, 1 when off.", 0, 0, 0,
     cmd_isenabled},
    {"threshold", "[T0 [T1 [T2]]]",
     "Show the thresholds, or set them (missing ones keep their value).\n"
     "T0 = 0 turns automatic collection off.", 0, 0, 3, cmd_threshold},
    {"debug", "[saveall on|off]",
     "Show the debug flags, or turn save-all on or off (unreachable objects\n"
     "are then kept on the garbage list).", 0, 0, 2, cmd_debug},
    {"garbage", "[--limit N] [--clear]",
     "List the garbage list's handles (at most N, default 1000), or with\n"
     "--clear drop the list and run a full collection.", OPT_LIMIT | OPT_CLEAR, 0, 0,
     cmd_garbage},
    {"freeze", "", "Move every tracked object to the permanent generation.", 0, 0, 0,
     cmd_freeze},
    {"unfreeze", "", "Move the permanent generation back to generation 2.", 0, 0, 0,
     cmd_unfreeze},
    {"freeze-count", "", "The number of frozen objects.", 0, 0, 0, cmd_freeze_count},
    {"object", "HANDLE [--referents | --referrers]",
     "An object's reference count, type, sizes and generation; with\n"
     "--referents the objects its slots hold, with --referrers the objects\n"
     "whose slots hold it. HANDLE is 0x-prefixed hex or decimal.", OPT_REFS, 1, 1,
     cmd_object},
    {"clients", "", "The daemon's connections: id, pid, uid, name, retains, requests.",
     0, 0, 0, cmd_clients},
    {"verify", "", "Run the daemon's heap verifier.", 0, 0, 0, cmd_verify},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* --------------------------------------------------------------- errors */

static int exit_code(int err) {
  switch (err) {
  case 0:
    return 0;
  case GC_ECONNECT:
    return EXIT_UNAVAILABLE;
  case GC_EPROTO:
  case GC_EVERSION:
  case GC_EFRAME:
  case GC_EFRAMESIZE:
  case GC_ECLOSED:
    return EXIT_PROTOCOL;
  case GC_EPERM:
    return EXIT_NOPERM;
  case GC_ETIMEDOUT:
    return EXIT_TEMPFAIL;
  default:
    return EXIT_REFUSED;
  }
}

int ctl_fail(ctl *c, const char *what, int err) {
  const char *detail = gc_last_error(c->c);

  fprintf(stderr, "gcctl: %s: %s\n", what, detail[0] ? detail : gc_strerror(err));
  return exit_code(err);
}

int ctl_usage(const char *cmd, const char *fmt, ...) {
  va_list ap;

  fputs("gcctl: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nTry 'gcctl %s%s--help'.\n", cmd ? cmd : "", cmd ? " " : "");
  return EXIT_USAGE;
}

int ctl_connect(ctl *c) {
  int err;

  if (c->c != NULL)
    return 0;
  if ((err = gc_connect(c->socket, "gcctl", &c->c)) != 0) {
    fprintf(stderr, "gcctl: %s\n", gc_last_error(NULL));
    return exit_code(err);
  }
  return 0;
}

/* ----------------------------------------------------------------- help */

static void usage_all(FILE *f) {
  fputs("Usage: gcctl [-s SOCKET] [-t SECS] COMMAND [ARGS] [--json]\n"
        "Administer gcd, the shared-memory object heap daemon.\n\n"
        "Options:\n"
        "  -s, --socket PATH  the daemon's socket (default: $GCD_SOCKET, then\n"
        "                     $XDG_RUNTIME_DIR/gcd/gcd.sock or /tmp/gcd-UID/gcd.sock)\n"
        "  -t, --timeout SECS wait at most SECS (decimals allowed) for each answer,\n"
        "                     connecting included (default: $GCD_TIMEOUT_MS, else\n"
        "                     no limit once connected)\n"
        "      --json         machine-readable output: one JSON object (per row)\n"
        "  -h, --help         this help; COMMAND --help for a command's\n"
        "      --version      gcctl's version\n\nCommands:\n", f);
  for (size_t i = 0; i < NCOMMANDS; i++)
    fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].args);
  fputs("\nExit status: 0 ok, 1 refused (or isenabled: off), 64 usage, 69 daemon\n"
        "unreachable, 75 timed out, 76 protocol error, 77 not permitted.\n", f);
}

static int usage_one(const command *cmd) {
  printf("Usage: gcctl [-s SOCKET] [-t SECS] %s%s%s [--json]\n\n%s\n", cmd->name,
         cmd->args[0] ? " " : "", cmd->args, cmd->help);
  return 0;
}

/* ------------------------------------------------------------- parsing */

static const command *find_command(const char *name) {
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (strcmp(commands[i].name, name) == 0)
      return &commands[i];
  return NULL;
}

/* A subcommand option with a value: "-g N", "--limit N" or "--limit=N". */
static const char *opt_value(int argc, char **argv, int *i, const char *name) {
  size_t len = strlen(name);

  if (strncmp(argv[*i], name, len) == 0 && argv[*i][len] == '=')
    return argv[*i] + len + 1;
  return *i + 1 < argc ? argv[++*i] : NULL;
}

static int parse_generation(const command *cmd, ctl *c, const char *v) {
  if (v == NULL || strcmp(v, "-1") == 0) {
    c->generation = -1;
    return v == NULL ? ctl_usage(cmd->name, "-g needs a generation") : 0;
  }
  uint64_t g;
  if (parse_u64(v, 2, &g) != 0)
    return ctl_usage(cmd->name, "generation '%s': use 0, 1, 2 or -1", v);
  c->generation = (int)g;
  return 0;
}

static int parse_limit(const command *cmd, ctl *c, const char *v) {
  if (v == NULL || parse_u64(v, UINT32_MAX, &c->limit) != 0 || c->limit == 0)
    return ctl_usage(cmd->name, "--limit needs a positive number");
  return 0;
}

/* Options of cmd; 0, -1 for --help shown, or an exit code. */
static int parse_opt(const command *cmd, ctl *c, int argc, char **argv, int *i) {
  const char *a = argv[*i];

  if (strcmp(a, "--json") == 0)
    c->json = 1;
  else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
    return usage_one(cmd) - 1;
  else if ((cmd->opts & OPT_GEN) && (strcmp(a, "-g") == 0 || strncmp(a, "--generation", 12) == 0))
    return parse_generation(cmd, c, opt_value(argc, argv, i, "--generation"));
  else if ((cmd->opts & OPT_LIMIT) && strncmp(a, "--limit", 7) == 0)
    return parse_limit(cmd, c, opt_value(argc, argv, i, "--limit"));
  else if ((cmd->opts & OPT_CLEAR) && strcmp(a, "--clear") == 0)
    c->clear = 1;
  else if ((cmd->opts & OPT_REFS) && strcmp(a, "--referents") == 0)
    c->referents = 1;
  else if ((cmd->opts & OPT_REFS) && strcmp(a, "--referrers") == 0)
    c->referrers = 1;
  else
    return ctl_usage(cmd->name, "unknown option '%s'", a);
  return 0;
}

/* "-1" is a value (collect -g -1), never an option; other words starting
 * with '-' are options. */
static int is_option(const char *a) {
  return a[0] == '-' && a[1] != '\0' && !(a[1] >= '0' && a[1] <= '9');
}

static int parse_command(const command *cmd, ctl *c, int argc, char **argv) {
  int err;

  c->generation = 2;
  for (int i = 0; i < argc; i++) {
    if (is_option(argv[i])) {
      if ((err = parse_opt(cmd, c, argc, argv, &i)) != 0)
        return err;
    } else if (c->npos == cmd->maxpos) {
      return ctl_usage(cmd->name, "unexpected argument '%s'", argv[i]);
    } else {
      c->pos[c->npos++] = argv[i];
    }
  }
  if (c->npos < cmd->minpos)
    return ctl_usage(cmd->name, "%s needs %s", cmd->name, cmd->args);
  if (c->referents && c->referrers)
    return ctl_usage(cmd->name, "--referents and --referrers exclude each other");
  return 0;
}

/* --timeout SECS: handed to the library as $GCD_TIMEOUT_MS, which bounds
 * the hello as well as every later answer. 0 means no limit. */
static int set_timeout(const char *arg) {
  char *end, ms[32];
  double secs;

  errno = 0;
  secs = strtod(arg, &end);
  if (errno != 0 || end == arg || *end != '\0' || !(secs >= 0) ||
      secs * 1000 > GC_TIMEOUT_MAX_MS)
    return -1;
  snprintf(ms, sizeof ms, "%.0f", secs > 0 && secs * 1000 < 1 ? 1.0 : secs * 1000);
  return setenv("GCD_TIMEOUT_MS", ms, 1);
}

/* Global options up to the command's name; the index of the name, or a
 * negative exit code. */
static int parse_global(ctl *c, int argc, char **argv) {
  int i = 1;

  for (; i < argc && argv[i][0] == '-'; i++) {
    const char *a = argv[i];

    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage_all(stdout);
      return -1000;
    } else if (strcmp(a, "--version") == 0) {
      printf("gcctl %d.%d.%d\n", GC_VERSION_MAJOR, GC_VERSION_MINOR, GC_VERSION_PATCH);
      return -1000;
    } else if (strcmp(a, "--json") == 0) {
      c->json = 1;
    } else if (strcmp(a, "-s") == 0 || strcmp(a, "--socket") == 0) {
      if (++i == argc)
        return -ctl_usage(NULL, "%s needs a path", a);
      c->socket = argv[i];
    } else if (strncmp(a, "--socket=", 9) == 0) {
      c->socket = a + 9;
    } else if (strcmp(a, "-t") == 0 || strcmp(a, "--timeout") == 0) {
      if (++i == argc)
        return -ctl_usage(NULL, "%s needs a number of seconds", a);
      if (set_timeout(argv[i]) != 0)
        return -ctl_usage(NULL, "%s '%s': not a number of seconds", a, argv[i]);
    } else if (strncmp(a, "--timeout=", 10) == 0) {
      if (set_timeout(a + 10) != 0)
        return -ctl_usage(NULL, "--timeout '%s': not a number of seconds", a + 10);
    } else {
      return -ctl_usage(NULL, "unknown option '%s'", a);
    }
  }
  return i < argc ? i : -ctl_usage(NULL, "no command given");
}

int main(int argc, char **argv) {
  ctl c = {0};
  const command *cmd;
  int i = parse_global(&c, argc, argv), rc;

  if (i < 0)
    return i == -1000 ? 0 : -i;
  if ((cmd = find_command(argv[i])) == NULL)
    return ctl_usage(NULL, "unknown command '%s'", argv[i]);
  if ((rc = parse_command(cmd, &c, argc - i - 1, argv + i + 1)) != 0)
    return rc < 0 ? 0 : rc;
  if (c.socket == NULL && getenv("GCD_SOCKET") != NULL && getenv("GCD_SOCKET")[0])
    c.socket = getenv("GCD_SOCKET");
  rc = ctl_connect(&c);
  if (rc == 0)
    rc = cmd->run(&c);
  gc_close(c.c);
  return rc;
}
