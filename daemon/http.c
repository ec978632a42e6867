/*
 * http.c -- request head parsing, routing and response heads for the
 * metrics endpoint; see http.h. Strict where it costs nothing (a request
 * line is METHOD SP TARGET SP HTTP/1.x), lenient where clients differ (a
 * bare LF ends a line as CRLF does).
 */
#include "http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RFC 9110 tchar: the characters of a method or a header name. */
static bool is_tchar(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
         (ch >= '0' && ch <= '9') || (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch));
}

/* The end of the line starting at p (the LF), or NULL if not received yet. */
static const char *line_end(const char *p, const char *end) {
  return memchr(p, '\n', (size_t)(end - p));
}

/* The line's content ends before its CR, if any. */
static const char *content_end(const char *p, const char *lf) {
  return lf > p && lf[-1] == '\r' ? lf - 1 : lf;
}

static int parse_request_line(const char *buf, const char *p, const char *e,
                              gcd_http_request *req) {
  const char *m = p, *t, *q;

  while (p < e && is_tchar(*p))
    p++;
  if (p == m || p == e || *p != ' ')
    return GCD_HTTP_BAD;
  if ((size_t)(p - m) == 3 && memcmp(m, "GET", 3) == 0)
    req->method = GCD_HTTP_GET;
  else if ((size_t)(p - m) == 4 && memcmp(m, "HEAD", 4) == 0)
    req->method = GCD_HTTP_HEAD;
  else
    req->method = GCD_HTTP_OTHER;
  t = ++p;
  while (p < e && *p > ' ' && *p < 0x7f)
    p++;
  if (p == t || p == e || *p != ' ')
    return GCD_HTTP_BAD;
  q = memchr(t, '?', (size_t)(p - t));
  req->path_off = (size_t)(t - buf);
  req->path_len = (size_t)((q != NULL ? q : p) - t);
  p++;
  if (e - p != 8 || memcmp(p, "HTTP/1.", 7) != 0 || p[7] < '0' || p[7] > '9')
    return GCD_HTTP_BAD;
  req->minor = p[7] - '0';
  return 0;
}

/* "Name: value": a token, then a colon, no space between them. */
static int parse_header_line(const char *p, const char *e) {
  const char *n = p;

  while (p < e && is_tchar(*p))
    p++;
  return p > n && p < e && *p == ':' ? 0 : GCD_HTTP_BAD;
}

int gcd_http_parse(const char *buf, size_t len, gcd_http_request *req) {
  const char *p = buf, *end = buf + len, *lf;
  size_t scan = len < GCD_HTTP_HEAD_MAX ? len : GCD_HTTP_HEAD_MAX;

  if (memchr(buf, '\0', scan) != NULL)
    return GCD_HTTP_BAD;
  end = buf + scan;
  while (p < end && (*p == '\r' || *p == '\n'))
    p++;
  if ((lf = line_end(p, end)) == NULL)
    return len >= GCD_HTTP_HEAD_MAX ? GCD_HTTP_TOO_LARGE : GCD_HTTP_INCOMPLETE;
  if (parse_request_line(buf, p, content_end(p, lf), req) != 0)
    return GCD_HTTP_BAD;
  for (p = lf + 1; (lf = line_end(p, end)) != NULL; p = lf + 1) {
    const char *e = content_end(p, lf);

    if (e == p)
      return (int)(lf + 1 - buf);
    if (parse_header_line(p, e) != 0)
      return GCD_HTTP_BAD;
  }
  return len >= GCD_HTTP_HEAD_MAX ? GCD_HTTP_TOO_LARGE : GCD_HTTP_INCOMPLETE;
}

int gcd_http_route(const char *buf, const gcd_http_request *req) {
  static const char path[] = "/metrics";

  if (req->path_len != sizeof path - 1 ||
      memcmp(buf + req->path_off, path, sizeof path - 1) != 0)
    return 404;
  return req->method == GCD_HTTP_OTHER ? 405 : 200;
}

const char *gcd_http_reason(int status) {
  switch (status) {
  case 200: return "OK";
  case 400: return "Bad Request";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 431: return "Request Header Fields Too Large";
  case 503: return "Service Unavailable";
  default: return "Internal Server Error";
  }
}

int gcd_http_response_head(char *out, size_t n, int status, const char *content_type,
                           size_t content_length) {
  int len = snprintf(out, n,
                     "HTTP/1.1 %d %s\r\n"
                     "Content-Type: %s\r\n"
                     "Content-Length: %zu\r\n"
                     "%s"
                     "Connection: close\r\n"
                     "\r\n",
                     status, gcd_http_reason(status), content_type, content_length,
                     status == 405 ? "Allow: GET, HEAD\r\n" : "");

  return len < 0 || (size_t)len >= n ? -1 : len;
}

static int parse_port(const char *text, in_port_t *port) {
  char *end;
  unsigned long v;

  if (*text < '0' || *text > '9')
    return -1;
  v = strtoul(text, &end, 10);
  if (*end != '\0' || v > 65535)
    return -1;
  *port = htons((in_port_t)v);
  return 0;
}

int gcd_http_parse_listen(const char *text, struct sockaddr_storage *out) {
  struct sockaddr_in *v4 = (struct sockaddr_in *)out;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
  const char *colon = strrchr(text, ':');
  char host[64];
  size_t hlen;

  memset(out, 0, sizeof *out);
  if (colon == NULL || (hlen = (size_t)(colon - text)) == 0 || hlen >= sizeof host)
    return -1;
  memcpy(host, text, hlen);
  host[hlen] = '\0';
  if (host[0] == '[') {
    if (hlen < 3 || host[hlen - 1] != ']')
      return -1;
    memmove(host, host + 1, hlen - 2);
    host[hlen - 2] = '\0';
  }
  if (strcmp(host, "localhost") == 0)
    snprintf(host, sizeof host, "127.0.0.1");
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    return parse_port(colon + 1, &v4->sin_port);
  }
  if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    return parse_port(colon + 1, &v6->sin6_port);
  }
  return -1;
}
