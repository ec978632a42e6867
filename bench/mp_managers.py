"""multiprocessing.managers' side: create and drop a shared object through
a manager (a proxy's creation is a round trip to the manager process, its
drop a decref message). Prints "key value" lines.

usage: mp_managers.py N
"""
import sys
import time
from multiprocessing.managers import SyncManager


class Box:
    """A small shared object, like a 16-byte payload in gcd."""

    def __init__(self):
        self.data = b"x" * 16


SyncManager.register("Box", Box)


def main():
    n = int(sys.argv[1])
    with SyncManager() as m:
        for _ in range(100):  # warm up the connection
            del _
            m.Box()
        t0 = time.perf_counter_ns()
        for _ in range(n):
            b = m.Box()
            del b
        ns = time.perf_counter_ns() - t0
    print(f"mp.create_drop.ops_per_s {n * 1e9 / ns:.0f}")


if __name__ == "__main__":
    main()
