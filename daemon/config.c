/*
 * config.c -- the option table, its parsers, the command line (getopt_long)
 * and the config file (libinih). See config.h.
 *
 * Order of loading: defaults, then every flag (an error there is a usage
 * error, 64), then the file, whose keys a flag already set are checked but
 * not applied (an error there is EX_CONFIG, 78), then $GCD_LOG_LEVEL unless
 * a flag set the level, then the default socket path if none was given.
 *
 * Must not touch: libuv, sockets, the heap. Threading: main thread.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <ini.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "frame.h"
#include "gcclient.h"
#include "gcd_paths.h"

#define KIB UINT64_C(1024)
#define DEFAULT_HEAP_SIZE (KIB * KIB * KIB)          /* 1 GiB */
#define MIN_HEAP_SIZE (64 * KIB)
#define MAX_HEAP_SIZE (KIB * KIB * KIB * KIB * 16)   /* 16 TiB of address space */
#define DEFAULT_MAX_FRAME (4 * KIB * KIB)
#define MIN_MAX_FRAME KIB
#define MAX_OBJECTS_LIMIT (UINT64_C(1) << 31)
#define DEFAULT_SPIN_US 50
#define MAX_SPIN_US 1000
#define WRITE_LIMIT (8 * KIB * KIB)                  /* backpressure threshold */

/* What one load knows besides the configuration itself. */
typedef struct loader {
  gcd_config *cfg;
  FILE *out, *err;
  const char *default_file; /* the file read without --config */
  const char *config_path;  /* --config; NULL: the default file */
  bool check;               /* --check-config */
  bool answered;            /* --help or --version was answered */
  unsigned flagged;         /* bit per option: set by a flag, the file yields */
  /* while reading the file */
  FILE *fp;
  const char *file;
  unsigned line;
  bool line_start;
  bool failed;              /* a message was printed; stop */
  gcd_config scratch;       /* where file values that a flag overrides go */
} loader;

/* Where a value came from, for messages: a flag, or a line of a file. */
typedef struct source {
  loader *L;
  const char *file;         /* NULL: the command line */
  unsigned line;
  const char *name;         /* "--heap-size" or "heap-size" */
} source;

typedef int (*parse_fn)(gcd_config *cfg, const char *value, const source *src);
typedef void (*print_fn)(const gcd_config *cfg, char *buf, size_t len);

typedef struct option_def {
  const char *name;         /* long flag, and file key when in_file */
  char short_name;          /* 0: none */
  bool takes_value;
  bool in_file;
  parse_fn parse;
  print_fn print;           /* for --check-config; NULL when not in_file */
  const char *sets;         /* the option whose precedence this shares */
} option_def;

/* ------------------------------------------------------------- messages */

/* "gcd: [FILE:LINE: ]message", and the --help hint for the command line.
 * Returns the exit code the error means. */
static int bad(const source *src, const char *fmt, ...) {
  FILE *err = src->L->err;
  va_list ap;

  fprintf(err, "gcd: ");
  if (src->file != NULL)
    fprintf(err, "%s:%u: ", src->file, src->line);
  va_start(ap, fmt);
  vfprintf(err, fmt, ap);
  va_end(ap);
  fprintf(err, src->file != NULL ? "\n" : "\nTry 'gcd --help'.\n");
  return src->file != NULL ? EX_CONFIG : EX_USAGE;
}

