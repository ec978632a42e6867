"""CPython's side of the collection benchmark: the graphs gcbench builds in
gcd, built here from objects of a class with __slots__ of two references,
and gc.collect() timed. Prints "key value" lines (medians over REPS).

usage: cpython_gc.py SHAPE N REPS     shapes: cycles ring random reach frozen
"""
import gc
import statistics
import sys
import time

M64 = (1 << 64) - 1


def splitmix64(x):
    """The generator gcbench.c uses, so both build the same edges."""
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


class Node:
    __slots__ = ("a", "b")

    def __init__(self):
        self.a = None
        self.b = None


def build(shape, n):
    """n linked nodes; returns the list holding them."""
    objs = [Node() for _ in range(n)]
    if shape == "cycles":
        for i in range(n):
            objs[i].a = objs[i ^ 1]
    elif shape == "ring":
        for i in range(n):
            objs[i].a = objs[(i + 1) % n]
    else:
        for i in range(n):
            objs[i].a = objs[(i + 1) % n]
            objs[i].b = objs[splitmix64(i) % n]
    return objs


def one_run(shape, n):
    """Builds, drops what gcd drops, collects; (examined, ns, found)."""
    objs = build(shape, n)
    root = objs[0] if shape in ("reach", "frozen") else None
    del objs
    if shape == "frozen":
        gc.freeze()
    examined = len(gc.get_objects())
    t0 = time.perf_counter_ns()
    found = gc.collect()
    ns = time.perf_counter_ns() - t0
    return root, examined, ns, found


def main():
    shape, n, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    gc.disable()
    gc.collect()
    times, examined, found, root = [], 0, 0, None
    for _ in range(reps):
        if root is None:
            t0 = time.perf_counter_ns()
            root, examined, ns, found = one_run(shape, n)
            build_ns = time.perf_counter_ns() - t0 - ns
        else:  # the same reachable graph, collected again, as gcd does
            examined = len(gc.get_objects())
            t0 = time.perf_counter_ns()
            found = gc.collect()
            ns = time.perf_counter_ns() - t0
        times.append(ns)
    print(f"py.collect.{shape}.objects {n}")
    print(f"py.collect.{shape}.examined {examined}")
    print(f"py.collect.{shape}.found {found}")
    print(f"py.collect.{shape}.ns {int(statistics.median(times))}")
    print(f"py.collect.{shape}.build_ns {build_ns}")
    print(f"py.version {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
