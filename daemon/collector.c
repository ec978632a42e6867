/*
 * collector.c -- CPython's generational cycle collector over the shared heap.
 *
 * Owns the collector's private per-object arrays (list links, tags, gc_refs,
 * marks, dirty epochs) and the generation policy. Reads object headers and
 * slots through the heap; never touches payloads, the wire, libuv or clocks.
 * The lock discipline of each entry point is stated in collector.h: "lock
 * held" means the caller holds the heap lock (so the loop thread is not
 * mutating the heap); the scan runs while the loop thread works.
 */
#include "collector.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcclient.h"
#include "shm.h"

#define NO_LIST 0xffu

/* ------------------------------------------------------------------------
 * Lists: circular, doubly linked through prev/next; list L's sentinel is
 * index cap + L, so an index >= cap is always a sentinel.
 * ---------------------------------------------------------------------- */

static uint32_t sentinel(const gcd_gc *gc, int list) {
  return (uint32_t)(gc->cap + (uint64_t)list);
}

static void list_init(gcd_gc *gc, int list) {
  uint32_t s = sentinel(gc, list);
  gc->prev[s] = gc->next[s] = s;
  gc->count[list] = 0;
}

static void link_tail(gcd_gc *gc, int list, uint32_t idx) {
  uint32_t s = sentinel(gc, list), last = gc->prev[s];
  gc->next[last] = idx;
  gc->prev[idx] = last;
  gc->next[idx] = s;
  gc->prev[s] = idx;
}

static void unlink_one(gcd_gc *gc, uint32_t idx) {
  gc->next[gc->prev[idx]] = gc->next[idx];
  gc->prev[gc->next[idx]] = gc->prev[idx];
}

/* Appends every member of from to the tail of to, leaving from empty. O(1). */
static void splice(gcd_gc *gc, int from, int to) {
  uint32_t fs = sentinel(gc, from), ts = sentinel(gc, to);
  if (gc->next[fs] == fs)
    return;
  uint32_t first = gc->next[fs], last = gc->prev[fs], tail = gc->prev[ts];
  gc->next[tail] = first;
  gc->prev[first] = tail;
  gc->next[last] = ts;
  gc->prev[ts] = last;
  gc->prev[fs] = gc->next[fs] = fs;
  gc->count[to] += gc->count[from];
  gc->count[from] = 0;
}

/* ------------------------------------------------------------------------
 * Tags and generations.
 * ---------------------------------------------------------------------- */

static uint32_t tag_of(const gcd_gc *gc, uint32_t idx) {
  return atomic_load_explicit(&gc->tag[idx], memory_order_relaxed);
}

static void set_tag(gcd_gc *gc, uint32_t idx, uint32_t tag) {
  atomic_store_explicit(&gc->tag[idx], tag, memory_order_relaxed);
}

/* The list a tag stands for under the current boundaries. Epochs start at
 * 1: tag 0 is an entry never tracked. */
static int list_of_tag(const gcd_gc *gc, uint32_t tag) {
  if (tag == 0 || tag == GCD_GC_T_NONE)
    return -1;
  if (tag == GCD_GC_T_GARBAGE)
    return GCD_GC_GARBAGE;
  if (tag < gc->frozen_below)
    return GCD_GC_PERMANENT;
  if (tag < gc->old_from)
    return -1; /* an entry a full collection freed */
  if (tag >= gc->young_from)
    return 0;
  return tag >= gc->middle_from ? 1 : 2;
}

/* Whether idx belongs to the working set of the active collection. Called by
 * the collector during the scan (tags of members are stable then) and by the
 * loop thread under the lock. */
static bool in_work(const gcd_gc *gc, uint32_t idx) {
  uint32_t tag = tag_of(gc, idx);
  if (!gc->active || tag >= gc->work_epoch)
    return false;
  int list = list_of_tag(gc, tag);
  return list >= 0 && list <= gc->collecting;
}

/* ------------------------------------------------------------------------
 * Scan records (collector.h): 4 bytes an entry, so that the passes' random
 * reads and writes of their targets' words fall on half as many cache
 * lines. gc_refs is stored plus BIAS. It can go negative when the loop
 * thread adds references between the update and the subtract (the object
 * is dirty then, and rescued at finish whatever its gc_refs); a decrement
 * stops at the field's floor rather than borrow from the bits above. A
 * count of GCD_GC_WIDE_DEFAULT or more does not fit beside BIAS: the word
 * is WIDE and holds an index into wide[], which keeps that member's
 * gc_refs in 64 bits through the subtract; the subtract's end writes it
 * back, clamped to the field (its sign is what the mark reads). An index
 * of WIDE_ROOT means wide[] could not grow: the member is then taken as
 * referenced from outside (kept, never freed wrongly).
 * ---------------------------------------------------------------------- */

#define BIAS (UINT64_C(1) << 21)
#define REFS_MASK ((UINT64_C(1) << 22) - 1)
#define REFS_MAX (BIAS - 1) /* the largest gc_refs a narrow word holds */
#define WIDE (UINT64_C(1) << 22) /* gc_refs in wide[], the low bits index it */
#define WIDE_ROOT REFS_MASK /* as gc_refs: BIAS - 1, a root */
#define TENT (UINT64_C(1) << 23) /* visited by the mark, found unreachable so far */
#define STAMP_SHIFT 24

_Static_assert(GCD_GC_WIDE_DEFAULT <= REFS_MAX, "a narrow count fits beside BIAS");
_Static_assert(GCD_GC_STAMP_MAX == UINT32_MAX >> STAMP_SHIFT, "the stamp fills the word");

static uint64_t word_get(const gcd_gc *gc, uint32_t x) { /* zero-extended */
  return atomic_load_explicit(&gc->word[x], memory_order_relaxed);
}

static void word_set(gcd_gc *gc, uint32_t x, uint64_t w) {
  atomic_store_explicit(&gc->word[x], (uint32_t)w, memory_order_relaxed);
}

/* Whether word w carries stamp, the mark of a collection's member. */
static bool stamped(uint64_t w, uint32_t stamp) {
  return (uint32_t)(w >> STAMP_SHIFT) == stamp;
}

static bool member(const gcd_gc *gc, uint64_t w) {
  return stamped(w, gc->stamp);
}

static int64_t refs_of(uint64_t w) {
  return (int64_t)(w & REFS_MASK) - (int64_t)BIAS;
}

/* A member's word, reachable: gc_refs 1 and no TENT. */
static uint64_t reached_word(uint32_t stamp) {
  return ((uint64_t)stamp << STAMP_SHIFT) | (BIAS + 1);
}

