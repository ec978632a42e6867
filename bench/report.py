"""Prints bench/run.sh's figures, one line each, gcd beside its reference
with the ratio. Input: "key value" lines; a key given several times (one
per repetition) counts as the median of its values.

usage: report.py RESULTS
"""
import statistics
import sys


def load(path):
    vals = {}
    for line in open(path):
        parts = line.split(None, 1)
        if len(parts) == 2:
            vals.setdefault(parts[0], []).append(parts[1].strip())
    out = {}
    for k, v in vals.items():
        try:
            out[k] = statistics.median(float(x) for x in v)
        except ValueError:
            out[k] = v[0]
    return out


def si(x):
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= div:
            return f"{x / div:.2f}{unit}"
    return f"{x:.0f}"


def ms(ns):
    return f"{ns / 1e6:.2f} ms" if ns >= 1e5 else f"{ns / 1e3:.1f} us"


def collection(r):
    print("== collection throughput vs CPython gc.collect() (objects examined per second; "
          "gcd: daemon-side duration)")
    for shape, what in (("cycles", "(a) 2-object cycles"), ("ring", "(b) one ring"),
                        ("random", "(c) random, unreachable"),
                        ("reach", "(d) random, reachable"), ("frozen", "(e) (d) frozen")):
        g, p = f"gcd.collect.{shape}.", f"py.collect.{shape}."
        if g + "ns" not in r or p + "ns" not in r:
            continue
        gn, pn = r[g + "ns"], r[p + "ns"]
        ge, pe = r[g + "examined"], r[p + "examined"]
        n = int(r[g + "objects"])
        if shape == "frozen":
            # Both examine nothing, so there is no throughput to compare:
            # the times are a collection's fixed cost on either side.
            print(f"{what:28} n={n:<9} gcd {ms(gn):>10} (examined {ge:.0f})   "
                  f"CPython {ms(pn):>10} (examined {pe:.0f})   fixed cost only, "
                  f"time ratio CPython/gcd {pn / max(gn, 1):.2f}x")
            continue
        gr, pr = ge * 1e9 / gn, pe * 1e9 / pn
        print(f"{what:28} n={n:<9} gcd {si(gr):>7}/s ({ms(gn)})   CPython {si(pr):>7}/s "
              f"({ms(pn)})   gcd/CPython {gr / pr:.2f}x")


def pause(r):
    if "gcd.pause.loop_stall_max_ns" not in r:
        return
    print("== pause: small requests (gc_refcount) during a full collection of (d)")
    print(f"daemon loop_stall_max {ms(r['gcd.pause.loop_stall_max_ns'])}   "
          f"collection {ms(r['gcd.pause.collect_ns'])}   "
          f"CPython stops the program for gc.collect() of (d): "
          f"{ms(r.get('py.collect.reach.ns', 0))}")
    for k, what in (("idle", "idle daemon"), ("collecting", "during collection")):
        p = f"gcd.pause.{k}."
        print(f"round trip, {what:18} p50 {ms(r[p + 'p50_ns']):>9}  p99 {ms(r[p + 'p99_ns']):>9}  "
              f"max {ms(r[p + 'max_ns']):>9}  ({r[p + 'samples']:.0f} requests)")


def gcd_lines(r, pre, d, ref, rs, rd, cases):
    for case, what in cases:
        g = r.get(f"{pre}{case}.p{d}.ops_per_s")
        if g is not None:
            print(f"depth {d:2}: gcd {what:32} {si(g):>7} ops/s   Redis SET {si(rs):>7} "
                  f"DEL {si(rd):>7} ops/s   gcd/Redis {g / ref:.2f}x")


def latency(r, p, q):
    if p + "p50_ns" in r and q + "p50_ns" in r:
        print(f"latency depth 1: gcd p50 {ms(r[p + 'p50_ns'])} p99 {ms(r[p + 'p99_ns'])}   "
              f"Redis SET p50 {ms(r[q + 'p50_ns'])} "
              f"p99 {ms(r[q + 'p99_ns'])}   p50 Redis/gcd "
              f"{r[q + 'p50_ns'] / r[p + 'p50_ns']:.2f}x")


ANSWERED = lambda d: (("alloc_release", "alloc+release (synchronous)"),
                      ("retain_release", "retain+release (synchronous)")) if d == 1 else \
    (("alloc_release_answered", "alloc+release (all answered)"),
     ("retain_release", "retain+release (all answered)"))


def same_loop(r, pre):
    print("-- Redis behind a loop like gcd's client (a send, then receives), polling for up "
          "to 50 us first or sleeping at once; gcd as above, both ends polling or neither "
          "(Redis has no polling of its own)")
    for d in (1, 16):
        for how, key, gpre in (("polling", "", "gcd.ops."), ("sleeping", ".sleep", "gcd.ops.sleep.")):
            same = f"{pre}redis.same_client{key}."
            if same + f"set.p{d}.ops_per_s" not in r:
                continue
            rs, rd = r[same + f"set.p{d}.ops_per_s"], r[same + f"del.p{d}.ops_per_s"]
            ref = (rs + rd) / 2
            ga, gr = (r.get(f"{pre}{gpre}{c}.p{d}.ops_per_s", 0) for c, _ in ANSWERED(d))
            print(f"depth {d:2}, {how:8}: Redis SET {si(rs):>7} DEL {si(rd):>7} ops/s; gcd/Redis, "
                  f"every operation answered: alloc+release {ga / ref:.2f}x, "
                  f"retain+release {gr / ref:.2f}x")
    if pre:
        return
    u = "alloc_release.p1.lat.under_10us_pct"
    v = "set.p1.lat.under_10us_pct"
    nan = float("nan")
    print(f"depth 1, round trips under 10 us: gcd polling "
          f"{r.get('gcd.ops.' + u, nan):.1f} %, sleeping {r.get('gcd.ops.sleep.' + u, nan):.1f} %; "
          f"Redis behind the same loop polling {r.get('redis.same_client.' + v, nan):.1f} %, "
          f"sleeping {r.get('redis.same_client.sleep.' + v, nan):.1f} %")


