/* hello.c -- the smallest gcd client: connect, allocate, write, publish.
 * Build: cc hello.c $(pkg-config --cflags --libs gcclient) */
#include <gcclient.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  gc_client *c;
  gc_handle h;
  int rc;

  if ((rc = gc_connect(NULL, "hello", &c)) != 0) {
    fprintf(stderr, "gc_connect: %s: %s\n", gc_strerror(rc), gc_last_error(NULL));
    return 1;
  }
  if ((rc = gc_alloc(c, 0, 64, 1, &h)) == 0) {
    strcpy(gc_data(c, h, NULL), "hello, shared world");
    rc = gc_publish(c, "hello", h);
  }
  if (rc != 0)
    fprintf(stderr, "gcd: %s: %s\n", gc_strerror(rc), gc_last_error(c));
  gc_close(c); /* the name keeps the object alive */
  return rc != 0;
}