/* The member's slots as the heap's private copy (edges: table indexes),
 * which the passes read instead of the shared slot words: private memory
 * on huge pages, where this host charges per 4 KiB page of shared memory a
 * pass touches (docs/performance.md). */
static const _Atomic uint32_t *where_edges(const gcd_gc *gc, uint64_t wh) {
  return gcd_heap_edges(gc->heap, gcd_where_off(wh));
}

/* Whether entry t (not 0) is a working-set member; *w gets its word. A
 * member's entry is not reused before finish (zombies), so the index
 * alone, checked against the stamp, says. */
static bool member_at(const gcd_gc *gc, uint32_t t, uint64_t *w) {
  return t < gc->cap && member(gc, *w = word_get(gc, t));
}

/* The working-set member an edge points to, or 0. Reads an edge the loop
 * thread may be writing: atomically. */
static uint32_t target(const gcd_gc *gc, const _Atomic uint32_t *edge, uint64_t *w) {
  uint32_t t = atomic_load_explicit(edge, memory_order_relaxed);
  return t != 0 && member_at(gc, t, w) ? t : 0;
}

/* ------------------------------------------------------------------------
 * Set-up.
 * ---------------------------------------------------------------------- */

/* Large arrays are allocated whole: the pages are touched only as the heap
 * grows, so a table of millions costs nothing until used. The ones every
 * scan pass walks (links, tags, scan records, cand) come from
 * gcd_shm_private_alloc(), zeroed and on huge pages where the system allows:
 * a pass reads them at memory bandwidth and a page-table walk per 4 KiB
 * would cost it more than the reads (docs/performance.md). word[] starts
 * zeroed: stamp 0 is no collection's. */
static size_t links_len(const gcd_gc *gc) {
  return ((size_t)gc->cap + GCD_GC_NLISTS) * sizeof(uint32_t);
}

/* Pages of the heap's state array, with one to spare at each end. */
static size_t warmed_len(const gcd_gc *gc) {
  return (size_t)gcd_heap_state_page(gc->heap, (uint32_t)(gc->cap - 1)) + 2;
}

static int alloc_arrays(gcd_gc *gc) {
  size_t cap = (size_t)gc->cap;
  gc->prev = gcd_shm_private_alloc(links_len(gc));
  gc->next = gcd_shm_private_alloc(links_len(gc));
  gc->tag = gcd_shm_private_alloc(cap * sizeof *gc->tag);
  gc->word = gcd_shm_private_alloc(cap * sizeof *gc->word);
  gc->cand = gcd_shm_private_alloc(2 * cap * sizeof *gc->cand);
  gc->dirty = calloc(cap, sizeof *gc->dirty);
  gc->touched = malloc(cap * sizeof *gc->touched);
  gc->stack = malloc(cap * sizeof *gc->stack);
  gc->outs = malloc(cap * sizeof *gc->outs); /* pages touched as used */
  gc->zombies = malloc(cap * sizeof *gc->zombies);
  gc->warmed = calloc(warmed_len(gc), sizeof *gc->warmed);
  if (gc->prev && gc->next && gc->tag && gc->word && gc->cand &&
      gc->dirty && gc->touched && gc->stack && gc->outs && gc->zombies && gc->warmed)
    return 0;
  return GC_ENOMEM;
}

int gcd_gc_init(gcd_gc *gc, gcd_heap *h) {
  memset(gc, 0, sizeof *gc);
  gc->heap = h;
  gc->cap = h->table_cap;
  if (alloc_arrays(gc) != 0) {
    gcd_gc_destroy(gc);
    return GC_ENOMEM;
  }
  for (int l = 0; l < GCD_GC_NLISTS; l++)
    list_init(gc, l);
  gc->epoch = gc->young_from = gc->middle_from = gc->old_from = 1;
  gc->threshold[0] = 700;
  gc->threshold[1] = gc->threshold[2] = 10;
  gc->wide_from = GCD_GC_WIDE_DEFAULT;
  gc->wide_max = WIDE_ROOT; /* indexes 0..WIDE_ROOT - 1 */
  gc->enabled = true;
  h->gc = gc;
  return 0;
}

void gcd_gc_destroy(gcd_gc *gc) {
  if (gc->heap != NULL && gc->heap->gc == gc)
    gc->heap->gc = NULL;
  size_t cap = (size_t)gc->cap;
  gcd_shm_private_free(gc->prev, links_len(gc));
  gcd_shm_private_free(gc->next, links_len(gc));
  gcd_shm_private_free((void *)gc->tag, cap * sizeof *gc->tag);
  gcd_shm_private_free((void *)gc->word, cap * sizeof *gc->word);
  gcd_shm_private_free(gc->cand, 2 * cap * sizeof *gc->cand);
  free(gc->dirty);
  free(gc->touched);
  free(gc->stack);
  free(gc->outs);
  free(gc->wide);
  free(gc->zombies);
  free(gc->warmed);
  memset(gc, 0, sizeof *gc);
}

/* ------------------------------------------------------------------------
 * Hooks (loop thread, lock held).
 * ---------------------------------------------------------------------- */

/* idx's scan word is zeroed here, at allocation (so that the page faults
 * in as the heap grows rather than during the first collection that meets
 * it; stamp 0 is no collection's). Its dirty epoch is left alone:
 * resetting it would let an entry reused many times in one collection be
 * listed in touched[] many times. */
void gcd_gc_track(gcd_gc *gc, uint32_t idx) {
  word_set(gc, idx, 0);
  set_tag(gc, idx, gc->epoch);
  link_tail(gc, 0, idx);
  gc->count[0]++;
  gc->gen_count[0]++;
}

void gcd_gc_reserve(gcd_gc *gc, uint64_t first, uint64_t n) {
  gcd_shm_private_populate(gc->cand, first * sizeof *gc->cand, n * sizeof *gc->cand);
}

bool gcd_gc_untrack(gcd_gc *gc, uint32_t idx) {
  if (gc->gen_count[0] > 0)
    gc->gen_count[0]--;
  if (in_work(gc, idx)) {
    gc->zombies[gc->nzombies++] = idx; /* W's links stay: the scan walks them */
    return true;
  }
  int list = list_of_tag(gc, tag_of(gc, idx));
  if (list >= 0) {
    unlink_one(gc, idx);
    gc->count[list]--;
  }
  set_tag(gc, idx, GCD_GC_T_NONE);
  return false;
}

