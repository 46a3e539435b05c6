#!/usr/bin/env python3
"""coll_bench.py -- ARCUS collections (doc/collections.md): memory per
element and element operations per second, next to plain items in the
same run.

Memory: N elements of a V-byte value go into collections of E elements
each (list, set, map with an 8-byte field, b+tree with an integer bkey),
and N plain items (16-byte key, the same V-byte value) into a fresh server;
both sides count whole slab chunks (`stats slabs`: used_chunks x
chunk_size summed over classes, heads included), so nothing a chunk
wastes is hidden.

Throughput: one server worker (-t 1, pinned to core 0 when possible);
each workload sends pre-built batches of pipelined commands (--depth in
flight per connection, --conns connections) for --seconds and counts the
replies; plain set/get run first and last in the same server.  Every
reply is checked by its count of terminators (STORED / END lines).

    bench/coll_bench.py [--bin build/memcached] [--elements 100000]
"""

import argparse
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import Client, start_server, stop, can_pin, key16  # noqa: E402


def chunk_bytes(c):
    st = c.stats("slabs")
    total = 0
    for k, v in st.items():
        if k.endswith(":used_chunks"):
            cls = k.split(":")[0]
            total += int(v) * int(st[cls + ":chunk_size"])
    return total


def run_batches(c, cmds, term, expect):
    """Send cmds (a list of bytes) and wait for `expect` replies, each
    ending in term (counted across chunk borders)."""
    data = b"".join(cmds)
    c.send(data)
    seen, tail = 0, b""
    while seen < expect:
        d = c.sock.recv(1 << 20)
        if not d:
            raise RuntimeError("server closed")
        buf = tail + d
        seen += buf.count(term)
        tail = buf[-(len(term) - 1):] if len(term) > 1 else b""
    if seen != expect:
        raise RuntimeError("%d replies for %d requests" % (seen, expect))


def fill(port, make, n, batch=1000, term=b"\r\n"):
    c = Client(port)
    for i in range(0, n, batch):
        cmds = [make(j) for j in range(i, min(n, i + batch))]
        run_batches(c, cmds, term, len(cmds))
    c.close()


