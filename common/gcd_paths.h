/*
 * gcd_paths.h -- where the daemon listens when nobody says, shared by the
 * daemon and the client library so that both agree without configuration.
 *
 * Order: $GCD_SOCKET (non-empty), then $XDG_RUNTIME_DIR/gcd/gcd.sock, then
 * /tmp/gcd-UID/gcd.sock. The daemon creates the directory (mode 0700).
 */
#ifndef GCD_PATHS_H
#define GCD_PATHS_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Writes the default socket path into buf. 0, or -1 when it does not fit. */
static inline int gcd_default_socket_path(char *buf, size_t len) {
  const char *env = getenv("GCD_SOCKET");
  const char *xdg = getenv("XDG_RUNTIME_DIR");
  int n;
  if (env != NULL && env[0] != '\0')
    n = snprintf(buf, len, "%s", env);
  else if (xdg != NULL && xdg[0] == '/')
    n = snprintf(buf, len, "%s/gcd/gcd.sock", xdg);
  else
    n = snprintf(buf, len, "/tmp/gcd-%u/gcd.sock", (unsigned)getuid());
  return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

#endif /* GCD_PATHS_H */