/* ------------------------------------------------------------------------
 * One collection.
 * ---------------------------------------------------------------------- */

/* A new stamp for a collection. When the 8 bits run out (every 255
 * collections) every word is cleared, so that no entry stamped 255
 * collections ago passes for a member (and no gc_refs long unused keeps
 * being decremented): by the update that follows, without the lock. */
static void next_stamp(gcd_gc *gc) {
  if (gc->stamp < GCD_GC_STAMP_MAX) {
    gc->stamp++;
    return;
  }
  gc->stamp = 1;
  gc->words_stale = true;
}

/* Collector thread, no lock held: the loop thread may meanwhile zero the
 * word of an entry it tracks, which is what this writes too. Entries from
 * scan_hwm up were tracked after begin, their words zeroed then. The pages
 * readied (warmed[]) are stamped as well. */
static void clear_words(gcd_gc *gc) {
  for (uint64_t i = 0; i < gc->scan_hwm; i++)
    word_set(gc, (uint32_t)i, 0);
  memset(gc->warmed, 0, warmed_len(gc) * sizeof *gc->warmed);
  gc->words_stale = false;
}

/* The tag each list's members get when the epochs start over. */
static const struct {
  int list;
  uint32_t tag;
} renumbered[] = {{GCD_GC_PERMANENT, 1}, {2, 2}, {1, 3}, {0, 4}};

/* Epochs start over before they reach T_NONE: once in about two billion
 * collections, so a pass over the table (lock held, no collection active)
 * is cheap. Each list's members get one tag, in generation order; stale
 * tags of freed entries, and dirty epochs, are cleared so that none
 * passes for a new one. */
static void renumber(gcd_gc *gc) {
  for (uint64_t i = 1; i < gc->heap->table_hwm; i++) {
    uint32_t t = tag_of(gc, (uint32_t)i);
    if (t != 0 && t != GCD_GC_T_GARBAGE)
      set_tag(gc, (uint32_t)i, GCD_GC_T_NONE);
    gc->dirty[i] = 0;
  }
  for (size_t k = 0; k < sizeof renumbered / sizeof renumbered[0]; k++) {
    uint32_t s = sentinel(gc, renumbered[k].list);
    for (uint32_t x = gc->next[s]; x != s; x = gc->next[x])
      set_tag(gc, x, renumbered[k].tag);
  }
  gc->frozen_below = gc->frozen_below != 0 ? 2 : 0;
  gc->old_from = 2;
  gc->middle_from = 3;
  gc->young_from = gc->epoch = 4;
}

/* Before epochs are taken: while every tracked object is on its list. */
static void renumber_if_due(gcd_gc *gc) {
  if (gc->epoch >= GCD_GC_EPOCH_MAX)
    renumber(gc);
}

void gcd_gc_begin(gcd_gc *gc, int gen) {
  renumber_if_due(gc);
  for (int g = 0; g <= gen; g++)
    splice(gc, g, GCD_GC_WORK);
  if (gen + 1 < GCD_GC_GENERATIONS)
    gc->gen_count[gen + 1]++;
  for (int g = 0; g <= gen; g++)
    gc->gen_count[g] = 0;
  gc->collecting = gen;
  gc->surv_epoch = ++gc->epoch; /* above every member's tag */
  gc->work_epoch = ++gc->epoch; /* objects allocated from now on are younger */
  gc->retag = false;
  next_stamp(gc);
  gc->nzombies = gc->ntouched = gc->ncand = 0;
  gc->unreach_closed = false;
  gc->by_inref = gen == GCD_GC_GENERATIONS - 1 && gc->count[GCD_GC_PERMANENT] == 0 &&
                 gc->count[GCD_GC_GARBAGE] == 0 && !gc->heap->inrefs_lost && !gc->no_inref;
  gc->scan_hwm = gc->heap->table_hwm; /* entries above are younger */
  gc->active = true;
}

/* The working set as a range of tags: x is a member iff
 * work_low() <= tag(x) < work_epoch (list_of_tag() for lists 0..collecting;
 * T_NONE and T_GARBAGE lie above any epoch, 0 below 1). */
static uint32_t work_low(const gcd_gc *gc) {
  uint32_t lo = gc->collecting == 0 ? gc->young_from
                : gc->collecting == 1 ? gc->middle_from : gc->old_from;
  return lo > gc->frozen_below ? lo : gc->frozen_below;
}

/* Inlined: called once per member from the passes' inner loops, where a
 * call (and reloading gc's fields after it) cost a fifth of the subtract
 * pass. */
#define HOT static inline __attribute__((always_inline))

/* What the passes' inner loops read of the collector and the heap, copied
 * into a local before the loop: a word store is an atomic, after which the
 * compiler loads every field it needs from gc again (a dozen loads a
 * member, measured in the subtract's code). The mark appends to cand[]
 * through it and stores ncand back. */
typedef struct scan {
  _Atomic uint32_t *word;
  uint32_t *cand;
  const uint64_t *where;
  const _Atomic uint32_t *edges; /* the heap's edges from slot 0 */
  uint64_t cap, ncand;
  uint32_t stamp;
} scan;

static scan scan_of(const gcd_gc *gc) {
  return (scan){.word = gc->word, .cand = gc->cand, .where = gc->heap->where,
                .edges = gcd_heap_edges(gc->heap, 0), .cap = gc->cap,
                .ncand = gc->ncand, .stamp = gc->stamp};
}

HOT const _Atomic uint32_t *scan_edges(const scan *sc, uint64_t wh) {
  return sc->edges + gcd_where_off(wh);
}

HOT uint64_t scan_word(const scan *sc, uint32_t x) {
  return atomic_load_explicit(&sc->word[x], memory_order_relaxed);
}

HOT void scan_set(const scan *sc, uint32_t x, uint64_t w) {
  atomic_store_explicit(&sc->word[x], (uint32_t)w, memory_order_relaxed);
}

/* member_at(), from the copy. */
HOT bool scan_member(const scan *sc, uint32_t t, uint64_t *w) {
  return t < sc->cap && stamped(*w = scan_word(sc, t), sc->stamp);
}

/* x's count does not fit its word: gc_refs goes to wide[]. Returns the
 * word's low bits, the index, or WIDE_ROOT if wide[] cannot grow. */