def cpu(r, pre):
    k = "retain_release.p1.cpu_ns_per_op."
    parts = []
    for how, gpre in (("polling", "gcd.ops."), ("sleeping", "gcd.ops.sleep.")):
        c, d = r.get(f"{pre}{gpre}{k}client"), r.get(f"{pre}{gpre}{k}daemon")
        if c is not None and d is not None:
            parts.append(f"{how}: client {c / 1e3:.1f} + daemon {d / 1e3:.1f} = "
                         f"{(c + d) / 1e3:.1f} us")
    if parts:
        print("CPU time per operation, depth 1 retain+release: " + "; ".join(parts))


def ops(r, pre="", title="== operations vs Redis (one connection; redis-benchmark -c 1 -d 16)"):
    if pre + "redis.set.p1.ops_per_s" not in r:
        return
    print(title)
    print("-- gcd as by default: client and daemon each poll for up to 50 us before they sleep")
    refs = {}
    for d in (1, 16):
        rs = r.get(f"{pre}redis.set.p{d}.ops_per_s")
        rd = r.get(f"{pre}redis.del.p{d}.ops_per_s")
        if rs is None:
            continue
        refs[d] = ((rs + rd) / 2, rs, rd)
        gcd_lines(r, pre + "gcd.ops.", d, *refs[d], (
            ("alloc_release", "alloc+release (" +
             ("synchronous)" if d == 1 else "release one-way)")),
            ("alloc_release_answered", "alloc+release (all answered)"),
            ("retain_release", "retain+release (" +
             ("synchronous)" if d == 1 else "all answered)")),
            ("retain_release_oneway", "retain+release (all one-way)")))
    latency(r, pre + "gcd.ops.alloc_release.p1.lat.", pre + "redis.set.p1.lat.")
    if f"{pre}gcd.ops.sleep.retain_release.p1.ops_per_s" in r:
        print("-- gcd with neither polling (GC_OPT_SPIN_US 0, gcd --spin-us 0)")
        for d in refs:
            gcd_lines(r, pre + "gcd.ops.sleep.", d, *refs[d], ANSWERED(d))
        latency(r, pre + "gcd.ops.sleep.alloc_release.p1.lat.", pre + "redis.set.p1.lat.")
    cpu(r, pre)
    same_loop(r, pre)


def ops_one_cpu(r):
    ops(r, "cpu1.", "== the same with each side on one CPU (taskset: gcd and its client on "
        "one, Redis and redis-benchmark on one; no wakeup of another CPU in a round trip)")


def managers(r):
    m = r.get("mp.create_drop.ops_per_s")
    if m is None:
        return
    print("== create + drop of a shared object vs multiprocessing.managers")
    for k, what in (("sync", "synchronous"), ("oneway", "one-way release")):
        g = r[f"gcd.mp.create_drop_{k}.ops_per_s"]
        print(f"gcd alloc+release ({what:15}) {si(g):>7}/s   managers {si(m):>7}/s   "
              f"gcd/managers {g / m:.0f}x")


def scale(r):
    if "gcd.scale.aggregate.ops_per_s" in r:
        print("== scale")
        print(f"{r['gcd.scale.procs']:.0f} processes alloc/link/release at once: "
              f"{si(r['gcd.scale.aggregate.ops_per_s'])} requests/s aggregate")
    if "gcd.heap.objects" not in r:
        return
    n = r["gcd.heap.objects"]
    segs = "  ".join(f"{r[k] / 2**20:.0f} MiB" for k in sorted(r)
                     if k.startswith("gcd.heap.segment"))
    print(f"heap of {si(n)} objects: daemon RSS {r['gcd.heap.rss_kb'] / 1024:.0f} MiB "
          f"(shared {r['gcd.heap.rss_shmem_kb'] / 1024:.0f} MiB), "
          f"{r['gcd.heap.bytes_per_object']:.0f} bytes/object; segments mapped {segs}")
    t1, n1 = r.get("gcd.collect.reach.ns"), r.get("gcd.collect.reach.objects")
    t10 = r["gcd.heap.collect_ns"]
    if t1:
        print(f"full collection, all reachable: {si(n1)} in {ms(t1)}, {si(n)} in {ms(t10)}: "
              f"{n / n1:.0f}x the objects cost {t10 / t1:.1f}x the time "
              f"({t1 / n1:.0f} -> {t10 / n:.0f} ns/object)")


def main():
    r = load(sys.argv[1])
    print(f"machine: {str(r.get('machine.cpu', '?')).replace('_', ' ')}, "
          f"{r.get('machine.cores', 0):.0f} cores, {r.get('machine.ram_kb', 0) / 2**20:.0f} GiB, "
          f"Linux {r.get('machine.kernel', '?')}, CPython {r.get('py.version', '?')}, "
          f"Redis {r.get('machine.redis', '?')}")
    for part in (collection, pause, ops, ops_one_cpu, managers, scale):
        part(r)


if __name__ == "__main__":
    main()
