/*
 * harness_http.c -- HTTP for the integration tests: a blocking client with
 * bounded waits, the metrics port of a daemon started on port 0, and sample
 * look-ups in an exposition. See harness.h.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

/* Socket inodes among pid's open files. */
static size_t socket_inodes(pid_t pid, unsigned long *out, size_t max) {
  char path[64], link[64];
  struct dirent *e;
  size_t n = 0;
  DIR *dir;

  snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
  if ((dir = opendir(path)) == NULL)
    return 0;
  while ((e = readdir(dir)) != NULL && n < max) {
    char fd[320];
    ssize_t len;

    snprintf(fd, sizeof fd, "%s/%s", path, e->d_name);
    if ((len = readlink(fd, link, sizeof link - 1)) <= 0)
      continue;
    link[len] = '\0';
    if (sscanf(link, "socket:[%lu]", &out[n]) == 1)
      n++;
  }
  closedir(dir);
  return n;
}

/* A listening socket (state 0A) of /proc/PID/net/tcp{,6} among inodes. */
static int listening_port(pid_t pid, const char *table, const unsigned long *inodes,
                          size_t n) {
  char path[64], line[512];
  unsigned port, state;
  unsigned long inode;
  FILE *f;

  snprintf(path, sizeof path, "/proc/%d/net/%s", (int)pid, table);
  if ((f = fopen(path, "r")) == NULL)
    return -1;
  while (fgets(line, sizeof line, f) != NULL) {
    if (sscanf(line, " %*s %*[^:]:%x %*s %x %*s %*s %*s %*u %*u %lu", &port, &state,
               &inode) != 3 || state != 0x0A)
      continue;
    for (size_t i = 0; i < n; i++)
      if (inodes[i] == inode) {
        fclose(f);
        return (int)port;
      }
  }
  fclose(f);
  return -1;
}

int h_metrics_port(const h_daemon *d) {
  unsigned long inodes[64];
  size_t n = socket_inodes(d->pid, inodes, 64);
  int port = listening_port(d->pid, "tcp", inodes, n);

  return port >= 0 ? port : listening_port(d->pid, "tcp6", inodes, n);
}

static int connect_local(int port) {
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
    fail_msg("connect to 127.0.0.1:%d: %s", port, strerror(errno));
  return fd;
}

char *h_http(int port, const char *request, size_t len, int timeout_ms) {
  int64_t deadline = h_now_ms() + timeout_ms;
  int fd = connect_local(port);
  size_t have = 0, cap = 65536;
  char *buf = malloc(cap);

  assert_non_null(buf);
  /* The server may answer (and stop reading) before it has all of a long
   * request: a failed send is not an error, the answer is what counts. */
  for (size_t sent = 0; sent < len;) {
    ssize_t w = send(fd, request + sent, len - sent, MSG_NOSIGNAL);

    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      break;
    sent += (size_t)w;
  }
  for (;;) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int64_t left = deadline - h_now_ms();
    ssize_t r;

    if (left <= 0 || poll(&pfd, 1, (int)left) == 0)
      fail_msg("no complete answer from 127.0.0.1:%d within %d ms", port, timeout_ms);
    if (have + 1 >= cap)
      assert_non_null(buf = realloc(buf, cap *= 2));
    r = recv(fd, buf + have, cap - have - 1, 0);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break; /* EOF (or a reset after the answer) */
    have += (size_t)r;
  }
  close(fd);
  buf[have] = '\0';
  return buf;
}

char *h_http_get(int port, const char *path) {
  char req[1024];
  int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                   "Connection: close\r\n\r\n", path, port);

  return h_http(port, req, (size_t)n, 10000);
}

const char *h_http_body(const char *response) {
  const char *p = strstr(response, "\r\n\r\n");

  if (p == NULL)
    fail_msg("no end of head in the response:\n%s", response);
  return p + 4;
}

double h_metric(const char *body, const char *series) {
  size_t n = strlen(series);

  for (const char *p = body; *p != '\0';) {
    if (strncmp(p, series, n) == 0 && p[n] == ' ')
      return strtod(p + n + 1, NULL);
    if ((p = strchr(p, '\n')) == NULL)
      break;
    p++;
  }
  fail_msg("no sample %s in the metrics", series);
  return 0;
}