static uint64_t wide_add(gcd_gc *gc, uint32_t x, uint64_t c) {
  if (gc->nwide == gc->wide_cap) {
    uint64_t cap = gc->wide_cap ? 2 * gc->wide_cap : 64;
    if (cap > gc->wide_max)
      cap = gc->wide_max;
    gcd_gc_wide *w = cap > gc->wide_cap ? realloc(gc->wide, cap * sizeof *w) : NULL;
    if (w == NULL) {
      gc->wide_root = true;
      return WIDE_ROOT;
    }
    gc->wide = w;
    gc->wide_cap = cap;
  }
  gc->wide[gc->nwide] = (gcd_gc_wide){.x = x, .refs = (int64_t)(c < INT64_MAX ? c : INT64_MAX)};
  return gc->nwide++;
}

/* The update's locals, as scan is the other passes'. inrefs is NULL but
 * under by_inref. */
typedef struct fill {
  _Atomic uint32_t *word;
  uint32_t *cand;
  const _Atomic uint64_t *counts;
  const _Atomic uint32_t *inrefs;
  uint32_t *outs;
  uint64_t ncand, wide_from, stamp, inside, nouts;
} fill;

/* Under by_inref: x's gc_refs is final at once, count less the references
 * from slots, all of which come from members; clamped to the field, as the
 * subtract's end clamps (only the sign matters from here on). A count
 * below the inref can only be read while the loop thread changes x, which
 * makes x dirty: 0 then, like any value. */
HOT uint64_t update_inref(fill *f, uint32_t x, uint64_t c) {
  uint32_t v = atomic_load_explicit(&f->inrefs[x], memory_order_relaxed);
  uint64_t in = gcd_inref_of(v), r = c > in ? c - in : 0;
  f->inside += in;
  if (gcd_leafrefs_of(v) != 0)
    f->outs[f->nouts++] = x;
  return f->stamp | (BIAS + (r < REFS_MAX ? r : REFS_MAX));
}

HOT void update_one(gcd_gc *gc, fill *f, uint32_t x) {
  uint64_t c = atomic_load_explicit(&f->counts[x], memory_order_relaxed), w;
  if (f->inrefs != NULL)
    w = update_inref(f, x, c);
  else
    w = c < f->wide_from ? f->stamp | (BIAS + c) : f->stamp | WIDE | wide_add(gc, x, c);
  atomic_store_explicit(&f->word[x], (uint32_t)w, memory_order_relaxed);
  f->cand[f->ncand++] = x;
}

/* Members in list order: one dependent load a member, a cache miss each
 * once a long-lived heap has shuffled its entries. */
static void update_by_list(gcd_gc *gc, fill *f) {
  const uint32_t *next = gc->next;
  uint32_t ws = sentinel(gc, GCD_GC_WORK);
  for (uint32_t x = next[ws]; x != ws; x = next[x])
    update_one(gc, f, x);
}

/* Members in table order, found by their tags: a sequential read of every
 * tag below the high-water mark, and every later pass then reads the
 * records of cand[] in address order too. Tags of members do not change
 * during the scan; other entries' may, never into the range. */
static void update_by_index(gcd_gc *gc, fill *f) {
  const _Atomic uint32_t *tag = gc->tag;
  uint32_t lo = work_low(gc), hi = gc->work_epoch;
  for (uint64_t x = 1, hwm = gc->scan_hwm; x < hwm; x++) {
    uint32_t t = atomic_load_explicit(&tag[x], memory_order_relaxed);
    if (t >= lo && t < hi)
      update_one(gc, f, (uint32_t)x);
  }
}

/* Sets each member's gc_refs = count (from the heap's private copy of the
 * counts: this pass reads nothing shared) and lists the members in cand[],
 * walking whichever is cheaper: W's list, or the tags of the whole table
 * when W is more than a sixteenth of it. A member's count may change while
 * this runs; the dirty mark covers that. */
#define INDEX_SCAN_RATIO 16

uint64_t gcd_gc_update_refs(gcd_gc *gc) {
  fill f = {.word = gc->word, .cand = gc->cand, .counts = gc->heap->counts,
            .inrefs = gc->by_inref ? gc->heap->inrefs : NULL, .outs = gc->outs,
            .wide_from = gc->wide_from, .stamp = (uint64_t)gc->stamp << STAMP_SHIFT};
  if (gc->words_stale)
    clear_words(gc);
  gc->nwide = 0;
  gc->wide_root = false;
  if (gc->count[GCD_GC_WORK] * INDEX_SCAN_RATIO >= gc->scan_hwm)
    update_by_index(gc, &f);
  else
    update_by_list(gc, &f);
  gc->ncand = f.ncand;
  assert(gc->ncand == gc->count[GCD_GC_WORK]); /* the tags and the list agree */
  gc->nwork = gc->ncand;
  gc->refs_inside = f.inside;
  gc->nouts = f.nouts;
  return gc->ncand;
}

/* The passes below walk cand[] in order, so the objects ahead are known:
 * their records, slot arrays and targets' words are fetched early, in three
 * stages, and a pass runs at memory bandwidth rather than one miss after
 * another. A record is loaded once, at the slots' stage, and kept in a
 * small ring until its member's turn, so the later stages and the visit
 * itself need not load it (and cand[]) again. The distances are as far as
 * gains went on a Xeon host, where memory is far: a quarter of them cost a
 * reachable random graph a fifth more time. (On an EPYC host, longer
 * distances also helped the random graphs, and cost the cycles a little.) */
#define AHEAD_WHERE 256
#define AHEAD_SLOTS 128
#define AHEAD_TARGETS 64
#define AHEAD_RING 256 /* a power of two above AHEAD_SLOTS */
#define TARGETS_MAX 4 /* slots of one object whose targets are fetched early */

typedef struct ahead {
  uint64_t next;             /* the next position whose record to load */
  uint64_t ring[AHEAD_RING]; /* where[] of positions next - AHEAD_RING .. next */
} ahead;

HOT void fetch_targets(const scan *sc, uint64_t wh) {
  const _Atomic uint32_t *s = scan_edges(sc, wh);
  for (uint32_t k = 0, n = gcd_where_n(wh); k < n && k < TARGETS_MAX; k++) {
    uint32_t t = atomic_load_explicit(&s[k], memory_order_relaxed);
    if (t < sc->cap)
      __builtin_prefetch((const void *)&sc->word[t], 1);
  }
}

/* Position i of a pass: fetches ahead and returns the record of member
 * cand[i]. cand[] may grow meanwhile (the mark appends), and a pass may
 * skip stretches (the mark's light look-ahead): positions not loaded in
 * their turn are loaded when reached. */