static void usage(FILE *to, const char *default_file) {
  char path[GCD_SOCKET_PATH_MAX];

  if (gcd_default_socket_path(path, sizeof path) != 0)
    snprintf(path, sizeof path, "(too long)");
  fprintf(to,
          "Usage: gcd [OPTION]...\n"
          "Serve a shared-memory object heap with reference counting to local clients.\n"
          "\n"
          "  -s, --socket PATH        listen on PATH (default: %s;\n"
          "                           from $GCD_SOCKET, else $XDG_RUNTIME_DIR/gcd/gcd.sock,\n"
          "                           else /tmp/gcd-UID/gcd.sock)\n"
          "      --heap-size SIZE     payload capacity (default 1G); suffixes K M G T are\n"
          "                           powers of 1024; at least 64K, at most 16T\n"
          "      --max-objects N      object table size (default 0: heap-size / 64)\n"
          "      --max-frame SIZE     largest request frame accepted (default 4M, 1K..1G)\n"
          "      --spin-us US         after a request, poll for the next one for up to US\n"
          "                           microseconds before sleeping (default 50, 0..1000;\n"
          "                           0 sleeps at once)\n"
          "      --socket-group GROUP make the socket 0660 and owned by GROUP (default:\n"
          "                           0600, this user only)\n"
          "      --admin-group GROUP  members of GROUP may also use the administrative\n"
          "                           operations (default: this user and root only)\n"
          "      --metrics-listen HOST:PORT\n"
          "                           serve Prometheus /metrics there (default %s;\n"
          "                           an empty value disables it)\n"
          "      --log-level LEVEL    error, warn, info (default) or debug\n"
          "      --config PATH        read options from PATH (default %s; a missing\n"
          "                           default file is fine); flags win over the file\n"
          "      --check-config       check flags and file, print the effective\n"
          "                           configuration, and exit\n"
          "      --print-socket       print the socket path these options select, and exit\n"
          "  -v, --verbose            log debug lines (or GCD_LOG_LEVEL=error|warn|info|debug)\n"
          "  -h, --help               show this help and exit\n"
          "  -V, --version            show the version and exit\n"
          "\n"
          "Every option taking a value is also a key of the config file: heap-size = 4G.\n"
          "\n"
          "Exit status: 0 clean stop (SIGINT/SIGTERM), 64 usage error, 78 bad config\n"
          "file, 1 runtime failure.\n",
          path, GCD_METRICS_DEFAULT, default_file);
}

/* -------------------------------------------------------------- parsers */

/* "1G", "512M", "4096", "64KiB": a positive count of bytes, suffixes in
 * powers of 1024. -1 for anything else, overflow included. */
static int parse_size(const char *text, uint64_t *out) {
  static const char units[] = "KMGT";
  uint64_t v = 0, mul = 1;
  const char *p = text, *u;

  if (*p < '0' || *p > '9')
    return -1;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (v > (UINT64_MAX - 9) / 10)
      return -1;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  if (*p != '\0' && (u = strchr(units, *p & ~0x20)) != NULL) {
    for (long k = u - units; k >= 0; k--)
      mul *= KIB;
    p++;
    if (p[0] == 'i' && p[1] == 'B')
      p += 2;
    else if (p[0] == 'B')
      p++;
  }
  if (*p != '\0' || v == 0 || v > UINT64_MAX / mul)
    return -1;
  *out = v * mul;
  return 0;
}

static int parse_bounded(const char *arg, const source *src, uint64_t lo, uint64_t hi,
                         uint64_t *out) {
  if (parse_size(arg, out) != 0 || *out < lo || *out > hi)
    return bad(src, "%s '%s' is not a size between %" PRIu64 " and %" PRIu64
               " bytes (suffixes K, M, G, T)", src->name, arg, lo, hi);
  return 0;
}

static int set_heap_size(gcd_config *cfg, const char *arg, const source *src) {
  return parse_bounded(arg, src, MIN_HEAP_SIZE, MAX_HEAP_SIZE, &cfg->heap_size);
}

static int set_max_frame(gcd_config *cfg, const char *arg, const source *src) {
  uint64_t v;
  int rc = parse_bounded(arg, src, MIN_MAX_FRAME, GCD_FRAME_MAX_LIMIT, &v);

  if (rc == 0)
    cfg->max_frame = (uint32_t)v;
  return rc;
}

/* A count, not a size: plain digits, 0 allowed, at most hi; what says in
 * what unit ("a count", "a number of microseconds"). */
