/*
 * collector.h -- the generational cycle collector, as plain steps.
 *
 * CPython's algorithm over the shared heap. Tracked objects (those with
 * slots) live on one of the generation lists; a collection of generation g
 * takes generations 0..g as its working set W and:
 *
 *   begin     (lock held)  splice 0..g into W; new objects go to a fresh gen 0
 *   update    (no lock)    gc_refs(x) = refcount(x) for x in W (the heap's
 *                          private copy of the counts), written into each
 *                          member's scan word
 *   subtract  (no lock)    gc_refs(t) -= 1 for every slot x -> t inside W
 *   mark      (no lock)    one walk in scan order, as CPython's
 *                          move_unreachable: x with gc_refs > 0 is reachable
 *                          from outside W, or from a member found reachable
 *                          before it; a member a reachable one refers to after
 *                          its own visit is revived and walked again. What is
 *                          left tentatively unreachable is the set U
 *   finish    (lock held)  rescue from U every dirty object and all it reaches
 *                          in U; free what remains (or keep it as garbage
 *                          under save-all); promote the survivors
 *
 * Concurrency: the loop thread mutates the heap only while it holds the heap
 * lock; the scan steps run without it. While a collection is active, every
 * object whose count or slots the loop thread changes is marked dirty and
 * listed once (gcd_gc_touch), and an object of W whose count drops to zero
 * is released as usual but its memory is handed back only at finish
 * (gcd_gc_untrack returns 1), so the scan never reads reused memory. Why this is sound is in
 * docs/architecture.md.
 *
 * Nothing here knows about threads, clocks or libuv: the caller supplies the
 * lock discipline (collector_thread.c in the daemon; the unit tests call the
 * steps one by one).
 */
#ifndef GCD_COLLECTOR_H
#define GCD_COLLECTOR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "heap.h"

#define GCD_GC_GENERATIONS 3

/* The lists, by number: generations 0..2, then these. */
enum {
  GCD_GC_PERMANENT = 3, /* frozen: never scanned */
  GCD_GC_GARBAGE = 4,   /* found unreachable under save-all; kept */
  GCD_GC_WORK = 5,      /* the working set of the active collection */
  GCD_GC_UNREACH = 6,   /* U, found unreachable, during a collection: a
                           count only; its members are on no list (cand[]
                           names them) */
  GCD_GC_NLISTS = 7
};

#define GCD_GC_STAMP_MAX 255u /* stamps run 1..this, then wrap */
#define GCD_GC_WIDE_DEFAULT (1u << 20) /* counts from here on go to wide[] */

/* The gc_refs of a member whose count is too large for its scan word. */
typedef struct gcd_gc_wide {
  uint32_t x;
  int64_t refs;
} gcd_gc_wide;

#define GCD_GC_DEBUG_SAVEALL 0x20 /* as CPython's gc.DEBUG_SAVEALL */

typedef struct gcd_gc_genstats {
  uint64_t collections;   /* collections of this generation */
  uint64_t collected;     /* unreachable objects found (freed or saved) */
  uint64_t uncollectable; /* found but kept (save-all) */
} gcd_gc_genstats;

/* What one collection did. */
typedef struct gcd_gc_result {
  int generation;
  uint64_t examined;    /* objects in the working set */
  uint64_t unreachable; /* found unreachable (freed, or saved as garbage) */
  uint64_t freed;       /* objects freed, cascades included */
  uint64_t rescued;     /* dropped from U because they were dirty */
  uint64_t survivors;   /* promoted */
} gcd_gc_result;

/*
 * Generations without retagging. Every tracked object carries a tag: the
 * epoch in which it was allocated (or T_GARBAGE while saved). The epoch
 * advances when a collection begins and when the heap is frozen. An object's
 * generation follows from its tag and four boundaries:
 *
 *   tag <  frozen_below            permanent (frozen)
 *   tag <  old_from                none: an entry a full collection freed
 *   tag >= young_from              generation 0
 *   tag >= middle_from             generation 1
 *   otherwise                      generation 2
 *
 * so promoting a million survivors moves two boundaries and splices one list:
 * O(1) under the lock. Physical lists (index links, sentinels at cap + list)
 * give enumeration; tags give O(1) membership, which the loop thread needs
 * to know whether a dying object belongs to the running collection.
 *
 * A freed entry's tag must not pass for a member's, so the objects a
 * collection frees are tagged T_NONE, one write each. A full collection
 * that frees more objects than survive writes the survivors' tags instead
 * (surv_epoch, which lies above every member's) and moves old_from up to
 * it: the range below, where the freed entries' tags lie, is given up.
 * Epochs start over (renumber) before they reach the reserved tags.
 */