HOT uint64_t fetch_ahead(const scan *sc, ahead *a, uint64_t i) {
  const uint32_t *cand = sc->cand;
  const uint64_t *where = sc->where;
  if (i + AHEAD_WHERE < sc->ncand)
    __builtin_prefetch(&where[cand[i + AHEAD_WHERE]]);
  if (a->next < i)
    a->next = i;
  for (; a->next < sc->ncand && a->next <= i + AHEAD_SLOTS; a->next++) {
    uint64_t wh = where[cand[a->next]];
    a->ring[a->next % AHEAD_RING] = wh;
    __builtin_prefetch(scan_edges(sc, wh));
  }
  if (i + AHEAD_TARGETS < a->next)
    fetch_targets(sc, a->ring[(i + AHEAD_TARGETS) % AHEAD_RING]);
  return a->ring[i % AHEAD_RING];
}

/* One reference to the member whose word w is WIDE: gc_refs - 1 in
 * wide[]. (A narrow word's decrement stops at the field's floor, see
 * BIAS: subtract_from().) */
static void subtract_wide(gcd_gc *gc, uint64_t w) {
  if ((w & REFS_MASK) != WIDE_ROOT)
    gc->wide[w & REFS_MASK].refs--;
}

/* Subtracts the references of the member whose record is wh from their
 * targets' gc_refs. Returns how many point inside the set, plus SUB_OUT if
 * one points outside it (to an older or untracked object). */
#define SUB_OUT (UINT64_C(1) << 63)

HOT uint64_t subtract_from(gcd_gc *gc, const scan *sc, uint64_t wh) {
  const _Atomic uint32_t *s = scan_edges(sc, wh);
  uint64_t r = 0;
  for (uint32_t k = 0, n = gcd_where_n(wh); k < n; k++) {
    uint32_t t = atomic_load_explicit(&s[k], memory_order_relaxed);
    uint64_t w;
    if (t == 0)
      continue;
    if (scan_member(sc, t, &w)) {
      if (__builtin_expect((w & WIDE) != 0, 0))
        subtract_wide(gc, w);
      else
        scan_set(sc, t, w - ((w & REFS_MASK) != 0));
      r++;
    } else {
      r |= SUB_OUT;
    }
  }
  return r;
}

/* The wide members' gc_refs back into their words, clamped to the field:
 * from here on only the sign matters. A WIDE_ROOT word is left as it is:
 * its low bits read as gc_refs BIAS - 1, referenced from outside. */
static void wide_settle(gcd_gc *gc) {
  uint64_t stamp = (uint64_t)gc->stamp << STAMP_SHIFT;
  for (uint64_t i = 0; i < gc->nwide; i++) {
    int64_t r = gc->wide[i].refs;
    r = r > (int64_t)REFS_MAX ? (int64_t)REFS_MAX : r < -(int64_t)BIAS ? -(int64_t)BIAS : r;
    word_set(gc, gc->wide[i].x, stamp | (uint64_t)((int64_t)BIAS + r));
  }
  gc->nwide = 0;
}

/* Then every reference from inside the set is subtracted. The members
 * that refer outside the set are listed in outs[], and the references
 * inside are counted, for free_unreachable(). */
void gcd_gc_subtract_refs(gcd_gc *gc) {
  if (gc->by_inref)
    return; /* the update did it */
  ahead a = {0};
  const scan sc = scan_of(gc);
  uint32_t *outs = gc->outs;
  uint64_t inside = 0, nouts = 0;
  for (uint64_t i = 0; i < sc.ncand; i++) {
    uint64_t r = subtract_from(gc, &sc, fetch_ahead(&sc, &a, i));
    if (r & SUB_OUT)
      outs[nouts++] = sc.cand[i];
    inside += r & ~SUB_OUT;
  }
  gc->refs_inside = inside;
  gc->nouts = nouts;
  wide_settle(gc);
}

/* x is reachable: so is every member it refers to. One not visited yet gets
 * gc_refs 1, so that its visit finds it reachable; one visited and found
 * tentatively unreachable is revived and queued again. Adds to *followed
 * the references to members; returns the members revived. */
HOT uint64_t reach_from(scan *sc, uint64_t wh, uint64_t *followed) {
  uint64_t w, revived = 0;
  const uint64_t reached = reached_word(sc->stamp);
  const _Atomic uint32_t *s = scan_edges(sc, wh);
  for (uint32_t k = 0, n = gcd_where_n(wh); k < n; k++) {
    uint32_t t = atomic_load_explicit(&s[k], memory_order_relaxed);
    if (t == 0 || !scan_member(sc, t, &w))
      continue;
    (*followed)++;
    /* Reached, unless it is already (gc_refs > 0 never goes with TENT).
     * The store is unconditional: whether a random target has been reached
     * before is a branch no predictor guesses, and mispredicting it cost a
     * reachable random graph's mark a third of its time. */
    uint64_t keep = (uint64_t)0 - (uint64_t)(refs_of(w) > 0);
    scan_set(sc, t, (w & keep) | (reached & ~keep));
    if (w & TENT) {
      sc->cand[sc->ncand++] = t;
      revived++;
    }
  }
  return revived;
}

/* The mark reads the slots of reachable members only. Where it has found
 * nothing reachable for a while (a stretch of garbage) it fetches ahead only
 * the words it will test, not records, slot arrays and targets it would not
 * read; a reachable member switches the full look-ahead back on for the
 * next MARK_HEAVY members. */
#define MARK_HEAVY 256

HOT void fetch_word_ahead(const scan *sc, uint64_t i) {
  if (i + AHEAD_TARGETS < sc->ncand)
    __builtin_prefetch((const void *)&sc->word[sc->cand[i + AHEAD_TARGETS]], 1);
}

/* Finish will write x's shared state if it frees x: the page is readied
 * now, outside the lock, once per scan (gcd_heap_warm_state), when the
 * mark first finds x unreachable. A member revived later has its page
 * readied for nothing, which costs one write. */
static void warm_state(gcd_gc *gc, uint32_t x, uint64_t *last) {
  uint64_t page = gcd_heap_state_page(gc->heap, x);
  if (page == *last) /* the pass runs in order: mostly the page before */
    return;
  *last = page;
  if (gc->warmed[page] != gc->stamp) {
    gc->warmed[page] = gc->stamp;
    gcd_heap_warm_state(gc->heap, x);
  }
}