static int parse_count(const char *arg, const source *src, uint64_t hi, const char *what,
                       uint64_t *out) {
  char *end;

  errno = 0;
  *out = strtoull(arg, &end, 10);
  if (arg[0] < '0' || arg[0] > '9' || *end != '\0' || errno != 0 || *out > hi)
    return bad(src, "%s '%s' is not %s from 0 to %" PRIu64, src->name, arg, what, hi);
  return 0;
}

static int set_max_objects(gcd_config *cfg, const char *arg, const source *src) {
  return parse_count(arg, src, MAX_OBJECTS_LIMIT, "a count", &cfg->max_objects);
}

static int set_spin_us(gcd_config *cfg, const char *arg, const source *src) {
  uint64_t v;
  int rc = parse_count(arg, src, MAX_SPIN_US, "a number of microseconds", &v);

  if (rc == 0)
    cfg->spin_us = (uint32_t)v;
  return rc;
}

/* A group name, or a number; empty for none. */
static int parse_group(const char *arg, const source *src, gid_t *gid, bool *set) {
  struct group *g;
  char *end;
  unsigned long n;

  if (arg[0] == '\0') {
    *set = false;
    return 0;
  }
  if ((g = getgrnam(arg)) != NULL) {
    *gid = g->gr_gid;
  } else {
    errno = 0;
    n = strtoul(arg, &end, 10);
    if (arg[0] < '0' || arg[0] > '9' || *end != '\0' || errno != 0 ||
        n >= (unsigned long)(gid_t)-1)
      return bad(src, "%s: no group '%s'", src->name, arg);
    *gid = (gid_t)n;
  }
  *set = true;
  return 0;
}

static int set_socket_group(gcd_config *cfg, const char *arg, const source *src) {
  return parse_group(arg, src, &cfg->socket_gid, &cfg->group_set);
}

static int set_admin_group(gcd_config *cfg, const char *arg, const source *src) {
  return parse_group(arg, src, &cfg->admin_gid, &cfg->admin_group_set);
}

/* HOST:PORT with a numeric port, or "" to disable. The address itself is
 * resolved by the server when it listens. */
static int set_metrics(gcd_config *cfg, const char *arg, const source *src) {
  const char *colon = strrchr(arg, ':');
  char *end;
  unsigned long port;

  if (arg[0] == '\0') {
    cfg->metrics_listen[0] = '\0';
    return 0;
  }
  if (colon == NULL || colon == arg || strlen(arg) >= sizeof cfg->metrics_listen)
    return bad(src, "%s '%s' is not HOST:PORT", src->name, arg);
  errno = 0;
  port = strtoul(colon + 1, &end, 10);
  if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || errno != 0 || port > 65535)
    return bad(src, "%s '%s': the port is not a number from 0 to 65535", src->name, arg);
  memcpy(cfg->metrics_listen, arg, strlen(arg) + 1);
  return 0;
}

static int set_socket(gcd_config *cfg, const char *arg, const source *src) {
  size_t len = strlen(arg);

  if (len == 0 || len >= sizeof cfg->socket_path)
    return bad(src, "%s '%s': a socket path is 1 to 107 bytes", src->name, arg);
  memcpy(cfg->socket_path, arg, len + 1);
  return 0;
}

static int set_log_level(gcd_config *cfg, const char *arg, const source *src) {
  if (gcd_log_parse_level(arg, &cfg->log_level) != 0)
    return bad(src, "%s '%s' is not error, warn, info or debug", src->name, arg);
  return 0;
}

static int set_verbose(gcd_config *cfg, const char *arg, const source *src) {
  cfg->log_level = GCD_LOG_DEBUG;
  return 0;
}

static int set_print_socket(gcd_config *cfg, const char *arg, const source *src) {
  cfg->print_socket = true;
  return 0;
}

static int set_config_path(gcd_config *cfg, const char *arg, const source *src) {
  if (arg[0] == '\0')
    return bad(src, "%s: the path is empty", src->name);
  src->L->config_path = arg;
  return 0;
}

