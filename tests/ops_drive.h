/*
 * ops_drive.h -- for tests that run request frames without the server:
 * plays the collector thread for a frame that waits on it.
 */
#ifndef GCD_TESTS_OPS_DRIVE_H
#define GCD_TESTS_OPS_DRIVE_H

#include <pthread.h>
#include <stddef.h>

#include "ops.h"

/* Runs each request the frame of s queues on the collector thread, then
 * resumes the frame (the reply going to room, which may be NULL), until its
 * reply is there; rc is what gcd_ops_handle() returned. Returns the final
 * rc, with *why NULL; or -1 with *why saying how the frame and the
 * collector's queue disagreed. */
static inline int ops_drive(gcd_daemon *d, gcd_session *s, int rc, const gcd_room *room,
                            gcd_reply *rep, const char **why) {
  gcd_gcthread *t = &d->gct;
  gcd_session *back;

  *why = NULL;
  while (rc == GCD_OPS_DEFERRED) {
    gcd_gcreq *r = t->queue;

    if (r == NULL || s->pending != r) {
      *why = "a frame that waits left no request of its own queued";
      return -1;
    }
    t->queue = r->next;
    if (t->queue == NULL)
      t->queue_tail = NULL;
    pthread_mutex_lock(&t->lock);
    gcd_gcthread_run(t, r);
    pthread_mutex_unlock(&t->lock);
    rc = gcd_ops_resume(d, r, room, &back, rep);
    if (back != s) {
      *why = "a resumed frame came back for another session";
      return -1;
    }
  }
  if (s->pending != NULL) {
    *why = "an answered frame is still pending";
    return -1;
  }
  return rc;
}

#endif /* GCD_TESTS_OPS_DRIVE_H */