/* CPython's move_unreachable, over cand[]: one walk in scan order. A member
 * with gc_refs > 0 is referenced from outside the set or by a member found
 * reachable before it; one with gc_refs <= 0 is tentatively unreachable
 * until a reachable member refers to it. Each member is revived at most
 * once, so cand[] (2 * cap) never overflows; and each reachable member's
 * references are followed exactly once (refs_reached counts them). */
static void mark_reachable(gcd_gc *gc) {
  uint64_t heavy_until = MARK_HEAVY, wh = 0, followed = 0, tent = 0, revived = 0;
  uint64_t page = UINT64_MAX; /* of the last state readied */
  ahead a = {0};
  scan sc = scan_of(gc);
  for (uint64_t i = 0; i < sc.ncand; i++) {
    bool heavy = i < heavy_until;
    if (heavy)
      wh = fetch_ahead(&sc, &a, i);
    else
      fetch_word_ahead(&sc, i);
    uint32_t x = sc.cand[i];
    uint64_t w = scan_word(&sc, x);
    if (refs_of(w) > 0) {
      revived += reach_from(&sc, heavy ? wh : sc.where[x], &followed);
      heavy_until = i + MARK_HEAVY;
    } else {
      scan_set(&sc, x, w | TENT);
      tent++;
      warm_state(gc, x, &page);
    }
  }
  gc->ncand = sc.ncand;
  gc->refs_reached = followed;
  gc->nunreach = tent - revived;
}

/* A working set that is all garbage (a heap of cycles, a ring): the mark
 * revived nothing, so cand[] lists exactly U, in scan order, and W's list
 * is left empty. With no survivor, no reference can lead from U to one: U
 * is closed without summing its counts. */
static bool split_all(gcd_gc *gc) {
  uint32_t ws = sentinel(gc, GCD_GC_WORK);
  if (gc->nunreach != gc->nwork)
    return false;
  assert(gc->ncand == gc->nwork); /* nothing revived, nothing appended */
  gc->next[ws] = gc->prev[ws] = ws;
  gc->count[GCD_GC_UNREACH] = gc->nwork;
  gc->unreach_closed = true;
  return true;
}

/* Nothing unreachable (a heap in use): U is empty, so closed, and W's list
 * is kept in the order it has, not relinked in scan order. */
static bool split_none(gcd_gc *gc) {
  if (gc->nunreach != 0)
    return false;
  gc->count[GCD_GC_UNREACH] = gc->ncand = 0;
  gc->unreach_closed = true;
  return true;
}

/* Members still TENT form U: they are listed in cand[] (its first nwork
 * entries are W in scan order; the rest, members the mark revived, are
 * done with) and leave every list; the others are linked into W again, in
 * that order. Where all of W is garbage or none of it is (split_all(),
 * split_none()), no link is written. The loop thread never touches the
 * links of working-set members, so this needs no lock.
 *
 * It also settles whether U is closed: whether no reference leads from U
 * to a member that survives. A member x of U has gc_refs 0 (unless the
 * loop thread changed it, which finish checks), so every reference to it
 * comes from U: the counts of U sum to the references from U to U. The
 * references from U to any member are those inside W less those the mark
 * followed from the survivors. The two agree iff none leads to a
 * survivor. */
static void split_unreachable(gcd_gc *gc) {
  uint32_t ws = sentinel(gc, GCD_GC_WORK), last = ws;
  uint64_t u = 0, counts = 0;
  gc->retag = gc->collecting == GCD_GC_GENERATIONS - 1 &&
              gc->nunreach >= gc->nwork - gc->nunreach;
  if (split_all(gc) || split_none(gc))
    return;
  for (uint64_t i = 0; i < gc->nwork; i++) {
    uint32_t x = gc->cand[i];
    if (word_get(gc, x) & TENT) {
      counts += gcd_heap_refcount(gc->heap, x);
      gc->cand[u++] = x;
      continue;
    }
    if (gc->retag)
      set_tag(gc, x, gc->surv_epoch);
    gc->next[last] = x;
    gc->prev[x] = last;
    last = x;
  }
  gc->next[last] = ws;
  gc->prev[ws] = last;
  gc->count[GCD_GC_UNREACH] = gc->ncand = u;
  gc->unreach_closed = counts == gc->refs_inside - gc->refs_reached;
}

void gcd_gc_mark(gcd_gc *gc) {
  mark_reachable(gc);
  split_unreachable(gc);
}

uint64_t gcd_gc_scan(gcd_gc *gc) {
  uint64_t n = gcd_gc_update_refs(gc);
  gcd_gc_subtract_refs(gc);
  gcd_gc_mark(gc);
  return n;
}

/* x is in U: this collection's member, still tentatively unreachable. */
static bool in_unreach(const gcd_gc *gc, uint32_t x) {
  uint64_t w = word_get(gc, x);
  return member(gc, w) && (w & TENT);
}

/* Objects freed during the scan: their children are already released; hand
 * their memory back now that nothing reads it. */
static uint64_t reap_zombies(gcd_gc *gc) {
  for (uint64_t i = 0; i < gc->nzombies; i++) {
    uint32_t z = gc->zombies[i];
    if (in_unreach(gc, z))
      gc->count[GCD_GC_UNREACH]--; /* on no list */
    else
      unlink_one(gc, z);
    word_set(gc, z, 0); /* in no set any more */
    set_tag(gc, z, GCD_GC_T_NONE);
    gcd_heap_free_entry(gc->heap, z);
  }
  uint64_t n = gc->nzombies;
  gc->nzombies = 0;
  return n;
}

/* x of U survives: back to the working set, and onto the stack. */
static void revive(gcd_gc *gc, uint32_t x, uint64_t *top) {
  word_set(gc, x, reached_word(gc->stamp));
  if (gc->retag)
    set_tag(gc, x, gc->surv_epoch);
  link_tail(gc, GCD_GC_WORK, x);
  gc->count[GCD_GC_UNREACH]--;
  gc->stack[(*top)++] = x;
}

/* Revives every member of U reachable from the stack. Each object is pushed
 * once (it leaves U when pushed), so the stack never overflows. */
static uint64_t revive_reachable(gcd_gc *gc, uint64_t top) {
  uint64_t n = 0;
  while (top > 0) {
    uint64_t wh = gc->heap->where[gc->stack[--top]];
    const _Atomic uint32_t *s = where_edges(gc, wh);
    n++;
    for (uint32_t k = 0, ns = gcd_where_n(wh); k < ns; k++) {
      uint64_t w;
      uint32_t t = target(gc, &s[k], &w);
      if (t != 0 && (w & TENT))
        revive(gc, t, &top);
    }
  }
  return n;
}