static int set_check(gcd_config *cfg, const char *arg, const source *src) {
  src->L->check = true;
  return 0;
}

static int answer_help(gcd_config *cfg, const char *arg, const source *src) {
  usage(src->L->out, src->L->default_file);
  src->L->answered = true;
  return 0;
}

static int answer_version(gcd_config *cfg, const char *arg, const source *src) {
  fprintf(src->L->out, "gcd %s\n", GCD_VERSION);
  src->L->answered = true;
  return 0;
}

/* ------------------------------------------------------------- printers */

/* Exact sizes keep their largest suffix: 1073741824 is "1G". */
static void print_size(uint64_t v, char *buf, size_t len) {
  static const char units[] = "KMGT";
  int u = -1;

  while (u < 3 && v != 0 && v % KIB == 0) {
    v /= KIB;
    u++;
  }
  if (u < 0)
    snprintf(buf, len, "%" PRIu64, v);
  else
    snprintf(buf, len, "%" PRIu64 "%c", v, units[u]);
}

static void print_group(bool set, gid_t gid, char *buf, size_t len) {
  struct group *g = set ? getgrgid(gid) : NULL;

  if (!set)
    buf[0] = '\0';
  else if (g != NULL)
    snprintf(buf, len, "%s", g->gr_name);
  else
    snprintf(buf, len, "%u", (unsigned)gid);
}

static void show_socket(const gcd_config *cfg, char *buf, size_t len) {
  snprintf(buf, len, "%s", cfg->socket_path);
}

static void show_heap_size(const gcd_config *cfg, char *buf, size_t len) {
  print_size(cfg->heap_size, buf, len);
}

static void show_max_objects(const gcd_config *cfg, char *buf, size_t len) {
  snprintf(buf, len, "%" PRIu64, cfg->max_objects);
}

static void show_max_frame(const gcd_config *cfg, char *buf, size_t len) {
  print_size(cfg->max_frame, buf, len);
}

static void show_spin_us(const gcd_config *cfg, char *buf, size_t len) {
  snprintf(buf, len, "%" PRIu32, cfg->spin_us);
}

static void show_socket_group(const gcd_config *cfg, char *buf, size_t len) {
  print_group(cfg->group_set, cfg->socket_gid, buf, len);
}

static void show_admin_group(const gcd_config *cfg, char *buf, size_t len) {
  print_group(cfg->admin_group_set, cfg->admin_gid, buf, len);
}

static void show_metrics(const gcd_config *cfg, char *buf, size_t len) {
  snprintf(buf, len, "%s", cfg->metrics_listen);
}

static void show_log_level(const gcd_config *cfg, char *buf, size_t len) {
  static const char *const names[] = {"error", "warn", "info", "debug"};

  snprintf(buf, len, "%s", names[cfg->log_level]);
}

/* ---------------------------------------------------------------- table */

/* Every option of gcd. A file key is the long name; a flag given on the
 * command line makes the file's value for the same option yield. */
static const option_def options[] = {
    {"socket", 's', true, true, set_socket, show_socket, NULL},
    {"heap-size", 0, true, true, set_heap_size, show_heap_size, NULL},
    {"max-objects", 0, true, true, set_max_objects, show_max_objects, NULL},
    {"max-frame", 0, true, true, set_max_frame, show_max_frame, NULL},
    {"spin-us", 0, true, true, set_spin_us, show_spin_us, NULL},
    {"socket-group", 0, true, true, set_socket_group, show_socket_group, NULL},
    {"admin-group", 0, true, true, set_admin_group, show_admin_group, NULL},
    {"metrics-listen", 0, true, true, set_metrics, show_metrics, NULL},
    {"log-level", 0, true, true, set_log_level, show_log_level, NULL},
    {"verbose", 'v', false, false, set_verbose, NULL, "log-level"},
    {"config", 0, true, false, set_config_path, NULL, NULL},
    {"check-config", 0, false, false, set_check, NULL, NULL},
    {"print-socket", 0, false, false, set_print_socket, NULL, NULL},
    {"help", 'h', false, false, answer_help, NULL, NULL},
    {"version", 'V', false, false, answer_version, NULL, NULL},
};
#define NOPTIONS (sizeof options / sizeof options[0])
#define LONG_BASE 256 /* getopt_long's value for options[i] is LONG_BASE + i */

