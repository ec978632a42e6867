/*
 * http.h -- the little HTTP/1.x the metrics endpoint speaks, as plain
 * functions over bytes: parsing a request head, routing it, writing a
 * response head. httpd.c feeds them from sockets; tests feed them strings.
 *
 * Owns: what a well-formed request head is, the routes (GET and HEAD of
 * /metrics), the listen address syntax. Must not touch: sockets, libuv.
 * Threading: any (no state).
 */
#ifndef GCD_HTTP_H
#define GCD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define GCD_HTTP_HEAD_MAX 8192 /* request line + headers; more is a 431 */

/* Results of gcd_http_parse() other than a head length. */
#define GCD_HTTP_INCOMPLETE 0
#define GCD_HTTP_BAD (-400)       /* malformed request line or header */
#define GCD_HTTP_TOO_LARGE (-431) /* no end of head in GCD_HTTP_HEAD_MAX bytes */

typedef enum gcd_http_method {
  GCD_HTTP_GET,
  GCD_HTTP_HEAD,
  GCD_HTTP_OTHER
} gcd_http_method;

typedef struct gcd_http_request {
  gcd_http_method method;
  size_t path_off, path_len; /* the target within the buffer, query excluded */
  int minor;                 /* HTTP/1.minor */
} gcd_http_request;

/**
 * Parses the request head at the start of buf (len bytes received so far).
 * Returns the head's length (through its blank line) with *req filled,
 * GCD_HTTP_INCOMPLETE when more bytes are needed, GCD_HTTP_BAD, or
 * GCD_HTTP_TOO_LARGE when len reaches GCD_HTTP_HEAD_MAX without an end.
 * A bad request line is reported as soon as its line is whole. Empty lines
 * before the request line are skipped; header values are not interpreted.
 */
int gcd_http_parse(const char *buf, size_t len, gcd_http_request *req);

/** The status for a parsed request: 200 (GET or HEAD /metrics), 405 (another
 *  method on /metrics), 404 (any other path). */
int gcd_http_route(const char *buf, const gcd_http_request *req);

/**
 * Writes a response head to out (n bytes): status line, Content-Type,
 * Content-Length, Connection: close, and for 405 "Allow: GET, HEAD". Returns
 * its length, or -1 when n is too small.
 */
int gcd_http_response_head(char *out, size_t n, int status, const char *content_type,
                           size_t content_length);

/** The reason phrase of a status this endpoint sends ("Not Found"). */
const char *gcd_http_reason(int status);

/**
 * Parses a listen address "HOST:PORT": an IPv4 literal, an IPv6 literal
 * (in brackets, "[::1]:9478", or bare, "::1:9478") or "localhost"
 * (127.0.0.1); the port 0 to 65535. 0, or -1.
 */
int gcd_http_parse_listen(const char *text, struct sockaddr_storage *out);

#endif /* GCD_HTTP_H */