/* A dirty object of U may have gained a referrer the scan did not see: it and
 * everything it reaches in U survive. Only the touched entries can be
 * dirty. */
static uint64_t rescue_dirty(gcd_gc *gc) {
  uint64_t rescued = 0;
  for (uint64_t i = 0; i < gc->ntouched; i++) {
    uint32_t x = gc->touched[i];
    uint64_t top = 0;
    if (in_work(gc, x))
      gc->unreach_closed = false; /* its count or slots changed */
    if (!in_unreach(gc, x))
      continue;
    revive(gc, x, &top);
    rescued += revive_reachable(gc, top);
  }
  gc->ntouched = 0;
  return rescued;
}

/* Survivors join the next generation: a splice and a boundary move. */
static void promote(gcd_gc *gc, uint64_t survivors) {
  int gen = gc->collecting, to = gen + 1 < GCD_GC_GENERATIONS ? gen + 1 : gen;
  gc->count[GCD_GC_WORK] = survivors;
  splice(gc, GCD_GC_WORK, to);
  gc->young_from = gc->work_epoch;
  if (gen >= 1)
    gc->middle_from = gc->work_epoch;
  if (gc->retag)
    gc->old_from = gc->surv_epoch; /* the survivors' tag; below it, U's */
  if (gen == 1)
    gc->long_lived_pending += survivors;
  if (gen == 2) {
    gc->long_lived_pending = 0;
    gc->long_lived_total = gc->count[2];
  }
}

/* Under save-all the garbage list holds a reference on each object, as
 * gc.garbage does, so nothing is freed. U is the members of cand[] still
 * tentatively unreachable (not reaped, not rescued). */
static void save_unreachable(gcd_gc *gc) {
  for (uint64_t i = 0; i < gc->ncand; i++) {
    uint32_t x = gc->cand[i];
    if (!in_unreach(gc, x))
      continue;
    set_tag(gc, x, GCD_GC_T_GARBAGE);
    word_set(gc, x, 0);
    link_tail(gc, GCD_GC_GARBAGE, x);
    gc->count[GCD_GC_GARBAGE]++;
    gcd_heap_incref(gc->heap, x);
  }
  gc->count[GCD_GC_UNREACH] = 0;
}

/* Drops the references leaving U from x's slots (cascading frees of
 * survivors are ordinary frees now); references inside U just vanish. The
 * edges are only read, the shared slots not at all: the slot array goes
 * back to the arena with x, and an allocation zeroes the slots (and edges)
 * it hands out. */
static uint64_t release_outside(gcd_gc *gc, uint64_t wh) {
  uint64_t freed = 0;
  const _Atomic uint32_t *s = where_edges(gc, wh);
  for (uint32_t k = 0, n = gcd_where_n(wh); k < n; k++) {
    uint32_t t = atomic_load_explicit(&s[k], memory_order_relaxed);
    if (t != 0 && !in_unreach(gc, t))
      freed += gcd_heap_decref_slot(gc->heap, t);
  }
  return freed;
}

/* Frees U's entries, packed to cand[0..u) by a release pass below, in
 * that order, which is the order they were allocated in for a graph built
 * in one go, so the heap gives their slot arrays back a run at a time.
 * First their tags say T_NONE, in a pass of their own (on this machine,
 * writing them in the loop that packs U cost more than a second loop
 * does); not needed when the survivors were retagged: the range U's tags
 * lie in is then given up (promote()). U is on no list (freeing an entry
 * calls no collector hook). */
static uint64_t free_packed(gcd_gc *gc, uint64_t u) {
  assert(u == gc->count[GCD_GC_UNREACH]); /* cand[] and the count agree */
  if (!gc->retag)
    for (uint64_t i = 0; i < u; i++)
      set_tag(gc, gc->cand[i], GCD_GC_T_NONE);
  gcd_heap_free_entries(gc->heap, gc->cand, u);
  gc->count[GCD_GC_UNREACH] = 0;
  return u;
}

/* Where U is closed (split_unreachable): only the members listed in
 * outs[] have references to release, so no other member's record, slots or
 * word is read at all. U is as the split left it, packed in cand[]: a
 * rescue or a member freed during the scan would have withdrawn the
 * closure. Returns the objects the releases freed. */
static uint64_t release_closed(gcd_gc *gc, uint64_t *u) {
  uint64_t freed = 0;
  for (uint64_t i = 0; i < gc->nouts; i++) {
    uint32_t x = gc->outs[i];
    if (in_unreach(gc, x)) /* else a survivor */
      freed += release_outside(gc, gc->heap->where[x]);
  }
  *u = gc->ncand;
  return freed;
}

/* Otherwise every member's references leaving U are released, walking
 * cand[] (which the split filled with U, in scan order) so that records
 * and targets are fetched ahead, and packing the members still in U (not
 * reaped, not rescued) to its front. */
static uint64_t release_all(gcd_gc *gc, uint64_t *u) {
  uint64_t freed = 0;
  ahead a = {0};
  const scan sc = scan_of(gc);
  for (uint64_t i = 0; i < gc->ncand; i++) {
    uint64_t wh = fetch_ahead(&sc, &a, i);
    uint32_t x = gc->cand[i];
    if (!in_unreach(gc, x))
      continue;
    freed += release_outside(gc, wh);
    gc->cand[(*u)++] = x;
  }
  return freed;
}

/* Frees U: the references leaving it, then its entries. A member's word
 * keeps its TENT mark to the end, as the test for references inside U
 * reads it; the stamp goes stale with this collection, and tracking an
 * entry again zeroes its word. */
static uint64_t free_unreachable(gcd_gc *gc) {
  uint64_t u = 0;
  uint64_t freed = gc->unreach_closed ? release_closed(gc, &u) : release_all(gc, &u);
  return freed + free_packed(gc, u);
}

void gcd_gc_finish(gcd_gc *gc, gcd_gc_result *out) {
  gcd_gc_result r = {.generation = gc->collecting};
  uint64_t examined = gc->count[GCD_GC_WORK];
  if (gc->nzombies > 0)
    gc->unreach_closed = false; /* members were freed during the scan */
  uint64_t zombies = reap_zombies(gc);
  r.rescued = rescue_dirty(gc);
  uint64_t unreachable = gc->count[GCD_GC_UNREACH];
  r.examined = examined;
  r.unreachable = unreachable;
  r.survivors = examined - zombies - unreachable;
  promote(gc, r.survivors);
  gc->active = false;
  gcd_gc_genstats *st = &gc->stats[r.generation];
  st->collections++;
  st->collected += unreachable;
  if (gc->debug & GCD_GC_DEBUG_SAVEALL) {
    save_unreachable(gc);
    st->uncollectable += unreachable;
  } else {
    r.freed = free_unreachable(gc);
  }
  gc->last = r;
  if (out != NULL)
    *out = r;
}