_Static_assert(NOPTIONS <= sizeof(unsigned) * 8, "loader.flagged has a bit per option");

static const option_def *find_option(const char *name) {
  for (size_t i = 0; i < NOPTIONS; i++)
    if (strcmp(options[i].name, name) == 0)
      return &options[i];
  return NULL;
}

/* The bit of the option whose precedence def shares. */
static unsigned slot_bit(const option_def *def) {
  const option_def *owner = def->sets != NULL ? find_option(def->sets) : def;

  return 1u << (owner - options);
}

void gcd_config_defaults(gcd_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->heap_size = DEFAULT_HEAP_SIZE;
  cfg->max_frame = DEFAULT_MAX_FRAME;
  cfg->spin_us = DEFAULT_SPIN_US;
  cfg->write_limit = WRITE_LIMIT;
  cfg->log_level = GCD_LOG_INFO;
  memcpy(cfg->metrics_listen, GCD_METRICS_DEFAULT, sizeof GCD_METRICS_DEFAULT);
}

void gcd_config_print(const gcd_config *cfg, FILE *out) {
  char buf[GCD_SOCKET_PATH_MAX + GCD_LISTEN_MAX];

  for (size_t i = 0; i < NOPTIONS; i++) {
    if (!options[i].in_file)
      continue;
    options[i].print(cfg, buf, sizeof buf);
    fprintf(out, buf[0] == '\0' ? "%s =\n" : "%s = %s\n", options[i].name, buf);
  }
}

/* --------------------------------------------------------- command line */

/* Builds getopt_long's tables from the option table. */
static void getopt_tables(struct option *longs, char *shorts) {
  size_t i, n = 0;

  for (i = 0; i < NOPTIONS; i++) {
    longs[i] = (struct option){options[i].name,
                               options[i].takes_value ? required_argument : no_argument,
                               NULL, (int)(LONG_BASE + i)};
    if (options[i].short_name != 0) {
      shorts[n++] = options[i].short_name;
      if (options[i].takes_value)
        shorts[n++] = ':';
    }
  }
  longs[i] = (struct option){NULL, 0, NULL, 0};
  shorts[n] = '\0';
}

static const option_def *option_of(int opt) {
  if (opt >= LONG_BASE && opt < LONG_BASE + (int)NOPTIONS)
    return &options[opt - LONG_BASE];
  for (size_t i = 0; i < NOPTIONS; i++)
    if (options[i].short_name != 0 && options[i].short_name == opt)
      return &options[i];
  return NULL;
}

