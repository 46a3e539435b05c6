"""stats hotkeys [N] (ours; doc/protocol.md "Hot keys").

The accuracy test drives a Zipf(0.99) sequence of gets over 100k keys,
drawn with a fixed seed, counts the truth client-side, and checks that
the server, with its default sampling (one lookup in 16) and sketch size,
names the true top 10 and gets each count within 10%.  The other tests
pin the reply format, which lookups count (every get path, hit or miss),
the argument errors, stats reset, and the disabled state.  memcached has
no such command: these run against ours only.
"""

import bisect
import collections
import random
import re
import struct
import urllib.parse

from harness import check, eq, server, stats
import binproto as B

HOT_RX = re.compile(rb"^STAT hotkey:(\d+):(key|count) (\S+)\r\n", re.M)


def hotkeys(conn, n=None):
    """[(key bytes, count)] of `stats hotkeys [n]` (rank order checked),
    the stats as a dict, and the raw reply."""
    d, raw = stats(conn, b"hotkeys" + (b" %d" % n if n is not None else b""))
    ranks = collections.defaultdict(dict)
    for m in HOT_RX.finditer(raw):
        ranks[int(m.group(1))][m.group(2).decode()] = m.group(3)
    eq(sorted(ranks), list(range(1, len(ranks) + 1)), "ranks")
    # keys come URI-encoded, as lru_crawler metadump prints them
    out = [(urllib.parse.unquote_to_bytes(ranks[i]["key"]), int(ranks[i]["count"]))
           for i in range(1, len(ranks) + 1)]
    counts = [c for _, c in out]
    eq(counts, sorted(counts, reverse=True), "counts in rank order")
    return out, d, raw


def zipf_keys(nkeys, s, n, seed):
    """n key ranks (0 = most popular) drawn from Zipf(s) over nkeys."""
    rng = random.Random(seed)
    cum, acc = [], 0.0
    for i in range(1, nkeys + 1):
        acc += 1.0 / i ** s
        cum.append(acc)
    total = cum[-1]
    return [bisect.bisect_left(cum, rng.random() * total) for _ in range(n)]


# 3M lookups: rank 10 has p ~ 0.0085, so ~1600 samples at 1 in 16; the
# sampler's relative error on it is ~2.5%, a quarter of the 10% allowed.
ZIPF_KEYS = 100000
ZIPF_LOOKUPS = 3000000
ZIPF_SEED = 12


def test_zipf_top10_accuracy():
    seq = zipf_keys(ZIPF_KEYS, 0.99, ZIPF_LOOKUPS, ZIPF_SEED)
    truth = collections.Counter(seq)
    top10 = [k for k, _ in truth.most_common(10)]
    # the true 10th and 11th must be told apart by more than the error
    # allowed, or "the top 10" would be ill-posed for this seed
    c = truth.most_common(11)
    check(c[9][1] > c[10][1] * 1.05, "seed gives a tie at rank 10: %r" % c[8:11])
    with server() as s, s.connect(timeout=60) as conn:
        # half the keys exist, so the gets are a mix of hits and misses
        batch = b"".join(b"set key:%d 0 0 1 noreply\r\nv\r\n" % i
                         for i in range(0, ZIPF_KEYS, 2))
        conn.send(batch)
        eq(conn.request(b"mn\r\n", b"MN\r\n"), b"MN\r\n", "sets")
        # multigets of 100 keys, pipelined in chunks, each chunk answered
        # before the next goes (bounded buffers on both sides)
        per_line, lines_per_chunk = 100, 200
        step = per_line * lines_per_chunk
        for off in range(0, len(seq), step):
            chunk = seq[off:off + step]
            req = b"".join(b"get " + b" ".join(b"key:%d" % k for k in chunk[i:i + per_line])
                           + b"\r\n" for i in range(0, len(chunk), per_line))
            conn.send(req + b"mn\r\n")
            got = conn.read_until(b"MN\r\n", timeout=60)
            check(got.endswith(b"END\r\nMN\r\n"), "gets at %d: %r" % (off, got[-100:]))
        rep, d, raw = hotkeys(conn, 10)
    eq(d["hotkeys_sample"], "16", "default sampling")
    eq(len(rep), 10, "keys reported")
    got_keys = [int(k.split(b":")[1]) for k, _ in rep]
    eq(sorted(got_keys), sorted(top10), "the true top 10 (by rank: %r)" % got_keys)
    for k, cnt in rep:
        t = truth[int(k.split(b":")[1])]
        check(abs(cnt - t) <= t * 0.10, "%s: reported %d, true %d (%.1f%% off)"
              % (k.decode(), cnt, t, 100.0 * (cnt - t) / t))


