/*
 * notify.c -- sd_notify and sd_listen_fds behind three calls. See notify.h.
 *
 * Owns: the readiness protocol and the check of an inherited socket. Must not
 * touch: libuv, the heap. Threading: loop thread only.
 */
#include "notify.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "gcclient.h"
#include "log.h"

void gcd_notify_ready(const char *status) {
  int rc = sd_notifyf(0, "READY=1\nMAINPID=%ld\nSTATUS=%s", (long)getpid(),
                      status != NULL ? status : "");

  if (rc < 0)
    gcd_log_warn("cannot notify the service manager: %s", strerror(-rc));
  else if (rc > 0)
    gcd_log_debug("told the service manager: ready");
}

void gcd_notify_stopping(void) {
  sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}

/* The socket's own address, for the log and the configuration. */
static void socket_path(int fd, char *path, size_t len) {
  struct sockaddr_un sa;
  socklen_t salen = sizeof sa;
  size_t n;

  path[0] = '\0';
  if (getsockname(fd, (struct sockaddr *)&sa, &salen) != 0 ||
      salen <= offsetof(struct sockaddr_un, sun_path))
    return;
  n = salen - offsetof(struct sockaddr_un, sun_path);
  if (sa.sun_path[0] == '\0')
    snprintf(path, len, "@%.*s", (int)(n - 1), sa.sun_path + 1);
  else
    snprintf(path, len, "%.*s", (int)strnlen(sa.sun_path, n), sa.sun_path);
}

int gcd_notify_listen_fd(int *fd, char *path, size_t len) {
  int n = sd_listen_fds(1);

  *fd = -1;
  if (n == 0)
    return 0;
  if (n < 0) {
    gcd_log_error("cannot take the sockets passed by the service manager: %s",
                  strerror(-n));
    return GC_EINVAL;
  }
  if (n != 1) {
    gcd_log_error("the service manager passed %d sockets; gcd listens on exactly one", n);
    return GC_EINVAL;
  }
  if (sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0) <= 0) {
    gcd_log_error("fd %d passed by the service manager is not a listening Unix "
                  "stream socket", SD_LISTEN_FDS_START);
    return GC_EINVAL;
  }
  fcntl(SD_LISTEN_FDS_START, F_SETFD, FD_CLOEXEC);
  socket_path(SD_LISTEN_FDS_START, path, len);
  *fd = SD_LISTEN_FDS_START;
  return 0;
}