/* Applies the flags in order; stops at --help/--version. 0 or the exit code. */
static int load_flags(loader *L, int argc, char **argv) {
  struct option longs[NOPTIONS + 1];
  char shorts[2 * NOPTIONS + 1], name[64];
  const option_def *def;
  int opt, rc;

  getopt_tables(longs, shorts);
  optind = 0; /* GNU: start over, so that a second load works */
  while ((opt = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
    if ((def = option_of(opt)) == NULL) {
      fprintf(L->err, "Try 'gcd --help'.\n");
      return EX_USAGE;
    }
    snprintf(name, sizeof name, "--%s", def->name);
    if ((rc = def->parse(L->cfg, optarg, &(source){L, NULL, 0, name})) != 0)
      return rc;
    L->flagged |= slot_bit(def);
    if (L->answered)
      return 0;
  }
  if (optind < argc)
    return bad(&(source){L, NULL, 0, ""}, "unexpected argument '%s'", argv[optind]);
  return 0;
}

/* ----------------------------------------------------------------- file */

/* inih's reader: fgets that counts lines and refuses lines too long for
 * inih's buffer (it would cut them into pieces). */
static char *read_line(char *buf, int size, void *stream) {
  loader *L = stream;
  char *r;

  if (L->failed)
    return NULL;
  if (L->line_start)
    L->line++;
  if ((r = fgets(buf, size, L->fp)) == NULL)
    return NULL;
  L->line_start = strchr(buf, '\n') != NULL;
  if (!L->line_start && !feof(L->fp)) {
    bad(&(source){L, L->file, L->line, ""}, "line longer than %d bytes", size - 2);
    L->failed = true;
    return NULL;
  }
  return r;
}

static int on_key(void *user, const char *section, const char *key, const char *value) {
  loader *L = user;
  source src = {L, L->file, L->line, key};
  const option_def *def = find_option(key);
  int rc;

  if (L->failed)
    return 1;
  if (section[0] != '\0' && strcmp(section, "gcd") != 0)
    rc = bad(&src, "unknown section [%s]: keys go at the top or under [gcd]", section);
  else if (def == NULL)
    rc = bad(&src, "unknown key '%s' (see gcd.conf(5) for the keys)", key);
  else if (!def->in_file)
    rc = bad(&src, "'%s' is a command-line flag, not a key of the file", key);
  else
    rc = def->parse((L->flagged & slot_bit(def)) ? &L->scratch : L->cfg, value, &src);
  L->failed = rc != 0;
  return rc == 0;
}

/* Reads the file: --config's (must exist) or the default (may be missing). */
static int load_file(loader *L) {
  const char *path = L->config_path != NULL ? L->config_path : L->default_file;
  int rc;

  if ((L->fp = fopen(path, "re")) == NULL) {
    if (L->config_path == NULL && errno == ENOENT)
      return 0;
    fprintf(L->err, "gcd: cannot read %s: %s\n", path, strerror(errno));
    return EX_CONFIG;
  }
  L->file = path;
  L->line_start = true;
  L->scratch = *L->cfg;
  rc = ini_parse_stream(read_line, L, on_key, L);
  if (rc == 0 && !L->failed && ferror(L->fp))
    rc = bad(&(source){L, path, L->line, ""}, "read error");
  else if (rc > 0 && !L->failed)
    bad(&(source){L, path, (unsigned)rc, ""},
        "not 'key = value', a comment or a [gcd] section");
  else if (rc < 0)
    fprintf(L->err, "gcd: %s: out of memory\n", path);
  fclose(L->fp);
  return rc != 0 || L->failed ? EX_CONFIG : 0;
}

/* ------------------------------------------------------------------ load */

static int load_env(loader *L) {
  const char *env = getenv("GCD_LOG_LEVEL");

  if (env == NULL || env[0] == '\0' || (L->flagged & slot_bit(find_option("log-level"))))
    return 0;
  return set_log_level(L->cfg, env, &(source){L, NULL, 0, "GCD_LOG_LEVEL"});
}

int gcd_config_load(gcd_config *cfg, int argc, char **argv, const char *default_file,
                    FILE *out, FILE *err) {
  loader L = {.cfg = cfg, .out = out, .err = err,
              .default_file = default_file != NULL ? default_file : GCD_CONFIG_DEFAULT};
  int rc;

  gcd_config_defaults(cfg);
  if ((rc = load_flags(&L, argc, argv)) != 0)
    return rc;
  if (L.answered)
    return 0;
  if ((rc = load_file(&L)) != 0 || (rc = load_env(&L)) != 0)
    return rc;
  if (cfg->socket_path[0] == '\0' &&
      gcd_default_socket_path(cfg->socket_path, sizeof cfg->socket_path) != 0)
    return bad(&(source){&L, NULL, 0, ""},
               "the default socket path is too long; use --socket");
  if (L.check)
    gcd_config_print(cfg, out);
  else if (cfg->print_socket)
    fprintf(out, "%s\n", cfg->socket_path);
  return L.check || cfg->print_socket ? 0 : GCD_CONFIG_RUN;
}