def test_every_get_path_counts():
    """With -o hotkeys_sample=1 every lookup is counted: classic get gets
    gat gats (each key of a multiget), mg, binary Get GetK GAT GATK; hits
    and misses alike; not touch, sets, deletes, incr or binary Touch."""
    with server(["-o", "hotkeys_sample=1"]) as s, s.connect() as conn:
        conn.send(b"set a 0 0 1\r\n1\r\nset n 0 0 1\r\n5\r\n")
        eq(conn.read_exact_lines(2), b"STORED\r\nSTORED\r\n", "sets")
        script = (b"get a a miss\r\ngets a\r\ngat 0 a\r\ngats 0 miss\r\n"
                  b"mg a v\r\nmg miss\r\nmg YQ== b v\r\n"           # base64 of "a"
                  b"touch a 0\r\nincr n 1\r\ndelete zz\r\nset b 0 0 1\r\nb\r\n"
                  b"mn\r\n")
        out = conn.request(script, b"MN\r\n")
        check(out.endswith(b"MN\r\n"), "script: %r" % out)
        rep, d, raw = hotkeys(conn)
        eq(rep, [(b"a", 6), (b"miss", 3)], "after text gets")
        eq(d["hotkeys_sampled"], "9", "samples")
        check(int(d["hotkeys_bytes"]) > 0, "memory counted")
        # binary: Get, GetK, GAT, GATK count; Touch does not
    with server(["-o", "hotkeys_sample=1"]) as s, s.connect() as conn:
        pkts = (B.get(b"k"), B.get(b"k", B.GETK), B.req(B.GAT, b"k", extras=B.ext_exp(0)),
                B.req(B.GATK, b"k", extras=B.ext_exp(0)), B.touch(b"k", 0),
                B.touch(b"t", 0), B.noop())
        conn.send(b"".join(pkts))
        got = conn.read_until(lambda b: len(b) >= 7 * 24 and b[-24 + 1] == B.NOOP)
        check(len(got) >= 7 * 24, "binary replies: %r" % got)
        # the hot keys as a binary stat group: one packet per line
        conn.send(B.stat(b"hotkeys"))
        stat_pkts = read_bin_stats(conn)
        eq(stat_pkts[:1], [(b"hotkeys_sample", b"1")], "binary stats hotkeys")
        eq([p for p in stat_pkts if p[0].startswith(b"hotkey:")],
           [(b"hotkey:1:key", b"k"), (b"hotkey:1:count", b"4")], "binary gets counted")


def read_bin_stats(conn):
    """(key, value) of the stat packets up to the empty one that ends them."""
    out = []
    for _ in range(1000):
        hdr = conn.read_until(lambda b: len(b) >= 24)
        check(len(hdr) >= 24, "stat reply header: %r" % hdr)
        body_len = struct.unpack(">I", hdr[8:12])[0]
        keylen = struct.unpack(">H", hdr[2:4])[0]
        rest = hdr[24:]
        if len(rest) < body_len:
            rest += conn.read_until(lambda b: len(rest) + len(b) >= body_len)
        body, extra = rest[:body_len], rest[body_len:]
        conn.buf = extra + conn.buf
        if keylen == 0 and body_len == 0:
            return out
        out.append((body[:keylen], body[keylen:]))
    raise AssertionError("no end of stats")


def test_format_n_and_errors():
    """The exact reply: state lines, then two lines per key, highest first
    (equal counts by key), keys URI-encoded as lru_crawler metadump does;
    N from 1 to 100; anything else is memcached's reply to a bad number."""
    with server(["-o", "hotkeys_sample=1"]) as s, s.connect() as conn:
        keys = [b"k%02d" % i for i in range(12)] + [b"a:b/c"]
        req = b"".join(b"get " + b" ".join([k] * (i + 1)) + b"\r\n" for i, k in enumerate(keys))
        conn.send(req + b"get a:b/c\r\nmn\r\n")
        conn.read_until(b"MN\r\n")
        _, raw = stats(conn, b"hotkeys 3")
        body = re.sub(rb"STAT hotkeys_bytes \d+\r\n", b"STAT hotkeys_bytes <n>\r\n", raw)
        eq(body, b"STAT hotkeys_sample 1\r\nSTAT hotkeys_sampled 92\r\n"
                 b"STAT hotkeys_bytes <n>\r\n"
                 b"STAT hotkey:1:key a%3Ab%2Fc\r\nSTAT hotkey:1:count 14\r\n"
                 b"STAT hotkey:2:key k11\r\nSTAT hotkey:2:count 12\r\n"
                 b"STAT hotkey:3:key k10\r\nSTAT hotkey:3:count 11\r\n"
                 b"END\r\n", "stats hotkeys 3")
        rep, _, _ = hotkeys(conn)
        eq(len(rep), 10, "default N")
        rep, _, _ = hotkeys(conn, 100)
        eq(len(rep), 13, "N above the keys monitored")
        eq(rep[-1], (b"k00", 1), "last")
        for bad in (b"0", b"101", b"-1", b"x", b"1 2", b"4294967297", b"1x"):
            eq(conn.request(b"stats hotkeys " + bad + b"\r\n"),
               b"CLIENT_ERROR bad command line format\r\n", "stats hotkeys %r" % bad)
        # still in sync, then reset forgets every count
        eq(conn.request(b"stats reset\r\n"), b"RESET\r\n", "reset")
        rep, d, _ = hotkeys(conn)
        eq((rep, d["hotkeys_sampled"]), ([], "0"), "after reset")
        sett, _ = stats(conn, b"settings")
        eq((sett["hotkeys"], sett["hotkeys_sample"], sett["hotkeys_size"]),
           ("yes", "1", "256"), "stats settings")


def test_disabled():
    with server(["-o", "no_hotkeys"]) as s, s.connect() as conn:
        conn.request(b"get a\r\n", b"END\r\n")
        eq(conn.request(b"stats hotkeys\r\n", b"END\r\n"),
           b"STAT hotkeys_status disabled\r\nEND\r\n", "disabled")
        eq(conn.request(b"stats hotkeys 0\r\n"),
           b"CLIENT_ERROR bad command line format\r\n", "bad N still refused")
        sett, _ = stats(conn, b"settings")
        eq(sett["hotkeys"], "no", "stats settings")