#define GCD_GC_EPOCH_MAX 0xfffffff0u /* then the epochs start over */
#define GCD_GC_T_NONE 0xfffffffeu    /* untracked */
#define GCD_GC_T_GARBAGE 0xffffffffu /* on the garbage list */

typedef struct gcd_gc {
  gcd_heap *heap;
  uint64_t cap;                  /* heap table entries */
  uint32_t *prev, *next;         /* list links; sentinels at cap + list */
  _Atomic uint32_t *tag;         /* epoch tags, see above */
  /* The scan record of each entry is 12 bytes in two dense arrays, so that
   * a pass over the working set never reads a shared gcd_obj: the heap's
   * where[x] (where x's slots are) and
   *   word[x]  stamp (bits 24..31) | TENT (bit 23) | WIDE (bit 22) |
   *            gc_refs + BIAS (0..21), or with WIDE an index into wide[]
   * A word whose stamp is the active collection's marks a member of the
   * working set; every other entry carries an older stamp (or 0, written
   * when it is tracked), so membership costs one load. Words are written by
   * the collector thread; the loop thread only zeroes the word of an entry
   * it tracks, never a member's (a member freed during a collection stays
   * a zombie, its entry not reused until finish), hence relaxed atomics. */
  _Atomic uint32_t *word;
  gcd_gc_wide *wide;             /* collector thread, update to subtract */
  uint64_t nwide, wide_cap;
  uint64_t wide_from;            /* GCD_GC_WIDE_DEFAULT; tests lower it */
  uint64_t wide_max;             /* entries wide[] may grow to; tests too */
  bool wide_root;                /* wide[] could not grow this collection */
  bool words_stale;              /* stamps wrapped: update clears the words */
  uint32_t *cand;                /* the working set in scan order, then the
                                    members revived by the mark; 2 * cap;
                                    after the mark, U in scan order */
  uint64_t ncand;
  uint64_t nwork;                /* members of W listed in cand[] by update */
  uint64_t scan_hwm;             /* the table's high-water mark at begin */
  /* References from members to members, as subtracted, and those of them
   * the mark followed from members found reachable; from these the split
   * tells whether U is closed: no reference leads from it to a survivor,
   * so that freeing it needs to read only the slots of the members in
   * outs[], those the subtract found referring outside the set. Finish
   * withdraws that if a member changed during the scan. */
  uint64_t refs_inside, refs_reached;
  uint32_t *outs;                /* collector thread; cap entries */
  uint64_t nouts;
  bool unreach_closed;
  /* A full collection with nothing frozen and nothing on the garbage list,
   * while the heap's inrefs are exact (heap.h): every reference from a slot
   * to a member then comes from a member, so update sets gc_refs to count
   * minus inref at once, lists outs[] from the leaf fields and sums
   * refs_inside from the inrefs, and there is no subtract pass (set at
   * begin, under the lock). */
  bool by_inref;
  bool no_inref;                 /* tests: every collection subtracts */
  uint64_t nunreach;             /* members the mark left unreachable */
  uint32_t stamp;                /* of the active or last collection */
  /* Loop thread (or lock held): the epoch of the collection that saw the
   * entry change, and the entries that changed during the active one, each
   * once, so the rescue at finish visits only those. */
  uint32_t *dirty;
  uint32_t *touched;
  uint64_t ntouched;
  uint32_t *stack;               /* rescue stack, lock held */
  uint32_t *warmed;              /* per page of heap states: the stamp of
                                    the scan that warmed it (the mark) */
  uint32_t *zombies;             /* freed during the collection, memory kept */
  uint64_t nzombies;
  uint64_t count[GCD_GC_NLISTS]; /* objects on each list */
  uint32_t epoch;                /* tag of objects allocated now */
  uint32_t young_from, middle_from, old_from, frozen_below;
  bool active;                   /* between begin and finish */
  int collecting;                /* generation being collected */
  uint32_t work_epoch;           /* epoch of the active collection */
  uint32_t surv_epoch;           /* work_epoch - 1: no member's tag */
  bool retag;                    /* survivors get surv_epoch (see above) */
  /* CPython's gc state. */
  int64_t gen_count[GCD_GC_GENERATIONS];  /* gc.get_count() */
  uint64_t threshold[GCD_GC_GENERATIONS]; /* gc.get_threshold() */
  gcd_gc_genstats stats[GCD_GC_GENERATIONS];
  uint64_t long_lived_total, long_lived_pending;
  bool enabled;
  unsigned debug;
  gcd_gc_result last;
} gcd_gc;

