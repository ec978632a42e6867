/*
 * gcd_spin.h -- the adaptive window of a wait that polls before it sleeps,
 * shared by libgcclient (waiting for an answer, GC_OPT_SPIN_US) and the
 * daemon's loop (waiting for the next request, --spin-us).
 *
 * Polling spares the wakeup of a sleeping CPU when what is awaited comes
 * soon; the window keeps what polling can waste in bounds, as the kernel's
 * haltpoll governor does: a wait longer than the most allowed (max) halves
 * the window, down to 0, so that a slow peer soon stops costing CPU; a wait
 * that a longer window would have caught doubles it again, from
 * GCD_SPIN_START_NS, up to max. Plain arithmetic, any thread.
 */
#ifndef GCD_SPIN_H
#define GCD_SPIN_H

#include <stdint.h>

/* Where a window that shrank to nothing starts again, in ns. */
#define GCD_SPIN_START_NS 10000

/* The next window, from the current one (0..max) and the wait that just
 * ended after waited ns (measured from the same start as the window). */
static inline int64_t gcd_spin_adapt(int64_t window, int64_t max, int64_t waited) {
  if (waited > max) /* slow: the window was CPU spent for nothing */
    return window / 2 < GCD_SPIN_START_NS ? 0 : window / 2;
  if (waited > window) /* a longer window would have caught it */
    return window == 0 ? (max < GCD_SPIN_START_NS ? max : GCD_SPIN_START_NS)
                       : (window * 2 < max ? window * 2 : max);
  return window;
}

#endif /* GCD_SPIN_H */