void gcd_gc_collect(gcd_gc *gc, int gen, gcd_gc_result *out) {
  gcd_gc_begin(gc, gen);
  gcd_gc_scan(gc);
  gcd_gc_finish(gc, out);
}

/* ------------------------------------------------------------------------
 * Policy and administration (lock held, no collection active).
 * ---------------------------------------------------------------------- */

int gcd_gc_due(const gcd_gc *gc) {
  if (!gc->enabled || gc->active || gc->threshold[0] == 0)
    return -1;
  for (int g = GCD_GC_GENERATIONS - 1; g >= 0; g--) {
    if (gc->gen_count[g] <= (int64_t)gc->threshold[g])
      continue;
    if (g == GCD_GC_GENERATIONS - 1 &&
        gc->long_lived_pending < gc->long_lived_total / 4)
      continue;
    return g;
  }
  return -1;
}

void gcd_gc_freeze(gcd_gc *gc) {
  renumber_if_due(gc);
  for (int g = 0; g < GCD_GC_GENERATIONS; g++)
    splice(gc, g, GCD_GC_PERMANENT);
  gc->frozen_below = ++gc->epoch; /* every tag handed out so far */
  gc->gen_count[0] = 0;
}

void gcd_gc_unfreeze(gcd_gc *gc) {
  uint32_t ps = sentinel(gc, GCD_GC_PERMANENT);
  for (uint32_t x = gc->next[ps]; x != ps; x = gc->next[x])
    if (tag_of(gc, x) < gc->old_from) /* frozen before a full collection */
      set_tag(gc, x, gc->old_from);
  splice(gc, GCD_GC_PERMANENT, 2);
  if (gc->middle_from < gc->frozen_below)
    gc->middle_from = gc->frozen_below;
  if (gc->young_from < gc->frozen_below)
    gc->young_from = gc->frozen_below;
  gc->frozen_below = 0;
}

/* The objects rejoin generation 0 as if just allocated, so that the next
 * young collection frees what is still unreachable. */
uint64_t gcd_gc_clear_garbage(gcd_gc *gc) {
  uint32_t gs = sentinel(gc, GCD_GC_GARBAGE);
  uint64_t n = gc->count[GCD_GC_GARBAGE];
  for (uint32_t x = gc->next[gs]; x != gs; x = gc->next[x])
    set_tag(gc, x, gc->epoch);
  splice(gc, GCD_GC_GARBAGE, 0);
  gc->gen_count[0] += (int64_t)n;
  /* Drop the list's references last: a drop may free, which unlinks. */
  uint32_t *held = gc->stack;
  uint64_t k = 0;
  uint32_t s0 = sentinel(gc, 0);
  for (uint32_t x = gc->prev[s0]; k < n; x = gc->prev[x])
    held[k++] = x;
  for (uint64_t i = 0; i < k; i++)
    gcd_heap_decref(gc->heap, held[i]);
  return n;
}

void gcd_gc_set_threshold(gcd_gc *gc, const uint64_t t[GCD_GC_GENERATIONS]) {
  for (int g = 0; g < GCD_GC_GENERATIONS; g++)
    gc->threshold[g] = t[g];
}

int gcd_gc_generation(const gcd_gc *gc, uint32_t idx) {
  if (in_work(gc, idx))
    return gc->collecting; /* a survivor may be retagged already */
  return list_of_tag(gc, tag_of(gc, idx));
}

uint64_t gcd_gc_each(const gcd_gc *gc, int list, uint64_t limit,
                     int (*fn)(uint32_t idx, void *arg), void *arg) {
  uint32_t s = sentinel(gc, list);
  uint64_t n = 0;
  for (uint32_t x = gc->next[s]; x != s && (limit == 0 || n < limit);
       x = gc->next[x]) {
    n++;
    if (fn(x, arg) != 0)
      break;
  }
  return n;
}

/* ------------------------------------------------------------------------
 * Verification.
 * ---------------------------------------------------------------------- */

/* Walks one list: links consistent, members tracked, live and tagged for it. */
static int verify_list(const gcd_gc *gc, int list, uint64_t *seen, char *msg,
                       size_t len) {
  uint32_t s = sentinel(gc, list);
  uint64_t n = 0;
  for (uint32_t x = gc->next[s]; x != s; x = gc->next[x], n++) {
    if (x >= gc->cap || gc->next[gc->prev[x]] != x || n > gc->cap) {
      snprintf(msg, len, "collector list %d: broken link at %u", list, x);
      return GC_ECORRUPT;
    }
    uint32_t fl = gcd_heap_flags(gc->heap, x);
    if (!(fl & GCD_OBJ_LIVE) || !(fl & GCD_OBJ_TRACKED) ||
        gcd_gc_generation(gc, x) != list) {
      snprintf(msg, len, "collector list %d: object %u (flags 0x%x) belongs to list %d",
               list, x, fl, gcd_gc_generation(gc, x));
      return GC_ECORRUPT;
    }
  }
  if (n != gc->count[list]) {
    snprintf(msg, len, "collector list %d holds %llu objects, counted %llu", list,
             (unsigned long long)n, (unsigned long long)gc->count[list]);
    return GC_ECORRUPT;
  }
  *seen += n;
  return 0;
}

int gcd_gc_verify(const gcd_gc *gc, char *msg, size_t len) {
  uint64_t seen = 0, tracked = 0;
  if (gc->active) {
    snprintf(msg, len, "collector: verify during a collection");
    return GC_EBUSY;
  }
  for (int l = 0; l <= GCD_GC_GARBAGE; l++) {
    int rc = verify_list(gc, l, &seen, msg, len);
    if (rc != 0)
      return rc;
  }
  for (uint64_t i = 1; i < gc->heap->table_hwm; i++) {
    uint32_t fl = gcd_heap_flags(gc->heap, (uint32_t)i);
    tracked += (fl & GCD_OBJ_LIVE) && (fl & GCD_OBJ_TRACKED);
  }
  if (tracked != seen) {
    snprintf(msg, len, "collector: %llu tracked objects live, %llu on lists",
             (unsigned long long)tracked, (unsigned long long)seen);
    return GC_ECORRUPT;
  }
  return 0;
}