/** Sets up an empty collector for heap h and links it: the heap calls the
 *  hooks below from then on. 0 or GC_ENOMEM. */
int gcd_gc_init(gcd_gc *gc, gcd_heap *h);

/** Unlinks from the heap and frees private memory. */
void gcd_gc_destroy(gcd_gc *gc);

/* ---- hooks the heap calls (loop thread, heap lock held) ---- */

/** A tracked object was allocated: it joins generation 0. */
void gcd_gc_track(gcd_gc *gc, uint32_t idx);

/** Entries [first, first + n) of the table are backed now: the member
 *  array is backed as far, so that the first collection to list them does
 *  not fault its pages in (gcd_shm_private_populate). */
void gcd_gc_reserve(gcd_gc *gc, uint64_t first, uint64_t n);

/** A tracked object is being freed. Returns true when the collector still
 *  needs its entry (it is in the active working set): the heap then releases
 *  its children and makes its handle stale, but keeps the memory, which
 *  gcd_gc_finish() hands back. */
bool gcd_gc_untrack(gcd_gc *gc, uint32_t idx);

/** The count or the slots of idx are about to change. Each entry is listed
 *  once per collection, so touched[] (cap long) never overflows. */
static inline void gcd_gc_touch(gcd_gc *gc, uint32_t idx) {
  if (gc->active && gc->dirty[idx] != gc->work_epoch) {
    gc->dirty[idx] = gc->work_epoch;
    gc->touched[gc->ntouched++] = idx;
  }
}

/* ---- steps of one collection ---- */

/** Lock held: starts collecting generations 0..gen (0 <= gen <= 2). */
void gcd_gc_begin(gcd_gc *gc, int gen);

/** No lock needed: update, subtract and mark. Returns objects examined. */
uint64_t gcd_gc_scan(gcd_gc *gc);

/* The three parts of gcd_gc_scan(), in order, for tests that change the
 * heap between them. */
uint64_t gcd_gc_update_refs(gcd_gc *gc);
void gcd_gc_subtract_refs(gcd_gc *gc);
void gcd_gc_mark(gcd_gc *gc);

/** Lock held: rescue, free or save, promote. Fills *out. */
void gcd_gc_finish(gcd_gc *gc, gcd_gc_result *out);

/** All steps at once, for callers that hold the lock throughout. */
void gcd_gc_collect(gcd_gc *gc, int gen, gcd_gc_result *out);

/* ---- policy (lock held) ---- */

/** The generation an automatic collection should take now, or -1: the
 *  oldest generation over its threshold, with CPython's rule that a full
 *  collection waits until long-lived pending objects exceed 25% of the
 *  long-lived total. -1 while disabled. */
int gcd_gc_due(const gcd_gc *gc);

/** Moves every tracked object of generations 0..2 to the permanent list. */
void gcd_gc_freeze(gcd_gc *gc);

/** Moves the permanent list back to generation 2. */
void gcd_gc_unfreeze(gcd_gc *gc);

/** Releases the save-all garbage list's references. The objects become
 *  ordinary members of generation 2 again; returns how many there were. */
uint64_t gcd_gc_clear_garbage(gcd_gc *gc);

/** Sets the thresholds; t0 == 0 disables automatic collection like CPython. */
void gcd_gc_set_threshold(gcd_gc *gc, const uint64_t t[GCD_GC_GENERATIONS]);

/** Which list idx is on: 0..2, GCD_GC_PERMANENT, GCD_GC_GARBAGE, or -1 for
 *  an untracked object. During a collection, members of the working set
 *  report the generation they had when it began. */
int gcd_gc_generation(const gcd_gc *gc, uint32_t idx);

/** Calls fn(idx, arg) for each object on list, at most limit times (0: no
 *  limit); stops early when fn returns non-zero. Returns objects visited. */
uint64_t gcd_gc_each(const gcd_gc *gc, int list, uint64_t limit,
                     int (*fn)(uint32_t idx, void *arg), void *arg);

/** Checks the lists against the heap: every live tracked object on exactly
 *  one list, counts right, links consistent. 0 or GC_ECORRUPT with msg. */
int gcd_gc_verify(const gcd_gc *gc, char *msg, size_t len);

#endif /* GCD_COLLECTOR_H */