def value(i, size):
    s = (b"%08d" % i) * (size // 8 + 1)
    return s[:size]


def memory(binary, n, per, size):
    out = {}
    kinds = {
        "plain": lambda i: b"set %s 0 0 %d\r\n%s\r\n" % (key16(i), size, value(i, size)),
        "list": lambda i: b"lop insert L%05d -1 %d create 0 0 0\r\n%s\r\n"
                          % (i // per, size, value(i, size)),
        "set": lambda i: b"sop insert S%05d %d create 0 0 0\r\n%s\r\n"
                         % (i // per, size, value(i, size)),
        "map": lambda i: b"mop insert M%05d f%07d %d create 0 0 0\r\n%s\r\n"
                         % (i // per, i, size, value(i, size)),
        "b+tree": lambda i: b"bop insert B%05d %d %d create 0 0 0\r\n%s\r\n"
                            % (i // per, i, size, value(i, size)),
    }
    for name, make in kinds.items():
        srv = start_server("ours", binary, mem_mb=1024, threads=1)
        try:
            c = Client(srv.port)
            before = chunk_bytes(c)
            fill(srv.port, make, n)
            after = chunk_bytes(c)
            st = c.stats()
            c.close()
            out[name] = {"chunk_bytes": after - before, "per_element": (after - before) / n,
                         "stats_bytes": int(st["bytes"]), "curr_items": int(st["curr_items"])}
        finally:
            stop(srv)
    return out


def throughput(binary, seconds, conns, depth, n, per, size):
    cpu = 0 if can_pin() else None
    srv = start_server("ours", binary, mem_mb=1024, threads=1, cpu=cpu)
    ncoll = max(1, n // per)
    v = value(7, size)
    work = [
        ("set", lambda i: b"set %s 0 0 %d\r\n%s\r\n" % (key16(i % n), size, v), b"\r\n"),
        ("get", lambda i: b"get %s\r\n" % key16(i % n), b"END\r\n"),
        ("lop insert", lambda i: b"lop insert L%05d -1 %d create 0 0 0\r\n%s\r\n"
                                 % (i % ncoll, size, v), b"\r\n"),
        ("lop get", lambda i: b"lop get L%05d -1\r\n" % (i % ncoll), b"\r\nEND\r\n"),
        ("sop insert", lambda i: b"sop insert S%05d %d create 0 0 0\r\n%s\r\n"
                                 % (i % ncoll, size, value(i % n, size)), b"\r\n"),
        ("sop exist", lambda i: b"sop exist S%05d %d\r\n%s\r\n"
                                % (i % ncoll, size, value(i % n, size)), b"\r\n"),
        ("mop insert", lambda i: b"mop upsert M%05d f%07d %d create 0 0 0\r\n%s\r\n"
                                 % (i % ncoll, i % n, size, v), b"\r\n"),
        ("mop get", lambda i: b"mop get M%05d 8 1\r\nf%07d\r\n" % (i % ncoll, i % n),
         b"\r\nEND\r\n"),
        ("bop insert", lambda i: b"bop upsert B%05d %d %d create 0 0 0\r\n%s\r\n"
                                 % (i % ncoll, i % n, size, v), b"\r\n"),
        ("bop get", lambda i: b"bop get B%05d %d\r\n" % (i % ncoll, i % n), b"\r\nEND\r\n"),
        ("set (again)", lambda i: b"set %s 0 0 %d\r\n%s\r\n" % (key16(i % n), size, v), b"\r\n"),
        ("get (again)", lambda i: b"get %s\r\n" % key16(i % n), b"END\r\n"),
    ]
    results = []
    try:
        for name, make, term in work:
            # batches built before the clock starts: the client only sends
            # and counts (bytes.count), so the server's worker is the limit;
            # a get reads keys (elements) the insert before it wrote
            nb = 64
            batches = [[make(b * depth + j) for j in range(depth)] for b in range(nb)]
            done = [0] * conns
            stop_at = [0.0]

            def client(ci):
                c = Client(srv.port)
                k = ci
                while time.monotonic() < stop_at[0]:
                    run_batches(c, batches[k % nb], term, depth)
                    done[ci] += depth
                    k += conns
                c.close()
            stop_at[0] = time.monotonic() + seconds
            t0 = time.monotonic()
            th = [threading.Thread(target=client, args=(i,)) for i in range(conns)]
            for t in th:
                t.start()
            for t in th:
                t.join()
            dt = time.monotonic() - t0
            results.append({"workload": name, "ops": sum(done), "ops_per_s": sum(done) / dt})
    finally:
        stop(srv)
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "build",
                                                  "memcached"))
    ap.add_argument("--elements", type=int, default=100000)
    ap.add_argument("--per", type=int, default=1000, help="elements per collection")
    ap.add_argument("--size", type=int, default=32, help="value bytes")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--conns", type=int, default=2)
    ap.add_argument("--depth", type=int, default=500)
    a = ap.parse_args()
    mem = memory(a.bin, a.elements, a.per, a.size)
    print("memory, %d elements of %d bytes (%d per collection), whole chunks:"
          % (a.elements, a.size, a.per))
    base = mem["plain"]["per_element"]
    for k, m in mem.items():
        print("  %-7s %7.1f B/element  (%.2fx plain)" % (k, m["per_element"],
                                                        m["per_element"] / base))
    # the get workloads read what the fills of the same run wrote
    tp = throughput(a.bin, a.seconds, a.conns, a.depth, a.elements, a.per, a.size)
    print("throughput, one worker, %d conns x %d pipelined:" % (a.conns, a.depth))
    for r in tp:
        print("  %-12s %10.0f ops/s" % (r["workload"], r["ops_per_s"]))
    print(json.dumps({"memory": mem, "throughput": tp}))


if __name__ == "__main__":
    main()
